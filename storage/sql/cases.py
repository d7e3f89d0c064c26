"""Complaint cases and their history. A change of a case records its event and queues its notices
in the same transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from storage.base import CaseRepository
from storage.records import OPEN_STATES, Case, CaseEvent, CaseState, NoticeTo
from storage.sql.common import SQLITE, Connection, Database, Row, first, iso, placeholders

CASE = (
    "SELECT c.id, c.dossier_id, d.code AS dossier_code, d.procedure, c.unit_code, u.name AS unit_name,"
    " c.state, c.assignee_id, p.name AS assignee_name, c.opened_at, c.deadline, c.resolution, c.updated_at,"
    " a.channel AS citizen_channel, a.chat_id AS citizen_chat_id, a.rating, a.follow_ups, a.texts,"
    " a.completed_at IS NOT NULL AS survey_done"
    " FROM cases c JOIN dossiers d ON d.id = c.dossier_id JOIN units u ON u.code = c.unit_code"
    " JOIN answers a ON a.dossier_id = c.dossier_id LEFT JOIN people p ON p.id = c.assignee_id"
)


def case(row: Row) -> Case:
    data: dict[str, Any] = {key: row[key] for key in Case.model_fields}
    data["follow_ups"] = json.loads(row["follow_ups"])
    data["texts"] = json.loads(row["texts"])
    return Case.model_validate(data)


def open_case(db: Connection, dossier_id: int, deadline: date, now: datetime) -> None:
    """Opens the dossier's complaint case unless it has one, inside the caller's transaction."""
    opened = first(
        db,
        "INSERT INTO cases (dossier_id, unit_code, opened_at, deadline, updated_at)"
        " SELECT id, unit_code, ?, ?, ? FROM dossiers WHERE id = ?"
        " ON CONFLICT (dossier_id) DO NOTHING RETURNING id",
        (iso(now), iso(deadline), iso(now), dossier_id),
    )
    if opened is not None:
        db.execute(
            "INSERT INTO case_events (case_id, at, actor, action) VALUES (?, ?, 'citizen', 'opened')",
            (opened["id"], iso(now)),
        )


def _case_filter(
    unit_codes: Sequence[str],
    states: Sequence[CaseState],
    opened_after: datetime | None,
    deadline_before: date | None,
    assignee_id: int | None,
) -> tuple[str, list[Any]]:
    where = f" WHERE c.unit_code IN ({placeholders(unit_codes)}) AND c.state IN ({placeholders(states)})"
    params: list[Any] = [*unit_codes, *(s.value for s in states)]
    if opened_after is not None:
        where += " AND c.opened_at > ?"
        params.append(iso(opened_after))
    if deadline_before is not None:
        where += " AND c.deadline < ?"
        params.append(iso(deadline_before))
    if assignee_id is not None:
        where += " AND c.assignee_id = ?"
        params.append(assignee_id)
    return where, params


class SqlCases(CaseRepository):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get_case(self, case_id: int) -> Case | None:
        row = await self.db.read_one(f"{CASE} WHERE c.id = ?", (case_id,))
        return case(row) if row else None

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
        where, params = _case_filter(unit_codes, states, opened_after, deadline_before, assignee_id)
        # The page is chosen on the cases table alone, then only its rows are joined.
        # No limit: SQLite's is -1, PostgreSQL's NULL.
        unlimited = -1 if self.db.dialect == SQLITE else None
        rows = await self.db.read(
            f"{CASE} WHERE c.id IN (SELECT c.id FROM cases c{where}"
            " ORDER BY c.opened_at, c.id LIMIT ? OFFSET ?) ORDER BY c.opened_at, c.id",
            (*params, limit or unlimited, offset),
        )
        return [case(r) for r in rows]

    async def count_cases(
        self,
        unit_codes: Sequence[str],
        *,
        states: Sequence[CaseState] = OPEN_STATES,
        opened_after: datetime | None = None,
        deadline_before: date | None = None,
        assignee_id: int | None = None,
    ) -> int:
        where, params = _case_filter(unit_codes, states, opened_after, deadline_before, assignee_id)
        row = await self.db.read_one(f"SELECT COUNT(*) FROM cases c{where}", params)
        return int(row[0]) if row else 0

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
        def change(db: Connection) -> Row | None:
            moved = first(
                db,
                "UPDATE cases SET state = ?, updated_at = ?, assignee_id = COALESCE(?, assignee_id),"
                " resolution = COALESCE(?, resolution)"
                f" WHERE id = ? AND state IN ({placeholders(from_states)}) RETURNING id",
                (to_state.value, iso(now), assignee_id, resolution, case_id, *(s.value for s in from_states)),
            )
            if moved is None:
                return None
            event = db.execute(
                "INSERT INTO case_events (case_id, at, actor, action, note) VALUES (?, ?, ?, ?, ?)"
                " RETURNING id",
                (case_id, iso(now), actor, action, note),
            ).fetchone()["id"]
            db.executemany(
                "INSERT INTO notices (case_id, kind, channel, chat_id, person_id, created_at, event_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(case_id, n.kind, n.channel, n.chat_id, n.person_id, iso(now), event) for n in notices],
            )
            return first(db, f"{CASE} WHERE c.id = ?", (case_id,))

        row = await self.db.write(change)
        return case(row) if row else None

    async def case_events(self, case_id: int) -> list[CaseEvent]:
        rows = await self.db.read(
            "SELECT case_id, at, actor, action, note FROM case_events WHERE case_id = ? ORDER BY id",
            (case_id,),
        )
        return [CaseEvent.model_validate(dict(r)) for r in rows]

    async def unannounced_cases(self, limit: int = 500) -> list[Case]:
        rows = await self.db.read(
            f"{CASE} WHERE c.announced_at IS NULL AND c.state IN ({placeholders(OPEN_STATES)})"
            " ORDER BY c.opened_at, c.id LIMIT ?",
            (*(s.value for s in OPEN_STATES), limit),
        )
        return [case(r) for r in rows]

    async def mark_announced(self, case_ids: Sequence[int], now: datetime) -> list[int]:
        rows = await self.db.write(
            lambda db: db.execute(
                "UPDATE cases SET announced_at = ?"
                f" WHERE announced_at IS NULL AND id IN ({placeholders(case_ids)}) RETURNING id",
                (iso(now), *case_ids),
            ).fetchall()
        )
        return sorted(int(r["id"]) for r in rows)
