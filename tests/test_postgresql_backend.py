"""The PostgreSQL backend's own parts: statements written for SQLite as PostgreSQL reads them, rows
as sqlite3 gives them, units of work retried when raced, and databases it cannot use refused.
What the repositories do is the contract suite's (tests/storage), run on both backends."""

from __future__ import annotations

import asyncio
import threading

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
    db = Database(postgresql_migrated_url, pool_size=8)
    await db.open()
    try:
        await db.execute("INSERT INTO versions (name, value) VALUES ('race', 0)")
        runs = 0
        lock = threading.Lock()

        def bump(c: PgConnection) -> None:
            nonlocal runs
            with lock:
                runs += 1
            value = c.execute("SELECT value FROM versions WHERE name = 'race'").fetchone()[0]
            c.execute("UPDATE versions SET value = ? WHERE name = 'race'", (value + 1,))

        # A read then a write: without SERIALIZABLE, two at once would both write the same number.
        await asyncio.gather(*(db.write(bump) for _ in range(40)))
        assert (await db.read_one("SELECT value FROM versions WHERE name = 'race'"))[0] == 40
        assert runs > 40  # some ran again: they raced
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
