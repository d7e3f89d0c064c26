"""Complaint cases: opened by an unsatisfied answer or a written complaint, assigned by the unit
head, resolved by the staff member with a note, confirmed or reopened by the citizen. Every button
checks who pressed it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from handlers.buttons import Button
from handlers.calendar import add_working_days
from handlers.chat import Option, Reply, text_length
from handlers.directory import head_over, nearest_heads, subtree
from handlers.templates import ZNS
from handlers.texts import Language, text
from handlers.typed import folded, typed_number
from storage.base import CaseRepository, ChatRepository, DirectoryRepository
from storage.records import (
    OPEN_STATES,
    Case,
    CaseState,
    ChatState,
    NoticeTo,
    Person,
    Rating,
    Role,
)

NOTE_LIMIT = 1000  # characters as a person sees them: handlers.chat.text_length
PAGE_SIZE = 5
# The resolution of a case closed because its citizen had their personal data erased (/forget).
WITHDRAWN = text("case_withdrawn_note", "vi")
WITHDRAWN_SHOWN_DAYS = 30  # /cases lists such cases closed this recently...
WITHDRAWN_OPENED_DAYS = 400  # ...among those opened in the last year or so
# What a chat's next text is, while it is awaited: a resolution note, a message for the citizen of
# a case (from its staff member), or the citizen's reply to one; each followed by the case number.
AWAITING_NOTE = "note:"
AWAITING_MESSAGE = "msg:"
AWAITING_REPLY = "reply:"
AWAITED_TEXTS = (AWAITING_NOTE, AWAITING_MESSAGE, AWAITING_REPLY)
_ASK = {AWAITING_NOTE: "ask_resolution", AWAITING_MESSAGE: "ask_message", AWAITING_REPLY: "ask_reply"}


@dataclass(frozen=True)
class CaseSettings:
    open_on: frozenset[Rating] = frozenset({Rating.UNSATISFIED})
    deadline_working_days: int = 3
    contact_hours: int = 48  # the staff member assigned is asked to contact the citizen within this
    holidays: frozenset[date] = field(default_factory=frozenset)
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Ho_Chi_Minh"))

    def deadline(self, opened: datetime) -> date:
        """The last day to resolve a case opened at `opened`: that many working days later."""
        return add_working_days(
            opened.astimezone(self.zone).date(), self.deadline_working_days, self.holidays
        )

    def today(self, now: datetime) -> date:
        return now.astimezone(self.zone).date()


class CaseAction(StrEnum):
    """What a case button does; each value is what the button's data says."""

    ASSIGN = "assign"  # the head asks for the unit's staff
    ASSIGN_TO = "to"  # the head picked this staff member
    RESOLVE = "resolve"  # the staff member will write the resolution note
    MESSAGE = "msg"  # the staff member will write to the citizen through the bot
    CONFIRM = "ok"  # the citizen says the resolution solved it
    REOPEN = "no"  # the citizen says it did not
    REPLY = "reply"  # the citizen will answer the staff member's message


class CaseButton(Button, prefix="c"):
    """A button on a case. One class with an action rather than a class per action: every action
    first finds the case and checks who pressed, and the data reads as before (`c12.assign`,
    `c12.to.5`), so case buttons already in chats keep working."""

    case_id: int
    action: CaseAction
    staff_id: int | None = None  # only with ASSIGN_TO

    def __post_init__(self) -> None:
        if (self.staff_id is not None) != (self.action == CaseAction.ASSIGN_TO):
            raise ValueError(f"a staff member goes with {CaseAction.ASSIGN_TO!r} and nothing else")


class CasesPage(Button, prefix="cases.page."):
    """The next page of /cases (numbered from 0)."""

    page: int


# Short commands typed where there are no buttons ("giao 12", "assign 12", "xong 12", "done 12"),
# compared without diacritics; each names a case action and the case's number.
TYPED_ACTIONS = {
    "giao": CaseAction.ASSIGN,
    "assign": CaseAction.ASSIGN,
    "xong": CaseAction.RESOLVE,
    "done": CaseAction.RESOLVE,
    "resolve": CaseAction.RESOLVE,
    "nhan": CaseAction.MESSAGE,
    "message": CaseAction.MESSAGE,
}


