"""Dossiers, the chats waiting for their survey, wrong survey codes typed, and what the one-stop
software says of dossiers: their facts, their history, and the answers it reads back."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from datetime import date, datetime
from operator import itemgetter
from typing import Any

from storage.base import (
    DossierRepository,
    DuplicateDossier,
    OutOfScope,
    UnknownDossier,
    UnknownUnit,
)
from storage.records import (
    AnswerExport,
    Dossier,
    DossierEvent,
    DossierEventFacts,
    DossierEventType,
    DossierFacts,
    EventResult,
    NewDossier,
    PutOutcome,
    PutResult,
)
from storage.sql.common import (
    SQLITE,
    Connection,
    Database,
    Row,
    first,
    iso,
    placeholders,
    record_audit,
    record_audits,
)
from storage.sql.letters import BY_ZNS, letter, letter_by_id, record_letter

DOSSIER_WITH_UNIT = (
    "SELECT d.id, d.code, d.unit_code, d.procedure, d.received_on, d.due_on, d.returned_at, d.link_id,"
    " d.created_at, d.survey_code, u.name AS unit_name,"
    " EXISTS (SELECT 1 FROM answers a WHERE a.dossier_id = d.id) AS answered,"
    " d.received_at, d.due_at, d.citizen_name, d.phone, d.channel_hint, d.state, d.updated_at,"
    " d.extension_delegate_id, d.erased_at FROM dossiers d JOIN units u ON u.code = d.unit_code"
)
# The facts put_dossiers compares, as columns of `dossiers`, in the order an audit entry names them.
FACT_COLUMNS = (
    "unit_code", "procedure", "received_at", "due_at", "received_on", "due_on", "citizen_name", "phone",
    "channel_hint",
)  # fmt: skip
PERSONAL = ("citizen_name", "phone")  # facts erased on request or after the retention period
# Codes looked up at once: well under SQLite's limit on parameters, old versions' 999 included.
CHUNK = 500
_EVENT_COLUMNS = "id, dossier_id, type, at, reason, until, new_due_at, recorded_at, recorded_by"
_EVENT = f"SELECT {_EVENT_COLUMNS} FROM dossier_events"


def dossier(row: Row) -> Dossier:
    # Not dict(row): a Row finds each name by walking its columns, a cost put_dossiers's batches feel.
    return Dossier.model_validate(dict(zip(row.keys(), row, strict=True)))


def dossier_event(row: Row) -> DossierEvent:
    return DossierEvent.model_validate(dict(row))


def stored_facts(facts: DossierFacts) -> tuple[str | None, ...]:
    """The facts as stored, in the order of FACT_COLUMNS: times as UTC text, so equal instants
    given with different offsets are the same fact."""
    return (
        facts.unit_code, facts.procedure, iso(facts.received_at), iso(facts.due_at), iso(facts.received_on),
        iso(facts.due_on), facts.citizen_name, facts.phone, facts.channel_hint,
    )  # fmt: skip


def chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def dossiers_by_code(db: Connection, codes: Sequence[str]) -> dict[str, Row]:
    """The stored dossiers among these codes, one SELECT a chunk."""
    found: dict[str, Row] = {}
    for chunk in chunks(codes):
        for row in db.execute(f"{DOSSIER_WITH_UNIT} WHERE d.code IN ({placeholders(chunk)})", chunk):
            found[row["code"]] = row
    return found


def facts_of(rows: dict[str, Row]) -> dict[str, tuple[str | None, ...]]:
    """The facts of stored dossiers, as stored_facts gives them. Picked by position: a Row looks
    each name up along its columns."""
    if not rows:
        return {}
    columns = next(iter(rows.values())).keys()
    pick = itemgetter(*(columns.index(c) for c in FACT_COLUMNS))
    return {code: pick(row) for code, row in rows.items()}


def changed_facts(was: tuple[str | None, ...], now: tuple[str | None, ...]) -> list[str]:
    return [name for name, old, new in zip(FACT_COLUMNS, was, now, strict=True) if old != new]


def update_facts(
    db: Connection, changes: Sequence[tuple[int, tuple[str | None, ...], tuple[str | None, ...]]], at: str
) -> None:
    """Writes each change (dossier id, facts stored, facts now) to the columns that differ only,
    one statement a set of them: a column left alone costs no index or foreign-key work."""
    by_columns: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for dossier_id, was, now in changes:
        differ = [n for n, (old, new) in enumerate(zip(was, now, strict=True)) if old != new]
        by_columns.setdefault(tuple(FACT_COLUMNS[n] for n in differ), []).append(
            (*(now[n] for n in differ), at, dossier_id)
        )
    for columns, params in by_columns.items():
        # A dossier whose personal data was erased does not take a name or phone again.
        assignments = "".join(
            f"{column} = CASE WHEN erased_at IS NULL THEN ? END, "
            if column in PERSONAL
            else f"{column} = ?, "
            for column in columns
        )
        db.executemany(f"UPDATE dossiers SET {assignments}updated_at = ? WHERE id = ?", params)


def unit_names(db: Connection, codes: Sequence[str]) -> dict[str, str]:
    """The names of the units among these codes that are in the directory."""
    names: dict[str, str] = {}
    for chunk in chunks(codes):
        names.update(db.execute(f"SELECT code, name FROM units WHERE code IN ({placeholders(chunk)})", chunk))
    return names


def new_ids(db: Connection, count: int) -> list[int]:
    """The ids the next `count` dossiers get, as the database would give them: on SQLite one more
    than the largest, and on; on PostgreSQL taken from the column's sequence, which a dossier
    added another way (add_dossier) also takes from, so the two never collide."""
    if db.dialect == SQLITE:
        row = first(db, "SELECT COALESCE(MAX(id), 0) + 1 FROM dossiers")
        assert row is not None
        return list(range(int(row[0]), int(row[0]) + count))
    rows = db.execute(
        "SELECT nextval(pg_get_serial_sequence('dossiers', 'id')) FROM generate_series(1, ?)", (count,)
    ).fetchall()
    return [int(r[0]) for r in rows]


def queue_invitations(db: Connection, dossier_id: int, at: datetime) -> None:
    """An invitation for every chat that opened the dossier's link; with none, one by ZNS to the
    dossier's phone (the `rating` template), if it has one; none twice."""
    linked = db.execute(
        "INSERT OR IGNORE INTO invitations (dossier_id, channel, chat_id, created_at)"
        " SELECT dossier_id, channel, chat_id, ? FROM dossier_chats WHERE dossier_id = ?",
        (iso(at), dossier_id),
    ).rowcount
    if not linked:
        db.execute(
            "INSERT OR IGNORE INTO invitations (dossier_id, channel, chat_id, created_at)"
            f" SELECT d.id, 'zns', d.phone, ? FROM dossiers d WHERE d.id = ? AND {BY_ZNS}"
            " AND NOT EXISTS (SELECT 1 FROM dossier_chats c WHERE c.dossier_id = d.id)",
            (iso(at), dossier_id),
        )


