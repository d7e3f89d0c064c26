"""Migration 016 makes the answers table again so that an imported answer may have no dossier:
the rows of a database made before it keep their ids and change numbers, and every index and the
change-number triggers of 013 are there after it, working."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage.sqlite import SQLiteStorage, migrations
from storage.sqlite.db import _statements
from tests.storage.conftest import T0

ANSWER_COLUMNS = (
    "id, dossier_id, channel, chat_id, question_set, question_set_version, rating, rating_option,"
    " follow_ups, texts, answered_at, completed_at, dossier_late, letter_sent, change_seq"
)


def schema_of_answers(raw: sqlite3.Connection) -> dict[str, str]:
    rows = raw.execute(
        "SELECT type || ' ' || name, sql FROM sqlite_master WHERE tbl_name = 'answers' AND type != 'table'"
    ).fetchall()
    return {name: sql for name, sql in rows}


def database_before_016(path: Path) -> dict[str, str]:
    """A database migrated up to 015 with two answers, one changed after it was stored; returns its
    indexes and triggers on answers."""
    with sqlite3.connect(path, isolation_level=None) as raw:
        for number, script in migrations():
            if number < 16:
                for statement in _statements(script):
                    raw.execute(statement)
        raw.execute("PRAGMA user_version = 15")
        raw.execute("INSERT INTO units (code, name) VALUES ('Q1', 'UBND Quận 1')")
        for n in (1, 2):
            raw.execute(
                "INSERT INTO dossiers (id, code, unit_code, procedure, link_id, created_at)"
                " VALUES (?, ?, 'Q1', 'Đăng ký kết hôn', ?, ?)",
                (n, f"HS-{n}", f"L{n}", T0.isoformat()),
            )
            raw.execute(
                "INSERT INTO answers (id, dossier_id, channel, chat_id, question_set, question_set_version,"
                " rating, rating_option, answered_at, dossier_late) VALUES (?, ?, 'telegram', ?, 'default',"
                " 1, 'unsatisfied', 'unsatisfied', ?, 1)",
                (n * 10, n, str(n), T0.isoformat()),
            )
        raw.execute('UPDATE answers SET texts = \'{"complaint": "Chờ lâu"}\' WHERE id = 10')
        return schema_of_answers(raw)


async def test_answers_keep_rows_indexes_and_triggers_through_016(tmp_path: Path) -> None:
    path = tmp_path / "before.db"
    before = database_before_016(path)
    with sqlite3.connect(path) as raw:
        rows_before = raw.execute(f"SELECT {ANSWER_COLUMNS} FROM answers ORDER BY id").fetchall()
    assert [r[-1] for r in rows_before] == [3, 2]  # the change of answer 10 came after both inserts

    store = SQLiteStorage(path)
    await store.open()
    await store.close()

    with sqlite3.connect(path) as raw:
        assert raw.execute(f"SELECT {ANSWER_COLUMNS} FROM answers ORDER BY id").fetchall() == rows_before
        after = schema_of_answers(raw)
        assert before.items() <= after.items(), "an index or trigger of answers was lost or changed"
        assert "index answers_report" in after
        # The triggers work: a change and an insert each take the next change number.
        raw.execute("UPDATE answers SET completed_at = ? WHERE id = 20", (T0.isoformat(),))
        raw.execute(
            "INSERT INTO answers (channel, chat_id, question_set, question_set_version, rating,"
            " rating_option, answered_at, unit_code, procedure, import_key) VALUES ('paper', '', 'import',"
            " 1, 'neutral', '2', ?, 'Q1', 'Đăng ký kết hôn', 'k1')",
            (T0.isoformat(),),
        )
        assert raw.execute("SELECT id, change_seq FROM answers ORDER BY change_seq").fetchall()[-2:] == [
            (20, 4), (21, 5),
        ]  # fmt: skip
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
        # Every answer carries its dossier's unit and procedure, copied at the migration, when
        # stored, and again when the dossier moves.
        assert raw.execute("SELECT DISTINCT unit_code, procedure FROM answers").fetchall() == [
            ("Q1", "Đăng ký kết hôn")
        ]
        raw.execute("INSERT INTO units (code, name) VALUES ('Q3', 'UBND Quận 3')")
        raw.execute(
            "INSERT INTO dossiers (id, code, unit_code, procedure, link_id, created_at)"
            " VALUES (3, 'HS-3', 'Q3', 'Khai sinh', 'L3', ?)",
            (T0.isoformat(),),
        )
        raw.execute(
            "INSERT INTO answers (dossier_id, channel, chat_id, question_set, question_set_version, rating,"
            " rating_option, answered_at) VALUES (3, 'zalo', 'z', 'default', 1, 'neutral', 'neutral', ?)",
            (T0.isoformat(),),
        )
        raw.execute("UPDATE dossiers SET unit_code = 'Q3', procedure = 'Hộ tịch' WHERE id = 1")
        assert raw.execute("SELECT dossier_id, unit_code, procedure FROM answers ORDER BY id").fetchall() == [
            (1, "Q3", "Hộ tịch"), (2, "Q1", "Đăng ký kết hôn"), (None, "Q1", "Đăng ký kết hôn"),
            (3, "Q3", "Khai sinh"),
        ]  # fmt: skip
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            raw.execute(
                "INSERT INTO answers (dossier_id, channel, chat_id, question_set, question_set_version,"
                " rating, rating_option, answered_at) VALUES (1, 'zalo', 'x', 'default', 1, 'neutral',"
                " 'neutral', ?)",
                (T0.isoformat(),),
            )
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):  # neither a dossier nor a key
            raw.execute(
                "INSERT INTO answers (channel, chat_id, question_set, question_set_version, rating,"
                " rating_option, answered_at, unit_code) VALUES ('paper', '', 'import', 1, 'neutral', '2',"
                " ?, 'Q1')",
                (T0.isoformat(),),
            )
