"""The records the repositories return: pydantic models, never database rows."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Rating(StrEnum):
    """The canonical answer: the three levels that reports count."""

    SATISFIED = "satisfied"
    NEUTRAL = "neutral"
    UNSATISFIED = "unsatisfied"


class Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class Unit(Record):
    code: str
    name: str
    parent_code: str | None = None
    retired_at: datetime | None = None


class DossierEventType(StrEnum):
    """What the one-stop software reports about a dossier, in the words of its history."""

    RECEIVED = "received"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    SUPPLEMENT_RECEIVED = "supplement_received"
    EXTENDED = "extended"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"
    RETURNED = "returned"


class Dossier(Record):
    id: int
    code: str
    unit_code: str
    procedure: str
    received_on: date | None = None
    due_on: date | None = None
    returned_at: datetime | None = None
    link_id: str
    created_at: datetime
    survey_code: str | None = None  # typed on platforms without deep links (Zalo)
    unit_name: str = ""
    answered: bool = False  # the dossier has its one answer
    # What the one-stop software says (the intake API, `dossier add`, `dossier import`).
    received_at: datetime | None = None
    due_at: datetime | None = None
    citizen_name: str | None = None
    phone: str | None = None  # normalised: 84 and the national number, digits only
    channel_hint: str | None = None
    # The type of the dossier's latest event by time (None before any): where the dossier stands.
    state: DossierEventType | None = None
    updated_at: datetime | None = None
    # The staff member the unit head handed the dossier's extension to, if any.
    extension_delegate_id: int | None = None
    erased_at: datetime | None = None  # its personal data was erased (on request, or retention)


class DossierFacts(Record):
    """A dossier as the one-stop software describes it: what a PUT, a row of an import file or
    `dossier add` gives. `received_on`/`due_on` are the local days of the two times (or given alone)."""

    code: str
    unit_code: str
    procedure: str
    received_at: datetime | None = None
    due_at: datetime | None = None
    received_on: date | None = None
    due_on: date | None = None
    citizen_name: str | None = None
    phone: str | None = None
    channel_hint: str | None = None


class NewDossier(Record):
    """What a dossier gets once, when it is first recorded: its survey link id and survey code."""

    link_id: str
    survey_code: str


class PutOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class PutResult(Record):
    dossier: Dossier
    outcome: PutOutcome


class DossierEventFacts(Record):
    """An event as reported: its type and time, and what some types carry."""

    type: DossierEventType
    at: datetime
    reason: str | None = None  # supplement_requested, extended
    until: date | None = None  # supplement_requested: the day the citizen has until
    new_due_at: datetime | None = None  # extended: the new appointment


class DossierEvent(DossierEventFacts):
    id: int
    dossier_id: int
    recorded_at: datetime
    recorded_by: str


class LetterStatus(StrEnum):
    """What became of one delivery of an apology letter."""

    PENDING = "pending"
    SENT = "sent"
    UNREACHABLE = "unreachable"  # the chat blocked the bot or does not exist
    FAILED = "failed"  # the platform refused the message for good
    NOT_DELIVERED = "not_delivered"  # the channel cannot send it (no ZNS channel configured)
    NO_CHANNEL = "no_channel"  # nothing reaches the citizen: the desk prints the letter


class LetterDelivery(Record):
    """One way a letter goes to the citizen: a chat (channel, chat id), a ZNS message to the
    dossier's phone (channel `zns`, chat_id the phone), or the record that nothing reaches them
    (channel None, status no_channel)."""

    id: int
    letter_id: int
    dossier_id: int
    channel: str | None = None
    chat_id: str | None = None
    status: LetterStatus
    attempts: int = 0
    created_at: datetime
    sent_at: datetime | None = None  # when it was finished (sent or given up)
    error: str | None = None
    next_attempt_at: datetime | None = None


class Letter(Record):
    """An apology letter (thư xin lỗi): one per `extended` event of a dossier, with its deliveries."""

    id: int
    dossier_id: int
    dossier_code: str
    unit_code: str
    event_id: int
    reason: str
    due_on: date | None = None  # the appointment it apologises for: the dossier's due day then
    new_due_at: datetime | None = None  # the new appointment (the intake always gives one)
    issued_at: datetime  # the time of its `extended` event
    created_at: datetime
    rescheduled_twice: bool = False  # the dossier had an `extended` event before this one
    deliveries: tuple[LetterDelivery, ...] = ()

    @property
    def delivered(self) -> bool:
        return any(d.status == LetterStatus.SENT for d in self.deliveries)

    @property
    def to_print(self) -> bool:
        """Delivered nowhere, and nothing is still trying: the desk prints it."""
        return not any(d.status in (LetterStatus.SENT, LetterStatus.PENDING) for d in self.deliveries)


class EventResult(Record):
    dossier: Dossier
    event: DossierEvent
    recorded: bool  # False: the same type and time was recorded before; nothing changed
    letter: Letter | None = None  # the apology letter a new `extended` event recorded


class DueDossier(Record):
    """An open dossier (not returned, not withdrawn) by its due day, as the lateness watch reads it."""

    id: int
    code: str
    unit_code: str
    procedure: str
    due_on: date
    citizen_name: str | None = None
    extended: bool = False  # it has an `extended` event, and so a letter


class DossierAlertKind(StrEnum):
    EXTENSION_DELEGATED = "extension_delegated"  # to the staff member handed the extension
    RESCHEDULED_TWICE = "rescheduled_twice"  # to the head of the unit (one alert) and of the unit above


class DossierAlert(Record):
    """Something a head or staff member is told about a dossier, once (see LetterRepository)."""

    id: int
    dossier_id: int
    dossier_code: str
    procedure: str
    citizen_name: str | None = None
    due_on: date | None = None
    dossier_unit_name: str = ""
    kind: DossierAlertKind
    unit_code: str  # whose head is told; for a delegated extension, the staff member's unit
    person_id: int | None = None
    letter_id: int | None = None
    reason: str | None = None  # rescheduled twice: the second letter's reason and new appointment
    new_due_at: datetime | None = None
    created_at: datetime
    announced_at: datetime | None = None
    outcome: str | None = None
    attempts: int = 0


class DueCutoffs(Record):
    """For one due day, the instants the calendar gives (handlers compute them): a return at or
    after `late_from` is late; a letter issued before `letter_by` is on time."""

    late_from: datetime
    letter_by: datetime


class UnitLateness(Record):
    """A unit's dossiers returned in a period, as the lateness table counts them."""

    returned: int = 0
    returned_late: int = 0
    letters_on_time: int = 0
    letters_late: int = 0
    letters_missing: int = 0  # returned late without any letter


