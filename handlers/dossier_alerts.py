"""What heads and staff are told about a dossier as it happens, outside the digest: the staff member
a head handed an extension to gets the dossier with the button to extend it; a dossier rescheduled
twice is told to its unit's head and to the head of the unit above (each alert goes to the unit's
head, or the nearest head above who can be reached). Each alert goes once, whichever process
claims it first, as new cases are announced; what did not arrive is in the next digest too."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from handlers.chat import Delivery, Reply, Sender
from handlers.extensions import ExtensionDesk
from handlers.outbox import deliver_to_head, targets
from handlers.texts import Language, language_of, text
from storage.base import ChatRepository, DirectoryRepository, LetterRepository
from storage.records import DossierAlert, DossierAlertKind

log = logging.getLogger(__name__)


def render_rescheduled_twice(alert: DossierAlert, language: Language) -> list[Reply]:
    """The alert as a head reads it: the dossier and its unit, the second reason and new appointment."""
    new_due = alert.new_due_at.strftime("%d/%m/%Y") if alert.new_due_at is not None else "—"
    return [
        Reply(
            text(
                "rescheduled_twice_alert",
                language,
                unit=alert.dossier_unit_name,
                code=alert.dossier_code,
                procedure=alert.procedure,
                reason=alert.reason or "—",
                day=new_due,
            )
        )
    ]


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
        """Sends every alert waiting; how many this call claimed."""
        waiting = await self.letters.waiting_alerts()
        if not waiting:
            return 0
        claimed = set(await self.letters.claim_alerts([a.id for a in waiting], now))
        units = {u.code: u for u in await self.directory.list_units(retired=True)}
        parents = {code: u.parent_code for code, u in units.items()}
        for alert in waiting:
            if alert.id not in claimed:
                continue
            if alert.kind == DossierAlertKind.EXTENSION_DELEGATED:
                outcome = await self._tell_staff(senders, alert, now)
            elif (unit := units.get(alert.unit_code)) is not None:

                def render(
                    language: Language, forwarded: str | None, alert: DossierAlert = alert
                ) -> list[Reply]:
                    replies = render_rescheduled_twice(alert, language)
                    if forwarded is not None:
                        note = text("digest_forwarded", language, unit=forwarded)
                        replies[0] = Reply(f"{note}\n{replies[0].text}")
                    return replies

                handed = await deliver_to_head(
                    self.directory, self.chats, senders, unit, parents, render, self.default_language, now
                )
                outcome = handed.delivery.value
            else:
                outcome = Delivery.UNREACHABLE.value
            if outcome != Delivery.SENT.value:
                log.warning(
                    "alert %s (%s) about dossier %s was not delivered: %s; the digest shows it",
                    alert.id, alert.kind.value, alert.dossier_code, outcome,
                )  # fmt: skip
            await self.letters.finish_alert(alert.id, outcome)
        return len(claimed)

    async def _tell_staff(self, senders: Mapping[str, Sender], alert: DossierAlert, now: datetime) -> str:
        """Sends the handed-over extension to the staff member's first chat that takes it."""
        person = await self.directory.get_person(alert.person_id) if alert.person_id is not None else None
        if person is None:
            return Delivery.UNREACHABLE.value
        for target in await targets(self.chats, senders, person.contacts):
            language = language_of(target.chat.language, self.default_language)
            delivery = await target.sender.send(
                target.address.chat_id, *render_delegated(alert, self.desk, language)
            )
            if delivery != Delivery.UNREACHABLE:
                return delivery.value
            await self.chats.mark_unreachable(target.address.channel, target.address.chat_id, now)
        return Delivery.UNREACHABLE.value
