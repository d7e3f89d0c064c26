"""The PostgreSQL backend's own parts: statements written for SQLite as PostgreSQL reads them, rows
as sqlite3 gives them, units of work retried when raced, and databases it cannot use refused.
What the repositories do is the contract suite's (tests/storage), run on both backends."""

from __future__ import annotations

import asyncio
import threading
from functools import partial

import psycopg
import pytest
from psycopg import sql

from storage.base import DatabaseUnavailable
from storage.postgresql import PostgreSQLStorage
from storage.postgresql.db import Database, PgConnection, UnsuitableDatabase, translate
from tests import postgresql


def test_placeholders_become_psycopgs_and_percent_signs_are_doubled():
    statement = translate("SELECT * FROM t WHERE a = ? AND b LIKE 'x%' AND c = '?'")
    assert statement.sql == "SELECT * FROM t WHERE a = %s AND b LIKE 'x%%' AND c = '?'"
    assert not statement.numbered


def test_numbered_parameters_go_by_name_and_a_bare_one_takes_the_next_number():
    statement = translate("SELECT ?1, ?2, ?1, ?")
    assert statement.sql == "SELECT %(p1)s, %(p2)s, %(p1)s, %(p3)s"
    assert statement.numbered


def test_sqlite_spellings_are_read_as_postgresql_spells_them():
    assert translate("INSERT OR IGNORE INTO t (a) VALUES (?) RETURNING id").sql == (
        "INSERT INTO t (a) VALUES (%s) ON CONFLICT DO NOTHING RETURNING id"
    )
    assert translate("SELECT 1 FROM t INDEXED BY t_a WHERE x IS NOT ? AND y IS 'z'").sql == (
        "SELECT 1 FROM t WHERE x IS DISTINCT FROM %s AND y IS NOT DISTINCT FROM 'z'"
    )
    assert (
        translate("SELECT 1 FROM a CROSS JOIN b x ON x.id = a.id").sql
        == "SELECT 1 FROM a JOIN b x ON x.id = a.id"
    )


@pytest.mark.parametrize(
    ("written", "read"),
    [
        (  # RETURNING on its own line, and a closing semicolon
            "INSERT OR IGNORE INTO x (a) VALUES (?)\nRETURNING id;",
            "INSERT INTO x (a) VALUES (%s) ON CONFLICT DO NOTHING\nRETURNING id",
        ),
        (
            "WITH y AS (SELECT 1) INSERT OR IGNORE INTO x SELECT ? FROM y",
            "WITH y AS (SELECT 1) INSERT INTO x SELECT %s FROM y ON CONFLICT DO NOTHING",
        ),
        (  # quoted text, quoted names and comments are not rewritten
            "SELECT 'THIS IS ' || ?, \"a?b\" -- it's ?\n FROM t WHERE a is ? AND b = 'CROSS JOIN t x ON'",
            "SELECT 'THIS IS ' || %s, \"a?b\" -- it's ?\n FROM t WHERE a IS NOT DISTINCT FROM %s"
            " AND b = 'CROSS JOIN t x ON'",
        ),
        (
            "SELECT 1 FROM a CROSS JOIN t x INDEXED BY i ON x.id = a.id WHERE c = ?1 AND d = ?",
            "SELECT 1 FROM a JOIN t x ON x.id = a.id WHERE c = %(p1)s AND d = %(p2)s",
        ),
        (
            "INSERT OR IGNORE INTO t (a) VALUES ('RETURNING x')",
            "INSERT INTO t (a) VALUES ('RETURNING x') ON CONFLICT DO NOTHING",
        ),
    ],
)
def test_only_the_statements_own_words_are_rewritten(written: str, read: str):
    assert translate(written).sql == read


async def test_a_nul_character_is_dropped_rather_than_refused(postgresql_migrated_url: str):
    db = Database(postgresql_migrated_url)
    await db.open()
    try:
        await db.execute("INSERT INTO units (code, name) VALUES (?, ?)", ("U", "A\x00B"))
        assert (await db.read_one("SELECT name FROM units"))[0] == "AB"
    finally:
        await db.close()


