"""Case notices: the messages a case change sends to someone other than the person acting (the
staff member assigned, the citizen, the head of a reopened case), from the outbox: retried for as
long as a failure may pass, each recipient's in the order recorded, different recipients' at once.

A citizen who answered by ZNS (no chat: the answer's chat is the dossier's phone) hears only what
matters most, the resolution of their complaint, by the `resolution` template."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from functools import partial

from handlers.cases import CaseAction, CaseButton, CaseDesk
from handlers.chat import Delivery, Option, Reply, Sender
from handlers.outbox import LEASE, Courier, Outcome, Round, due, settle, settle_template, settled, targets
from handlers.templates import NO_ZNS, ZNS, TemplatePurpose, TemplateSender, dossier_fields, reachable_by_zns
from handlers.texts import Language, language_of, text
from storage.base import (
    CaseRepository,
    ChatRepository,
    DirectoryRepository,
    DossierRepository,
    OutboxRepository,
)
from storage.records import Case, Contact, Notice, OutboxStatus

log = logging.getLogger(__name__)
NO_RESOLUTION_TEMPLATE = "no resolution template configured (zalo_oa.templates.resolution)"


def render_notice(
    desk: CaseDesk, kind: str, case: Case, language: Language, note: str | None = None
) -> Reply:
    """The message a notice of this kind sends, in the recipient's language; `note` is the words
    of a relayed message."""
    if kind == "to_staff":
        hours = desk.settings.contact_hours
        return Reply(
            f"{text('notice_case_to_staff', language, hours=hours)}\n\n{desk.describe(case, language)}",
            desk.staff_buttons(case, language),
        )
    if kind == "message":
        return Reply(
            text(
                "notice_message_to_citizen", language, name=case.assignee_name or "", unit=case.unit_name,
                procedure=case.procedure, note=note or "",
            ),
            (Option(CaseButton(case.id, CaseAction.REPLY).pack(), text("button_reply", language)),),
            text("typing_hint", language),
        )  # fmt: skip
    if kind == "reply":
        return Reply(
            text(
                "notice_reply_from_citizen", language, id=case.id, procedure=case.procedure, note=note or ""
            ),
            desk.staff_buttons(case, language),
        )
    if kind == "assigned":
        return Reply(
            text(
                "notice_case_assigned",
                language,
                procedure=case.procedure,
                unit=case.unit_name,
                name=case.assignee_name or "",
            )
        )
    if kind == "resolved":
        return Reply(
            text(
                "notice_case_resolved",
                language,
                unit=case.unit_name,
                procedure=case.procedure,
                note=case.resolution or "",
            ),
            (
                Option(CaseButton(case.id, CaseAction.CONFIRM).pack(), text("button_resolved_yes", language)),
                Option(CaseButton(case.id, CaseAction.REOPEN).pack(), text("button_resolved_no", language)),
            ),
            text("typing_hint", language),
        )
    if kind == "reopened":
        return Reply(
            f"{text('notice_case_reopened', language, id=case.id)}\n\n{desk.describe(case, language)}",
            desk.head_buttons(case, language),
            text("typing_hint", language),
        )
    raise ValueError(f"unknown notice kind {kind!r}")


class Notices:
    def __init__(
        self,
        outbox: OutboxRepository,
        cases: CaseRepository,
        directory: DirectoryRepository,
        chats: ChatRepository,
        desk: CaseDesk,
        default_language: Language,
        courier: Courier | None = None,
        templates: TemplateSender | None = None,
        dossiers: DossierRepository | None = None,
    ) -> None:
        self.outbox = outbox
        self.cases = cases
        self.directory = directory
        self.chats = chats
        self.desk = desk
        self.default_language = default_language
        self.courier = courier or Courier()
        self.templates = templates  # None: no ZNS channel
        self.dossiers = dossiers

    async def send(self, senders: Mapping[str, Sender], now: datetime) -> Round:
        """Sends every pending case notice that can go now; returns what became of them. A notice
        to a head or staff member goes to the first of their chats that takes it."""
        return await Round.of(await self.hand_over(senders, now))

    async def hand_over(self, senders: Mapping[str, Sender], now: datetime) -> list[asyncio.Future[Outcome]]:
        """Hands every notice due now to the courier, by recipient (a person, or a citizen's chat), and
        returns their outcomes to come; a recipient's notices wait behind an earlier one being retried.
        Read to the end: see invitations."""
        outcomes = []
        behind: set[str] = set()
        after = 0
        while page := await self.outbox.pending_notices(after_id=after):
            for notice in page:
                item = f"notice:{notice.id}"
                if self.courier.holds(item):
                    continue
                recipient = (
                    f"person:{notice.person_id}"
                    if notice.person_id is not None
                    else f"{notice.channel}:{notice.chat_id}"
                )
                if recipient in behind or not due(notice.next_attempt_at, now):
                    behind.add(recipient)
                    outcomes.append(settled(Outcome.WAITING))
                    continue
                send = (
                    partial(self._send_zns, notice, now)
                    if notice.channel == ZNS and notice.person_id is None
                    else partial(self._send_one, senders, notice, now)
                )
                outcomes.append(self.courier.hand_over(recipient, item, send))
            after = page[-1].id
        return outcomes

    async def _send_zns(self, notice: Notice, now: datetime, *, claimed: bool = False) -> Outcome:
        """A notice to a citizen who answered by ZNS (or whose chat cannot take the resolution: it
        blocked the bot, or the OA's 48-hour window closed): the resolution goes as the `resolution`
        template to the dossier's phone; nothing else goes by ZNS."""
        if not claimed and not await self.outbox.claim_notice(notice.id, now, now + LEASE):
            return Outcome.TAKEN
        case = await self.cases.get_case(notice.case_id)
        dossier = (
            await self.dossiers.get_dossier_by_id(case.dossier_id)
            if case is not None and self.dossiers is not None
            else None
        )
        templates = self.templates
        why_not: str | None = None
        phone = notice.chat_id if notice.channel == ZNS else dossier.phone if dossier is not None else None
        if case is None or dossier is None:
            why_not = "no such case"
        elif phone is None or (notice.channel != ZNS and not reachable_by_zns(dossier)):
            why_not = "no phone ZNS may reach"
        elif notice.kind != "resolved":
            why_not = "only the resolution goes by ZNS"
        elif templates is None or not templates.has_template(TemplatePurpose.RESOLUTION):
            why_not = NO_ZNS if templates is None else NO_RESOLUTION_TEMPLATE
            log.warning("the resolution of case %s cannot reach its citizen: %s", notice.case_id, why_not)
        if why_not is not None or templates is None or case is None or dossier is None or phone is None:
            await self.outbox.finish_notice(
                notice.id, OutboxStatus.SKIPPED, now, why_not, claimed_until=now + LEASE
            )
            return Outcome.SKIPPED
        fields = {
            **dossier_fields(dossier, self.desk.settings.zone),
            "resolution_note": notice.note or case.resolution or "",
            "case_id": str(case.id),
        }
        result = await templates.send_template(
            TemplatePurpose.RESOLUTION, phone, fields, f"notice-{notice.id}", dossier_id=dossier.id
        )

        async def finish(status: OutboxStatus, why: str | None) -> None:
            await self.outbox.finish_notice(notice.id, status, now, why, claimed_until=now + LEASE)

        async def retry(error: str, next_attempt_at: datetime) -> int:
            return await self.outbox.retry_notice(
                notice.id, error, next_attempt_at, claimed_until=now + LEASE
            )

        return await settle_template(
            result, now, self.desk.settings.zone, attempts=notice.attempts, finish=finish, retry=retry,
            what=f"notice {notice.id} by ZNS",
        )  # fmt: skip

    def _by_zns_instead(self, notice: Notice) -> bool:
        """Whether a citizen's notice their chat cannot take goes to their phone by ZNS: the
        resolution of their complaint, where a resolution template is configured."""
        return (
            notice.person_id is None
            and notice.kind == "resolved"
            and self.templates is not None
            and self.templates.has_template(TemplatePurpose.RESOLUTION)
        )

    async def _send_one(self, senders: Mapping[str, Sender], notice: Notice, now: datetime) -> Outcome:
        case = await self.cases.get_case(notice.case_id)
        person = await self.directory.get_person(notice.person_id) if notice.person_id is not None else None
        contacts = person.contacts if person else (Contact(channel=notice.channel, chat_id=notice.chat_id),)
        elsewhere = any(c.channel not in senders for c in contacts)  # a chat on a channel not running here
        reachable = await targets(self.chats, senders, contacts) if case is not None else []
        if case is not None and not reachable and elsewhere:
            return Outcome.WAITING  # its channel is not running in this process: it waits for one that does
        if not await self.outbox.claim_notice(notice.id, now, now + LEASE):
            return Outcome.TAKEN

        async def finish(status: OutboxStatus, why: str | None) -> None:
            await self.outbox.finish_notice(notice.id, status, now, why, claimed_until=now + LEASE)

        async def retry(error: str, next_attempt_at: datetime) -> int:
            return await self.outbox.retry_notice(
                notice.id, error, next_attempt_at, claimed_until=now + LEASE
            )

        if case is None:
            await finish(OutboxStatus.SKIPPED, "no such case")
            return Outcome.SKIPPED
        for target in reachable:
            language = language_of(target.chat.language, self.default_language)
            reply = render_notice(self.desk, notice.kind, case, language, notice.note)
            delivery = await target.sender.send(target.address.chat_id, reply)
            if delivery == Delivery.UNREACHABLE:
                await self.chats.mark_unreachable(target.address.channel, target.address.chat_id, now)
            if delivery in (Delivery.UNREACHABLE, Delivery.REFUSED) and self._by_zns_instead(notice):
                return await self._send_zns(notice, now, claimed=True)
            if delivery == Delivery.UNREACHABLE:
                continue  # blocked there: the person's next chat, if any
            return await settle(
                self.chats, target.address, delivery, now, attempts=notice.attempts, finish=finish,
                retry=retry, what=f"notice {notice.id}",
            )  # fmt: skip
        if not reachable and self._by_zns_instead(notice):
            return await self._send_zns(notice, now, claimed=True)
        if elsewhere:
            # Blocked where it could go; another of their chats waits for its channel: pending, due now.
            await self.outbox.retry_notice(
                notice.id, "blocked on every chat this process reaches", None, claimed_until=now + LEASE
            )
            return Outcome.WAITING
        await finish(OutboxStatus.UNREACHABLE, "every chat of the recipient blocked the bot")
        return Outcome.UNREACHABLE
