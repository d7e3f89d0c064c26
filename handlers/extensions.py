"""Extending an at-risk dossier from the chat: the unit head presses the button of the digest (or
types "gia han 345"), writes the reason, then the new appointment day; the `extended` event is
recorded exactly as the intake API records it, and with it the apology letter to the citizen. The
head may instead hand the extension to a staff member of the unit ("Giao cán bộ"), who is told and
may then extend that dossier as the head would."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, datetime, time

from handlers.buttons import Button
from handlers.cases import CaseSettings
from handlers.chat import Option, Reply
from handlers.codes import TextRefused
from handlers.directory import head_over
from handlers.dossier_facts import FactsRefused, checked_reason, event_facts
from handlers.texts import Language, text
from handlers.typed import folded, typed_number
from storage.base import ChatRepository, DirectoryRepository, DossierRepository, LetterRepository
from storage.records import ChatState, Dossier, DossierEventType, Person, Role

# What a chat's next text is while an extension is being written: its reason, then its new day
# (the reason, already checked, waits in storage with it).
AWAITING_EXTENSION_REASON = "extreason:"
AWAITING_EXTENSION_DAY = "extday:"
AWAITED_EXTENSION = (AWAITING_EXTENSION_REASON, AWAITING_EXTENSION_DAY)
# The new appointment is the new day at the end of office hours.
NEW_DUE_TIME = time(17, 0)
TYPED_EXTEND = ("gia han", "giahan", "extend")
TYPED_DELEGATE = ("giao gia han", "giao giahan", "uy quyen", "delegate")
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
_YEAR_MONTH_DAY = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


class ExtendDossier(Button, prefix="ext"):
    """Extend this dossier: asks its unit head for the reason and the new appointment day."""

    dossier_id: int


class DelegateExtension(Button, prefix="dlg"):
    """Hand this dossier's extension to a staff member: without one, lists the unit's staff."""

    dossier_id: int
    staff_id: int | None = None


def typed_extend_button(words: str) -> ExtendDossier | DelegateExtension | None:
    """The button a typed short command stands for: "gia hạn 345" (or "giahan 345", "extend 345")
    extends dossier 345; "giao gia hạn 345" (or "ủy quyền 345", "delegate 345") hands its extension
    to a staff member."""
    typed = folded(words).lstrip("/").replace("#", " ")
    for commands, button in ((TYPED_EXTEND, ExtendDossier), (TYPED_DELEGATE, DelegateExtension)):
        for command in commands:
            if typed.startswith(command + " "):
                number = typed_number(typed.removeprefix(command).strip())
                return button(number) if number is not None else None
    return None


def typed_day(typed: str) -> date | None:
    """A day typed as dd/mm/yyyy (or yyyy-mm-dd); None for anything else."""
    written = typed.strip()
    parts: tuple[int, int, int] | None = None
    if found := _DAY_MONTH_YEAR.fullmatch(written):
        parts = (int(found[3]), int(found[2]), int(found[1]))
    elif found := _YEAR_MONTH_DAY.fullmatch(written):
        parts = (int(found[1]), int(found[2]), int(found[3]))
    if parts is None:
        return None
    try:
        return date(*parts)
    except ValueError:
        return None


class ExtensionDesk:
    def __init__(
        self,
        dossiers: DossierRepository,
        directory: DirectoryRepository,
        chats: ChatRepository,
        settings: CaseSettings,
        letters: LetterRepository | None = None,
    ) -> None:
        self.dossiers = dossiers
        self.directory = directory
        self.chats = chats
        self.settings = settings
        self.letters = letters  # None: extensions cannot be handed to staff
        # Called once an extension was handed to a staff member, so they are told now.
        self.on_alerts: Callable[[], None] = lambda: None

    def button(self, dossier_id: int, language: Language) -> Option:
        return Option(
            ExtendDossier(dossier_id).pack(),
            text("button_extend", language),
            typed=text("typed_extend", language, id=dossier_id),
        )

    def head_buttons(self, dossier_id: int, language: Language) -> tuple[Option, ...]:
        """What a head may do with an at-risk dossier: extend it, or hand that to a staff member."""
        if self.letters is None:
            return (self.button(dossier_id, language),)
        delegate = Option(
            DelegateExtension(dossier_id).pack(),
            text("button_delegate_extension", language),
            typed=text("typed_delegate_extension", language, id=dossier_id),
        )
        return (self.button(dossier_id, language), delegate)

    async def _extender(self, dossier: Dossier, people: Sequence[Person]) -> Person | None:
        """Who, of the people at a chat, may extend the dossier: a head over its unit, else the
        staff member of its unit the head handed it to."""
        if (head := await head_over(self.directory, dossier.unit_code, people)) is not None:
            return head
        return next(
            (
                p
                for p in people
                if p.role == Role.STAFF
                and p.unit_code == dossier.unit_code
                and p.id == dossier.extension_delegate_id
            ),
            None,
        )

    async def _refusal(
        self, chat: ChatState, dossier: Dossier | None, language: Language, *, heads_only: bool = False
    ) -> Reply | None:
        """Why this chat may not extend the dossier now (or, `heads_only`, hand it on), if it may not."""
        if dossier is None:
            return Reply(text("stale_option", language))
        people = await self.directory.people_at(chat.channel, chat.chat_id)
        allowed = (
            await head_over(self.directory, dossier.unit_code, people)
            if heads_only
            else await self._extender(dossier, people)
        )
        if allowed is None:
            return Reply(text("not_allowed", language))
        if dossier.returned_at is not None or dossier.state in (
            DossierEventType.RETURNED,
            DossierEventType.WITHDRAWN,
        ):
            return Reply(text("extend_closed", language, code=dossier.code))
        events = await self.dossiers.list_dossier_events(dossier.id)
        if any(e.type == DossierEventType.EXTENDED for e in events):
            return Reply(text("extend_already", language, code=dossier.code))
        return None

    async def press(
        self, chat: ChatState, button: ExtendDossier, language: Language, now: datetime
    ) -> list[Reply]:
        """Asks the unit head for the reason of the extension; their next text is the reason."""
        dossier = await self.dossiers.get_dossier_by_id(button.dossier_id)
        if (refusal := await self._refusal(chat, dossier, language)) is not None:
            return [refusal]
        assert dossier is not None
        await self.chats.set_awaiting(chat.channel, chat.chat_id, f"{AWAITING_EXTENSION_REASON}{dossier.id}")
        return [Reply(text("ask_extension_reason", language, code=dossier.code))]

    async def receive_text(
        self, chat: ChatState, words: str, language: Language, now: datetime
    ) -> list[Reply]:
        """Takes the reason, then the new day, of the extension being written."""
        assert chat.awaiting is not None
        if chat.awaiting.startswith(AWAITING_EXTENSION_REASON):
            dossier_id = int(chat.awaiting.removeprefix(AWAITING_EXTENSION_REASON))
            try:
                reason = checked_reason(words)
            except (TextRefused, ValueError):
                reason = ""
            if not reason:
                return [Reply(text("extension_reason_refused", language))]
            await self.chats.set_awaiting(
                chat.channel, chat.chat_id, f"{AWAITING_EXTENSION_DAY}{dossier_id}:{reason}"
            )
            tomorrow = self.settings.today(now).toordinal() + 1
            example = date.fromordinal(tomorrow + 6).strftime("%d/%m/%Y")
            return [Reply(text("ask_extension_day", language, example=example))]
        held = chat.awaiting.removeprefix(AWAITING_EXTENSION_DAY)
        number, _, reason = held.partition(":")
        return await self.record_extension(chat, int(number), reason, words, language, now)

    async def record_extension(
        self, chat: ChatState, dossier_id: int, reason: str, typed: str, language: Language, now: datetime
    ) -> list[Reply]:
        """Records the `extended` event with its reason and new day, as the API would."""
        today = self.settings.today(now)
        day = typed_day(typed)
        if day is None or day <= today:
            example = date.fromordinal(today.toordinal() + 7).strftime("%d/%m/%Y")
            return [Reply(text("extension_day_refused", language, example=example))]
        dossier = await self.dossiers.get_dossier_by_id(dossier_id)
        await self.chats.set_awaiting(chat.channel, chat.chat_id, None)
        if (refusal := await self._refusal(chat, dossier, language)) is not None:
            return [refusal]
        assert dossier is not None
        people = await self.directory.people_at(chat.channel, chat.chat_id)
        extender = await self._extender(dossier, people)
        assert extender is not None
        zone = self.settings.zone
        new_due_at = datetime.combine(day, NEW_DUE_TIME, zone)
        try:
            facts = event_facts(
                {
                    "type": DossierEventType.EXTENDED.value,
                    "at": now.astimezone(zone).isoformat(),
                    "reason": reason,
                    "new_due_at": new_due_at.isoformat(),
                },
                zone,
            )
        except FactsRefused:
            return [Reply(text("extension_reason_refused", language))]
        result = await self.dossiers.add_dossier_event(
            dossier.code, facts, actor=f"person:{extender.id}", now=now
        )
        if not result.recorded:
            return [Reply(text("extend_already", language, code=dossier.code))]
        letter = result.letter
        key = "extended_print" if letter is None or letter.to_print else "extended_sent"
        return [Reply(text(key, language, code=dossier.code, day=day.strftime("%d/%m/%Y")))]

    async def delegate(
        self, chat: ChatState, button: DelegateExtension, language: Language, now: datetime
    ) -> list[Reply]:
        """Lists the unit's staff to hand the extension to; with one picked, hands it to them (they
        are told, with the button to extend it)."""
        dossier = await self.dossiers.get_dossier_by_id(button.dossier_id)
        if self.letters is None:
            return [Reply(text("stale_option", language))]
        if (refusal := await self._refusal(chat, dossier, language, heads_only=True)) is not None:
            return [refusal]
        assert dossier is not None
        staff = [p for p in await self.directory.unit_people(dossier.unit_code) if p.role == Role.STAFF]
        if button.staff_id is None:
            if not staff:
                return [Reply(text("no_staff_to_extend", language, unit=dossier.unit_name))]
            options = tuple(Option(DelegateExtension(dossier.id, p.id).pack(), p.name) for p in staff)
            ask = text("choose_extension_staff", language, code=dossier.code)
            return [Reply(ask, options, text("typing_hint", language))]
        chosen = next((p for p in staff if p.id == button.staff_id), None)
        if chosen is None:
            return [Reply(text("stale_option", language))]
        people = await self.directory.people_at(chat.channel, chat.chat_id)
        head = await head_over(self.directory, dossier.unit_code, people)
        assert head is not None
        actor = f"person:{head.id}"
        if not await self.letters.delegate_extension(dossier.id, chosen.id, actor=actor, now=now):
            return [Reply(text("extension_delegated_already", language, code=dossier.code, name=chosen.name))]
        self.on_alerts()
        return [Reply(text("extension_delegated", language, code=dossier.code, name=chosen.name))]
