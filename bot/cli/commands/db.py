"""`db migrate`, `db status` and `db copy`: the schema of the configured database (SQLite or
PostgreSQL), and a unit's move from SQLite to PostgreSQL (the work itself in storage/copy.py).

`status` reads the state without opening the storage the normal way, which would migrate: sqlite3
reads SQLite's user_version (SQLite records no more than the last number applied), psycopg reads
PostgreSQL's schema_migrations (each number with the time it was applied)."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

from bot.cli.common import CommandError, refuse_new_database
from bot.cli.output import Column, ProgressBar, emit, render
from bot.config import ENV_DATABASE_PASSWORD, Config
from storage.backends import is_postgresql
from storage.copy import CopyRefused, TableCheck, copy_database
from storage.migrating import Dialect, migration_list
from storage.postgresql.db import connection_kwargs, first_line, refuse_collation, safe_url, unavailable
from storage.postgresql.migrate import SchemaTooNew, migrate
from storage.sqlite import SQLiteStorage

SQLITE_PREFIX = "sqlite:"


@dataclass(frozen=True)
class SchemaState:
    """What a database says of its migrations: the applied ones (with a time where it is known) and
    the numbers it has that this version does not know."""

    dialect: Dialect
    database: str
    applied: dict[int, str | None]
    unknown: list[int]


def migrate_database(config: Config, args: argparse.Namespace) -> int:
    """Applies the migrations the configured database lacks and says which."""
    database = config.database
    if is_postgresql(database):
        assert isinstance(database, str)
        with _connected(database) as conn:
            refuse_collation(conn)
            try:
                applied = migrate(conn)
            except SchemaTooNew as exc:
                raise CommandError(str(exc)) from None
        where = safe_url(database)
    else:
        refuse_new_database(config)
        path = Path(database)
        before = sqlite_state(path)
        if before.unknown:
            raise CommandError(_too_new(before))
        # Opening migrates, in one transaction that waits for a running bot's writes (busy timeout).
        store = SQLiteStorage(path)
        asyncio.run(_open_and_close(store))
        after = sqlite_state(path)
        applied = sorted(set(after.applied) - set(before.applied))
        where = str(path)
    if applied:
        print(f"{where}: applied migrations {', '.join(f'{n:03d}' for n in applied)}")
    else:
        print(f"{where}: up to date (migration {migration_list('sqlite')[-1].number:03d})")
    return 0


def show_status(config: Config, args: argparse.Namespace) -> int:
    """Lists every known migration, applied or not; exits 1 while some are pending."""
    database = config.database
    if isinstance(database, str) and is_postgresql(database):
        state = postgresql_state(database)
    else:
        state = sqlite_state(Path(database))
    dialect = state.dialect
    known = migration_list(dialect)
    rows = [
        {
            "migration": f"{m.number:03d}",
            "name": m.name,
            "state": "applied" if m.number in state.applied else "not applied",
            "applied at": state.applied.get(m.number) or "",
        }
        for m in known
    ]
    columns = [Column("migration"), Column("name"), Column("state")]
    if dialect == "postgresql":
        columns.append(Column("applied at"))
    print(f"backend: {'PostgreSQL' if dialect == 'postgresql' else 'SQLite'}")
    print(f"database: {state.database}")
    emit(render(rows, columns, "table", empty=None))
    if state.unknown:
        raise CommandError(_too_new(state))
    pending = [m for m in known if m.number not in state.applied]
    if pending:
        print(f"{len(pending)} of {len(known)} migrations pending: run feedback-bot db migrate")
        return 1
    if dialect == "sqlite":
        print(
            f"up to date at {known[-1].number:03d} (SQLite keeps the last migration's number, not the times)"
        )
    else:
        print("up to date")
    return 0


def copy_to_postgresql(config: Config, args: argparse.Namespace) -> int:
    """Copies a SQLite database into an empty PostgreSQL one and checks the copy, table by table."""
    source = Path(args.source.removeprefix(SQLITE_PREFIX))
    target = args.target
    if not is_postgresql(target):
        raise CommandError(
            f"--to must be a PostgreSQL address (postgresql://user@host/database), not {target!r}"
        )
    if urlsplit(target).password or "password=" in urlsplit(target).query:
        raise CommandError(
            "--to must not carry a password (it would stay in the shell's history and in ps): "
            f"set {ENV_DATABASE_PASSWORD}, or use a libpq service file or ~/.pgpass"
        )
    progress = _Progress()
    try:
        checks = copy_database(source, target, progress=progress, batch=args.batch)
    except CopyRefused as exc:
        raise CommandError(str(exc)) from None
    except (psycopg.Error, sqlite3.Error) as exc:
        raise CommandError(
            f"the copy into {safe_url(target)} failed and was rolled back: {first_line(exc)}"
        ) from None
    finally:
        progress.finish()
    emit(render_checks(checks))
    bad = [c.table for c in checks if not c.ok]
    if bad:
        print(f"feedback-bot: the copy differs from the source in {', '.join(bad)}", file=sys.stderr)
        return 1
    rows = sum(c.target_rows for c in checks)
    print(
        f"copied {rows:,} rows of {len(checks)} tables into {safe_url(target)}; every table checked.\n"
        f"To run the bot on it: set  database: {safe_url(target)}  in the config (the password in "
        "FEEDBACK_BOT_DATABASE_PASSWORD) and start the bot."
    )
    return 0


def render_checks(checks: list[TableCheck]) -> str:
    rows = [
        {
            "table": c.table,
            "rows": c.source_rows,
            "rows copied": c.target_rows,
            "checksum": c.source_checksum[:16],
            "ok": "yes" if c.ok else "NO",
        }
        for c in checks
    ]
    names = ("table", "rows", "rows copied", "checksum", "ok")
    return render(rows, [Column(name) for name in names], "table", empty=None)


def sqlite_state(path: Path) -> SchemaState:
    """SQLite's user_version read without writing: the migrations up to it count as applied."""
    version = 0
    if path.exists():
        try:
            db = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
            try:
                version = db.execute("PRAGMA user_version").fetchone()[0]
            finally:
                db.close()
        except sqlite3.Error as exc:
            raise CommandError(f"cannot read the database {path}: {exc}") from None
    known = {m.number for m in migration_list("sqlite")}
    latest = max(known)
    return SchemaState(
        "sqlite",
        str(path) if path.exists() else f"{path} (no file yet)",
        {number: None for number in known if number <= version},
        list(range(latest + 1, version + 1)),
    )


