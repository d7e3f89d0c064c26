"""`dossier import` and the citizen's name and phone of `dossier add`: a one-stop export stored all
or nothing (unless --skip-bad), each refused row named by its line and problem, dossiers added,
updated or left unchanged by code in batches; the name and phone shown by `dossier show`."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from bot.cli.commands import dossier
from bot.cli.output import ProgressBar
from storage.base import DatabaseUnavailable
from storage.sql.dossiers import SqlDossiers
from tests.cli_support import error_line, run

HEADER = "Mã hồ sơ,Mã đơn vị,Tên thủ tục,Ngày tiếp nhận,Ngày hẹn trả,Họ tên,Số điện thoại,Trạng thái"
ROWS = [
    "HS-1,Q1-BN,Đăng ký khai sinh,20/11/2026 08:30,27/11/2026,Nguyễn Văn A,0901234567,Đang xử lý",
    "HS-2,Q1,Cấp phép xây dựng,20261121090000,20261205170000,,,Đang xử lý",
    "HS-3,Q3,Chứng thực bản sao,2026-11-22T10:00:00+07:00,2026-11-22T16:00:00+07:00,Trần Thị B,,Đã trả",
]


def export(tmp_path: Path, *rows: str, name: str = "ho-so.csv") -> Path:
    path = tmp_path / name
    path.write_text("\ufeff" + "\r\n".join([HEADER, *rows]) + "\r\n", encoding="utf-8")
    return path


def shown(config_file: Path, code: str, capsys) -> dict[str, str]:
    assert run(config_file, "dossier", "show", code) == 0
    out = capsys.readouterr().out
    return dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in out.splitlines())


def listed(config_file: Path, capsys) -> list[str]:
    assert run(config_file, "dossier", "list", "--format", "json") == 0
    return sorted(d["dossier"] for d in json.loads(capsys.readouterr().out or "[]"))


# dossier import


def test_an_export_is_added_then_updated_and_unchanged_by_code(config_file, tmp_path, capsys):
    assert run(config_file, "dossier", "import", str(export(tmp_path, *ROWS))) == 0
    captured = capsys.readouterr()
    assert captured.out == "added 3, updated 0, unchanged 0, refused 0\n"
    assert "columns ignored: Trạng thái" in captured.err
    first = shown(config_file, "HS-1", capsys)
    assert first["citizen"] == "Nguyễn Văn A" and first["phone"] == "+84 90 123 4567"
    assert (first["received"], first["due"]) == ("2026-11-20", "2026-11-27")
    assert "citizen" not in shown(config_file, "HS-2", capsys)

    changed = ROWS[0].replace("0901234567", "028 3822 1234")
    assert run(config_file, "dossier", "import", str(export(tmp_path, changed, *ROWS[1:]))) == 0
    assert capsys.readouterr().out == "added 0, updated 1, unchanged 2, refused 0\n"
    again = shown(config_file, "HS-1", capsys)
    assert again["phone"] == "+84 28 3822 1234"
    assert (again["survey link"], again["survey code"]) == (first["survey link"], first["survey code"])


def test_a_refused_row_stores_nothing_and_every_problem_is_named_by_its_line(config_file, tmp_path, capsys):
    rows = [
        ROWS[0],
        "HS-2,Q1,,20261121090000,20261120170000,,090123,",  # line 3: three problems
        "HS-4,Q9,Khai sinh,20261121090000,20261125170000,,,",  # line 4: a unit not in the directory
        ROWS[0].replace("Nguyễn Văn A", "Nguyễn Văn B"),  # line 5: HS-1 again
        ROWS[2],
    ]
    path = export(tmp_path, *rows)
    assert run(config_file, "dossier", "import", str(path)) == 2
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["line 3", "line 3", "line 3", "line 4", "line 5"]
    assert lines[0] == "line 3: procedure is empty"
    assert lines[1].startswith("line 3: due_at (2026-11-20T17:00:00+07:00) is before received_at")
    assert lines[2].startswith("line 3: the phone number '090123' has 5 digits")
    assert lines[3].startswith("line 4: unknown unit 'Q9': it is not in the directory")
    assert lines[4] == "line 5: the dossier code HS-1 is on line 2 too"
    assert error_line(captured.err) == (
        "feedback-bot: nothing stored: 3 of 5 rows are refused (listed above); fix them and import the "
        "file again, or store the other rows with --skip-bad"
    )
    assert listed(config_file, capsys) == []

    assert run(config_file, "dossier", "import", str(path), "--skip-bad") == 0
    out = capsys.readouterr().out
    assert out.endswith("added 2, updated 0, unchanged 0, refused 3\n") and "line 4: unknown unit" in out
    assert listed(config_file, capsys) == ["HS-1", "HS-3"]
    assert shown(config_file, "HS-1", capsys)["citizen"] == "Nguyễn Văn A"  # the first of the two lines


def test_a_dry_run_checks_everything_and_stores_nothing(config_file, tmp_path, capsys):
    assert run(config_file, "dossier", "import", str(export(tmp_path, *ROWS)), "--dry-run") == 0
    assert capsys.readouterr().out == "would store 3, refused 0 (a dry run: nothing is stored)\n"
    assert listed(config_file, capsys) == []
    bad = export(tmp_path, ROWS[0], "HS-9,Q9,Khai sinh,20261121090000,20261125170000,,,")
    assert run(config_file, "dossier", "import", str(bad), "--dry-run") == 2
    assert "line 3: unknown unit 'Q9'" in capsys.readouterr().out
    assert run(config_file, "dossier", "import", str(bad), "--dry-run", "--skip-bad") == 0
    assert capsys.readouterr().out.endswith("would store 1, refused 1 (a dry run: nothing is stored)\n")
    assert listed(config_file, capsys) == []


def test_an_xlsx_export_is_imported_in_batches(config_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(dossier, "BATCH", 2)
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["DANH SÁCH HỒ SƠ"])
    sheet.append(["STT", "Mã hồ sơ", "Đơn vị", "Thủ tục", "Ngày nhận", "Ngày hẹn trả", "SĐT"])
    for n in range(1, 6):
        sheet.append([n, f"HS-{n}", "Q1", "Khai sinh", datetime(2026, 11, 20, 8, n), datetime(2026, 11, 27),
                      f"090123456{n}"])  # fmt: skip
    path = tmp_path / "ho-so.xlsx"
    book.save(path)
    assert run(config_file, "dossier", "import", str(path)) == 0
    captured = capsys.readouterr()
    assert (
        captured.out == "added 5, updated 0, unchanged 0, refused 0\n"
        and "columns ignored: STT" in captured.err
    )
    assert listed(config_file, capsys) == [f"HS-{n}" for n in range(1, 6)]
    assert shown(config_file, "HS-5", capsys)["phone"] == "+84 90 123 4565"


def test_a_failure_part_way_says_what_is_stored_and_that_importing_again_is_safe(
    config_file, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(dossier, "BATCH", 2)
    put = SqlDossiers.put_dossiers
    calls = []

    async def failing_second(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise DatabaseUnavailable("the disk is full")
        return await put(self, *args, **kwargs)

    monkeypatch.setattr(SqlDossiers, "put_dossiers", failing_second)
    path = export(tmp_path, *ROWS, ROWS[0].replace("HS-1", "HS-4"))
    assert run(config_file, "dossier", "import", str(path)) == 2
    assert error_line(capsys.readouterr().err) == (
        "feedback-bot: the disk is full: the rows before line 4 are stored; importing the file again "
        "leaves the stored dossiers unchanged"
    )
    assert listed(config_file, capsys) == ["HS-1", "HS-2"]
    monkeypatch.setattr(SqlDossiers, "put_dossiers", put)
    assert run(config_file, "dossier", "import", str(path)) == 0
    assert capsys.readouterr().out == "added 2, updated 0, unchanged 2, refused 0\n"


def test_a_file_that_cannot_be_read_gets_a_one_line_error(config_file, tmp_path, capsys):
    latin = tmp_path / "windows.csv"
    latin.write_bytes("\r\n".join([HEADER, ROWS[0]]).encode("cp1258", errors="replace"))
    assert run(config_file, "dossier", "import", str(latin)) == 2
    assert '"CSV UTF-8' in error_line(capsys.readouterr().err)
    no_unit = tmp_path / "no-unit.csv"
    no_unit.write_text("Mã hồ sơ,Thủ tục,Ngày nhận,Ngày hẹn trả\r\nHS-1,X,20261120083000,20261127083000\r\n")
    assert run(config_file, "dossier", "import", str(no_unit)) == 2
    assert "has no column for unit" in error_line(capsys.readouterr().err)
    assert run(config_file, "dossier", "import", str(tmp_path / "missing.csv")) == 2
    assert "cannot be read" in error_line(capsys.readouterr().err)


def test_the_import_is_in_the_audit_under_the_command_line(config_file, tmp_path, capsys):
    assert run(config_file, "dossier", "import", str(export(tmp_path, ROWS[0]))) == 0
    capsys.readouterr()
    assert run(config_file, "audit", "--format", "json") == 0
    actors = {entry["actor"] for entry in json.loads(capsys.readouterr().out)}
    assert any(actor.startswith("command line (") for actor in actors), actors


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_is_drawn_on_a_terminal_only_and_only_as_it_grows():
    terminal = Terminal()
    bar = ProgressBar("storing", 3000, stream=terminal)
    for done in range(1, 3001):
        bar.advance_to(done)
    bar.finish()
    drawn = terminal.getvalue()
    assert drawn.count("\r") == 31 and drawn.endswith(f"\rstoring [{'#' * 30}] 3,000 of 3,000\n")
    piped = io.StringIO()
    bar = ProgressBar("storing", 3000, stream=piped)
    bar.advance_to(1500)
    bar.finish()
    assert piped.getvalue() == ""


# dossier add --citizen-name --phone


def test_dossier_add_records_the_citizens_name_and_phone(config_file, capsys):
    assert run(config_file, "dossier", "add", "HS-1", "--unit", "Q1-BN", "--procedure", "Khai sinh",
               "--citizen-name", " Nguyễn  Văn A ", "--phone", "090.123.4567", "--received", "2026-11-20",
               "--due", "2026-11-27") == 0  # fmt: skip
    url, code = capsys.readouterr().out.split()
    found = shown(config_file, "HS-1", capsys)
    assert (found["citizen"], found["phone"]) == ("Nguyễn Văn A", "+84 90 123 4567")
    assert (found["survey link"], found["survey code"]) == (url, code)
    assert (found["received"], found["due"]) == ("2026-11-20", "2026-11-27")

    assert run(config_file, "dossier", "add", "HS-1", "--unit", "Q1", "--procedure", "X", "--phone",
               "0901234567") == 2  # fmt: skip
    assert "dossier HS-1 is already recorded" in error_line(capsys.readouterr().err)
    assert run(config_file, "dossier", "add", "HS-2", "--unit", "Q9", "--procedure", "X", "--phone",
               "0901234567") == 2  # fmt: skip
    assert "unknown unit 'Q9'" in error_line(capsys.readouterr().err)


def test_dossier_add_with_a_phone_and_a_return_is_returned(config_file, capsys):
    assert run(config_file, "dossier", "add", "HS-1", "--unit", "Q1", "--procedure", "Khai sinh", "--phone",
               "+84 28 3822 1234", "--returned", "2020-03-02T09:30") == 0  # fmt: skip
    capsys.readouterr()
    found = shown(config_file, "HS-1", capsys)
    assert (found["state"], found["returned"], found["phone"]) == ("returned", "2020-03-02 09:30",
                                                                   "+84 28 3822 1234")  # fmt: skip


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--phone", "901234567", "has no leading 0 or +84"),
        ("--phone", "", "the phone number is empty"),
        ("--citizen-name", "Nguyễn\nVăn A", "the citizen name"),
        ("--citizen-name", "A" * 201, "over 200"),
    ],
)
def test_dossier_add_refuses_a_bad_name_or_phone_and_stores_nothing(
    config_file, capsys, option, value, message
):
    assert run(config_file, "dossier", "add", "HS-1", "--unit", "Q1", "--procedure", "X", option, value) == 2
    assert message in error_line(capsys.readouterr().err)
    assert listed(config_file, capsys) == []
