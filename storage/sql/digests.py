"""What the daily digest counts, and which digests went: each unit and day claimed once, for a lease
that a later run takes over when the claim's sender died."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from storage.base import DigestRepository
from storage.records import OPEN_STATES, CaseCounts, DigestRecord, DigestStatus, UnitFigures
from storage.sql.common import (
    RATING_COUNTS,
    SENDING_SINCE,
    Database,
    first,
    flag,
    held_claim,
    iso,
    placeholders,
)

_OPEN = ", ".join(f"'{s.value}'" for s in OPEN_STATES)  # constants, not input

NEW_SINCE_DIGEST = flag("c.opened_at > COALESCE(last.sent_at, '')")


class SqlDigests(DigestRepository):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def figures_by_unit(self, start: datetime, end: datetime) -> dict[str, UnitFigures]:
        rows = await self.db.read(
            f"SELECT d.unit_code, COUNT(*) AS answers, {RATING_COUNTS}"
            " FROM answers a JOIN dossiers d ON d.id = a.dossier_id"
            " WHERE a.answered_at >= ? AND a.answered_at < ? GROUP BY d.unit_code",
            (iso(start), iso(end)),
        )
        return {r["unit_code"]: UnitFigures.model_validate(dict(r)) for r in rows}

    async def case_counts(self, day: date) -> dict[str, CaseCounts]:
        rows = await self.db.read(
            f"SELECT c.unit_code, SUM({flag(f'c.state IN ({_OPEN})')}) AS open,"
            f" SUM({flag(f'c.state IN ({_OPEN}) AND c.deadline < ?')}) AS overdue,"
            f" SUM({NEW_SINCE_DIGEST}) AS new, last.sent_at AS last_digest_at"
            " FROM cases c LEFT JOIN (SELECT unit_code, MAX(sent_at) AS sent_at FROM digests"
            " WHERE status IN ('sent', 'empty') GROUP BY unit_code) last ON last.unit_code = c.unit_code"
            " GROUP BY c.unit_code, last.sent_at",
            (iso(day),),
        )
        return {r["unit_code"]: CaseCounts.model_validate(dict(r)) for r in rows}

    async def claim_digest(self, unit_code: str, day: date, now: datetime, *, lease: timedelta) -> bool:
        row = await self.db.write(
            lambda db: first(
                db,
                "INSERT INTO digests (unit_code, day, status, claimed_at) VALUES (?, ?, 'sending', ?)"
                " ON CONFLICT (unit_code, day) DO UPDATE"
                " SET status = 'sending', claimed_at = excluded.claimed_at, next_attempt_at = NULL"
                " WHERE digests.status = 'empty'"
                " OR (digests.status = 'retrying' AND digests.next_attempt_at <= excluded.claimed_at)"
                " OR (digests.status = 'sending' AND digests.claimed_at <= ?) RETURNING day",
                (unit_code, iso(day), iso(now), iso(now - lease)),
            )
        )
        return row is not None

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
        where, held = held_claim(claimed_at, SENDING_SINCE)
        row = await self.db.write(
            lambda db: first(
                db,
                "UPDATE digests SET status = ?, sent_at = ?, recipient = ?, error = ?, next_attempt_at = NULL"
                f" WHERE unit_code = ? AND day = ?{where} RETURNING day",
                (DigestStatus(status).value, iso(now), recipient, error, unit_code, iso(day), *held),
            )
        )
        return row is not None

    async def retry_digest(
        self,
        unit_code: str,
        day: date,
        error: str,
        next_attempt_at: datetime,
        *,
        claimed_at: datetime | None = None,
    ) -> int:
        where, held = held_claim(claimed_at, SENDING_SINCE)
        row = await self.db.write(
            lambda db: first(
                db,
                "UPDATE digests SET status = 'retrying', attempts = attempts + 1, error = ?,"
                f" next_attempt_at = ? WHERE unit_code = ? AND day = ?{where} RETURNING attempts",
                (error, iso(next_attempt_at), unit_code, iso(day), *held),
            )
        )
        return int(row[0]) if row else 0

    async def due_digests(self, day: date, now: datetime, *, lease: timedelta) -> list[str]:
        rows = await self.db.read(
            "SELECT unit_code FROM digests WHERE day = ? AND ((status = 'retrying' AND next_attempt_at <= ?)"
            " OR (status = 'sending' AND claimed_at <= ?)) ORDER BY unit_code",
            (iso(day), iso(now), iso(now - lease)),
        )
        return [r["unit_code"] for r in rows]

    async def list_digests(
        self, statuses: Sequence[DigestStatus], *, since: date | None = None
    ) -> list[DigestRecord]:
        values = [s.value for s in statuses]
        rows = await self.db.read(
            "SELECT unit_code, day, status, claimed_at, sent_at, recipient, attempts, error, next_attempt_at"
            f" FROM digests WHERE status IN ({placeholders(values)}) AND day >= ? ORDER BY day, unit_code",
            (*values, iso(since) if since is not None else ""),
        )
        return [DigestRecord.model_validate(dict(r)) for r in rows]
