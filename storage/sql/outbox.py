"""Messages the running bot sends on its own: survey invitations and case notices, each claimed for a
lease before it is sent; and the answers to people that the platform did not accept."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from storage.base import OutboxRepository
from storage.records import Invitation, Notice, OutboxStatus, UndeliveredReply
from storage.sql.common import Database, first, held_claim, iso, placeholders

Table = Literal["invitations", "notices"]  # a table name cannot be a parameter: only these two
_SELECT: dict[Table, str] = {
    "invitations": "SELECT o.id, o.dossier_id, o.channel, o.chat_id, o.status, o.attempts, o.created_at,"
    " o.sent_at, o.error, o.next_attempt_at FROM invitations o",
    "notices": "SELECT o.id, o.case_id, o.kind, o.channel, o.chat_id, o.person_id, o.status, o.attempts,"
    " e.note, o.created_at, o.sent_at, o.error, o.next_attempt_at, c.unit_code FROM notices o"
    " JOIN cases c ON c.id = o.case_id LEFT JOIN case_events e ON e.id = o.event_id",
}


class SqlOutbox(OutboxRepository):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _pending(self, table: Table, limit: int, after_id: int) -> list[dict[str, object]]:
        rows = await self.db.read(
            f"{_SELECT[table]} WHERE o.status = 'pending' AND o.id > ? ORDER BY o.id LIMIT ?",
            (after_id, limit),
        )
        return [dict(r) for r in rows]

    async def _claim(self, table: Table, row_id: int, now: datetime, until: datetime) -> bool:
        row = await self.db.write(
            lambda db: first(
                db,
                f"UPDATE {table} SET next_attempt_at = ? WHERE id = ? AND status = 'pending'"
                " AND (next_attempt_at IS NULL OR next_attempt_at <= ?) RETURNING id",
                (iso(until), row_id, iso(now)),
            )
        )
        return row is not None

    async def _finish(
        self,
        table: Table,
        row_id: int,
        status: OutboxStatus,
        now: datetime,
        error: str | None,
        claimed_until: datetime | None,
    ) -> bool:
        where, held = held_claim(claimed_until)
        row = await self.db.write(
            lambda db: first(
                db,
                f"UPDATE {table} SET status = ?, sent_at = ?, error = ?, next_attempt_at = NULL"
                f" WHERE id = ?{where} RETURNING id",
                (status.value, iso(now), error, row_id, *held),
            )
        )
        return row is not None

    async def _retry(
        self,
        table: Table,
        row_id: int,
        error: str,
        next_attempt_at: datetime | None,
        claimed_until: datetime | None,
    ) -> int:
        where, held = held_claim(claimed_until)
        row = await self.db.write(
            lambda db: first(
                db,
                f"UPDATE {table} SET attempts = attempts + 1, error = ?, next_attempt_at = ?"
                f" WHERE id = ?{where} RETURNING attempts",
                (error, iso(next_attempt_at), row_id, *held),
            )
        )
        return int(row[0]) if row else 0

    async def _list(
        self, table: Table, statuses: Sequence[OutboxStatus], where: str, params: Sequence[object], limit: int
    ) -> list[dict[str, object]]:
        values = [s.value for s in statuses]
        rows = await self.db.read(
            f"{_SELECT[table]} WHERE o.status IN ({placeholders(values)}){where} ORDER BY o.id DESC LIMIT ?",
            (*values, *params, limit),
        )
        return [dict(r) for r in reversed(rows)]  # the latest, oldest first

    async def pending_invitations(self, limit: int = 100, after_id: int = 0) -> list[Invitation]:
        return [Invitation.model_validate(r) for r in await self._pending("invitations", limit, after_id)]

    async def claim_invitation(self, invitation_id: int, now: datetime, until: datetime) -> bool:
        return await self._claim("invitations", invitation_id, now, until)

    async def finish_invitation(
        self,
        invitation_id: int,
        status: OutboxStatus,
        now: datetime,
        error: str | None = None,
        *,
        claimed_until: datetime | None = None,
    ) -> bool:
        return await self._finish("invitations", invitation_id, status, now, error, claimed_until)

    async def retry_invitation(
        self,
        invitation_id: int,
        error: str,
        next_attempt_at: datetime | None = None,
        *,
        claimed_until: datetime | None = None,
    ) -> int:
        return await self._retry("invitations", invitation_id, error, next_attempt_at, claimed_until)

    async def invited_since(self, channel: str, chat_id: str, since: datetime) -> bool:
        row = await self.db.read_one(
            "SELECT 1 FROM invitations INDEXED BY invitations_chat_sent WHERE channel = ? AND chat_id = ?"
            " AND status = 'sent' AND sent_at >= ? LIMIT 1",
            (channel, chat_id, iso(since)),
        )
        return row is not None

    async def list_invitations(self, statuses: Sequence[OutboxStatus], limit: int = 1000) -> list[Invitation]:
        rows = await self._list("invitations", statuses, "", (), limit)
        return [Invitation.model_validate(r) for r in rows]

    async def pending_notices(self, limit: int = 100, after_id: int = 0) -> list[Notice]:
        return [Notice.model_validate(r) for r in await self._pending("notices", limit, after_id)]

    async def claim_notice(self, notice_id: int, now: datetime, until: datetime) -> bool:
        return await self._claim("notices", notice_id, now, until)

    async def finish_notice(
        self,
        notice_id: int,
        status: OutboxStatus,
        now: datetime,
        error: str | None = None,
        *,
        claimed_until: datetime | None = None,
    ) -> bool:
        return await self._finish("notices", notice_id, status, now, error, claimed_until)

    async def retry_notice(
        self,
        notice_id: int,
        error: str,
        next_attempt_at: datetime | None = None,
        *,
        claimed_until: datetime | None = None,
    ) -> int:
        return await self._retry("notices", notice_id, error, next_attempt_at, claimed_until)

    async def list_notices(
        self,
        statuses: Sequence[OutboxStatus],
        *,
        unit_codes: Sequence[str] | None = None,
        finished_since: datetime | None = None,
        limit: int = 1000,
    ) -> list[Notice]:
        where, params = "", list[object]()
        if unit_codes is not None:
            where += f" AND c.unit_code IN ({placeholders(unit_codes)})"
            params += list(unit_codes)
        if finished_since is not None:
            where += " AND o.sent_at >= ?"
            params.append(iso(finished_since))
        rows = await self._list("notices", statuses, where, params, limit)
        return [Notice.model_validate(r) for r in rows]

    async def record_undelivered_reply(self, channel: str, chat_id: str, at: datetime, error: str) -> None:
        await self.db.execute(
            "INSERT INTO undelivered_replies (channel, chat_id, at, error) VALUES (?, ?, ?, ?)",
            (channel, chat_id, iso(at), error),
        )

    async def undelivered_replies(
        self, since: datetime | None = None, limit: int = 1000
    ) -> list[UndeliveredReply]:
        rows = await self.db.read(
            "SELECT id, channel, chat_id, at, error FROM undelivered_replies"
            " WHERE at >= ? ORDER BY id DESC LIMIT ?",
            (iso(since) if since is not None else "", limit),
        )
        return [UndeliveredReply.model_validate(dict(r)) for r in reversed(rows)]
