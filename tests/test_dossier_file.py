"""Dossier files exported by the one-stop software, CSV and .xlsx: headers in Vietnamese (with or
without diacritics) or English, extra columns ignored and listed, the delimiters and byte order mark
Excel writes, spreadsheet dates, line numbers as a spreadsheet shows them, and files refused with
a message that says what to do."""

from __future__ import annotations

import zipfile
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from handlers import dossier_file
from handlers.dossier_facts import FactsRefused, dossier_facts
from handlers.dossier_file import DossierFileRefused, FileRow, read_dossier_file

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
HEADER = ["STT", "Mã hồ sơ", "Mã đơn vị", "Tên thủ tục", "Ngày tiếp nhận", "Ngày hẹn trả", "Họ tên",
          "Số điện thoại", "Trạng thái"]  # fmt: skip
ROW = ["1", "HS-1", "Q1-BN", "Đăng ký khai sinh", "20/11/2026 08:30", "27/11/2026", "Nguyễn Văn A",
       "0901234567", "Đang xử lý"]  # fmt: skip
FIELDS = {
    "unit": "Q1-BN",
    "procedure": "Đăng ký khai sinh",
    "received_at": "2026-11-20T08:30:00+07:00",
    "due_at": "2026-11-27T23:59:59+07:00",
    "citizen_name": "Nguyễn Văn A",
    "phone": "0901234567",
}


def csv_file(tmp_path: Path, rows: list[list[str]], delimiter: str = ",", encoding: str = "utf-8") -> Path:
    path = tmp_path / "ho-so.csv"
    text = "\r\n".join(delimiter.join(_quoted(cell, delimiter) for cell in row) for row in rows) + "\r\n"
    path.write_bytes(text.encode(encoding))
    return path


def _quoted(cell: str, delimiter: str) -> str:
    return f'"{cell}"' if delimiter in cell or "\n" in cell or '"' in cell else cell


def xlsx_file(tmp_path: Path, rows: list[list[object]], start: int = 1) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for offset, row in enumerate(rows):
        for column, value in enumerate(row, 1):
            if value is not None:
                sheet.cell(row=start + offset, column=column, value=value)
    book.create_sheet("Thống kê").append(["not read"])
    path = tmp_path / "ho-so.xlsx"
    book.save(path)
    return path


def test_a_utf8_csv_with_a_bom_and_semicolons_is_read_with_spreadsheet_dates(tmp_path):
    path = csv_file(tmp_path, [HEADER, ROW, ["2", "HS-2", "Q3", "Cấp phép xây dựng", "2026-11-21 14:05:30",
                                             "2026-12-05 16:00", "", "", ""]], delimiter=";")  # fmt: skip
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    found = read_dossier_file(path, ZONE)
    assert found.ignored_columns == ["STT", "Trạng thái"] and found.header_line == 1
    assert found.rows[0] == FileRow(2, "HS-1", FIELDS)
    assert found.rows[1].line == 3 and found.rows[1].fields["received_at"] == "2026-11-21T14:05:30+07:00"
    assert found.rows[1].fields["due_at"] == "2026-12-05T16:00:00+07:00"
    facts = [dossier_facts(row.code, row.fields, ZONE) for row in found.rows]
    assert facts[0].due_on == date(2026, 11, 27) and facts[0].phone == "84901234567"
    assert facts[1].citizen_name is None


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_the_delimiter_is_the_one_the_header_holds(tmp_path, delimiter):
    row = [*ROW[:3], "Đăng ký khai sinh, kết hôn; nhận con", *ROW[4:]]  # the other delimiters inside
    found = read_dossier_file(csv_file(tmp_path, [HEADER, row], delimiter=delimiter), ZONE)
    assert found.rows[0].fields["procedure"] == "Đăng ký khai sinh, kết hôn; nhận con"


