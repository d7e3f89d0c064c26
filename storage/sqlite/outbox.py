"""Messages the running bot sends on its own: survey invitations and case notices."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from storage.base import OutboxRepository
from storage.records import Invitation, Notice, OutboxStatus
from storage.sqlite.db import Database, first, iso

Table = Literal["invitations", "notices"]  # a table name cannot be a parameter: only these two
_PENDING: dict[Table, str] = {
    "invitations": "SELECT id, dossier_id, channel, chat_id, status, attempts, created_at, sent_at, error"
    " FROM invitations o",
    "notices": "SELECT o.id, o.case_id, o.kind, o.channel, o.chat_id, o.person_id, o.status, o.attempts,"
    " e.note FROM notices o LEFT JOIN case_events e ON e.id = o.event_id",
}


class SQLiteOutbox(OutboxRepository):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _pending(self, table: Table, limit: int, after_id: int) -> list[dict[str, object]]:
        rows = await self.db.read(
            f"{_PENDING[table]} WHERE o.status = 'pending' AND o.id > ? ORDER BY o.id LIMIT ?",
            (after_id, limit),
        )
        return [dict(r) for r in rows]

    async def _finish(
        self, table: Table, row_id: int, status: OutboxStatus, now: datetime, error: str | None
    ) -> None:
        await self.db.execute(
            f"UPDATE {table} SET status = ?, sent_at = ?, error = ? WHERE id = ?",
            (status.value, iso(now), error, row_id),
        )

    async def _retry(self, table: Table, row_id: int, error: str) -> int:
        row = await self.db.write(
            lambda db: first(
                db,
                f"UPDATE {table} SET attempts = attempts + 1, error = ? WHERE id = ? RETURNING attempts",
                (error, row_id),
            )
        )
        return int(row[0]) if row else 0

    async def pending_invitations(self, limit: int = 100, after_id: int = 0) -> list[Invitation]:
        return [Invitation.model_validate(r) for r in await self._pending("invitations", limit, after_id)]

    async def finish_invitation(
        self, invitation_id: int, status: OutboxStatus, now: datetime, error: str | None = None
    ) -> None:
        await self._finish("invitations", invitation_id, status, now, error)

    async def retry_invitation(self, invitation_id: int, error: str) -> int:
        return await self._retry("invitations", invitation_id, error)

    async def pending_notices(self, limit: int = 100, after_id: int = 0) -> list[Notice]:
        return [Notice.model_validate(r) for r in await self._pending("notices", limit, after_id)]

    async def finish_notice(
        self, notice_id: int, status: OutboxStatus, now: datetime, error: str | None = None
    ) -> None:
        await self._finish("notices", notice_id, status, now, error)

    async def retry_notice(self, notice_id: int, error: str) -> int:
        return await self._retry("notices", notice_id, error)
