"""The throwaway PostgreSQL of the tests: a working, empty database of its own for every test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from tests import postgresql

seen: list[str] = []


def tables_of(url: str) -> list[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return [row[0] for row in rows]


@pytest.mark.parametrize("turn", [1, 2])
def test_each_test_gets_a_fresh_empty_database(postgresql_url: str, turn: int) -> None:
    parts = urlsplit(postgresql_url)
    assert parts.scheme == "postgresql" and parts.username == "postgres" and parts.port
    assert postgresql_url not in seen, "two tests were given the same database"
    seen.append(postgresql_url)
    assert tables_of(postgresql_url) == []
    # Left behind on purpose: the next test's database must not have it.
    with psycopg.connect(postgresql_url) as connection:
        connection.execute("CREATE TABLE answers (id INTEGER PRIMARY KEY, rating INTEGER NOT NULL)")
        connection.execute("INSERT INTO answers VALUES (1, 5)")
    assert tables_of(postgresql_url) == ["answers"]


def test_the_server_speaks_utf8_in_utc(postgresql_url: str) -> None:
    with psycopg.connect(postgresql_url) as connection:
        encoding, zone = connection.execute(
            "SELECT pg_encoding_to_char(encoding), current_setting('TimeZone') "
            "FROM pg_database WHERE datname = current_database()"
        ).fetchone() or (None, None)
        assert (encoding, zone) == ("UTF8", "UTC")
        text = connection.execute("SELECT %s::text", ["Nguyễn Văn Ánh"]).fetchone()
        assert text == ("Nguyễn Văn Ánh",)


def test_a_database_is_dropped_after_its_test(postgresql_server_url: str) -> None:
    with postgresql.database(postgresql_server_url) as url:
        name = urlsplit(url).path.lstrip("/")
        # A connection left open must not keep the database from being dropped.
        left_open = psycopg.connect(url)
    with psycopg.connect(postgresql_server_url) as connection:
        found = connection.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [name]).fetchone()
    assert found == (0,)
    with pytest.raises(psycopg.OperationalError):
        left_open.execute("SELECT 1")
    left_open.close()


def test_several_databases_on_one_server_are_apart(postgresql_server_url: str) -> None:
    with (
        postgresql.database(postgresql_server_url) as first,
        postgresql.database(postgresql_server_url) as second,
    ):
        assert first != second
        with psycopg.connect(first) as connection:
            connection.execute("CREATE TABLE only_in_first (id INTEGER)")
        assert tables_of(second) == []


def test_the_server_named_in_the_environment_is_used_and_none_started(
    postgresql_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(postgresql.ENV_SERVER, postgresql_server_url)
    monkeypatch.setattr(postgresql, "find_binaries", lambda: pytest.fail("looked for a server to start"))
    assert postgresql._Session().url() == postgresql_server_url


def test_without_postgresql_the_reason_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(postgresql.ENV_SERVER, raising=False)
    monkeypatch.setattr(postgresql, "find_binaries", lambda: None)
    session = postgresql._Session()
    with pytest.raises(postgresql.PostgreSQLUnavailable, match="Debian package postgresql") as missing:
        session.url()
    assert postgresql.ENV_SERVER in str(missing.value)
    # Asked again, the session does not look again.
    monkeypatch.setattr(postgresql, "find_binaries", lambda: pytest.fail("looked twice"))
    with pytest.raises(postgresql.PostgreSQLUnavailable):
        session.url()


def test_a_server_left_by_a_killed_session_is_swept_by_the_next() -> None:
    binaries = postgresql.find_binaries()
    if binaries is None:
        pytest.skip(f"no initdb to start a server with: {postgresql.HOW_TO_GET_ONE}")
    script = (
        "import time\n"
        "from tests import postgresql\n"
        "print(postgresql.server_url(), postgresql.session._server.folder, flush=True)\n"
        "time.sleep(60)\n"
    )
    env = {key: value for key, value in os.environ.items() if key != postgresql.ENV_SERVER}
    root = Path(__file__).resolve().parents[1]
    session = subprocess.Popen(
        [sys.executable, "-c", script], cwd=root, env=env, stdout=subprocess.PIPE, text=True
    )
    assert session.stdout is not None
    url, folder = session.stdout.readline().split()
    session.kill()  # no atexit: the server outlives its session
    session.wait()
    session.stdout.close()
    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)

    postgresql.stop_abandoned_servers(binaries)

    assert not Path(folder).exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)


def test_a_database_may_start_as_a_copy_of_another(postgresql_server_url: str) -> None:
    with postgresql.database(postgresql_server_url) as template:
        with psycopg.connect(template) as connection:
            connection.execute("CREATE TABLE schema_migrations (number INTEGER PRIMARY KEY)")
            connection.execute("INSERT INTO schema_migrations VALUES (1), (2)")
        with (
            postgresql.database(postgresql_server_url, template=template) as copy,
            psycopg.connect(copy) as connection,
        ):
            assert connection.execute("SELECT count(*) FROM schema_migrations").fetchone() == (2,)
            connection.execute("DELETE FROM schema_migrations")
        with psycopg.connect(template) as connection:
            assert connection.execute("SELECT count(*) FROM schema_migrations").fetchone() == (2,)
