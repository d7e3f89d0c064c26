"""The outbox of apology letters: each delivery a new `extended` event recorded (storage does it in
the event's transaction) goes out once, as invitations do: claimed for a lease, retried with a
growing wait while the failure may pass, given up only on a permanent refusal (a blocked chat).

A letter goes to a chat in the chat's language (else the configured one), written by
handlers/letters.py from the catalog or the admin's template. A ZNS delivery (the dossier's phone,
through the unit's Zalo Official Account) sends the `apology` template with the letter's fields;
without that channel or template, or when the phone has no Zalo account, it is recorded as not
delivered and the letter is listed for the desk to print. A day's ZNS quota used up holds the
letter until the next day."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from zoneinfo import ZoneInfo

from handlers.chat import Address, Delivery, Reply, Sender
from handlers.letters import letter_content, render_letter
from handlers.outbox import LEASE, Courier, Outcome, Round, due, settle, settle_template, settled
from handlers.templates import (
    NO_ZNS,
    ZNS,
    TemplatePurpose,
    TemplateSender,
    day_text,
    dossier_fields,
    reachable_by_zns,
)
from handlers.texts import Language, language_of
from storage.base import ChatRepository, DirectoryRepository, DossierRepository, LetterRepository
from storage.records import LetterDelivery, LetterStatus, OutboxStatus

log = logging.getLogger(__name__)

NO_APOLOGY_TEMPLATE = "no apology template configured (zalo_oa.templates.apology)"


class LetterDeliveries:
    def __init__(
        self,
        letters: LetterRepository,
        dossiers: DossierRepository,
        chats: ChatRepository,
        directory: DirectoryRepository,
        zone: ZoneInfo,
        default_language: Language,
        template_for: Callable[[Language], str | None] = lambda language: None,
        courier: Courier | None = None,
        templates: TemplateSender | None = None,
    ) -> None:
        self.letters = letters
        self.dossiers = dossiers
        self.chats = chats
        self.directory = directory
        self.zone = zone
        self.default_language = default_language
        self.template_for = template_for
        self.courier = courier or Courier()
        self.templates = templates  # None: no ZNS channel

    async def send(self, senders: Mapping[str, Sender], now: datetime) -> Round:
        """Sends every pending delivery that can go now; returns what became of them."""
        return await Round.of(await self.hand_over(senders, now))

    async def hand_over(self, senders: Mapping[str, Sender], now: datetime) -> list[asyncio.Future[Outcome]]:
        """Hands every delivery due now to the courier (a chat's after its earlier ones) and returns
        their outcomes to come; those for a channel this process does not run wait; ZNS ones with no
        ZNS channel or template are recorded as not delivered."""
        outcomes = []
        behind: set[str] = set()
        after = 0
        while page := await self.letters.pending_letter_deliveries(after_id=after):
            for delivery in page:
                after = delivery.id
                item = f"letter:{delivery.id}"
                if self.courier.holds(item):
                    continue
                if delivery.channel is None:
                    outcomes.append(settled(await self._not_delivered(delivery, now, NO_ZNS)))
                    continue
                if delivery.channel == ZNS:
                    templates = self.templates
                    if templates is None or not templates.has_template(TemplatePurpose.APOLOGY):
                        why = NO_ZNS if templates is None else NO_APOLOGY_TEMPLATE
                        outcomes.append(settled(await self._not_delivered(delivery, now, why)))
                    elif due(delivery.next_attempt_at, now):
                        send = partial(self._send_template, templates, delivery, now)
                        outcomes.append(self.courier.hand_over(f"zns:{delivery.chat_id}", item, send))
                    else:
                        outcomes.append(settled(Outcome.WAITING))
                    continue
                chat = f"{delivery.channel}:{delivery.chat_id}"
                sender = senders.get(delivery.channel)
                if chat in behind or not due(delivery.next_attempt_at, now) or sender is None:
                    behind.add(chat)
                    outcomes.append(settled(Outcome.WAITING))
                    continue
                outcomes.append(
                    self.courier.hand_over(chat, item, partial(self._send_one, sender, delivery, now))
                )
        return outcomes

    async def _not_delivered(self, delivery: LetterDelivery, now: datetime, why: str) -> Outcome:
        if not await self.letters.claim_letter_delivery(delivery.id, now, now + LEASE):
            return Outcome.TAKEN
        await self.letters.finish_letter_delivery(
            delivery.id, LetterStatus.NOT_DELIVERED, now, why, claimed_until=now + LEASE
        )
        log.info("letter delivery %s to %s: not delivered (%s)", delivery.id, delivery.channel, why)
        return Outcome.SKIPPED

    async def _instead_by_zns(self, delivery: LetterDelivery, now: datetime) -> Outcome | None:
        """A claimed delivery whose chat cannot take the letter, sent to the dossier's phone by the
        `apology` template instead; None when ZNS cannot reach the citizen."""
        templates = self.templates
        if templates is None or not templates.has_template(TemplatePurpose.APOLOGY):
            return None
        dossier = await self.dossiers.get_dossier_by_id(delivery.dossier_id)
        if dossier is None or dossier.phone is None or not reachable_by_zns(dossier):
            return None
        log.info("letter delivery %s: its chat cannot take it; sent to the phone by ZNS", delivery.id)
        return await self._send_template(templates, delivery, now, phone=dossier.phone, claimed=True)

    async def _send_template(
        self,
        templates: TemplateSender,
        delivery: LetterDelivery,
        now: datetime,
        *,
        phone: str | None = None,
        claimed: bool = False,
    ) -> Outcome:
        """Sends the letter to the dossier's phone as the `apology` template."""
        phone = phone or delivery.chat_id
        assert phone is not None
        if not claimed and not await self.letters.claim_letter_delivery(delivery.id, now, now + LEASE):
            return Outcome.TAKEN
        fields = await self.letter_fields(delivery)
        if fields is None:
            await self.letters.finish_letter_delivery(
                delivery.id,
                LetterStatus.FAILED,
                now,
                "the dossier or its event is gone",
                claimed_until=now + LEASE,
            )
            return Outcome.FAILED
        result = await templates.send_template(
            TemplatePurpose.APOLOGY, phone, fields, f"letter-{delivery.id}", dossier_id=delivery.dossier_id
        )

        async def finish(status: OutboxStatus, why: str | None) -> None:
            # No Zalo on the phone: not delivered, and so listed for the desk to print.
            done = (
                LetterStatus.NOT_DELIVERED
                if status == OutboxStatus.UNREACHABLE
                else LetterStatus(status.value)
            )
            await self.letters.finish_letter_delivery(delivery.id, done, now, why, claimed_until=now + LEASE)

        async def retry(error: str, next_attempt_at: datetime) -> int:
            return await self.letters.retry_letter_delivery(
                delivery.id, error, next_attempt_at, claimed_until=now + LEASE
            )

        outcome = await settle_template(
            result, now, self.zone, attempts=delivery.attempts, finish=finish, retry=retry,
            what=f"letter delivery {delivery.id} by ZNS",
        )  # fmt: skip
        return Outcome.SKIPPED if outcome == Outcome.UNREACHABLE else outcome

    async def _send_one(self, sender: Sender, delivery: LetterDelivery, now: datetime) -> Outcome:
        assert delivery.channel is not None and delivery.chat_id is not None
        address = Address(delivery.channel, delivery.chat_id)
        chat = await self.chats.get_chat_state(address.channel, address.chat_id)
        if not await self.letters.claim_letter_delivery(delivery.id, now, now + LEASE):
            return Outcome.TAKEN
        if chat.unreachable_since is not None:
            if (by_zns := await self._instead_by_zns(delivery, now)) is not None:
                return by_zns
            await self.letters.finish_letter_delivery(
                delivery.id, LetterStatus.UNREACHABLE, now, "chat blocked the bot", claimed_until=now + LEASE
            )
            return Outcome.UNREACHABLE
        language = language_of(chat.language, self.default_language)
        text = await self.letter_text(delivery, language, now)
        if text is None:
            await self.letters.finish_letter_delivery(
                delivery.id,
                LetterStatus.FAILED,
                now,
                "the dossier or its event is gone",
                claimed_until=now + LEASE,
            )
            return Outcome.FAILED
        outcome = await sender.send(address.chat_id, Reply(text))
        if outcome in (Delivery.REFUSED, Delivery.UNREACHABLE):
            # Blocked, or outside the OA's 48-hour window: the letter matters, so the phone by ZNS.
            if outcome == Delivery.UNREACHABLE:
                await self.chats.mark_unreachable(address.channel, address.chat_id, now)
            if (by_zns := await self._instead_by_zns(delivery, now)) is not None:
                return by_zns

        async def finish(status: OutboxStatus, why: str | None) -> None:
            await self.letters.finish_letter_delivery(
                delivery.id, LetterStatus(status.value), now, why, claimed_until=now + LEASE
            )
            log.info("letter delivery %s to %s: %s", delivery.id, address, status.value)

        async def retry(error: str, next_attempt_at: datetime) -> int:
            return await self.letters.retry_letter_delivery(
                delivery.id, error, next_attempt_at, claimed_until=now + LEASE
            )

        return await settle(
            self.chats, address, outcome, now, attempts=delivery.attempts, finish=finish, retry=retry,
            what=f"letter delivery {delivery.id}",
        )  # fmt: skip

    async def letter_fields(self, delivery: LetterDelivery) -> dict[str, str] | None:
        """The letter's fields for a template; None if its dossier or letter is gone."""
        letter = await self.letters.get_letter(delivery.letter_id)
        dossier = await self.dossiers.get_dossier_by_id(delivery.dossier_id)
        if letter is None or dossier is None:
            return None
        new_due = letter.new_due_at.astimezone(self.zone).date() if letter.new_due_at is not None else None
        fields = dossier_fields(dossier, self.zone)
        return {
            **fields,
            "due_date": day_text(letter.due_on) or fields["due_date"],
            "new_due_date": day_text(new_due),
            "reason": letter.reason,
        }

    async def letter_text(self, delivery: LetterDelivery, language: Language, now: datetime) -> str | None:
        """The letter as the citizen reads it in `language`; None if its dossier or event is gone."""
        letter = await self.letters.get_letter(delivery.letter_id)
        dossier = await self.dossiers.get_dossier_by_id(delivery.dossier_id)
        if letter is None or dossier is None:
            return None
        events = await self.dossiers.list_dossier_events(dossier.id)
        event = next((e for e in events if e.id == letter.event_id), None)
        if event is None:
            return None
        units = await self.directory.list_units(retired=True)
        people = await self.directory.all_people()
        today = now.astimezone(self.zone).date()
        content = letter_content(dossier, event, units, people, self.zone, today, language=language)
        return render_letter(content, language, self.template_for(language))
