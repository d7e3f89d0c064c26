"""Working days: Monday to Friday, except the configured holidays (`cases.holidays`). One calendar
for everything that counts in working days: complaint deadlines, apology letters' cut-off, which
dossiers are at risk of being late."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, timedelta

ONE_DAY = timedelta(days=1)


def is_working_day(day: date, holidays: Collection[date]) -> bool:
    return day.weekday() < 5 and day not in holidays


def next_working_day(day: date, holidays: Collection[date]) -> date:
    """The first working day after `day`."""
    day += ONE_DAY
    while not is_working_day(day, holidays):
        day += ONE_DAY
    return day


def previous_working_day(day: date, holidays: Collection[date]) -> date:
    """The last working day before `day`."""
    day -= ONE_DAY
    while not is_working_day(day, holidays):
        day -= ONE_DAY
    return day


def add_working_days(start: date, days: int, holidays: Collection[date]) -> date:
    """`days` working days after `start`: weekends and holidays do not count."""
    day = start
    for _ in range(days):
        day = next_working_day(day, holidays)
    return day
