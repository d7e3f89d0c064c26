"""What every SQLite repository shares: one aiosqlite connection in WAL mode with foreign keys on,
numbered migrations applied in order at open, and the write and read helpers.

Each write is one unit of work: a plain function that runs in the connection's thread inside a
transaction, so it can never interleave with another coroutine's statements; a read is one
statement. Both wait in one queue that the thread drains a batch at a time (see `Database`).

Measured with bench/survey_throughput.py and left out: a second, read-only connection (its extra
thread contends for the GIL); reads on a connection in the event loop's own thread (the database
thread's work runs beside the loop's, which is worth more than the hand-over); units without
savepoints, run again with them only when one fails (a third fewer statements, no faster)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from storage.base import DatabaseUnavailable
from storage.handback import hand_back
from storage.migrating import migration_list
from storage.sql.common import (
    SQLITE,
    Dialect,
    first,
    iso,
    placeholders,
    record_audit,
    record_audits,
)

T = TypeVar("T")
Row = sqlite3.Row
__all__ = ["Database", "first", "iso", "migrations", "placeholders", "record_audit", "record_audits"]
SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


def migrations() -> list[tuple[int, str]]:
    """SQLite's numbered migrations (storage/migrations), in order: (number, script)."""
    return [(m.number, m.script) for m in migration_list(SQLITE)]


class SQLiteConnection(sqlite3.Connection):
    """sqlite3's connection, telling the units of work which dialect they speak."""

    dialect: Dialect = SQLITE


Connection = SQLiteConnection


class Database:
    """The connection every repository of one SQLite file shares.

    Reads and writes wait in one queue and go to the connection's thread together: the thread
    runs whatever has gathered, reads first, then every write in one transaction, each write in
    its own SAVEPOINT, and hands the results back in one call. Under load this is group commit:
    one trip to the thread, one COMMIT and one wake-up of the event loop for many chats instead
    of one each. Nobody is answered before the COMMIT that holds their write."""

    dialect: Dialect = SQLITE

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL") -> None:
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {list(SYNCHRONOUS)}, not {synchronous!r}")
        self.path = str(path)
        self.synchronous = synchronous
        self._db: aiosqlite.Connection | None = None
        # Jobs waiting for the thread; the event loop appends, the thread takes them all at once.
        self._lock = threading.Lock()
        self._waiting: list[_Job] = []
        self._draining = False

    async def open(self) -> None:
        """Opens the file (created if need be) and applies the migrations, which always write, so a
        database that opens can be written. Raises DatabaseUnavailable naming the cause, and then
        leaves nothing running: aiosqlite's thread is not a daemon, and one left behind by a failed
        open kept the process from ever exiting."""
        db: aiosqlite.Connection | None = None
        try:
            if self.path != ":memory:":
                make_folder(Path(self.path).parent)
            db = await aiosqlite.connect(self.path, isolation_level=None, factory=SQLiteConnection)
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
            # aiosqlite closes after the calls queued before, so the jobs under way finish first.
            db, self._db = self._db, None
            await db.close()

    async def write(self, unit_of_work: Callable[[Connection], T]) -> T:
        """Runs `unit_of_work` in the connection's thread inside a transaction; returns once that
        transaction is committed. If it raises, its changes are rolled back (and no one else's). A
        database that cannot be written just now (full, read-only, I/O) raises DatabaseUnavailable."""
        try:
            return await self._submit(unit_of_work, writes=True)
        except sqlite3.OperationalError as exc:
            if unwritable(exc):
                raise unavailable(self.path, exc, "write to") from exc
            raise

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """One statement as its own unit of work."""
        await self.write(lambda db: db.execute(sql, params))

    async def read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self._submit(lambda db: db.execute(sql, params).fetchall(), writes=False)

    async def read_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self.read(sql, params)
        return rows[0] if rows else None

    async def _submit(self, work: Callable[[Connection], T], *, writes: bool) -> T:
        if self._db is None:
            raise RuntimeError("storage is not open")
        loop = asyncio.get_running_loop()
        job = _Job(work, writes, loop.create_future())
        with self._lock:
            self._waiting.append(job)
            start, self._draining = not self._draining, True
        if start:
            connection = self._db
            # One aiosqlite call drains the queue until it is empty; jobs queued meanwhile join it.
            connection._tx.put_nowait((None, partial(self._drain, connection._conn)))  # type: ignore[arg-type]
        return await job.future  # type: ignore[no-any-return]

    def _drain(self, db: Connection) -> None:
        """In the connection's thread: runs the waiting jobs, a gathered batch at a time, until
        none is left."""
        while True:
            with self._lock:
                batch, self._waiting = self._waiting, []
                if not batch:
                    self._draining = False
                    return
            try:
                _run_batch(db, batch)
            except BaseException as exc:  # a fault outside every unit of work: no caller waits forever
                hand_back([(job, False, exc) for job in batch])


