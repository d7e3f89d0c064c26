"""The intake API's rules: what the one-stop software (hệ thống một cửa điện tử) may tell the bot
about dossiers and read back, whatever carries the request (bot/http/ maps it onto HTTP).

A caller is an API key: a name (the audit's actor) and the units it may touch, with every unit
under them. Every input is checked in full before anything is stored, so a refused request changes
nothing; an accepted one is one transaction. Times go out in the configured zone with its offset."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from handlers.codes import TextRefused, checked_code, typed_code
from handlers.directory import subtree
from handlers.dossier_facts import FactsRefused, FieldProblem, dossier_facts, event_facts
from handlers.links import SurveyLinks, new_survey_code
from handlers.moments import MomentRefused, parse_moment
from storage.base import (
    ApiKeyRepository,
    DirectoryRepository,
    DossierRepository,
    OutOfScope,
    SurveyRepository,
    UnknownDossier,
    UnknownUnit,
)
from storage.records import (
    Answer,
    Dossier,
    DossierEvent,
    DossierEventType,
    DossierFacts,
    NewDossier,
    PutOutcome,
    Unit,
)

MAX_BATCH = 1000
MAX_PAGE = 1000
# A clock a little ahead of ours is not an event in the future.
CLOCK_SKEW = timedelta(minutes=5)
# How long the unit tree read for scope checks is trusted: a unit added to the directory is
# reachable through the API within this time (at once when a request names it).
TREE_TTL_SECONDS = 5.0
# `last_used_at` is written at most this often per key: not a write per request.
TOUCH_EVERY = timedelta(minutes=1)
KEY_PREFIX = "fbk_"
# Events that queue messages for the citizen: the survey invitation, the apology letter.
OUTBOX_EVENTS = (DossierEventType.RETURNED, DossierEventType.EXTENDED)


def new_api_key() -> str:
    """A new secret key: 256 random bits, URL-safe, recognisable by its prefix in a leaked log."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """What is stored instead of the key. A random 256-bit key needs no slow hash: nobody can
    guess one from its SHA-256, and every request is checked in microseconds."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiCaller:
    key_name: str
    units: tuple[str, ...]

    @property
    def actor(self) -> str:
        return f"api:{self.key_name}"


class IntakeRefused(Exception):
    """The input is wrong; nothing was stored. Each problem names its field."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, p.loc))}: {p.message}" for p in problems))
        self.problems = list(problems)


class OutsideScope(Exception):
    """The dossier or unit is outside the units of the caller's key."""


class NotFound(Exception):
    """No such dossier."""


class Body(BaseModel):
    model_config = ConfigDict(extra="allow")  # unknown fields are refused by name, with the rest


class DossierBody(Body):
    """A dossier as the one-stop software records it."""

    unit: str = Field(description="The unit's code, as in the directory (for example Q1-BN)")
    procedure: str = Field(description="The administrative procedure, as shown to the citizen")
    received_at: str = Field(
        description="When the dossier was received: ISO 8601 with an offset (2026-11-27T08:30:00+07:00) "
        "or the one-stop format yyyyMMddHHmmss in the configured time zone (20261127083000)"
    )
    due_at: str = Field(description="The appointment to return the result, in the same forms")
    citizen_name: str | None = Field(default=None, description="The citizen's name, as on the receipt")
    phone: str | None = Field(
        default=None, description="A Vietnamese phone number in any form: 0901234567, +84 90 123 4567"
    )
    channel_hint: str | None = Field(default=None, description="How the citizen prefers to be reached")


class BatchBody(BaseModel):
    """Up to 1,000 dossiers, each with its `code` and the fields of a single PUT."""

    dossiers: list[Any] = Field(description=f"At most {MAX_BATCH} dossiers: {{'code': ..., 'unit': ...}}")


