"""Working days around weekends and holidays, and the lateness rules built on them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from handlers.calendar import add_working_days, is_working_day, next_working_day, previous_working_day
from handlers.lateness import due_cutoffs, is_at_risk, is_late, last_full_month, letter_on_time, share
from storage.records import Dossier, DossierEventType

# 2 September (National Day) and 30 April / 1 May; 2026-09-01 is a Tuesday.
HOLIDAYS = frozenset({date(2026, 9, 2), date(2026, 4, 30), date(2026, 5, 1)})
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 11, 27), True),  # Friday
        (date(2026, 11, 28), False),  # Saturday
        (date(2026, 11, 29), False),  # Sunday
        (date(2026, 9, 2), False),  # a holiday on a Wednesday
    ],
)
def test_working_days_are_weekdays_that_are_not_holidays(day, working):
    assert is_working_day(day, HOLIDAYS) is working


@pytest.mark.parametrize(
    ("day", "following", "before"),
    [
        (date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 24)),  # midweek
        (date(2026, 11, 27), date(2026, 11, 30), date(2026, 11, 26)),  # Friday → Monday
        (date(2026, 11, 30), date(2026, 12, 1), date(2026, 11, 27)),  # Monday ← Friday
        (date(2026, 11, 28), date(2026, 11, 30), date(2026, 11, 27)),  # from a Saturday
        (date(2026, 9, 1), date(2026, 9, 3), date(2026, 8, 31)),  # over 2/9
        (date(2026, 5, 4), date(2026, 5, 5), date(2026, 4, 29)),  # back over a weekend and 30/4, 1/5
        (date(2026, 4, 29), date(2026, 5, 4), date(2026, 4, 28)),
    ],
)
def test_next_and_previous_working_days_skip_weekends_and_holidays(day, following, before):
    assert next_working_day(day, HOLIDAYS) == following
    assert previous_working_day(day, HOLIDAYS) == before


def test_adding_no_working_day_is_the_day_itself():
    assert add_working_days(date(2026, 11, 28), 0, HOLIDAYS) == date(2026, 11, 28)
    assert add_working_days(date(2026, 4, 29), 2, HOLIDAYS) == date(2026, 5, 5)


def dossier(
    due: date | None, returned: datetime | None = None, state: DossierEventType | None = None
) -> Dossier:
    return Dossier(
        id=1, code="HS-1", unit_code="Q1", procedure="Khai sinh", due_on=due, returned_at=returned,
        link_id="L", created_at=datetime(2026, 11, 1, tzinfo=UTC), state=state,
    )  # fmt: skip


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZONE)  # type: ignore[misc]


def test_a_dossier_is_late_once_its_due_day_has_passed_in_local_time():
    due = date(2026, 11, 25)
    assert not is_late(dossier(due), local(2026, 11, 25, 23, 59), ZONE)
    # 2026-11-25T17:30Z is already the 26th in Vietnam
    assert is_late(dossier(due), datetime(2026, 11, 25, 17, 30, tzinfo=UTC), ZONE)
    assert not is_late(dossier(due, returned=local(2026, 11, 25, 16, 0)), local(2026, 12, 1, 9, 0), ZONE)
    assert is_late(dossier(due, returned=local(2026, 11, 26, 8, 0)), local(2026, 12, 1, 9, 0), ZONE)
    assert not is_late(dossier(due, state=DossierEventType.WITHDRAWN), local(2026, 12, 1, 9, 0), ZONE)
    assert not is_late(dossier(None), local(2026, 12, 1, 9, 0), ZONE)


def test_a_dossier_is_at_risk_when_due_by_the_next_working_day():
    friday = date(2026, 11, 27)
    assert is_at_risk(dossier(date(2026, 11, 30)), friday, HOLIDAYS)  # due Monday
    assert is_at_risk(dossier(date(2026, 11, 28)), friday, HOLIDAYS)  # due on the Saturday between
    assert not is_at_risk(dossier(date(2026, 12, 1)), friday, HOLIDAYS)
    assert not is_at_risk(dossier(friday), friday, HOLIDAYS)  # due today: late tomorrow, not at risk
    assert not is_at_risk(dossier(date(2026, 11, 30), returned=local(2026, 11, 27, 9)), friday, HOLIDAYS)
    withdrawn = dossier(date(2026, 11, 30), state=DossierEventType.WITHDRAWN)
    assert not is_at_risk(withdrawn, friday, HOLIDAYS)
    assert is_at_risk(dossier(date(2026, 9, 3)), date(2026, 9, 1), HOLIDAYS)  # over 2/9


def test_a_letter_is_on_time_until_the_end_of_the_working_day_before_the_due_day():
    monday = date(2026, 11, 30)
    assert letter_on_time(local(2026, 11, 27, 23, 59), monday, HOLIDAYS, ZONE)  # Friday night
    assert not letter_on_time(local(2026, 11, 28, 8, 0), monday, HOLIDAYS, ZONE)  # the Saturday
    assert letter_on_time(local(2026, 9, 1, 16, 0), date(2026, 9, 3), HOLIDAYS, ZONE)  # 2/9 between
    assert not letter_on_time(local(2026, 9, 2, 9, 0), date(2026, 9, 3), HOLIDAYS, ZONE)
    cut = due_cutoffs(monday, HOLIDAYS, ZONE)
    assert cut.letter_by == datetime(2026, 11, 27, 17, 0, tzinfo=UTC)  # 28/11 00:00 in Vietnam
    assert cut.late_from == datetime(2026, 11, 30, 17, 0, tzinfo=UTC)


def test_periods_and_shares():
    assert last_full_month(date(2026, 1, 15)) == (date(2025, 12, 1), date(2025, 12, 31))
    assert share(1, 3) == 0.33 and share(0, 0) == 0.0
