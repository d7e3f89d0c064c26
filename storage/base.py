"""The repository interfaces, one per aggregate, and `Storage`, which holds one of each over one
database. A backend (storage/sqlite/, later PostgreSQL) implements every interface and passes the
same contract suite (tests/storage/). Handlers and jobs are given only the interfaces they use.

Storage stores: rules a person sees (how long typed numbers stay valid, who is the same person,
how often a wrong code may be typed) are decided by handlers and passed in as values."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, timedelta

from storage.records import (
    OPEN_STATES,
    Answer,
    AnswerExport,
    AnswerRow,
    ApiKey,
    AuditEntry,
    Case,
    CaseCounts,
    CaseEvent,
    CaseState,
    ChatState,
    ComplaintCounts,
    Consent,
    DigestRecord,
    DigestStatus,
    DirectoryProposal,
    Dossier,
    DossierAlert,
    DossierEvent,
    DossierEventFacts,
    DossierFacts,
    DueCutoffs,
    DueDossier,
    EventResult,
    FactorCount,
    FollowUp,
    Forgotten,
    ImportedAnswer,
    Invitation,
    Letter,
    LetterDelivery,
    LetterStatus,
    NewDossier,
    Notice,
    NoticeTo,
    OutboxStatus,
    Person,
    PersonalData,
    PersonEntry,
    PutResult,
    Rating,
    RatingCounts,
    ReportBy,
    ReportSpan,
    ReturnedCounts,
    StoredQuestionSet,
    Survey,
    UndeliveredReply,
    Unit,
    UnitFigures,
    UnitLateness,
)
from storage.zalo_oa_records import OAToken, OAWebhookEvent, ZnsMessage, ZnsQuota


class StorageError(Exception):
    """Something a caller asked for that the stored data does not allow."""


class DatabaseUnavailable(StorageError):
    """The database cannot be opened, or cannot be written just now (a corrupt file, a folder that
    cannot be written, a read-only file system, a full disk). The message names the database and
    the cause in one line. A write that fails with it changed nothing and may succeed later."""


class DuplicateDossier(StorageError):
    pass


class UnknownUnit(StorageError):
    pass


class UnknownDossier(StorageError):
    pass


class OutOfScope(StorageError):
    """The dossier belongs to a unit outside the caller's scope (an API key's units); the message
    is the dossier's code."""


class DuplicateApiKey(StorageError):
    pass


class UnknownApiKey(StorageError):
    pass


class AlreadyServing(StorageError):
    """Another process runs the bot on this database, and the backend allows only one (SQLite)."""


class AlreadyAnswered(StorageError):
    """The dossier already has its one answer."""


class StaleStep(StorageError):
    """The survey is no longer at the question this answer was given to (a button pressed twice)."""