class AnswerExport(Record):
    """An answer as the one-stop software reads it back: never a chat id, name or phone. `change`
    is the number of its latest change, by which the feed is ordered."""

    change: int
    dossier_code: str
    unit_code: str
    procedure: str
    rating: Rating
    factors: list[str] = Field(default_factory=list)
    channel: str
    answered_at: datetime
    completed: bool


class ApiKey(Record):
    """A key the one-stop software calls the intake API with; only its hash is stored."""

    name: str
    units: tuple[str, ...]
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class Chat(Record):
    """A person's chat with the bot on one channel: their language and whether it still reaches them."""

    channel: str
    chat_id: str
    language: str | None = None
    unreachable_since: datetime | None = None


class FollowUp(Record):
    """One answered follow-up question: which option, and the SIPAS factor it stands for."""

    question_id: str
    option_id: str
    factor: str | None = None


class Survey(Record):
    """A chat's survey in progress (or just finished): which dossier and which question is next,
    with the rating given so far and the name of the dossier's unit, for the replies."""

    id: int
    channel: str
    chat_id: str
    dossier_id: int
    question_set: str
    question_set_version: int
    step: str | None  # the id of the question awaiting an answer; None once finished
    started_at: datetime
    updated_at: datetime
    rating: Rating | None = None
    unit_name: str = ""
    # The dossier's due day, return and state, read with the survey: whether it was late when
    # answered is decided without another read.
    due_on: date | None = None
    returned_at: datetime | None = None
    dossier_state: DossierEventType | None = None


class ChatState(Record):
    """All a handler needs to know about a chat before answering it, read at once."""

    channel: str
    chat_id: str
    language: str | None = None
    unreachable_since: datetime | None = None
    survey: Survey | None = None
    awaiting: str | None = None  # what the chat's next text answers, such as "note:12"
    # The numbered options shown last where people type numbers (Zalo, the terminal): (key, label).
    menu: tuple[tuple[str, str], ...] = ()
    # Set when the chat is a head's or staff member's: the channel they last wrote from.
    person_channel: str | None = None
    is_person: bool = False
    # QuestionSetRepository.question_sets_version as of this read: read here because this read is
    # made for every message anyway, so a cache of the active sets is checked at no extra cost.
    # None (a backend that does not read it with the state): whoever needs it reads it.
    question_sets_version: int | None = None
    notice_at: datetime | None = None  # when the chat was shown the privacy notice
    consent: Consent | None = None  # asked only where the unit asks for explicit consent


class Consent(StrEnum):
    GIVEN = "given"
    REFUSED = "refused"


