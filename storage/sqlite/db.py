"""What every SQLite repository shares: one aiosqlite connection in WAL mode with foreign keys on,
numbered migrations applied in order at open, and the write and read helpers.

Each write is one unit of work: a plain function that runs in the connection's thread between
BEGIN IMMEDIATE and COMMIT, so it costs one trip to the database thread and can never interleave
with another coroutine's statements; a read is one statement, one trip. (A second, read-only
connection was measured: its extra thread contends for the GIL and made the survey slower, see
bench/survey_throughput.py.)"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from storage.base import DatabaseUnavailable

T = TypeVar("T")
Row = sqlite3.Row
Connection = sqlite3.Connection
SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


def migrations() -> list[tuple[int, str]]:
    """The numbered SQL files shipped in storage/migrations, in order."""
    folder = resources.files("storage") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def iso(value: datetime | date | None) -> str | None:
    """The text a time or day is stored as. Times are stored in UTC: SQLite compares them as text,
    which orders instants only when they share one offset (the one-stop software writes Vietnam's)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.isoformat() if value is not None else None


def first(db: Connection, sql: str, params: Sequence[Any] = ()) -> Row | None:
    """The first row; every row is fetched, so a RETURNING statement is finished before COMMIT."""
    rows: list[Row] = db.execute(sql, params).fetchall()
    return rows[0] if rows else None


def placeholders(values: Sequence[Any]) -> str:
    """`?, ?, ?` for an IN list; NULL for an empty one, which matches nothing."""
    return ", ".join("?" for _ in values) or "NULL"


def record_audit(db: Connection, actor: str, action: str, detail: str | None, now: datetime) -> None:
    """Writes an audit entry inside the caller's transaction."""
    db.execute(
        "INSERT INTO audit (at, actor, action, detail) VALUES (?, ?, ?, ?)", (iso(now), actor, action, detail)
    )


class Database:
    """The connection every repository of one SQLite file shares."""

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL") -> None:
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {list(SYNCHRONOUS)}, not {synchronous!r}")
        self.path = str(path)
        self.synchronous = synchronous
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> None:
        """Opens the file (created if need be) and applies the migrations, which always write, so a
        database that opens can be written. Raises DatabaseUnavailable naming the cause, and then
        leaves nothing running: aiosqlite's thread is not a daemon, and one left behind by a failed
        open kept the process from ever exiting."""
        db: aiosqlite.Connection | None = None
        try:
            if self.path != ":memory:":
                _make_folder(Path(self.path).parent)
            db = await aiosqlite.connect(self.path, isolation_level=None)
            db.row_factory = sqlite3.Row
            # execute_fetchall reads every pragma to its end: a statement left unread blocks COMMIT.
            await db.execute_fetchall("PRAGMA busy_timeout = 10000")
            await db.execute_fetchall("PRAGMA journal_mode = WAL")
            await db.execute_fetchall(f"PRAGMA synchronous = {self.synchronous}")
            await db.execute_fetchall("PRAGMA foreign_keys = ON")
            self._db = db
            await self.write(_migrate)
        except (sqlite3.Error, OSError, DatabaseUnavailable) as exc:
            self._db = None
            if db is not None:
                with contextlib.suppress(sqlite3.Error):
                    await db.close()
            cause = exc.__cause__ if isinstance(exc, DatabaseUnavailable) and exc.__cause__ else exc
            raise unavailable(self.path, cause) from cause

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def write(self, unit_of_work: Callable[[Connection], T]) -> T:
        """Runs `unit_of_work` in the connection's thread inside one transaction: committed if it
        returns, rolled back if it raises."""
        if self._db is None:
            raise RuntimeError("storage is not open")
        connection = self._db

        def run() -> T:
            db = connection._conn
            db.execute("BEGIN IMMEDIATE")
            try:
                result = unit_of_work(db)
                db.execute("COMMIT")
            except BaseException:
                # A COMMIT refused by a full disk may leave the transaction open, and every later
                # BEGIN would fail; SQLite may also have rolled it back already.
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            return result

        # aiosqlite queues each call to its thread in order; one call per unit of work keeps the
        # transaction whole without an asyncio lock and costs one trip to the thread.
        try:
            return await connection._execute(run)  # type: ignore[no-untyped-call, no-any-return]
        except sqlite3.OperationalError as exc:
            if unwritable(exc):
                raise unavailable(self.path, exc, "write to") from exc
            raise

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """One statement as its own transaction."""
        await self.write(lambda db: db.execute(sql, params))

    async def read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        if self._db is None:
            raise RuntimeError("storage is not open")
        return list(await self._db.execute_fetchall(sql, params))

    async def read_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self.read(sql, params)
        return rows[0] if rows else None


# SQLite's primary result codes for a database that cannot be written just now.
UNWRITABLE = {
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN,
}


def unwritable(exc: sqlite3.Error) -> bool:
    """Whether a failed write failed for the disk or file (full, read-only, I/O), not for what it wrote."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in UNWRITABLE


def unavailable(path: str, exc: BaseException, doing: str = "open") -> DatabaseUnavailable:
    """The one line that names the database and the cause."""
    cause = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return DatabaseUnavailable(f"cannot {doing} the database {path}: {cause}")


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise OSError(exc.errno, f"{exc.filename} is a file, not a folder") from exc
    except OSError as exc:
        raise OSError(exc.errno, f"its folder cannot be created: {exc.filename}: {exc.strerror}") from exc


def _migrate(db: Connection) -> None:
    row = first(db, "PRAGMA user_version")
    current = row[0] if row else 0
    for number, script in migrations():
        if number > current:
            for statement in _statements(script):
                db.execute(statement)
            current = number
    # Written even when nothing was migrated: an open that succeeds proves the database can be
    # written (a read-only one, or a full disk, is refused at start rather than at the first answer).
    # PRAGMA takes no parameters; the number is an int from a file name.
    db.execute(f"PRAGMA user_version = {int(current)}")


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
