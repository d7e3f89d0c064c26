"""Times and days as the one-stop software writes them, read strictly: a time that could be read two
ways is refused rather than guessed, because the dossier's appointment, and whether it was late,
depends on it.

A time is either ISO 8601 with its offset ("2026-11-27T08:30:00+07:00", "...Z" for UTC; seconds and
fractions optional; "+0700" also read) or the form Vietnamese one-stop systems exchange,
`yyyyMMddHHmmss` ("20261127083000"), which has no offset and is read in the unit's time zone. An ISO
time without an offset is refused: the sender knows its zone and must say it. A year outside
2000–2100 is refused too: no dossier is from then, so it is a typo (2062 for 2026 is not caught;
0226 is). A day is `YYYY-MM-DD`.

Times are returned in UTC, the form they are stored and compared in."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

FIRST_YEAR = 2000
LAST_YEAR = 2100
# Longer than any accepted form ("2026-11-27T08:30:00.123456789+07:00" is 35 characters).
MAX_LENGTH = 40

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"(?P<offset>[Zz]|[+-]\d{2}:?\d{2})?",
    re.ASCII,
)
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})", re.ASCII)
_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_MAX_OFFSET = timedelta(hours=14)  # the widest offset in use (Kiribati)


class MomentRefused(ValueError):
    """A time or day that cannot be read; the message names the field and the accepted forms."""


def parse_moment(text: str, zone: ZoneInfo, what: str) -> datetime:
    """The instant `text` names, in UTC; raises MomentRefused naming `what` and the accepted forms."""
    written = text.strip()
    if len(written) == 14 and written.isdigit() and written.isascii():  # yyyyMMddHHmmss, the usual form
        year, month, day = int(written[:4]), int(written[4:6]), int(written[6:8])
        hour, minute, second = int(written[8:10]), int(written[10:12]), int(written[12:])
        if FIRST_YEAR <= year <= LAST_YEAR:
            try:
                return datetime(year, month, day, hour, minute, second, tzinfo=zone).astimezone(UTC)
            except ValueError:
                pass  # refused below, with the reason
    forms = (
        "write it as 2026-11-27T08:30:00+07:00 (ISO 8601 with its offset, Z for UTC) or as "
        f"20261127083000 (yyyyMMddHHmmss, in {zone.key})"
    )
    if not written:
        raise MomentRefused(f"{what} is empty: {forms}")
    if len(written) <= MAX_LENGTH and (iso := _ISO.fullmatch(written)):
        if iso["offset"] is None:
            raise MomentRefused(f"{what} {_shown(written)} has no offset: add one (+07:00), or {forms}")
        offset = _offset(iso["offset"], written, what)
        fraction = (iso[7] or "0").ljust(6, "0")[:6]
        numbers = [int(part or 0) for part in iso.groups()[:6]]
        return _made(numbers, int(fraction), offset, written, what, forms).astimezone(UTC)
    if compact := _COMPACT.fullmatch(written):
        numbers = [int(part) for part in compact.groups()]
        return _made(numbers, 0, zone, written, what, forms).astimezone(UTC)
    raise MomentRefused(f"{what} {_shown(written)} is not a time: {forms}")


def parse_day(text: str, what: str) -> date:
    """The day `text` names (YYYY-MM-DD); raises MomentRefused naming `what`."""
    written = text.strip()
    found = _DAY.fullmatch(written) if len(written) <= MAX_LENGTH else None
    if found is None:
        raise MomentRefused(f"{what} {_shown(written)} is not a day: write it as 2026-11-27 (YYYY-MM-DD)")
    year, month, day = (int(part) for part in found.groups())
    _check_year(year, written, what)
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise MomentRefused(f"{what} {_shown(written)} is not a day of the calendar ({exc})") from exc


def _made(
    numbers: list[int], microsecond: int, zone: ZoneInfo | timezone, written: str, what: str, forms: str
) -> datetime:
    year, month, day, hour, minute, second = numbers
    _check_year(year, written, what)
    try:
        return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=zone)
    except ValueError as exc:
        raise MomentRefused(f"{what} {_shown(written)} is not a real date and time ({exc}): {forms}") from exc


def _offset(written_offset: str, written: str, what: str) -> timezone:
    if written_offset in ("Z", "z"):
        return UTC
    sign = -1 if written_offset[0] == "-" else 1
    digits = written_offset[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    offset = timedelta(hours=hours, minutes=minutes)
    if minutes >= 60 or offset > _MAX_OFFSET:
        raise MomentRefused(f"{what} {_shown(written)} has the offset {written_offset}, which no place uses")
    return timezone(sign * offset)


def _check_year(year: int, written: str, what: str) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise MomentRefused(
            f"{what} {_shown(written)} is in the year {year}, outside {FIRST_YEAR}–{LAST_YEAR}: a typo?"
        )


def _shown(written: str) -> str:
    """The text as quoted in a refusal: a long one cut, so a refusal stays one readable line."""
    return repr(written if len(written) <= MAX_LENGTH else written[:MAX_LENGTH] + "…")
