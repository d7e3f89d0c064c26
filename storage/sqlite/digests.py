"""What the daily digest counts, and which digests went (each unit and day claimed once)."""

from __future__ import annotations

from datetime import date, datetime

from storage.base import DigestRepository
from storage.records import OPEN_STATES, CaseCounts, UnitFigures
from storage.sqlite.db import Database, first, iso

_OPEN = ", ".join(f"'{s.value}'" for s in OPEN_STATES)  # constants, not input


class SQLiteDigests(DigestRepository):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def figures_by_unit(self, start: datetime, end: datetime) -> dict[str, UnitFigures]:
        rows = await self.db.read(
            "SELECT d.unit_code, COUNT(*) AS answers, SUM(a.rating = 'satisfied') AS satisfied,"
            " SUM(a.rating = 'neutral') AS neutral, SUM(a.rating = 'unsatisfied') AS unsatisfied"
            " FROM answers a JOIN dossiers d ON d.id = a.dossier_id"
            " WHERE a.answered_at >= ? AND a.answered_at < ? GROUP BY d.unit_code",
            (iso(start), iso(end)),
        )
        return {r["unit_code"]: UnitFigures.model_validate(dict(r)) for r in rows}

    async def case_counts(self, day: date) -> dict[str, CaseCounts]:
        rows = await self.db.read(
            f"SELECT c.unit_code, SUM(c.state IN ({_OPEN})) AS open,"
            f" SUM(c.state IN ({_OPEN}) AND c.deadline < ?) AS overdue,"
            " SUM(c.opened_at > COALESCE(last.sent_at, '')) AS new, last.sent_at AS last_digest_at"
            " FROM cases c LEFT JOIN (SELECT unit_code, MAX(sent_at) AS sent_at FROM digests"
            " WHERE status IN ('sent', 'empty') GROUP BY unit_code) last ON last.unit_code = c.unit_code"
            " GROUP BY c.unit_code",
            (iso(day),),
        )
        return {r["unit_code"]: CaseCounts.model_validate(dict(r)) for r in rows}

    async def claim_digest(self, unit_code: str, day: date, now: datetime) -> bool:
        row = await self.db.write(
            lambda db: first(
                db,
                "INSERT INTO digests (unit_code, day, status, claimed_at) VALUES (?, ?, 'sending', ?)"
                " ON CONFLICT (unit_code, day) DO UPDATE"
                " SET status = 'sending', claimed_at = excluded.claimed_at"
                " WHERE digests.status = 'empty' RETURNING day",
                (unit_code, iso(day), iso(now)),
            )
        )
        return row is not None

    async def finish_digest(
        self, unit_code: str, day: date, status: str, now: datetime, recipient: str | None = None
    ) -> None:
        await self.db.execute(
            "UPDATE digests SET status = ?, sent_at = ?, recipient = ? WHERE unit_code = ? AND day = ?",
            (status, iso(now), recipient, unit_code, iso(day)),
        )
