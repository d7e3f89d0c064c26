"""Moves a unit's SQLite database into an empty PostgreSQL database (`feedback-bot db copy`), and
checks the copy: the same rows in every table, counted and summed.

The source is read in one read transaction, a consistent snapshot that SQLite's WAL mode allows
while a bot writes; what the bot writes after that snapshot is not copied, so the bot is stopped
for the final copy. The target is written in one transaction: a copy that fails leaves it empty.

Values are copied as they are, ids and counters included. PostgreSQL's migrations keep some columns
with triggers (an answer's change number, unit and procedure; the `versions` counters), which would
write their own values over the copied ones: the copy disables the tables' user triggers inside its
transaction (ALTER TABLE ... DISABLE TRIGGER USER, which the tables' owner may do; the
`session_replication_role` setting would need a superuser) and enables them again before it
commits, so no other session ever sees them off. Foreign keys stay checked: tables are filled
parents first, each by one COPY statement (a table that refers to itself, the unit tree, is
checked at the statement's end)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from storage.migrating import migration_list
from storage.postgresql.db import connection_kwargs, first_line, refuse_collation, safe_url
from storage.postgresql.migrate import SchemaTooNew, migrate

BATCH = 5000  # rows read from the source at a time, and between two reports of progress
LEDGER = "schema_migrations"  # PostgreSQL's record of migrations: its own in each database
# Rows the migrations themselves store: the counters, at 0. A target holding only these is empty.
SEEDED = "versions"
CHECKSUM_BITS = 256

Progress = Callable[[str, int, int], None]  # table, rows copied so far, rows to copy


class CopyRefused(Exception):
    """The copy cannot start (or its result cannot be trusted): the message says why and what to do."""


@dataclass(frozen=True)
class TableCheck:
    """One table compared after the copy: rows and checksum on each side."""

    table: str
    source_rows: int
    target_rows: int
    source_checksum: str
    target_checksum: str

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.source_checksum == self.target_checksum


def known_tables() -> set[str]:
    """The tables the migrations make: those of an empty SQLite database migrated in memory (the
    PostgreSQL schema has the same tables, by the same names)."""
    from storage.sqlite.db import _statements

    db = sqlite3.connect(":memory:")
    try:
        for migration in migration_list("sqlite"):
            for statement in _statements(migration.script):
                db.execute(statement)
        return _sqlite_tables(db)
    finally:
        db.close()


def open_source(path: Path) -> sqlite3.Connection:
    """The SQLite file, opened without creating it, refused unless its schema is this version's latest."""
    if not path.is_file():
        raise CopyRefused(f"no SQLite database at {path}")
    try:
        db = sqlite3.connect(f"file:{path.resolve()}?mode=rw", uri=True, isolation_level=None)
        db.execute("PRAGMA busy_timeout = 10000")
        version = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as exc:
        raise CopyRefused(f"cannot read the SQLite database {path}: {exc}") from exc
    latest = migration_list("sqlite")[-1].number
    if version < latest:
        db.close()
        raise CopyRefused(
            f"the SQLite database {path} is at migration {version}, this version of feedback-bot at "
            f"{latest}: bring it up to date first (start the bot on it once, or run: feedback-bot db "
            "migrate with a config naming it), then copy"
        )
    if version > latest:
        db.close()
        raise CopyRefused(
            f"the SQLite database {path} is at migration {version}, newer than this version of "
            f"feedback-bot knows ({latest}): copy it with the version that migrated it"
        )
    return db


def open_target(url: str) -> psycopg.Connection[Any]:
    try:
        conn = psycopg.connect(url, autocommit=True, **connection_kwargs())
    except psycopg.Error as exc:
        raise CopyRefused(f"cannot connect to {safe_url(url)}: {first_line(exc)}") from exc
    refuse_collation(conn)
    return conn


