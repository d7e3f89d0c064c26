"""When a dossier is late, and when its apology letter (thư xin lỗi) is on time: the national rule
(the letter goes out at the latest one working day before the appointment, ngày hẹn trả) on the
calendar of handlers/calendar.py, in the unit's local days.

- at risk: not returned, not withdrawn, due on the next working day (or a day off before it);
- late: due day passed unreturned, or returned after its due day;
- a letter is on time when issued by the end of the working day before the due day it apologises
  for, late otherwise; a dossier returned late with no letter has its letter missing.

Storage is given the rule as values: due days, and the instants each due day's rule falls on."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.calendar import next_working_day, previous_working_day
from storage.base import LetterRepository
from storage.records import Dossier, DossierEventType, DueCutoffs, DueDossier, UnitLateness

ONE_DAY = timedelta(days=1)


def start_of(day: date, zone: ZoneInfo) -> datetime:
    """The instant the local day begins, in UTC."""
    return datetime.combine(day, time(), zone).astimezone(UTC)


def letter_deadline(due_on: date, holidays: Collection[date]) -> date:
    """The last day a letter for an appointment on `due_on` is on time."""
    return previous_working_day(due_on, holidays)


def due_cutoffs(day: date, holidays: Collection[date], zone: ZoneInfo) -> DueCutoffs:
    return DueCutoffs(
        late_from=start_of(day + ONE_DAY, zone),
        letter_by=start_of(letter_deadline(day, holidays) + ONE_DAY, zone),
    )


def letter_on_time(
    issued_at: datetime, due_on: date | None, holidays: Collection[date], zone: ZoneInfo
) -> bool:
    """Whether a letter issued at `issued_at` for an appointment on `due_on` is on time (no due day:
    nothing to be late for)."""
    return due_on is None or issued_at < due_cutoffs(due_on, holidays, zone).letter_by


def is_late(dossier: Dossier, now: datetime, zone: ZoneInfo) -> bool:
    """Returned after its due day, or its due day has passed unreturned (withdrawn: never late)."""
    return late(dossier.due_on, dossier.returned_at, dossier.state, now, zone)


def late(
    due_on: date | None,
    returned_at: datetime | None,
    state: DossierEventType | None,
    now: datetime,
    zone: ZoneInfo,
) -> bool:
    """is_late, from the three things it looks at (a survey carries them)."""
    if due_on is None or state is DossierEventType.WITHDRAWN:
        return False
    return (returned_at or now).astimezone(zone).date() > due_on


def is_at_risk(dossier: Dossier, today: date, holidays: Collection[date]) -> bool:
    """Not returned (nor withdrawn), and due after today but no later than the next working day."""
    if dossier.due_on is None or dossier.returned_at is not None:
        return False
    if dossier.state is DossierEventType.WITHDRAWN:
        return False
    return today < dossier.due_on <= next_working_day(today, holidays)


@dataclass(frozen=True)
class Watch:
    """A day's dossiers to act on: due by the next working day, and already late."""

    day: date
    at_risk: list[DueDossier]
    late: list[DueDossier]


async def watch(
    letters: LetterRepository, unit_codes: Sequence[str] | None, today: date, holidays: Collection[date]
) -> Watch:
    """The at-risk and late open dossiers of these units (all with None) on `today`."""
    at_risk = await letters.open_dossiers_due(
        unit_codes, due_after=today, due_until=next_working_day(today, holidays)
    )
    late = await letters.open_dossiers_due(unit_codes, due_after=None, due_until=today - ONE_DAY)
    return Watch(today, at_risk, late)


async def lateness_table(
    letters: LetterRepository,
    first: date,
    last: date,
    holidays: Collection[date],
    zone: ZoneInfo,
    unit_codes: Sequence[str] | None = None,
) -> dict[str, UnitLateness]:
    """Per unit, its dossiers returned on the local days first..last (both included)."""
    start, end = start_of(first, zone), start_of(last + ONE_DAY, zone)
    span = await letters.returned_due_days(start, end)
    if span is None:
        return {}
    days = (span[1] - span[0]).days + 1
    cutoffs = {d: due_cutoffs(d, holidays, zone) for d in (span[0] + n * ONE_DAY for n in range(days))}
    return await letters.lateness(start, end, cutoffs, unit_codes)


def share(part: int, whole: int) -> float:
    """part / whole, two decimals (0 of nothing is 0)."""
    return round(part / whole, 2) if whole else 0.0


def last_full_month(today: date) -> tuple[date, date]:
    end = today.replace(day=1) - ONE_DAY
    return end.replace(day=1), end


def year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)
