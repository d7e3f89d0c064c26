"""`feedback-bot db migrate | status | copy`, in-process: the schema state of SQLite and PostgreSQL
databases (fresh, partly migrated, up to date) and the exit codes deploy scripts rely on; a SQLite
database filled through the repositories copied into PostgreSQL and checked table by table; a
target that is not empty refused and left as it was; a copy changed afterwards caught by the check;
ids going on after the copy."""

from __future__ import annotations

import asyncio
import io
import sqlite3
import sys
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

from storage.copy import checksum, copy_database, verify_copy
from storage.migrating import migration_list
from storage.postgresql import PostgreSQLStorage
from storage.records import (
    CaseState,
    DigestStatus,
    DossierEventFacts,
    DossierEventType,
    DossierFacts,
    ImportedAnswer,
    NewDossier,
    NoticeTo,
    Rating,
    Role,
)
from storage.sqlite import SQLiteStorage
from storage.sqlite.db import _statements
from tests.cli_support import error_line, run, write_config
from tests.storage.conftest import (
    T0,
    TREE,
    add_dossier,
    answer,
    entry,
    hours,
    open_case,
    set_people,
    set_units,
)

LATEST = migration_list("sqlite")[-1].number


def migrated_sqlite(path: Path, upto: int) -> None:
    """A SQLite file with the migrations up to `upto` applied, as an older bot left it."""
    db = sqlite3.connect(path, isolation_level=None)
    for migration in migration_list("sqlite"):
        if migration.number <= upto:
            for statement in _statements(migration.script):
                db.execute(statement)
    db.execute(f"PRAGMA user_version = {upto}")
    db.close()


def migrated_postgresql(url: str, upto: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations"
            " (number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        for migration in migration_list("postgresql"):
            if migration.number <= upto:
                conn.execute(migration.script.encode())
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (%s, %s, '2026-11-01T00:00:00+00:00')",
                    (migration.number, migration.name),
                )


# db status / db migrate ------------------------------------------------------------------------


class TestSQLite:
    def test_a_fresh_database_has_every_migration_pending(self, config_file: Path, capsys):
        assert run(config_file, "db", "status") == 1
        out = capsys.readouterr().out
        assert "backend: SQLite" in out and "(no file yet)" in out
        assert out.count("not applied") == LATEST
        assert not (config_file.parent / "db" / "feedback.db").exists()  # status creates nothing

    def test_migrate_then_status_says_up_to_date(self, config_file: Path, capsys):
        assert run(config_file, "db", "migrate") == 0
        out = capsys.readouterr().out
        assert "applied migrations 001, 002" in out and f"{LATEST:03d}" in out
        assert run(config_file, "db", "status") == 0
        out = capsys.readouterr().out
        assert "not applied" not in out and out.count(" applied") == LATEST and "up to date" in out
        assert run(config_file, "db", "migrate") == 0
        assert "up to date" in capsys.readouterr().out

    def test_a_partly_migrated_database(self, config_file: Path, capsys):
        path = config_file.parent / "db" / "feedback.db"
        path.parent.mkdir()
        migrated_sqlite(path, 12)
        assert run(config_file, "db", "status") == 1
        out = capsys.readouterr().out
        assert "012        letters              applied" in out
        assert "013        answer_changes       not applied" in out
        assert f"{LATEST - 12} of {LATEST} migrations pending" in out
        assert run(config_file, "db", "migrate") == 0
        out = capsys.readouterr().out
        assert out.strip().endswith(", ".join(f"{n:03d}" for n in range(13, LATEST + 1)))
        assert run(config_file, "db", "status") == 0

    def test_a_database_newer_than_this_version_is_told(self, config_file: Path, capsys):
        path = config_file.parent / "db" / "feedback.db"
        path.parent.mkdir()
        migrated_sqlite(path, LATEST)
        with sqlite3.connect(path) as db:
            db.execute(f"PRAGMA user_version = {LATEST + 1}")
        assert run(config_file, "db", "status") == 2
        assert "does not know" in error_line(capsys.readouterr().err)
        assert run(config_file, "db", "migrate") == 2


