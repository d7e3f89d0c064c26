"""`feedback-bot answers import`: every row checked with its line, nothing stored while a row is
refused (unless --skip-bad), the same file twice stores nothing new, CSV and .xlsx alike; and the
answers stored without a dossier break none of the reads that join answers to dossiers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app import opened_storage
from bot.config import load_config
from handlers.answer_file import AnswerFile, read_answer_rows
from storage.records import Rating, ReportBy, ReportSpan
from tests.cli_support import error_line, run
from tests.test_cli import returned_dossier
from tests.test_cli_report import answer_survey

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
UNITS = {"Q1", "Q1-BN"}
HEADER = ["Mã đơn vị", "Thủ tục", "Mức độ hài lòng", "Ngày đánh giá", "Kênh", "Yếu tố"]


def read(*rows: Sequence[object], scale: Literal[3, 5] | None = None) -> AnswerFile:
    lines: list[tuple[int, Sequence[object]]] = [(1, HEADER), *((n, row) for n, row in enumerate(rows, 2))]
    return read_answer_rows(lines, "f.csv", ZONE, UNITS, now=NOW, scale=scale)


def test_ratings_are_read_as_words_and_on_either_scale() -> None:
    found = read(
        ["Q1", "Khai sinh", "Rất hài lòng", "2026-10-01", "paper", ""],
        ["Q1", "Khai sinh", "khong hai long", "01/10/2026 14:30", "Điện thoại", "Công chức"],
        ["Q1", "Khai sinh", 4, datetime(2026, 10, 2, 9, 0), "kiosk", "thu tuc"],
        ["Q1", "Khai sinh", "3", "2026-10-02", "Trực tiếp", ""],
    )
    assert found.problems == []
    assert [a.rating for a in found.answers] == [
        Rating.SATISFIED, Rating.UNSATISFIED, Rating.SATISFIED, Rating.NEUTRAL,
    ]  # fmt: skip
    assert [a.channel for a in found.answers] == ["paper", "phone", "kiosk", "in_person"]
    assert [a.factor for a in found.answers] == [None, "staff", "procedure", None]
    assert found.answers[0].answered_at == datetime(2026, 10, 1, 12, 0, tzinfo=ZONE)  # a day alone: noon
    assert found.answers[1].answered_at == datetime(2026, 10, 1, 14, 30, tzinfo=ZONE)
    three = read(["Q1", "Khai sinh", 3, "2026-10-02", "paper", ""], scale=3)
    assert three.answers[0].rating == Rating.SATISFIED


def test_every_bad_row_is_told_with_its_line() -> None:
    found = read(
        ["Q9", "Khai sinh", "hài lòng", "2026-10-01", "paper", ""],
        ["Q1", "", "hài lòng", "2026-10-01", "paper", ""],
        ["Q1", "Khai sinh", "tuyệt vời", "2026-10-01", "paper", ""],
        ["Q1", "Khai sinh", "hài lòng", "2026-12-01", "paper", ""],
        ["Q1", "Khai sinh", "hài lòng", "hôm qua", "paper", ""],
        ["Q1", "Khai sinh", "hài lòng", "2026-10-01", "zalo", ""],
        ["Q1", "Khai sinh", "hài lòng", "2026-10-01", "paper", "giá cả"],
        ["Q1", "Khai sinh", "2", "2026-10-01", "paper", ""],
        ["Q1", "Khai sinh", "hài lòng", "2026-10-01", "paper", ""],
    )
    assert [(p.line, p.message.split(" ")[0]) for p in found.problems] == [
        (2, "unit"), (3, "the"), (4, "rating"), (5, "the"), (6, "the"), (7, "channel"), (8, "factor"),
        (9, "rating"),
    ]  # fmt: skip
    assert "in the future" in found.problems[3].message and "--scale" in found.problems[7].message
    assert len(found.answers) == 1


@given(st.lists(st.sampled_from(["hài lòng", "bình thường", "không hài lòng"]), min_size=1, max_size=30))
def test_keys_tell_identical_rows_apart_and_are_the_same_when_read_again(ratings: list[str]) -> None:
    rows = [["Q1", "Khai sinh", r, "2026-10-01", "paper", ""] for r in ratings]
    first, again = read(*rows), read(*rows)
    keys = [a.import_key for a in first.answers]
    assert len(set(keys)) == len(rows) and keys == [a.import_key for a in again.answers]


def csv_file(path: Path, *rows: str) -> Path:
    path.write_text("\n".join([",".join(HEADER), *rows]) + "\n", encoding="utf-8")
    return path


def test_a_bad_row_stops_the_import_unless_skipped(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = csv_file(
        tmp_path / "a.csv",
        "Q1,Khai sinh,hài lòng,2026-10-01,paper,",
        "Q1,Khai sinh,hài lòng,2026-10-01,paper,",  # the same again: a second answer
        "Q1-BN,Khai sinh,1,2026-10-01,paper,",
    )
    assert run(config_file, "answers", "import", str(path)) == 2
    captured = capsys.readouterr()
    assert "line 4: rating 1 could be" in captured.err
    assert "1 row(s) refused, nothing imported" in error_line(captured.err)
    assert run(config_file, "report", "--from", "2026-10-01", "--to", "2026-10-31", "--by", "channel") == 0
    assert "paper" not in capsys.readouterr().out
    assert run(config_file, "answers", "import", str(path), "--skip-bad") == 0
    assert "2 answers imported, 0 already imported before, 1 rows skipped" in capsys.readouterr().out
    assert run(config_file, "answers", "import", str(path), "--skip-bad", "--scale", "5") == 0
    assert "1 answers imported, 2 already imported before" in capsys.readouterr().out
    assert run(config_file, "answers", "import", str(path), "--scale", "5") == 0
    assert "0 answers imported, 3 already imported before" in capsys.readouterr().out


def test_an_xlsx_file_is_read_from_its_first_sheet(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["PHIẾU KHẢO SÁT QUÝ IV"])
    sheet.append(HEADER)
    sheet.append(["Q1", "Khai sinh", 5, datetime(2026, 10, 3, 8, 0), "Giấy", "Kết quả"])
    sheet.append(["Q1", "Khai sinh", "x", datetime(2026, 10, 3, 8, 0), "Giấy", ""])
    path = tmp_path / "a.xlsx"
    book.save(path)
    assert run(config_file, "answers", "import", str(path)) == 2
    assert "line 4: rating 'x'" in capsys.readouterr().err
    assert run(config_file, "answers", "import", str(path), "--skip-bad") == 0
    assert "1 answers imported" in capsys.readouterr().out


def test_a_file_without_the_columns_is_refused(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "a.csv"
    path.write_text("Mã đơn vị,Thủ tục,Điểm\nQ1,Khai sinh,5\n", encoding="utf-8")
    assert run(config_file, "answers", "import", str(path)) == 2
    assert "no column for date, channel" in error_line(capsys.readouterr().err)


def test_imported_answers_break_no_read_of_answers_with_dossiers(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The `answers` listing, the intake API's answers feed and the digest's figures read the bot's
    answers only: an imported one has no dossier, no chat, nothing the one-stop software knows."""
    answer_survey(config_file, returned_dossier(config_file, capsys, "HS-1"), "1001", 0)
    path = csv_file(tmp_path / "a.csv", "Q1-BN,Khai sinh,hài lòng,2020-03-02 10:00,paper,")
    assert run(config_file, "answers", "import", str(path)) == 0
    capsys.readouterr()
    assert run(config_file, "answers", "--format", "json") == 0
    assert '"dossier": "HS-1"' in capsys.readouterr().out
    config = load_config(config_file)

    async def reads() -> None:
        async with opened_storage(config) as store:
            feed = await store.dossiers.export_answers(None, limit=10)
            assert [a.dossier_code for a in feed] == ["HS-1"]
            listed = await store.surveys.list_answers()
            assert [a.dossier_code for a in listed] == ["HS-1"]
            start = datetime(2020, 3, 1, tzinfo=UTC)
            figures = await store.digests.figures_by_unit(start, start + timedelta(days=30))
            assert figures["Q1-BN"].answers == 1  # the digest counts the bot's answers only
            period = [ReportSpan(key="", start=start, end=start + timedelta(days=30))]
            counts = await store.reports.rating_counts(period, ReportBy.UNIT, None)
            assert counts["Q1-BN"].answers == 2  # the report counts both
            sets = {s.set_id: s.answers for s in await store.question_sets.list_question_sets()}
            assert "(imported)" not in sets

    asyncio.run(reads())
