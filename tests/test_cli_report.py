"""`feedback-bot report` end to end: surveys answered through the dispatcher and a file of answers
collected on paper show up in one report; by channel they are apart; the table, CSV and JSON carry
the Decision 766 figures and their formulas; the workbook is read back with openpyxl and the chart
checked as a PNG of the expected size."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import struct
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from bot.app import build_dispatcher, opened_storage
from bot.config import load_config
from tests.cli_support import error_line, run, write_config
from tests.conftest import Citizen
from tests.test_cli import returned_dossier

MARCH = ("--from", "2020-03-01", "--to", "2020-03-31")
PAPER = (
    "Mã đơn vị,Thủ tục,Mức độ hài lòng,Ngày đánh giá,Kênh,Yếu tố\n"
    "Q1,Cấp giấy phép xây dựng,5,03/03/2020,giấy,\n"
    "Q1-BN,Đăng ký khai sinh,Bình thường,2020-03-04 10:00,giấy,thủ tục\n"
    "Q1-BN,Đăng ký khai sinh,1,2020-03-05,điện thoại,công chức\n"
)


def answer_survey(config_file: Path, token: str, chat: str, option: int) -> None:
    """A citizen on Telegram answers the survey of `token` with the rating option `option` (0 satisfied)."""
    config = load_config(config_file)

    async def answer() -> None:
        async with opened_storage(config) as store:
            citizen = Citizen(build_dispatcher(config, store), chat_id=chat)
            citizen.now = datetime(2020, 3, 2, 5, 0, tzinfo=UTC)
            await citizen.command("start", token)
            await citizen.press(citizen.last[-1].options[option].label)

    asyncio.run(answer())


@pytest.fixture
def answered(config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """Two dossiers of Bến Nghé answered on Telegram (satisfied, unsatisfied: a complaint), one of
    Quận 1 returned unanswered, and three answers from paper and phone imported."""
    write_config(config_file, reports={"min_answers": 2})
    for code, chat, option in (("HS-1", "1001", 0), ("HS-2", "1002", -1)):
        answer_survey(config_file, returned_dossier(config_file, capsys, code), chat, option)
    returned_dossier(config_file, capsys, "HS-3", unit="Q1")
    paper = tmp_path / "paper.csv"
    paper.write_text(PAPER, encoding="utf-8")
    assert run(config_file, "answers", "import", str(paper), "--scale", "5") == 0
    assert "3 answers imported" in capsys.readouterr().out
    return config_file


def test_bot_and_imported_answers_are_one_report(answered: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(answered, "report", *MARCH, "--format", "json") == 0
    found = json.loads(capsys.readouterr().out)
    rows = {r["key"]: r for r in found["rows"]}
    assert [r["key"] for r in found["rows"]] == ["Q1", "Q1-BN", "Q3"]
    assert rows["Q1"]["answers"] == 5
    assert (rows["Q1"]["satisfied"], rows["Q1"]["neutral"], rows["Q1"]["unsatisfied"]) == (2, 1, 2)
    assert (rows["Q1"]["satisfied_pct"], rows["Q1"]["neutral_pct"], rows["Q1"]["unsatisfied_pct"]) == (
        40.0, 20.0, 40.0,
    )  # fmt: skip
    assert rows["Q1"]["satisfied_or_neutral_pct"] == 60.0
    # Three dossiers returned in Quận 1's subtree, two answered; the imported answers have none.
    assert (rows["Q1"]["returned"], rows["Q1"]["answered_dossiers"], rows["Q1"]["response_rate_pct"]) == (
        3, 2, 66.67,
    )  # fmt: skip
    assert rows["Q1-BN"]["answers"] == 4 and rows["Q1-BN"]["complaints"] == 1
    assert found["total"]["answers"] == 5 and found["total"]["key"] == "TOTAL"
    figures = {i["name"]: i for i in found["indicators"]}
    # Added with no due day: whether a dossier was late cannot be told.
    assert figures["dossier_satisfaction"]["value_pct"] == "no data yet"
    assert "100% −" in figures["dossier_satisfaction"]["formula_en"]
    # The complaint of March 2020 was never resolved: overdue long since.
    assert rows["Q1-BN"]["overdue"] == 1 and rows["Q1-BN"]["resolved_on_time"] == 0
    assert (
        figures["complaint_satisfaction"]["value_pct"] == 0.0 and figures["on_time_share"]["value_pct"] == 0.0
    )

    assert run(answered, "report", *MARCH, "--by", "channel", "--format", "json") == 0
    channels = {r["key"]: r["answers"] for r in json.loads(capsys.readouterr().out)["rows"]}
    assert channels == {"paper": 2, "phone": 1, "telegram": 2}


def test_the_table_marks_too_few_and_writes_out_the_formulas(
    answered: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(answered, "report", *MARCH, "--unit", "Q1-BN") == 0
    out = capsys.readouterr().out
    header, bn = out.splitlines()[:2]
    assert header.split()[:3] == ["unit", "name", "answers"] and bn.split()[:2] == ["Q1-BN", "UBND"]
    assert "too few" not in bn and "25.00" in bn
    assert "Decision 766/QĐ-TTg" in out and "no data yet" in out
    assert "Mức độ hài lòng trong giải quyết hồ sơ = 100% −" in out
    write_config(answered, reports={"min_answers": 30})
    assert run(answered, "report", *MARCH, "--unit", "Q1-BN", "--format", "csv") == 0
    captured = capsys.readouterr()
    (row,) = list(csv.DictReader(io.StringIO(captured.out.lstrip("\ufeff"))))
    assert row["unit"] == "Q1-BN" and row["answers"] == "4" and row["satisfied_pct"] == "too few"
    assert row["too_few"] == "yes" and "Decision 766" in captured.err


def test_by_factor_counts_what_fell_short(answered: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(answered, "report", *MARCH, "--by", "factor", "--format", "json") == 0
    rows = {r["factor"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert list(rows) == ["access", "procedure", "staff", "result", "feedback"]
    assert (rows["procedure"]["named"], rows["procedure"]["named_by_neutral"]) == (1, 1)
    assert (rows["staff"]["named"], rows["staff"]["named_by_unsatisfied"]) == (1, 1)
    assert rows["staff"]["unsatisfied_named_pct"] == 50.0  # of the 2 unsatisfied answers


def test_the_workbook_has_a_sheet_per_grouping_with_formats_frozen_header_and_charts(
    answered: Path, tmp_path: Path
) -> None:
    path = tmp_path / "report.xlsx"
    assert run(answered, "report", *MARCH, "--format", "xlsx", "--output", str(path)) == 0
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == [
        "Theo đơn vị",
        "Theo thủ tục",
        "Theo yếu tố",
        "Theo kênh",
        "Theo tháng",
        "Thông tin",
    ]
    units = book["Theo đơn vị"]
    header = [c.value for c in units[1]]
    assert header[:3] == ["Đơn vị", "Mã", "Số ý kiến"] and units.freeze_panes == "B2"
    satisfied = header.index("% hài lòng") + 1
    q1 = [c.value for c in units[2]]
    assert q1[:3] == ["UBND Quận 1", "Q1", 5] and q1[satisfied - 1] == 0.4
    assert units.cell(row=2, column=satisfied).number_format == "0.00%"
    assert units["A3"].value == "  UBND Phường Bến Nghé"
    for name in ("Theo đơn vị", "Theo thủ tục", "Theo kênh", "Theo tháng"):
        (chart,) = book[name]._charts  # type: ignore[attr-defined]
        assert chart.grouping == "percentStacked" and len(chart.series) == 3
    about = {row[0]: row[1] for row in book["Thông tin"].iter_rows(values_only=True) if row and row[0]}
    assert about["Kỳ báo cáo"] == "01/03/2020 – 31/03/2020"
    assert about["Mức độ hài lòng trong giải quyết hồ sơ"] == "chưa có dữ liệu"
    assert about["Hài lòng hoặc bình thường"] == 0.6


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("by", ["unit", "month", "factor"])
def test_the_chart_is_a_png_of_sensible_size(answered: Path, tmp_path: Path, by: str) -> None:
    path = tmp_path / f"{by}.png"
    assert run(answered, "report", *MARCH, "--by", by, "--format", "png", "--output", str(path)) == 0
    width, height = png_size(path.read_bytes())
    assert width == 1000 and 300 <= height <= 3000
    import matplotlib.image

    pixels = matplotlib.image.imread(str(path))
    assert pixels.shape[:2] == (height, width) and pixels.std() > 0.05  # drawn, not blank


def test_files_need_an_output_and_periods_must_make_sense(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config_file, "report", "--format", "xlsx") == 2
    assert "give --output" in error_line(capsys.readouterr().err)
    assert run(config_file, "report", "--from", "2026-03-02", "--to", "2026-03-01") == 2
    assert "is before --from" in error_line(capsys.readouterr().err)
    assert run(config_file, "report", "--unit", "NOPE") == 2
    assert "unknown unit 'NOPE'" in error_line(capsys.readouterr().err)
    assert run(config_file, "report", *MARCH) == 0
    assert "Q1" in capsys.readouterr().out


def test_the_config_checks_min_answers(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    write_config(path, reports={"min_answers": 0})
    with pytest.raises(Exception, match="min_answers"):
        load_config(path)