@dataclass(frozen=True)
class _Job:
    work: Callable[[Connection], Any]
    writes: bool
    future: asyncio.Future[Any]


Outcome = tuple[_Job, bool, Any]  # (job, succeeded, its result or exception)


def _run_batch(db: Connection, batch: list[_Job]) -> None:
    reads = [job for job in batch if not job.writes]
    if reads:
        # The jobs of one batch were all waiting at once, so none follows from another: reads
        # may go first, and their callers need not wait for the COMMIT.
        hand_back([_run_read(db, job) for job in reads])
    writes = [job for job in batch if job.writes]
    if writes:
        hand_back(_run_writes(db, writes))


def _run_read(db: Connection, job: _Job) -> Outcome:
    try:
        return job, True, job.work(db)
    except BaseException as exc:
        return job, False, exc


def _run_writes(db: Connection, jobs: list[_Job]) -> list[Outcome]:
    """Runs units of work in as few transactions as their failures allow: one, normally, in which
    a unit that raises is rolled back alone (see `_transaction`). If that transaction is lost
    anyway, the units it held run again; if only its COMMIT failed, each runs again alone."""
    outcomes: list[Outcome] = []
    waiting = jobs
    while waiting:
        try:
            settled, again, alone = _transaction(db, waiting)
        except BaseException as exc:  # the statements around the units failed: nothing committed
            if db.in_transaction:
                db.execute("ROLLBACK")
            return outcomes + [(job, False, exc) for job in waiting]
        outcomes += settled
        if alone:
            for job in again:
                outcomes += _run_writes(db, [job])
            again = []
        waiting = again
    return outcomes


def _transaction(db: Connection, jobs: list[_Job]) -> tuple[list[Outcome], list[_Job], bool]:
    """One transaction over `jobs`, each in a SAVEPOINT, so a unit that raises is rolled back
    without the others. Returns the settled outcomes (results count only once committed), the
    units to run again, and whether to run those one at a time."""
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:  # another process held the write lock past busy_timeout
        return [(job, False, exc) for job in jobs], [], False
    done: list[Outcome] = []
    failed: list[Outcome] = []
    for n, job in enumerate(jobs):
        db.execute("SAVEPOINT unit_of_work")
        try:
            result = job.work(db)
        except BaseException as exc:
            failed.append((job, False, exc))
            if not db.in_transaction:  # SQLite ended the whole transaction (a full disk, say)
                return failed, [done_job for done_job, _, _ in done] + jobs[n + 1 :], False
            db.execute("ROLLBACK TO unit_of_work")
            db.execute("RELEASE unit_of_work")
        else:
            db.execute("RELEASE unit_of_work")
            done.append((job, True, result))
    try:
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        if db.in_transaction:
            db.execute("ROLLBACK")
        if len(done) == 1:
            return [*failed, (done[0][0], False, exc)], [], False
        return failed, [done_job for done_job, _, _ in done], True
    return done + failed, [], False


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


def make_folder(folder: Path) -> None:
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
