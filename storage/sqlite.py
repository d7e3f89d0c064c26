"""The SQLite backend: WAL mode, foreign keys on, parameterised SQL only, numbered migrations
applied in order at open.

One aiosqlite connection. Each write is one unit of work: a plain function that runs in the
connection's thread between BEGIN IMMEDIATE and COMMIT, so it costs one trip to the database thread
and can never interleave with another coroutine's statements; a read is one statement, one trip.
(A second, read-only connection was measured: its extra thread contends for the GIL and made the
survey slower, see bench/survey_throughput.py.)"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

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
    OPEN_STATES,
    Answer,
    AnswerRow,
    AuditEntry,
    Case,
    CaseCounts,
    CaseEvent,
    CaseState,
    Chat,
    ChatState,
    Contact,
    DirectoryProposal,
    Dossier,
    FollowUp,
    Invitation,
    Notice,
    NoticeTo,
    OutboxStatus,
    Person,
    PersonEntry,
    Rating,
    StoredQuestionSet,
    Survey,
    Unit,
    UnitFigures,
)

T = TypeVar("T")

_DOSSIER_WITH_UNIT = (
    "SELECT d.id, d.code, d.unit_code, d.procedure, d.received_on, d.due_on, d.returned_at, d.link_id,"
    " d.created_at, d.survey_code, u.name AS unit_name,"
    " EXISTS (SELECT 1 FROM answers a WHERE a.dossier_id = d.id) AS answered"
    " FROM dossiers d JOIN units u ON u.code = d.unit_code"
)
# A chat's survey, with the rating given so far and the unit's name.
_SURVEY_STATE_COLUMNS = (
    "s.id, s.channel, s.chat_id, s.dossier_id, s.question_set, s.question_set_version, s.step,"
    " s.started_at, s.updated_at, a.rating, COALESCE(u.name, d.unit_code, '') AS unit_name"
)
_SURVEY_STATE_JOINS = (
    " LEFT JOIN dossiers d ON d.id = s.dossier_id LEFT JOIN units u ON u.code = d.unit_code"
    " LEFT JOIN answers a ON a.dossier_id = s.dossier_id AND a.channel = s.channel AND a.chat_id = s.chat_id"
)
_SURVEY_STATE = f"SELECT {_SURVEY_STATE_COLUMNS} FROM surveys s{_SURVEY_STATE_JOINS}"
_ANSWER_FIELDS = (
    "id", "dossier_id", "channel", "chat_id", "question_set", "question_set_version", "rating",
    "rating_option", "follow_ups", "texts", "answered_at", "completed_at",
)  # fmt: skip
_ANSWER_COLUMNS = ", ".join(_ANSWER_FIELDS)  # RETURNING takes no table alias
_ANSWER_COLUMNS_OF_A = ", ".join(f"a.{name}" for name in _ANSWER_FIELDS)
_CASE = (
    "SELECT c.id, c.dossier_id, d.code AS dossier_code, d.procedure, c.unit_code, u.name AS unit_name,"
    " c.state, c.assignee_id, p.name AS assignee_name, c.opened_at, c.deadline, c.resolution, c.updated_at,"
    " a.channel AS citizen_channel, a.chat_id AS citizen_chat_id, a.rating, a.follow_ups, a.texts"
    " FROM cases c JOIN dossiers d ON d.id = c.dossier_id JOIN units u ON u.code = c.unit_code"
    " JOIN answers a ON a.dossier_id = c.dossier_id LEFT JOIN people p ON p.id = c.assignee_id"
)
_PERSON_COLUMNS = (
    "p.id, p.unit_code, p.role, p.name, p.last_channel, (SELECT json_group_array(json_array(k.channel,"
    " k.chat_id, k.position)) FROM person_contacts k WHERE k.person_id = p.id) AS contacts"
)
_PERSON = f"SELECT {_PERSON_COLUMNS} FROM people p WHERE p.active = 1"
MENU_LIMIT = 60  # numbered options a chat keeps; past it, numbering starts again at 1
MENU_FRESH = timedelta(hours=12)  # messages the bot starts continue a menu this young
_INVITATION_COLUMNS = "id, dossier_id, channel, chat_id, status, attempts, created_at, sent_at, error"
_SYNCHRONOUS = {"OFF", "NORMAL", "FULL", "EXTRA"}
_OUTBOXES = {"invitations", "notices"}  # tables with status, attempts, sent_at and error


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
    return Survey.model_validate({key: row[key] for key in Survey.model_fields})


def _answer(row: sqlite3.Row) -> Answer:
    data: dict[str, Any] = {key: row[key] for key in _ANSWER_FIELDS}
    data["follow_ups"] = json.loads(row["follow_ups"])
    data["texts"] = json.loads(row["texts"])
    return Answer.model_validate(data)


def _case(row: sqlite3.Row) -> Case:
    data: dict[str, Any] = {key: row[key] for key in Case.model_fields}
    data["follow_ups"] = json.loads(row["follow_ups"])
    data["texts"] = json.loads(row["texts"])
    return Case.model_validate(data)


def _person(row: sqlite3.Row) -> Person:
    """A person, contacts in the order to try them: the channel last written from, then as listed."""
    last = row["last_channel"]
    contacts = sorted(json.loads(row["contacts"]), key=lambda c: (c[0] != last, c[2]))
    return Person(
        id=row["id"], unit_code=row["unit_code"], role=row["role"], name=row["name"],
        contacts=tuple(Contact(channel=c[0], chat_id=c[1]) for c in contacts),
    )  # fmt: skip


def _open_case(db: sqlite3.Connection, dossier_id: int, deadline: date, now: datetime) -> None:
    """Opens the dossier's complaint case unless it has one."""
    opened = _first(
        db,
        "INSERT INTO cases (dossier_id, unit_code, opened_at, deadline, updated_at)"
        " SELECT id, unit_code, ?, ?, ? FROM dossiers WHERE id = ?"
        " ON CONFLICT (dossier_id) DO NOTHING RETURNING id",
        (_iso(now), _iso(deadline), _iso(now), dossier_id),
    )
    if opened is not None:
        db.execute(
            "INSERT INTO case_events (case_id, at, actor, action) VALUES (?, ?, 'citizen', 'opened')",
            (opened["id"], _iso(now)),
        )