@pytest.mark.parametrize(
    "header",
    [
        [
            "ma ho so",
            "MA DON VI",
            "ten thu tuc",
            "ngay tiep nhan",
            "NGAY HEN TRA",
            "ho va ten",
            "SDT",
            "kenh",
        ],
        ["  Mã   hồ sơ (*) ", "Đơn vị", "Thủ tục", "Ngày nhận", "Ngày hẹn trả:", "Chủ hồ sơ", "SĐT", "Kênh"],
        ["code", "unit", "procedure", "received_at", "due_at", "citizen_name", "phone", "channel_hint"],
        ["Code", "Unit Code", "Procedure", "Received", "Due", "Citizen", "Phone", "Channel"],
    ],
)
def test_header_names_in_vietnamese_with_or_without_diacritics_or_in_english(tmp_path, header):
    row = ["HS-1", "Q1-BN", "Khai sinh", "20261120083000", "20261127170000", "Lê Thị B", "0901234567", "zalo"]
    (found,) = read_dossier_file(csv_file(tmp_path, [header, row]), ZONE).rows
    assert found.code == "HS-1" and list(found.fields) == [
        "unit", "procedure", "received_at", "due_at", "citizen_name", "phone", "channel_hint"
    ]  # fmt: skip
    assert found.fields["received_at"] == "20261120083000" and found.fields["channel_hint"] == "zalo"


def test_line_numbers_are_the_spreadsheets_rows_past_titles_blank_rows_and_multi_line_cells(tmp_path):
    rows = [
        ["DANH SÁCH HỒ SƠ TIẾP NHẬN", "", ""],
        ["Đơn vị:", "UBND Phường Bến Nghé", ""],  # one column's name on a title row is still a title
        ["", "", ""],
        HEADER,
        ROW,
        [],
        ["", "", "", "", "", "", "", "", "Người lập biểu"],  # nothing in the columns read
        ["3", "HS-3", "Q1", "Chứng thực\nbản sao", *ROW[4:]],  # a cell on two lines is one row
        ["4", "HS-4", *ROW[2:]],
    ]
    found = read_dossier_file(csv_file(tmp_path, rows), ZONE)
    assert found.header_line == 4
    assert [(row.line, row.code) for row in found.rows] == [(5, "HS-1"), (8, "HS-3"), (9, "HS-4")]


def test_bad_rows_keep_their_line_numbers_for_the_checks_that_follow(tmp_path):
    rows = [HEADER, ROW, ["2", "HS-2", "Q1", "", "31/02/2026", "01/03/2026", "", "090123", ""]]
    found = read_dossier_file(csv_file(tmp_path, rows), ZONE)
    bad = found.rows[1]
    assert bad.line == 3 and bad.fields["received_at"] == "31/02/2026"  # not a day: left for the check
    with pytest.raises(FactsRefused) as refused:
        dossier_facts(bad.code, bad.fields, ZONE)
    assert [p.loc for p in refused.value.problems] == [("procedure",), ("received_at",), ("phone",)]


def test_an_xlsx_export_is_read_from_its_first_sheet_with_dates_in_the_zone(tmp_path):
    rows: list[list[object]] = [
        ["BÁO CÁO HỒ SƠ"],
        [],
        HEADER,
        ["1", "HS-1", "Q1-BN", "Đăng ký khai sinh", datetime(2026, 11, 20, 8, 30), datetime(2026, 11, 27),
         "Nguyễn Văn A", "0901234567", "Đang xử lý"],
        [],
        [2, 2308150012, 123, "Khai sinh", "20/11/2026 08:30", date(2026, 11, 27), None, 901234567, None],
        [3, "HS-3", "Q1", "Khai sinh", 20261120083000, datetime(2026, 11, 27, 16, 30, 0, 999_999), True],
    ]  # fmt: skip
    found = read_dossier_file(xlsx_file(tmp_path, rows, start=2), ZONE)
    assert found.header_line == 4 and found.ignored_columns == ["STT", "Trạng thái"]
    first, second, third = found.rows
    assert first == FileRow(5, "HS-1", FIELDS)
    assert second.line == 7 and second.code == "2308150012" and second.fields["unit"] == "123"
    assert second.fields["due_at"] == "2026-11-27T23:59:59+07:00" and second.fields["phone"] == 901234567
    assert third.fields["received_at"] == "20261120083000"
    assert third.fields["due_at"] == "2026-11-27T16:30:01+07:00"  # Excel's float error rounded away
    assert third.fields["citizen_name"] is True and third.fields["phone"] == ""
    with pytest.raises(FactsRefused) as refused:
        dossier_facts(second.code, second.fields, ZONE)
    assert [p.message for p in refused.value.problems] == [
        'phone is a number, which has lost its leading 0: send it as text, such as "0901234567" (in a '
        "spreadsheet, format the column as Text)"
    ]


