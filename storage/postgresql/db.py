"""What every repository shares on PostgreSQL: a pool of psycopg 3 connections, each unit of work
run in a worker thread inside one SERIALIZABLE transaction, retried when PostgreSQL finds it raced
another (serialization failure, deadlock).

Why psycopg 3's synchronous connections in threads rather than an async driver: the units of work
are the same plain functions SQLite runs in its thread (storage/sql), so one set of repositories
serves both backends; psycopg releases the GIL while it waits on the network, so the threads run
side by side. Why SERIALIZABLE: every unit of work was written for SQLite, where one writer at a
time sees everything committed before it; SERIALIZABLE gives each the same guarantee while several
processes write at once, and PostgreSQL says when one must run again (it is then run again, whole)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache, partial
from typing import Any, TypeVar

import psycopg
from psycopg import errors, postgres
from psycopg.adapt import Dumper, Loader
from psycopg.rows import RowMaker
from psycopg_pool import ConnectionPool, PoolTimeout

from storage.base import DatabaseUnavailable
from storage.handback import hand_back
from storage.postgresql.migrate import SchemaTooNew, migrate
from storage.sql.common import POSTGRESQL, Dialect

log = logging.getLogger(__name__)
T = TypeVar("T")

ENV_PASSWORD = "FEEDBACK_BOT_DATABASE_PASSWORD"
POOL_SIZE = 8  # connections, and worker threads, per process
BATCH = 200  # units of work committed together at most (see Database.write)
BATCH_RETRIES = 3  # runs of a batch that keeps racing before its units run one at a time
READ_BATCH = 16  # reads one worker takes at once (see Database.read)
PREPARE_THRESHOLD = 1  # runs of a statement on a connection before it is prepared (see _configure)
PREPARED_MAX = 256  # prepared statements kept per connection, the least recently used let go
CONNECT_TIMEOUT = 10  # seconds
# Seconds a unit of work waits for a connection: while the server is down, each fails this soon
# (DatabaseUnavailable: the citizen is told "not saved, try again") instead of queueing for minutes.
POOL_WAIT = 5.0
# Seconds a unit of work that keeps racing other processes' is run again before its error is raised:
# every answer bumps one counter row (the answers feed's change number), so under a burst from
# several processes one of two always runs again.
RACE_BUDGET = 10.0
RACED = (errors.SerializationFailure, errors.DeadlockDetected)


class PgRow:
    """A row as sqlite3.Row gives it: by column name or position, and as a mapping."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: dict[str, int], values: Sequence[Any]) -> None:
        self._index = index
        self._values = values

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"PgRow({dict(zip(self._index, self._values, strict=False))!r})"


def pg_row(cursor: psycopg.Cursor[Any]) -> RowMaker[PgRow]:
    index: dict[str, int] = {}
    for n, column in enumerate(cursor.description or ()):
        index.setdefault(column.name, n)  # like sqlite3.Row, a repeated name means the first
    return partial(PgRow, index)


class NumberLoader(Loader):
    """NUMERIC (what SUM and AVG of integers give) as SQLite gives it: an int when whole, else a
    float, so the records and the arithmetic above them see the same values on both backends."""

    def load(self, data: Any) -> int | float:
        number = Decimal(bytes(data).decode())
        return int(number) if number == number.to_integral_value() else float(number)


