"""The command line, run in-process (and once as the installed console script): every command and
listing, the checks made before anything is stored, and what operators read (names, not ids)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import logging
import os
import re
import subprocess
import sys
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import build_dispatcher, opened_storage
from bot.cli import main
from bot.cli.output import BOM, Column, neutralised, render
from bot.cli.parser import build_parser
from bot.config import load_config
from handlers.links import SurveyLinks, normalized_code
from storage.records import CaseState
from tests.cli_support import error_line, run, write_config
from tests.conftest import UNITS, Citizen

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def add(config_file: Path, code: str, *args: str, unit: str = "Q1-BN") -> int:
    return run(config_file, "dossier", "add", code, "--unit", unit, "--procedure", "Đăng ký khai sinh", *args)


def complain(config_file: Path, token: str, text: str = "Trễ hẹn 5 ngày, không có thư xin lỗi") -> None:
    """A citizen on Telegram (chat 1001) answers unsatisfied, the result late, and writes `text`."""
    config = load_config(config_file)

    async def answer() -> None:
        async with opened_storage(config) as store:
            citizen = Citizen(build_dispatcher(config, store))
            citizen.now = datetime(2020, 3, 2, 5, 0, tzinfo=UTC)
            await citizen.command("start", token)
            await citizen.press(citizen.last[-1].options[-1].label)  # the last option: unsatisfied
            await citizen.press("Kết quả trễ hẹn hoặc chưa đúng")
            await citizen.say(text)

    asyncio.run(answer())


def returned_dossier(config_file: Path, capsys, code: str = "HS-1", unit: str = "Q1-BN") -> str:
    """A dossier returned on 2 March 2020; the token of its survey link."""
    assert add(config_file, code, "--returned", "2020-03-02T09:30", unit=unit) == 0
    return capsys.readouterr().out.splitlines()[-2].split("start=", 1)[1]


# The command line's shape


def test_every_command_names_the_function_that_runs_it():
    def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
        groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not groups or parser.get_default("handler"):  # `answers` lists, `answers import` imports
            yield path, parser
        for group in groups:
            for name, child in group.choices.items():
                yield from leaves(child, (*path, name))

    found = {" ".join(path): parser.get_default("handler") for path, parser in leaves(build_parser())}
    assert {"run", "console", "dossier add", "dossier import", "dossier show", "dossier list", "cases list",
            "directory show",
            "directory import", "questions list", "answers", "audit", "digest"} <= set(found)  # fmt: skip
    assert all(callable(handler) for handler in found.values()), found


def test_python_dash_m_bot_works():
    done = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "console" in done.stdout


def test_the_console_script_runs_the_demo_survey_in_a_folder_without_a_config(tmp_path):
    script = Path(sys.executable).parent / "feedback-bot"
    env = {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_BOT_TOKEN", "FEEDBACK_BOT_CONFIG")}
    done = subprocess.run(
        [str(script), "console", "--demo"],
        input="3\n5\nKhông ai tiếp nhận góp ý\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "1. Hài lòng" in done.stdout and "6. Lý do khác" in done.stdout
    assert "Thủ trưởng UBND Phường Bến Nghé" in done.stdout
    assert not list(tmp_path.iterdir())  # the demo leaves nothing behind


# Which config, and the log


def test_the_first_log_line_names_the_config_file_with_a_zoned_time(config_file, capsys):
    assert run(config_file, "answers") == 0
    first = capsys.readouterr().err.splitlines()[0]
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+0700 INFO ", first), first
    assert first.endswith(f"config file {config_file}")


def test_the_environment_names_the_config_file(config_file, monkeypatch, capsys):
    monkeypatch.setenv("FEEDBACK_BOT_CONFIG", str(config_file))
    assert main(["answers"]) == 0
    assert f"config file {config_file}" in capsys.readouterr().err.splitlines()[0]
    monkeypatch.setenv("FEEDBACK_BOT_CONFIG", str(config_file.parent / "absent.yaml"))
    assert main(["answers"]) == 2
    assert "absent.yaml: no such file" in capsys.readouterr().err


def test_without_a_config_file_no_database_is_created(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("FEEDBACK_BOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    for command in (["answers"], ["dossier", "add", "HS-1", "--unit", "Q1", "--procedure", "X"], ["run"]):
        env_token = {"run": "123:ABC"}.get(command[0])
        if env_token:
            monkeypatch.setenv("TELEGRAM_BOT_TOKEN", env_token)
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "no config file found" in err.splitlines()[0]
        assert "no database is created" in error_line(err) and "--config" in error_line(err)
    assert not list(tmp_path.iterdir())


def test_a_malformed_config_names_the_key(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("survey:\n  cooldown_days: soon\n")
    assert main(["--config", str(bad), "answers"]) == 2
    assert "survey.cooldown_days" in capsys.readouterr().err
    assert main(["--config", str(tmp_path / "absent.yaml"), "answers"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_the_placeholder_secret_warning_says_so_without_printing_it(tmp_path, capsys):
    from bot.app import warn_if_placeholder_secret
    from bot.cli.logs import setup_logging

    (tmp_path / "config.yaml").write_text("units: []\n")
    config = load_config(tmp_path / "config.yaml")
    setup_logging(config)
    warn_if_placeholder_secret(config)
    err = capsys.readouterr().err
    assert "the placeholder value" in err and "FEEDBACK_BOT_SECRET" in err
    assert "[secret]" not in err and "change-me" not in err


def test_secrets_never_reach_the_log_not_even_in_a_traceback(tmp_path, monkeypatch, capsys):
    from bot.cli.logs import setup_logging

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "777:TOKEN-xyz")
    monkeypatch.setenv("ZALO_BOT_TOKEN", "zalo-token-abc")
    (tmp_path / "config.yaml").write_text("secret: link-secret-123\n")
    setup_logging(load_config(tmp_path / "config.yaml"))
    log = logging.getLogger("test")
    log.warning("calling https://api.telegram.org/bot777:TOKEN-xyz/getMe with link-secret-123")
    try:
        raise RuntimeError("zalo said no to zalo-token-abc")
    except RuntimeError:
        log.exception("failed")
    err = capsys.readouterr().err
    assert "bot[secret]/getMe with [secret]" in err and "RuntimeError: zalo said no to [secret]" in err
    assert "777:TOKEN-xyz" not in err and "link-secret-123" not in err and "zalo-token-abc" not in err


# dossier add


def test_dossier_add_prints_a_verifiable_survey_link_and_writes_a_qr(config_file, tmp_path, capsys):
    qr = tmp_path / "receipts" / "HS-1.png"  # a missing folder that can be made is made
    code = add(config_file, "HS-1", "--received", "2026-11-20", "--due", "2026-11-27", "--qr", str(qr))
    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and out[0].startswith("https://t.me/TestNameBot?start=")
    assert normalized_code(out[1]) == out[1] and len(out[1]) == 14  # the Zalo survey code: XXXX-XXXX-XXXX
    token = out[0].split("start=", 1)[1]
    assert len(token) <= 64 and "HS-1" not in token
    assert SurveyLinks("cli-secret", "x").link_id(token) is not None
    data = qr.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 300


def test_dossier_mistakes_get_one_line_errors(config_file, capsys):
    assert add(config_file, "HS-1", unit="Q1") == 0
    capsys.readouterr()
    assert add(config_file, "HS-1", unit="Q1") == 2
    assert "dossier HS-1 is already recorded" in error_line(capsys.readouterr().err)
    assert add(config_file, "HS-2", unit="Q9") == 2
    assert "unknown unit 'Q9'" in error_line(capsys.readouterr().err)
    assert run(config_file, "dossier", "returned", "HS-404") == 2
    assert "no dossier 'HS-404'" in capsys.readouterr().err
    assert run(config_file, "dossier", "returned", "HS-1", "--at", "yesterday") == 2
    assert "is not a date and time" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        add(config_file, "HS-3", "--due", "27/11")


@pytest.mark.parametrize(
    ("where", "named"),
    [
        (lambda tmp: tmp, "it is a folder"),  # a folder
        (lambda tmp: tmp / "notes.txt" / "HS-1.png", "is a file, not a folder"),  # a folder that cannot be
    ],
)
def test_a_qr_path_that_cannot_be_written_is_refused_before_anything_is_stored(
    config_file, tmp_path, capsys, where, named
):
    (tmp_path / "notes.txt").write_text("not a folder")
    qr = where(tmp_path)
    assert add(config_file, "HS-1", "--qr", str(qr)) == 2
    captured = capsys.readouterr()
    line = error_line(captured.err)
    assert f"cannot write the QR code to {qr}" in line and named in line
    assert captured.out == ""
    assert add(config_file, "HS-1") == 0  # nothing was stored: the same code goes in now


IN_TWO_HOURS = (datetime.now(ZONE) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize(
    ("code", "procedure", "dates", "message"),
    [
        ("", "Đăng ký khai sinh", [], "the dossier code is empty"),
        ("  ", "Đăng ký khai sinh", [], "the dossier code is empty"),
        ("HS-1", " ", [], "the procedure is empty"),
        ("HS-1", "X", ["--received", "2026-11-20", "--due", "2026-11-19"],
         "the due date 2026-11-19 is before the received date 2026-11-20"),
        ("HS-1", "X", ["--returned", IN_TWO_HOURS], "is in the future"),
        ("HS-1", "X", ["--received", "2026-11-20", "--returned", "2026-11-19"],
         "is before the received date 2026-11-20"),
    ],
)  # fmt: skip
def test_dossier_add_refuses_impossible_dossiers_and_stores_nothing(
    config_file, capsys, code, procedure, dates, message
):
    assert run(config_file, "dossier", "add", code, "--unit", "Q1", "--procedure", procedure, *dates) == 2
    assert message in error_line(capsys.readouterr().err)
    assert run(config_file, "dossier", "list") == 0
    assert capsys.readouterr().out == "no dossiers recorded\n"


def test_a_return_within_a_minute_of_now_is_a_clock_a_little_ahead(config_file, capsys):
    soon = (datetime.now(ZONE) + timedelta(seconds=30)).isoformat(timespec="seconds")
    assert add(config_file, "HS-1", "--returned", soon) == 0
    in_an_hour = (datetime.now(ZONE) + timedelta(hours=1)).isoformat(timespec="seconds")
    assert run(config_file, "dossier", "returned", "HS-1", "--at", in_an_hour) == 2
    assert "is in the future" in error_line(capsys.readouterr().err)


# dossier show, dossier list


def test_dossier_show_prints_the_link_and_code_again_and_writes_the_same_qr(config_file, tmp_path, capsys):
    first = tmp_path / "HS-1.png"
    assert (
        add(config_file, "HS-1", "--received", "2026-11-20", "--due", "2026-11-27", "--qr", str(first)) == 0
    )
    url, code = capsys.readouterr().out.split()
    again = tmp_path / "again.png"
    assert run(config_file, "dossier", "show", "HS-1", "--qr", str(again)) == 0
    shown = dict(
        re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in capsys.readouterr().out.splitlines()
    )
    assert shown["dossier"] == "HS-1" and shown["unit"] == "Q1-BN (UBND Phường Bến Nghé)"
    assert shown["procedure"] == "Đăng ký khai sinh" and shown["state"] in ("in process", "overdue")
    assert (shown["received"], shown["due"], shown["returned"]) == ("2026-11-20", "2026-11-27", "—")
    assert shown["answered"] == "no"
    assert (shown["survey link"], shown["survey code"]) == (url, code)
    assert again.read_bytes() == first.read_bytes()

    assert run(config_file, "dossier", "show", "HS-1", "--qr", str(tmp_path)) == 2
    assert f"cannot write the QR code to {tmp_path}" in error_line(capsys.readouterr().err)
    assert run(config_file, "dossier", "show", "HS-404") == 2
    assert "no dossier 'HS-404'" in error_line(capsys.readouterr().err)


def test_dossier_show_says_returned_and_answered(config_file, capsys):
    token = returned_dossier(config_file, capsys)
    complain(config_file, token)
    assert run(config_file, "dossier", "show", "HS-1") == 0
    out = capsys.readouterr().out
    assert re.search(r"^state\s+returned$", out, re.M) and re.search(
        r"^answered\s+unsatisfied, 2020-03-02 12:00$", out, re.M
    )
    assert re.search(r"^returned\s+2020-03-02 09:30$", out, re.M)


def test_dossier_list_by_unit_and_format(config_file, capsys):
    assert add(config_file, "HS-1", "--received", "2026-11-20", "--due", "2026-11-27", unit="Q1-BN") == 0
    assert add(config_file, "HS-2", unit="Q1") == 0
    assert add(config_file, "HS-3", unit="Q3") == 0
    capsys.readouterr()

    assert run(config_file, "dossier", "list") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["dossier", "unit", "procedure", "received", "due", "returned", "answered",
                                "state"]  # fmt: skip
    assert [line.split()[0] for line in table[1:]] == ["HS-3", "HS-2", "HS-1"]  # newest first

    assert run(config_file, "dossier", "list", "--unit", "Q1", "--format", "json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["dossier"] for r in rows] == ["HS-2", "HS-1"]  # Q1 and the ward under it
    assert rows[1] == {"dossier": "HS-1", "unit": "Q1-BN", "procedure": "Đăng ký khai sinh",
                       "received": "2026-11-20", "due": "2026-11-27", "returned": None, "answered": False,
                       "state": rows[1]["state"]}  # fmt: skip

    assert run(config_file, "dossier", "list", "--unit", "Q3", "--format", "csv") == 0
    out = capsys.readouterr().out
    assert out.startswith(BOM)
    (row,) = csv.DictReader(io.StringIO(out.removeprefix(BOM)))
    assert row["dossier"] == "HS-3" and row["answered"] == "no"

    assert run(config_file, "dossier", "list", "--unit", "Q9") == 2
    assert "unknown unit 'Q9'" in error_line(capsys.readouterr().err)


# cases list


def test_cases_list_shows_number_unit_dossier_state_assignee_deadline_and_overdue(config_file, capsys):
    complain(config_file, returned_dossier(config_file, capsys))
    assert run(config_file, "cases", "list", "--format", "json") == 0
    (case,) = json.loads(capsys.readouterr().out)
    assert case == {
        "number": 1, "unit": "Q1-BN", "dossier": "HS-1", "state": "new", "assignee": None,
        "opened": "2020-03-02T12:00:00+07:00", "deadline": "2020-03-05", "overdue": True,
    }  # fmt: skip

    assert run(config_file, "cases", "list") == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["number", "unit", "dossier", "state", "assignee", "opened",
                                             "deadline", "overdue"]  # fmt: skip
    assert "HS-1" in table and "1001" not in table  # never the citizen's chat

    assert run(config_file, "cases", "list", "--unit", "Q1", "--state", "closed") == 0
    assert capsys.readouterr().out == "no closed cases\n"
    assert run(config_file, "cases", "list", "--unit", "Q3") == 0
    assert capsys.readouterr().out == "no open cases\n"
    assert run(config_file, "cases", "list", "--unit", "Q1", "--state", "all", "--format", "csv") == 0
    (row,) = csv.DictReader(io.StringIO(capsys.readouterr().out.removeprefix(BOM)))
    assert row["number"] == "1" and row["overdue"] == "yes"


def test_cases_show_prints_the_case_and_its_history_with_names_never_a_chat_id(config_file, capsys):
    complain(config_file, returned_dossier(config_file, capsys))
    assert run(config_file, "cases", "show", "1") == 0
    out = capsys.readouterr().out
    assert "dossier   HS-1:" in out and "state     new" in out and "(overdue)" in out
    assert "citizen (Telegram)  opened" in out.split("history:")[1]
    assert "1001" not in out
    assert run(config_file, "cases", "show", "7") == 2
    assert "no case number 7" in error_line(capsys.readouterr().err)


# directory show, directory import of a config file


def test_directory_show_prints_the_tree_with_heads_staff_and_their_ids(config_file, capsys):
    assert run(config_file, "directory", "show") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Q1  UBND Quận 1"
    assert lines[1].split() == ["head", "Nguyễn", "Văn", "A", "(telegram", "2001)"]
    assert lines[2].split() == ["staff", "Trần", "Thị", "B", "(telegram", "2002)"]
    assert lines[3] == "  Q1-BN  UBND Phường Bến Nghé"  # under Q1
    assert lines[4].startswith("      head   Lê Văn C")
    assert "Q3  UBND Quận 3" in lines


def test_a_unit_added_to_the_config_later_gets_one_true_advice_and_imports_from_the_config(
    config_file, capsys
):
    assert run(config_file, "answers") == 0  # the first start seeds the directory from the config
    capsys.readouterr()
    units = [
        *UNITS,
        {"code": "Q1-SG", "name": "UBND Phường Sài Gòn", "head": {"name": "Hồ Văn G", "zalo": "4471093"}},
    ]
    write_config(config_file, units=units, digest={"time": "17:30"})

    assert add(config_file, "HS-1", unit="Q1-SG") == 2
    err = capsys.readouterr().err
    advice = f"feedback-bot directory import {config_file} --apply"
    (warning,) = [line for line in err.splitlines() if "WARNING" in line]
    assert "Q1-SG" in warning and advice in warning
    assert "not in the directory" in error_line(err) and advice in error_line(err)

    assert run(config_file, "directory", "import", str(config_file)) == 0
    captured = capsys.readouterr()
    assert f"reading the units of the config file {config_file}" in captured.err
    assert "+ Q1-SG" in captured.out and "not applied" in captured.out
    assert run(config_file, "directory", "import", str(config_file), "--apply") == 0
    assert "applied: units +1" in capsys.readouterr().out
    assert add(config_file, "HS-1", unit="Q1-SG") == 0
    assert "WARNING" not in capsys.readouterr().err  # the config and the directory agree again


# digest


def test_digest_without_any_token_says_which_to_set(config_file, capsys):
    assert run(config_file, "digest") == 2
    line = error_line(capsys.readouterr().err)
    assert "TELEGRAM_BOT_TOKEN" in line and "ZALO_BOT_TOKEN" in line


def test_digest_refuses_a_day_after_today(config_file, capsys):
    # A token and a server that is not there: the refusal must come before anything is tried.
    write_config(config_file, telegram={"token": "123:ABC", "base_url": "http://127.0.0.1:9/bot"})
    later = (datetime.now(ZONE) + timedelta(days=2)).date()  # two days: no midnight passes meanwhile
    assert run(config_file, "digest", "--date", later.isoformat()) == 2
    line = error_line(capsys.readouterr().err)
    assert f"--date {later} is after today" in line and "Asia/Ho_Chi_Minh" in line


def test_run_without_a_token_says_how_to_set_one_and_how_to_try_without(config_file, capsys):
    assert run(config_file, "run") == 2
    line = error_line(capsys.readouterr().err)
    assert "TELEGRAM_BOT_TOKEN" in line and "feedback-bot console --demo" in line


# answers


def test_answers_are_listed_as_table_csv_and_json(config_file, capsys):
    complain(config_file, returned_dossier(config_file, capsys))

    assert run(config_file, "answers", "--format", "json") == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["dossier"] == "HS-1" and row["unit"] == "Q1-BN" and row["rating"] == "unsatisfied"
    assert row["follow_ups"] == [{"question_id": "problem", "option_id": "result", "factor": "result"}]
    assert row["text"] == "Trễ hẹn 5 ngày, không có thư xin lỗi" and row["channel"] == "telegram"
    assert row["question_set"] == "default v1" and row["answered_at"] == "2020-03-02T12:00:00+07:00"
    assert (row["rating_option"], row["rating_text"]) == ("unsatisfied", "Không hài lòng")
    assert row["follow_up_texts"] == ["Kết quả trễ hẹn hoặc chưa đúng"]
    assert (row["case"], row["case_state"]) == (1, "new")

    assert run(config_file, "answers", "--format", "csv", "--unit", "Q1") == 0
    raw = capsys.readouterr().out
    assert raw.startswith(BOM)  # so Excel reads the Vietnamese as UTF-8
    (csv_row,) = list(csv.DictReader(io.StringIO(raw.removeprefix(BOM))))
    assert set(csv_row) == set(row)  # CSV and JSON carry the same fields
    assert csv_row["follow_ups"] == "result (result)" and csv_row["procedure"] == "Đăng ký khai sinh"
    assert csv_row["rating_text"] == "Không hài lòng"
    assert csv_row["follow_up_texts"] == "Kết quả trễ hẹn hoặc chưa đúng"
    assert (csv_row["case"], csv_row["case_state"]) == ("1", "new")

    assert run(config_file, "answers") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["dossier", "unit", "procedure", "rating"] and "HS-1" in table[1]

    assert run(config_file, "answers", "--unit", "Q3") == 0
    assert capsys.readouterr().out == "no answers yet\n"
    assert run(config_file, "answers", "--unit", "NOPE") == 2


def test_answers_csv_neutralises_formulas_a_citizen_typed(config_file, capsys):
    complain(config_file, returned_dossier(config_file, capsys), text='=HYPERLINK("http://x.vn","bấm")')
    assert run(config_file, "answers", "--format", "csv") == 0
    (row,) = csv.DictReader(io.StringIO(capsys.readouterr().out.removeprefix(BOM)))
    assert row["text"] == '\'=HYPERLINK("http://x.vn","bấm")'
    assert run(config_file, "answers", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out)[0]["text"].startswith("=HYPERLINK")  # JSON is data, as typed


FIVE_LEVELS = """\
id: ward
name: {vi: Khảo sát phường, en: Ward survey}
scope: {units: [Q1-BN]}
questions:
  - id: rating
    type: rating
    factor: overall
    text: {vi: "Ông/Bà đánh giá thế nào?", en: "How would you rate it?"}
    options:
      - {id: top, rating: satisfied, text: {vi: Rất hài lòng, en: Very satisfied}}
      - {id: ok, rating: neutral, text: {vi: Tạm được, en: Fair}}
      - {id: low, rating: unsatisfied, text: {vi: Chưa hài lòng, en: Not satisfied}}
      - {id: bottom, rating: unsatisfied, text: {vi: Rất không hài lòng, en: Very unsatisfied}}
  - id: problem
    type: choice
    factor: overall
    show_for: [unsatisfied]
    text: {vi: "Vì sao?", en: "Why?"}
    options:
      - {id: result, factor: result, text: {vi: Kết quả trễ hẹn hoặc chưa đúng, en: Late}}
      - {id: other, text: {vi: Khác, en: Other}}
  - id: complaint
    type: text
    factor: feedback
    show_for: [unsatisfied]
    text: {vi: "Ông/Bà muốn nói thêm?", en: "Anything to add?"}