def test_formulas_are_read_as_their_last_calculated_values(tmp_path):
    path = xlsx_file(tmp_path, [HEADER, [*ROW[:3], '=CONCAT("Khai ", "sinh")', *ROW[4:]]])
    (row,) = read_dossier_file(path, ZONE).rows
    assert row.fields["procedure"] == ""  # openpyxl wrote no calculated value: empty, not "=CONCAT(...)"


# Refused files


def refusal(path: Path) -> str:
    with pytest.raises(DossierFileRefused) as refused:
        read_dossier_file(path, ZONE)
    return str(refused.value)


@pytest.mark.parametrize("encoding", ["cp1258", "utf-16"])  # Vietnamese Windows; Excel's "Unicode Text"
def test_a_file_not_in_utf8_is_refused_with_how_to_save_it(tmp_path, encoding):
    path = tmp_path / "ho-so.csv"
    path.write_bytes("\r\n".join(",".join(r) for r in [HEADER, ROW]).encode(encoding, errors="replace"))
    message = refusal(path)
    assert "ho-so.csv is not UTF-8 text (line 1)" in message and '"CSV UTF-8' in message


def test_missing_columns_are_named_with_the_accepted_headers(tmp_path):
    message = refusal(csv_file(tmp_path, [["Mã hồ sơ", "Tên thủ tục", "Ngày hẹn", "Trạng thái"], ROW[1:5]]))
    assert "line 1, taken as the header, has no column for unit, received_at, due_at" in message
    assert "'Mã hồ sơ', 'Tên thủ tục', 'Ngày hẹn', 'Trạng thái'" in message
    assert "unit: Mã đơn vị, Đơn vị, unit, unit code" in message


def test_a_file_with_no_header_names_what_its_first_row_lacks(tmp_path):
    message = refusal(csv_file(tmp_path, [ROW[1:]] * 30))
    assert "line 1, taken as the header, has no column for code, unit, procedure" in message
    assert "line 1, taken as the header" in refusal(csv_file(tmp_path, [ROW[1:]] * 3))


def test_two_columns_for_one_field_are_refused(tmp_path):
    message = refusal(csv_file(tmp_path, [[*HEADER, "SĐT"], ROW]))
    assert "line 1: columns H ('Số điện thoại') and J ('SĐT') are both the phone column" in message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty: it has no header row"),
        (b"\r\n \r\n,,,\r\n", "is empty: it has no header row"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "is an Excel 97-2003 workbook (.xls)"),
        (b"PK\x03\x04 not really a zip", "is not an Excel workbook (.xlsx)"),
    ],
)
def test_files_that_are_not_dossier_files_are_refused(tmp_path, content, message):
    path = tmp_path / "ho-so.csv"
    path.write_bytes(content)
    assert message in refusal(path)


def test_a_zip_that_is_not_a_workbook_is_refused(tmp_path):
    path = tmp_path / "ho-so.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    assert "is not an Excel workbook (.xlsx) that can be read" in refusal(path)


def test_limits_on_size_rows_and_unpacked_size(tmp_path, monkeypatch):
    path = csv_file(tmp_path, [HEADER, ROW, ROW, ROW])
    monkeypatch.setattr(dossier_file, "MAX_ROWS", 2)
    assert "has more than 2 dossiers: split it" in refusal(path)
    monkeypatch.setattr(dossier_file, "MAX_FILE_BYTES", 100)
    assert "over the 0 MB a dossier file may be" in refusal(path)
    monkeypatch.undo()
    monkeypatch.setattr(dossier_file, "MAX_UNPACKED_BYTES", 1000)
    assert "unpacks to" in refusal(xlsx_file(tmp_path, [HEADER, ROW]))
    assert "cannot be read" in refusal(tmp_path / "missing.csv")


def test_a_field_longer_than_the_csv_reader_takes_is_refused_with_its_line(tmp_path):
    path = csv_file(tmp_path, [HEADER, ROW, [*ROW[:3], "x" * 200_000, *ROW[4:]]])
    assert "ho-so.csv, line 3: field larger than field limit" in refusal(path)
