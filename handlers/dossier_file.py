"""A file of dossiers exported by the one-stop software (CSV or Excel .xlsx), read into rows of the
fields `dossier_facts` checks, each with the line a person sees it on in a spreadsheet. Reading
checks the file's shape (its size, its format, its header); the rows are checked by dossier_facts.

The header is the first row that is not empty and names at least two columns; rows above it are
the export's titles ("DANH SÁCH HỒ SƠ", the unit, the period) and are skipped. Header names may be
Vietnamese, with or without diacritics, in any case, with extra spaces or a "(*)" mark, or English
(HEADERS lists them all): "Mã hồ sơ", "MA HO SO" and "code" are one column. Exports carry many
more columns ("STT", "Trạng thái", ...): those are ignored and listed in `ignored_columns`, so that
a column whose name was not recognised is seen rather than silently dropped. A required column
missing, or two columns for one field, refuses the file.

CSV is read as UTF-8 (with or without the byte order mark Excel writes); a file in another
encoding is refused with the advice to save it as "CSV UTF-8", because guessing an encoding turns
Vietnamese names into other letters. The delimiter is the one of `,` `;` and tab that the top lines
hold most of (Excel writes `;` where the decimal separator is a comma, as in Vietnamese).
Line numbers count records from the first line, as a spreadsheet numbers rows.

An .xlsx file is read from its first sheet, values as last calculated (not formulas), line numbers
being the sheet's row numbers. Cells are taken as Excel holds them:
- a date or time cell has no zone: it is local time, written out in ISO 8601 with the zone's offset;
- a number in the code or unit column is its digits (Excel shows a code made of digits that way),
  and so is one in the received or due column (20261127083000, the one-stop form, kept as a number);
- a number in the phone column is left a number, which dossier_facts refuses: it has lost its
  leading 0, and a phone number guessed back could send a dossier to a stranger;
- other numbers, true/false, are left as they are, and refused as not text.

In both formats, the received and due columns also take the forms spreadsheets show times in,
read in the zone: dd/MM/yyyy, dd/MM/yyyy HH:mm[:ss] (with /, - or .), and yyyy-MM-dd [HH:mm[:ss]].
These are read in files only; the intake API stays strict (handlers.moments). A day without a time
is the start of that day when received and its end (23:59:59) when due: an appointment on a day
is kept by a return at any time that day. (For the same reason an .xlsx date cell at exactly
midnight, which is how Excel holds a day, is the end of its day in the due column.) A day is read
day first, as written in Vietnam: 03/04/2026 is 3 April.

Rows with nothing in the columns read (an empty row, a footer signed in another column) are
skipped. Limits: at most 50 MB, at most 200,000 rows of dossiers (a larger export is split), an
.xlsx unpacking to at most 1 GB."""

from __future__ import annotations

import csv
import io
import itertools
import re
import unicodedata
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

import openpyxl

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ROWS = 200_000
MAX_UNPACKED_BYTES = 1024 * 1024 * 1024

# The names a column may have, as people write them; matched after _header_key.
HEADERS: dict[str, tuple[str, ...]] = {
    "code": ("Mã hồ sơ", "Số hồ sơ", "code", "dossier code"),
    "unit": ("Mã đơn vị", "Đơn vị", "unit", "unit code"),
    "procedure": ("Tên thủ tục", "Thủ tục", "Tên thủ tục hành chính", "Thủ tục hành chính", "procedure"),
    "received_at": ("Ngày tiếp nhận", "Ngày nhận", "Thời gian tiếp nhận", "received_at", "received"),
    "due_at": ("Ngày hẹn trả", "Ngày hẹn trả kết quả", "due_at", "due"),
    "citizen_name": ("Họ tên", "Họ và tên", "Chủ hồ sơ", "Tên chủ hồ sơ", "citizen_name", "citizen"),
    "phone": ("Số điện thoại", "Điện thoại", "SĐT", "Số ĐT", "phone"),
    "channel_hint": ("Kênh", "Kênh liên hệ", "channel_hint", "channel"),
}
REQUIRED_COLUMNS = ("code", "unit", "procedure", "received_at", "due_at")
TIME_COLUMNS = ("received_at", "due_at")
CODE_COLUMNS = ("code", "unit")
DELIMITERS = (",", ";", "\t")
# Rows above the header that name no column: an export's title ("DANH SÁCH HỒ SƠ", the unit, the
# period). Past this many, the first row is taken as the header and its missing columns named.
MAX_TITLE_ROWS = 20
# A title row may hold one column's name ("Đơn vị:" before the unit's name); a header holds more.
HEADER_NAMES = 2

_DAY_FIRST = re.compile(
    r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?", re.ASCII
)
_YEAR_FIRST = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?", re.ASCII)
_END_OF_DAY = time(23, 59, 59)


class DossierFileRefused(ValueError):
    """A file that cannot be read as a dossier file; the message says why and what to do."""


