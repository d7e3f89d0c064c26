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
import logging
import os
import random
import re
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
from storage.sql.common import POSTGRESQL, Dialect

log = logging.getLogger(__name__)
T = TypeVar("T")

ENV_PASSWORD = "FEEDBACK_BOT_DATABASE_PASSWORD"
POOL_SIZE = 8  # connections, and worker threads, per process
RETRIES = 12  # runs of a unit of work that keeps racing others before its error is raised
CONNECT_TIMEOUT = 10  # seconds
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
IS_NOT_VALUE = re.compile(r"\bIS NOT (?=[?'])")
IS_VALUE = re.compile(r"\bIS (?=[?'])")
# SQLite's CROSS JOIN keeps its tables in the order written; PostgreSQL's takes no ON.
CROSS_JOIN_ON = re.compile(r"\bCROSS JOIN (\w+(?: \w+)?) ON\b")
INDEXED_BY = re.compile(r"\s+INDEXED BY \w+")  # SQLite's hint to its planner; PostgreSQL plans alone
NUMBERED = re.compile(r"\?(\d+)")


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
    dropped, and `INSERT OR IGNORE` as `ON CONFLICT DO NOTHING`. A `?` in quotes stays itself."""
    sql = CROSS_JOIN_ON.sub(r"JOIN \1 ON", sql)
    sql = IS_VALUE.sub(
        "IS NOT DISTINCT FROM ", IS_NOT_VALUE.sub("IS DISTINCT FROM ", INDEXED_BY.sub("", sql))
    )
    if sql.lstrip().upper().startswith("INSERT OR IGNORE INTO"):
        sql = sql.lstrip()[: len("INSERT")] + sql.lstrip()[len("INSERT OR IGNORE") :]
        at = sql.upper().find(" RETURNING ")
        sql = f"{sql} ON CONFLICT DO NOTHING" if at < 0 else f"{sql[:at]} ON CONFLICT DO NOTHING{sql[at:]}"
    # As SQLite numbers them: `?N` is the Nth value, a bare `?` one more than the largest before it.
    numbered = NUMBERED.search(sql) is not None
    out: list[str] = []
    quoted = False
    largest = n = 0
    while n < len(sql):
        char = sql[n]
        if char == "'":
            quoted = not quoted
            out.append(char)
        elif char == "%":
            out.append("%%")
        elif char == "?" and not quoted:
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
    if statement.numbered:
        return {f"p{n}": value for n, value in enumerate(parameters, 1)}
    return tuple(parameters)


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

    async def open(self) -> None:
        """Connects and applies the migrations. Raises DatabaseUnavailable naming the cause."""
        from storage.postgresql.migrate import migrate

        self._threads = ThreadPoolExecutor(self.pool_size, thread_name_prefix="postgresql")
        pool: ConnectionPool[psycopg.Connection[PgRow]] = ConnectionPool(
            self.url,
            min_size=1,
            max_size=self.pool_size,
            kwargs={**connection_kwargs(), "autocommit": True, "row_factory": pg_row},
            configure=_configure,
            check=_check_if_idle,
            reset=_note_return,
            open=False,
            name="feedback-bot",
        )
        try:
            await self._run(partial(pool.open, wait=True, timeout=CONNECT_TIMEOUT))
            self._pool = pool

            def migrated() -> list[int]:
                with pool.connection() as conn:
                    refuse_collation(conn)
                    return migrate(conn)

            applied = await self._run(migrated)
            if applied:
                log.info("database %s migrated: %s", self.path, ", ".join(f"{n:03d}" for n in applied))
        except (psycopg.Error, PoolTimeout, OSError, UnsuitableDatabase) as exc:
            self._pool = None
            await self._run(pool.close)
            self._threads.shutdown(wait=False)
            self._threads = None
            if isinstance(exc, UnsuitableDatabase):
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
        """Runs `unit_of_work` in one transaction; returns once it is committed. If it raises, its
        changes are rolled back. Raced by another writer, it runs again, whole."""
        return await self._run(partial(self._transaction, unit_of_work), doing="write to")

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self.write(lambda db: db.execute(sql, params))

    async def read(self, sql: str, params: Sequence[Any] = ()) -> list[PgRow]:
        def read(conn: psycopg.Connection[PgRow]) -> list[PgRow]:
            return PgConnection(conn).execute(sql, params).fetchall()

        return await self._run(partial(self._with_connection, read), doing="read")

    async def read_one(self, sql: str, params: Sequence[Any] = ()) -> PgRow | None:
        rows = await self.read(sql, params)
        return rows[0] if rows else None

    def connection(self) -> Any:
        """A pooled connection, for the few callers that work on PostgreSQL itself (advisory locks)."""
        if self._pool is None:
            raise RuntimeError("storage is not open")
        return self._pool.connection()

    async def _run(self, work: Callable[[], T], doing: str | None = None) -> T:
        if self._threads is None:
            raise RuntimeError("storage is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._threads, work)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            if doing is None:
                raise
            raise unavailable(self.path, exc, doing) from exc

    def _with_connection(self, work: Callable[[psycopg.Connection[PgRow]], T]) -> T:
        if self._pool is None:
            raise RuntimeError("storage is not open")
        with self._pool.connection() as conn:
            return work(conn)

    def _transaction(self, unit_of_work: Callable[[PgConnection], T]) -> T:
        for attempt in range(RETRIES):
            try:
                return self._with_connection(partial(_once, unit_of_work))
            except RACED as exc:
                if attempt == RETRIES - 1:
                    raise
                log.debug("a unit of work raced another (%s); running it again", type(exc).__name__)
            # A short random pause, growing, so two that raced do not race again at once.
            time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))
        raise AssertionError("unreachable")


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


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
    conn.adapters.register_loader("numeric", NumberLoader)
    conn.adapters.register_dumper(bool, FlagDumper)


def unavailable(path: str, exc: BaseException, doing: str = "open") -> DatabaseUnavailable:
    """The one line that names the database (never its password) and the cause."""
    cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DatabaseUnavailable(f"cannot {doing} the database {path}: {cause}")
