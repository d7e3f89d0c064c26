"""`feedback-bot privacy forget`: an admin erases a citizen's personal data by phone or dossier
code, as /forget would; the erasure is in the audit, naming no one; a wrong phone or an unknown
dossier says so and erases nothing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from bot.config import load_config
from storage.sqlite import SQLiteStorage
from tests.cli_support import error_line, run
from tests.test_cli import add, complain


def stored(config_file: Path, sql: str) -> list[tuple[object, ...]]:
    async def read() -> list[tuple[object, ...]]:
        store = SQLiteStorage(load_config(config_file).database)
        await store.open()
        try:
            return [tuple(row) for row in await store.db.read(sql)]
        finally:
            await store.close()

    return asyncio.run(read())


def test_forget_by_phone_erases_every_dossier_with_it(config_file: Path, capsys):
    for code in ("HS-1", "HS-2"):
        assert add(config_file, code, "--phone", "0901234567", "--citizen-name", "Trần Văn Hùng") == 0
    assert add(config_file, "HS-3", "--phone", "0907654321") == 0
    capsys.readouterr()
    assert run(config_file, "privacy", "forget", "--phone", "+84 901 234 567") == 0
    assert "erased the personal data of 2 dossier(s)" in capsys.readouterr().err
    assert stored(config_file, "SELECT code FROM dossiers WHERE phone IS NOT NULL") == [("HS-3",)]
    assert stored(config_file, "SELECT count(*) FROM dossiers WHERE citizen_name IS NOT NULL") == [(0,)]
    assert run(config_file, "audit", "--format", "json") == 0
    (entry,) = [e for e in json.loads(capsys.readouterr().out) if e["action"] == "personal data erased"]
    assert entry["detail"].startswith("2 dossiers") and "0901234567" not in json.dumps(entry)


def test_forget_by_dossier_closes_its_complaint(config_file: Path, capsys):
    assert add(config_file, "HS-9", "--returned") == 0
    token = capsys.readouterr().out.split("start=", 1)[1].split()[0]
    complain(config_file, token)
    assert run(config_file, "privacy", "forget", "--dossier", "HS-9") == 0
    assert "1 open complaint(s) closed as withdrawn" in capsys.readouterr().err
    assert stored(config_file, "SELECT state FROM cases") == [("closed",)]
    assert stored(config_file, "SELECT texts, chat_id FROM answers") == [("{}", "")]


def test_a_wrong_phone_or_unknown_dossier_erases_nothing(config_file: Path, capsys):
    assert add(config_file, "HS-1", "--phone", "0901234567") == 0
    assert run(config_file, "privacy", "forget", "--phone", "12") == 2
    assert "--phone" in error_line(capsys.readouterr().err)
    assert run(config_file, "privacy", "forget", "--dossier", "HS-404") == 2
    assert "nothing erased" in error_line(capsys.readouterr().err)
    assert stored(config_file, "SELECT phone FROM dossiers") == [("84901234567",)]


def test_answers_carry_personal_data_only_when_asked_and_then_audited(config_file: Path, capsys):
    assert (
        add(config_file, "HS-7", "--returned", "--phone", "0901234567", "--citizen-name", "Lê Thị Mai") == 0
    )
    token = capsys.readouterr().out.split("start=", 1)[1].split()[0]
    complain(config_file, token)
    assert run(config_file, "answers", "--format", "json") == 0
    plain = capsys.readouterr().out
    assert "84901234567" not in plain and "Lê Thị Mai" not in plain and "chat_id" not in plain
    assert run(config_file, "answers", "--format", "json", "--with-personal-data") == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["chat_id"], row["citizen_name"], row["phone"]) == ("1001", "Lê Thị Mai", "84901234567")
    assert run(config_file, "audit", "--format", "json") == 0
    (entry,) = [e for e in json.loads(capsys.readouterr().out) if e["action"] == "personal data exported"]
    assert entry["detail"] == "answers: 1 rows, json"


def test_dossier_show_of_a_named_citizen_is_audited(config_file: Path, capsys):
    assert add(config_file, "HS-8", "--phone", "0901234567", "--citizen-name", "Lê Thị Mai") == 0
    assert add(config_file, "HS-9") == 0
    assert run(config_file, "dossier", "show", "HS-8") == 0
    assert run(config_file, "dossier", "show", "HS-9") == 0  # nothing personal: nothing to trace
    capsys.readouterr()
    assert run(config_file, "audit", "--format", "json") == 0
    shown = [e for e in json.loads(capsys.readouterr().out) if e["action"] == "personal data shown"]
    assert [e["detail"] for e in shown] == ["dossier show HS-8"]