# SQLite's IS with a value; PostgreSQL's IS takes only NULL, TRUE or FALSE.
IS_NOT_VALUE = re.compile(r"\bIS\s+NOT\s+(?=[?'])", re.IGNORECASE)
IS_VALUE = re.compile(r"\bIS\s+(?=[?'])", re.IGNORECASE)
# SQLite's CROSS JOIN keeps its tables in the order written; PostgreSQL's takes no ON.
CROSS_JOIN_ON = re.compile(r"\bCROSS\s+JOIN\s+(\w+(?:\s+\w+)?)\s+ON\b", re.IGNORECASE)
# SQLite's hint to its planner; PostgreSQL plans alone.
INDEXED_BY = re.compile(r"\s+INDEXED\s+BY\s+\w+", re.IGNORECASE)
INSERT_OR_IGNORE = re.compile(r"^(\s*(?:WITH\b.*?\)\s*)?INSERT)\s+OR\s+IGNORE\b", re.IGNORECASE | re.DOTALL)
RETURNING = re.compile(r"\s+RETURNING\b", re.IGNORECASE)
NUMBERED = re.compile(r"\?(\d+)")
# What is not SQL to rewrite: quoted text, quoted names, comments.
LITERAL = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.DOTALL)


@dataclass(frozen=True)
class Statement:
    sql: str
    numbered: bool  # `?1`, `?2`: the parameters go by name (p1, p2), as psycopg spells it


class FlagDumper(Dumper):
    """True and False as 1 and 0: flags are INTEGER columns, as in SQLite."""

    oid = postgres.types["int4"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


@lru_cache(maxsize=4096)
def translate(sql: str) -> Statement:
    """A statement written for SQLite as PostgreSQL reads it: `?` as psycopg's `%s` (`?N` as
    `%(pN)s`), every literal `%` doubled (psycopg reads the whole statement), SQLite's planner hints
    dropped, `IS ?` as `IS NOT DISTINCT FROM`, `CROSS JOIN .. ON` as `JOIN`, and `INSERT OR IGNORE`
    as `ON CONFLICT DO NOTHING`. Quoted text, quoted names and comments are left as they are."""
    # Each quoted text, quoted name or comment stands aside as a token while the rest is rewritten;
    # a token is quoted as text is, so that `IS 'x'` is still seen as IS with a value.
    kept: list[str] = []

    def aside(found: re.Match[str]) -> str:
        kept.append(found.group())
        return f"'\x00{len(kept) - 1}\x00'"

    code = _rewrite(LITERAL.sub(aside, sql))
    ignore = INSERT_OR_IGNORE.match(code)
    if ignore:
        code = code[: ignore.start(1)] + ignore.group(1) + code[ignore.end() :]
        body = code.rstrip().removesuffix(";")
        returning = RETURNING.search(body)
        if returning is None:
            code = f"{body} ON CONFLICT DO NOTHING"
        else:
            code = f"{body[: returning.start()]} ON CONFLICT DO NOTHING{body[returning.start() :]}"
    return _parameters(re.sub(r"'\x00(\d+)\x00'", lambda token: kept[int(token.group(1))], code))


def _rewrite(code: str) -> str:
    code = CROSS_JOIN_ON.sub(r"JOIN \1 ON", INDEXED_BY.sub("", code))
    return IS_VALUE.sub("IS NOT DISTINCT FROM ", IS_NOT_VALUE.sub("IS DISTINCT FROM ", code))


def _parameters(sql: str) -> Statement:
    """SQLite's parameters as psycopg's, and `%` doubled, outside and inside quotes (psycopg reads
    the whole statement); a `?` inside quotes or a comment stays a question mark. As SQLite numbers
    them: `?N` is the Nth value, a bare `?` one more than the largest before it."""
    numbered = NUMBERED.search(LITERAL.sub("", sql)) is not None
    out: list[str] = []
    largest = n = 0
    literals = {m.start(): m.end() for m in LITERAL.finditer(sql)}
    while n < len(sql):
        if n in literals:
            out.append(sql[n : literals[n]].replace("%", "%%"))
            n = literals[n]
            continue
        char = sql[n]
        if char == "%":
            out.append("%%")
        elif char == "?":
            number = NUMBERED.match(sql, n)
            if not numbered:
                out.append("%s")
            elif number:
                largest = max(largest, int(number.group(1)))
                out.append(f"%(p{number.group(1)})s")
                n = number.end()
                continue
            else:
                largest += 1
                out.append(f"%(p{largest})s")
        else:
            out.append(char)
        n += 1
    return Statement("".join(out), numbered)


def bound(statement: Statement, parameters: Sequence[Any]) -> Sequence[Any] | dict[str, Any]:
    values = tuple(_without_nul(value) for value in parameters)
    if statement.numbered:
        return {f"p{n}": value for n, value in enumerate(values, 1)}
    return values


def _without_nul(value: Any) -> Any:
    """PostgreSQL's text cannot hold the NUL character, which means nothing in a name or a message:
    it is dropped rather than refused, so a text SQLite would store is stored here too."""
    return value.replace("\x00", "") if isinstance(value, str) and "\x00" in value else value


class PgConnection:
    """The connection a unit of work is given: the DB-API subset the repositories use, with `?`."""

    dialect: Dialect = POSTGRESQL

    def __init__(self, conn: psycopg.Connection[PgRow]) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[PgRow]:
        cursor = self._conn.cursor()
        if parameters:
            statement = translate(sql)
            cursor.execute(statement.sql, bound(statement, parameters))
        else:
            cursor.execute(translate(sql).sql.replace("%%", "%"))
        return cursor

    def executemany(self, sql: str, parameters: Any, /) -> psycopg.Cursor[PgRow]:
        cursor = self._conn.cursor()
        statement = translate(sql)
        rows = [bound(statement, p) for p in parameters]
        if rows:
            cursor.executemany(statement.sql, rows)
        return cursor


def connection_kwargs() -> dict[str, Any]:
    """What every connection of the bot is opened with: the password from the environment, never the
    config (libpq's PGPASSWORD, PGSERVICE and ~/.pgpass work as well)."""
    kwargs: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT, "application_name": "feedback-bot"}
    password = os.environ.get(ENV_PASSWORD)
    if password:
        kwargs["password"] = password
    return kwargs


