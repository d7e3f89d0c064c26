"""Apology letters and their deliveries (each claimed for a lease before it is sent, as the outbox's
invitations are), and the reads of lateness: open dossiers by due day, the lateness table."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from storage.base import LetterRepository
from storage.records import (
    DossierAlert,
    DueCutoffs,
    DueDossier,
    Letter,
    LetterDelivery,
    LetterStatus,
    UnitLateness,
)
from storage.sql.common import (
    DIALECTS,
    SQLITE,
    Connection,
    Database,
    Dialect,
    Row,
    days_from,
    first,
    flag,
    held_claim,
    iso,
    json_list,
    json_record,
    placeholders,
    record_audit,
)

_DELIVERY_COLUMNS = (
    "x.id, x.letter_id, l.dossier_id, x.channel, x.chat_id, x.status, x.attempts, x.created_at, x.sent_at,"
    " x.error, x.next_attempt_at"
)
_DELIVERY = f"SELECT {_DELIVERY_COLUMNS} FROM letter_deliveries x JOIN letters l ON l.id = x.letter_id"
# A letter with its deliveries, in one statement: the deliveries as a JSON array, in order.
_DELIVERY_FIELDS = (
    ("dossier_id", "l.dossier_id"),
    *((field, f"x.{field}") for field in ("id", "letter_id", "channel", "chat_id", "status", "attempts",
                                          "created_at", "sent_at", "error", "next_attempt_at")),
)  # fmt: skip
_LETTERS = {
    dialect: "SELECT l.id, l.dossier_id, d.code AS dossier_code, d.unit_code, l.event_id, l.reason, l.due_on,"
    " l.new_due_at, l.issued_at, l.created_at, l.rescheduled_twice, (SELECT"
    f" {json_list(dialect, json_record(dialect, *_DELIVERY_FIELDS), order='x.id')}"
    " FROM (SELECT * FROM letter_deliveries WHERE letter_id = l.id ORDER BY id) x) AS deliveries"
    " FROM letters l JOIN dossiers d ON d.id = l.dossier_id"
    for dialect in DIALECTS
}
# Delivered nowhere, and nothing still trying.
_TO_PRINT = (
    " AND NOT EXISTS (SELECT 1 FROM letter_deliveries x WHERE x.letter_id = l.id"
    " AND x.status IN ('sent', 'pending'))"
)
# Whether a dossier's (d) citizen may be reached by ZNS: a phone, and no wish for another channel
# (nor for none: a channel hint `none` is a citizen who asked not to be contacted).
BY_ZNS = "d.phone IS NOT NULL AND COALESCE(d.channel_hint, 'zalo') IN ('zalo', 'zalo_oa')"
_ALERT = (
    "SELECT a.id, a.dossier_id, d.code AS dossier_code, d.procedure, d.citizen_name, d.due_on,"
    " u.name AS dossier_unit_name, a.kind, a.unit_code, a.person_id, a.letter_id, l.reason, l.new_due_at,"
    " a.created_at, a.announced_at, a.outcome, a.attempts FROM dossier_alerts a"
    " JOIN dossiers d ON d.id = a.dossier_id JOIN units u ON u.code = d.unit_code"
    " LEFT JOIN letters l ON l.id = a.letter_id"
)


def letter(row: Row) -> Letter:
    data = dict(row)
    data["deliveries"] = json.loads(data["deliveries"] or "[]")
    return Letter.model_validate(data)


def record_letter(db: Connection, dossier_id: int, event: Row, now: datetime) -> int:
    """Inside the caller's transaction: the letter of a new `extended` event and its deliveries, to
    every chat linked to the dossier; else a ZNS message to its phone; else the record that nothing
    reaches the citizen. Returns the letter's id."""
    at = iso(now)
    row = first(
        db,
        "INSERT INTO letters (dossier_id, event_id, reason, due_on, new_due_at, issued_at, created_at,"
        " rescheduled_twice) SELECT d.id, ?, ?, d.due_on, ?, ?, ?, CASE WHEN EXISTS (SELECT 1 FROM"
        " dossier_events e WHERE e.dossier_id = d.id AND e.type = 'extended' AND e.id != ?) THEN 1 ELSE 0 END"
        " FROM dossiers d WHERE d.id = ?"
        " RETURNING id",
        (event["id"], event["reason"] or "", event["new_due_at"], event["at"], at, event["id"], dossier_id),
    )
    assert row is not None
    letter_id = int(row["id"])
    # Rescheduled twice: the unit's head and the head above are told.
    db.execute(
        "INSERT INTO dossier_alerts (dossier_id, kind, unit_code, letter_id, created_at)"
        " SELECT d.id, 'rescheduled_twice', u.code, l.id, ?"
        " FROM letters l JOIN dossiers d ON d.id = l.dossier_id JOIN units own ON own.code = d.unit_code"
        " JOIN units u ON u.code IN (own.code, own.parent_code)"
        " WHERE l.id = ? AND l.rescheduled_twice = 1 ORDER BY u.code = own.code DESC",
        (at, letter_id),
    )
    chats = db.execute(
        "INSERT INTO letter_deliveries (letter_id, channel, chat_id, created_at)"
        " SELECT ?, channel, chat_id, ? FROM dossier_chats WHERE dossier_id = ? ORDER BY linked_at",
        (letter_id, at, dossier_id),
    ).rowcount
    if chats:
        return letter_id
    zns = db.execute(
        "INSERT INTO letter_deliveries (letter_id, channel, chat_id, created_at)"
        f" SELECT ?, 'zns', d.phone, ? FROM dossiers d WHERE d.id = ? AND {BY_ZNS}",
        (letter_id, at, dossier_id),
    ).rowcount
    if not zns:
        db.execute(
            "INSERT INTO letter_deliveries (letter_id, status, created_at, sent_at, error)"
            " VALUES (?, 'no_channel', ?, ?, 'no chat and no phone reaches the citizen')",
            (letter_id, at, at),
        )
    return letter_id


