"""What the benchmarks on PostgreSQL share (not a benchmark itself): a throwaway server of the
PostgreSQL the machine has, started the way the tests start theirs (tests/postgresql.py) but durable
as a deployment is (fsync on, synchronous_commit on, and deploy/postgresql.conf.snippet), and a fresh
database on it for each run."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from tests.postgresql import (
    DEBIAN_BINARIES,
    PostgreSQLUnavailable,
    ThrowawayServer,
    drop_database,
    find_binaries,
    fresh_database,
    stop_abandoned_servers,
)

SNIPPET = Path(__file__).resolve().parent.parent / "deploy" / "postgresql.conf.snippet"
__all__ = ["PostgreSQLUnavailable", "database", "describe", "durable_server", "skipped"]


@contextmanager
def durable_server() -> Iterator[str]:
    """A server for the length of the block; yields its maintenance URL. Raises
    PostgreSQLUnavailable when the machine has no PostgreSQL."""
    binaries = find_binaries()
    if binaries is None:
        raise PostgreSQLUnavailable(
            f"initdb and pg_ctl are neither on PATH nor in {DEBIAN_BINARIES}/*/bin; "
            "install the Debian package postgresql"
        )
    stop_abandoned_servers(binaries)
    server = ThrowawayServer.make(binaries)
    try:
        server.start(SNIPPET.read_text(encoding="utf-8"), durable=True)
        yield server.url
    finally:
        server.stop()


@contextmanager
def database(server: str) -> Iterator[str]:
    """A fresh empty database on `server` for the length of the block; yields its URL."""
    url = fresh_database(server)
    try:
        yield url
    finally:
        drop_database(server, url)


def describe(server: str) -> str:
    """One line: which PostgreSQL, and that it waits for the disk."""
    with psycopg.connect(server) as connection:
        version = connection.execute("SHOW server_version").fetchone()
        shown = {
            name: connection.execute(f"SHOW {name}").fetchone()
            for name in ("fsync", "synchronous_commit", "shared_buffers")
        }
    settings = ", ".join(f"{name} {row[0] if row else '?'}" for name, row in shown.items())
    number = version[0] if version else "?"
    return f"PostgreSQL {number} on this machine, a throwaway server, durable: {settings}"


def skipped(missing: Exception) -> str:
    return f"  PostgreSQL: skipped: no PostgreSQL ({missing})"
