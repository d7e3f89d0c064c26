"""What every repository shares, whichever database runs it: the connection a unit of work is
given, the rows it reads, and the small helpers for times, IN lists and the audit.

A unit of work is a plain function of a `Connection`, run inside one transaction by the backend's
`Database`: SQLite runs it in aiosqlite's thread, PostgreSQL in a worker thread on a psycopg
connection (storage/postgresql/db.py). Statements use `?` placeholders on both; the PostgreSQL
connection turns them into its own. The few statements the two dialects spell differently ask
`db.dialect`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any, Literal, Protocol, TypeVar, overload

T = TypeVar("T")
Dialect = Literal["sqlite", "postgresql"]
SQLITE: Dialect = "sqlite"
POSTGRESQL: Dialect = "postgresql"
DIALECTS = (SQLITE, POSTGRESQL)


class Row(Protocol):
    """A row read by key (`row["code"]`) or position (`row[0]`), and as a mapping (`dict(row)`)."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> list[str]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchall(self) -> list[Any]: ...

    def fetchone(self) -> Any: ...


class Connection(Protocol):
    """What a unit of work may do: the subset of DB-API both backends give, and the dialect."""

    dialect: Dialect

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...


class Database(Protocol):
    """The backend every repository of one database shares."""

    dialect: Dialect

    async def write(self, unit_of_work: Callable[[Connection], T]) -> T: ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    async def read(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Row]: ...

    async def read_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...


@overload
def iso(value: datetime | date) -> str: ...
@overload
def iso(value: datetime | date | None) -> str | None: ...
def iso(value: datetime | date | None) -> str | None:
    """The text a time or day is stored as, on both backends. Times are stored in UTC: compared as
    text, instants order only when they share one offset (the one-stop software writes Vietnam's)."""
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


def record_audits(
    db: Connection, actor: str, entries: Sequence[tuple[str, str | None]], now: datetime
) -> None:
    """Writes audit entries (action, detail), in order, inside the caller's transaction."""
    db.executemany(
        "INSERT INTO audit (at, actor, action, detail) VALUES (?, ?, ?, ?)",
        [(iso(now), actor, action, detail) for action, detail in entries],
    )


# How a claim is known to stand: an outbox item pending under the lease its sender set
# (next_attempt_at), or a digest or monthly report still being sent by the run that claimed it.
PENDING_UNTIL = " AND status = 'pending' AND next_attempt_at = ?"
SENDING_SINCE = " AND status = 'sending' AND claimed_at = ?"


def held_claim(claim: datetime | None, condition: str = PENDING_UNTIL) -> tuple[str, tuple[str, ...]]:
    """The condition (one `?`, for `claim`) that an item is still under the claim its sender made:
    a sender whose lease ran out and was taken over by another (a later claim) then writes nothing,
    so it can neither undo what the other recorded nor cut the other's lease short. None: no
    condition (a command-line correction)."""
    if claim is None:
        return "", ()
    return condition, (iso(claim),)


def flag(condition: str) -> str:
    """1 where `condition` holds, else 0 (NULL counts as 0): what SQLite makes of a comparison, which
    PostgreSQL keeps a boolean that SUM does not add."""
    return f"(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def greatest(dialect: Dialect, *values: str) -> str:
    """The largest of several values (SQLite's two-argument MAX, PostgreSQL's GREATEST)."""
    return f"{'MAX' if dialect == SQLITE else 'GREATEST'}({', '.join(values)})"


RATING_COUNTS = ", ".join(
    f"SUM({flag(f'a.rating = {level!r}')}) AS {level}" for level in ("satisfied", "neutral", "unsatisfied")
)


def json_list(dialect: Dialect, value: str, *, where: str | None = None, order: str | None = None) -> str:
    """An aggregate: the values of a group as a JSON array, as text ('[]' for none). SQLite keeps
    the order its input comes in (an ordered subquery); PostgreSQL is told `order`."""
    only = f" FILTER (WHERE {where})" if where else ""
    if dialect == SQLITE:
        return f"json_group_array({value}){only}"
    by = f" ORDER BY {order}" if order else ""
    return f"COALESCE(json_agg({value}{by}){only}, '[]'::json)::text"


def json_record(dialect: Dialect, *pairs: tuple[str, str]) -> str:
    """A JSON object of (key, SQL value) pairs, for json_list."""
    fields = ", ".join(f"'{key}', {value}" for key, value in pairs)
    return f"json_object({fields})" if dialect == SQLITE else f"json_build_object({fields})"


def json_row(dialect: Dialect, *values: str) -> str:
    """A JSON array of SQL values, for json_list."""
    return (
        f"json_array({', '.join(values)})" if dialect == SQLITE else f"json_build_array({', '.join(values)})"
    )


def position(dialect: Dialect, part: str, text: str) -> str:
    """Where `part` first appears in `text`, from 1 (0: nowhere)."""
    return f"instr({text}, {part})" if dialect == SQLITE else f"strpos({text}, {part})"


def hours_between(dialect: Dialect, start: str, end: str) -> str:
    """Hours from one stored time to another, as a fraction."""
    if dialect == SQLITE:
        return f"((julianday({end}) - julianday({start})) * 24)"
    return f"(EXTRACT(EPOCH FROM ({end}::timestamptz - {start}::timestamptz)) / 3600)"


def days_from(dialect: Dialect, start: str, day: str) -> str:
    """Whole days from the stored day `start` to the stored day `day`."""
    if dialect == SQLITE:
        return f"CAST(julianday({day}) - julianday({start}) AS INTEGER)"
    return f"({day}::date - {start}::date)"
