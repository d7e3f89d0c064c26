"""What reports count, each figure one grouped statement over a period's rows, and the answers
collected elsewhere (imported with no dossier: their own unit and procedure, and an import key
that keeps a row from being stored twice).

An answer carries its unit and procedure (an imported one as imported, the bot's copied from its
dossier by the triggers of migration 016): a year's answers are grouped from an index alone.
Every statement takes its parameters numbered (?1, ?2, ...) through `_Params`, so that a value used
twice (a span's end, a cut-off blob) is passed once."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from storage.base import ReportRepository
from storage.records import (
    ComplaintCounts,
    FactorCount,
    ImportedAnswer,
    RatingCounts,
    ReportBy,
    ReportSpan,
    ReturnedCounts,
)
from storage.sql.common import (
    RATING_COUNTS,
    SENDING_SINCE,
    SQLITE,
    Connection,
    Database,
    Dialect,
    days_from,
    first,
    flag,
    held_claim,
    hours_between,
    iso,
    json_list,
)

IMPORTED_QUESTION_SET = "(imported)"  # recorded under no question set: no set id has parentheses
_UNIT = "a.unit_code"
_PROCEDURE = "a.procedure"
# Fixed-width UTC instants, one a day, looked up by position (as storage/sqlite/letters.py does).
_WIDTH = 25
_NEVER = "9999-12-31T23:59:59+00:00"
UNSATISFIED_OR_COMPLAINT = (
    "a.rating = 'unsatisfied' OR EXISTS (SELECT 1 FROM cases c WHERE c.dossier_id = r.id)"
)
REOPENED = "EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.action = 'reopened')"


class _Params:
    """Numbered parameters: each value passed once, its placeholder used wherever it is needed."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"?{len(self.values)}"

    def many(self, values: Sequence[Any]) -> str:
        return ", ".join(self(v) for v in values) or "NULL"


def _spans(spans: Sequence[ReportSpan], p: _Params) -> str:
    rows = ", ".join(f"({p(s.key)}, {p(iso(s.start))}, {p(iso(s.end))})" for s in spans)
    return f"spans(key, s, e) AS (VALUES {rows or '(NULL, NULL, NULL)'})"


def _day_lookup(dialect: Dialect, column: str, instants: Mapping[date, datetime], p: _Params) -> str:
    """The instant given for the day in `column` (a day not given, or none: _NEVER), as text."""
    if not instants:
        return f"'{_NEVER}'"
    first, last = min(instants), max(instants)
    blob = "".join(
        _second(instants[day]) if day in instants else _NEVER
        for day in (first + timedelta(days=n) for n in range((last - first).days + 1))
    )
    # SQLite reads the blob by bytes (faster than by characters); PostgreSQL's substr reads text.
    f, la, b = p(iso(first)), p(iso(last)), p(blob.encode("ascii") if dialect == SQLITE else blob)
    return (
        f"CASE WHEN {column} BETWEEN {f} AND {la} THEN CAST(substr({b}, {days_from(dialect, f, column)}"
        f" * {_WIDTH} + 1, {_WIDTH}) AS TEXT) ELSE '{_NEVER}' END"
    )