def copy_database(
    source: Path, target_url: str, *, progress: Progress | None = None, batch: int = BATCH
) -> list[TableCheck]:
    """Copies every table of the SQLite file `source` into the empty PostgreSQL database
    `target_url` (migrated first), resets its id sequences, and returns the comparison of each
    table, read from the same snapshot of the source as the copy. Raises CopyRefused for a source
    or target it will not copy."""
    tables = known_tables()
    src = open_source(source)
    try:
        with open_target(target_url) as target:
            refuse_nonempty(target, tables, before_migrating=True)
            try:
                migrate(target)
            except SchemaTooNew as exc:
                raise CopyRefused(f"the target database: {exc}") from exc
            src.execute("BEGIN")  # one snapshot for the copy and the check after it
            try:
                copied = _source_tables(src)
                with target.transaction():
                    columns = _target_columns(target)
                    strange = sorted(t for t in copied if t not in columns)
                    if strange:
                        raise CopyRefused(
                            "the SQLite database has tables the PostgreSQL schema lacks: "
                            + ", ".join(strange)
                        )
                    order = _parents_first(target, copied)
                    for table in order:
                        target.execute(
                            sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(sql.Identifier(table))
                        )
                    # Checked again under the locks those statements took: a bot started on the
                    # target meanwhile can write nothing until the copy commits.
                    refuse_nonempty(target, tables, before_migrating=False)
                    target.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(SEEDED)))
                    for table in order:
                        names = _common_columns(src, table, columns[table])
                        _copy_table(src, target, table, names, progress, batch)
                    for table in order:
                        target.execute(
                            sql.SQL("ALTER TABLE {} ENABLE TRIGGER USER").format(sql.Identifier(table))
                        )
                    restart_identities(target, _autoincrement_marks(src))
                with target.transaction():
                    return compare(src, target, copied, columns)
            finally:
                src.execute("ROLLBACK")
    finally:
        src.close()


def verify_copy(source: Path, target_url: str) -> list[TableCheck]:
    """Compares the SQLite file with a PostgreSQL copy of it, table by table: rows and checksums."""
    src = open_source(source)
    try:
        with open_target(target_url) as target:
            src.execute("BEGIN")
            try:
                with target.transaction():
                    return compare(src, target, _source_tables(src), _target_columns(target))
            finally:
                src.execute("ROLLBACK")
    finally:
        src.close()


def refuse_nonempty(target: psycopg.Connection[Any], ours: set[str], *, before_migrating: bool) -> None:
    """Refuses a target with a table that is not ours, or a row in one of ours (beyond the counters
    the migrations store, still at 0)."""
    found = set(_target_columns(target))
    foreign = sorted(found - ours - {LEDGER})
    if foreign:
        raise CopyRefused(
            "the target database is not empty: it has tables feedback-bot does not make"
            f" ({', '.join(foreign[:5])}"
            f"{', ...' if len(foreign) > 5 else ''}); copy into a new, empty database"
        )
    if before_migrating and found and LEDGER not in found:
        raise CopyRefused("the target database has feedback-bot's tables but no record of its migrations")
    filled = []
    for table in sorted(found & ours):
        query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {}{})").format(
            sql.Identifier(table), sql.SQL(" WHERE value <> 0" if table == SEEDED else "")
        )
        row = target.execute(query).fetchone()
        if row and row[0]:
            filled.append(table)
    if filled:
        raise CopyRefused(
            f"the target database is not empty: it has rows in {', '.join(filled[:5])}"
            f"{', ...' if len(filled) > 5 else ''}; nothing was copied (copy into a new, empty database)"
        )


def _autoincrement_marks(src: sqlite3.Connection) -> dict[str, int]:
    """The largest id SQLite ever gave each AUTOINCREMENT table (sqlite_sequence), deleted rows
    included: such an id is never given again (a survey's buttons name its id)."""
    found = src.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'")
    if found.fetchone() is None:
        return {}
    return {str(name): int(seq) for name, seq in src.execute("SELECT name, seq FROM sqlite_sequence")}


def restart_identities(target: psycopg.Connection[Any], marks: dict[str, int] | None = None) -> None:
    """Every identity sequence set past the largest id copied, or past the largest SQLite ever gave
    (`marks`, for AUTOINCREMENT tables), so that new rows take new ids."""
    rows = target.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES'"
    ).fetchall()
    for table, column in rows:
        target.execute(
            sql.SQL(
                "SELECT setval(pg_get_serial_sequence({name}, {column_name}),"
                " GREATEST(MAX({column}), {mark}, 1), GREATEST(MAX({column}), {mark}) IS NOT NULL)"
                " FROM {table}"
            ).format(
                name=sql.Literal(sql.Identifier(table).as_string(target)),
                column_name=sql.Literal(column),
                column=sql.Identifier(column),
                mark=sql.Literal((marks or {}).get(table)),
                table=sql.Identifier(table),
            )
        )


def compare(
    src: sqlite3.Connection,
    target: psycopg.Connection[Any],
    tables: Iterable[str],
    columns: dict[str, list[str]],
) -> list[TableCheck]:
    checks = []
    for table in sorted(tables):
        names = _common_columns(src, table, columns.get(table, []))
        source_rows, source_sum = checksum(_sqlite_rows(src, table, names))
        target_rows, target_sum = checksum(_postgresql_rows(target, table, names))
        checks.append(TableCheck(table, source_rows, target_rows, source_sum, target_sum))
    return checks