class EventBody(Body):
    """Something that happened to the dossier."""

    type: str = Field(description="received, supplement_requested, supplement_received, extended, "
                      "suspended, withdrawn or returned")  # fmt: skip
    at: str = Field(description="When it happened, in the forms of received_at")
    reason: str | None = Field(default=None, description="supplement_requested and extended: why")
    until: str | None = Field(
        default=None, description="supplement_requested: the day (YYYY-MM-DD) the citizen has until"
    )
    new_due_at: str | None = Field(default=None, description="extended: the new appointment")


class EventView(BaseModel):
    type: DossierEventType
    at: datetime
    reason: str | None = None
    until: date | None = None
    new_due_at: datetime | None = None
    recorded_at: datetime


class AnswerView(BaseModel):
    rating: str = Field(description="satisfied, neutral or unsatisfied")
    factors: list[str] = Field(description="What fell short, by SIPAS factor (unsatisfied answers)")
    channel: str
    answered_at: datetime
    completed: bool = Field(description="False while the citizen may still answer the follow-up")


class DossierView(BaseModel):
    code: str
    unit: str
    unit_name: str
    procedure: str
    state: str = Field(description="The type of the latest event, or `recorded` before any")
    received_at: datetime | None
    due_at: datetime | None
    returned_at: datetime | None
    citizen_name: str | None
    phone: str | None = Field(description="Normalised: +84 and the national number")
    channel_hint: str | None
    history: list[EventView]
    survey_link: str = Field(description="The survey's link, for the receipt's QR code")
    survey_code: str | None = Field(description="Typed in Zalo, which has no links into a chat")
    answer: AnswerView | None


class BatchItemView(BaseModel):
    code: str
    outcome: PutOutcome
    survey_link: str
    survey_code: str | None


class BatchResult(BaseModel):
    created: int
    updated: int
    unchanged: int
    dossiers: list[BatchItemView]


class AnswerItem(AnswerView):
    dossier_code: str
    unit: str
    procedure: str


class AnswersPage(BaseModel):
    answers: list[AnswerItem]
    next_cursor: str = Field(description="Pass it back as `cursor` for the answers after these")
    has_more: bool = Field(description="More answers are waiting now")