def typed_case_button(words: str) -> CaseButton | None:
    """The case button a typed short command stands for, such as "giao 12" → assign case 12."""
    parts = folded(words).lstrip("/").replace("#", " ").split()
    if len(parts) == 2 and parts[0] in TYPED_ACTIONS and (case_id := typed_number(parts[1])) is not None:
        return CaseButton(case_id, TYPED_ACTIONS[parts[0]])
    return None


def describe_case(case: Case, language: Language, question_texts: Mapping[str, str] | None = None) -> str:
    """The case as a head or staff member reads it."""
    problem = (
        ", ".join(question_texts.get(f.option_id, f.option_id) for f in case.follow_ups)
        if (question_texts is not None)
        else ", ".join(f.option_id for f in case.follow_ups)
    )
    words = " ".join(case.texts.values())
    return text(
        "case_summary",
        language,
        id=case.id,
        unit=case.unit_name,
        dossier=case.dossier_code,
        procedure=case.procedure,
        rating=text(f"rating_{case.rating.value}", language),
        problem=text("case_problem", language, problem=problem) if problem else "",
        words=text("case_words", language, words=words) if words else "",
        opened=case.opened_at.strftime("%d/%m/%Y"),
        deadline=case.deadline.strftime("%d/%m/%Y"),
        state=text(f"state_{case.state.value}", language)
        + (text("case_assignee", language, name=case.assignee_name) if case.assignee_name else ""),
    )


