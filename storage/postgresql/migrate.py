"""Brings a PostgreSQL database to the schema this version of the bot expects, with the numbered
scripts of storage/migrations/postgresql; several processes may start at once."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import pq

from storage.migrating import Migration, migration_list

# The key of the session advisory lock held while migrating: one process migrates, the others wait
# and then find the work done. Any fixed 64-bit number that nothing else locks would do.
MIGRATION_LOCK = 0x6662_6D69_6772_6174  # "fbmigrat"

_CREATE_LEDGER = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer version of the bot: this one does not know its schema."""


def migrate(conn: psycopg.Connection[Any]) -> list[int]:
    """Applies the migrations the database lacks, in order, each in its own transaction together
    with its row in schema_migrations; returns their numbers. The connection must not be inside a
    transaction (a migration would otherwise be a savepoint of it, committed by no one)."""
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise RuntimeError("migrate needs a connection outside any transaction")
    known = migration_list("postgresql")
    # A session lock rather than one per transaction: at REPEATABLE READ or SERIALIZABLE a
    # transaction's snapshot is taken by the statement that waits for the lock, so it could not see
    # the migration another process committed meanwhile. Each migration's transaction starts after
    # the lock is held, and sees all that was committed before.
    with conn.transaction():
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        with conn.transaction():
            conn.execute(_CREATE_LEDGER)
            done = _applied(conn)
        _refuse_unknown(done, known)
        applied = []
        for migration in known:
            if migration.number in done:
                continue
            with conn.transaction():
                # Parameterless, so sent by the simple query protocol: the whole file at once.
                conn.execute(migration.script.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (number, name, applied_at)"
                    " VALUES (%s, %s, to_char(clock_timestamp() AT TIME ZONE 'UTC',"
                    ' \'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"\'))',
                    (migration.number, migration.name),
                )
            applied.append(migration.number)
        return applied
    finally:
        if not conn.closed and conn.info.transaction_status == pq.TransactionStatus.IDLE:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


def migration_status(conn: psycopg.Connection[Any]) -> list[tuple[Migration, str | None]]:
    """Each migration this version knows, with the time it was applied (ISO-8601, UTC) or None."""
    applied: dict[int, str] = {}
    with conn.transaction():
        row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
        if row is not None and row[0]:
            applied = dict(conn.execute("SELECT number, applied_at FROM schema_migrations").fetchall())
    return [(migration, applied.get(migration.number)) for migration in migration_list("postgresql")]


def _applied(conn: psycopg.Connection[Any]) -> set[int]:
    return {number for (number,) in conn.execute("SELECT number FROM schema_migrations").fetchall()}


def _refuse_unknown(done: set[int], known: list[Migration]) -> None:
    unknown = sorted(done - {migration.number for migration in known})
    if unknown:
        raise SchemaTooNew(
            f"the database has migrations {unknown} that this version of feedback-bot does not know"
            f" (it knows 1..{known[-1].number if known else 0}): a newer version migrated it;"
            " run that version, or restore a backup made before the upgrade"
        )