def factors(follow_ups: str) -> list[str]:
    """The SIPAS factors an answer's follow-ups stand for, in order, each once."""
    return list(dict.fromkeys(f["factor"] for f in json.loads(follow_ups) if f.get("factor") is not None))


class SqlDossiers(DossierRepository):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_dossier(
        self,
        *,
        code: str,
        unit_code: str,
        procedure: str,
        link_id: str,
        now: datetime,
        received_on: date | None = None,
        due_on: date | None = None,
        returned_at: datetime | None = None,
        survey_code: str | None = None,
    ) -> Dossier:
        values = (
            code, unit_code, procedure, iso(received_on), iso(due_on), iso(returned_at), link_id,
            iso(now), survey_code,
        )  # fmt: skip

        def add(db: Connection) -> Row | None:
            if first(db, "SELECT 1 FROM units WHERE code = ?", (unit_code,)) is None:
                raise UnknownUnit(unit_code)
            inserted = first(
                db,
                "INSERT INTO dossiers (code, unit_code, procedure, received_on, due_on, returned_at,"
                " link_id, created_at, survey_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (code) DO NOTHING RETURNING id",
                values,
            )
            if inserted is None:
                raise DuplicateDossier(code)
            return first(db, f"{DOSSIER_WITH_UNIT} WHERE d.id = ?", (inserted["id"],))

        row = await self.db.write(add)
        assert row is not None
        return dossier(row)

    async def _one(self, where: str, value: Any) -> Dossier | None:
        row = await self.db.read_one(f"{DOSSIER_WITH_UNIT} WHERE {where} = ?", (value,))
        return dossier(row) if row else None

    async def get_dossier(self, code: str) -> Dossier | None:
        return await self._one("d.code", code)

    async def get_dossier_by_id(self, dossier_id: int) -> Dossier | None:
        return await self._one("d.id", dossier_id)

    async def linked_chat_count(self, dossier_id: int) -> int:
        row = await self.db.read_one("SELECT COUNT(*) FROM dossier_chats WHERE dossier_id = ?", (dossier_id,))
        return int(row[0]) if row else 0

    async def get_dossier_by_link(self, link_id: str) -> Dossier | None:
        return await self._one("d.link_id", link_id)

    async def get_dossier_by_survey_code(self, survey_code: str) -> Dossier | None:
        return await self._one("d.survey_code", survey_code)

    async def list_dossiers(
        self, unit_codes: Sequence[str] | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[Dossier]:
        where, params = "", list(unit_codes or ())
        if unit_codes is not None:
            where = f" WHERE d.unit_code IN ({placeholders(unit_codes)})"
        rows = await self.db.read(
            f"{DOSSIER_WITH_UNIT}{where} ORDER BY d.created_at DESC, d.id DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [dossier(r) for r in rows]

    async def count_wrong_codes(self, channel: str, chat_id: str, since: datetime) -> int:
        row = await self.db.read_one(
            "SELECT COUNT(*) FROM wrong_codes WHERE channel = ? AND chat_id = ? AND at >= ?",
            (channel, chat_id, iso(since)),
        )
        return int(row[0]) if row else 0

    async def record_wrong_code(self, channel: str, chat_id: str, at: datetime) -> None:
        await self.db.execute(
            "INSERT INTO wrong_codes (channel, chat_id, at) VALUES (?, ?, ?)", (channel, chat_id, iso(at))
        )

    async def mark_returned(self, code: str, at: datetime) -> Dossier:
        def mark(db: Connection) -> Row:
            db.execute("UPDATE dossiers SET returned_at = ? WHERE code = ?", (iso(at), code))
            row = first(db, f"{DOSSIER_WITH_UNIT} WHERE d.code = ?", (code,))
            if row is None:
                raise UnknownDossier(code)
            queue_invitations(db, row["id"], at)
            return row

        return dossier(await self.db.write(mark))

    async def link_chat(self, dossier_id: int, channel: str, chat_id: str, now: datetime) -> None:
        def link(db: Connection) -> None:
            db.execute(
                "INSERT OR IGNORE INTO dossier_chats (dossier_id, channel, chat_id, linked_at)"
                " VALUES (?, ?, ?, ?)",
                (dossier_id, channel, chat_id, iso(now)),
            )
            db.execute(
                "INSERT OR IGNORE INTO invitations (dossier_id, channel, chat_id, created_at)"
                " SELECT id, ?, ?, ? FROM dossiers WHERE id = ? AND returned_at IS NOT NULL",
                (channel, chat_id, iso(now), dossier_id),
            )

        await self.db.write(link)

    async def put_dossiers(
        self,
        dossiers: Sequence[tuple[DossierFacts, NewDossier]],
        *,
        actor: str,
        now: datetime,
        within: Collection[str] | None = None,
    ) -> list[PutResult]:
        if not dossiers:
            return []
        at = iso(now)
        scope = None if within is None else set(within)

        def put(db: Connection) -> list[tuple[dict[str, Any], PutOutcome]]:
            stored = dossiers_by_code(db, list(dict.fromkeys(facts.code for facts, _ in dossiers)))
            names = unit_names(db, list({facts.unit_code for facts, _ in dossiers}))
            before = facts_of(stored)
            # Each code's facts as they stand after the items so far: a code given twice is
            # compared with its first occurrence, and its last facts are the ones written.
            current = dict(before)
            created: dict[str, NewDossier] = {}
            updated: dict[str, None] = {}  # dossiers stored before that changed, in the order given
            outcomes: list[PutOutcome] = []
            audit: list[tuple[str, str]] = []
            for facts, new in dossiers:
                if facts.unit_code not in names:
                    raise UnknownUnit(facts.unit_code)
                values = stored_facts(facts)
                was = current.get(facts.code)
                if was is None:
                    created[facts.code] = new
                    outcomes.append(PutOutcome.CREATED)
                    audit.append(("dossier created", facts.code))
                elif scope is not None and was[0] not in scope:  # was[0]: its unit_code
                    raise OutOfScope(facts.code)
                elif was == values:
                    outcomes.append(PutOutcome.UNCHANGED)
                else:
                    if facts.code in before:
                        updated[facts.code] = None
                    outcomes.append(PutOutcome.UPDATED)
                    audit.append(
                        ("dossier updated", f"{facts.code}: {', '.join(changed_facts(was, values))}")
                    )
                current[facts.code] = values
            # The rows as they stand now, without reading them back: every column of a dossier
            # created or updated here is known. A new dossier's id is the one the database would
            # give it (new_ids), given explicitly so that it is known too.
            rows = {code: dict(zip(row.keys(), row, strict=True)) for code, row in stored.items()}
            ids = new_ids(db, len(created)) if created else []
            inserted = []
            for new_id, (code, new) in zip(ids, created.items(), strict=True):
                row = rows[code] = dict(zip(FACT_COLUMNS, current[code], strict=True))
                row.update(
                    id=new_id, code=code, unit_name=names[row["unit_code"]], link_id=new.link_id,
                    survey_code=new.survey_code, created_at=at, updated_at=at, returned_at=None,
                    answered=False, state=None,
                )  # fmt: skip
                inserted.append((new_id, code, *current[code], new.link_id, new.survey_code, at, at))
            db.executemany(
                f"INSERT INTO dossiers (id, code, {', '.join(FACT_COLUMNS)}, link_id, survey_code,"
                f" created_at, updated_at) VALUES (?, ?, {placeholders(FACT_COLUMNS)}, ?, ?, ?, ?)",
                inserted,
            )
            update_facts(db, [(stored[code]["id"], before[code], current[code]) for code in updated], at)
            for code in updated:
                row = rows[code]
                row.update(zip(FACT_COLUMNS, current[code], strict=True))
                row.update(unit_name=names[row["unit_code"]], updated_at=at)
            record_audits(db, actor, audit, now)
            return [
                (rows[facts.code], outcome) for (facts, _), outcome in zip(dossiers, outcomes, strict=True)
            ]

        made: dict[int, Dossier] = {}  # a code given twice is one dossier
        results = []
        for row, outcome in await self.db.write(put):
            found = made.get(row["id"])
            if found is None:
                found = made[row["id"]] = Dossier.model_validate(row)
            results.append(PutResult(dossier=found, outcome=outcome))
        return results

    async def add_dossier_event(
        self,
        code: str,
        event: DossierEventFacts,
        *,
        actor: str,
        now: datetime,
        within: Collection[str] | None = None,
    ) -> EventResult:
        at = iso(event.at)
        key = (event.type.value, at)
        values = (*key, event.reason, iso(event.until), iso(event.new_due_at), iso(now), actor)

        def add(db: Connection) -> tuple[Row, Row, bool, Row | None]:
            found = first(db, "SELECT id, unit_code FROM dossiers WHERE code = ?", (code,))
            if found is None:
                raise UnknownDossier(code)
            if within is not None and found["unit_code"] not in within:
                raise OutOfScope(code)
            dossier_id = found["id"]
            added = first(
                db,
                "INSERT INTO dossier_events (dossier_id, type, at, reason, until, new_due_at, recorded_at,"
                " recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dossier_id, type, at) DO NOTHING"
                f" RETURNING {_EVENT_COLUMNS}",
                (dossier_id, *values),
            )
            if added is None:
                existing = first(
                    db, f"{_EVENT} WHERE dossier_id = ? AND type = ? AND at = ?", (dossier_id, *key)
                )
                row = first(db, f"{DOSSIER_WITH_UNIT} WHERE d.id = ?", (dossier_id,))
                assert existing is not None and row is not None
                return row, existing, False, None
            returned = event.type is DossierEventType.RETURNED
            db.execute(
                "UPDATE dossiers SET state = (SELECT e.type FROM dossier_events e"
                " WHERE e.dossier_id = dossiers.id ORDER BY e.at DESC, e.id DESC LIMIT 1),"
                " returned_at = CASE WHEN ? = 1 THEN COALESCE(returned_at, ?) ELSE returned_at END,"
                " updated_at = ? WHERE id = ?",
                (returned, at, iso(now), dossier_id),
            )
            if returned:
                queue_invitations(db, dossier_id, event.at)
            letter_row = None
            if event.type is DossierEventType.EXTENDED:
                letter_row = letter_by_id(db, record_letter(db, dossier_id, added, now))
            record_audit(db, actor, "dossier event", f"{code} {' '.join(key)}", now)
            row = first(db, f"{DOSSIER_WITH_UNIT} WHERE d.id = ?", (dossier_id,))
            assert row is not None
            return row, added, True, letter_row

        row, stored, recorded, letter_row = await self.db.write(add)
        return EventResult(
            dossier=dossier(row),
            event=dossier_event(stored),
            recorded=recorded,
            letter=letter(letter_row) if letter_row is not None else None,
        )

    async def list_dossier_events(self, dossier_id: int) -> list[DossierEvent]:
        rows = await self.db.read(f"{_EVENT} WHERE dossier_id = ? ORDER BY at, id", (dossier_id,))
        return [dossier_event(r) for r in rows]

    async def export_answers(
        self,
        unit_codes: Sequence[str] | None,
        *,
        since: datetime | None = None,
        after_change: int = 0,
        limit: int = 100,
    ) -> list[AnswerExport]:
        params: list[Any]
        where, params = "a.change_seq > ?", [after_change]
        if since is not None:
            where += " AND a.answered_at >= ?"
            params.append(iso(since))
        if unit_codes is not None:
            where += f" AND d.unit_code IN ({placeholders(unit_codes)})"
            params += unit_codes
        # CROSS JOIN keeps answers the outer loop, read in the order of their changes from
        # `after_change`: a page costs the answers it passes over, and paging through all of them
        # reads each once. Left to itself, the planner starts from the units' dossiers and sorts all
        # their answers for every page.
        rows = await self.db.read(
            "SELECT a.change_seq, d.code AS dossier_code, d.unit_code, d.procedure, a.rating, a.follow_ups,"
            " a.channel, a.answered_at, a.completed_at IS NOT NULL AS completed FROM answers a"
            f" CROSS JOIN dossiers d ON d.id = a.dossier_id WHERE {where} ORDER BY a.change_seq LIMIT ?",
            (*params, limit),
        )
        return [
            AnswerExport(
                change=r["change_seq"], dossier_code=r["dossier_code"], unit_code=r["unit_code"],
                procedure=r["procedure"], rating=r["rating"], factors=factors(r["follow_ups"]),
                channel=r["channel"], answered_at=r["answered_at"], completed=bool(r["completed"]),
            )
            for r in rows
        ]  # fmt: skip