def postgresql_state(url: str) -> SchemaState:
    applied: dict[int, str | None] = {}
    with _connected(url) as conn:
        row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
        if row is not None and row[0]:
            applied = dict(conn.execute("SELECT number, applied_at FROM schema_migrations").fetchall())
    known = {m.number for m in migration_list("postgresql")}
    return SchemaState("postgresql", safe_url(url), applied, sorted(set(applied) - known))


def _connected(url: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(url, autocommit=True, **connection_kwargs())
    except psycopg.Error as exc:
        raise unavailable(safe_url(url), exc) from None


async def _open_and_close(store: SQLiteStorage) -> None:
    await store.open()
    await store.close()


def _too_new(state: SchemaState) -> str:
    known = migration_list(state.dialect)
    return (
        f"the database {state.database} has migrations {state.unknown} that this version of feedback-bot "
        f"does not know (it knows 1..{known[-1].number}): a newer version migrated it"
    )


class _Progress:
    """A bar per table on a terminal; a line per table copied otherwise."""

    def __init__(self) -> None:
        self.bar: ProgressBar | None = None
        self.table: str | None = None
        self.terminal = sys.stderr.isatty()

    def __call__(self, table: str, done: int, total: int) -> None:
        if table != self.table:
            self.finish()
            self.table = table
            self.bar = ProgressBar(f"{table:<24}", total)
        assert self.bar is not None
        self.bar.advance_to(done)
        if not self.terminal and done == total:
            print(f"{table}: {total:,} rows copied", file=sys.stderr)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.finish()
            self.bar = None