class FileRow(NamedTuple):
    """One dossier of the file: its line, its code as written, and its other fields by their
    canonical names (those of dossier_facts), values as read."""

    line: int
    code: str
    fields: dict[str, object]


@dataclass(frozen=True)
class DossierFile:
    rows: list[FileRow]
    ignored_columns: list[str] = field(default_factory=list)  # header names, as written
    header_line: int = 1


def read_dossier_file(path: Path, zone: ZoneInfo) -> DossierFile:
    """The rows of a CSV or .xlsx export; raises DossierFileRefused for a file of the wrong size,
    format or header."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DossierFileRefused(
                f"{path.name} is {size / 1024 / 1024:.0f} MB, over the {MAX_FILE_BYTES // 1024 // 1024} MB "
                "a dossier file may be: split it"
            )
        with path.open("rb") as opened:
            start = opened.read(8)
    except OSError as exc:
        raise DossierFileRefused(f"{path} cannot be read: {exc.strerror or exc}") from exc
    lines: Iterable[Line]
    if start.startswith(b"PK\x03\x04"):
        lines = _xlsx_lines(path)
    elif start.startswith(b"\xd0\xcf\x11\xe0"):
        raise DossierFileRefused(
            f"{path.name} is an Excel 97-2003 workbook (.xls): save it as an Excel workbook (.xlsx) or as "
            '"CSV UTF-8"'
        )
    else:
        lines = _csv_lines(path)
    return _rows(lines, path.name, zone)


Line = tuple[int, Sequence[object]]


def _rows(lines: Iterable[Line], name: str, zone: ZoneInfo) -> DossierFile:
    columns: dict[int, str] | None = None
    ignored: list[str] = []
    rows: list[FileRow] = []
    first: Line | None = None  # the first row that is not empty: the header, unless titles come first
    titles = 0
    header_line = 0
    for line, cells in lines:
        if columns is None:
            if all(_blank(cell) for cell in cells):
                continue
            first = first or (line, cells)
            if len(_KNOWN.keys() & {_header_key(_text(cell)) for cell in cells}) < HEADER_NAMES:
                titles += 1
                if titles > MAX_TITLE_ROWS:
                    raise _no_header(*first, name)
                continue
            columns, ignored = _columns(cells, line, name)
            header_line = line
            continue
        values = {canonical: cells[i] if i < len(cells) else None for i, canonical in columns.items()}
        if all(_blank(value) for value in values.values()):
            continue
        if len(rows) == MAX_ROWS:
            raise DossierFileRefused(f"{name} has more than {MAX_ROWS:,} dossiers: split it")
        code = _code_text(values.pop("code"))
        fields = {canonical: _value(canonical, value, zone) for canonical, value in values.items()}
        rows.append(FileRow(line, code, fields))
    if columns is None:
        if first is not None:
            raise _no_header(*first, name)
        raise DossierFileRefused(f"{name} is empty: it has no header row. {_accepted()}")
    return DossierFile(rows, ignored, header_line)


def _columns(cells: Sequence[object], line: int, name: str) -> tuple[dict[int, str], list[str]]:
    """The header: which column holds which field, and the names of the columns ignored."""
    columns: dict[int, str] = {}
    ignored: list[str] = []
    for i, cell in enumerate(cells):
        written = _text(cell)
        canonical = _KNOWN.get(_header_key(written))
        if canonical is None:
            if written:
                ignored.append(written)
            continue
        if canonical in columns.values():
            (first,) = [j for j, c in columns.items() if c == canonical]
            raise DossierFileRefused(
                f"{name}, line {line}: columns {_letter(first)} ({_text(cells[first])!r}) and "
                f"{_letter(i)} ({written!r}) are both the {canonical} column: keep one"
            )
        columns[i] = canonical
    if any(c not in columns.values() for c in REQUIRED_COLUMNS):
        raise _no_header(line, cells, name)
    return columns, ignored


def _no_header(line: int, cells: Sequence[object], name: str) -> DossierFileRefused:
    """The refusal of a file without the required columns, naming those its header (or its first
    row, when no row looks like a header) lacks."""
    found = {_KNOWN.get(_header_key(_text(cell))) for cell in cells}
    missing = [c for c in REQUIRED_COLUMNS if c not in found]
    header = ", ".join(repr(_text(c)) for c in cells if not _blank(c))
    return DossierFileRefused(
        f"{name}: line {line}, taken as the header, has no column for {', '.join(missing)} (its columns: "
        f"{header}). {_accepted()}"
    )


def _accepted() -> str:
    return "The header names the columns, such as: " + "; ".join(
        f"{canonical}: {', '.join(aliases)}" for canonical, aliases in HEADERS.items()
    )


def _text(cell: object) -> str:
    return "" if cell is None else str(cell).strip()


def _header_key(written: str) -> str:
    """A header name as compared: no diacritics (đ as d), lower case, one space between words,
    without the marks templates add ("(*)", ":")."""
    decomposed = unicodedata.normalize("NFD", written).casefold().replace("đ", "d")
    kept = "".join(c for c in decomposed if unicodedata.category(c) not in ("Mn", "Cf"))
    return " ".join(re.sub(r"[_\-.:*()]", " ", kept).split())


_KNOWN = {_header_key(alias): canonical for canonical, aliases in HEADERS.items() for alias in aliases}


def _code_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _value(canonical: str, value: object, zone: ZoneInfo) -> object:
    """A cell as dossier_facts reads it (see the module's docstring)."""
    if value is None:
        return ""
    if canonical in CODE_COLUMNS and isinstance(value, int | float) and not isinstance(value, bool):
        return _code_text(value)
    if canonical not in TIME_COLUMNS:
        return value
    due = canonical == "due_at"
    if isinstance(value, datetime):
        whole = (value + timedelta(microseconds=500_000)).replace(microsecond=0)  # Excel's float error
        if due and whole.time() == time(0):
            whole = datetime.combine(whole.date(), _END_OF_DAY)
        return whole.replace(tzinfo=zone).isoformat()
    if isinstance(value, date):
        return datetime.combine(value, _END_OF_DAY if due else time(0), zone).isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _code_text(value)  # 20261127083000 kept as a number
    if isinstance(value, str):
        return _spreadsheet_time(value, due, zone) or value
    return str(value)


def _spreadsheet_time(text: str, due: bool, zone: ZoneInfo) -> str | None:
    """A time as spreadsheets show it, in ISO 8601 with the zone's offset; None for another form
    (left to parse_moment, which reads or refuses it) or a date that does not exist."""
    written = text.strip()
    if found := _DAY_FIRST.fullmatch(written):
        day, month, year = found[1], found[2], found[3]
    elif found := _YEAR_FIRST.fullmatch(written):
        year, month, day = found[1], found[2], found[3]
    else:
        return None
    hour, minute, second = found[4], found[5], found[6]
    try:
        on = date(int(year), int(month), int(day))
        at = _END_OF_DAY if hour is None and due else time(int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:
        return None
    return datetime.combine(on, at, zone).isoformat()


def _blank(cell: object) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _letter(index: int) -> str:
    """A column as a spreadsheet names it: 0 is A, 26 is AA."""
    letters, number = "", index + 1
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


# CSV


def _csv_lines(path: Path) -> list[Line]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DossierFileRefused(
            f"{path.name} is not UTF-8 text (line {line}): save it from Excel as "
            '"CSV UTF-8 (Comma delimited) (*.csv)", or as an Excel workbook (.xlsx)'
        ) from exc
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    lines: list[Line] = []
    try:
        for line, cells in enumerate(reader, 1):
            lines.append((line, cells))
    except csv.Error as exc:
        raise DossierFileRefused(f"{path.name}, line {len(lines) + 1}: {exc}") from exc
    return lines


def _delimiter(text: str) -> str:
    """The delimiter a line near the top holds most of, outside quotes (the header, or a title
    padded with delimiters before it); a comma when none holds any."""
    lines = [line for line in itertools.islice(_lines(text), MAX_TITLE_ROWS + 1)]
    counts = {
        d: max((re.sub(r'"[^"]*"', "", line).count(d) for line in lines), default=0) for d in DELIMITERS
    }
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _lines(text: str) -> Iterator[str]:
    """The lines that are not blank, read lazily: a 50 MB file is not split whole to sniff its top."""
    for line in io.StringIO(text):
        if line.strip():
            yield line


# Excel


def _xlsx_lines(path: Path) -> Iterator[Line]:
    """The rows of the first sheet, numbered as the sheet numbers them. openpyxl's warnings (about
    styles or extensions it does not read) concern nothing read here and are not shown. A malformed
    workbook may fail anywhere inside zipfile, the XML parser or openpyxl, with errors of any kind:
    each becomes one refusal."""
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise DossierFileRefused(f"{path.name} is not an Excel workbook (.xlsx): {exc}") from exc
    if unpacked > MAX_UNPACKED_BYTES:
        raise DossierFileRefused(
            f"{path.name} unpacks to {unpacked / 1024**3:.1f} GB, over "
            f"{MAX_UNPACKED_BYTES // 1024**3} GB: split it"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise DossierFileRefused(
            f"{path.name} is not an Excel workbook (.xlsx) that can be read: {exc}"
        ) from exc
    try:
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # some writers record the used range wrongly; read what is there
        rows = sheet.iter_rows(values_only=True)  # a row is as wide as its last cell, XFD at most
        line = 0
        while True:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    cells = next(rows)
            except StopIteration:
                return
            except Exception as exc:
                raise DossierFileRefused(f"{path.name}, line {line + 1} cannot be read: {exc}") from exc
            line += 1
            yield line, cells
    finally:
        book.close()
