"""The audit trail: admin changes (written by the repositories that make them, in the same
transaction) and case actions, read as one list."""

from __future__ import annotations

from datetime import datetime

from storage.base import AuditRepository
from storage.records import AuditEntry
from storage.sql.common import Database, iso, record_audit


class SqlAudit(AuditRepository):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def audit_since(self, since: datetime | None) -> list[AuditEntry]:
        rows = await self.db.read(
            "SELECT at, actor, action, detail FROM ("
            " SELECT at, actor, action, detail, 0 AS kind, id FROM audit"
            " UNION ALL SELECT e.at, e.actor, 'case ' || e.action,"
            " '#' || e.case_id || COALESCE(': ' || e.note, ''), 1, e.id FROM case_events e) x"
            " WHERE at >= ? ORDER BY at, kind, id",
            (iso(since) or "",),
        )
        return [AuditEntry.model_validate(dict(r)) for r in rows]

    async def record_access(self, actor: str, action: str, detail: str | None, now: datetime) -> None:
        await self.db.write(lambda db: record_audit(db, actor, action, detail, now))