def checksum(rows: Iterable[Sequence[Any]]) -> tuple[int, str]:
    """The number of rows, and the sum (modulo 2**256) of each row's sha256: the same for the same
    rows in any order, so neither side needs to sort (a primary key's order could differ between
    the backends, and a few tables have none). Each value is written with its kind (None, int,
    float, text, bytes), so 1 and '1' differ."""
    count, total = 0, 0
    for row in rows:
        digest = hashlib.sha256()
        for value in row:
            digest.update(_normalised(value))
        total = (total + int.from_bytes(digest.digest(), "big")) % (1 << CHECKSUM_BITS)
        count += 1
    return count, f"{total:064x}"


def _normalised(value: Any) -> bytes:
    if value is None:
        return b"N;"
    if isinstance(value, bool):  # never stored (flags are 0 and 1), but not to be read as an int
        value = int(value)
    if isinstance(value, int):
        data, kind = str(value).encode(), b"i"
    elif isinstance(value, float):
        data, kind = repr(value).encode(), b"f"
    elif isinstance(value, str):
        data, kind = value.encode("utf-8"), b"s"
    elif isinstance(value, bytes | memoryview):
        data, kind = bytes(value), b"b"
    else:
        data, kind = str(value).encode("utf-8"), b"?"
    return kind + str(len(data)).encode() + b":" + data


def _copy_table(
    src: sqlite3.Connection,
    target: psycopg.Connection[Any],
    table: str,
    names: list[str],
    progress: Progress | None,
    batch: int,
) -> None:
    total = src.execute(f"SELECT COUNT(*) FROM {_quoted(table)}").fetchone()[0]
    done = 0
    if progress:
        progress(table, done, total)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, names))
    )
    # One COPY statement per table, fed in batches: foreign keys are checked at its end.
    with target.cursor().copy(statement) as copy:
        for rows in _batches(src, table, names, batch):
            for row in rows:
                copy.write_row(row)
            done += len(rows)
            if progress:
                progress(table, done, total)


def _batches(src: sqlite3.Connection, table: str, names: list[str], size: int) -> Iterator[list[Any]]:
    cursor = src.execute(f"SELECT {', '.join(map(_quoted, names))} FROM {_quoted(table)}")
    while rows := cursor.fetchmany(size):
        yield rows


def _sqlite_rows(src: sqlite3.Connection, table: str, names: list[str]) -> Iterator[Sequence[Any]]:
    for rows in _batches(src, table, names, BATCH):
        yield from rows


def _postgresql_rows(
    target: psycopg.Connection[Any], table: str, names: list[str]
) -> Iterator[Sequence[Any]]:
    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(map(sql.Identifier, names)), sql.Identifier(table)
    )
    # A server-side cursor: a table of a million answers is read a batch at a time.
    with target.cursor(name=f"check_{table}") as cursor:
        cursor.itersize = BATCH
        cursor.execute(query)
        yield from cursor


def _sqlite_tables(db: sqlite3.Connection) -> set[str]:
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows if not name.startswith("sqlite_")}


def _source_tables(src: sqlite3.Connection) -> set[str]:
    return _sqlite_tables(src)


def _target_columns(target: psycopg.Connection[Any]) -> dict[str, list[str]]:
    rows = target.execute(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_schema, table_name)"
        " WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema') AND t.table_type = 'BASE TABLE'"
        " ORDER BY c.table_name, c.ordinal_position"
    ).fetchall()
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    return columns


def _common_columns(src: sqlite3.Connection, table: str, target_columns: list[str]) -> list[str]:
    """The table's columns, by name; a column on one side only means the schemas differ."""
    source_columns = [row[1] for row in src.execute(f"PRAGMA table_info({_quoted(table)})")]
    if set(source_columns) != set(target_columns):
        only_source = sorted(set(source_columns) - set(target_columns))
        only_target = sorted(set(target_columns) - set(source_columns))
        raise CopyRefused(
            f"table {table}: the schemas differ (only in SQLite: {only_source or 'none'};"
            f" only in PostgreSQL: {only_target or 'none'})"
        )
    return sorted(source_columns)


def _parents_first(target: psycopg.Connection[Any], tables: set[str]) -> list[str]:
    """The tables in an order in which every row's foreign keys find their parent already copied."""
    edges = target.execute(
        "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c"
        " WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace"
    ).fetchall()
    parents: dict[str, set[str]] = {table: set() for table in tables}
    for child, parent in edges:
        child, parent = child.strip('"'), parent.strip('"')
        if child in parents and parent in tables and parent != child:
            parents[child].add(parent)
    order: list[str] = []
    while parents:
        ready = sorted(t for t, waiting in parents.items() if not waiting - set(order))
        if not ready:
            raise CopyRefused(f"the foreign keys of {', '.join(sorted(parents))} form a cycle")
        order += ready
        for table in ready:
            del parents[table]
    return order


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