class Answer(Record):
    id: int
    dossier_id: int
    channel: str
    chat_id: str
    question_set: str
    question_set_version: int
    rating: Rating
    rating_option: str
    follow_ups: list[FollowUp] = Field(default_factory=list)
    texts: dict[str, str] = Field(default_factory=dict)
    answered_at: datetime
    completed_at: datetime | None = None
    # Known for answers given since lateness was recorded (None before): whether the dossier was
    # late when answered, and whether an apology letter had reached the citizen by then.
    dossier_late: bool | None = None
    letter_sent: bool | None = None


class AnswerRow(Record):
    """An answer with the dossier and unit it is about, as the `answers` listing shows it."""

    dossier_code: str
    unit_code: str
    unit_name: str
    procedure: str
    answer: Answer
    case_id: int | None = None  # the complaint case the answer opened, if any
    case_state: CaseState | None = None
    # Personal data, shown only by `answers --with-personal-data` (audited).
    citizen_name: str | None = None
    phone: str | None = None


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    SKIPPED = "skipped"
    UNREACHABLE = "unreachable"
    FAILED = "failed"


class Invitation(Record):
    """A survey invitation waiting in the outbox for the running bot to send."""

    id: int
    dossier_id: int
    channel: str
    chat_id: str
    status: OutboxStatus
    attempts: int
    created_at: datetime
    sent_at: datetime | None = None  # when it was finished (sent, skipped or given up)
    error: str | None = None  # why the last attempt failed, or why it was given up
    next_attempt_at: datetime | None = None  # a pending one is not tried before (None: at once)


class Role(StrEnum):
    HEAD = "head"
    STAFF = "staff"


class Contact(Record):
    """Where a person is reached: a channel (telegram, zalo) and a chat id on it."""

    channel: str
    chat_id: str


class PersonEntry(Record):
    """A head or staff member of a unit, with the chats they are reached on, in the order the
    directory lists them."""

    unit_code: str
    role: Role
    name: str
    contacts: tuple[Contact, ...] = Field(min_length=1)
    # The stored person this entry is, when the directory's planner matched one (their cases stay).
    person_id: int | None = None


class Person(PersonEntry):
    """A stored person. `contacts` come in the order to try them: the channel the person last
    wrote to the bot from first, then the directory's order."""

    id: int
    active: bool = True

    @property
    def channel(self) -> str:
        return self.contacts[0].channel

    @property
    def chat_id(self) -> str:
        return self.contacts[0].chat_id


