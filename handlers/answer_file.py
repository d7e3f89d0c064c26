"""A file of answers collected elsewhere (paper forms, phone surveys, counter kiosks), CSV or Excel
.xlsx, read into answers with no dossier. Every row is checked and each problem is told with its
line (as a spreadsheet numbers rows); the caller imports nothing while any row is refused, unless
told to skip the bad ones.

Columns (the header row names them; Vietnamese with or without diacritics, or English; others are
ignored): unit (Mã đơn vị), procedure (Thủ tục), rating (Mức độ hài lòng), date (Ngày đánh giá),
channel (Kênh), and optionally factor (Yếu tố) and form (Số phiếu).

- rating: a word (hài lòng, bình thường, không hài lòng, rất hài lòng, rất không hài lòng, or the
  English ones) or a number on a 5-level scale (1-2 unsatisfied, 3 neutral, 4-5 satisfied) or a
  3-level one (1 unsatisfied, 2 neutral, 3 satisfied). A file whose numbers are all 1 to 3 could be
  either: the scale must then be given (`scale`), as 3 means satisfied on one and neutral on the other;
- factor: a SIPAS factor (access, procedure, staff, result, feedback, or its Vietnamese name);
- date: 2026-10-31, 31/10/2026, with a time or not (a day alone is noon, local), or a date cell;
  not in the future;
- channel: where the answer was collected: paper, phone, kiosk, in_person or another word of
  lower-case letters (Vietnamese names of the first four are understood); not a chat channel of
  the bot (telegram, zalo, console), whose answers the bot records itself.

Each answer gets an import key, a hash of what it says: its form number with its unit when the
file has one; else its unit, procedure, rating, factor, time and channel, and how many rows before
it in the file said exactly the same. The same file imported again gives the same keys and stores
nothing new; without form numbers, two files with the same answer on the same row count are one."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

from handlers.dossier_file import (
    DossierFileRefused,
    _blank,
    _csv_lines,
    _header_key,
    _spreadsheet_time,
    _text,
    _xlsx_lines,
)
from storage.records import ImportedAnswer, Rating

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ROWS = 200_000
MAX_PROCEDURE = 500
MAX_TITLE_ROWS = 20
BOT_CHANNELS = ("telegram", "zalo", "console")

HEADERS: dict[str, tuple[str, ...]] = {
    "unit": ("Mã đơn vị", "Đơn vị", "unit", "unit code"),
    "procedure": ("Thủ tục", "Tên thủ tục", "Thủ tục hành chính", "procedure"),
    "rating": ("Mức độ hài lòng", "Đánh giá", "Mức đánh giá", "Điểm", "rating"),
    "date": ("Ngày đánh giá", "Ngày", "Thời gian", "date", "answered at"),
    "channel": ("Kênh", "Hình thức", "Kênh khảo sát", "channel"),
    "factor": ("Yếu tố", "Yếu tố chưa hài lòng", "factor"),
    "form": ("Số phiếu", "Mã phiếu", "form", "form number"),
}
REQUIRED = ("unit", "procedure", "rating", "date", "channel")
_KNOWN = {_header_key(alias): name for name, aliases in HEADERS.items() for alias in aliases}

WORDS: dict[str, Rating] = {
    _header_key(w): r
    for words, r in (
        (("hài lòng", "rất hài lòng", "satisfied", "very satisfied"), Rating.SATISFIED),
        (("bình thường", "neutral", "normal"), Rating.NEUTRAL),
        (("không hài lòng", "rất không hài lòng", "unsatisfied", "very unsatisfied", "dissatisfied"),
         Rating.UNSATISFIED),
    )
    for w in words
}  # fmt: skip
FIVE = {
    1: Rating.UNSATISFIED,
    2: Rating.UNSATISFIED,
    3: Rating.NEUTRAL,
    4: Rating.SATISFIED,
    5: Rating.SATISFIED,
}
THREE = {1: Rating.UNSATISFIED, 2: Rating.NEUTRAL, 3: Rating.SATISFIED}
FACTORS: dict[str, str] = {
    _header_key(w): f
    for f, words in (
        ("access", ("access", "tiếp cận", "tiếp cận dịch vụ")),
        ("procedure", ("procedure", "thủ tục", "thủ tục hành chính")),
        ("staff", ("staff", "công chức", "cán bộ", "công chức giải quyết")),
        ("result", ("result", "kết quả", "kết quả giải quyết")),
        ("feedback", ("feedback", "phản ánh", "tiếp nhận, xử lý phản ánh", "góp ý")),
    )
    for w in words
}
CHANNELS: dict[str, str] = {
    _header_key(w): c
    for c, words in (
        ("paper", ("paper", "giấy", "phiếu giấy", "phiếu")),
        ("phone", ("phone", "điện thoại", "gọi điện")),
        ("kiosk", ("kiosk", "máy đánh giá", "máy tính bảng")),
        ("in_person", ("in_person", "in person", "trực tiếp", "phỏng vấn trực tiếp")),
    )
    for w in words
}
_CHANNEL = re.compile(r"[a-z][a-z0-9_]{0,19}", re.ASCII)
_NOON = time(12)


class AnswerFileRefused(ValueError):
    """A file that cannot be read as an answer file at all (its size, format or header)."""


class Problem(NamedTuple):
    line: int
    message: str


@dataclass
class AnswerFile:
    answers: list[ImportedAnswer] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def read_answer_file(
    path: Path, zone: ZoneInfo, units: Collection[str], *, now: datetime, scale: Literal[3, 5] | None = None
) -> AnswerFile:
    """The file's answers and the problems of its rows; raises AnswerFileRefused for a file that
    cannot be read."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise AnswerFileRefused(f"{path.name} is over {MAX_FILE_BYTES // 1024 // 1024} MB: split it")
        with path.open("rb") as opened:
            start = opened.read(4)
        lines = list(_xlsx_lines(path) if start.startswith(b"PK\x03\x04") else _csv_lines(path))
    except OSError as exc:
        raise AnswerFileRefused(f"{path} cannot be read: {exc.strerror or exc}") from exc
    except DossierFileRefused as exc:
        raise AnswerFileRefused(str(exc)) from exc
    return read_answer_rows(lines, path.name, zone, units, now=now, scale=scale)


def read_answer_rows(
    lines: Sequence[tuple[int, Sequence[object]]],
    name: str,
    zone: ZoneInfo,
    units: Collection[str],
    *,
    now: datetime,
    scale: Literal[3, 5] | None = None,
) -> AnswerFile:
    """The answers of numbered rows (the header first, titles above it skipped)."""
    columns: dict[int, str] | None = None
    rows: list[tuple[int, dict[str, object]]] = []
    titles = 0
    for line, cells in lines:
        if columns is None:
            if all(_blank(c) for c in cells):
                continue
            found = {i: _KNOWN.get(_header_key(_text(c))) for i, c in enumerate(cells)}
            if not all(r in found.values() for r in REQUIRED):
                titles += 1
                if titles > MAX_TITLE_ROWS or sum(v is not None for v in found.values()) >= 2:
                    missing = [r for r in REQUIRED if r not in found.values()]
                    accepted = "; ".join(f"{k}: " + ", ".join(v) for k, v in HEADERS.items())
                    raise AnswerFileRefused(
                        f"{name}, line {line}: the header has no column for {', '.join(missing)}; the columns"
                        f" are named: {accepted}"
                    )
                continue
            columns = {i: c for i, c in found.items() if c is not None}
            continue
        values = {c: cells[i] if i < len(cells) else None for i, c in columns.items()}
        if all(_blank(v) for v in values.values()):
            continue
        if len(rows) == MAX_ROWS:
            raise AnswerFileRefused(f"{name} has more than {MAX_ROWS:,} answers: split it")
        rows.append((line, values))
    if columns is None:
        raise AnswerFileRefused(f"{name} has no header row naming the columns {', '.join(REQUIRED)}")
    numbers = [n for _, v in rows if (n := _number(v.get("rating"))) is not None]
    if scale is None and numbers and max(numbers) >= 4:
        scale = 5
    result = AnswerFile()
    seen: dict[str, int] = {}
    for line, values in rows:
        try:
            answer = _answer(values, zone, units, now, scale)
        except ValueError as exc:
            result.problems.append(Problem(line, str(exc)))
            continue
        what = answer.import_key
        seen[what] = seen.get(what, 0) + 1
        key = hashlib.sha256(f"{what}\x1f{seen[what]}".encode()).hexdigest()
        result.answers.append(answer.model_copy(update={"import_key": key}))
    return result


def _answer(
    values: dict[str, object],
    zone: ZoneInfo,
    units: Collection[str],
    now: datetime,
    scale: Literal[3, 5] | None,
) -> ImportedAnswer:
    unit = _code(values.get("unit"))
    if not unit:
        raise ValueError("the unit is empty")
    if unit not in units:
        raise ValueError(f"unit {unit!r} is not in the directory (see: feedback-bot directory show)")
    procedure = " ".join(_text(values.get("procedure")).split())
    if not procedure:
        raise ValueError("the procedure is empty")
    if len(procedure) > MAX_PROCEDURE:
        raise ValueError(f"the procedure is longer than {MAX_PROCEDURE} characters")
    written, rating = _rating(values.get("rating"), scale)
    factor = None
    if not _blank(values.get("factor")):
        factor = FACTORS.get(_header_key(_text(values.get("factor"))))
        if factor is None:
            raise ValueError(
                f"factor {_text(values.get('factor'))!r} is not a SIPAS factor: access, procedure, staff,"
                " result, feedback (or tiếp cận, thủ tục, công chức, kết quả, phản ánh)"
            )
    answered_at = _moment(values.get("date"), zone)
    if answered_at.year < 2000:
        raise ValueError(f"the date {answered_at:%Y-%m-%d} is before 2000")
    if answered_at > now:
        raise ValueError(f"the date {answered_at.astimezone(zone):%Y-%m-%d %H:%M} is in the future")
    channel = _channel(values.get("channel"))
    form = _code(values.get("form"))
    what = (
        f"form\x1f{unit}\x1f{form}"
        if form
        else "\x1f".join(
            (unit, procedure, rating.value, written, factor or "", answered_at.isoformat(), channel)
        )
    )
    return ImportedAnswer(
        unit_code=unit, procedure=procedure, rating=rating, rating_option=written, factor=factor,
        answered_at=answered_at, channel=channel, import_key=what,
    )  # fmt: skip


def _code(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _text(value)


def _number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and float(value).is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _rating(value: object, scale: Literal[3, 5] | None) -> tuple[str, Rating]:
    number = _number(value)
    if number is not None:
        if scale is None:
            if 1 <= number <= 3:
                raise ValueError(
                    f"rating {number} could be on a 3-level scale (satisfied) or a 5-level one (neutral):"
                    " give the scale (--scale 3 or --scale 5)"
                )
            raise ValueError(f"rating {number} is not 1 to 5")
        levels = FIVE if scale == 5 else THREE
        if number not in levels:
            raise ValueError(f"rating {number} is not 1 to {scale}")
        return str(number), levels[number]
    written = _text(value)
    found = WORDS.get(_header_key(written))
    if found is None:
        raise ValueError(
            f"rating {written!r} is not a number 1 to 5 or 1 to 3, nor hài lòng, bình thường, không hài lòng"
        )
    return written, found


def _moment(value: object, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=zone) if value.tzinfo is None else value
    if isinstance(value, date):
        return datetime.combine(value, _NOON, zone)
    text = _text(value)
    if not text:
        raise ValueError("the date is empty")
    found = _spreadsheet_time(text, False, zone)
    if found is not None:
        moment = datetime.fromisoformat(found)
        # A day without a time is read as its start; an answer on a day is counted at its noon.
        if len(text) <= 10:
            moment = datetime.combine(moment.date(), _NOON, zone)
        return moment
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"the date {text!r} is not like 2026-10-31 or 31/10/2026 [14:30]") from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def _channel(value: object) -> str:
    written = _text(value)
    if not written:
        raise ValueError("the channel is empty")
    channel = CHANNELS.get(_header_key(written)) or unicodedata.normalize("NFC", written).strip().lower()
    if channel in BOT_CHANNELS:
        raise ValueError(f"channel {written!r} is the bot's own: its answers are recorded by the bot")
    if not _CHANNEL.fullmatch(channel):
        raise ValueError(
            f"channel {written!r} is not paper, phone, kiosk, in_person or a word of lower-case letters"
        )
    return channel
