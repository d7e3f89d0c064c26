"""A fake Intake service for the HTTP layer's tests: the service's signatures with answers and
refusals a test sets, and a record of every call. The rules themselves are tested with the real
service (tests/test_intake_api.py).

Until handlers/intake.py is on this branch, this module also stands in for its types (models,
caller, refusals) and is put in its place in sys.modules."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict

try:
    import handlers.intake  # noqa: F401
except ModuleNotFoundError:
    STANDING_IN = True
else:
    STANDING_IN = False


class FieldProblem(NamedTuple):
    loc: tuple[str | int, ...]
    message: str


@dataclass(frozen=True)
class ApiCaller:
    key_name: str
    units: tuple[str, ...]


class IntakeRefused(Exception):
    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = list(problems)


class OutsideScope(Exception):
    pass


class NotFound(Exception):
    pass


class Body(BaseModel):
    model_config = ConfigDict(extra="allow")


class DossierBody(Body):
    unit: str
    procedure: str
    received_at: str
    due_at: str
    citizen_name: str | None = None
    phone: str | None = None
    channel_hint: str | None = None


class BatchBody(BaseModel):
    dossiers: list[dict[str, Any]]


class EventBody(Body):
    type: str
    at: str
    reason: str | None = None
    until: str | None = None
    new_due_at: str | None = None


class DossierView(BaseModel):
    code: str
    unit: str
    procedure: str
    citizen_name: str | None = None
    history: list[str] = []


class BatchResult(BaseModel):
    created: int
    updated: int
    unchanged: int


class AnswersPage(BaseModel):
    answers: list[dict[str, Any]]
    next_cursor: str
    has_more: bool


KEYS = {
    "key-q1": ApiCaller("motcua-q1", ("Q1",)),
    "key-q3": ApiCaller("motcua-q3", ("Q3",)),
}
REVOKED = "key-revoked"


@dataclass
class FakeIntake:
    """Dossiers in a dict; `failure` makes every call after authentication raise it."""

    dossiers: dict[str, DossierView] = field(default_factory=dict)
    events: set[tuple[str, str, str]] = field(default_factory=set)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    up: bool = True
    failure: BaseException | None = None
    key_failure: BaseException | None = None

    async def authenticate(self, token: str) -> ApiCaller | None:
        self.calls.append(("authenticate", token))
        if self.key_failure is not None:
            raise self.key_failure
        return KEYS.get(token)

    def _called(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if self.failure is not None:
            raise self.failure

    async def put_dossier(self, caller: ApiCaller, code: str, body: DossierBody) -> tuple[DossierView, bool]:
        self._called("put_dossier", caller, code, body)
        if body.unit not in caller.units:
            raise OutsideScope(f"unit {body.unit} is outside this key's units")
        if body.due_at < body.received_at:
            raise IntakeRefused(
                [FieldProblem(("due_at",), "the appointment is before the dossier was received")]
            )
        created = code not in self.dossiers
        view = DossierView(
            code=code, unit=body.unit, procedure=body.procedure, citizen_name=body.citizen_name
        )
        self.dossiers[code] = view
        return view, created

    async def put_batch(self, caller: ApiCaller, body: BatchBody) -> BatchResult:
        self._called("put_batch", caller, body)
        problems = [
            FieldProblem(("dossiers", n, "due_at"), f"dossier {item.get('code')}: not a time")
            for n, item in enumerate(body.dossiers)
            if item.get("due_at") == "soon"
        ]
        if problems:
            raise IntakeRefused(problems)
        return BatchResult(created=len(body.dossiers), updated=0, unchanged=0)

    async def add_event(self, caller: ApiCaller, code: str, body: EventBody) -> tuple[DossierView, bool]:
        self._called("add_event", caller, code, body)
        if code not in self.dossiers:
            raise NotFound(f"no dossier {code} is recorded: PUT it first")
        view = self.dossiers[code]
        if view.unit not in caller.units:
            raise OutsideScope(f"dossier {code} belongs to a unit outside this key's units")
        recorded = (code, body.type, body.at) not in self.events
        self.events.add((code, body.type, body.at))
        if recorded:
            view.history.append(body.type)
        return view, recorded

    async def get_dossier(self, caller: ApiCaller, code: str) -> DossierView:
        self._called("get_dossier", caller, code)
        if code not in self.dossiers:
            raise NotFound(f"no dossier {code} is recorded")
        view = self.dossiers[code]
        if view.unit not in caller.units:
            raise OutsideScope(f"dossier {code} belongs to a unit outside this key's units")
        return view

    async def answers(
        self, caller: ApiCaller, *, since: str | None, unit: str | None, cursor: str | None, limit: int
    ) -> AnswersPage:
        self._called("answers", caller, since, unit, cursor, limit)
        if cursor == "bad":
            raise IntakeRefused([FieldProblem(("cursor",), "not a cursor this API gave")])
        return AnswersPage(answers=[{"dossier_code": "HS-1", "rating": "satisfied"}], next_cursor="c1",
                           has_more=False)  # fmt: skip

    async def healthy(self) -> bool:
        self._called("healthy")
        return self.up


if STANDING_IN:
    Intake = FakeIntake
    sys.modules["handlers.intake"] = sys.modules[__name__]
