"""A fake Intake service for the HTTP layer's tests: the service's methods over a dict, with
refusals a test can provoke, and a record of every call. Its answers and refusals are the real
service's types (handlers/intake.py); the rules themselves are tested with the real service
(tests/test_intake_api.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from handlers.dossier_facts import FieldProblem
from handlers.intake import (
    AnswerItem,
    AnswersPage,
    ApiCaller,
    BatchBody,
    BatchItemView,
    BatchResult,
    DossierBody,
    DossierView,
    EventBody,
    EventView,
    IntakeRefused,
    NotFound,
    OutsideScope,
)
from storage.records import DossierEventType, PutOutcome

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
KEYS = {
    "key-q1": ApiCaller("motcua-q1", ("Q1",)),
    "key-q3": ApiCaller("motcua-q3", ("Q3",)),
}
REVOKED = "key-revoked"  # the real service answers None for a revoked key, as for an unknown one


def view_of(code: str, body: DossierBody) -> DossierView:
    return DossierView(
        code=code,
        unit=body.unit,
        unit_name=f"UBND {body.unit}",
        procedure=body.procedure,
        state="recorded",
        received_at=None,
        due_at=None,
        returned_at=None,
        citizen_name=body.citizen_name,
        phone=None,
        channel_hint=None,
        history=[],
        survey_link=f"https://t.me/TestNameBot?start={code}",
        survey_code=None,
        answer=None,
    )


@dataclass
class FakeIntake:
    """Dossiers in a dict; `failure` makes every call after the key's raise it, `key_failure`
    the key's own."""

    dossiers: dict[str, DossierView] = field(default_factory=dict)
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

    def _readable(self, caller: ApiCaller, code: str) -> DossierView:
        if code not in self.dossiers:
            raise NotFound(f"no dossier {code} is recorded")
        if self.dossiers[code].unit not in caller.units:
            raise OutsideScope(f"dossier {code} belongs to a unit outside this key's units")
        return self.dossiers[code]

    async def put_dossier(self, caller: ApiCaller, code: str, body: DossierBody) -> tuple[DossierView, bool]:
        self._called("put_dossier", caller, code, body)
        if body.unit not in caller.units:
            raise OutsideScope(f"unit {body.unit} is outside this key's units")
        if body.due_at < body.received_at:
            raise IntakeRefused(
                [FieldProblem(("due_at",), "the appointment is before the dossier was received")]
            )
        created = code not in self.dossiers
        self.dossiers[code] = view_of(code, body)
        return self.dossiers[code], created

    async def put_batch(self, caller: ApiCaller, body: BatchBody) -> BatchResult:
        self._called("put_batch", caller, body)
        problems = [
            FieldProblem(("dossiers", n, "due_at"), f"dossier {item.get('code')}: not a time")
            for n, item in enumerate(body.dossiers)
            if isinstance(item, dict) and item.get("due_at") == "soon"
        ]
        if problems:
            raise IntakeRefused(problems)
        items = [
            BatchItemView(code=str(item.get("code")), outcome=PutOutcome.CREATED,
                          survey_link="https://t.me/TestNameBot?start=x", survey_code=None)
            for item in body.dossiers
        ]  # fmt: skip
        return BatchResult(created=len(items), updated=0, unchanged=0, dossiers=items)

    async def add_event(self, caller: ApiCaller, code: str, body: EventBody) -> tuple[DossierView, bool]:
        self._called("add_event", caller, code, body)
        view = self._readable(caller, code)
        at = datetime.fromisoformat(body.at)
        recorded = all((e.type, e.at) != (body.type, at) for e in view.history)
        if recorded:
            view.history.append(EventView(type=DossierEventType(body.type), at=at, recorded_at=NOW))
        return view, recorded

    async def get_dossier(self, caller: ApiCaller, code: str) -> DossierView:
        self._called("get_dossier", caller, code)
        return self._readable(caller, code)

    async def answers(
        self, caller: ApiCaller, *, since: str | None, unit: str | None, cursor: str | None, limit: int
    ) -> AnswersPage:
        self._called("answers", caller, since, unit, cursor, limit)
        if cursor == "bad":
            raise IntakeRefused([FieldProblem(("cursor",), "not a cursor this API gave")])
        answer = AnswerItem(
            dossier_code="HS-1", unit="Q1", procedure="Đăng ký khai sinh", rating="satisfied", factors=[],
            channel="telegram", answered_at=NOW, completed=True,
        )  # fmt: skip
        return AnswersPage(answers=[answer], next_cursor="c1", has_more=False)

    async def healthy(self) -> bool:
        self._called("healthy")
        return self.up