class TestPostgreSQL:
    def test_fresh_partly_migrated_and_up_to_date(self, config_file: Path, postgresql_url: str, capsys):
        write_config(config_file, database=postgresql_url)
        assert run(config_file, "db", "status") == 1
        out = capsys.readouterr().out
        assert "backend: PostgreSQL" in out and out.count("not applied") == LATEST

        migrated_postgresql(postgresql_url, 9)
        assert run(config_file, "db", "status") == 1
        out = capsys.readouterr().out
        assert "009        notice_events        applied      2026-11-01T00:00:00+00:00" in out
        assert out.count("not applied") == LATEST - 9
        assert run(config_file, "db", "migrate") == 0
        out = capsys.readouterr().out
        assert out.strip().endswith(", ".join(f"{n:03d}" for n in range(10, LATEST + 1)))

        assert run(config_file, "db", "status") == 0
        out = capsys.readouterr().out
        assert "not applied" not in out and "up to date" in out
        assert run(config_file, "db", "migrate") == 0
        assert "up to date" in capsys.readouterr().out

    def test_the_password_is_never_printed(
        self, config_file: Path, postgresql_migrated_url: str, capsys, monkeypatch
    ):
        monkeypatch.setenv("FEEDBACK_BOT_DATABASE_PASSWORD", "hunter2")
        write_config(config_file, database=postgresql_migrated_url)
        assert run(config_file, "db", "status") == 0
        out = capsys.readouterr().out
        assert "database: postgresql://postgres@" in out and "hunter2" not in out

    def test_an_unreachable_server_is_one_line(self, config_file: Path, capsys):
        write_config(config_file, database="postgresql://nobody@127.0.0.1:1/feedback")
        assert run(config_file, "db", "status") == 2
        assert "cannot open the database postgresql://nobody@127.0.0.1:1/feedback" in error_line(
            capsys.readouterr().err
        )


# db copy ----------------------------------------------------------------------------------------

# Tables that no repository fills in a unit's normal life (the migrations' own rows aside).
LEFT_EMPTY: set[str] = set()