def _save_people(db: sqlite3.Connection, people: Sequence[PersonEntry]) -> None:
    """Makes these the active heads and staff; the others become inactive, kept for history. A
    listed person is the stored one of the same unit and role sharing any of their contacts, so
    adding a Zalo id to a head keeps the cases they hold."""
    db.execute("UPDATE people SET active = 0")
    for person in people:
        found = None
        for contact in person.contacts:
            found = _first(
                db,
                "SELECT p.id FROM people p JOIN person_contacts k ON k.person_id = p.id"
                " WHERE p.unit_code = ? AND p.role = ? AND k.channel = ? AND k.chat_id = ?"
                " ORDER BY p.active DESC, p.id DESC LIMIT 1",
                (person.unit_code, person.role.value, contact.channel, contact.chat_id),
            )
            if found is not None:
                break
        if found is None:
            first = person.contacts[0]
            found = _first(
                db,
                "INSERT INTO people (unit_code, role, name, channel, chat_id) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (unit_code, role, channel, chat_id) DO UPDATE SET name = excluded.name"
                " RETURNING id",
                (person.unit_code, person.role.value, person.name, first.channel, first.chat_id),
            )
        assert found is not None
        person_id = found["id"]
        db.execute("UPDATE people SET name = ?, active = 1 WHERE id = ?", (person.name, person_id))
        db.execute("DELETE FROM person_contacts WHERE person_id = ?", (person_id,))
        db.executemany(
            "INSERT OR IGNORE INTO person_contacts (person_id, channel, chat_id, position)"
            " VALUES (?, ?, ?, ?)",
            [(person_id, c.channel, c.chat_id, n) for n, c in enumerate(person.contacts)],
        )


def _audit(db: sqlite3.Connection, actor: str, action: str, detail: str | None, now: datetime) -> None:
    db.execute(
        "INSERT INTO audit (at, actor, action, detail) VALUES (?, ?, ?, ?)",
        (_iso(now), actor, action, detail),
    )


