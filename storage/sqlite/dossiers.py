"""Dossiers, the chats waiting for their survey, and wrong survey codes typed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from storage.base import DossierRepository, DuplicateDossier, UnknownDossier, UnknownUnit
from storage.records import Dossier
from storage.sqlite.db import Connection, Database, Row, first, iso, placeholders

DOSSIER_WITH_UNIT = (
    "SELECT d.id, d.code, d.unit_code, d.procedure, d.received_on, d.due_on, d.returned_at, d.link_id,"
    " d.created_at, d.survey_code, u.name AS unit_name,"
    " EXISTS (SELECT 1 FROM answers a WHERE a.dossier_id = d.id) AS answered"
    " FROM dossiers d JOIN units u ON u.code = d.unit_code"
)


def dossier(row: Row) -> Dossier:
    return Dossier.model_validate(dict(row))


class SQLiteDossiers(DossierRepository):
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
            db.execute(
                "INSERT OR IGNORE INTO invitations (dossier_id, channel, chat_id, created_at)"
                " SELECT dossier_id, channel, chat_id, ? FROM dossier_chats WHERE dossier_id = ?",
                (iso(at), row["id"]),
            )
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