def letter_by_id(db: Connection, letter_id: int) -> Row | None:
    return first(db, f"{_LETTERS[db.dialect]} WHERE l.id = ?", (letter_id,))


class SqlLetters(LetterRepository):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get_letter(self, letter_id: int) -> Letter | None:
        row = await self.db.read_one(f"{_LETTERS[self.db.dialect]} WHERE l.id = ?", (letter_id,))
        return letter(row) if row else None

    async def letters_of_dossier(self, dossier_id: int) -> list[Letter]:
        rows = await self.db.read(
            f"{_LETTERS[self.db.dialect]} WHERE l.dossier_id = ? ORDER BY l.id", (dossier_id,)
        )
        return [letter(r) for r in rows]

    async def list_letters(
        self, unit_codes: Sequence[str] | None = None, *, to_print: bool = False, limit: int = 1000
    ) -> list[Letter]:
        where, params = "", list[Any]()
        if unit_codes is not None:
            where += f" AND d.unit_code IN ({placeholders(unit_codes)})"
            params += list(unit_codes)
        if to_print:
            where += _TO_PRINT
        rows = await self.db.read(
            f"{_LETTERS[self.db.dialect]} WHERE TRUE{where} ORDER BY l.id DESC LIMIT ?", (*params, limit)
        )
        return [letter(r) for r in reversed(rows)]

    async def pending_letter_deliveries(self, limit: int = 100, after_id: int = 0) -> list[LetterDelivery]:
        rows = await self.db.read(
            f"{_DELIVERY} WHERE x.status = 'pending' AND x.id > ? ORDER BY x.id LIMIT ?", (after_id, limit)
        )
        return [LetterDelivery.model_validate(dict(r)) for r in rows]

    async def claim_letter_delivery(self, delivery_id: int, now: datetime, until: datetime) -> bool:
        row = await self.db.write(
            lambda db: first(
                db,
                "UPDATE letter_deliveries SET next_attempt_at = ? WHERE id = ? AND status = 'pending'"
                " AND (next_attempt_at IS NULL OR next_attempt_at <= ?) RETURNING id",
                (iso(until), delivery_id, iso(now)),
            )
        )
        return row is not None

    async def finish_letter_delivery(
        self,
        delivery_id: int,
        status: LetterStatus,
        now: datetime,
        error: str | None = None,
        *,
        claimed_until: datetime | None = None,
    ) -> bool:
        where, held = held_claim(claimed_until)
        row = await self.db.write(
            lambda db: first(
                db,
                "UPDATE letter_deliveries SET status = ?, sent_at = ?, error = ?, next_attempt_at = NULL"
                f" WHERE id = ?{where} RETURNING id",
                (status.value, iso(now), error, delivery_id, *held),
            )
        )
        return row is not None

    async def retry_letter_delivery(
        self,
        delivery_id: int,
        error: str,
        next_attempt_at: datetime | None = None,
        *,
        claimed_until: datetime | None = None,
    ) -> int:
        where, held = held_claim(claimed_until)
        row = await self.db.write(
            lambda db: first(
                db,
                "UPDATE letter_deliveries SET attempts = attempts + 1, error = ?, next_attempt_at = ?"
                f" WHERE id = ?{where} RETURNING attempts",
                (error, iso(next_attempt_at), delivery_id, *held),
            )
        )
        return int(row[0]) if row else 0

    async def open_dossiers_due(
        self, unit_codes: Sequence[str] | None, *, due_after: date | None, due_until: date
    ) -> list[DueDossier]:
        where, params = "", list[Any]([iso(due_until)])
        if due_after is not None:
            where += " AND d.due_on > ?"
            params.append(iso(due_after))
        if unit_codes is not None:
            where += f" AND d.unit_code IN ({placeholders(unit_codes)})"
            params += list(unit_codes)
        rows = await self.db.read(
            "SELECT d.id, d.code, d.unit_code, d.procedure, d.due_on, d.citizen_name,"
            " EXISTS (SELECT 1 FROM letters l WHERE l.dossier_id = d.id) AS extended"
            " FROM dossiers d INDEXED BY dossiers_open_due WHERE d.returned_at IS NULL AND d.due_on <= ?"
            f"{where} AND d.state IS NOT 'withdrawn' ORDER BY d.due_on, d.code",
            params,
        )
        # Tens of thousands of rows: built without validation, from columns of the types declared.
        return [
            DueDossier.model_construct(
                id=r[0], code=r[1], unit_code=r[2], procedure=r[3], due_on=date.fromisoformat(r[4]),
                citizen_name=r[5], extended=bool(r[6]),
            )
            for r in rows
        ]  # fmt: skip

    async def returned_due_days(self, start: datetime, end: datetime) -> tuple[date, date] | None:
        row = await self.db.read_one(
            "WITH r AS (SELECT id, due_on FROM dossiers WHERE returned_at >= ? AND returned_at < ?),"
            " days AS (SELECT due_on FROM r UNION ALL"
            " SELECT l.due_on FROM letters l JOIN r ON r.id = l.dossier_id)"
            " SELECT MIN(due_on), MAX(due_on) FROM days WHERE due_on IS NOT NULL",
            (iso(start), iso(end)),
        )
        if row is None or row[0] is None:
            return None
        return date.fromisoformat(row[0]), date.fromisoformat(row[1])

    async def lateness(
        self,
        start: datetime,
        end: datetime,
        cutoffs: Mapping[date, DueCutoffs],
        unit_codes: Sequence[str] | None = None,
    ) -> dict[str, UnitLateness]:
        if not cutoffs:
            cutoffs = {date(2000, 1, 1): DueCutoffs(late_from=NEVER, letter_by=NEVER)}
        first, last = min(cutoffs), max(cutoffs)
        late_from, letter_by = by_day(cutoffs, first, last)
        where, params = "", list[Any]([iso(first), iso(last), late_from, letter_by, iso(start), iso(end)])
        if unit_codes is not None:
            where = f" AND d.unit_code IN ({placeholders(unit_codes)})"
            params += list(unit_codes)
        # The cut-off of a due day is looked up by position in a blob of fixed-width instants (a
        # join with the days given, or text positions, cost seconds over a year's returns).
        dialect = self.db.dialect
        if dialect != SQLITE:  # PostgreSQL's substr reads text, not bytes
            params[2:4] = [late_from.decode("ascii"), letter_by.decode("ascii")]
        late_from_due, letter_by_due = (
            _instant_of(dialect, "d.due_on", 3),
            _instant_of(dialect, "l.due_on", 4),
        )
        rows = await self.db.read(
            "WITH returned AS MATERIALIZED (SELECT d.unit_code,"
            f" {flag(f'{late_from_due} <= d.returned_at')} AS late,"
            f" (SELECT MAX({flag(f'l.issued_at < {letter_by_due}')}) FROM letters l"
            " WHERE l.dossier_id = d.id) AS on_time"
            " FROM dossiers d INDEXED BY dossiers_returned WHERE d.returned_at >= ?5 AND d.returned_at < ?6"
            f"{where})"
            " SELECT unit_code, COUNT(*) AS returned, SUM(late) AS returned_late,"
            f" SUM({flag('on_time = 1')}) AS letters_on_time,"
            f" SUM({flag('on_time = 0')}) AS letters_late,"
            f" SUM({flag('late = 1 AND on_time IS NULL')}) AS letters_missing"
            " FROM returned GROUP BY unit_code",
            params,
        )
        return {
            r["unit_code"]: UnitLateness(
                returned=r["returned"], returned_late=r["returned_late"],
                letters_on_time=r["letters_on_time"], letters_late=r["letters_late"],
                letters_missing=r["letters_missing"],
            )
            for r in rows
        }  # fmt: skip

    async def letters_issued(
        self, start: datetime, end: datetime, unit_codes: Sequence[str] | None = None
    ) -> list[Letter]:
        where, params = "", list[Any]([iso(start), iso(end)])
        if unit_codes is not None:
            where = f" AND d.unit_code IN ({placeholders(unit_codes)})"
            params += list(unit_codes)
        rows = await self.db.read(
            f"{_LETTERS[self.db.dialect]} WHERE l.issued_at >= ? AND l.issued_at < ?{where} ORDER BY l.id",
            params,
        )
        return [letter(r) for r in rows]

    async def delegate_extension(self, dossier_id: int, person_id: int, *, actor: str, now: datetime) -> bool:
        def delegate(db: Connection) -> bool:
            found = first(
                db,
                "UPDATE dossiers SET extension_delegate_id = ?1 WHERE id = ?2"
                " AND extension_delegate_id IS NOT ?1 RETURNING code, unit_code",
                (person_id, dossier_id),
            )
            if found is None:
                return False
            db.execute(
                "INSERT INTO dossier_alerts (dossier_id, kind, unit_code, person_id, created_at)"
                " VALUES (?, 'extension_delegated', ?, ?, ?)",
                (dossier_id, found["unit_code"], person_id, iso(now)),
            )
            record_audit(db, actor, "extension delegated", f"{found['code']} to person:{person_id}", now)
            return True

        return await self.db.write(delegate)

    async def waiting_alerts(
        self, now: datetime, *, lease: timedelta, limit: int = 500
    ) -> list[DossierAlert]:
        rows = await self.db.read(
            f"{_ALERT} WHERE a.outcome IS NULL"
            " AND ((a.announced_at IS NULL AND (a.next_attempt_at IS NULL OR a.next_attempt_at <= ?))"
            " OR a.announced_at < ?) ORDER BY a.id LIMIT ?",
            (iso(now), iso(now - lease), limit),
        )
        return [DossierAlert.model_validate(dict(r)) for r in rows]

    async def claim_alerts(self, alert_ids: Sequence[int], now: datetime, *, lease: timedelta) -> list[int]:
        if not alert_ids:
            return []

        def claim(db: Connection) -> list[int]:
            rows = db.execute(
                f"UPDATE dossier_alerts SET announced_at = ? WHERE id IN ({placeholders(alert_ids)})"
                " AND outcome IS NULL AND (announced_at IS NULL OR announced_at < ?) RETURNING id",
                (iso(now), *alert_ids, iso(now - lease)),
            ).fetchall()
            return sorted(int(r[0]) for r in rows)

        return await self.db.write(claim)

    async def finish_alert(self, alert_id: int, outcome: str, *, claimed_at: datetime | None = None) -> bool:
        where, held = held_claim(claimed_at, ALERT_ANNOUNCED)
        row = await self.db.write(
            lambda db: first(
                db,
                f"UPDATE dossier_alerts SET outcome = ? WHERE id = ?{where} RETURNING id",
                (outcome, alert_id, *held),
            )
        )
        return row is not None

    async def retry_alert(
        self, alert_id: int, error: str, next_attempt_at: datetime, *, claimed_at: datetime | None = None
    ) -> int:
        where, held = held_claim(claimed_at, ALERT_ANNOUNCED)
        row = await self.db.write(
            lambda db: first(
                db,
                "UPDATE dossier_alerts SET announced_at = NULL, attempts = attempts + 1, next_attempt_at = ?,"
                f" outcome = NULL WHERE id = ?{where} RETURNING attempts",
                (iso(next_attempt_at), alert_id, *held),
            )
        )
        return int(row[0]) if row else 0