async def fill(store: SQLiteStorage | PostgreSQLStorage) -> None:
    """A unit's database with rows in every table, each reached through the repositories."""
    await set_units(store, TREE)
    head, staff = await set_people(
        store,
        [entry("Q1-BN", Role.HEAD, "Lê Thị Hoa"), entry("Q1-BN", Role.STAFF, "Trần Văn Bình")],
    )
    await answer(store, "HS-1", chat="41", rating=Rating.SATISFIED)
    case = await open_case(store, "HS-2", chat="42", now=T0 + hours(1))
    await store.cases.change_case(
        case.id, from_states=[CaseState.NEW], to_state=CaseState.ASSIGNED, actor="person:1",
        action="assign", now=T0 + hours(2), assignee_id=staff.id,
        notices=[NoticeTo(kind="case_assigned", channel="telegram", chat_id="42")],
    )  # fmt: skip
    survey = await store.surveys.start_survey(
        channel="telegram", chat_id="43", dossier_id=(await add_dossier(store, "HS-3")).id,
        question_set="default", question_set_version=1, first_step="rating", now=T0,
    )  # fmt: skip
    await store.surveys.record_rating(
        survey, rating=Rating.NEUTRAL, option_id="neutral", next_step="why", now=T0 + hours(1)
    )
    facts = DossierFacts(
        code="HS-4", unit_code="Q1-BN", procedure="Cấp giấy phép xây dựng", received_on=date(2026, 11, 1),
        due_on=date(2026, 11, 25), citizen_name="Nguyễn Thị Lan", phone="84901234567",
    )  # fmt: skip
    (put,) = await store.dossiers.put_dossiers(
        [(facts, NewDossier(link_id="L-4", survey_code="S-4"))], actor="test", now=T0
    )
    await store.dossiers.link_chat(put.dossier.id, "telegram", "44", T0)
    extended = DossierEventFacts(
        type=DossierEventType.EXTENDED, at=T0, reason="Chờ ý kiến Sở", new_due_at=T0 + timedelta(days=5)
    )
    await store.dossiers.add_dossier_event("HS-4", extended, actor="test", now=T0)
    await store.letters.delegate_extension(put.dossier.id, staff.id, actor="person:1", now=T0)
    await store.dossiers.add_dossier_event(
        "HS-4", DossierEventFacts(type=DossierEventType.RETURNED, at=T0 + hours(3)), actor="test",
        now=T0 + hours(3),
    )  # fmt: skip
    await store.dossiers.record_wrong_code("telegram", "45", T0)
    await store.chats.set_language("telegram", "41", "en")
    await store.outbox.record_undelivered_reply("telegram", "46", T0, "flood control")
    await store.digests.claim_digest("Q1-BN", date(2026, 11, 20), T0, lease=hours(1))
    await store.digests.finish_digest("Q1-BN", date(2026, 11, 20), DigestStatus.SENT, T0, recipient="2001")
    await store.question_sets.save_question_set("sipas", "id: sipas\n", "f1", T0, "person:9")
    await store.directory.propose_directory("units: []\n", T0, "person:9")
    await store.api_keys.create_api_key("motcua", "hash", ["Q1"], actor="admin", now=T0)
    await store.reports.import_answers(
        [ImportedAnswer(unit_code="Q3", procedure="P", rating=Rating.SATISFIED, rating_option="5",
                        factor=None, answered_at=T0, channel="paper", import_key="k1")], T0,
    )  # fmt: skip
    await store.reports.claim_monthly_report("Q1", "2026-10", T0, lease=hours(1))
    await store.zalo_oa.seed_oa_token("rt", "seed", T0)
    await store.zalo_oa.record_webhook_event("msg:1", "user_send_text", T0)
    await store.zalo_oa.add_zns_message(
        purpose="rating", dossier_id=put.dossier.id, template_id="1", tracking_id="t1",
        phone="84901234567", now=T0,
    )  # fmt: skip
    await store.zalo_oa.mark_phone_without_zalo("84900000000", T0)
    await store.zalo_oa.save_zns_quota(500, 499, T0)
    del head


def filled_sqlite(path: Path) -> Path:
    async def build() -> None:
        store = SQLiteStorage(path)
        await store.open()
        try:
            await fill(store)
        finally:
            await store.close()

    asyncio.run(build())
    return path


def row_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            t for (t,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchall()
        ]  # fmt: skip
        return {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return filled_sqlite(tmp_path / "unit.db")


def test_every_table_is_filled_by_the_builder(source: Path):
    with sqlite3.connect(source) as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        empty = {t for t in tables if not t.startswith("sqlite_")
                 and db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] == 0}  # fmt: skip
    assert empty == LEFT_EMPTY


def test_copy_moves_every_row_and_checks_each_table(
    config_file: Path, source: Path, postgresql_url: str, capsys
):
    assert (
        run(config_file, "db", "copy", "--from", f"sqlite:{source}", "--to", postgresql_url, "--batch", "2")
        == 0
    )
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].split() == ["table", "rows", "rows", "copied", "checksum", "ok"]
    assert all(line.split()[-1] == "yes" for line in lines[1:] if line.startswith(("answers", "units")))
    assert "copied" in lines[-2] and "every table checked" in lines[-2]
    assert "answers: 4 rows copied" in captured.err  # a plain line per table: stderr is no terminal
    with sqlite3.connect(source) as db:
        for table, count in row_counts(postgresql_url).items():
            if table != "schema_migrations":
                assert db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] == count, table
    checks = verify_copy(source, postgresql_url)
    assert checks and all(c.ok for c in checks)
    with psycopg.connect(postgresql_url) as pg, sqlite3.connect(source) as db:
        # The values the triggers would have rewritten are kept: change numbers, counters.
        assert sorted(pg.execute("SELECT id, change_seq, unit_code FROM answers").fetchall()) == sorted(
            db.execute("SELECT id, change_seq, unit_code FROM answers").fetchall()
        )
        assert dict(pg.execute("SELECT name, value FROM versions").fetchall()) == dict(
            db.execute("SELECT name, value FROM versions").fetchall()
        )