class DossierRepository(ABC):
    """Dossiers, the chats waiting for their survey, and wrong survey codes typed."""

    @abstractmethod
    async def add_dossier(
        self,
        *,
        code: str,
        unit_code: str,
        procedure: str,
        link_id: str,
        now: datetime,
        received_on: date | None = None,
        due_on: date | None = None,
        returned_at: datetime | None = None,
        survey_code: str | None = None,
    ) -> Dossier:
        """Raises DuplicateDossier or UnknownUnit."""

    @abstractmethod
    async def get_dossier(self, code: str) -> Dossier | None: ...

    @abstractmethod
    async def get_dossier_by_id(self, dossier_id: int) -> Dossier | None: ...

    @abstractmethod
    async def get_dossier_by_link(self, link_id: str) -> Dossier | None: ...

    @abstractmethod
    async def linked_chat_count(self, dossier_id: int) -> int:
        """How many chats opened the dossier's link or typed its code."""

    @abstractmethod
    async def get_dossier_by_survey_code(self, survey_code: str) -> Dossier | None: ...

    @abstractmethod
    async def list_dossiers(
        self, unit_codes: Sequence[str] | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[Dossier]:
        """Dossiers, newest first; with units, only theirs."""

    @abstractmethod
    async def count_wrong_codes(self, channel: str, chat_id: str, since: datetime) -> int: ...

    @abstractmethod
    async def record_wrong_code(self, channel: str, chat_id: str, at: datetime) -> None: ...

    @abstractmethod
    async def mark_returned(self, code: str, at: datetime) -> Dossier:
        """Records the return and, in the same transaction, queues an invitation for every chat
        that opened the dossier's link before. Raises UnknownDossier."""

    @abstractmethod
    async def link_chat(self, dossier_id: int, channel: str, chat_id: str, now: datetime) -> None:
        """Remembers that this chat waits for the dossier's survey; if the dossier was returned
        meanwhile, queues its invitation at once, so a return racing the link loses nothing."""

    @abstractmethod
    async def put_dossiers(
        self,
        dossiers: Sequence[tuple[DossierFacts, NewDossier]],
        *,
        actor: str,
        now: datetime,
        within: Collection[str] | None = None,
    ) -> list[PutResult]:
        """Creates or updates each dossier by its code, all in one transaction (all or nothing), and
        answers each in the order given. A new dossier gets its NewDossier's link id and survey
        code; an existing one keeps its own, and is changed only where the facts differ (same facts:
        UNCHANGED, nothing written). Each change is in the audit under `actor`.
        With `within`, a dossier already recorded under a unit not in it raises OutOfScope (its
        code) and nothing is written; the facts' own units are the caller's to check.
        Raises UnknownUnit (the unit code) for a unit not in the directory."""

    @abstractmethod
    async def add_dossier_event(
        self,
        code: str,
        event: DossierEventFacts,
        *,
        actor: str,
        now: datetime,
        within: Collection[str] | None = None,
    ) -> EventResult:
        """Adds an event to the dossier's history unless one of the same type and time is there
        already (then `recorded` is False and nothing changes). The dossier's state becomes the type
        of its latest event by time. A `returned` event records the return as mark_returned does
        (the first return's time is kept) and queues the invitations, in the same transaction.
        A new `extended` event records its apology letter in the same transaction (see
        LetterRepository), returned as the result's `letter`.
        Audited under `actor`. Raises UnknownDossier, or OutOfScope as put_dossiers does."""

    @abstractmethod
    async def list_dossier_events(self, dossier_id: int) -> list[DossierEvent]:
        """The dossier's history, in order of time (then of recording)."""

    @abstractmethod
    async def export_answers(
        self,
        unit_codes: Sequence[str] | None,
        *,
        since: datetime | None = None,
        after_change: int = 0,
        limit: int = 100,
    ) -> list[AnswerExport]:
        """Answers to dossiers of these units (all with None) answered at or after `since`, in the
        order they last changed (their `change`, which grows with every write of an answer: its
        rating, follow-up, texts, completion), those changed after `after_change`, at most `limit`.
        An answer that changes again comes again, later."""


class ApiKeyRepository(ABC):
    """Keys the one-stop software calls the intake API with: a name, the units it may touch, the
    hash of the secret (never the secret)."""

    @abstractmethod
    async def create_api_key(
        self, name: str, key_hash: str, units: Sequence[str], *, actor: str, now: datetime
    ) -> ApiKey:
        """Raises DuplicateApiKey (a key of that name exists, revoked or not, or one with this
        hash) or UnknownUnit."""

    @abstractmethod
    async def api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        """The key with this hash, revoked or not."""

    @abstractmethod
    async def list_api_keys(self) -> list[ApiKey]:
        """Every key, revoked ones too, by name."""

    @abstractmethod
    async def revoke_api_key(self, name: str, *, actor: str, now: datetime) -> ApiKey:
        """Revokes the key at once (a revoked key stays revoked). Raises UnknownApiKey."""

    @abstractmethod
    async def touch_api_key(self, name: str, at: datetime) -> None:
        """Records when the key was last used."""


class ChatRepository(ABC):
    """What the bot keeps about a chat: language, reachability, the typed-number menu, what its
    next text answers."""

    @abstractmethod
    async def get_chat_state(self, channel: str, chat_id: str) -> ChatState:
        """The chat's language, reachability, survey, menu and whether a head or staff member is
        reached there, with the question-set version (QuestionSetRepository.question_sets_version),
        in one read."""

    @abstractmethod
    async def set_language(self, channel: str, chat_id: str, language: str) -> None: ...

    @abstractmethod
    async def mark_unreachable(self, channel: str, chat_id: str, since: datetime) -> None:
        """Keeps the earliest time the chat was found blocked."""

    @abstractmethod
    async def mark_reachable(self, channel: str, chat_id: str) -> None: ...

    @abstractmethod
    async def set_awaiting(self, channel: str, chat_id: str, awaiting: str | None) -> None: ...

    @abstractmethod
    async def note_notice(self, channel: str, chat_id: str, now: datetime) -> bool:
        """Records that the chat was shown the privacy notice, unless it was before; returns
        whether this call recorded it."""

    @abstractmethod
    async def set_consent(self, channel: str, chat_id: str, consent: Consent, now: datetime) -> None:
        """Records the chat's answer to the consent question (the latest one counts). A refusal
        also takes away, in the same transaction, what the chat was linked to before: its dossier
        links, its survey, its pending invitations; nothing but the refusal is kept."""

    @abstractmethod
    async def menu_start(
        self, channel: str, chat_id: str, *, adding: int, keep_since: datetime | None, limit: int
    ) -> int:
        """The number `adding` options would start at, numbered on after the chat's menu if that
        was last extended after `keep_since` and the whole stays within `limit` options; else 1
        (and always 1 with `keep_since` None). Reads only: see `remember_menu`."""

    @abstractmethod
    async def remember_menu(
        self, channel: str, chat_id: str, options: Sequence[tuple[str, str]], *, first: int, now: datetime
    ) -> bool:
        """Records that `options` (key, label) were shown numbered from `first`: with `first` 1
        they replace the chat's menu (none empties it); otherwise they follow it, if it still holds
        exactly `first - 1` options. False, and nothing changed, when it does not (another message
        was numbered meanwhile, and these numbers would point at the wrong options)."""


class SurveyRepository(ABC):
    """Survey progress and answers; each answer is stored with the step it moves the survey to."""

    @abstractmethod
    async def start_survey(
        self,
        *,
        channel: str,
        chat_id: str,
        dossier_id: int,
        question_set: str,
        question_set_version: int,
        first_step: str,
        now: datetime,
    ) -> Survey:
        """Makes this the chat's survey, replacing any earlier one of the chat, except a survey of
        the same dossier not yet finished: that one is returned as it stands (same id, same step)."""

    @abstractmethod
    async def get_answer(self, dossier_id: int) -> Answer | None: ...

    @abstractmethod
    async def record_rating(
        self,
        survey: Survey,
        *,
        rating: Rating,
        option_id: str,
        next_step: str | None,
        now: datetime,
        case_deadline: date | None = None,
        dossier_late: bool | None = None,
    ) -> Answer:
        """Stores the dossier's answer and moves the chat's survey on, in one transaction; with a
        `case_deadline`, opens the dossier's complaint case in it too. The answer keeps
        `dossier_late` (the caller's calendar decides it) and, read in the same transaction,
        whether a letter of the dossier had been delivered (`letter_sent`).
        Raises AlreadyAnswered or StaleStep."""

    @abstractmethod
    async def record_follow_up(
        self, survey: Survey, follow_up: FollowUp, *, next_step: str | None, now: datetime
    ) -> Answer:
        """Raises StaleStep."""

    @abstractmethod
    async def record_text(
        self,
        survey: Survey,
        question_id: str,
        text: str | None,
        *,
        next_step: str | None,
        now: datetime,
        case_deadline: date | None = None,
    ) -> Answer:
        """Stores a free-text answer (None: skipped); with a `case_deadline`, opens the dossier's
        complaint case (if it has none) in the same transaction. Raises StaleStep."""

    @abstractmethod
    async def record_whole_answer(
        self,
        dossier_id: int,
        *,
        channel: str,
        chat_id: str,
        question_set: str,
        rating: Rating,
        option_id: str,
        follow_ups: Sequence[FollowUp],
        texts: Mapping[str, str],
        answered_at: datetime,
        now: datetime,
        case_deadline: date | None = None,
        dossier_late: bool | None = None,
    ) -> Answer:
        """Stores an answer given whole at once, outside a chat's survey (a ZNS service rating:
        stars, chips and a note), complete, with `letter_sent` read as record_rating reads it; with
        a `case_deadline`, opens the dossier's case in the same transaction. Raises AlreadyAnswered."""

    @abstractmethod
    async def answered_since(self, channel: str, chat_id: str, since: datetime) -> bool:
        """Whether this chat answered any survey at or after `since` (the cool-down)."""

    @abstractmethod
    async def list_answers(self, unit_code: str | None = None) -> list[AnswerRow]:
        """Answers, oldest first, with their case if they opened one; with a unit, that unit's and
        its subtree's."""


class DirectoryRepository(ABC):
    """The unit tree and its heads and staff, and directory files proposed by admins."""

    @abstractmethod
    async def get_unit(self, code: str) -> Unit | None: ...

    @abstractmethod
    async def list_units(self, *, retired: bool = False) -> list[Unit]:
        """The units in the tree, by code; with `retired`, also those that left it."""

    @abstractmethod
    async def all_people(self, *, inactive: bool = False) -> list[Person]:
        """The active heads and staff; with `inactive`, also those no longer listed."""

    @abstractmethod
    async def people_at(self, channel: str, chat_id: str) -> list[Person]:
        """Every active role of whoever is reached at this address."""

    @abstractmethod
    async def unit_people(self, unit_code: str) -> list[Person]: ...

    @abstractmethod
    async def get_person(self, person_id: int) -> Person | None: ...

    @abstractmethod
    async def note_person_channel(self, channel: str, chat_id: str) -> None:
        """Remembers that whoever is reached at this address last wrote from this channel."""

    @abstractmethod
    async def propose_directory(self, source: str, now: datetime, actor: str) -> DirectoryProposal: ...

    @abstractmethod
    async def get_directory_proposal(self, proposal_id: int) -> DirectoryProposal | None: ...

    @abstractmethod
    async def apply_directory(
        self,
        *,
        units: Sequence[Unit],
        people: Sequence[PersonEntry],
        retired: Sequence[str],
        moves: dict[str, str],
        now: datetime,
        actor: str,
        summary: str,
        proposal_id: int | None = None,
    ) -> bool:
        """In one transaction: the units (parents first) become the tree, `retired` units leave it,
        open cases of each retired unit move to `moves[unit]`, the people become the active heads
        and staff (an entry with a `person_id` is that stored person, keeping their cases; others
        are added), and the change is audited. False if the proposal was applied already."""


class CaseRepository(ABC):
    """Complaint cases and their history; a change queues its notices in the same transaction."""

    @abstractmethod
    async def get_case(self, case_id: int) -> Case | None: ...

    @abstractmethod
    async def list_cases(
        self,
        unit_codes: Sequence[str],
        *,
        states: Sequence[CaseState] = OPEN_STATES,
        opened_after: datetime | None = None,
        deadline_before: date | None = None,
        assignee_id: int | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Case]:
        """Cases of these units, oldest first."""

    @abstractmethod
    async def count_cases(
        self,
        unit_codes: Sequence[str],
        *,
        states: Sequence[CaseState] = OPEN_STATES,
        opened_after: datetime | None = None,
        deadline_before: date | None = None,
        assignee_id: int | None = None,
    ) -> int: ...

    @abstractmethod
    async def change_case(
        self,
        case_id: int,
        *,
        from_states: Sequence[CaseState],
        to_state: CaseState,
        actor: str,
        action: str,
        now: datetime,
        note: str | None = None,
        assignee_id: int | None = None,
        resolution: str | None = None,
        notices: Sequence[NoticeTo] = (),
    ) -> Case | None:
        """Moves a case on if it is in one of `from_states`, records the event and queues the
        notices, in one transaction; None if the case is not there (a stale button). An
        `assignee_id` or `resolution` given replaces the case's."""

    @abstractmethod
    async def case_events(self, case_id: int) -> list[CaseEvent]:
        """The case's history, oldest first."""

    @abstractmethod
    async def unannounced_cases(self, limit: int = 500) -> list[Case]:
        """Open cases not yet announced to their unit's head, oldest first."""

    @abstractmethod
    async def mark_announced(self, case_ids: Sequence[int], now: datetime) -> list[int]:
        """Claims the announcement of these cases; the ids claimed now (not by anyone before)."""


class OutboxRepository(ABC):
    """Messages the running bot sends on its own (survey invitations and case notices), and answers
    to people that the platform did not accept.

    A pending item is due once its `next_attempt_at` has passed (None: at once). A sender claims it
    before sending, for a lease: nobody else takes it until the lease ends, and a sender that died
    holding it leaves it due again then. A claimed item is finished, or retried from a later time.

    A sender marks what it claimed with `claimed_until`, the `until` of its claim: the mark is
    written only while that claim stands, so a sender whose lease ran out and was taken over by
    another changes nothing (it returns False, or 0 attempts). Without it (a command-line
    correction) the mark is written whatever the claim."""

    @abstractmethod
    async def pending_invitations(self, limit: int = 100, after_id: int = 0) -> list[Invitation]:
        """Pending invitations, due or not, in the order recorded, a page at a time: those after
        `after_id`."""

    @abstractmethod
    async def claim_invitation(self, invitation_id: int, now: datetime, until: datetime) -> bool:
        """Takes a pending invitation that is due at `now` for sending, no one else taking it before
        `until`; False if it is finished, not due, or claimed by another sender."""

    @abstractmethod
    async def finish_invitation(
        self,
        invitation_id: int,
        status: OutboxStatus,
        now: datetime,
        error: str | None = None,
        *,
        claimed_until: datetime | None = None,
    ) -> bool:
        """Records what became of the invitation; False (nothing written) when the claim made until
        `claimed_until` no longer stands."""

    @abstractmethod
    async def retry_invitation(
        self,
        invitation_id: int,
        error: str,
        next_attempt_at: datetime | None = None,
        *,
        claimed_until: datetime | None = None,
    ) -> int:
        """Counts a failed attempt and leaves the invitation pending, due again at `next_attempt_at`
        (None: at once); returns the attempts so far."""

    @abstractmethod
    async def invited_since(self, channel: str, chat_id: str, since: datetime) -> bool:
        """Whether an invitation to this chat (for ZNS: this phone) was sent at or after `since`."""

    @abstractmethod
    async def list_invitations(self, statuses: Sequence[OutboxStatus], limit: int = 1000) -> list[Invitation]:
        """Invitations in these states, in the order recorded (the latest `limit` of them)."""

    @abstractmethod
    async def pending_notices(self, limit: int = 100, after_id: int = 0) -> list[Notice]:
        """Pending notices, due or not, in the order recorded, a page at a time: those after
        `after_id`."""

    @abstractmethod
    async def claim_notice(self, notice_id: int, now: datetime, until: datetime) -> bool:
        """As `claim_invitation`, for a notice."""

    @abstractmethod
    async def finish_notice(
        self,
        notice_id: int,
        status: OutboxStatus,
        now: datetime,
        error: str | None = None,
        *,
        claimed_until: datetime | None = None,
    ) -> bool:
        """As `finish_invitation`, for a notice."""

    @abstractmethod
    async def retry_notice(
        self,
        notice_id: int,
        error: str,
        next_attempt_at: datetime | None = None,
        *,
        claimed_until: datetime | None = None,
    ) -> int:
        """As `retry_invitation`, for a notice."""

    @abstractmethod
    async def list_notices(
        self,
        statuses: Sequence[OutboxStatus],
        *,
        unit_codes: Sequence[str] | None = None,
        finished_since: datetime | None = None,
        limit: int = 1000,
    ) -> list[Notice]:
        """Notices in these states, in the order recorded (the latest `limit`), each with its case's
        unit; with `unit_codes`, only about those units' cases; with `finished_since`, only those
        finished at or after it (which leaves pending ones out)."""

    @abstractmethod
    async def record_undelivered_reply(self, channel: str, chat_id: str, at: datetime, error: str) -> None:
        """Keeps a trace of an answer to a person that the platform did not accept."""

    @abstractmethod
    async def undelivered_replies(
        self, since: datetime | None = None, limit: int = 1000
    ) -> list[UndeliveredReply]:
        """Answers not delivered (since `since`), oldest first (the latest `limit` of them)."""


class LetterRepository(ABC):
    """Apology letters (thư xin lỗi) and their deliveries, and what lateness reports read.

    A letter is recorded by DossierRepository.add_dossier_event for each new `extended` event, in
    the same transaction, with a delivery for every chat linked to the dossier; with none, one on
    channel `zns` to the dossier's phone; with no phone either, one `no_channel` record, finished
    at once. It is flagged `rescheduled_twice` when the dossier had an `extended` event before.
    Pending deliveries are claimed, finished and retried as the outbox's invitations are.

    The calendar is the caller's: queries take due days and instants as values."""

    @abstractmethod
    async def get_letter(self, letter_id: int) -> Letter | None:
        """The letter with its deliveries."""

    @abstractmethod
    async def letters_of_dossier(self, dossier_id: int) -> list[Letter]:
        """The dossier's letters, in the order recorded."""

    @abstractmethod
    async def list_letters(
        self, unit_codes: Sequence[str] | None = None, *, to_print: bool = False, limit: int = 1000
    ) -> list[Letter]:
        """Letters (of these units; all with None), the latest `limit`, oldest first; with
        `to_print`, only those delivered nowhere with nothing still pending."""

    @abstractmethod
    async def pending_letter_deliveries(self, limit: int = 100, after_id: int = 0) -> list[LetterDelivery]:
        """As OutboxRepository.pending_invitations, for letter deliveries."""

    @abstractmethod
    async def claim_letter_delivery(self, delivery_id: int, now: datetime, until: datetime) -> bool:
        """As OutboxRepository.claim_invitation, for a letter delivery."""

    @abstractmethod
    async def finish_letter_delivery(
        self,
        delivery_id: int,
        status: LetterStatus,
        now: datetime,
        error: str | None = None,
        *,
        claimed_until: datetime | None = None,
    ) -> bool:
        """As OutboxRepository.finish_invitation, for a letter delivery."""

    @abstractmethod
    async def retry_letter_delivery(
        self,
        delivery_id: int,
        error: str,
        next_attempt_at: datetime | None = None,
        *,
        claimed_until: datetime | None = None,
    ) -> int:
        """As OutboxRepository.retry_invitation; returns the attempts so far."""

    @abstractmethod
    async def open_dossiers_due(
        self, unit_codes: Sequence[str] | None, *, due_after: date | None, due_until: date
    ) -> list[DueDossier]:
        """Dossiers not returned and not withdrawn, due after `due_after` (None: any day) and on or
        before `due_until`, of these units (all with None), by due day then code."""

    @abstractmethod
    async def returned_due_days(self, start: datetime, end: datetime) -> tuple[date, date] | None:
        """The earliest and latest due day of the dossiers returned in [start, end); None if none."""

    @abstractmethod
    async def lateness(
        self,
        start: datetime,
        end: datetime,
        cutoffs: Mapping[date, DueCutoffs],
        unit_codes: Sequence[str] | None = None,
    ) -> dict[str, UnitLateness]:
        """Per unit (its own dossiers; units with none returned left out), the dossiers returned in
        [start, end): how many, how many late (returned at or after their due day's `late_from`),
        how many had a letter on time (issued before `letter_by` of the due day it apologises for),
        only late ones, and how many were returned late with no letter at all. `cutoffs` must hold
        every due day returned_due_days gives; a dossier without a due day is never late."""

    @abstractmethod
    async def letters_issued(
        self, start: datetime, end: datetime, unit_codes: Sequence[str] | None = None
    ) -> list[Letter]:
        """The letters issued (by their event's time) in [start, end), of these units (all with
        None), in the order recorded."""

    @abstractmethod
    async def delegate_extension(self, dossier_id: int, person_id: int, *, actor: str, now: datetime) -> bool:
        """Hands the dossier's extension to a staff member (replacing one handed before), with an
        `extension_delegated` alert for them and an audit entry, in one transaction; False (and
        nothing recorded) when it is theirs already or the dossier is unknown."""

    @abstractmethod
    async def waiting_alerts(
        self, now: datetime, *, lease: timedelta, limit: int = 500
    ) -> list[DossierAlert]:
        """Alerts to send now, oldest first: not finished, and not claimed (their retry time come),
        or claimed longer than `lease` ago by a sender that died. A letter of a dossier's second
        `extended` event brings a `rescheduled_twice` alert for the dossier's unit and one for the
        unit above it, recorded with the letter."""

    @abstractmethod
    async def claim_alerts(self, alert_ids: Sequence[int], now: datetime, *, lease: timedelta) -> list[int]:
        """Claims these alerts for sending, unless finished or claimed within `lease`; returns
        those this call claimed."""

    @abstractmethod
    async def finish_alert(self, alert_id: int, outcome: str, *, claimed_at: datetime | None = None) -> bool:
        """Notes what became of a claimed alert (sent, or why it was given up): it is done. With
        `claimed_at` (the `now` of the claim), only while that claim stands: False, nothing
        written, when it ran out and another sender took the alert over (or it is done)."""

    @abstractmethod
    async def retry_alert(
        self, alert_id: int, error: str, next_attempt_at: datetime, *, claimed_at: datetime | None = None
    ) -> int:
        """Releases a claimed alert to be sent again from `next_attempt_at`; returns its attempts
        (0, nothing written, when the claim made at `claimed_at` no longer stands)."""


class DigestRepository(ABC):
    """What the daily digest counts, and which digests went."""

    @abstractmethod
    async def figures_by_unit(self, start: datetime, end: datetime) -> dict[str, UnitFigures]:
        """Every unit's answers in [start, end) by rating, at once; units without any are left out."""

    @abstractmethod
    async def case_counts(self, day: date) -> dict[str, CaseCounts]:
        """Every unit's open cases, those overdue on `day` and those opened since its last digest
        (sent, or with nothing to report), at once; units without cases are left out."""

    @abstractmethod
    async def claim_digest(self, unit_code: str, day: date, now: datetime, *, lease: timedelta) -> bool:
        """Claims the unit's digest of that day for sending; False if it went (or is going) already,
        so it never goes twice. Claimable again: a day whose earlier run had nothing to report, a
        digest retrying whose `next_attempt_at` has come, and a claim older than `lease` (its sender
        died): it is taken over."""

    @abstractmethod
    async def finish_digest(
        self,
        unit_code: str,
        day: date,
        status: DigestStatus,
        now: datetime,
        recipient: str | None = None,
        error: str | None = None,
        *,
        claimed_at: datetime | None = None,
    ) -> bool:
        """Records what became of the digest. With `claimed_at` (the `now` of the claim), only while
        that claim stands: False, nothing written, when its lease ran out and another run took the
        digest over (a later claim), so a late run can neither undo the other's record nor make a
        sent digest claimable again. Without it, written whatever the claim."""

    @abstractmethod
    async def retry_digest(
        self,
        unit_code: str,
        day: date,
        error: str,
        next_attempt_at: datetime,
        *,
        claimed_at: datetime | None = None,
    ) -> int:
        """Counts a failed attempt: the digest is retrying, claimable again from `next_attempt_at`.
        Returns the attempts so far (0, nothing written, when the claim made at `claimed_at` no
        longer stands)."""

    @abstractmethod
    async def due_digests(self, day: date, now: datetime, *, lease: timedelta) -> list[str]:
        """The units whose digest of `day` is due again at `now`: retrying and its time has come, or
        claimed longer than `lease` ago. By unit code."""

    @abstractmethod
    async def list_digests(
        self, statuses: Sequence[DigestStatus], *, since: date | None = None
    ) -> list[DigestRecord]:
        """Digests in these states (of `since` or later), by day then unit."""


class QuestionSetRepository(ABC):
    """Imported question sets, every version kept."""

    @abstractmethod
    async def save_question_set(
        self,
        set_id: str,
        source: str,
        fingerprint: str,
        now: datetime,
        actor: str,
        *,
        first_version: int = 1,
    ) -> tuple[StoredQuestionSet, bool]:
        """Stores an imported set as its next version (never below `first_version`), unless a
        version with the same content (fingerprint) exists; returns the version and whether it is
        new. Audited."""

    @abstractmethod
    async def list_question_sets(self) -> list[StoredQuestionSet]:
        """Every stored version with its answer count."""

    @abstractmethod
    async def active_question_sets(self) -> list[StoredQuestionSet]:
        """The active versions, without counting answers."""

    @abstractmethod
    async def question_sets_version(self) -> int:
        """A number that grows, in the same transaction, with every change to what decides which
        set a dossier gets: a set saved or activated, a unit added, moved or retired, by any
        process. `ChatState.question_sets_version` carries it too, so that a cache of the active
        sets and the unit tree is checked without a read of its own."""

    @abstractmethod
    async def get_question_set(self, row_id: int) -> StoredQuestionSet | None: ...

    @abstractmethod
    async def find_question_set(self, set_id: str, version: int) -> StoredQuestionSet | None: ...

    @abstractmethod
    async def activate_question_set(self, row_id: int, now: datetime, actor: str) -> StoredQuestionSet | None:
        """Makes this version the set's active one (any other version of it stops). Audited."""


class AuditRepository(ABC):
    """The audit trail: admin changes and case actions."""

    @abstractmethod
    async def audit_since(self, since: datetime | None) -> list[AuditEntry]:
        """Admin changes and case actions, oldest first."""

    @abstractmethod
    async def record_access(self, actor: str, action: str, detail: str | None, now: datetime) -> None:
        """Records an action that changes nothing but is traced: a citizen reading their personal
        data, an export carrying personal data."""


class PrivacyRepository(ABC):
    """A citizen's personal data (chat ids, names, phones, free texts): shown to them, and erased
    on request or after the retention period. Erasing keeps every rating and factor, with nothing
    that leads back to the person, so a unit's figures do not change."""

    @abstractmethod
    async def personal_data(self, channel: str, chat_id: str) -> PersonalData:
        """Everything stored about the chat's citizen: the chat, the dossiers it is linked to (or
        answered), its answers, and their cases with their history."""

    @abstractmethod
    async def forget_chat(
        self, channel: str, chat_id: str, *, actor: str, now: datetime, note: str
    ) -> Forgotten:
        """Erases the chat and the personal data of every dossier it is linked to or answered (see
        forget_dossiers), in one transaction, with an audit entry naming no one."""

    @abstractmethod
    async def forget_dossiers(
        self, dossier_ids: Sequence[int], *, actor: str, now: datetime, note: str
    ) -> Forgotten:
        """Erases, in one transaction, the dossiers' citizen names and phones, their chat links
        and the chat ids kept with their answers, outbox messages and letters, the free texts of
        their answers and cases (answers keep rating, option and factors), scrubs those names,
        phones and chat ids from audit details, closes their open cases with `note` as the event's
        note and their resolution, and marks the dossiers erased; with an audit entry naming no one."""

    @abstractmethod
    async def dossiers_of_phone(self, phone: str) -> list[int]:
        """The dossiers with this phone (normalised: 84 and the national number)."""

    @abstractmethod
    async def inactive_dossiers(self, before: datetime, limit: int = 500) -> list[int]:
        """Dossiers not erased yet whose last activity (the dossier's last change, its answer, its
        case; an open case is activity) was before `before`, by id."""


class DuplicateZnsMessage(StorageError):
    """A ZNS message with a tracking id used before."""


class UnknownZnsMessage(StorageError):
    pass


class ZaloOARepository(ABC):
    """The Zalo Official Account: its token pair (one, written by compare-and-set), the webhook
    events taken in (each once), ZNS messages and their receipts, phones without Zalo, the last
    known ZNS quota."""

    @abstractmethod
    async def get_oa_token(self) -> OAToken | None:
        """The current pair; None before the first seed."""

    @abstractmethod
    async def seed_oa_token(self, refresh_token: str, seed_hash: str, now: datetime) -> OAToken:
        """Makes `refresh_token` (no access token yet) the pair, when there is none or the stored
        one came from another seed (`seed_hash` differs); otherwise changes nothing. Returns the
        pair stored after."""

    @abstractmethod
    async def save_oa_token(
        self,
        generation: int,
        *,
        access_token: str,
        access_expires_at: datetime,
        refresh_token: str,
        now: datetime,
    ) -> OAToken | None:
        """Writes a refreshed pair if the stored one is still at `generation` (compare-and-set):
        the new pair at the next generation, its rejection cleared. None, writing nothing, when
        another writer moved the generation on (the caller reloads)."""

    @abstractmethod
    async def mark_oa_token_rejected(self, generation: int, error: str, now: datetime) -> bool:
        """Notes that Zalo refused the refresh token of the pair at `generation` (kept for the
        status); False, writing nothing, when the pair moved on meanwhile."""

    @abstractmethod
    async def record_webhook_event(self, event_key: str, event_name: str, received_at: datetime) -> bool:
        """Takes a webhook event in once: True the first time its key is seen, False after."""

    @abstractmethod
    async def last_webhook_event(self) -> OAWebhookEvent | None:
        """The event received last."""

    @abstractmethod
    async def add_zns_message(
        self,
        *,
        purpose: str,
        dossier_id: int | None,
        template_id: str,
        tracking_id: str,
        phone: str,
        now: datetime,
    ) -> ZnsMessage:
        """Records a ZNS message about to be sent (pending). Raises DuplicateZnsMessage for a
        tracking id used before."""

    @abstractmethod
    async def mark_zns_sent(self, tracking_id: str, msg_id: str, now: datetime) -> ZnsMessage:
        """Zalo accepted the message and gave it `msg_id`."""

    @abstractmethod
    async def mark_zns_failed(self, tracking_id: str, error: str, now: datetime) -> ZnsMessage:
        """Zalo did not accept the message; `error` says why."""

    @abstractmethod
    async def record_zns_delivery(self, msg_id: str, delivered_at: datetime) -> ZnsMessage | None:
        """A delivery receipt (user_received_message): the message is delivered. None for a
        msg_id not sent by this bot. A receipt received again changes nothing."""

    @abstractmethod
    async def zns_message(self, tracking_id: str) -> ZnsMessage | None: ...

    @abstractmethod
    async def zns_message_by_msg_id(self, msg_id: str) -> ZnsMessage | None: ...

    @abstractmethod
    async def mark_phone_without_zalo(self, phone: str, now: datetime) -> None:
        """Zalo said this phone has no Zalo account (-118): not to be tried again."""

    @abstractmethod
    async def phone_without_zalo(self, phone: str) -> bool: ...

    @abstractmethod
    async def save_zns_quota(self, daily: int, remaining: int, as_of: datetime) -> None:
        """The quota as Zalo told it `as_of`; an older report than the stored one changes nothing."""

    @abstractmethod
    async def zns_quota(self) -> ZnsQuota | None:
        """The quota as last told; None when never asked."""


# Reports (issue 14) ---------------------------------------------------------------------------


class ReportRepository(ABC):
    """What reports count, grouped in the database (never an answer at a time), and the answers
    collected elsewhere that they count too. A unit's subtree is the caller's: `unit_codes` filters
    (None: every unit), and rows by unit are each unit's own."""

    @abstractmethod
    async def rating_counts(
        self, spans: Sequence[ReportSpan], by: ReportBy, unit_codes: Sequence[str] | None
    ) -> dict[str, RatingCounts]:
        """Answers (the bot's and imported ones) answered in the spans, by group."""

    @abstractmethod
    async def factor_counts(
        self, spans: Sequence[ReportSpan], unit_codes: Sequence[str] | None
    ) -> list[FactorCount]:
        """Per SIPAS factor and rating, the answers that named the factor (each answer once)."""

    @abstractmethod
    async def returned_counts(
        self,
        spans: Sequence[ReportSpan],
        by: ReportBy,
        unit_codes: Sequence[str] | None,
        late_from: Mapping[date, datetime],
    ) -> dict[str, ReturnedCounts]:
        """Dossiers returned in the spans (not withdrawn), by group (none by channel); one is late
        when returned at or after `late_from` of its due day (a day not given: never late)."""

    @abstractmethod
    async def complaint_counts(
        self,
        spans: Sequence[ReportSpan],
        by: ReportBy,
        unit_codes: Sequence[str] | None,
        deadline_ends: Mapping[date, datetime],
        as_of: datetime,
    ) -> dict[str, ComplaintCounts]:
        """Complaint cases opened in the spans, by group; `deadline_ends` gives the instant each
        deadline day ends (a day not given: never), `as_of` when an open case is judged overdue."""

    @abstractmethod
    async def import_answers(self, answers: Sequence[ImportedAnswer], now: datetime) -> int:
        """Stores the answers not stored before (by import key), in one transaction; how many."""

    @abstractmethod
    async def claim_monthly_report(self, scope: str, month: str, now: datetime, *, lease: timedelta) -> bool:
        """Claims the monthly report of a unit (or '*') for a month (2026-10) to send it: True when
        not claimed before, or the claim failed or ran out (`lease`); False when sent or being sent."""

    @abstractmethod
    async def finish_monthly_report(
        self, scope: str, month: str, now: datetime, *, sent: bool, claimed_at: datetime | None = None
    ) -> bool:
        """Records that the claimed report was sent (or reached no one, to be claimed again). With
        `claimed_at` (the `now` of the claim), only while that claim stands: False, nothing written,
        when its lease ran out and another sender took it over."""


class Storage(ABC):
    """One database: a repository per aggregate, opened and closed by the application."""

    dossiers: DossierRepository
    chats: ChatRepository
    surveys: SurveyRepository
    directory: DirectoryRepository
    cases: CaseRepository
    outbox: OutboxRepository
    digests: DigestRepository
    question_sets: QuestionSetRepository
    audit: AuditRepository
    api_keys: ApiKeyRepository
    letters: LetterRepository
    privacy: PrivacyRepository
    zalo_oa: ZaloOARepository
    reports: ReportRepository

    @abstractmethod
    async def open(self) -> None:
        """Connects and applies pending migrations."""

    @abstractmethod
    async def claim_serving(self) -> None:
        """Claims the database for a running bot. Where the backend allows one such process only
        (SQLite), raises AlreadyServing naming the one that holds it; the claim ends at close, or
        when the process dies, however it dies."""

    @abstractmethod
    async def ping(self) -> None:
        """One trivial read; raises DatabaseUnavailable when the database does not answer it."""

    @abstractmethod
    async def close(self) -> None: ...