class Intake:
    """Dossiers and events in, dossiers and answers out, for callers holding an API key."""

    def __init__(
        self,
        dossiers: DossierRepository,
        surveys: SurveyRepository,
        directory: DirectoryRepository,
        api_keys: ApiKeyRepository,
        links: SurveyLinks,
        zone: ZoneInfo,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_outbox: Callable[[], None] | None = None,
    ) -> None:
        self.dossiers = dossiers
        self.surveys = surveys
        self.directory = directory
        self.api_keys = api_keys
        self.links = links
        self.zone = zone
        self.clock = clock
        # Wakes the outbox, so that a return's invitations and an extension's letter go out at once.
        self.on_outbox = on_outbox
        self._tree: tuple[float, list[Unit]] | None = None
        self._touched: dict[str, datetime] = {}

    async def authenticate(self, token: str) -> ApiCaller | None:
        """The caller holding this key, or None for an unknown or revoked one."""
        key = await self.api_keys.api_key_by_hash(hash_api_key(token))
        if key is None or key.revoked_at is not None:
            return None
        now = self.clock()
        if now - self._touched.get(key.name, datetime.min.replace(tzinfo=UTC)) >= TOUCH_EVERY:
            self._touched[key.name] = now
            await self.api_keys.touch_api_key(key.name, now)
        return ApiCaller(key_name=key.name, units=key.units)

    async def put_dossier(self, caller: ApiCaller, code: str, body: DossierBody) -> tuple[DossierView, bool]:
        """Creates or updates the dossier; True when it was created."""
        if code.rstrip().endswith("/events"):  # a PUT meant for the events, not a dossier's code
            raise IntakeRefused([FieldProblem(("code",), "a dossier code does not end in /events: events "
                                              "are POSTed to /api/v1/dossiers/{code}/events")])  # fmt: skip
        facts = self._facts(code, _fields(body), ())
        scope = await self._scope_for(caller, [(facts.unit_code, ("unit",))])
        try:
            (result,) = await self.dossiers.put_dossiers(
                [(facts, self._new())], actor=caller.actor, now=self.clock(), within=scope
            )
        except OutOfScope as exc:
            raise OutsideScope(f"dossier {code} belongs to a unit outside this key's units") from exc
        except UnknownUnit as exc:
            raise IntakeRefused([FieldProblem(("unit",), f"no unit {exc} in the directory")]) from exc
        created = result.outcome is PutOutcome.CREATED
        return await self._view(result.dossier, fresh=created), created

    async def put_batch(self, caller: ApiCaller, body: BatchBody) -> BatchResult:
        """Creates or updates every dossier in one transaction, or none when any item is wrong."""
        if len(body.dossiers) > MAX_BATCH:
            raise IntakeRefused([FieldProblem(("dossiers",), f"{len(body.dossiers)} dossiers, over "
                                              f"{MAX_BATCH} in one batch")])  # fmt: skip
        problems: list[FieldProblem] = []
        facts: list[DossierFacts] = []
        for index, item in enumerate(body.dossiers):
            where: tuple[str | int, ...] = ("dossiers", index)
            if not isinstance(item, Mapping):
                problems.append(FieldProblem(where, "each dossier is an object with its code and fields"))
                continue
            fields = dict(item)
            code = fields.pop("code", None)
            if not isinstance(code, str):
                problems.append(FieldProblem((*where, "code"), "the dossier code is missing"))
                continue
            try:
                facts.append(self._facts(code, fields, where))
            except IntakeRefused as exc:  # each problem says which dossier, as well as where
                problems += [FieldProblem(p.loc, f"dossier {code}: {p.message}") for p in exc.problems]
        if problems:
            raise IntakeRefused(problems)
        scope = await self._scope_for(
            caller, [(f.unit_code, ("dossiers", i, "unit")) for i, f in enumerate(facts)],
            codes=[f.code for f in facts],
        )  # fmt: skip
        try:
            results = await self.dossiers.put_dossiers(
                [(f, self._new()) for f in facts], actor=caller.actor, now=self.clock(), within=scope
            )
        except OutOfScope as exc:
            raise OutsideScope(f"dossier {exc} belongs to a unit outside this key's units") from exc
        except UnknownUnit as exc:
            raise IntakeRefused([FieldProblem(("dossiers",), f"no unit {exc} in the directory")]) from exc
        # Validated whole from plain values: a model built per item costs twice as much.
        return BatchResult.model_validate({
            "created": sum(r.outcome is PutOutcome.CREATED for r in results),
            "updated": sum(r.outcome is PutOutcome.UPDATED for r in results),
            "unchanged": sum(r.outcome is PutOutcome.UNCHANGED for r in results),
            "dossiers": [
                {"code": r.dossier.code, "outcome": r.outcome,
                 "survey_link": self.links.url(r.dossier.link_id), "survey_code": r.dossier.survey_code}
                for r in results
            ],
        })  # fmt: skip

    async def add_event(self, caller: ApiCaller, code: str, body: EventBody) -> tuple[DossierView, bool]:
        """Adds the event to the dossier's history; True when it was new (not the same type and
        time again). A `returned` event sends the survey to every chat that waits for it; an
        `extended` one, the apology letter."""
        stored_code = self._code(code)
        try:
            event = event_facts(_fields(body), self.zone)
        except FactsRefused as exc:
            raise IntakeRefused(exc.problems) from exc
        now = self.clock()
        if event.at > now + CLOCK_SKEW:
            raise IntakeRefused([FieldProblem(("at",), "the time is in the future: report an event "
                                              "when it has happened")])  # fmt: skip
        scope = await self._scope(caller)
        try:
            result = await self.dossiers.add_dossier_event(
                stored_code, event, actor=caller.actor, now=now, within=scope
            )
        except UnknownDossier as exc:
            raise NotFound(f"no dossier {stored_code} is recorded: PUT it first") from exc
        except OutOfScope as exc:
            raise OutsideScope(f"dossier {stored_code} belongs to a unit outside this key's units") from exc
        if result.recorded and event.type in OUTBOX_EVENTS and self.on_outbox is not None:
            self.on_outbox()
        return await self._view(result.dossier), result.recorded

    async def get_dossier(self, caller: ApiCaller, code: str) -> DossierView:
        """The dossier, its history and its answer."""
        dossier = await self.dossiers.get_dossier(typed_code(code))
        if dossier is None:
            raise NotFound(f"no dossier {typed_code(code)} is recorded")
        if dossier.unit_code not in await self._scope(caller):
            raise OutsideScope(f"dossier {dossier.code} belongs to a unit outside this key's units")
        return await self._view(dossier)

    async def answers(
        self,
        caller: ApiCaller,
        *,
        since: str | None = None,
        unit: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> AnswersPage:
        """Answers in the key's scope (or one unit's subtree in it), oldest first, a page at a time."""
        problems: list[FieldProblem] = []
        after = 0
        if cursor:
            try:
                after = _read_cursor(cursor)
            except ValueError:
                problems.append(FieldProblem(("cursor",), "not a cursor this API gave: pass `next_cursor` "
                                             "back unchanged"))  # fmt: skip
        moment = None
        if since:
            moment = self._moment(since, "since", problems)
        if not 1 <= limit <= MAX_PAGE:
            problems.append(FieldProblem(("limit",), f"give a limit from 1 to {MAX_PAGE}"))
        if problems:
            raise IntakeRefused(problems)
        scope = await self._scope(caller)
        codes: Sequence[str] = scope
        if unit is not None:
            await self._scope_for(caller, [(unit, ("unit",))])
            codes = subtree([unit], await self._units())
        found = await self.dossiers.export_answers(codes, since=moment, after_change=after, limit=limit + 1)
        page = found[:limit]
        items = [
            AnswerItem(
                dossier_code=a.dossier_code,
                unit=a.unit_code,
                procedure=a.procedure,
                rating=a.rating.value,
                factors=a.factors,
                channel=a.channel,
                answered_at=a.answered_at.astimezone(self.zone),
                completed=a.completed,
            )
            for a in page
        ]
        return AnswersPage(
            answers=items,
            next_cursor=_cursor(page[-1].change if page else after),
            has_more=len(found) > limit,
        )

    async def healthy(self) -> bool:
        """The database answers a read."""
        try:
            await self.dossiers.get_dossier("")
        except Exception:
            return False
        return True

    def _code(self, code: str) -> str:
        try:
            return checked_code(code)
        except TextRefused as exc:
            raise IntakeRefused([FieldProblem(("code",), str(exc))]) from exc

    def _facts(self, code: str, fields: dict[str, Any], where: tuple[str | int, ...]) -> DossierFacts:
        try:
            return dossier_facts(code, fields, self.zone)
        except FactsRefused as exc:
            problems = [FieldProblem((*where, *p.loc), p.message) for p in exc.problems]
            raise IntakeRefused(problems) from exc

    def _moment(self, value: str, what: str, problems: list[FieldProblem]) -> datetime | None:
        try:
            return parse_moment(value, self.zone, what)
        except MomentRefused as exc:
            problems.append(FieldProblem((what,), str(exc)))
            return None

    def _new(self) -> NewDossier:
        return NewDossier(link_id=self.links.new_link_id(), survey_code=new_survey_code())

    async def _units(self, *, fresh: bool = False) -> list[Unit]:
        now = time.monotonic()
        if fresh or self._tree is None or now - self._tree[0] > TREE_TTL_SECONDS:
            self._tree = (now, await self.directory.list_units())
        return self._tree[1]

    async def _scope(self, caller: ApiCaller, *, fresh: bool = False) -> list[str]:
        return subtree(caller.units, await self._units(fresh=fresh))

    async def _scope_for(
        self,
        caller: ApiCaller,
        wanted: Sequence[tuple[str, tuple[str | int, ...]]],
        *,
        codes: Sequence[str] | None = None,
    ) -> list[str]:
        """The caller's scope, once every unit wanted is in it: a unit not in the directory is a
        wrong field (422), one outside the key's units is forbidden (403). The tree is read again
        before refusing, so a unit just added is found."""
        scope = await self._scope(caller)
        if {unit for unit, _ in wanted}.issubset(scope):  # a set: a batch names a unit a dossier
            return scope
        scope = await self._scope(caller, fresh=True)
        known = {u.code for u in await self._units()}
        unknown = [
            FieldProblem(loc, f"{f'dossier {codes[n]}: ' if codes else ''}no unit {unit} in the directory")
            for n, (unit, loc) in enumerate(wanted)
            if unit not in known
        ]
        if unknown:
            raise IntakeRefused(unknown)
        outside = sorted({unit for unit, _ in wanted if unit not in scope})
        if outside:
            raise OutsideScope(f"unit {', '.join(outside)} is outside this key's units "
                               f"({', '.join(caller.units)} and the units under them)")  # fmt: skip
        return scope

    async def _view(self, dossier: Dossier, *, fresh: bool = False) -> DossierView:
        history: list[DossierEvent] = []
        if not fresh and dossier.state is not None:
            history = await self.dossiers.list_dossier_events(dossier.id)
        answer = await self.surveys.get_answer(dossier.id) if dossier.answered else None
        return dossier_view(dossier, history, answer, self.links.url(dossier.link_id), self.zone)


def dossier_view(
    dossier: Dossier, history: Sequence[DossierEvent], answer: Answer | None, link: str, zone: ZoneInfo
) -> DossierView:
    """The dossier as the API shows it: never a chat id."""

    def local(at: datetime | None) -> datetime | None:
        return at.astimezone(zone) if at is not None else None

    state = dossier.state.value if dossier.state is not None else None
    if state is None:
        state = DossierEventType.RETURNED.value if dossier.returned_at is not None else "recorded"
    return DossierView(
        code=dossier.code,
        unit=dossier.unit_code,
        unit_name=dossier.unit_name,
        procedure=dossier.procedure,
        state=state,
        received_at=local(dossier.received_at),
        due_at=local(dossier.due_at),
        returned_at=local(dossier.returned_at),
        citizen_name=dossier.citizen_name,
        phone=f"+{dossier.phone}" if dossier.phone else None,
        channel_hint=dossier.channel_hint,
        history=[
            EventView(
                type=e.type,
                at=e.at.astimezone(zone),
                reason=e.reason,
                until=e.until,
                new_due_at=local(e.new_due_at),
                recorded_at=e.recorded_at.astimezone(zone),
            )
            for e in history
        ],
        survey_link=link,
        survey_code=dossier.survey_code,
        answer=None if answer is None else AnswerView(
            rating=answer.rating.value,
            factors=list(dict.fromkeys(f.factor for f in answer.follow_ups if f.factor)),
            channel=answer.channel,
            answered_at=answer.answered_at.astimezone(zone),
            completed=answer.completed_at is not None,
        ),
    )  # fmt: skip


def _fields(body: BaseModel) -> dict[str, Any]:
    """The fields the caller sent (extra ones too, to be refused by name), without those left out."""
    return body.model_dump(exclude_unset=True)


def _cursor(after_id: int) -> str:
    return base64.urlsafe_b64encode(f"a1:{after_id}".encode()).decode().rstrip("=")


def _read_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(cursor) from exc
    prefix, _, number = text.partition(":")
    if prefix != "a1" or not number.isdigit() or len(number) > 18:
        raise ValueError(cursor)
    return int(number)
