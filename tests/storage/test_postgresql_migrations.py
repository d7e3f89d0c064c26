"""PostgreSQL only: the migrations in storage/migrations/postgresql bring a database to the schema
SQLite's migrations bring SQLite to, with triggers that behave the same, applied once however many
processes start at once. Against a real server: the `postgresql_url` fixture of tests/postgresql.py
when present, else the server named by FEEDBACK_BOT_TEST_POSTGRESQL (skipped when unset)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from storage.migrating import migration_list
from storage.postgresql.migrate import SchemaTooNew, migrate, migration_status
from storage.sqlite import SQLiteStorage

T = "2026-11-20T02:00:00+00:00"
NEXT_SEQ = "SELECT value FROM versions WHERE name = 'answer_changes'"


@pytest.fixture
def conn(postgresql_url: str) -> Iterator[Any]:
    """A connection as the backend makes them: not autocommit, SERIALIZABLE."""
    with _connect(postgresql_url) as c:
        yield c


def _connect(url: str) -> Any:
    c = psycopg.connect(url)
    c.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
    return c


@pytest.fixture
def migrated(conn: Any) -> Any:
    migrate(conn)
    conn.autocommit = True
    return conn


def test_both_dialects_have_every_number_with_the_same_name() -> None:
    sqlite = [(m.number, m.name) for m in migration_list("sqlite")]
    postgresql = [(m.number, m.name) for m in migration_list("postgresql")]
    assert sqlite == postgresql
    assert [number for number, _ in sqlite] == list(range(1, len(sqlite) + 1))


def test_migrate_applies_each_migration_once(conn: Any) -> None:
    numbers = [m.number for m in migration_list("postgresql")]
    assert [applied for _, applied in migration_status(conn)] == [None] * len(numbers)

    assert migrate(conn) == numbers
    assert migrate(conn) == []

    status = migration_status(conn)
    assert [m.number for m, _ in status] == numbers
    assert all(applied is not None and applied.endswith("+00:00") for _, applied in status)
    rows = conn.execute("SELECT number, name FROM schema_migrations ORDER BY number").fetchall()
    assert rows == [(m.number, m.name) for m in migration_list("postgresql")]


def test_two_processes_starting_at_once_apply_each_migration_once(postgresql_url: str) -> None:
    start = threading.Barrier(2)
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with _connect(postgresql_url) as c:
                start.wait()
                results.append(migrate(c))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(results, key=len) == [[], [m.number for m in migration_list("postgresql")]]


def test_a_database_migrated_by_a_newer_version_is_refused(conn: Any) -> None:
    migrate(conn)
    with conn.transaction():
        conn.execute(
            "INSERT INTO schema_migrations (number, name, applied_at) VALUES (999, 'future', %s)", (T,)
        )
    with pytest.raises(SchemaTooNew, match="999"):
        migrate(conn)


async def test_the_schema_is_sqlites(tmp_path: Path, migrated: Any) -> None:
    store = SQLiteStorage(tmp_path / "x.db")
    await store.open()
    await store.close()
    with sqlite3.connect(tmp_path / "x.db") as lite:
        tables = [
            name
            for (name,) in lite.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        lite_columns = {}
        for table in tables:
            info = lite.execute(f"PRAGMA table_info({table})").fetchall()
            # A non-integer PRIMARY KEY column may hold NULL in SQLite, never in PostgreSQL.
            lite_columns[table] = [(c[1], bool(c[3] or c[5]), c[4]) for c in info]
        lite_indexes = {
            name: (table, bool(unique), bool(partial))
            for name, table, unique, partial in lite.execute(
                'SELECT m.name, m.tbl_name, l."unique", l.partial FROM sqlite_master m'
                " JOIN pragma_index_list(m.tbl_name) l ON l.name = m.name"
                " WHERE m.type = 'index' AND m.sql IS NOT NULL"
            )
        }
        lite_triggers = {
            name for (name,) in lite.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        }

    pg_columns: dict[str, list[tuple[str, bool, str | None]]] = {}
    for table, column, nullable, default in migrated.execute(
        "SELECT table_name, column_name, is_nullable, column_default FROM information_schema.columns"
        " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    ):
        default = default.removesuffix("::text") if default is not None else None
        pg_columns.setdefault(table, []).append((column, nullable == "NO", default))
    pg_columns.pop("schema_migrations")
    assert pg_columns == lite_columns

    # Indexes made by CREATE INDEX, not those behind a PRIMARY KEY or UNIQUE constraint.
    pg_indexes = {
        name: (table, unique, partial)
        for name, table, unique, partial in migrated.execute(
            "SELECT i.relname, t.relname, x.indisunique, x.indpred IS NOT NULL FROM pg_index x"
            " JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
            " WHERE t.relnamespace = current_schema()::regnamespace"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
        )
    }
    assert pg_indexes == lite_indexes

    pg_triggers = {
        name
        for (name,) in migrated.execute(
            "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace"
        )
    }
    assert pg_triggers == lite_triggers


def _dossier(db: Any, code: str, unit: str = "Q1", procedure: str = "Khai sinh") -> int:
    row = db.execute(
        "INSERT INTO dossiers (code, unit_code, procedure, link_id, created_at)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (code, unit, procedure, f"link-{code}", T),
    ).fetchone()
    return int(row[0])


def _answer(db: Any, dossier_id: int) -> tuple[int, int]:
    row = db.execute(
        "INSERT INTO answers (dossier_id, channel, chat_id, question_set, question_set_version, rating,"
        " rating_option, answered_at) VALUES (%s, 'telegram', '2001', 'default', 1, 'satisfied', 'ok', %s)"
        " RETURNING id, change_seq",
        (dossier_id, T),
    ).fetchone()
    return int(row[0]), int(row[1])


def _seq(db: Any, answer_id: int) -> int:
    return int(db.execute("SELECT change_seq FROM answers WHERE id = %s", (answer_id,)).fetchone()[0])


def _counter(db: Any, name: str) -> int:
    return int(db.execute("SELECT value FROM versions WHERE name = %s", (name,)).fetchone()[0])


def test_each_write_of_an_answer_gives_it_the_next_change_number(migrated: Any) -> None:
    db = migrated
    db.execute("INSERT INTO units (code, name) VALUES ('Q1', 'UBND Quận 1')")
    first, first_seq = _answer(db, _dossier(db, "D1"))
    second, second_seq = _answer(db, _dossier(db, "D2"))
    assert (first_seq, second_seq) == (1, 2) and _counter(db, "answer_changes") == 2

    db.execute('UPDATE answers SET texts = \'{"x": "y"}\' WHERE id = %s', (first,))
    assert _seq(db, first) == 3 and _seq(db, second) == 2
    for change in (
        "rating = 'neutral'",
        "rating_option = 'meh'",
        "follow_ups = '[1]'",
        f"completed_at = '{T}'",
    ):
        before = _counter(db, "answer_changes")
        db.execute(f"UPDATE answers SET {change} WHERE id = %s", (second,))
        assert _seq(db, second) == before + 1 == _counter(db, "answer_changes")
    # Columns the triggers do not watch (SQLite's UPDATE OF): no new number.
    db.execute("UPDATE answers SET chat_id = '', dossier_late = 1 WHERE id = %s", (first,))
    assert _seq(db, first) == 3


def test_a_change_of_question_sets_or_units_grows_the_question_sets_version(migrated: Any) -> None:
    db = migrated
    assert _counter(db, "question_sets") == 0
    db.execute("INSERT INTO units (code, name) VALUES ('Q1', 'UBND Quận 1'), ('Q3', 'UBND Quận 3')")
    assert _counter(db, "question_sets") == 2  # by row, as SQLite's triggers
    db.execute("UPDATE units SET parent_code = 'Q1' WHERE code = 'Q3'")
    assert _counter(db, "question_sets") == 3
    db.execute("UPDATE units SET name = 'x' WHERE code = 'nowhere'")
    assert _counter(db, "question_sets") == 3
    db.execute(
        "INSERT INTO question_sets (set_id, version, source, fingerprint, imported_at, imported_by)"
        " VALUES ('default', 1, 'src', 'f1', %s, 'admin')",
        (T,),
    )
    db.execute("UPDATE question_sets SET active = 1")
    db.execute("DELETE FROM question_sets")
    db.execute("DELETE FROM units WHERE code = 'Q3'")
    assert _counter(db, "question_sets") == 7


def test_an_answer_carries_its_dossiers_unit_and_procedure(migrated: Any) -> None:
    db = migrated
    db.execute("INSERT INTO units (code, name) VALUES ('Q1', 'UBND Quận 1'), ('Q3', 'UBND Quận 3')")
    dossier = _dossier(db, "D1", "Q1", "Khai sinh")
    other = _dossier(db, "D2", "Q1", "Khai sinh")
    answer, _ = _answer(db, dossier)
    stored = "SELECT unit_code, procedure, change_seq FROM answers WHERE id = %s"
    assert db.execute(stored, (answer,)).fetchone() == ("Q1", "Khai sinh", 1)

    db.execute("UPDATE dossiers SET unit_code = 'Q3' WHERE id = %s", (dossier,))
    assert db.execute(stored, (answer,)).fetchone() == ("Q3", "Khai sinh", 1)  # no new change number
    db.execute("UPDATE dossiers SET procedure = 'Kết hôn' WHERE id = %s", (dossier,))
    assert db.execute(stored, (answer,)).fetchone() == ("Q3", "Kết hôn", 1)
    db.execute("UPDATE dossiers SET unit_code = 'Q1', procedure = 'Khai tử' WHERE id = %s", (other,))
    assert db.execute(stored, (answer,)).fetchone() == ("Q3", "Kết hôn", 1)

    # An imported answer has no dossier: its unit and procedure are its own.
    db.execute(
        "INSERT INTO answers (channel, chat_id, question_set, question_set_version, rating, rating_option,"
        " answered_at, unit_code, procedure, import_key)"
        " VALUES ('paper', '', 'default', 1, 'neutral', 'ok', %s, 'Q1', 'Chứng thực', 'k1')",
        (T,),
    )
    assert db.execute("SELECT unit_code, procedure FROM answers WHERE import_key = 'k1'").fetchone() == (
        "Q1",
        "Chứng thực",
    )
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(
            "INSERT INTO answers (channel, chat_id, question_set, question_set_version, rating,"
            " rating_option, answered_at, unit_code)"
            " VALUES ('paper', '', 'default', 1, 'neutral', 'ok', %s, 'Q1')",
            (T,),
        )


def test_rows_stored_before_an_upgrade_are_carried_through_it(conn: Any) -> None:
    """A database at migration 12 with data, migrated on: the data-fixing statements of 013 and 016
    (and 010's replaced CHECK) do what SQLite's do."""
    earlier = [m for m in migration_list("postgresql") if m.number <= 12]
    with conn.transaction():
        for m in earlier:
            conn.execute(m.script.encode())
        conn.execute(
            "CREATE TABLE schema_migrations (number INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL)"
        )
        for m in earlier:
            conn.execute("INSERT INTO schema_migrations VALUES (%s, %s, %s)", (m.number, m.name, T))
        conn.execute("INSERT INTO units (code, name) VALUES ('Q1', 'UBND Quận 1')")
        for code in ("D1", "D2"):
            dossier = _dossier(conn, code)
            conn.execute(
                "INSERT INTO answers (id, dossier_id, channel, chat_id, question_set, question_set_version,"
                " rating, rating_option, answered_at) VALUES (%s, %s, 'telegram', '2001', 'default', 1,"
                " 'satisfied', 'ok', %s)",
                (dossier * 10, dossier, T),
            )
        conn.execute(
            "INSERT INTO digests (unit_code, day, status, claimed_at)"
            " VALUES ('Q1', '2026-11-19', 'sent', %s)",
            (T,),
        )

    assert migrate(conn) == [m.number for m in migration_list("postgresql") if m.number > 12]

    conn.autocommit = True
    assert conn.execute(
        "SELECT id, change_seq, unit_code, procedure FROM answers ORDER BY id"
    ).fetchall() == [
        (10, 10, "Q1", "Khai sinh"),
        (20, 20, "Q1", "Khai sinh"),
    ]
    assert _counter(conn, "answer_changes") == 20
    dossier = _dossier(conn, "D3")
    assert _answer(conn, dossier)[1] == 21
    assert conn.execute("SELECT status, attempts FROM digests").fetchall() == [("sent", 0)]
    conn.execute("UPDATE digests SET status = 'retrying'")
