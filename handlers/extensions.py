"""Extending an at-risk dossier from the chat: the unit head presses the button of the digest (or
types "gia han 345"), writes the reason, then the new appointment day; the `extended` event is
recorded exactly as the intake API records it, and with it the apology letter to the citizen."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, time

from handlers.buttons import Button
from handlers.cases import CaseSettings
from handlers.chat import Option, Reply
from handlers.codes import TextRefused
from handlers.directory import ancestry_of
from handlers.dossier_facts import FactsRefused, checked_reason, event_facts
from handlers.texts import Language, text
from handlers.typed import folded, typed_number
from storage.base import ChatRepository, DirectoryRepository, DossierRepository
from storage.records import ChatState, Dossier, DossierEventType, Person, Role

# What a chat's next text is while an extension is being written: its reason, then its new day
# (the reason, already checked, waits in storage with it).
AWAITING_EXTENSION_REASON = "extreason:"
AWAITING_EXTENSION_DAY = "extday:"
AWAITED_EXTENSION = (AWAITING_EXTENSION_REASON, AWAITING_EXTENSION_DAY)
# The new appointment is the new day at the end of office hours.
NEW_DUE_TIME = time(17, 0)
TYPED_EXTEND = ("gia han", "giahan", "extend")
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
_YEAR_MONTH_DAY = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


class ExtendDossier(Button, prefix="ext"):
    """Extend this dossier: asks its unit head for the reason and the new appointment day."""

    dossier_id: int


def typed_extend_button(words: str) -> ExtendDossier | None:
    """The extension a typed short command stands for: "gia hạn 345", "giahan 345", "extend 345"."""
    typed = folded(words).lstrip("/").replace("#", " ")
    for command in TYPED_EXTEND:
        if typed.startswith(command + " "):
            number = typed_number(typed.removeprefix(command).strip())
            return ExtendDossier(number) if number is not None else None
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
    ) -> None:
        self.dossiers = dossiers
        self.directory = directory
        self.chats = chats
        self.settings = settings

    def button(self, dossier_id: int, language: Language) -> Option:
        return Option(
            ExtendDossier(dossier_id).pack(),
            text("button_extend", language),
            typed=text("typed_extend", language, id=dossier_id),
        )

    async def _head_over(self, unit_code: str, people: Sequence[Person]) -> Person | None:
        """The presser's head role over the unit: head of it or of a unit above it."""
        heads = {p.unit_code: p for p in people if p.role == Role.HEAD}
        if not heads:
            return None
        above = ancestry_of(unit_code, await self.directory.list_units())
        return next((heads[code] for code in above if code in heads), None)

    async def _refusal(self, chat: ChatState, dossier: Dossier | None, language: Language) -> Reply | None:
        """Why this chat may not extend the dossier now, if it may not."""
        if dossier is None:
            return Reply(text("stale_option", language))
        people = await self.directory.people_at(chat.channel, chat.chat_id)
        if await self._head_over(dossier.unit_code, people) is None:
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
        head = await self._head_over(dossier.unit_code, people)
        assert head is not None
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
            dossier.code, facts, actor=f"person:{head.id}", now=now
        )
        if not result.recorded:
            return [Reply(text("extend_already", language, code=dossier.code))]
        letter = result.letter
        key = "extended_print" if letter is None or letter.to_print else "extended_sent"
        return [Reply(text(key, language, code=dossier.code, day=day.strftime("%d/%m/%Y")))]