def _second(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _unit_filter(column: str, unit_codes: Sequence[str] | None, p: _Params) -> str:
    return "" if unit_codes is None else f" AND {column} IN ({p.many(unit_codes)})"


class SqlReports(ReportRepository):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def rating_counts(
        self, spans: Sequence[ReportSpan], by: ReportBy, unit_codes: Sequence[str] | None
    ) -> dict[str, RatingCounts]:
        p = _Params()
        key = {
            ReportBy.UNIT: _UNIT, ReportBy.PROCEDURE: _PROCEDURE, ReportBy.CHANNEL: "a.channel",
            ReportBy.MONTH: "spans.key",
        }[by]  # fmt: skip
        rows = await self.db.read(
            f"WITH {_spans(spans, p)} SELECT {key} AS key, COUNT(*) AS answers, {RATING_COUNTS}"
            " FROM spans CROSS JOIN answers a INDEXED BY answers_report"
            f" WHERE a.answered_at >= spans.s AND a.answered_at < spans.e{_unit_filter(_UNIT, unit_codes, p)}"
            " GROUP BY 1",
            p.values,
        )
        return {r["key"]: RatingCounts.model_validate(dict(r)) for r in rows if r["key"] is not None}

    async def factor_counts(
        self, spans: Sequence[ReportSpan], unit_codes: Sequence[str] | None
    ) -> list[FactorCount]:
        p = _Params()
        if self.db.dialect == SQLITE:
            factor, follow_ups = "json_extract(f.value, '$.factor')", "json_each(a.follow_ups)"
        else:
            factor, follow_ups = "f.value ->> 'factor'", "LATERAL json_array_elements(a.follow_ups::json)"
        rows = await self.db.read(
            f"WITH {_spans(spans, p)}, named AS (SELECT DISTINCT a.id, a.rating, {factor} AS factor"
            f" FROM spans CROSS JOIN answers a INDEXED BY answers_named, {follow_ups} f"
            " WHERE a.answered_at >= spans.s AND a.answered_at < spans.e AND a.follow_ups != '[]'"
            f"{_unit_filter(_UNIT, unit_codes, p)})"
            " SELECT factor, rating, COUNT(*) AS named FROM named WHERE factor IS NOT NULL"
            " GROUP BY factor, rating ORDER BY factor, rating",
            p.values,
        )
        return [FactorCount.model_validate(dict(r)) for r in rows]

    async def returned_counts(
        self,
        spans: Sequence[ReportSpan],
        by: ReportBy,
        unit_codes: Sequence[str] | None,
        late_from: Mapping[date, datetime],
    ) -> dict[str, ReturnedCounts]:
        if by is ReportBy.CHANNEL:
            return {}  # a dossier is returned at a desk, not on a channel
        p = _Params()
        key = {
            ReportBy.UNIT: "d.unit_code", ReportBy.PROCEDURE: "d.procedure", ReportBy.MONTH: "spans.key",
        }[by]  # fmt: skip
        late = _day_lookup(self.db.dialect, "d.due_on", late_from, p)
        # The period's returned dossiers are read from one covering index and put in the order of
        # their ids, so that their answers and cases are then looked up in the order of the indexes
        # they are in, not at random (a year's returns: seconds less).
        rows = await self.db.read(
            f"WITH {_spans(spans, p)}, r AS MATERIALIZED (SELECT {key} AS key, d.id,"
            f" {flag('d.due_on IS NOT NULL')} AS due,"
            f" {flag(f'd.due_on IS NOT NULL AND d.returned_at >= {late}')} AS late"
            " FROM spans CROSS JOIN dossiers d INDEXED BY dossiers_report"
            " WHERE d.returned_at >= spans.s AND d.returned_at < spans.e AND d.state IS NOT 'withdrawn'"
            f"{_unit_filter('d.unit_code', unit_codes, p)} ORDER BY d.id)"
            f" SELECT r.key, COUNT(*) AS returned, SUM({flag('a.id IS NOT NULL')}) AS answered,"
            " SUM(r.due) AS with_due_day, SUM(r.late) AS late,"
            f" SUM({flag(UNSATISFIED_OR_COMPLAINT)}) AS unsatisfied_or_complaint"
            " FROM r LEFT JOIN answers a INDEXED BY answers_dossier_rating ON a.dossier_id = r.id"
            " GROUP BY r.key",
            p.values,
        )
        return {r["key"]: ReturnedCounts.model_validate(dict(r)) for r in rows if r["key"] is not None}

    async def complaint_counts(
        self,
        spans: Sequence[ReportSpan],
        by: ReportBy,
        unit_codes: Sequence[str] | None,
        deadline_ends: Mapping[date, datetime],
        as_of: datetime,
    ) -> dict[str, ComplaintCounts]:
        p = _Params()
        key = {
            ReportBy.UNIT: "c.unit_code", ReportBy.PROCEDURE: "d.procedure", ReportBy.CHANNEL: "a.channel",
            ReportBy.MONTH: "spans.key",
        }[by]  # fmt: skip
        deadline_end = _day_lookup(self.db.dialect, "c.deadline", deadline_ends, p)
        dialect = self.db.dialect
        hours = json_list(
            dialect, hours_between(dialect, "opened_at", "resolved_at"), where="resolved_at IS NOT NULL"
        )
        now = p(iso(as_of))
        rows = await self.db.read(
            f"WITH {_spans(spans, p)}, k AS MATERIALIZED (SELECT {key} AS key, c.opened_at,"
            f" {deadline_end} AS deadline_end,"
            " (SELECT MIN(e.at) FROM case_events e WHERE e.case_id = c.id AND e.action = 'resolved')"
            " AS resolved_at,"
            f" {flag(REOPENED)} AS reopened"
            " FROM spans CROSS JOIN cases c JOIN dossiers d ON d.id = c.dossier_id"
            " LEFT JOIN answers a ON a.dossier_id = c.dossier_id"
            " WHERE c.opened_at >= spans.s AND c.opened_at < spans.e"
            f"{_unit_filter('c.unit_code', unit_codes, p)}),"
            f" j AS (SELECT *, {flag(f'COALESCE(resolved_at, {now}) >= deadline_end')} AS overdue FROM k)"
            " SELECT key, COUNT(*) AS opened,"
            f" SUM({flag('resolved_at IS NOT NULL AND resolved_at < deadline_end')}) AS resolved_on_time,"
            " SUM(overdue) AS overdue, SUM(reopened) AS reopened,"
            f" SUM({flag('reopened = 1 OR overdue = 1')}) AS reopened_or_overdue,"
            f" {hours} AS hours"
            " FROM j GROUP BY key",
            p.values,
        )
        return {
            r["key"]: ComplaintCounts(
                opened=r["opened"], resolved_on_time=r["resolved_on_time"], overdue=r["overdue"],
                reopened=r["reopened"], reopened_or_overdue=r["reopened_or_overdue"],
                hours_to_resolve=tuple(json.loads(r["hours"])),
            )
            for r in rows
            if r["key"] is not None
        }  # fmt: skip

    async def import_answers(self, answers: Sequence[ImportedAnswer], now: datetime) -> int:
        rows = [
            (
                a.channel, "", IMPORTED_QUESTION_SET, a.rating.value, a.rating_option,
                json.dumps([{"question_id": "factor", "option_id": a.factor, "factor": a.factor}] if a.factor
                           else []),
                iso(a.answered_at), iso(now), a.unit_code, a.procedure, a.import_key,
            )
            for a in answers
        ]  # fmt: skip

        def store(db: Connection) -> int:
            stored = 0
            for row in rows:
                # No chat answered: chat_id is empty.
                stored += db.execute(
                    "INSERT INTO answers (channel, chat_id, question_set, question_set_version, rating,"
                    " rating_option, follow_ups, answered_at, completed_at, unit_code, procedure, import_key)"
                    " VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (import_key) DO NOTHING",
                    row,
                ).rowcount
            return stored

        return await self.db.write(store)

    async def claim_monthly_report(self, scope: str, month: str, now: datetime, *, lease: timedelta) -> bool:
        row = await self.db.write(
            lambda db: first(
                db,
                "INSERT INTO monthly_reports (scope, month, status, claimed_at) VALUES (?, ?, 'sending', ?)"
                " ON CONFLICT (scope, month) DO UPDATE SET status = 'sending',"
                " claimed_at = excluded.claimed_at WHERE monthly_reports.status = 'failed'"
                " OR (monthly_reports.status = 'sending' AND monthly_reports.claimed_at <= ?)"
                " RETURNING month",
                (scope, month, iso(now), iso(now - lease)),
            )
        )
        return row is not None

    async def finish_monthly_report(
        self, scope: str, month: str, now: datetime, *, sent: bool, claimed_at: datetime | None = None
    ) -> bool:
        where, held = held_claim(claimed_at, SENDING_SINCE)
        row = await self.db.write(
            lambda db: first(
                db,
                f"UPDATE monthly_reports SET status = ?, sent_at = ? WHERE scope = ? AND month = ?{where}"
                " RETURNING month",
                ("sent" if sent else "failed", iso(now), scope, month, *held),
            )
        )
        return row is not None