def safe_url(url: str) -> str:
    """The URL without a password, for messages and logs."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://(unreadable address)"
    host = info.get("host") or "localhost"
    port = f":{info['port']}" if info.get("port") else ""
    user = f"{info['user']}@" if info.get("user") else ""
    return f"postgresql://{user}{host}{port}/{info.get('dbname', '')}"


class Database:
    """The pool every repository of one PostgreSQL database shares."""

    dialect: Dialect = POSTGRESQL

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self.path = safe_url(url)  # what messages name, as SQLite names its file
        self.pool_size = pool_size
        self._pool: ConnectionPool[psycopg.Connection[PgRow]] | None = None
        self._threads: ThreadPoolExecutor | None = None
        # Units of work waiting to be written; the event loop appends, a worker takes them in batches.
        self._lock = threading.Lock()
        self._waiting: list[_Job] = []
        self._draining = False
        self._reads: list[_Job] = []
        self._readers = 0

    async def open(self) -> None:
        """Connects and applies the migrations. Raises DatabaseUnavailable naming the cause."""
        self._threads = ThreadPoolExecutor(self.pool_size, thread_name_prefix="postgresql")
        pool: ConnectionPool[psycopg.Connection[PgRow]] = ConnectionPool(
            self.url,
            min_size=1,
            max_size=self.pool_size,
            kwargs={**connection_kwargs(), "autocommit": True, "row_factory": pg_row},
            configure=_configure,
            check=_check_if_idle,
            reset=_note_return,
            timeout=POOL_WAIT,
            open=False,
            name="feedback-bot",
        )
        try:
            # One connection first, alone: a refusal (a wrong password, no such database, no
            # server) is told as the server words it, not as a pool that never filled.
            await self._run(partial(_connect_once, self.url))
            await self._run(partial(pool.open, wait=True, timeout=CONNECT_TIMEOUT))
            self._pool = pool

            def migrated() -> list[int]:
                with pool.connection() as conn:
                    refuse_collation(conn)
                    return migrate(conn)

            applied = await self._run(migrated)
            if applied:
                log.info("database %s migrated: %s", self.path, ", ".join(f"{n:03d}" for n in applied))
        except (psycopg.Error, PoolTimeout, OSError, UnsuitableDatabase, SchemaTooNew) as exc:
            self._pool = None
            await self._run(pool.close)
            self._threads.shutdown(wait=False)
            self._threads = None
            if isinstance(exc, (UnsuitableDatabase, SchemaTooNew)):
                raise UnsuitableDatabase(f"cannot use the database {self.path}: {exc}") from None
            raise unavailable(self.path, exc) from exc

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await self._run(pool.close)
        if self._threads is not None:
            self._threads.shutdown(wait=True)
            self._threads = None

    async def write(self, unit_of_work: Callable[[PgConnection], T]) -> T:
        """Runs `unit_of_work` in a transaction; returns once it is committed. If it raises, its
        changes are rolled back (and no one else's). Raced by another writer, it runs again, whole.

        Group commit, as SQLite's Database does: the units of work of this process that wait at
        once run one after another in one transaction (see _run_writes), by one worker at a time.
        Under load that is one COMMIT (one wait for the disk) for many chats, and no two units of
        one process race each other: with a transaction each, 400 chats at once in
        bench/survey_throughput.py raced so often (every answer bumps one counter row, and inserts
        near the same index pages fail each other under SERIALIZABLE) that some ran out of
        retries and a citizen's message was not saved; with batches none race, and the bench went
        from 0.10 to 0.26 of bare python-telegram-bot. Nobody is answered before their COMMIT."""
        if self._threads is None:
            raise RuntimeError("storage is not open")
        loop = asyncio.get_running_loop()
        job = _Job(unit_of_work, loop.create_future())
        with self._lock:
            self._waiting.append(job)
            start, self._draining = not self._draining, True
        if start:
            try:
                self._threads.submit(self._drain)
            except RuntimeError as exc:  # closed meanwhile
                with self._lock:
                    orphans, self._waiting, self._draining = self._waiting, [], False
                hand_back([(orphan, False, exc) for orphan in orphans])
        try:
            return await job.future  # type: ignore[no-any-return]
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise unavailable(self.path, exc, "write to") from exc

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self.write(lambda db: db.execute(sql, params))

    async def read(self, sql: str, params: Sequence[Any] = ()) -> list[PgRow]:
        """One statement, on its own. The reads waiting at once are shared out among the workers the
        writer leaves, each taking up to READ_BATCH and running them one after another on one
        connection: one hand-over to a thread and one wake-up of the event loop for several reads
        rather than one each (250 reads at once: about 50 µs a read rather than 150)."""
        if self._threads is None:
            raise RuntimeError("storage is not open")
        job = _Job(partial(_fetch_all, sql, params), asyncio.get_running_loop().create_future())
        with self._lock:
            self._reads.append(job)
            start = self._readers < max(1, self.pool_size - 1)
            if start:
                self._readers += 1
        if start:
            try:
                self._threads.submit(self._drain_reads)
            except RuntimeError as exc:  # closed meanwhile
                with self._lock:
                    orphans, self._reads, self._readers = self._reads, [], 0
                hand_back([(orphan, False, exc) for orphan in orphans])
        try:
            return await job.future  # type: ignore[no-any-return]
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise unavailable(self.path, exc, "read") from exc

    async def read_one(self, sql: str, params: Sequence[Any] = ()) -> PgRow | None:
        rows = await self.read(sql, params)
        return rows[0] if rows else None

    async def _run(self, work: Callable[[], T]) -> T:
        """Opening and closing work in a worker thread (what `open` raises, it names)."""
        if self._threads is None:
            raise RuntimeError("storage is not open")
        return await asyncio.get_running_loop().run_in_executor(self._threads, work)

    def _with_connection(self, work: Callable[[psycopg.Connection[PgRow]], T]) -> T:
        if self._pool is None:
            raise RuntimeError("storage is not open")
        with self._pool.connection() as conn:
            return work(conn)

    def _drain_reads(self) -> None:
        """In a worker thread: runs waiting reads, a few at a time, until none is left."""
        while True:
            with self._lock:
                batch, self._reads = self._reads[:READ_BATCH], self._reads[READ_BATCH:]
                if not batch:
                    self._readers -= 1
                    return
            try:
                outcomes = self._with_connection(partial(_run_reads, batch))
            except BaseException as exc:  # no connection to read on
                outcomes = [(job, False, exc) for job in batch]
            hand_back(outcomes)

    def _drain(self) -> None:
        """In a worker thread: writes the waiting units of work, a batch at a time, until none is left."""
        while True:
            with self._lock:
                batch, self._waiting = self._waiting[:BATCH], self._waiting[BATCH:]
                if not batch:
                    self._draining = False
                    return
            try:
                outcomes = self._with_connection(partial(_run_writes, batch))
            except BaseException as exc:  # no connection, or one lost: nothing of the batch committed
                outcomes = [(job, False, exc) for job in batch]
            hand_back(outcomes)


@dataclass(frozen=True)
class _Job:
    work: Callable[[PgConnection], Any]
    future: asyncio.Future[Any]


Outcome = tuple[_Job, bool, Any]  # (job, succeeded, its result or exception)


def _run_writes(jobs: list[_Job], conn: psycopg.Connection[PgRow]) -> list[Outcome]:
    """Runs the units of work in one transaction, again while it races another process's, and
    one at a time if it keeps racing or fails for a reason not a single unit's (its COMMIT).

    The first run has no SAVEPOINT around each unit, which would cost two round trips a unit on
    the one worker that writes; if a unit raises, the batch runs again with them, so that the
    unit is rolled back alone."""
    if len(jobs) > 1:
        savepoints = False
        attempt = 0
        while attempt < BATCH_RETRIES:
            try:
                return _together(jobs, conn, savepoints)
            except _UnitFailed:
                savepoints = True
                continue
            except RACED as exc:
                log.debug("%d units of work raced another process (%s)", len(jobs), type(exc).__name__)
            except Exception:
                if conn.broken or conn.closed:
                    raise
                break
            _pause(attempt)
            attempt += 1
    outcomes: list[Outcome] = []
    for n, job in enumerate(jobs):
        try:
            outcomes.append(_alone(job, conn))
        except BaseException as exc:  # the connection was lost: those before it are committed
            return outcomes + [(waiting, False, exc) for waiting in jobs[n:]]
    return outcomes


class _UnitFailed(Exception):
    """A unit of work of a batch without savepoints raised: the batch must run again with them."""


def _run_reads(jobs: list[_Job], conn: psycopg.Connection[PgRow]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    db = PgConnection(conn)
    for n, job in enumerate(jobs):
        try:
            outcomes.append((job, True, job.work(db)))
        except Exception as exc:
            if conn.broken or conn.closed:
                return outcomes + [(waiting, False, exc) for waiting in jobs[n:]]
            outcomes.append((job, False, exc))
    return outcomes


def _fetch_all(sql: str, params: Sequence[Any], db: PgConnection) -> list[PgRow]:
    return db.execute(sql, params).fetchall()


def _together(jobs: list[_Job], conn: psycopg.Connection[PgRow], savepoints: bool) -> list[Outcome]:
    """One transaction; with `savepoints`, each unit in a SAVEPOINT, so that one that raises is
    rolled back alone. A race (or a lost connection) loses the whole transaction, and is raised."""
    outcomes: list[Outcome] = []
    db = PgConnection(conn)
    with conn.transaction():
        for job in jobs:
            try:
                if savepoints:
                    with conn.transaction():
                        result = job.work(db)
                else:
                    result = job.work(db)
            except Exception as exc:
                if isinstance(exc, RACED) or conn.broken or conn.closed:
                    raise
                if not savepoints:
                    raise _UnitFailed from exc
                outcomes.append((job, False, exc))
            else:
                outcomes.append((job, True, result))
    return outcomes


def _alone(job: _Job, conn: psycopg.Connection[PgRow]) -> Outcome:
    """One unit of work in its own transaction, run again while it races (for RACE_BUDGET)."""
    give_up = time.monotonic() + RACE_BUDGET
    for attempt in itertools.count():
        try:
            return job, True, _once(job.work, conn)
        except RACED as exc:
            if time.monotonic() >= give_up:
                return job, False, exc
            log.debug("a unit of work raced another (%s); running it again", type(exc).__name__)
        except Exception as exc:
            if conn.broken or conn.closed:
                raise
            return job, False, exc
        _pause(attempt)
    raise AssertionError("unreachable")


def _pause(attempt: int) -> None:
    # A short random pause, growing, so two that raced do not race again at once.
    time.sleep(random.uniform(0, min(0.002 * 2**attempt, 0.2)))


# Collations that order text by its bytes, as SQLite does: stored times (ISO text) and codes must
# sort the same on both backends; a language's collation skips punctuation and would not.
BYTE_ORDER = {"C", "POSIX", "C.UTF-8", "C.utf8", "ucs_basic"}


class UnsuitableDatabase(DatabaseUnavailable):
    """A PostgreSQL database the bot cannot use as it is."""


def refuse_collation(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute(
        "SELECT datcollate, datlocprovider FROM pg_database WHERE datname = current_database()"
    ).fetchone()
    collation, provider = (row[0], row[1]) if row else (None, None)
    if provider != "c":
        collation = f"ICU {collation}"
    if collation not in BYTE_ORDER:
        raise UnsuitableDatabase(
            f"the database's collation is {collation!r}: the bot needs text sorted by bytes. Create the "
            "database with: CREATE DATABASE <name> TEMPLATE template0 LOCALE 'C.UTF-8' (see deploy/README.md)"
        )


def _once(unit_of_work: Callable[[PgConnection], T], conn: psycopg.Connection[PgRow]) -> T:
    with conn.transaction():
        return unit_of_work(PgConnection(conn))


IDLE_CHECK = 5.0  # seconds a pooled connection may rest before it is checked when taken again


def _note_return(conn: psycopg.Connection[Any]) -> None:
    conn._feedback_returned_at = time.monotonic()  # type: ignore[attr-defined]


def _check_if_idle(conn: psycopg.Connection[Any]) -> None:
    """A connection that rested a while is checked before it is lent (the server may have restarted
    meanwhile); one in steady use is not, which would cost a round trip every statement."""
    if time.monotonic() - getattr(conn, "_feedback_returned_at", 0.0) > IDLE_CHECK:
        ConnectionPool.check_connection(conn)


def _connect_once(url: str) -> None:
    psycopg.connect(url, **connection_kwargs()).close()


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
    # A statement is prepared at its second run on a connection (psycopg's default: the sixth),
    # as SQLite compiles each once: planning the chat-state read took 750 µs, running it prepared
    # 190. A script of several statements (a migration) is never prepared.
    conn.prepare_threshold = PREPARE_THRESHOLD
    conn.prepared_max = PREPARED_MAX
    conn.adapters.register_loader("numeric", NumberLoader)
    conn.adapters.register_dumper(bool, FlagDumper)


def first_line(exc: BaseException) -> str:
    """The first line of what went wrong (psycopg's messages go on with hints and details)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def unavailable(path: str, exc: BaseException, doing: str = "open") -> DatabaseUnavailable:
    """The one line that names the database (never its password) and the cause."""
    return DatabaseUnavailable(f"cannot {doing} the database {path}: {first_line(exc)}")
