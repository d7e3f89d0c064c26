"""What heads and staff are told about a dossier as it happens, outside the digest: the staff member
a head handed an extension to gets the dossier with the button to extend it; a dossier rescheduled
more than once is told to its unit's head and to the head of the unit above (each alert goes to the
unit's head, or the nearest head above who can be reached; a head who had it for the unit below is
not told twice). Each alert is claimed for a lease before it is sent, so it goes once whichever
process claims it; one a chat did not accept now is tried again with a growing wait."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from time import monotonic

from handlers.chat import Delivery, Reply, Sender
from handlers.directory import nearest_heads
from handlers.extensions import ExtensionDesk
from handlers.outbox import LEASE, backoff, deliver_to_head, targets
from handlers.texts import Language, language_of, text
from storage.base import ChatRepository, DirectoryRepository, LetterRepository
from storage.records import DossierAlert, DossierAlertKind

log = logging.getLogger(__name__)


def render_rescheduled_twice(alert: DossierAlert, language: Language, forwarded: str | None) -> list[Reply]:
    """The alert as a head reads it: the dossier and its unit, the latest reason and new
    appointment; with `forwarded`, why it comes to a head above that unit."""
    new_due = alert.new_due_at.strftime("%d/%m/%Y") if alert.new_due_at is not None else "—"
    said = text(
        "rescheduled_twice_alert",
        language,
        unit=alert.dossier_unit_name,
        code=alert.dossier_code,
        procedure=alert.procedure,
        reason=alert.reason or "—",
        day=new_due,
    )
    if forwarded is not None:
        said = f"{text('alert_forwarded', language, unit=forwarded)}\n{said}"
    return [Reply(said)]


def render_delegated(alert: DossierAlert, desk: ExtensionDesk, language: Language) -> list[Reply]:
    """The alert as the staff member reads it: the dossier, and the button to extend it."""
    due = alert.due_on.strftime("%d/%m/%Y") if alert.due_on is not None else "—"
    return [
        Reply(
            text(
                "extension_delegated_alert",
                language,
                code=alert.dossier_code,
                procedure=alert.procedure,
                due=due,
            ),
            (desk.button(alert.dossier_id, language),),
        )
    ]


class DossierAlerts:
    def __init__(
        self,
        letters: LetterRepository,
        directory: DirectoryRepository,
        chats: ChatRepository,
        desk: ExtensionDesk,
        default_language: Language,
    ) -> None:
        self.letters = letters
        self.directory = directory
        self.chats = chats
        self.desk = desk
        self.default_language = default_language

    async def send(self, senders: Mapping[str, Sender], now: datetime) -> int:
        """Sends every alert due now; how many this call claimed. One the chat did not accept now
        is tried again after a growing wait; one claimed by a sender that died, after its lease."""
        waiting = await self.letters.waiting_alerts(now, lease=LEASE)
        if not waiting:
            return 0
        units = {u.code: u for u in await self.directory.list_units(retired=True)}
        parents = {code: u.parent_code for code, u in units.items()}
        told: dict[int | None, set[int]] = {}  # by letter: the heads who had its alert
        claimed = 0
        started = monotonic()
        for alert in waiting:
            # Each claimed just before it is sent, at its own time: claimed all at once at the
            # start, the last of a long run could outlive its lease and go from another process too.
            at = now + timedelta(seconds=monotonic() - started)
            if not await self.letters.claim_alerts([alert.id], at, lease=LEASE):
                continue
            claimed += 1
            if alert.kind == DossierAlertKind.EXTENSION_DELEGATED:
                delivery = await self._tell_staff(senders, alert, at)
            elif (unit := units.get(alert.unit_code)) is None:
                delivery = Delivery.UNREACHABLE
            elif (heads := await nearest_heads(self.directory, unit.code)) and heads[0].id in told.get(
                alert.letter_id, set()
            ):
                delivery = Delivery.SENT  # the unit above has no head of its own: that head knows already
            else:
                handed = await deliver_to_head(
                    self.directory, self.chats, senders, unit, parents,
                    partial(render_rescheduled_twice, alert), self.default_language, at,
                )  # fmt: skip
                delivery = handed.delivery
                if handed.head is not None:
                    told.setdefault(alert.letter_id, set()).add(handed.head.id)
            await self._settle(alert, delivery, at)
        return claimed

    async def _settle(self, alert: DossierAlert, delivery: Delivery, now: datetime) -> None:
        if delivery == Delivery.FAILED:
            next_attempt_at = now + backoff(alert.attempts + 1)
            await self.letters.retry_alert(alert.id, "not accepted now", next_attempt_at, claimed_at=now)
            log.warning(
                "alert %s (%s) about dossier %s not accepted now; tried again from %s",
                alert.id, alert.kind.value, alert.dossier_code, next_attempt_at.isoformat(timespec="seconds"),
            )  # fmt: skip
            return
        if delivery != Delivery.SENT:
            log.warning(
                "alert %s (%s) about dossier %s was not delivered: %s",
                alert.id, alert.kind.value, alert.dossier_code, delivery.value,
            )  # fmt: skip
        await self.letters.finish_alert(alert.id, delivery.value, claimed_at=now)

    async def _tell_staff(
        self, senders: Mapping[str, Sender], alert: DossierAlert, now: datetime
    ) -> Delivery:
        """Sends the handed-over extension to the staff member's first chat that takes it."""
        person = await self.directory.get_person(alert.person_id) if alert.person_id is not None else None
        if person is None or not person.active:
            return Delivery.UNREACHABLE
        for target in await targets(self.chats, senders, person.contacts):
            language = language_of(target.chat.language, self.default_language)
            delivery = await target.sender.send(
                target.address.chat_id, *render_delegated(alert, self.desk, language)
            )
            if delivery != Delivery.UNREACHABLE:
                return delivery
            await self.chats.mark_unreachable(target.address.channel, target.address.chat_id, now)
        return Delivery.UNREACHABLE
