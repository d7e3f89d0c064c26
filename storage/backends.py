"""Which backend a config's `database:` names: a SQLite file, or a PostgreSQL address."""

from __future__ import annotations

from pathlib import Path

from storage.base import Storage

POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")


def is_postgresql(database: str | Path) -> bool:
    """Whether `database` is a PostgreSQL address rather than a SQLite file."""
    return isinstance(database, str) and database.startswith(POSTGRESQL_SCHEMES)


def storage_for(database: str | Path) -> Storage:
    """The unopened storage of `database`."""
    if is_postgresql(database):
        assert isinstance(database, str)
        from storage.postgresql import PostgreSQLStorage

        return PostgreSQLStorage(database)
    from storage.sqlite import SQLiteStorage

    return SQLiteStorage(database)