def test_ids_go_on_after_the_copy(source: Path, postgresql_url: str):
    copy_database(source, postgresql_url)

    async def more() -> tuple[int, int, int]:
        store = PostgreSQLStorage(postgresql_url)
        await store.open()
        try:
            dossier = await add_dossier(store, "HS-NEW")
            answered = await answer(store, "HS-NEW-2", chat="99")
            event = await store.dossiers.add_dossier_event(
                "HS-NEW", DossierEventFacts(type=DossierEventType.RETURNED, at=T0), actor="t", now=T0
            )
            return dossier.id, answered.id, event.recorded
        finally:
            await store.close()

    dossier_id, answer_id, recorded = asyncio.run(more())
    with sqlite3.connect(source) as db:
        assert dossier_id > db.execute("SELECT MAX(id) FROM dossiers").fetchone()[0]
        assert answer_id > db.execute("SELECT MAX(id) FROM answers").fetchone()[0]
        last_change = db.execute("SELECT value FROM versions WHERE name = 'answer_changes'").fetchone()[0]
    assert recorded
    with psycopg.connect(postgresql_url) as pg:
        (change,) = pg.execute("SELECT change_seq FROM answers WHERE id = %s", (answer_id,)).fetchone()
    assert change > last_change  # the counter went on from the copied value


def test_an_id_sqlite_gave_once_is_not_given_again_after_the_copy(source: Path, postgresql_url: str):
    with sqlite3.connect(source) as db:  # the newest survey gone (a refusal, an erasure)
        (newest,) = db.execute("SELECT MAX(id) FROM surveys").fetchone()
        db.execute("DELETE FROM surveys WHERE id = ?", (newest,))
    copy_database(source, postgresql_url)
    with psycopg.connect(postgresql_url) as pg:
        (next_id,) = pg.execute("SELECT nextval(pg_get_serial_sequence('surveys', 'id'))").fetchone()
    assert next_id > newest  # its buttons, still in some chat, name no new survey


def test_a_target_with_rows_is_refused_and_left_as_it_was(
    config_file: Path, source: Path, postgresql_migrated_url: str, capsys
):
    with psycopg.connect(postgresql_migrated_url, autocommit=True) as pg:
        pg.execute("INSERT INTO units (code, name) VALUES ('X', 'Đã có')")
    before = row_counts(postgresql_migrated_url)
    assert run(config_file, "db", "copy", "--from", f"sqlite:{source}", "--to", postgresql_migrated_url) == 2
    assert "the target database is not empty: it has rows in units, versions" in error_line(
        capsys.readouterr().err
    )
    assert row_counts(postgresql_migrated_url) == before


def test_a_target_with_tables_of_others_is_refused(
    config_file: Path, source: Path, postgresql_url: str, capsys
):
    with psycopg.connect(postgresql_url, autocommit=True) as pg:
        pg.execute("CREATE TABLE invoices (id INTEGER)")
    assert run(config_file, "db", "copy", "--from", f"sqlite:{source}", "--to", postgresql_url) == 2
    assert "tables feedback-bot does not make (invoices)" in error_line(capsys.readouterr().err)
    assert set(row_counts(postgresql_url)) == {"invoices"}  # not even migrated


def test_an_already_migrated_empty_target_is_fine(source: Path, postgresql_migrated_url: str):
    assert all(c.ok for c in copy_database(source, postgresql_migrated_url))


