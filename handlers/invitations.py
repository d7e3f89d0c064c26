"""The outbox of survey invitations: a dossier returned while its citizen's chat waits for the
survey. The running bot sends each once, records the outcome, and never loses one while down: a
failure that may pass is retried with a growing wait for as long as it lasts, and only a chat that
blocked the bot (or a message refused for good) gives one up.

A dossier returned with a phone number and no chat is asked by ZNS: the `rating` template, whose
stars come back as the answer (handlers/template_ratings.py); its tracking id names the invitation,
never the phone or the dossier's code. Not sent when a chat of the citizen opened the link since
(that chat is asked); the cool-down counts by phone; a phone without Zalo is given up; while the
day's ZNS quota runs low, these wait (apology letters and resolutions go first)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial

from handlers.chat import Address, Sender
from handlers.outbox import (
    LEASE,
    Courier,
    Outcome,
    Round,
    due,
    next_local_day,
    settle,
    settle_template,
    settled,
)
from handlers.survey import SurveyFlow
from handlers.templates import NO_ZNS, ZNS, TemplatePurpose, TemplateSender, dossier_fields
from handlers.texts import Language, language_of
from storage.base import ChatRepository, DossierRepository, OutboxRepository, SurveyRepository
from storage.records import Invitation, OutboxStatus

log = logging.getLogger(__name__)
# A survey left unanswered this long no longer holds back a newer invitation to the same chat.
ABANDONED_AFTER = timedelta(hours=12)
NO_RATING_TEMPLATE = "no rating template configured (zalo_oa.templates.rating)"
# privacy.consent: explicit asks before anything is kept, which a ZNS template cannot do.
NO_CONSENT_BY_ZNS = "explicit consent is asked in a chat; a ZNS rating cannot ask it first"


class Invitations:
    def __init__(
        self,
        outbox: OutboxRepository,
        chats: ChatRepository,
        dossiers: DossierRepository,
        surveys: SurveyRepository,
        flow: SurveyFlow,
        default_language: Language,
        courier: Courier | None = None,
        templates: TemplateSender | None = None,
    ) -> None:
        self.outbox = outbox
        self.chats = chats
        self.dossiers = dossiers
        self.surveys = surveys
        self.flow = flow
        self.default_language = default_language
        self.courier = courier or Courier()
        self.templates = templates  # None: no ZNS channel

    async def send(self, senders: Mapping[str, Sender], now: datetime, cooldown: timedelta) -> Round:
        """Sends every pending invitation that can go now; returns what became of them."""
        return await Round.of(await self.hand_over(senders, now, cooldown))

    async def hand_over(
        self, senders: Mapping[str, Sender], now: datetime, cooldown: timedelta
    ) -> list[asyncio.Future[Outcome]]:
        """Hands every invitation due now to the courier and returns their outcomes to come. Reads
        them a page at a time to the end, so those waiting for a channel that is not running never
        hold back the others; a chat's invitations wait behind its earlier one being retried."""
        outcomes = []
        behind: set[str] = set()  # chats with an earlier invitation not due yet
        after = 0
        while page := await self.outbox.pending_invitations(after_id=after):
            for invitation in page:
                chat = f"{invitation.channel}:{invitation.chat_id}"
                item = f"invitation:{invitation.id}"
                if self.courier.holds(item):
                    continue  # being sent: a round before this one handed it over
                if invitation.channel == ZNS:
                    # A phone's later invitations wait behind one not due: being retried, or being
                    # sent by another process (the cool-down is judged once it went).
                    if chat in behind:
                        outcomes.append(settled(Outcome.WAITING))
                        continue
                    if not due(invitation.next_attempt_at, now):
                        behind.add(chat)
                    outcomes.append(await self._hand_over_zns(invitation, item, now, cooldown))
                    continue
                sender = senders.get(invitation.channel)
                if chat in behind or not due(invitation.next_attempt_at, now) or sender is None:
                    behind.add(chat)
                    outcomes.append(settled(Outcome.WAITING))
                    continue
                send = partial(self._send_one, sender, invitation, now, cooldown)
                outcomes.append(self.courier.hand_over(chat, item, send))
            after = page[-1].id
        return outcomes

    async def _send_one(
        self, sender: Sender, invitation: Invitation, now: datetime, cooldown: timedelta
    ) -> Outcome:
        address = Address(invitation.channel, invitation.chat_id)
        chat = await self.chats.get_chat_state(address.channel, address.chat_id)
        dossier = await self.dossiers.get_dossier_by_id(invitation.dossier_id)
        why_not: tuple[OutboxStatus, str] | None = None
        if dossier is None or dossier.answered:
            why_not = OutboxStatus.SKIPPED, "already answered"
        elif dossier.returned_at is not None and now - dossier.returned_at > timedelta(
            days=self.flow.settings.link_valid_days
        ):
            why_not = OutboxStatus.SKIPPED, "the survey link expired"
        elif chat.unreachable_since is not None:
            why_not = OutboxStatus.UNREACHABLE, "chat blocked the bot"
        elif await self.surveys.answered_since(address.channel, address.chat_id, now - cooldown):
            why_not = OutboxStatus.SKIPPED, "cool-down"
        else:
            survey = chat.survey
            if (
                survey is not None
                and survey.dossier_id != invitation.dossier_id
                and survey.step is not None
                and now - survey.updated_at < ABANDONED_AFTER
            ):
                return Outcome.WAITING  # the citizen is in the middle of another survey: ask after it
        if not await self.outbox.claim_invitation(invitation.id, now, now + LEASE):
            return Outcome.TAKEN
        if why_not is not None or dossier is None:
            status, why = why_not or (OutboxStatus.SKIPPED, "already answered")
            return await self._finish(invitation, status, now, why)
        language = language_of(chat.language, self.default_language)
        reply = await self.flow.begin(address, dossier, language, now)
        delivery = await sender.send(address.chat_id, reply)

        async def finish(status: OutboxStatus, why: str | None) -> None:
            await self._finish(invitation, status, now, why)

        async def retry(error: str, next_attempt_at: datetime) -> int:
            return await self.outbox.retry_invitation(
                invitation.id, error, next_attempt_at, claimed_until=now + LEASE
            )

        return await settle(
            self.chats, address, delivery, now, attempts=invitation.attempts, finish=finish, retry=retry,
            what=f"invitation {invitation.id}",
        )  # fmt: skip

    async def _hand_over_zns(
        self, invitation: Invitation, item: str, now: datetime, cooldown: timedelta
    ) -> asyncio.Future[Outcome]:
        templates = self.templates
        explicit = self.flow.settings.explicit_consent
        if templates is None or not templates.has_template(TemplatePurpose.RATING) or explicit:
            if not await self.outbox.claim_invitation(invitation.id, now, now + LEASE):
                return settled(Outcome.TAKEN)
            why = NO_ZNS if templates is None else NO_CONSENT_BY_ZNS if explicit else NO_RATING_TEMPLATE
            return settled(await self._finish(invitation, OutboxStatus.SKIPPED, now, why))
        if not due(invitation.next_attempt_at, now) or templates.saving_quota():
            return settled(Outcome.WAITING)
        send = partial(self._send_zns, templates, invitation, now, cooldown)
        return self.courier.hand_over(f"{ZNS}:{invitation.chat_id}", item, send)

    async def _send_zns(
        self, templates: TemplateSender, invitation: Invitation, now: datetime, cooldown: timedelta
    ) -> Outcome:
        """Asks for the rating by the `rating` template to the dossier's phone; not while the day's
        quota runs low (looked at again just before sending: one round hands over many)."""
        phone = invitation.chat_id
        dossier = await self.dossiers.get_dossier_by_id(invitation.dossier_id)
        why_not: str | None = None
        if dossier is None or dossier.answered:
            why_not = "already answered"
        elif dossier.returned_at is not None and now - dossier.returned_at > timedelta(
            days=self.flow.settings.link_valid_days
        ):
            why_not = "the survey link expired"
        elif await self.surveys.answered_since(ZNS, phone, now - cooldown) or await self.outbox.invited_since(
            ZNS, phone, now - cooldown
        ):
            why_not = "cool-down"
        elif await self.dossiers.linked_chat_count(dossier.id):
            why_not = "a chat of the citizen is asked instead"
        if not await self.outbox.claim_invitation(invitation.id, now, now + LEASE):
            return Outcome.TAKEN
        if why_not is not None or dossier is None:
            return await self._finish(invitation, OutboxStatus.SKIPPED, now, why_not)
        zone = self.flow.cases.zone
        if templates.saving_quota():
            tomorrow = next_local_day(now, zone)
            await self.outbox.retry_invitation(
                invitation.id, "the day's ZNS quota runs low", tomorrow, claimed_until=now + LEASE
            )
            return Outcome.WAITING
        fields = dossier_fields(dossier, zone)
        result = await templates.send_template(
            TemplatePurpose.RATING, phone, fields, f"invitation-{invitation.id}", dossier_id=dossier.id
        )

        async def finish(status: OutboxStatus, why: str | None) -> None:
            await self._finish(invitation, status, now, why)

        async def retry(error: str, next_attempt_at: datetime) -> int:
            return await self.outbox.retry_invitation(
                invitation.id, error, next_attempt_at, claimed_until=now + LEASE
            )

        return await settle_template(
            result, now, self.flow.cases.zone, attempts=invitation.attempts, finish=finish, retry=retry,
            what=f"invitation {invitation.id} by ZNS",
        )  # fmt: skip

    async def _finish(
        self, invitation: Invitation, status: OutboxStatus, now: datetime, why: str | None = None
    ) -> Outcome:
        await self.outbox.finish_invitation(invitation.id, status, now, why, claimed_until=now + LEASE)
        log.info(
            "invitation %s for dossier %s to %s:%s: %s%s",
            invitation.id,
            invitation.dossier_id,
            invitation.channel,
            "(the dossier's phone)" if invitation.channel == ZNS else invitation.chat_id,
            status.value,
            f" ({why})" if why else "",
        )
        return Outcome(status.value)
