"""`dossier extend`, `letters` and `lateness` on the command line: an extension recorded as the API
records it, its letter's route said; letters listed with their state; the lateness table per unit,
with the year before."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tests.cli_support import error_line, run
from tests.test_cli import add


def in_days(n: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=n)).isoformat()


def test_extend_records_the_event_and_says_where_the_letter_goes(config_file: Path, capsys):
    assert add(config_file, "HS-1", "--due", in_days(1), "--phone", "0901234567") == 0
    capsys.readouterr()
    assert (
        run(config_file, "dossier", "extend", "HS-1", "--reason", "Chờ ý kiến Sở", "--new-due", in_days(8))
        == 0
    )
    out = capsys.readouterr().out
    assert f"new appointment {in_days(8)} 17:00" in out and "reason: Chờ ý kiến Sở" in out
    assert "by zns (sent by the running bot)" in out
    assert run(config_file, "dossier", "extend", "HS-1", "--reason", "Lần hai", "--new-due", in_days(9)) == 0
    assert "rescheduled before" in capsys.readouterr().out
    assert run(config_file, "letters", "--format", "json") == 0
    letters = json.loads(capsys.readouterr().out)
    assert [(row["dossier"], row["twice"], row["state"]) for row in letters] == [
        ("HS-1", False, "pending"), ("HS-1", True, "pending"),
    ]  # fmt: skip


def test_extend_refuses_what_the_api_refuses(config_file: Path, capsys):
    assert add(config_file, "HS-1") == 0
    assert run(config_file, "dossier", "extend", "HS-1", "--reason", "x", "--new-due", in_days(-3)) == 2
    assert "is not after the extension" in error_line(capsys.readouterr().err)
    assert run(config_file, "dossier", "extend", "HS-404", "--reason", "x", "--new-due", in_days(3)) == 2
    assert "no dossier 'HS-404'" in error_line(capsys.readouterr().err)


def test_a_letter_reaching_no_one_is_to_print(config_file: Path, capsys):
    assert add(config_file, "HS-1", "--due", in_days(2)) == 0
    assert add(config_file, "HS-2", "--due", in_days(2), "--phone", "0901234567", unit="Q3") == 0
    for code in ("HS-1", "HS-2"):
        assert run(config_file, "dossier", "extend", code, "--reason", "Chờ", "--new-due", in_days(9)) == 0
    assert "to print at the desk" in capsys.readouterr().out
    assert run(config_file, "letters", "--to-print") == 0
    table = capsys.readouterr().out
    assert "HS-1" in table and "HS-2" not in table and "to print" in table
    assert run(config_file, "letters", "--unit", "Q3", "--format", "csv") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out.lstrip("\ufeff"))))
    assert [(r["dossier"], r["deliveries"]) for r in rows] == [("HS-2", "zns pending")]


def test_lateness_counts_late_returns_and_letters_with_the_year_before(config_file: Path, capsys):
    today = datetime.now(UTC).date()
    last_month_end = today.replace(day=1) - timedelta(days=1)
    due = last_month_end.replace(day=10)
    # returned the day after its due day: late, without a letter
    assert (
        add(config_file, "HS-1", "--due", due.isoformat(), "--returned", f"{due + timedelta(days=1)}T10:00")
        == 0
    )
    assert add(config_file, "HS-2", "--due", due.isoformat(), "--returned", f"{due}T10:00", unit="Q3") == 0
    year_before = date(due.year - 1, due.month, 10)
    for n in range(2):
        returned = f"{year_before + timedelta(days=1)}T10:00"
        assert add(config_file, f"OLD-{n}", "--due", year_before.isoformat(), "--returned", returned) == 0
    capsys.readouterr()
    assert run(config_file, "lateness", "--compare-year", "--format", "json") == 0
    rows = {row["unit"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["Q1-BN"] == {
        "unit": "Q1-BN", "name": "UBND Phường Bến Nghé", "returned": 1, "returned_late": 1,
        "share_late": "1.00",
        "letters_on_time": 0, "letters_late": 0, "letters_missing": 1, "returned_late_year_before": 2,
        "share_late_year_before": "1.00", "change": "+0.00", "halved": True,
    }  # fmt: skip
    assert (rows["Q3"]["returned"], rows["Q3"]["returned_late"]) == (1, 0)
    assert (rows["TOTAL"]["returned"], rows["TOTAL"]["returned_late"]) == (2, 1)
    assert run(config_file, "lateness", "--unit", "Q3", "--from", in_days(-400), "--to", in_days(0)) == 0
    table = capsys.readouterr().out
    assert "Q3" in table and "Q1-BN" not in table
    assert run(config_file, "lateness", "--from", in_days(0), "--to", in_days(-1)) == 2
    assert "is before --from" in error_line(capsys.readouterr().err)