def test_a_source_behind_or_ahead_of_this_version_is_refused(
    config_file: Path, tmp_path: Path, postgresql_url: str, capsys
):
    old = tmp_path / "old.db"
    migrated_sqlite(old, 12)
    assert run(config_file, "db", "copy", "--from", f"sqlite:{old}", "--to", postgresql_url) == 2
    assert "is at migration 12" in (line := error_line(capsys.readouterr().err)) and "db migrate" in line
    with sqlite3.connect(old) as db:
        db.execute(f"PRAGMA user_version = {LATEST + 1}")
    assert run(config_file, "db", "copy", "--from", f"sqlite:{old}", "--to", postgresql_url) == 2
    assert "newer than this version" in error_line(capsys.readouterr().err)
    assert (
        run(config_file, "db", "copy", "--from", f"sqlite:{tmp_path / 'none.db'}", "--to", postgresql_url)
        == 2
    )
    assert "no SQLite database at" in error_line(capsys.readouterr().err)
    assert row_counts(postgresql_url) == {}


def test_a_copy_changed_afterwards_is_caught(source: Path, postgresql_url: str):
    copy_database(source, postgresql_url)
    with psycopg.connect(postgresql_url, autocommit=True) as pg:
        # chat_id, which no trigger watches: the answer alone changes (a rating would move a counter too).
        pg.execute("UPDATE answers SET chat_id = '9999' WHERE id = (SELECT MIN(id) FROM answers)")
        pg.execute("DELETE FROM wrong_codes")
    bad = {c.table: c for c in verify_copy(source, postgresql_url) if not c.ok}
    assert set(bad) == {"answers", "wrong_codes"}
    assert bad["answers"].source_rows == bad["answers"].target_rows
    assert bad["answers"].source_checksum != bad["answers"].target_checksum
    assert (bad["wrong_codes"].source_rows, bad["wrong_codes"].target_rows) == (1, 0)


def test_the_checksum_is_the_same_in_any_order_and_tells_kinds_apart():
    rows = [(1, "a", None), (2, "b", 1.5)]
    assert checksum(rows) == checksum(list(reversed(rows)))
    assert checksum([(1,)]) != checksum([("1",)])
    assert checksum([(None,)]) != checksum([("",)])
    assert checksum([("ab", "c")]) != checksum([("a", "bc")])


def test_a_table_owner_without_superuser_can_copy(
    source: Path, postgresql_server_url: str, postgresql_url: str
):
    """ALTER TABLE ... DISABLE TRIGGER USER needs only ownership, unlike session_replication_role."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    database = conninfo_to_dict(postgresql_url)["dbname"]
    with psycopg.connect(postgresql_server_url, autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS unit_owner")
        admin.execute("CREATE ROLE unit_owner LOGIN NOSUPERUSER")
        admin.execute(f'ALTER DATABASE "{database}" OWNER TO unit_owner')
    with psycopg.connect(postgresql_url, autocommit=True) as conn:
        conn.execute("ALTER SCHEMA public OWNER TO unit_owner")
    owner_url = make_conninfo(postgresql_url, user="unit_owner")
    try:
        assert all(c.ok for c in copy_database(source, owner_url))
    finally:
        with psycopg.connect(postgresql_url, autocommit=True) as conn:
            conn.execute("REASSIGN OWNED BY unit_owner TO postgres")
        with psycopg.connect(postgresql_server_url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{database}" OWNER TO postgres')
            admin.execute("DROP ROLE unit_owner")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_per_table(
    config_file: Path, source: Path, postgresql_url: str, monkeypatch: pytest.MonkeyPatch, capsys
):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert (
        run(config_file, "db", "copy", "--from", f"sqlite:{source}", "--to", postgresql_url, "--batch", "1")
        == 0
    )
    drawn = terminal.getvalue()
    assert "\ranswers" in drawn and "] 4 of 4" in drawn and "rows copied" not in drawn
    assert "every table checked" in capsys.readouterr().out


def test_a_copy_target_carrying_a_password_is_refused(config_file: Path, source: Path, capsys):
    target = "postgresql://bot:hunter2@127.0.0.1:5432/feedback"
    assert run(config_file, "db", "copy", "--from", f"sqlite:{source}", "--to", target) == 2
    said = capsys.readouterr().err
    assert "FEEDBACK_BOT_DATABASE_PASSWORD" in said and "hunter2" not in said