def _first(db: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
    """The first row; every row is fetched, so a RETURNING statement is finished before COMMIT."""
    rows: list[sqlite3.Row] = db.execute(sql, params).fetchall()
    return rows[0] if rows else None


class SQLiteStorage(Storage):
    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL") -> None:
        if synchronous not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {sorted(_SYNCHRONOUS)}, not {synchronous!r}")
        self.path = str(path)
        self.synchronous = synchronous
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self.path, isolation_level=None)
        db.row_factory = sqlite3.Row
        # execute_fetchall reads every pragma to its end: a statement left unread blocks COMMIT.
        await db.execute_fetchall("PRAGMA busy_timeout = 10000")
        await db.execute_fetchall("PRAGMA journal_mode = WAL")
        await db.execute_fetchall(f"PRAGMA synchronous = {self.synchronous}")
        await db.execute_fetchall("PRAGMA foreign_keys = ON")
        self._db = db
        await self._write(self._migrate)

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        row = _first(db, "PRAGMA user_version")
        current = row[0] if row else 0
        for number, script in migrations():
            if number > current:
                for statement in _statements(script):
                    db.execute(statement)
                # PRAGMA takes no parameters; the number is an int from a file name.
                db.execute(f"PRAGMA user_version = {int(number)}")

    async def _write(self, unit_of_work: Callable[[sqlite3.Connection], T]) -> T:
        """Runs `unit_of_work` in the writer's thread inside one transaction: committed if it
        returns, rolled back if it raises."""
        if self._db is None:
            raise RuntimeError("storage is not open")
        connection = self._db

        def run() -> T:
            db = connection._conn
            db.execute("BEGIN IMMEDIATE")
            try:
                result = unit_of_work(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

        # aiosqlite queues each call to its thread in order; one call per unit of work keeps the
        # transaction whole without an asyncio lock and costs one trip to the thread.
        return await connection._execute(run)  # type: ignore[no-untyped-call, no-any-return]

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        if self._db is None:
            raise RuntimeError("storage is not open")
        return list(await self._db.execute_fetchall(sql, params))

    async def _read_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self._read(sql, params)
        return rows[0] if rows else None

    # units

    async def get_unit(self, code: str) -> Unit | None:
        row = await self._read_one(
            "SELECT code, name, parent_code, retired_at FROM units WHERE code = ?", (code,)
        )
        return Unit.model_validate(dict(row)) if row else None

    async def list_units(self, *, retired: bool = False) -> list[Unit]:
        where = "" if retired else " WHERE retired_at IS NULL"
        rows = await self._read(f"SELECT code, name, parent_code, retired_at FROM units{where} ORDER BY code")
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
        survey_code: str | None = None,
    ) -> Dossier:
        values = (
            code, unit_code, procedure, _iso(received_on), _iso(due_on), _iso(returned_at), link_id,
            _iso(now), survey_code,
        )  # fmt: skip

        def add(db: sqlite3.Connection) -> sqlite3.Row | None:
            if _first(db, "SELECT 1 FROM units WHERE code = ?", (unit_code,)) is None:
                raise UnknownUnit(unit_code)
            try:
                db.execute(
                    "INSERT INTO dossiers (code, unit_code, procedure, received_on, due_on, returned_at,"
                    " link_id, created_at, survey_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
            except sqlite3.IntegrityError as exc:
                raise DuplicateDossier(code) from exc
            return _first(db, f"{_DOSSIER_WITH_UNIT} WHERE d.code = ?", (code,))

        row = await self._write(add)
        assert row is not None
        return _dossier(row)

    async def get_dossier(self, code: str) -> Dossier | None:
        row = await self._read_one(f"{_DOSSIER_WITH_UNIT} WHERE d.code = ?", (code,))
        return _dossier(row) if row else None

    async def get_dossier_by_id(self, dossier_id: int) -> Dossier | None:
        row = await self._read_one(f"{_DOSSIER_WITH_UNIT} WHERE d.id = ?", (dossier_id,))
        return _dossier(row) if row else None

    async def get_dossier_by_link(self, link_id: str) -> Dossier | None:
        row = await self._read_one(f"{_DOSSIER_WITH_UNIT} WHERE d.link_id = ?", (link_id,))
        return _dossier(row) if row else None

    async def get_dossier_by_survey_code(self, survey_code: str) -> Dossier | None:
        row = await self._read_one(f"{_DOSSIER_WITH_UNIT} WHERE d.survey_code = ?", (survey_code,))
        return _dossier(row) if row else None

    async def count_wrong_codes(self, channel: str, chat_id: str, since: datetime) -> int:
        row = await self._read_one(
            "SELECT COUNT(*) FROM wrong_codes WHERE channel = ? AND chat_id = ? AND at >= ?",
            (channel, chat_id, _iso(since)),
        )
        return int(row[0]) if row else 0

    async def record_wrong_code(self, channel: str, chat_id: str, at: datetime) -> None:
        await self._write(
            lambda db: db.execute(
                "INSERT INTO wrong_codes (channel, chat_id, at) VALUES (?, ?, ?)",
                (channel, chat_id, _iso(at)),
            )
        )

    async def mark_returned(self, code: str, at: datetime) -> Dossier:
        def mark(db: sqlite3.Connection) -> sqlite3.Row:
            db.execute("UPDATE dossiers SET returned_at = ? WHERE code = ?", (_iso(at), code))
            row = _first(db, f"{_DOSSIER_WITH_UNIT} WHERE d.code = ?", (code,))
            if row is None:
                raise UnknownDossier(code)
            db.execute(
                "INSERT OR IGNORE INTO invitations (dossier_id, channel, chat_id, created_at)"
                " SELECT dossier_id, channel, chat_id, ? FROM dossier_chats WHERE dossier_id = ?",
                (_iso(at), row["id"]),
            )
            return row

        return _dossier(await self._write(mark))

    async def link_chat(self, dossier_id: int, channel: str, chat_id: str, now: datetime) -> None:
        def link(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR IGNORE INTO dossier_chats (dossier_id, channel, chat_id, linked_at)"
                " VALUES (?, ?, ?, ?)",
                (dossier_id, channel, chat_id, _iso(now)),
            )
            db.execute(
                "INSERT OR IGNORE INTO invitations (dossier_id, channel, chat_id, created_at)"
                " SELECT id, ?, ?, ? FROM dossiers WHERE id = ? AND returned_at IS NOT NULL",
                (channel, chat_id, _iso(now), dossier_id),
            )

        await self._write(link)

    # chats

    async def get_chat(self, channel: str, chat_id: str) -> Chat | None:
        row = await self._read_one(
            "SELECT channel, chat_id, language, unreachable_since FROM chats"
            " WHERE channel = ? AND chat_id = ?",
            (channel, chat_id),
        )
        return Chat.model_validate(dict(row)) if row else None

    async def get_chat_state(self, channel: str, chat_id: str) -> ChatState:
        row = await self._read_one(
            "SELECT c.language, c.unreachable_since, c.awaiting, c.menu,"
            " (SELECT COALESCE(p.last_channel, '') FROM person_contacts pk JOIN people p"
            "  ON p.id = pk.person_id AND p.active = 1"
            "  WHERE pk.channel = k.channel AND pk.chat_id = k.chat_id"
            "  ORDER BY p.last_channel IS NULL LIMIT 1)"
            f" AS person_channel, {_SURVEY_STATE_COLUMNS}"
            " FROM (SELECT ? AS channel, ? AS chat_id) k"
            " LEFT JOIN chats c ON c.channel = k.channel AND c.chat_id = k.chat_id"
            f" LEFT JOIN surveys s ON s.channel = k.channel AND s.chat_id = k.chat_id{_SURVEY_STATE_JOINS}",
            (channel, chat_id),
        )
        assert row is not None
        return ChatState(
            channel=channel,
            chat_id=chat_id,
            language=row["language"],
            unreachable_since=row["unreachable_since"],
            survey=_survey(row) if row["id"] is not None else None,
            awaiting=row["awaiting"],
            menu=tuple(tuple(entry) for entry in json.loads(row["menu"])) if row["menu"] else (),
            is_person=row["person_channel"] is not None,
            person_channel=row["person_channel"] or None,
        )

    async def _change_chat(self, sql: str, params: Sequence[Any]) -> None:
        await self._write(lambda db: db.execute(sql, params))

    async def set_language(self, channel: str, chat_id: str, language: str) -> None:
        await self._change_chat(
            "INSERT INTO chats (channel, chat_id, language) VALUES (?, ?, ?)"
            " ON CONFLICT (channel, chat_id) DO UPDATE SET language = excluded.language",
            (channel, chat_id, language),
        )

    async def mark_unreachable(self, channel: str, chat_id: str, since: datetime) -> None:
        await self._change_chat(
            "INSERT INTO chats (channel, chat_id, unreachable_since) VALUES (?, ?, ?)"
            " ON CONFLICT (channel, chat_id) DO UPDATE"
            " SET unreachable_since = COALESCE(chats.unreachable_since, excluded.unreachable_since)",
            (channel, chat_id, _iso(since)),
        )

    async def mark_reachable(self, channel: str, chat_id: str) -> None:
        await self._change_chat(
            "UPDATE chats SET unreachable_since = NULL WHERE channel = ? AND chat_id = ?", (channel, chat_id)
        )

    async def extend_menu(
        self, channel: str, chat_id: str, options: Sequence[tuple[str, str]], *, replace: bool, now: datetime
    ) -> int:
        def extend(db: sqlite3.Connection) -> int:
            row = _first(
                db, "SELECT menu, menu_at FROM chats WHERE channel = ? AND chat_id = ?", (channel, chat_id)
            )
            menu: list[list[str]] = json.loads(row["menu"]) if row and row["menu"] else []
            fresh = (
                row is not None
                and row["menu_at"] is not None
                and (datetime.fromisoformat(row["menu_at"]) > now - MENU_FRESH)
            )
            if replace or not fresh or len(menu) + len(options) > MENU_LIMIT:
                menu = []
            first = len(menu) + 1
            menu += [[key, label] for key, label in options]
            db.execute(
                "INSERT INTO chats (channel, chat_id, menu, menu_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (channel, chat_id) DO UPDATE"
                " SET menu = excluded.menu, menu_at = excluded.menu_at",
                (channel, chat_id, json.dumps(menu, ensure_ascii=False) if menu else None, _iso(now)),
            )
            return first

        return await self._write(extend)

    # surveys and answers

    async def get_survey(self, channel: str, chat_id: str) -> Survey | None:
        row = await self._read_one(
            f"{_SURVEY_STATE} WHERE s.channel = ? AND s.chat_id = ?", (channel, chat_id)
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
        values = (
            channel,
            chat_id,
            dossier_id,
            question_set,
            question_set_version,
            first_step,
            _iso(now),
            _iso(now),
        )

        def start(db: sqlite3.Connection) -> sqlite3.Row | None:
            db.execute("DELETE FROM surveys WHERE channel = ? AND chat_id = ?", (channel, chat_id))
            db.execute(
                "INSERT INTO surveys (channel, chat_id, dossier_id, question_set, question_set_version,"
                " step, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            return _first(db, f"{_SURVEY_STATE} WHERE s.channel = ? AND s.chat_id = ?", (channel, chat_id))

        row = await self._write(start)
        assert row is not None
        return _survey(row)

    async def get_answer(self, dossier_id: int) -> Answer | None:
        row = await self._read_one(
            f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE dossier_id = ?", (dossier_id,)
        )
        return _answer(row) if row else None

    @staticmethod
    def _advance(db: sqlite3.Connection, survey: Survey, next_step: str | None, now: datetime) -> None:
        """Moves the survey on only if it still stands where the caller saw it."""
        moved = _first(
            db,
            "UPDATE surveys SET step = ?, updated_at = ? WHERE id = ? AND step IS ? RETURNING id",
            (next_step, _iso(now), survey.id, survey.step),
        )
        if moved is None:
            raise StaleStep(survey.step or "")

    async def _update_answer(
        self,
        survey: Survey,
        change: str,
        params: Sequence[Any],
        next_step: str | None,
        now: datetime,
        case_deadline: date | None = None,
    ) -> Answer:
        """Moves the survey on and applies `change` (an SQL SET clause) to its answer, together."""

        def update(db: sqlite3.Connection) -> sqlite3.Row:
            self._advance(db, survey, next_step, now)
            row = _first(
                db,
                f"UPDATE answers SET {change}, completed_at = CASE WHEN ? THEN ? ELSE completed_at END"
                f" WHERE dossier_id = ? AND channel = ? AND chat_id = ? RETURNING {_ANSWER_COLUMNS}",
                (*params, next_step is None, _iso(now), survey.dossier_id, survey.channel, survey.chat_id),
            )
            if row is None:
                raise StaleStep(survey.step or "")
            if case_deadline is not None:
                _open_case(db, survey.dossier_id, case_deadline, now)
            return row

        return _answer(await self._write(update))

    async def record_rating(
        self,
        survey: Survey,
        *,
        rating: Rating,
        option_id: str,
        next_step: str | None,
        now: datetime,
        case_deadline: date | None = None,
    ) -> Answer:
        values = (
            survey.dossier_id, survey.channel, survey.chat_id, survey.question_set,
            survey.question_set_version, rating.value, option_id, _iso(now),
            _iso(now) if next_step is None else None,
        )  # fmt: skip

        def record(db: sqlite3.Connection) -> sqlite3.Row | None:
            self._advance(db, survey, next_step, now)
            try:
                row = _first(
                    db,
                    "INSERT INTO answers (dossier_id, channel, chat_id, question_set, question_set_version,"
                    " rating, rating_option, answered_at, completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    f" RETURNING {_ANSWER_COLUMNS}",
                    values,
                )
            except sqlite3.IntegrityError as exc:
                raise AlreadyAnswered(str(survey.dossier_id)) from exc
            if case_deadline is not None:
                _open_case(db, survey.dossier_id, case_deadline, now)
            return row

        row = await self._write(record)
        assert row is not None
        return _answer(row)

    async def record_follow_up(
        self, survey: Survey, follow_up: FollowUp, *, next_step: str | None, now: datetime
    ) -> Answer:
        return await self._update_answer(
            survey, "follow_ups = json_insert(follow_ups, '$[#]', json(?))", (follow_up.model_dump_json(),),
            next_step, now,
        )  # fmt: skip

    async def record_text(
        self,
        survey: Survey,
        question_id: str,
        text: str | None,
        *,
        next_step: str | None,
        now: datetime,
        case_deadline: date | None = None,
    ) -> Answer:
        if text is None:
            return await self._update_answer(survey, "texts = texts", (), next_step, now, case_deadline)
        return await self._update_answer(
            survey, "texts = json_set(texts, '$.' || json_quote(?), ?)", (question_id, text), next_step, now,
            case_deadline,
        )  # fmt: skip

    async def answered_since(self, channel: str, chat_id: str, since: datetime) -> bool:
        row = await self._read_one(
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
        rows = await self._read(sql + " ORDER BY a.answered_at, a.id", params)
        return [
            AnswerRow(
                dossier_code=r["dossier_code"], unit_code=r["unit_code"], unit_name=r["unit_name"],
                procedure=r["procedure"], answer=_answer(r),
            )
            for r in rows
        ]  # fmt: skip

    # outbox

    async def pending_invitations(self, limit: int = 100, after_id: int = 0) -> list[Invitation]:
        rows = await self._read(
            f"SELECT {_INVITATION_COLUMNS} FROM invitations WHERE status = 'pending' AND id > ?"
            " ORDER BY id LIMIT ?",
            (after_id, limit),
        )
        return [Invitation.model_validate(dict(r)) for r in rows]

    async def _finish_outbox(
        self, table: str, row_id: int, status: OutboxStatus, now: datetime, error: str | None
    ) -> None:
        assert table in _OUTBOXES  # a table name cannot be a parameter; only these two
        await self._write(
            lambda db: db.execute(
                f"UPDATE {table} SET status = ?, sent_at = ?, error = ? WHERE id = ?",
                (status.value, _iso(now), error, row_id),
            )
        )

    async def _retry_outbox(self, table: str, row_id: int, error: str) -> int:
        assert table in _OUTBOXES
        row = await self._write(
            lambda db: _first(
                db,
                f"UPDATE {table} SET attempts = attempts + 1, error = ? WHERE id = ? RETURNING attempts",
                (error, row_id),
            )
        )
        return int(row[0]) if row else 0

    async def finish_invitation(
        self, invitation_id: int, status: OutboxStatus, now: datetime, error: str | None = None
    ) -> None:
        await self._finish_outbox("invitations", invitation_id, status, now, error)

    async def retry_invitation(self, invitation_id: int, error: str) -> int:
        return await self._retry_outbox("invitations", invitation_id, error)

    # people and cases

    async def save_people(self, people: Sequence[PersonEntry]) -> None:
        await self._write(lambda db: _save_people(db, people))

    async def people_at(self, channel: str, chat_id: str) -> list[Person]:
        rows = await self._read(
            f"{_PERSON} AND p.id IN (SELECT person_id FROM person_contacts WHERE channel = ? AND chat_id = ?)"
            " ORDER BY p.id",
            (channel, chat_id),
        )
        return [_person(r) for r in rows]

    async def note_person_channel(self, channel: str, chat_id: str) -> None:
        await self._change_chat(
            "UPDATE people SET last_channel = ? WHERE id IN"
            " (SELECT person_id FROM person_contacts WHERE channel = ? AND chat_id = ?)",
            (channel, channel, chat_id),
        )

    async def unit_people(self, unit_code: str) -> list[Person]:
        rows = await self._read(f"{_PERSON} AND p.unit_code = ? ORDER BY p.role, p.name, p.id", (unit_code,))
        return [_person(r) for r in rows]

    async def get_person(self, person_id: int) -> Person | None:
        row = await self._read_one(f"SELECT {_PERSON_COLUMNS} FROM people p WHERE p.id = ?", (person_id,))
        return _person(row) if row else None

    async def get_case(self, case_id: int) -> Case | None:
        row = await self._read_one(f"{_CASE} WHERE c.id = ?", (case_id,))
        return _case(row) if row else None

    @staticmethod
    def _case_filter(
        unit_codes: Sequence[str],
        states: Sequence[CaseState],
        opened_after: datetime | None,
        deadline_before: date | None,
        assignee_id: int | None,
    ) -> tuple[str, list[Any]]:
        units = ", ".join("?" for _ in unit_codes) or "NULL"
        states_sql = ", ".join("?" for _ in states) or "NULL"
        where = f" WHERE c.unit_code IN ({units}) AND c.state IN ({states_sql})"
        params: list[Any] = [*unit_codes, *(s.value for s in states)]
        if opened_after is not None:
            where += " AND c.opened_at > ?"
            params.append(_iso(opened_after))
        if deadline_before is not None:
            where += " AND c.deadline < ?"
            params.append(_iso(deadline_before))
        if assignee_id is not None:
            where += " AND c.assignee_id = ?"
            params.append(assignee_id)
        return where, params

    async def list_cases(
        self,
        unit_codes: Sequence[str],
        *,
        states: Sequence[CaseState] = OPEN_STATES,
        opened_after: datetime | None = None,
        deadline_before: date | None = None,
        assignee_id: int | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Case]:
        where, params = self._case_filter(unit_codes, states, opened_after, deadline_before, assignee_id)
        # The page is chosen on the cases table alone, then only its rows are joined.
        rows = await self._read(
            f"{_CASE} WHERE c.id IN (SELECT c.id FROM cases c{where}"
            " ORDER BY c.opened_at, c.id LIMIT ? OFFSET ?) ORDER BY c.opened_at, c.id",
            (*params, limit or -1, offset),
        )
        return [_case(r) for r in rows]

    async def count_cases(
        self,
        unit_codes: Sequence[str],
        *,
        states: Sequence[CaseState] = OPEN_STATES,
        opened_after: datetime | None = None,
        deadline_before: date | None = None,
        assignee_id: int | None = None,
    ) -> int:
        where, params = self._case_filter(unit_codes, states, opened_after, deadline_before, assignee_id)
        row = await self._read_one(f"SELECT COUNT(*) FROM cases c{where}", params)
        return int(row[0]) if row else 0

    async def change_case(
        self,
        case_id: int,
        *,
        from_states: Sequence[CaseState],
        to_state: CaseState,
        actor: str,
        action: str,
        now: datetime,
        note: str | None = None,
        assignee_id: int | None = None,
        resolution: str | None = None,
        notices: Sequence[NoticeTo] = (),
    ) -> Case | None:
        allowed = ", ".join("?" for _ in from_states) or "NULL"

        def change(db: sqlite3.Connection) -> sqlite3.Row | None:
            moved = _first(
                db,
                "UPDATE cases SET state = ?, updated_at = ?, assignee_id = COALESCE(?, assignee_id),"
                f" resolution = COALESCE(?, resolution) WHERE id = ? AND state IN ({allowed}) RETURNING id",
                (
                    to_state.value,
                    _iso(now),
                    assignee_id,
                    resolution,
                    case_id,
                    *(s.value for s in from_states),
                ),
            )
            if moved is None:
                return None
            db.execute(
                "INSERT INTO case_events (case_id, at, actor, action, note) VALUES (?, ?, ?, ?, ?)",
                (case_id, _iso(now), actor, action, note),
            )
            db.executemany(
                "INSERT INTO notices (case_id, kind, channel, chat_id, person_id, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(case_id, n.kind, n.channel, n.chat_id, n.person_id, _iso(now)) for n in notices],
            )
            return _first(db, f"{_CASE} WHERE c.id = ?", (case_id,))

        row = await self._write(change)
        return _case(row) if row else None

    async def case_events(self, case_id: int) -> list[CaseEvent]:
        rows = await self._read(
            "SELECT case_id, at, actor, action, note FROM case_events WHERE case_id = ? ORDER BY id",
            (case_id,),
        )
        return [CaseEvent.model_validate(dict(r)) for r in rows]

    async def set_awaiting(self, channel: str, chat_id: str, awaiting: str | None) -> None:
        await self._change_chat(
            "INSERT INTO chats (channel, chat_id, awaiting) VALUES (?, ?, ?)"
            " ON CONFLICT (channel, chat_id) DO UPDATE SET awaiting = excluded.awaiting",
            (channel, chat_id, awaiting),
        )

    async def pending_notices(self, limit: int = 100, after_id: int = 0) -> list[Notice]:
        rows = await self._read(
            "SELECT id, case_id, kind, channel, chat_id, person_id, status, attempts FROM notices"
            " WHERE status = 'pending' AND id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        )
        return [Notice.model_validate(dict(r)) for r in rows]

    async def finish_notice(
        self, notice_id: int, status: OutboxStatus, now: datetime, error: str | None = None
    ) -> None:
        await self._finish_outbox("notices", notice_id, status, now, error)

    async def retry_notice(self, notice_id: int, error: str) -> int:
        return await self._retry_outbox("notices", notice_id, error)

    # digests

    async def figures_by_unit(self, start: datetime, end: datetime) -> dict[str, UnitFigures]:
        rows = await self._read(
            "SELECT d.unit_code, COUNT(*) AS answers, SUM(a.rating = 'satisfied') AS satisfied,"
            " SUM(a.rating = 'neutral') AS neutral, SUM(a.rating = 'unsatisfied') AS unsatisfied"
            " FROM answers a JOIN dossiers d ON d.id = a.dossier_id"
            " WHERE a.answered_at >= ? AND a.answered_at < ? GROUP BY d.unit_code",
            (_iso(start), _iso(end)),
        )
        return {r["unit_code"]: UnitFigures.model_validate(dict(r)) for r in rows}

    async def case_counts(self, day: date) -> dict[str, CaseCounts]:
        open_states = ", ".join(f"'{s.value}'" for s in OPEN_STATES)  # constants, not input
        rows = await self._read(
            f"SELECT c.unit_code, SUM(c.state IN ({open_states})) AS open,"
            f" SUM(c.state IN ({open_states}) AND c.deadline < ?) AS overdue,"
            " SUM(c.opened_at > COALESCE(last.sent_at, '')) AS new, last.sent_at AS last_digest_at"
            " FROM cases c LEFT JOIN (SELECT unit_code, MAX(sent_at) AS sent_at FROM digests"
            " WHERE status IN ('sent', 'empty') GROUP BY unit_code) last ON last.unit_code = c.unit_code"
            " GROUP BY c.unit_code",
            (_iso(day),),
        )
        return {r["unit_code"]: CaseCounts.model_validate(dict(r)) for r in rows}

    async def claim_digest(self, unit_code: str, day: date, now: datetime) -> bool:
        row = await self._write(
            lambda db: _first(
                db,
                "INSERT INTO digests (unit_code, day, status, claimed_at) VALUES (?, ?, 'sending', ?)"
                " ON CONFLICT (unit_code, day) DO UPDATE"
                " SET status = 'sending', claimed_at = excluded.claimed_at"
                " WHERE digests.status = 'empty' RETURNING day",
                (unit_code, _iso(day), _iso(now)),
            )
        )
        return row is not None

    async def finish_digest(
        self, unit_code: str, day: date, status: str, now: datetime, recipient: str | None = None
    ) -> None:
        await self._write(
            lambda db: db.execute(
                "UPDATE digests SET status = ?, sent_at = ?, recipient = ? WHERE unit_code = ? AND day = ?",
                (status, _iso(now), recipient, unit_code, _iso(day)),
            )
        )

    # question sets and the audit trail

    _QUESTION_SETS = (
        "SELECT q.id, q.set_id, q.version, q.source, q.active, q.imported_at, q.imported_by,"
        " (SELECT COUNT(*) FROM answers a WHERE a.question_set = q.set_id"
        " AND a.question_set_version = q.version) AS answers FROM question_sets q"
    )

    async def save_question_set(
        self, set_id: str, source: str, fingerprint: str, now: datetime, actor: str
    ) -> tuple[StoredQuestionSet, bool]:
        def save(db: sqlite3.Connection) -> tuple[int, bool]:
            same = _first(db, "SELECT id FROM question_sets WHERE set_id = ? AND fingerprint = ?",
                          (set_id, fingerprint))  # fmt: skip
            if same is not None:
                return int(same["id"]), False
            row = _first(
                db,
                "INSERT INTO question_sets (set_id, version, source, fingerprint, imported_at, imported_by)"
                " SELECT ?, COALESCE(MAX(version), 0) + 1, ?, ?, ?, ? FROM question_sets WHERE set_id = ?"
                " RETURNING id, version",
                (set_id, source, fingerprint, _iso(now), actor, set_id),
            )
            assert row is not None
            _audit(db, actor, "question set imported", f"{set_id} v{row['version']}", now)
            return int(row["id"]), True

        row_id, created = await self._write(save)
        stored = await self.get_question_set(row_id)
        assert stored is not None
        return stored, created

    async def list_question_sets(self) -> list[StoredQuestionSet]:
        rows = await self._read(f"{self._QUESTION_SETS} ORDER BY q.set_id, q.version")
        return [StoredQuestionSet.model_validate(dict(r)) for r in rows]

    async def active_question_sets(self) -> list[StoredQuestionSet]:
        rows = await self._read(
            "SELECT id, set_id, version, source, active, imported_at, imported_by FROM question_sets"
            " WHERE active = 1 ORDER BY id"
        )
        return [StoredQuestionSet.model_validate(dict(r)) for r in rows]

    async def get_question_set(self, row_id: int) -> StoredQuestionSet | None:
        row = await self._read_one(f"{self._QUESTION_SETS} WHERE q.id = ?", (row_id,))
        return StoredQuestionSet.model_validate(dict(row)) if row else None

    async def find_question_set(self, set_id: str, version: int) -> StoredQuestionSet | None:
        row = await self._read_one(
            f"{self._QUESTION_SETS} WHERE q.set_id = ? AND q.version = ?", (set_id, version)
        )
        return StoredQuestionSet.model_validate(dict(row)) if row else None

    async def activate_question_set(self, row_id: int, now: datetime, actor: str) -> StoredQuestionSet | None:
        def activate(db: sqlite3.Connection) -> bool:
            row = _first(db, "SELECT set_id, version FROM question_sets WHERE id = ?", (row_id,))
            if row is None:
                return False
            db.execute("UPDATE question_sets SET active = (id = ?) WHERE set_id = ?", (row_id, row["set_id"]))
            _audit(db, actor, "question set activated", f"{row['set_id']} v{row['version']}", now)
            return True

        return await self.get_question_set(row_id) if await self._write(activate) else None

    async def audit_since(self, since: datetime | None) -> list[AuditEntry]:
        rows = await self._read(
            "SELECT at, actor, action, detail FROM ("
            " SELECT at, actor, action, detail, 0 AS kind, id FROM audit"
            " UNION ALL SELECT e.at, e.actor, 'case ' || e.action,"
            " '#' || e.case_id || COALESCE(': ' || e.note, ''), 1, e.id FROM case_events e)"
            " WHERE at >= ? ORDER BY at, kind, id",
            (_iso(since) or "",),
        )
        return [AuditEntry.model_validate(dict(r)) for r in rows]

    # the directory

    async def all_people(self) -> list[Person]:
        rows = await self._read(f"{_PERSON} ORDER BY p.unit_code, p.role, p.name, p.id")
        return [_person(r) for r in rows]

    async def propose_directory(self, source: str, now: datetime, actor: str) -> DirectoryProposal:
        row = await self._write(
            lambda db: _first(
                db,
                "INSERT INTO directory_proposals (source, proposed_at, proposed_by) VALUES (?, ?, ?)"
                " RETURNING id, source, proposed_at, proposed_by, applied_at",
                (source, _iso(now), actor),
            )
        )
        assert row is not None
        return DirectoryProposal.model_validate(dict(row))

    async def get_directory_proposal(self, proposal_id: int) -> DirectoryProposal | None:
        row = await self._read_one(
            "SELECT id, source, proposed_at, proposed_by, applied_at FROM directory_proposals WHERE id = ?",
            (proposal_id,),
        )
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

        def apply(db: sqlite3.Connection) -> bool:
            if proposal_id is not None:
                claimed = _first(
                    db,
                    "UPDATE directory_proposals SET applied_at = ? WHERE id = ? AND applied_at IS NULL"
                    " RETURNING id",
                    (_iso(now), proposal_id),
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
                    "UPDATE units SET retired_at = ?, parent_code = NULL WHERE code = ?", (_iso(now), code)
                )
                target = moves.get(code)
                if target is None:
                    continue
                moved = db.execute(
                    "UPDATE cases SET unit_code = ?, updated_at = ?"
                    " WHERE unit_code = ? AND state IN (?, ?, ?) RETURNING id",
                    (target, _iso(now), code, *open_states),
                ).fetchall()
                db.executemany(
                    "INSERT INTO case_events (case_id, at, actor, action, note) VALUES (?, ?, ?, 'moved', ?)",
                    [(row["id"], _iso(now), actor, f"{code} → {target}") for row in moved],
                )
            _save_people(db, people)
            _audit(db, actor, "directory applied", summary, now)
            return True

        return await self._write(apply)


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
