"""AuditRepository: the audit trail, admin changes and case actions read as one list, oldest first."""

from __future__ import annotations

from storage.base import Storage
from storage.records import CaseState
from tests.storage.conftest import T0, TREE, hours, open_case, set_units


class TestAudit:
    async def test_admin_changes_and_case_actions_are_one_trail_oldest_first(self, db: Storage):
        case = await open_case(db, now=T0 + hours(1))
        await db.question_sets.save_question_set("sipas", "a", "f1", T0 + hours(3), "person:9")
        await db.cases.change_case(
            case.id,
            from_states=[CaseState.NEW],
            to_state=CaseState.CLOSED,
            actor="person:2",
            action="closed",
            now=T0 + hours(2),
            note="Đã xử lý",
        )
        trail = await db.audit.audit_since(T0 + hours(1))
        assert [(e.at, e.actor, e.action, e.detail) for e in trail] == [
            (T0 + hours(1), "citizen", "case opened", f"#{case.id}"),
            (T0 + hours(2), "person:2", "case closed", f"#{case.id}: Đã xử lý"),
            (T0 + hours(3), "person:9", "question set imported", "sipas v1"),
        ]

    async def test_the_trail_starts_at_since_or_at_the_beginning(self, db: Storage):
        await set_units(db, TREE, now=T0 + hours(1))
        await set_units(db, TREE, now=T0 + hours(2))
        everything = await db.audit.audit_since(None)
        # the fixture's own directory comes first
        assert [e.at for e in everything] == [T0, T0 + hours(1), T0 + hours(2)]
        assert {e.action for e in everything} == {"directory applied"}
        assert [e.at for e in await db.audit.audit_since(T0 + hours(1))] == [T0 + hours(1), T0 + hours(2)]
        assert await db.audit.audit_since(T0 + hours(3)) == []
