"""Reports for leaders: the table of satisfaction for a period and a part of the unit tree, by unit,
procedure, SIPAS factor, channel or month, with how complaints were handled and the satisfaction
figures of the national evaluation index (Decision 766/QĐ-TTg, group 5). Platform-neutral: the
command line prints it, spreadsheets and charts are drawn from it in bot/.

Storage counts by group (each unit its own); here a unit's row is summed over its subtree, shares
are rounded, medians taken, and the formulas applied:

- shares of satisfied / neutral / unsatisfied: of the row's answers, to two decimals, rounded by
  the largest remainder so that the three add up to exactly 100.00; "satisfied or neutral" is the
  sum of the first two rounded shares (the seed's 94.11% = 50.87% + 43.24%);
- a row with fewer than `min_answers` answers keeps its counts, its shares are marked too few;
- response rate = dossiers answered / dossiers that could be asked: returned in the period (their
  return day in it) and not withdrawn; every returned dossier carries its survey link on the
  receipt, so each could be asked. Answers collected elsewhere have no dossier and count in the
  ratings, not in the response rate;
- complaints: cases opened in the period; resolved on time when first resolved by the end of the
  deadline day; overdue when first resolved after it, or not resolved while that day has passed
  when the report is made; reopened when the citizen said it was not resolved; the median time to
  resolve, in hours, from opening to first resolution.

Decision 766, group 5 (each None, "no data yet", where its data does not exist):
- on-time share = resolved on time / (resolved on time + overdue): complaints whose handling time
  has been decided (a case still open before its deadline is neither);
- complaint satisfaction = (complaints − those rated not resolved (reopened) − those overdue) /
  complaints, each complaint subtracted once: here "rated not resolved" and "reopened" are one
  event, the citizen's "not resolved", which reopens the case;
- dossier satisfaction = 100% − (dossiers returned late / returned dossiers with a due day +
  dossiers rated unsatisfied or complained about / returned dossiers); needs due days."""

from __future__ import annotations

import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from handlers.directory import subtree
from handlers.lateness import last_full_month, start_of
from handlers.texts import Language
from storage.base import ReportRepository
from storage.records import (
    ComplaintCounts,
    Rating,
    RatingCounts,
    ReportBy,
    ReportSpan,
    ReturnedCounts,
    Unit,
)

Grouping = Literal["unit", "procedure", "factor", "channel", "month"]
GROUPINGS: tuple[Grouping, ...] = ("unit", "procedure", "factor", "channel", "month")
TOTAL = "TOTAL"
ONE_DAY = timedelta(days=1)
# Deadlines of complaints opened in a period lie at most this long after it (60 working days, the
# largest deadline the config allows, with holidays between).
DEADLINE_REACH = timedelta(days=200)
DUE_DAYS_BEFORE = timedelta(days=5 * 366)
SIPAS_FACTORS = ("access", "procedure", "staff", "result", "feedback")
LABELS: dict[str, tuple[str, str]] = {  # (vi, en)
    "access": ("Tiếp cận dịch vụ", "Access to the service"),
    "procedure": ("Thủ tục hành chính", "The administrative procedure"),
    "staff": ("Công chức giải quyết", "The civil servant"),
    "result": ("Kết quả giải quyết", "The result"),
    "feedback": ("Tiếp nhận, xử lý phản ánh", "Handling of feedback"),
    "satisfied": ("Hài lòng", "Satisfied"),
    "neutral": ("Bình thường", "Neutral"),
    "unsatisfied": ("Không hài lòng", "Unsatisfied"),
    TOTAL: ("Tổng cộng", "Total"),
    "paper": ("Phiếu giấy", "Paper form"),
    "phone": ("Điện thoại", "Phone"),
    "kiosk": ("Máy đánh giá tại quầy", "Counter kiosk"),
    "in_person": ("Trực tiếp", "In person"),
    "telegram": ("Telegram", "Telegram"),
    "zalo": ("Zalo", "Zalo"),
    "console": ("Dòng lệnh", "Terminal"),
}
FORMULAS: tuple[tuple[str, str, str], ...] = (  # (name, vi, en)
    (
        "on_time_share",
        "Tỷ lệ phản ánh, kiến nghị được xử lý đúng hạn = số giải quyết đúng hạn / (số giải quyết đúng hạn"
        " + số quá hạn)",
        "Share of complaints handled on time = resolved on time / (resolved on time + overdue)",
    ),
    (
        "complaint_satisfaction",
        "Mức độ hài lòng về xử lý phản ánh, kiến nghị = (số phản ánh − số bị đánh giá chưa giải quyết"
        " (mở lại) − số quá hạn, mỗi phản ánh trừ một lần) / số phản ánh",
        "Satisfaction with complaint handling = (complaints − those rated not resolved (reopened) −"
        " those overdue, each complaint once) / complaints",
    ),
    (
        "dossier_satisfaction",
        "Mức độ hài lòng trong giải quyết hồ sơ = 100% − (số hồ sơ trả trễ hẹn / số hồ sơ đã trả có ngày"
        " hẹn + số hồ sơ bị đánh giá không hài lòng hoặc có phản ánh / số hồ sơ đã trả)",
        "Satisfaction with dossier handling = 100% − (dossiers returned late / returned dossiers with a"
        " due day + dossiers rated unsatisfied or complained about / returned dossiers)",
    ),
    (
        "satisfied_or_neutral",
        "Hài lòng hoặc bình thường = tỷ lệ hài lòng + tỷ lệ bình thường (các tỷ lệ làm tròn theo phần dư"
        " lớn nhất, tổng 100,00%)",
        "Satisfied or neutral = satisfied share + neutral share (shares rounded by largest remainder to"
        " add up to 100.00%)",
    ),
    (
        "response_rate",
        "Tỷ lệ phản hồi = số hồ sơ có đánh giá / số hồ sơ đã trả kết quả trong kỳ (không tính hồ sơ rút)",
        "Response rate = dossiers answered / dossiers returned in the period (not withdrawn)",
    ),
)
NO_DATA = {"vi": "chưa có dữ liệu", "en": "no data yet"}