class CaseDesk:
    def __init__(
        self,
        cases: CaseRepository,
        directory: DirectoryRepository,
        chats: ChatRepository,
        settings: CaseSettings,
        option_texts: Mapping[Language, Mapping[str, str]],
    ) -> None:
        self.cases = cases
        self.directory = directory
        self.chats = chats
        self.settings = settings
        self._option_texts = option_texts  # language -> follow-up option id -> its words

    def describe(self, case: Case, language: Language) -> str:
        return describe_case(case, language, self._option_texts.get(language))

    def head_buttons(self, case: Case, language: Language) -> tuple[Option, ...]:
        if case.state not in OPEN_STATES:
            return ()
        again = case.state == CaseState.ASSIGNED
        return (
            Option(
                CaseButton(case.id, CaseAction.ASSIGN).pack(),
                text("button_reassign" if again else "button_assign", language),
                typed=text("typed_reassign" if again else "typed_assign", language, id=case.id),
            ),
        )

    def resolve_button(self, case: Case, language: Language) -> Option:
        return Option(
            CaseButton(case.id, CaseAction.RESOLVE).pack(),
            text("button_resolve", language),
            typed=text("typed_resolve", language, id=case.id),
        )

    def staff_buttons(self, case: Case, language: Language) -> tuple[Option, ...]:
        """What the staff member assigned can do with the case: message the citizen (not one who
        answered by ZNS: no chat reaches them), mark it resolved."""
        if case.citizen_channel == ZNS:
            return (self.resolve_button(case, language),)
        message = Option(
            CaseButton(case.id, CaseAction.MESSAGE).pack(),
            text("button_message_citizen", language),
            typed=text("typed_message", language, id=case.id),
        )
        return (message, self.resolve_button(case, language))

    # Who may act

    # Handlers

    async def press(
        self, chat: ChatState, button: CaseButton, language: Language, now: datetime
    ) -> list[Reply]:
        """Answers a button of a case: assign, pick a staff member, resolve, confirm or reopen."""
        case = await self.cases.get_case(button.case_id)
        if case is None:
            return [Reply(text("stale_option", language))]
        action = button.action
        if action in (CaseAction.CONFIRM, CaseAction.REOPEN):
            resolved = action == CaseAction.CONFIRM
            return await self.confirm(chat, case, resolved=resolved, language=language, now=now)
        if action == CaseAction.REPLY:
            return await self.ask_reply(chat, case, language)
        people = await self.directory.people_at(chat.channel, chat.chat_id)
        if action == CaseAction.ASSIGN:
            return await self.offer_staff(case, people, language)
        if action == CaseAction.ASSIGN_TO and button.staff_id is not None:
            return await self.assign(case, people, button.staff_id, language, now)
        if action == CaseAction.RESOLVE:
            return await self.ask_resolution(chat, case, people, language)
        if action == CaseAction.MESSAGE:
            return await self.ask_message(chat, case, people, language)
        return [Reply(text("stale_option", language))]

    async def offer_staff(self, case: Case, people: Sequence[Person], language: Language) -> list[Reply]:
        """Shows the head the unit's staff to assign the case to."""
        if await head_over(self.directory, case.unit_code, people) is None:
            return [Reply(text("not_allowed", language))]
        if case.state not in OPEN_STATES:
            return [Reply(text("case_stale", language, id=case.id))]
        staff = [p for p in await self.directory.unit_people(case.unit_code) if p.role == Role.STAFF]
        if not staff:
            return [Reply(text("no_staff", language, unit=case.unit_name))]
        options = tuple(Option(CaseButton(case.id, CaseAction.ASSIGN_TO, p.id).pack(), p.name) for p in staff)
        return [Reply(text("choose_staff", language, id=case.id), options, text("typing_hint", language))]

    async def assign(
        self, case: Case, people: Sequence[Person], staff_id: int, language: Language, now: datetime
    ) -> list[Reply]:
        """Assigns the case to a staff member of its unit; tells them and the citizen."""
        head = await head_over(self.directory, case.unit_code, people)
        if head is None:
            return [Reply(text("not_allowed", language))]
        staff = await self.directory.get_person(staff_id)
        if staff is None or staff.role != Role.STAFF or staff.unit_code != case.unit_code:
            return [Reply(text("stale_option", language))]
        if case.assignee_id == staff_id and case.state == CaseState.ASSIGNED:
            return [Reply(text("assigned_done", language, id=case.id, name=staff.name))]
        changed = await self.cases.change_case(
            case.id,
            from_states=OPEN_STATES,
            to_state=CaseState.ASSIGNED,
            actor=f"person:{head.id}",
            action="assigned",
            note=staff.name,
            assignee_id=staff.id,
            now=now,
            notices=(
                NoticeTo(kind="to_staff", channel=staff.channel, chat_id=staff.chat_id, person_id=staff.id),
                NoticeTo(kind="assigned", channel=case.citizen_channel, chat_id=case.citizen_chat_id),
            ),
        )
        if changed is None:
            return [Reply(text("case_stale", language, id=case.id))]
        return [Reply(text("assigned_done", language, id=case.id, name=staff.name))]

    async def ask_resolution(
        self, chat: ChatState, case: Case, people: Sequence[Person], language: Language
    ) -> list[Reply]:
        """Asks the assigned staff member for the resolution note; their next text is the note."""
        if case.assignee_id is None or case.assignee_id not in {p.id for p in people}:
            return [Reply(text("not_allowed", language))]
        if case.state != CaseState.ASSIGNED:
            return [Reply(text("case_stale", language, id=case.id))]
        await self.chats.set_awaiting(chat.channel, chat.chat_id, f"{AWAITING_NOTE}{case.id}")
        return [Reply(text("ask_resolution", language, id=case.id, limit=NOTE_LIMIT))]

    async def receive_text(
        self, chat: ChatState, words: str, language: Language, now: datetime
    ) -> list[Reply]:
        """Takes the text a chat was asked for: a resolution note, a message for a citizen, a reply."""
        assert chat.awaiting is not None
        awaited = next(prefix for prefix in AWAITED_TEXTS if chat.awaiting.startswith(prefix))
        case_id = int(chat.awaiting.removeprefix(awaited))
        cleaned = words.strip()
        if not cleaned:
            return [Reply(text(_ASK[awaited], language, id=case_id, limit=NOTE_LIMIT))]
        if (length := text_length(cleaned)) > NOTE_LIMIT:
            return [Reply(text("too_long", language, length=length, limit=NOTE_LIMIT))]
        case = await self.cases.get_case(case_id)
        await self.chats.set_awaiting(chat.channel, chat.chat_id, None)
        if case is None:
            return [Reply(text("stale_option", language))]
        if awaited == AWAITING_MESSAGE:
            return await self.relay_to_citizen(chat, case, cleaned, language, now)
        if awaited == AWAITING_REPLY:
            return await self.relay_to_staff(chat, case, cleaned, language, now)
        return await self.record_resolution(chat, case, cleaned, language, now)

    async def ask_message(
        self, chat: ChatState, case: Case, people: Sequence[Person], language: Language
    ) -> list[Reply]:
        """Asks the staff member assigned for the message to relay to the case's citizen."""
        if case.assignee_id is None or case.assignee_id not in {p.id for p in people}:
            return [Reply(text("not_allowed", language))]
        if case.state not in OPEN_STATES:
            return [Reply(text("case_stale", language, id=case.id))]
        if case.citizen_channel == ZNS:
            return [Reply(text("citizen_by_zns", language, id=case.id))]
        await self.chats.set_awaiting(chat.channel, chat.chat_id, f"{AWAITING_MESSAGE}{case.id}")
        return [Reply(text("ask_message", language, id=case.id, limit=NOTE_LIMIT))]

    async def relay_to_citizen(
        self, chat: ChatState, case: Case, words: str, language: Language, now: datetime
    ) -> list[Reply]:
        """Sends the staff member's message to the citizen through the bot, recorded in the case."""
        people = await self.directory.people_at(chat.channel, chat.chat_id)
        if case.assignee_id not in {p.id for p in people}:
            return [Reply(text("not_allowed", language))]
        changed = await self.cases.change_case(
            case.id,
            from_states=(case.state,),  # only as it was read: a message never undoes a reassignment
            to_state=case.state,
            actor=f"person:{case.assignee_id}",
            action="messaged citizen",
            note=words,
            now=now,
            notices=(NoticeTo(kind="message", channel=case.citizen_channel, chat_id=case.citizen_chat_id),),
        )
        if changed is None:
            return [Reply(text("case_stale", language, id=case.id))]
        return [Reply(text("message_sent", language, id=case.id))]

    async def ask_reply(self, chat: ChatState, case: Case, language: Language) -> list[Reply]:
        """Asks the citizen for their answer to a message about their complaint."""
        if (chat.channel, chat.chat_id) != (case.citizen_channel, case.citizen_chat_id):
            return [Reply(text("not_allowed", language))]
        if case.state not in OPEN_STATES:
            return [Reply(text("case_stale_citizen", language))]
        await self.chats.set_awaiting(chat.channel, chat.chat_id, f"{AWAITING_REPLY}{case.id}")
        return [Reply(text("ask_reply", language, limit=NOTE_LIMIT))]

    async def relay_to_staff(
        self, chat: ChatState, case: Case, words: str, language: Language, now: datetime
    ) -> list[Reply]:
        """Sends the citizen's reply to the staff member assigned (else the unit's head), recorded."""
        if (chat.channel, chat.chat_id) != (case.citizen_channel, case.citizen_chat_id):
            return [Reply(text("not_allowed", language))]
        assignee = await self.directory.get_person(case.assignee_id) if case.assignee_id is not None else None
        readers = (
            [assignee]
            if assignee is not None and assignee.active
            else await nearest_heads(self.directory, case.unit_code)
        )
        changed = await self.cases.change_case(
            case.id,
            from_states=(case.state,),  # only as it was read: a message never undoes a reassignment
            to_state=case.state,
            actor="citizen",
            action="citizen replied",
            note=words,
            now=now,
            notices=tuple(
                NoticeTo(kind="reply", channel=p.channel, chat_id=p.chat_id, person_id=p.id) for p in readers
            ),
        )
        if changed is None:
            return [Reply(text("case_stale_citizen", language))]
        return [Reply(text("reply_sent", language))]

    async def record_resolution(
        self, chat: ChatState, case: Case, note: str, language: Language, now: datetime
    ) -> list[Reply]:
        """Takes the staff member's text as the resolution note and tells the citizen."""
        people = await self.directory.people_at(chat.channel, chat.chat_id)
        if case.assignee_id not in {p.id for p in people}:
            return [Reply(text("not_allowed", language))]
        changed = await self.cases.change_case(
            case.id,
            from_states=(CaseState.ASSIGNED,),
            to_state=CaseState.RESOLVED,
            actor=f"person:{case.assignee_id}",
            action="resolved",
            note=note,
            resolution=note,
            now=now,
            notices=(NoticeTo(kind="resolved", channel=case.citizen_channel, chat_id=case.citizen_chat_id),),
        )
        if changed is None:
            return [Reply(text("case_stale", language, id=case.id))]
        return [Reply(text("resolved_done", language, id=case.id))]

    async def confirm(
        self, chat: ChatState, case: Case, *, resolved: bool, language: Language, now: datetime
    ) -> list[Reply]:
        """The citizen says whether the resolution solved their problem: closes or reopens it."""
        if (chat.channel, chat.chat_id) != (case.citizen_channel, case.citizen_chat_id):
            return [Reply(text("not_allowed", language))]
        notices: tuple[NoticeTo, ...] = ()
        if not resolved:
            heads = [p for p in await self.directory.unit_people(case.unit_code) if p.role == Role.HEAD]
            notices = tuple(
                NoticeTo(kind="reopened", channel=h.channel, chat_id=h.chat_id, person_id=h.id) for h in heads
            )
        changed = await self.cases.change_case(
            case.id,
            from_states=(CaseState.RESOLVED,),
            to_state=CaseState.CLOSED if resolved else CaseState.REOPENED,
            actor="citizen",
            action="confirmed" if resolved else "reopened",
            now=now,
            notices=notices,
        )
        if changed is None:
            return [Reply(text("case_stale_citizen", language))]
        if resolved:
            return [Reply(text("confirm_thanks_closed", language))]
        return [Reply(text("confirm_thanks_reopened", language, unit=case.unit_name))]

    async def list_open(
        self, chat: ChatState, page: int, language: Language, now: datetime | None = None
    ) -> list[Reply]:
        """/cases: the open cases of the units the person heads and of every unit under them, a
        page at a time (a head may assign the cases of the units below); first, the complaints
        citizens withdrew lately (by erasing their personal data)."""
        people = await self.directory.people_at(chat.channel, chat.chat_id)
        headed = [p.unit_code for p in people if p.role == Role.HEAD]
        if not headed:
            return await self.list_mine(chat, language) if people else [Reply(text("staff_only", language))]
        units = subtree(headed, await self.directory.list_units())
        withdrawn = await self._withdrawn(units, now, language) if page == 0 and now is not None else []
        total = await self.cases.count_cases(units)
        if total == 0:
            return [*withdrawn, Reply(text("no_cases", language))]
        page = max(0, min(page, (total - 1) // PAGE_SIZE))
        cases = await self.cases.list_cases(units, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
        first = page * PAGE_SIZE + 1
        replies = [
            *withdrawn,
            Reply(text("cases_page", language, first=first, last=first + len(cases) - 1, total=total)),
        ]
        replies += [Reply(self.describe(c, language), self.head_buttons(c, language)) for c in cases]
        last = first + len(cases) - 1
        if last < total:
            next_page = Option(CasesPage(page + 1).pack(), text("button_next_page", language))
            replies.append(
                Reply(
                    text("cases_more", language, count=total - last),
                    (next_page,),
                    text("typing_hint", language),
                )
            )
        return replies

    async def _withdrawn(self, units: Sequence[str], now: datetime, language: Language) -> list[Reply]:
        """The complaints of these units opened in the last WITHDRAWN_SHOWN_DAYS and closed because
        the citizen withdrew them, as one line; nothing when there are none."""
        since = now - timedelta(days=WITHDRAWN_SHOWN_DAYS)
        closed = await self.cases.list_cases(
            units, states=(CaseState.CLOSED,), opened_after=now - timedelta(days=WITHDRAWN_OPENED_DAYS)
        )
        ids = [f"#{c.id}" for c in closed if c.resolution == WITHDRAWN and c.updated_at >= since]
        return [Reply(text("cases_withdrawn", language, cases=", ".join(ids)))] if ids else []

    async def list_mine(self, chat: ChatState, language: Language) -> list[Reply]:
        """/mycases: the cases assigned to this staff member, each with its resolve button."""
        people = await self.directory.people_at(chat.channel, chat.chat_id)
        staff = [p for p in people if p.role == Role.STAFF]
        if not staff:
            return [Reply(text("staff_only", language))]
        cases: list[Case] = []
        for person in staff:
            cases += await self.cases.list_cases(
                [person.unit_code], states=(CaseState.ASSIGNED,), assignee_id=person.id
            )
        if not cases:
            return [Reply(text("my_cases_none", language))]
        return [Reply(self.describe(c, language), self.staff_buttons(c, language)) for c in cases]