class CaseState(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


OPEN_STATES = (CaseState.NEW, CaseState.ASSIGNED, CaseState.REOPENED)


class Case(Record):
    """A complaint case with what the citizen said and who handles it."""

    id: int
    dossier_id: int
    dossier_code: str
    procedure: str
    unit_code: str
    unit_name: str
    state: CaseState
    assignee_id: int | None = None
    assignee_name: str | None = None
    opened_at: datetime
    deadline: date
    resolution: str | None = None
    updated_at: datetime
    citizen_channel: str
    citizen_chat_id: str
    rating: Rating
    follow_ups: list[FollowUp] = Field(default_factory=list)
    texts: dict[str, str] = Field(default_factory=dict)
    survey_done: bool = True  # False while the citizen may still be writing their complaint

    def overdue_on(self, day: date) -> bool:
        return self.state in OPEN_STATES and day > self.deadline


class CaseEvent(Record):
    case_id: int
    at: datetime
    actor: str
    action: str
    note: str | None = None


class NoticeTo(Record):
    """A message about a case to send someone: what kind, and where. A notice to a head or staff
    member names the person, so it goes to whichever of their chats can be reached when sent."""

    kind: str
    channel: str
    chat_id: str
    person_id: int | None = None


class Notice(NoticeTo):
    id: int
    case_id: int
    status: OutboxStatus
    attempts: int
    note: str | None = None  # the note of the case event that queued it (a relayed message's words)
    created_at: datetime | None = None
    sent_at: datetime | None = None  # when it was finished (sent, skipped or given up)
    error: str | None = None  # why the last attempt failed, or why it was given up
    next_attempt_at: datetime | None = None  # a pending one is not tried before (None: at once)
    unit_code: str | None = None  # the unit of its case


class DigestStatus(StrEnum):
    SENDING = "sending"  # claimed by a sender; taken over once its lease runs out
    SENT = "sent"
    EMPTY = "empty"  # nothing to report; the day may still send one later
    RETRYING = "retrying"  # not accepted whole; tried again from next_attempt_at
    FAILED = "failed"  # a message of it was refused for good
    UNREACHABLE = "unreachable"  # no head of the unit or above could be reached


class DigestRecord(Record):
    """What became of a unit's digest of a day."""

    unit_code: str
    day: date
    status: DigestStatus
    claimed_at: datetime
    sent_at: datetime | None = None
    recipient: str | None = None
    attempts: int = 0
    error: str | None = None
    next_attempt_at: datetime | None = None


class UndeliveredReply(Record):
    """An answer to something a person sent that the platform did not accept."""

    id: int
    channel: str
    chat_id: str
    at: datetime
    error: str


class UnitFigures(Record):
    answers: int = 0
    satisfied: int = 0
    neutral: int = 0
    unsatisfied: int = 0


class CaseCounts(Record):
    """A unit's cases as the digest counts them."""

    open: int = 0
    overdue: int = 0
    new: int = 0  # opened since the unit's last digest
    last_digest_at: datetime | None = None


class StoredQuestionSet(Record):
    """One imported version of a question set, with how many answers it has."""

    id: int
    set_id: str
    version: int
    source: str
    active: bool
    imported_at: datetime
    imported_by: str
    answers: int | None = None  # counted only where asked for (the listing)


class AuditEntry(Record):
    at: datetime
    actor: str
    action: str
    detail: str | None = None


class DirectoryProposal(Record):
    id: int
    source: str
    proposed_at: datetime
    proposed_by: str
    applied_at: datetime | None = None


class PersonalDossier(Record):
    """A dossier a chat is linked to, as its citizen is shown it: code and procedure only."""

    code: str
    procedure: str
    unit_name: str
    linked_at: datetime | None = None


class PersonalAnswer(Record):
    dossier_code: str
    procedure: str
    channel: str
    rating: Rating
    rating_option: str
    follow_ups: list[FollowUp] = Field(default_factory=list)
    texts: dict[str, str] = Field(default_factory=dict)
    answered_at: datetime
    completed_at: datetime | None = None


class PersonalCaseEvent(Record):
    at: datetime
    action: str
    note: str | None = None


class PersonalCase(Record):
    id: int
    dossier_code: str
    unit_name: str
    state: CaseState
    opened_at: datetime
    deadline: date
    resolution: str | None = None
    events: list[PersonalCaseEvent] = Field(default_factory=list)


class PersonalData(Record):
    """Everything stored about one chat's citizen (Law 91/2025/QH15, the right of access)."""

    channel: str
    chat_id: str
    language: str | None = None
    notice_at: datetime | None = None
    consent: Consent | None = None
    consent_at: datetime | None = None
    dossiers: list[PersonalDossier] = Field(default_factory=list)
    answers: list[PersonalAnswer] = Field(default_factory=list)
    cases: list[PersonalCase] = Field(default_factory=list)


class Forgotten(Record):
    """What an erasure changed: dossiers whose personal data went, answers made anonymous, chats
    forgotten, and the open cases it closed."""

    dossiers: int = 0
    answers: int = 0
    chats: int = 0
    closed_cases: list[int] = Field(default_factory=list)


# Reports (issue 14): what a report reads, counted by group in storage; answers collected elsewhere.


class ReportBy(StrEnum):
    """What a report's rows are, where storage groups (factors are counted apart)."""

    UNIT = "unit"  # the unit the dossier (or the imported answer) belongs to, not yet its subtree
    PROCEDURE = "procedure"
    CHANNEL = "channel"  # where the answer came from: telegram, zalo, paper, phone, kiosk, ...
    MONTH = "month"  # the span's key


class ReportSpan(Record):
    """A stretch of time counted as one: the whole period, or one local month of it (key 2026-10)."""

    key: str
    start: datetime
    end: datetime


class RatingCounts(Record):
    answers: int = 0
    satisfied: int = 0
    neutral: int = 0
    unsatisfied: int = 0


class ReturnedCounts(Record):
    """Dossiers returned in a span that could be asked (not withdrawn), and what became of them."""

    returned: int = 0
    answered: int = 0  # have an answer, whenever given
    with_due_day: int = 0
    late: int = 0  # returned after the end of their due day
    unsatisfied_or_complaint: int = 0  # answered unsatisfied, or a complaint case opened


class ComplaintCounts(Record):
    """Complaint cases opened in a span; overdue as of the report's making."""

    opened: int = 0
    resolved_on_time: int = 0  # first resolved by the end of the deadline day
    overdue: int = 0  # first resolved after it, or not resolved and the deadline day has passed
    reopened: int = 0  # the citizen said it was not resolved
    reopened_or_overdue: int = 0  # each case once
    hours_to_resolve: tuple[float, ...] = ()  # opening to first resolution, of those resolved


class FactorCount(Record):
    """How many answers of a rating named a SIPAS factor as what fell short."""

    factor: str
    rating: Rating
    named: int


class ImportedAnswer(Record):
    """An answer collected elsewhere (paper, phone, kiosk), as imported: no dossier, its own unit."""

    unit_code: str
    procedure: str
    rating: Rating
    rating_option: str  # as written in the file (the 1-5 or 1-3 or the word), for the record
    factor: str | None = None
    answered_at: datetime
    channel: str
    import_key: str  # the hash of the row as read: the same row imported again is the same answer