def label(key: str, language: Language) -> str:
    found = LABELS.get(key)
    return (found[0] if language == "vi" else found[1]) if found else key


def rounded_shares(counts: Sequence[int]) -> list[int]:
    """Each count's share of their sum in hundredths of a percent (5087 is 50.87%), rounded by the
    largest remainder so that they add up to exactly 10000; all 0 when the sum is 0. Ties go to
    the larger count, then to the earlier one."""
    whole = sum(counts)
    if whole <= 0:
        return [0 for _ in counts]
    exact = [(c * 10000, n) for n, c in enumerate(counts)]
    floors = [q // whole for q, _ in exact]
    left = 10000 - sum(floors)
    order = sorted(range(len(counts)), key=lambda n: (-(exact[n][0] % whole), -counts[n], n))
    for n in order[:left]:
        floors[n] += 1
    return floors


def percent(part: int | float, whole: int | float) -> float | None:
    """part / whole as a percentage to two decimals; None for nothing to divide by."""
    return round(part * 100 / whole, 2) if whole else None


@dataclass(frozen=True)
class ReportRow:
    """One row of the table: its counts, and everything derived from them."""

    key: str
    label: str
    ratings: RatingCounts
    returned: ReturnedCounts | None  # None where dossiers are not grouped so (by channel)
    complaints: ComplaintCounts
    min_answers: int
    depth: int = 0  # by unit: how far below the report's top the unit is

    @property
    def too_few(self) -> bool:
        return self.ratings.answers < self.min_answers

    @property
    def shares(self) -> tuple[float, float, float] | None:
        """Satisfied, neutral and unsatisfied shares (adding up to 100.00); None without answers."""
        if not self.ratings.answers:
            return None
        r = self.ratings
        s, n, u = rounded_shares([r.satisfied, r.neutral, r.unsatisfied])
        return s / 100, n / 100, u / 100

    @property
    def satisfied_or_neutral(self) -> float | None:
        shares = self.shares
        return round(shares[0] + shares[1], 2) if shares else None

    @property
    def response_rate(self) -> float | None:
        return percent(self.returned.answered, self.returned.returned) if self.returned else None

    @property
    def median_hours_to_resolve(self) -> float | None:
        hours = self.complaints.hours_to_resolve
        return round(statistics.median(hours), 1) if hours else None

    @property
    def on_time_share(self) -> float | None:
        c = self.complaints
        return percent(c.resolved_on_time, c.resolved_on_time + c.overdue)

    @property
    def complaint_satisfaction(self) -> float | None:
        c = self.complaints
        return percent(c.opened - c.reopened_or_overdue, c.opened)

    @property
    def dossier_satisfaction(self) -> float | None:
        r = self.returned
        if r is None or not r.returned or not r.with_due_day:
            return None  # lateness needs due days
        late = r.late / r.with_due_day
        unhappy = r.unsatisfied_or_complaint / r.returned
        return round(100 - (late + unhappy) * 100, 2)


@dataclass(frozen=True)
class FactorRow:
    """How often a SIPAS factor was named as what fell short, overall and per rating level."""

    factor: str
    label: str
    named: dict[Rating, int]
    answers: RatingCounts

    @property
    def total(self) -> int:
        return sum(self.named.values())

    def share_of(self, rating: Rating | None = None) -> float | None:
        """Of the answers (of that rating), the share that named this factor."""
        if rating is None:
            return percent(self.total, self.answers.answers)
        return percent(self.named.get(rating, 0), getattr(self.answers, rating.value))


@dataclass(frozen=True)
class Report:
    first: date
    last: date
    by: Grouping
    unit_code: str | None
    made_at: datetime
    rows: list[ReportRow]
    total: ReportRow
    factors: list[FactorRow] = field(default_factory=list)


@dataclass(frozen=True)
class ReportSettings:
    zone: ZoneInfo
    min_answers: int = 30
    language: Language = "vi"


def report_period(today: date, first: date | None, last: date | None) -> tuple[date, date]:
    """The local days a report covers: the last full month unless given; `last` alone means the
    month it ends; `first` alone runs to today."""
    if first is None and last is None:
        return last_full_month(today)
    if first is None:
        assert last is not None
        return last.replace(day=1), last
    return first, last or today


def months(first: date, last: date, zone: ZoneInfo) -> list[ReportSpan]:
    """The local months the days first..last touch, each cut to them, keyed 2026-10."""
    spans = []
    day = first
    while day <= last:
        next_month = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        end = min(next_month - ONE_DAY, last)
        spans.append(
            ReportSpan(key=f"{day:%Y-%m}", start=start_of(day, zone), end=start_of(end + ONE_DAY, zone))
        )
        day = next_month
    return spans


def whole_period(first: date, last: date, zone: ZoneInfo) -> list[ReportSpan]:
    return [ReportSpan(key="", start=start_of(first, zone), end=start_of(last + ONE_DAY, zone))]


def deadline_ends(first: date, last: date, zone: ZoneInfo) -> dict[date, datetime]:
    """The instant each possible deadline day of complaints opened first..last ends."""
    days = (last - first + DEADLINE_REACH).days + 1
    return {first + n * ONE_DAY: start_of(first + (n + 1) * ONE_DAY, zone) for n in range(days)}


def add_ratings(found: Collection[RatingCounts]) -> RatingCounts:
    return RatingCounts(**{n: sum(getattr(f, n) for f in found) for n in RatingCounts.model_fields})


def add_returned(found: Collection[ReturnedCounts]) -> ReturnedCounts:
    return ReturnedCounts(**{n: sum(getattr(f, n) for f in found) for n in ReturnedCounts.model_fields})


def add_complaints(found: Collection[ComplaintCounts]) -> ComplaintCounts:
    counts = {
        n: sum(getattr(f, n) for f in found) for n in ComplaintCounts.model_fields if n != "hours_to_resolve"
    }
    hours = tuple(h for f in found for h in f.hours_to_resolve)
    return ComplaintCounts(**counts, hours_to_resolve=hours)


def unit_rows(
    units: Sequence[Unit],
    roots: Sequence[str],
    ratings: Mapping[str, RatingCounts],
    returned: Mapping[str, ReturnedCounts],
    complaints: Mapping[str, ComplaintCounts],
    min_answers: int,
    language: Language,
) -> list[ReportRow]:
    """A row per unit under the roots (retired units only with something counted), depth first,
    each summed over its whole subtree."""
    children: dict[str | None, list[Unit]] = {}
    for unit in units:
        children.setdefault(unit.parent_code, []).append(unit)
    by_code = {u.code: u for u in units}
    rows: list[ReportRow] = []

    def visit(
        code: str, depth: int
    ) -> tuple[list[RatingCounts], list[ReturnedCounts], list[ComplaintCounts]]:
        at = len(rows)
        own = (
            [ratings[code]] if code in ratings else [],
            [returned[code]] if code in returned else [],
            [complaints[code]] if code in complaints else [],
        )
        below: tuple[list[RatingCounts], list[ReturnedCounts], list[ComplaintCounts]] = own
        for child in children.get(code, []):
            found = visit(child.code, depth + 1)
            below = (below[0] + found[0], below[1] + found[1], below[2] + found[2])
        unit = by_code[code]
        if unit.retired_at is None or any(below):
            rows.insert(
                at,
                ReportRow(
                    key=code, label=unit.name, ratings=add_ratings(below[0]), returned=add_returned(below[1]),
                    complaints=add_complaints(below[2]), min_answers=min_answers, depth=depth,
                ),
            )  # fmt: skip
        return below

    for root in roots:
        if root in by_code:
            visit(root, 0)
    return rows


def row_label(by: Grouping, key: str, language: Language) -> str:
    """What a row of a procedure (its name), channel or month is called."""
    if by == "month":
        year, month = key.split("-")
        return f"Tháng {int(month)}/{year}" if language == "vi" else key
    if by == "channel":
        return label(key, language)
    return key


def other_rows(
    by: Grouping,
    keys: Collection[str],
    ratings: Mapping[str, RatingCounts],
    returned: Mapping[str, ReturnedCounts] | None,
    complaints: Mapping[str, ComplaintCounts],
    min_answers: int,
    language: Language,
) -> list[ReportRow]:
    """A row per procedure, channel or month, in order of the key."""
    return [
        ReportRow(
            key=key, label=row_label(by, key, language), ratings=ratings.get(key, RatingCounts()),
            returned=returned.get(key, ReturnedCounts()) if returned is not None else None,
            complaints=complaints.get(key, ComplaintCounts()), min_answers=min_answers,
        )
        for key in sorted(keys)
    ]  # fmt: skip


def total_row(
    rows: Sequence[ReportRow], min_answers: int, language: Language, returned: ReturnedCounts | None = None
) -> ReportRow:
    """The rows added up (rows that do not overlap: procedures, channels, months, or top units)."""
    return ReportRow(
        key=TOTAL, label=label(TOTAL, language), ratings=add_ratings([r.ratings for r in rows]),
        returned=returned or add_returned([r.returned for r in rows if r.returned is not None]),
        complaints=add_complaints([r.complaints for r in rows]), min_answers=min_answers,
    )  # fmt: skip


def factor_rows(
    named: Mapping[tuple[str, Rating], int], answers: RatingCounts, language: Language
) -> list[FactorRow]:
    """A row per SIPAS factor (those named outside the five after them)."""
    factors = list(SIPAS_FACTORS) + sorted({f for f, _ in named} - set(SIPAS_FACTORS))
    return [
        FactorRow(
            factor=f,
            label=label(f, language),
            named={r: named.get((f, r), 0) for r in Rating},
            answers=answers,
        )
        for f in factors
    ]


async def build_report(
    reports: ReportRepository,
    units: Sequence[Unit],
    settings: ReportSettings,
    *,
    first: date,
    last: date,
    by: Grouping,
    unit_code: str | None,
    now: datetime,
) -> Report:
    """The report of the local days first..last for the unit and its subtree (all with None)."""
    zone, language, least = settings.zone, settings.language, settings.min_answers
    roots = [unit_code] if unit_code is not None else [u.code for u in units if u.parent_code is None]
    codes = subtree([unit_code], units) if unit_code is not None else None
    period = whole_period(first, last, zone)
    spans = months(first, last, zone) if by == "month" else period
    due_ends = late_from(first, last, settings)
    ends = deadline_ends(first, last, zone)
    as_of = now.astimezone(UTC)
    if by == "factor":
        ratings = await reports.rating_counts(period, ReportBy.CHANNEL, codes)
        named = {(f.factor, f.rating): f.named for f in await reports.factor_counts(period, codes)}
        returned = await reports.returned_counts(period, ReportBy.MONTH, codes, due_ends)
        complaints = await reports.complaint_counts(period, ReportBy.MONTH, codes, ends, as_of)
        total = ReportRow(
            key=TOTAL, label=label(TOTAL, language), ratings=add_ratings(list(ratings.values())),
            returned=returned.get("", ReturnedCounts()), complaints=complaints.get("", ComplaintCounts()),
            min_answers=least,
        )  # fmt: skip
        return Report(first, last, by, unit_code, now, [], total, factor_rows(named, total.ratings, language))
    group = ReportBy(by)
    ratings = await reports.rating_counts(spans, group, codes)
    complaints = await reports.complaint_counts(spans, group, codes, ends, as_of)
    if by == "unit":
        returned = await reports.returned_counts(spans, group, codes, due_ends)
        rows = unit_rows(units, roots, ratings, returned, complaints, least, language)
        tops = [r for r in rows if r.depth == 0]
        total = tops[0] if len(tops) == 1 else total_row(tops, least, language)
        return Report(first, last, by, unit_code, now, rows, total)
    if by == "channel":
        whole = await reports.returned_counts(period, ReportBy.MONTH, codes, due_ends)
        rows = other_rows(by, ratings.keys() | complaints.keys(), ratings, None, complaints, least, language)
        return Report(
            first, last, by, unit_code, now, rows,
            total_row(rows, least, language, whole.get("", ReturnedCounts())),
        )  # fmt: skip
    returned = await reports.returned_counts(spans, group, codes, due_ends)
    keys = ratings.keys() | returned.keys() | complaints.keys()
    if by == "month":
        keys = {s.key for s in spans}
    rows = other_rows(by, keys, ratings, returned, complaints, least, language)
    return Report(first, last, by, unit_code, now, rows, total_row(rows, least, language))


def late_from(first: date, last: date, settings: ReportSettings) -> dict[date, datetime]:
    """When a return becomes late (the end of its due day, locally), for every due day a dossier
    returned first..last may have: from DUE_DAYS_BEFORE before the period to a year after it (a
    dossier due earlier still is taken as not late: no such dossier is returned in practice)."""
    start = first - DUE_DAYS_BEFORE
    days = (last + timedelta(days=366) - start).days + 1
    return {d: start_of(d + ONE_DAY, settings.zone) for d in (start + n * ONE_DAY for n in range(days))}
