"""The unit tree and its heads and staff; directory files proposed by admins."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from storage.base import DirectoryRepository
from storage.records import OPEN_STATES, Contact, DirectoryProposal, Person, PersonEntry, Unit
from storage.sql.common import (
    DIALECTS,
    Connection,
    Database,
    Row,
    first,
    iso,
    json_list,
    json_row,
    record_audit,
)

_UNIT = "SELECT code, name, parent_code, retired_at FROM units"
_PERSONS = {
    dialect: "SELECT p.id, p.unit_code, p.role, p.name, p.active, p.last_channel, (SELECT"
    f" {json_list(dialect, json_row(dialect, 'k.channel', 'k.chat_id', 'k.position'), order='k.position')}"
    " FROM person_contacts k WHERE k.person_id = p.id) AS contacts FROM people p"
    for dialect in DIALECTS
}
_PROPOSAL = "SELECT id, source, proposed_at, proposed_by, applied_at FROM directory_proposals"


def person(row: Row) -> Person:
    """A person, contacts in the order to try them: the channel last written from, then as listed."""
    last = row["last_channel"]
    contacts = sorted(json.loads(row["contacts"]), key=lambda c: (c[0] != last, c[2]))
    return Person(
        id=row["id"], unit_code=row["unit_code"], role=row["role"], name=row["name"],
        active=bool(row["active"]), contacts=tuple(Contact(channel=c[0], chat_id=c[1]) for c in contacts),
    )  # fmt: skip


def _add_person(db: Connection, entry: PersonEntry) -> int:
    """A new person row. Its `channel, chat_id` columns are the key rows were once created with
    (unique per unit and role, migration 002) and are read by nothing now: a new row gets one that
    is never a chat id, so it can collide with no one; who is the same person is the caller's
    decision, made before (`person_id`)."""
    row = first(
        db,
        "INSERT INTO people (unit_code, role, name, channel, chat_id)"
        " SELECT ?, ?, ?, '#', '#' || (COALESCE(MAX(id), 0) + 1) FROM people RETURNING id",
        (entry.unit_code, entry.role.value, entry.name),
    )
    assert row is not None
    return int(row["id"])


def _save_people(db: Connection, people: Sequence[PersonEntry]) -> None:
    """Makes these the active heads and staff; the others become inactive, kept for history. An
    entry with a `person_id` is that stored person; the others are added."""
    db.execute("UPDATE people SET active = 0")
    for entry in people:
        person_id = entry.person_id
        if person_id is None:
            person_id = _add_person(db, entry)
        db.execute(
            "UPDATE people SET unit_code = ?, role = ?, name = ?, active = 1 WHERE id = ?",
            (entry.unit_code, entry.role.value, entry.name, person_id),
        )
        db.execute("DELETE FROM person_contacts WHERE person_id = ?", (person_id,))
        db.executemany(
            "INSERT OR IGNORE INTO person_contacts (person_id, channel, chat_id, position)"
            " VALUES (?, ?, ?, ?)",
            [(person_id, c.channel, c.chat_id, n) for n, c in enumerate(entry.contacts)],
        )


class SqlDirectory(DirectoryRepository):
    def __init__(self, db: Database) -> None:
        self.db = db
        self._person = _PERSONS[db.dialect]

    async def get_unit(self, code: str) -> Unit | None:
        row = await self.db.read_one(f"{_UNIT} WHERE code = ?", (code,))
        return Unit.model_validate(dict(row)) if row else None

    async def list_units(self, *, retired: bool = False) -> list[Unit]:
        where = "" if retired else " WHERE retired_at IS NULL"
        return [Unit.model_validate(dict(r)) for r in await self.db.read(f"{_UNIT}{where} ORDER BY code")]

    async def all_people(self, *, inactive: bool = False) -> list[Person]:
        where = "" if inactive else " WHERE p.active = 1"
        rows = await self.db.read(f"{self._person}{where} ORDER BY p.unit_code, p.role, p.name, p.id")
        return [person(r) for r in rows]

    async def people_at(self, channel: str, chat_id: str) -> list[Person]:
        rows = await self.db.read(
            f"{self._person} WHERE p.active = 1 AND p.id IN"
            " (SELECT person_id FROM person_contacts WHERE channel = ? AND chat_id = ?) ORDER BY p.id",
            (channel, chat_id),
        )
        return [person(r) for r in rows]

    async def unit_people(self, unit_code: str) -> list[Person]:
        rows = await self.db.read(
            f"{self._person} WHERE p.active = 1 AND p.unit_code = ? ORDER BY p.role, p.name, p.id",
            (unit_code,),
        )
        return [person(r) for r in rows]

    async def get_person(self, person_id: int) -> Person | None:
        row = await self.db.read_one(f"{self._person} WHERE p.id = ?", (person_id,))
        return person(row) if row else None

    async def note_person_channel(self, channel: str, chat_id: str) -> None:
        await self.db.execute(
            "UPDATE people SET last_channel = ? WHERE id IN"
            " (SELECT person_id FROM person_contacts WHERE channel = ? AND chat_id = ?)",
            (channel, channel, chat_id),
        )

    async def propose_directory(self, source: str, now: datetime, actor: str) -> DirectoryProposal:
        row = await self.db.write(
            lambda db: first(
                db,
                "INSERT INTO directory_proposals (source, proposed_at, proposed_by) VALUES (?, ?, ?)"
                " RETURNING id, source, proposed_at, proposed_by, applied_at",
                (source, iso(now), actor),
            )
        )
        assert row is not None
        return DirectoryProposal.model_validate(dict(row))

    async def get_directory_proposal(self, proposal_id: int) -> DirectoryProposal | None:
        row = await self.db.read_one(f"{_PROPOSAL} WHERE id = ?", (proposal_id,))
        return DirectoryProposal.model_validate(dict(row)) if row else None

    async def apply_directory(
        self,
        *,
        units: Sequence[Unit],
        people: Sequence[PersonEntry],
        retired: Sequence[str],
        moves: dict[str, str],
        now: datetime,
        actor: str,
        summary: str,
        proposal_id: int | None = None,
    ) -> bool:
        open_states = [s.value for s in OPEN_STATES]

        def apply(db: Connection) -> bool:
            if proposal_id is not None:
                claimed = first(
                    db,
                    "UPDATE directory_proposals SET applied_at = ? WHERE id = ? AND applied_at IS NULL"
                    " RETURNING id",
                    (iso(now), proposal_id),
                )
                if claimed is None:
                    return False
            db.executemany(
                "INSERT INTO units (code, name, parent_code) VALUES (?, ?, ?) ON CONFLICT (code) DO UPDATE"
                " SET name = excluded.name, parent_code = excluded.parent_code, retired_at = NULL",
                [(u.code, u.name, u.parent_code) for u in units],
            )
            for code in retired:
                db.execute(
                    "UPDATE units SET retired_at = ?, parent_code = NULL WHERE code = ?", (iso(now), code)
                )
                target = moves.get(code)
                if target is None:
                    continue
                moved = db.execute(
                    "UPDATE cases SET unit_code = ?, updated_at = ?"
                    " WHERE unit_code = ? AND state IN (?, ?, ?) RETURNING id",
                    (target, iso(now), code, *open_states),
                ).fetchall()
                db.executemany(
                    "INSERT INTO case_events (case_id, at, actor, action, note) VALUES (?, ?, ?, 'moved', ?)",
                    [(row["id"], iso(now), actor, f"{code} → {target}") for row in moved],
                )
            _save_people(db, people)
            record_audit(db, actor, "directory applied", summary, now)
            return True

        return await self.db.write(apply)