"""


def test_answers_show_the_option_texts_of_the_stored_version_they_were_given_with(
    config_file, tmp_path, capsys
):
    ward = tmp_path / "ward.yaml"
    ward.write_text(FIVE_LEVELS, encoding="utf-8")
    assert run(config_file, "questions", "import", str(ward)) == 0
    assert run(config_file, "questions", "activate", "1") == 0
    complain(config_file, returned_dossier(config_file, capsys))
    assert run(config_file, "answers", "--format", "json") == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["question_set"] == "ward v1"
    assert (row["rating_option"], row["rating_text"]) == ("bottom", "Rất không hài lòng")


# questions list, audit


def test_questions_list_shows_the_built_in_set_too(config_file, tmp_path, capsys):
    assert run(config_file, "questions", "list") == 0
    header, built_in = capsys.readouterr().out.splitlines()
    assert header.split() == ["id", "set", "version", "state", "answers", "scope"]
    assert built_in.split()[:3] == ["default", "1", "built-in"]
    ward = tmp_path / "ward.yaml"
    ward.write_text(FIVE_LEVELS, encoding="utf-8")
    assert run(config_file, "questions", "import", str(ward)) == 0
    capsys.readouterr()
    assert run(config_file, "questions", "list", "--format", "json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["id"], r["set"], r["state"]) for r in rows] == [
        (1, "ward", "inactive"),
        (None, "default", "built-in"),
    ]


def test_audit_names_people_and_admins_and_never_shows_a_citizens_chat(config_file, capsys):
    complain(config_file, returned_dossier(config_file, capsys))
    config = load_config(config_file)

    async def act() -> None:
        async with opened_storage(config) as store:
            head = next(p for p in await store.directory.unit_people("Q1-BN") if p.role.value == "head")
            staff = next(p for p in await store.directory.unit_people("Q1-BN") if p.role.value == "staff")
            now = datetime.now(UTC)
            await store.cases.change_case(
                1, from_states=(CaseState.NEW,), to_state=CaseState.ASSIGNED, actor=f"person:{head.id}",
                action="assigned", now=now, assignee_id=staff.id,
            )  # fmt: skip
            await store.question_sets.save_question_set("ward", FIVE_LEVELS, "f1", now, "telegram:9001")

    asyncio.run(act())
    assert run(config_file, "audit") == 0
    out = capsys.readouterr().out
    assert "citizen (Telegram)" in out and "case opened" in out
    assert "Lê Văn C (head, Q1-BN)" in out and "case assigned" in out
    assert "Quản trị Sở Nội vụ (admin)" in out and "question set imported" in out
    assert "person:" not in out and "telegram:" not in out and "1001" not in out
    assert run(config_file, "audit", "--format", "json") == 0
    assert {r["actor"] for r in json.loads(capsys.readouterr().out)} >= {"citizen (Telegram)"}


# output


def test_every_listing_renders_alike():
    columns = [Column("a"), Column("b", in_table=False)]
    rows = [{"a": "-1+2", "b": ["x", "y"]}, {"a": None, "b": True}]
    assert render(rows, columns, "csv", empty=None) == BOM + "a,b\r\n'-1+2,x; y\r\n,yes\r\n"
    assert json.loads(render(rows, columns, "json", empty=None)) == rows
    assert render(rows, columns, "table", empty=None) == "a\n-1+2\n\n"
    assert render([], columns, "table", empty="nothing") == "nothing\n"
    assert [neutralised(c) for c in ("=1", "+1", "-1", "@x", "\tx", "ok")] == ["'=1", "'+1", "'-1", "'@x",
                                                                                  "'\tx", "ok"]  # fmt: skip


@pytest.mark.parametrize(
    ("code", "procedure", "message"),
    [
        ("HS-\u200b1", "Đăng ký khai sinh", "the dossier code 'HS-\\u200b1' holds U+200B ZERO WIDTH SPACE"),
        ("HS-1\nHS-2", "Đăng ký khai sinh", "U+000A a control character"),
        ("HS-\u202e1", "Đăng ký khai sinh", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("HS-1", "Đăng ký\nkhai sinh", "the procedure"),
    ],
)
def test_dossier_add_refuses_invisible_and_control_characters(config_file, capsys, code, procedure, message):
    assert run(config_file, "dossier", "add", code, "--unit", "Q1", "--procedure", procedure) == 2
    assert message in error_line(capsys.readouterr().err)
    assert run(config_file, "dossier", "list") == 0
    assert capsys.readouterr().out == "no dossiers recorded\n"


def test_a_code_typed_decomposed_is_the_dossier_stored_composed(config_file, capsys):
    composed = "HS-ĐỒNG-1"
    decomposed = unicodedata.normalize("NFD", composed)
    assert run(config_file, "dossier", "add", decomposed, "--unit", "Q1", "--procedure", "Khai sinh") == 0
    assert run(config_file, "dossier", "add", composed, "--unit", "Q1", "--procedure", "Khai sinh") == 2
    assert f"dossier {composed} is already recorded" in error_line(capsys.readouterr().err)
    assert run(config_file, "dossier", "show", decomposed) == 0
    assert re.search(rf"^dossier\s+{composed}$", capsys.readouterr().out, re.M)
    assert run(config_file, "dossier", "returned", decomposed) == 0
