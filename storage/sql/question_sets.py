"""Imported question sets: every version kept, one active per set."""

from __future__ import annotations

from datetime import datetime

from storage.base import QuestionSetRepository
from storage.records import StoredQuestionSet
from storage.sql.common import Connection, Database, first, greatest, iso, record_audit

_QUESTION_SETS = (
    "SELECT q.id, q.set_id, q.version, q.source, q.active, q.imported_at, q.imported_by,"
    " (SELECT COUNT(*) FROM answers a WHERE a.question_set = q.set_id"
    " AND a.question_set_version = q.version) AS answers FROM question_sets q"
)


class SqlQuestionSets(QuestionSetRepository):
    def __init__(self, db: Database) -> None:
        self.db = db

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
        def save(db: Connection) -> tuple[int, bool]:
            same = first(
                db, "SELECT id FROM question_sets WHERE set_id = ? AND fingerprint = ?", (set_id, fingerprint)
            )
            if same is not None:
                return int(same["id"]), False
            row = first(
                db,
                "INSERT INTO question_sets (set_id, version, source, fingerprint, imported_at, imported_by)"
                f" SELECT ?, {greatest(db.dialect, 'COALESCE(MAX(version), 0) + 1', '?')}, ?, ?, ?, ?"
                " FROM question_sets WHERE set_id = ?"
                " RETURNING id, version",
                (set_id, first_version, source, fingerprint, iso(now), actor, set_id),
            )
            assert row is not None
            record_audit(db, actor, "question set imported", f"{set_id} v{row['version']}", now)
            return int(row["id"]), True

        row_id, created = await self.db.write(save)
        stored = await self.get_question_set(row_id)
        assert stored is not None
        return stored, created

    async def list_question_sets(self) -> list[StoredQuestionSet]:
        rows = await self.db.read(f"{_QUESTION_SETS} ORDER BY q.set_id, q.version")
        return [StoredQuestionSet.model_validate(dict(r)) for r in rows]

    async def active_question_sets(self) -> list[StoredQuestionSet]:
        rows = await self.db.read(
            "SELECT id, set_id, version, source, active, imported_at, imported_by FROM question_sets"
            " WHERE active = 1 ORDER BY id"
        )
        return [StoredQuestionSet.model_validate(dict(r)) for r in rows]

    async def question_sets_version(self) -> int:
        row = await self.db.read_one("SELECT value FROM versions WHERE name = 'question_sets'")
        assert row is not None
        return int(row["value"])

    async def get_question_set(self, row_id: int) -> StoredQuestionSet | None:
        row = await self.db.read_one(f"{_QUESTION_SETS} WHERE q.id = ?", (row_id,))
        return StoredQuestionSet.model_validate(dict(row)) if row else None

    async def find_question_set(self, set_id: str, version: int) -> StoredQuestionSet | None:
        row = await self.db.read_one(
            f"{_QUESTION_SETS} WHERE q.set_id = ? AND q.version = ?", (set_id, version)
        )
        return StoredQuestionSet.model_validate(dict(row)) if row else None

    async def activate_question_set(self, row_id: int, now: datetime, actor: str) -> StoredQuestionSet | None:
        def activate(db: Connection) -> bool:
            row = first(db, "SELECT set_id, version FROM question_sets WHERE id = ?", (row_id,))
            if row is None:
                return False
            db.execute(
                "UPDATE question_sets SET active = CASE WHEN id = ? THEN 1 ELSE 0 END WHERE set_id = ?",
                (row_id, row["set_id"]),
            )
            record_audit(db, actor, "question set activated", f"{row['set_id']} v{row['version']}", now)
            return True

        return await self.get_question_set(row_id) if await self.db.write(activate) else None