# An alert still under the claim made at `announced_at` (a later claim writes a later one).
ALERT_ANNOUNCED = " AND outcome IS NULL AND announced_at = ?"


# A due day's instant, read from a blob of WIDTH-byte UTC times, one a day from ?1 to ?2; a day
# outside them (or none) gets NEVER: no due day, nothing to be late for.
WIDTH = 25
NEVER = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def _instant_of(dialect: Dialect, day: str, blob: int) -> str:
    return (
        f"CASE WHEN {day} BETWEEN ?1 AND ?2 THEN CAST(substr(?{blob}, {days_from(dialect, '?1', day)}"
        f" * {WIDTH} + 1, {WIDTH}) AS TEXT) ELSE '{_second(NEVER)}' END"
    )


def _second(at: datetime) -> str:
    """A time as stored (iso), to the second: every one WIDTH characters."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def by_day(cutoffs: Mapping[date, DueCutoffs], first: date, last: date) -> tuple[bytes, bytes]:
    """The cut-offs of every day from first to last as two blobs (late_from, letter_by); a day not
    given gets NEVER."""
    late, letter = [], []
    for n in range((last - first).days + 1):
        given = cutoffs.get(first + timedelta(days=n))
        late.append(_second(given.late_from if given else NEVER))
        letter.append(_second(given.letter_by if given else NEVER))
    return "".join(late).encode("ascii"), "".join(letter).encode("ascii")
