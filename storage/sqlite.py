"""The SQLite backend: one aiosqlite connection (the single writer), WAL mode, foreign keys on,
parameterised SQL only, numbered migrations applied in order at open."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from storage.base import (
    AlreadyAnswered,
    DuplicateDossier,
    StaleStep,
    Storage,
    UnknownDossier,
    UnknownUnit,
)
from storage.records import (
    Answer,
    AnswerRow,
    Chat,
    Dossier,
    FollowUp,
    Invitation,
    OutboxStatus,
    Rating,
    Survey,
    Unit,
)

_DOSSIER_COLUMNS = "id, code, unit_code, procedure, received_on, due_on, returned_at, link_id, created_at"
_SURVEY_COLUMNS = (
    "id, channel, chat_id, dossier_id, question_set, question_set_version, step, started_at, updated_at"
)
_ANSWER_FIELDS = (
    "id",
    "dossier_id",
    "channel",
    "chat_id",
    "question_set",
    "question_set_version",
    "rating",
    "rating_option",
    "follow_ups",
    "texts",
    "answered_at",
    "completed_at",
)
_ANSWER_COLUMNS = ", ".join(_ANSWER_FIELDS)  # RETURNING takes no table alias
_ANSWER_COLUMNS_OF_A = ", ".join(f"a.{name}" for name in _ANSWER_FIELDS)


def migrations() -> list[tuple[int, str]]:
    """The numbered SQL files shipped in storage/migrations, in order."""
    folder = resources.files("storage") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dossier(row: sqlite3.Row) -> Dossier:
    return Dossier.model_validate(dict(row))


def _survey(row: sqlite3.Row) -> Survey:
    return Survey.model_validate(dict(row))


def _answer(row: sqlite3.Row) -> Answer:
    data: dict[str, Any] = {key: row[key] for key in _ANSWER_FIELDS}
    data["follow_ups"] = json.loads(row["follow_ups"])
    data["texts"] = json.loads(row["texts"])
    return Answer.model_validate(data)


class SQLiteStorage(Storage):
    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL") -> None:
        self.path = str(path)
        self.synchronous = synchronous
        self._db: aiosqlite.Connection | None = None
        # One connection is shared by every coroutine: the lock keeps each unit of work whole.
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self.path, isolation_level=None)
        db.row_factory = sqlite3.Row
        await db.execute("PRAGMA busy_timeout = 10000")
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute(f"PRAGMA synchronous = {self.synchronous}")
        await db.execute("PRAGMA foreign_keys = ON")
        self._db = db
        await self._migrate()

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def _migrate(self) -> None:
        async with self._transaction() as db:
            row = await (await db.execute("PRAGMA user_version")).fetchone()
            current = row[0] if row else 0
            for number, script in migrations():
                if number <= current:
                    continue
                for statement in _statements(script):
                    await db.execute(statement)
                # PRAGMA takes no parameters; the number is an int from a file name.
                await db.execute(f"PRAGMA user_version = {int(number)}")

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            db = self._connection()
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            yield self._connection()

    def _connection(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("storage is not open")
        return self._db

    async def _one(self, sql: str, params: Sequence[Any]) -> sqlite3.Row | None:
        async with self._reading() as db:
            return await (await db.execute(sql, params)).fetchone()

    # units

    async def save_units(self, units: Sequence[Unit]) -> None:
        async with self._transaction() as db:
            await db.executemany(
                "INSERT INTO units (code, name, parent_code) VALUES (?, ?, ?)"
                " ON CONFLICT (code) DO UPDATE SET name = excluded.name, parent_code = excluded.parent_code",
                [(u.code, u.name, u.parent_code) for u in units],
            )

    async def get_unit(self, code: str) -> Unit | None:
        row = await self._one("SELECT code, name, parent_code FROM units WHERE code = ?", (code,))
        return Unit.model_validate(dict(row)) if row else None

    async def list_units(self) -> list[Unit]:
        async with self._reading() as db:
            rows = await db.execute_fetchall("SELECT code, name, parent_code FROM units ORDER BY code")
        return [Unit.model_validate(dict(r)) for r in rows]

    # dossiers

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
    ) -> Dossier:
        async with self._transaction() as db:
            if not await (await db.execute("SELECT 1 FROM units WHERE code = ?", (unit_code,))).fetchone():
                raise UnknownUnit(unit_code)
            try:
                cursor = await db.execute(
                    "INSERT INTO dossiers (code, unit_code, procedure, received_on, due_on, returned_at,"
                    " link_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    f" RETURNING {_DOSSIER_COLUMNS}",
                    (
                        code,
                        unit_code,
                        procedure,
                        _iso(received_on),
                        _iso(due_on),
                        _iso(returned_at),
                        link_id,
                        _iso(now),
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise DuplicateDossier(code) from exc
            row = await cursor.fetchone()
        assert row is not None
        return _dossier(row)

    async def get_dossier(self, code: str) -> Dossier | None:
        row = await self._one(f"SELECT {_DOSSIER_COLUMNS} FROM dossiers WHERE code = ?", (code,))
        return _dossier(row) if row else None

    async def get_dossier_by_id(self, dossier_id: int) -> Dossier | None:
        row = await self._one(f"SELECT {_DOSSIER_COLUMNS} FROM dossiers WHERE id = ?", (dossier_id,))
        return _dossier(row) if row else None

    async def get_dossier_by_link(self, link_id: str) -> Dossier | None:
        row = await self._one(f"SELECT {_DOSSIER_COLUMNS} FROM dossiers WHERE link_id = ?", (link_id,))
        return _dossier(row) if row else None

    async def mark_returned(self, code: str, at: datetime) -> Dossier:
        async with self._transaction() as db:
            row = await (
                await db.execute(
                    f"UPDATE dossiers SET returned_at = ? WHERE code = ? RETURNING {_DOSSIER_COLUMNS}",
                    (_iso(at), code),
                )
            ).fetchone()
            if row is None:
                raise UnknownDossier(code)
            await db.execute(
                "INSERT OR IGNORE INTO invitations (dossier_id, channel, chat_id, created_at)"
                " SELECT dossier_id, channel, chat_id, ? FROM dossier_chats WHERE dossier_id = ?",
                (_iso(at), row["id"]),
            )
        return _dossier(row)

    async def link_chat(self, dossier_id: int, channel: str, chat_id: str, now: datetime) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT OR IGNORE INTO dossier_chats (dossier_id, channel, chat_id, linked_at)"
                " VALUES (?, ?, ?, ?)",
                (dossier_id, channel, chat_id, _iso(now)),
            )
            await db.execute(
                "INSERT OR IGNORE INTO invitations (dossier_id, channel, chat_id, created_at)"
                " SELECT id, ?, ?, ? FROM dossiers WHERE id = ? AND returned_at IS NOT NULL",
                (channel, chat_id, _iso(now), dossier_id),
            )

    # chats

    async def get_chat(self, channel: str, chat_id: str) -> Chat | None:
        row = await self._one(
            "SELECT channel, chat_id, language, unreachable_since FROM chats"
            " WHERE channel = ? AND chat_id = ?",
            (channel, chat_id),
        )
        return Chat.model_validate(dict(row)) if row else None

    async def set_language(self, channel: str, chat_id: str, language: str) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO chats (channel, chat_id, language) VALUES (?, ?, ?)"
                " ON CONFLICT (channel, chat_id) DO UPDATE SET language = excluded.language",
                (channel, chat_id, language),
            )

    async def mark_unreachable(self, channel: str, chat_id: str, since: datetime) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO chats (channel, chat_id, unreachable_since) VALUES (?, ?, ?)"
                " ON CONFLICT (channel, chat_id) DO UPDATE"
                " SET unreachable_since = COALESCE(chats.unreachable_since, excluded.unreachable_since)",
                (channel, chat_id, _iso(since)),
            )

    async def mark_reachable(self, channel: str, chat_id: str) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE chats SET unreachable_since = NULL WHERE channel = ? AND chat_id = ?",
                (channel, chat_id),
            )

    # surveys and answers

    async def get_survey(self, channel: str, chat_id: str) -> Survey | None:
        row = await self._one(
            f"SELECT {_SURVEY_COLUMNS} FROM surveys WHERE channel = ? AND chat_id = ?", (channel, chat_id)
        )
        return _survey(row) if row else None

    async def start_survey(
        self,
        *,
        channel: str,
        chat_id: str,
        dossier_id: int,
        question_set: str,
        question_set_version: int,
        first_step: str,
        now: datetime,
    ) -> Survey:
        async with self._transaction() as db:
            await db.execute("DELETE FROM surveys WHERE channel = ? AND chat_id = ?", (channel, chat_id))
            row = await (
                await db.execute(
                    "INSERT INTO surveys (channel, chat_id, dossier_id, question_set, question_set_version,"
                    " step, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    f" RETURNING {_SURVEY_COLUMNS}",
                    (
                        channel,
                        chat_id,
                        dossier_id,
                        question_set,
                        question_set_version,
                        first_step,
                        _iso(now),
                        _iso(now),
                    ),
                )
            ).fetchone()
        assert row is not None
        return _survey(row)

    async def get_answer(self, dossier_id: int) -> Answer | None:
        row = await self._one(f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE dossier_id = ?", (dossier_id,))
        return _answer(row) if row else None

    async def _advance(
        self, db: aiosqlite.Connection, survey: Survey, next_step: str | None, now: datetime
    ) -> None:
        """Moves the survey on only if it still stands where the caller saw it."""
        cursor = await db.execute(
            "UPDATE surveys SET step = ?, updated_at = ? WHERE id = ? AND step IS ?",
            (next_step, _iso(now), survey.id, survey.step),
        )
        if cursor.rowcount != 1:
            raise StaleStep(survey.step or "")

    async def _updated_answer(
        self,
        db: aiosqlite.Connection,
        survey: Survey,
        sql: str,
        params: Sequence[Any],
        finished: bool,
        now: datetime,
    ) -> Answer:
        row = await (
            await db.execute(
                f"UPDATE answers SET {sql}, completed_at = CASE WHEN ? THEN ? ELSE completed_at END"
                f" WHERE dossier_id = ? AND channel = ? AND chat_id = ? RETURNING {_ANSWER_COLUMNS}",
                (*params, finished, _iso(now), survey.dossier_id, survey.channel, survey.chat_id),
            )
        ).fetchone()
        if row is None:
            raise StaleStep(survey.step or "")
        return _answer(row)

    async def record_rating(
        self, survey: Survey, *, rating: Rating, option_id: str, next_step: str | None, now: datetime
    ) -> Answer:
        async with self._transaction() as db:
            await self._advance(db, survey, next_step, now)
            try:
                row = await (
                    await db.execute(
                        "INSERT INTO answers (dossier_id, channel, chat_id, question_set,"
                        " question_set_version, rating, rating_option, answered_at, completed_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                        f" RETURNING {_ANSWER_COLUMNS}",
                        (
                            survey.dossier_id,
                            survey.channel,
                            survey.chat_id,
                            survey.question_set,
                            survey.question_set_version,
                            rating.value,
                            option_id,
                            _iso(now),
                            _iso(now) if next_step is None else None,
                        ),
                    )
                ).fetchone()
            except sqlite3.IntegrityError as exc:
                raise AlreadyAnswered(str(survey.dossier_id)) from exc
        assert row is not None
        return _answer(row)

    async def record_follow_up(
        self, survey: Survey, follow_up: FollowUp, *, next_step: str | None, now: datetime
    ) -> Answer:
        async with self._transaction() as db:
            await self._advance(db, survey, next_step, now)
            return await self._updated_answer(
                db,
                survey,
                "follow_ups = json_insert(follow_ups, '$[#]', json(?))",
                (follow_up.model_dump_json(),),
                next_step is None,
                now,
            )

    async def record_text(
        self, survey: Survey, question_id: str, text: str | None, *, next_step: str | None, now: datetime
    ) -> Answer:
        async with self._transaction() as db:
            await self._advance(db, survey, next_step, now)
            if text is None:
                return await self._updated_answer(db, survey, "texts = texts", (), next_step is None, now)
            return await self._updated_answer(
                db,
                survey,
                "texts = json_set(texts, '$.' || json_quote(?), ?)",
                (question_id, text),
                next_step is None,
                now,
            )

    async def answered_since(self, channel: str, chat_id: str, since: datetime) -> bool:
        row = await self._one(
            "SELECT 1 FROM answers WHERE channel = ? AND chat_id = ? AND answered_at >= ? LIMIT 1",
            (channel, chat_id, _iso(since)),
        )
        return row is not None

    async def list_answers(self, unit_code: str | None = None) -> list[AnswerRow]:
        sql = (
            f"SELECT {_ANSWER_COLUMNS_OF_A}, d.code AS dossier_code, d.unit_code, u.name AS unit_name,"
            " d.procedure FROM answers a JOIN dossiers d ON d.id = a.dossier_id"
            " JOIN units u ON u.code = d.unit_code"
        )
        params: tuple[Any, ...] = ()
        if unit_code is not None:
            sql = (
                "WITH RECURSIVE subtree(code) AS (SELECT ? UNION ALL"
                " SELECT units.code FROM units JOIN subtree ON units.parent_code = subtree.code) "
                + sql
                + " WHERE d.unit_code IN (SELECT code FROM subtree)"
            )
            params = (unit_code,)
        async with self._reading() as db:
            rows = await db.execute_fetchall(sql + " ORDER BY a.answered_at, a.id", params)
        return [
            AnswerRow(
                dossier_code=r["dossier_code"],
                unit_code=r["unit_code"],
                unit_name=r["unit_name"],
                procedure=r["procedure"],
                answer=_answer(r),
            )
            for r in rows
        ]

    # outbox

    async def pending_invitations(self, limit: int = 100) -> list[Invitation]:
        async with self._reading() as db:
            rows = await db.execute_fetchall(
                "SELECT id, dossier_id, channel, chat_id, status, attempts, created_at, sent_at, error"
                " FROM invitations WHERE status = 'pending' ORDER BY id LIMIT ?",
                (limit,),
            )
        return [Invitation.model_validate(dict(r)) for r in rows]

    async def finish_invitation(
        self, invitation_id: int, status: OutboxStatus, now: datetime, error: str | None = None
    ) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE invitations SET status = ?, sent_at = ?, error = ? WHERE id = ?",
                (status.value, _iso(now), error, invitation_id),
            )

    async def retry_invitation(self, invitation_id: int, error: str) -> int:
        async with self._transaction() as db:
            row = await (
                await db.execute(
                    "UPDATE invitations SET attempts = attempts + 1, error = ?"
                    " WHERE id = ? RETURNING attempts",
                    (error, invitation_id),
                )
            ).fetchone()
        return int(row[0]) if row else 0


def _statements(script: str) -> list[str]:
    """Splits a migration into statements, so each runs inside the migration's transaction
    (executescript would commit it)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements
