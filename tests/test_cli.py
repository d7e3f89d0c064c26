"""The command line, run in-process (and once as the installed console script)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from handlers.links import SurveyLinks, normalized_code
from tests.conftest import UNITS


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("FEEDBACK_BOT_SECRET", raising=False)
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "database": "db/feedback.db",
                "secret": "cli-secret",
                "units": UNITS,
                "telegram": {"username": "TestNameBot"},
            },
            allow_unicode=True,
        )
    )
    return path


def run(config_file: Path, *args: str) -> int:
    return main(["--config", str(config_file), *args])


def test_dossier_add_prints_a_verifiable_survey_link_and_writes_a_qr(config_file, tmp_path, capsys):
    qr = tmp_path / "receipts" / "HS-1.png"
    code = run(
        config_file,
        "dossier",
        "add",
        "HS-1",
        "--unit",
        "Q1-BN",
        "--procedure",
        "Đăng ký khai sinh",
        "--received",
        "2026-11-20",
        "--due",
        "2026-11-27",
        "--qr",
        str(qr),
    )
    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and out[0].startswith("https://t.me/TestNameBot?start=")
    assert normalized_code(out[1]) == out[1] and len(out[1]) == 11  # the Zalo survey code: XXXXX-XXXXX
    token = out[0].split("start=", 1)[1]
    assert len(token) <= 64 and "HS-1" not in token
    assert SurveyLinks("cli-secret", "x").link_id(token) is not None
    data = qr.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 300


def test_dossier_mistakes_get_one_line_errors(config_file, capsys):
    assert run(config_file, "dossier", "add", "HS-1", "--unit", "Q1", "--procedure", "X") == 0
    capsys.readouterr()
    assert run(config_file, "dossier", "add", "HS-1", "--unit", "Q1", "--procedure", "X") == 2
    assert "dossier HS-1 is already recorded" in capsys.readouterr().err
    assert run(config_file, "dossier", "add", "HS-2", "--unit", "Q9", "--procedure", "X") == 2
    assert "unknown unit 'Q9'" in capsys.readouterr().err
    assert run(config_file, "dossier", "returned", "HS-404") == 2
    assert "no dossier 'HS-404'" in capsys.readouterr().err
    assert run(config_file, "dossier", "returned", "HS-1", "--at", "yesterday") == 2
    assert "is not a date and time" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run(config_file, "dossier", "add", "HS-3", "--unit", "Q1", "--procedure", "X", "--due", "27/11")


def test_answers_are_listed_as_table_csv_and_json(config_file, capsys):
    import asyncio

    from bot.app import build_dispatcher, opened_storage
    from bot.config import load_config
    from tests.conftest import Citizen

    assert (
        run(
            config_file,
            "dossier",
            "add",
            "HS-1",
            "--unit",
            "Q1-BN",
            "--procedure",
            "Cấp giấy phép xây dựng",
            "--returned",
            "2026-11-25T09:30",
        )
        == 0
    )
    token = capsys.readouterr().out.splitlines()[0].split("start=", 1)[1]
    config = load_config(config_file)

    async def answer() -> None:
        async with opened_storage(config) as store:
            await answer_in(store)

    async def answer_in(store) -> None:
        citizen = Citizen(build_dispatcher(config, store))
        citizen.now = citizen.now.replace(year=2026, month=11, day=25, hour=5)
        await citizen.command("start", token)
        await citizen.press("Không hài lòng")
        await citizen.press("Kết quả trễ hẹn hoặc chưa đúng")
        await citizen.say("Trễ hẹn 5 ngày, không có thư xin lỗi")

    asyncio.run(answer())

    assert run(config_file, "answers", "--format", "json") == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["dossier"] == "HS-1" and row["unit"] == "Q1-BN" and row["rating"] == "unsatisfied"
    assert row["follow_ups"] == [{"question_id": "problem", "option_id": "result", "factor": "result"}]
    assert row["text"] == "Trễ hẹn 5 ngày, không có thư xin lỗi" and row["channel"] == "telegram"
    assert row["question_set"] == "default v1" and row["answered_at"].endswith("+07:00")

    assert run(config_file, "answers", "--format", "csv", "--unit", "Q1") == 0
    (csv_row,) = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert csv_row["follow_ups"] == "result (result)" and csv_row["procedure"] == "Cấp giấy phép xây dựng"

    assert run(config_file, "answers") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["dossier", "unit", "procedure", "rating"] and "HS-1" in table[1]

    assert run(config_file, "answers", "--unit", "Q3") == 0
    assert capsys.readouterr().out == "no answers yet\n"
    assert run(config_file, "answers", "--unit", "NOPE") == 2


def test_run_without_a_token_says_how_to_set_one_and_how_to_try_without(config_file, capsys):
    assert run(config_file, "run") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "TELEGRAM_BOT_TOKEN" in err and "feedback-bot console --demo" in err


def test_digest_without_any_token_says_which_to_set(config_file, monkeypatch, capsys):
    monkeypatch.delenv("ZALO_BOT_TOKEN", raising=False)
    assert run(config_file, "digest") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "TELEGRAM_BOT_TOKEN" in err and "ZALO_BOT_TOKEN" in err


def test_a_malformed_config_names_the_key(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("survey:\n  cooldown_days: soon\n")
    assert main(["--config", str(bad), "answers"]) == 2
    assert "survey.cooldown_days" in capsys.readouterr().err
    assert main(["--config", str(tmp_path / "absent.yaml"), "answers"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_the_console_script_runs_the_demo_survey(tmp_path):
    script = Path(sys.executable).parent / "feedback-bot"
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
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


def test_python_dash_m_bot_works():
    done = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "console" in done.stdout