async def test_a_database_migrated_by_a_newer_bot_is_refused_in_one_line(postgresql_migrated_url: str):
    with psycopg.connect(postgresql_migrated_url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations (number, name, applied_at) VALUES (999, 'later', 'x')")
    store = PostgreSQLStorage(postgresql_migrated_url)
    with pytest.raises(DatabaseUnavailable, match="cannot use the database"):
        await store.open()
    await store.close()


async def test_rows_read_by_name_position_and_as_a_mapping(postgresql_migrated_url: str):
    db = Database(postgresql_migrated_url)
    await db.open()
    try:
        row = await db.read_one(
            "SELECT 1 AS one, 'two' AS two, 2.5 AS half, SUM(x) AS total FROM (VALUES (1), (2)) v(x)"
        )
        assert row is not None
        assert (row["one"], row[1], dict(row)) == (
            1,
            "two",
            {"one": 1, "two": "two", "half": 2.5, "total": 3},
        )
        assert type(row["total"]) is int  # NUMERIC as SQLite gives it: an int when whole
        await db.write(lambda c: c.execute("INSERT INTO units (code, name) VALUES (?, ?)", ("U", True)))
        assert (await db.read_one("SELECT name FROM units"))[0] == "1"  # True stored as a flag
    finally:
        await db.close()


async def test_units_of_work_that_race_run_again_until_each_counts_once(postgresql_migrated_url: str):
    # Two pools, as two processes: the units of work of one process never race each other (they
    # are committed in batches, one batch at a time), those of two processes do.
    first, second = Database(postgresql_migrated_url), Database(postgresql_migrated_url)
    await first.open()
    await second.open()
    try:
        await first.execute("INSERT INTO versions (name, value) VALUES ('race', 0)")
        runs = 0
        lock = threading.Lock()
        # The first unit of each process waits, after its read, for the other's: a sure race. (The
        # first two worker threads to run one are the two processes': one waits in its batch.)
        both_read = threading.Barrier(2, timeout=10)
        met: set[int] = set()

        def bump(c: PgConnection) -> None:
            nonlocal runs
            with lock:
                runs += 1
                meet = len(met) < 2 and threading.get_ident() not in met
                met.add(threading.get_ident())
            value = c.execute("SELECT value FROM versions WHERE name = 'race'").fetchone()[0]
            if meet:
                both_read.wait()
            c.execute("UPDATE versions SET value = ? WHERE name = 'race'", (value + 1,))

        # A read then a write: without SERIALIZABLE, two at once would both write the same number.
        await asyncio.gather(*(db.write(bump) for _ in range(20) for db in (first, second)))
        assert (await first.read_one("SELECT value FROM versions WHERE name = 'race'"))[0] == 40
        assert runs > 40  # some ran again: they raced
    finally:
        await first.close()
        await second.close()


async def test_concurrent_units_of_work_commit_together_and_one_that_fails_is_rolled_back_alone(
    postgresql_migrated_url: str,
):
    db = Database(postgresql_migrated_url)
    await db.open()
    try:
        await db.execute("INSERT INTO units (code, name) VALUES ('TAKEN', 'first')")

        def add(n: int, c: PgConnection) -> int:
            c.execute("INSERT INTO units (code, name) VALUES (?, ?)", (f"U{n}", f"Unit {n}"))
            if n % 3 == 0:
                raise ValueError(n)
            if n % 3 == 1:
                c.execute("INSERT INTO units (code, name) VALUES ('TAKEN', 'again')")
            return n

        writes = (db.write(partial(add, n)) for n in range(30))
        outcomes = await asyncio.gather(*writes, return_exceptions=True)
        assert [type(o).__name__ for o in outcomes[:3]] == ["ValueError", "UniqueViolation", "int"]
        assert [str(o) for o in outcomes[::3]] == [str(n) for n in range(0, 30, 3)]
        rows = await db.read("SELECT code FROM units ORDER BY code")
        assert sorted(row[0] for row in rows) == sorted(["TAKEN", *(f"U{n}" for n in range(2, 30, 3))])
    finally:
        await db.close()


async def test_a_database_that_sorts_text_by_language_is_refused(postgresql_server_url: str):
    name = "feedback_icu_collation"
    with psycopg.connect(postgresql_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'").format(
                sql.Identifier(name)
            )
        )
    url = postgresql.with_database(postgresql_server_url, name)
    try:
        store = PostgreSQLStorage(url)
        with pytest.raises(UnsuitableDatabase, match=r"TEMPLATE template0 LOCALE 'C\.UTF-8'"):
            await store.open()
        await store.close()
    finally:
        postgresql.drop_database(postgresql_server_url, url)


async def test_a_server_that_cannot_be_reached_is_named_without_its_password(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FEEDBACK_BOT_DATABASE_PASSWORD", "s3cret-pw")
    store = PostgreSQLStorage(
        f"postgresql://bot@127.0.0.1:{postgresql.free_port()}/feedback?connect_timeout=1"
    )
    with pytest.raises(DatabaseUnavailable) as refused:
        await store.open()
    assert "postgresql://bot@127.0.0.1" in str(refused.value) and "s3cret" not in str(refused.value)
    assert "Connection refused" in str(refused.value)  # the cause as the server's side words it
    await store.close()


async def test_a_refused_role_is_told_as_postgresql_words_it(postgresql_migrated_url: str):
    store = PostgreSQLStorage(postgresql_migrated_url.replace("postgres@", "nobody_here@"))
    with pytest.raises(DatabaseUnavailable, match='role "nobody_here" does not exist'):
        await store.open()
    await store.close()


async def test_connections_the_server_dropped_are_replaced_before_they_are_lent(
    postgresql_migrated_url: str, postgresql_server_url: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr("storage.postgresql.db.IDLE_CHECK", 0.0)
    store = PostgreSQLStorage(postgresql_migrated_url)
    await store.open()
    try:
        await store.ping()
        name = postgresql_migrated_url.rsplit("/", 1)[1]
        with psycopg.connect(postgresql_server_url, autocommit=True) as admin:  # as a server restart would
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
        await store.ping()
        assert await store.directory.list_units() == []
    finally:
        await store.close()
