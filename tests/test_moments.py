"""Times and days as the one-stop software writes them: ISO 8601 with an offset, or yyyyMMddHHmmss
in the unit's zone; anything that could be read two ways, or is not a date at all, is refused with
a message that names the field and the accepted forms."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.moments import MomentRefused, parse_day, parse_moment

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
HALF_PAST_EIGHT = datetime(2026, 11, 27, 1, 30, tzinfo=UTC)  # 08:30 in Vietnam


@pytest.mark.parametrize(
    "written",
    [
        "2026-11-27T08:30:00+07:00",
        "2026-11-27T08:30+07:00",
        "2026-11-27T08:30:00+0700",
        "2026-11-27T01:30:00Z",
        "2026-11-27T01:30:00z",
        "2026-11-26T20:30:00-05:00",
        "20261127083000",
        " 20261127083000 ",
    ],
)
def test_iso_with_an_offset_and_the_one_stop_form_are_read(written: str):
    found = parse_moment(written, ZONE, "received_at")
    assert found == HALF_PAST_EIGHT and found.tzinfo is UTC


def test_fractions_of_a_second_are_kept_to_the_microsecond():
    found = parse_moment("2026-11-27T08:30:00.123456789+07:00", ZONE, "at")
    assert found == HALF_PAST_EIGHT.replace(microsecond=123456)
    assert parse_moment("2026-11-27T08:30:00.5+07:00", ZONE, "at").microsecond == 500000


def test_the_one_stop_form_is_read_in_the_zone_given():
    assert parse_moment("20261127083000", ZoneInfo("UTC"), "at") == datetime(2026, 11, 27, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("2026-11-27T08:30:00", "has no offset: add one (+07:00)"),
        ("2026-11-27 08:30:00+07:00", "is not a time"),
        ("27/11/2026 08:30", "is not a time"),
        ("2026-11-27", "is not a time"),
        ("20261332083000", "is not a real date and time (month must be in 1..12)"),
        ("20260230083000", "is not a real date and time"),
        ("2026-11-27T24:30:00+07:00", "is not a real date and time"),
        ("202611270830", "is not a time"),
        ("19991231235959", "in the year 1999, outside 2000–2100"),
        ("2101-01-01T00:00:00Z", "in the year 2101"),
        ("2026-11-27T08:30:00+15:00", "has the offset +15:00, which no place uses"),
        ("2026-11-27T08:30:00+07:60", "has the offset +07:60"),
        ("", "is empty"),
        ("２０２６１１２７０８３０００", "is not a time"),  # full-width digits are not read as digits
        ("x" * 1000, "'" + "x" * 40 + "…'"),
    ],
)
def test_anything_else_is_refused_naming_the_field_and_the_forms(written: str, message: str):
    with pytest.raises(MomentRefused) as refused:
        parse_moment(written, ZONE, "received_at")
    assert str(refused.value).startswith("received_at ") and message in str(refused.value)
    if "year" not in message and "offset" not in message:
        assert "2026-11-27T08:30:00+07:00" in str(refused.value) and "yyyyMMddHHmmss" in str(refused.value)


def test_a_day_is_yyyy_mm_dd():
    assert parse_day(" 2026-11-27 ", "until") == date(2026, 11, 27)
    for written, message in [
        ("27/11/2026", "is not a day: write it as 2026-11-27"),
        ("2026-02-30", "is not a day of the calendar"),
        ("1926-11-27", "outside 2000–2100"),
        ("2026-11-27T00:00:00Z", "is not a day"),
    ]:
        with pytest.raises(MomentRefused, match=message) as refused:
            parse_day(written, "until")
        assert str(refused.value).startswith("until ")


@given(st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2100, 12, 30), timezones=st.just(UTC)))
def test_a_time_written_either_way_is_read_back(at: datetime):
    at = at.replace(microsecond=0)
    assert parse_moment(at.isoformat(), ZONE, "at") == at
    assert parse_moment(at.astimezone(ZONE).strftime("%Y%m%d%H%M%S"), ZONE, "at") == at


@given(st.text(max_size=40))
def test_any_text_is_refused_or_an_aware_time(text: str):
    try:
        found = parse_moment(text, ZONE, "at")
    except MomentRefused:
        return
    assert found.tzinfo is UTC
