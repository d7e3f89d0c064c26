"""handlers/reports.py: shares rounded to add up to 100.00, months in the config's time zone, unit
rows summed over their subtrees, factors counted, and every Decision 766 formula on cases computed
by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.reports import (
    Grouping,
    Report,
    ReportRow,
    ReportSettings,
    build_report,
    months,
    report_period,
    rounded_shares,
)
from storage.records import (
    CaseState,
    ComplaintCounts,
    FollowUp,
    ImportedAnswer,
    Rating,
    RatingCounts,
    ReturnedCounts,
    Unit,
)
from storage.sqlite import SQLiteStorage
from tests.storage.conftest import TREE, answer, open_case, set_units

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # the day answers are given in tests/storage's builders
SETTINGS = ReportSettings(zone=ZONE, min_answers=2)


def row(**counts: object) -> ReportRow:
    return ReportRow(
        key="X", label="X", ratings=counts.pop("ratings", RatingCounts()),  # type: ignore[arg-type]
        returned=counts.pop("returned", ReturnedCounts()),  # type: ignore[arg-type]
        complaints=counts.pop("complaints", ComplaintCounts()),  # type: ignore[arg-type]
        min_answers=30,
    )  # fmt: skip


def test_the_seeds_figures_round_to_themselves() -> None:
    assert rounded_shares([5087, 4324, 589]) == [5087, 4324, 589]
    seed = row(ratings=RatingCounts(answers=10000, satisfied=5087, neutral=4324, unsatisfied=589))
    assert seed.shares == (50.87, 43.24, 5.89) and seed.satisfied_or_neutral == 94.11


def test_thirds_are_rounded_to_add_up() -> None:
    assert rounded_shares([1, 1, 1]) == [3334, 3333, 3333]
    assert rounded_shares([2, 1, 0]) == [6667, 3333, 0]
    assert rounded_shares([0, 0, 0]) == [0, 0, 0]
    assert row(ratings=RatingCounts(answers=3, satisfied=1, neutral=1, unsatisfied=1)).shares == (
        33.34, 33.33, 33.33,
    )  # fmt: skip


@given(st.lists(st.integers(min_value=0, max_value=10**7), min_size=3, max_size=3))
def test_rounded_shares_always_add_up_to_100(counts: list[int]) -> None:
    shares = rounded_shares(counts)
    whole = sum(counts)
    if whole == 0:
        assert shares == [0, 0, 0]
        return
    assert sum(shares) == 10000
    for share, count in zip(shares, counts, strict=True):
        assert abs(share - count * 10000 / whole) < 1  # each within a hundredth of a percent


def test_too_few_answers_are_marked_and_the_response_rate_is_of_returned_dossiers() -> None:
    few = row(
        ratings=RatingCounts(answers=29, satisfied=29), returned=ReturnedCounts(returned=116, answered=29)
    )
    assert few.too_few and few.shares == (100.0, 0.0, 0.0) and few.response_rate == 25.0
    assert not row(ratings=RatingCounts(answers=30, neutral=30)).too_few
    assert row().shares is None and row().response_rate is None


def test_decision_766_figures_on_hand_computed_cases() -> None:
    # 10 complaints: 6 resolved on time (1 of them reopened), 3 overdue (1 also reopened), 1 not yet due.
    complaints = ComplaintCounts(
        opened=10, resolved_on_time=6, overdue=3, reopened=2, reopened_or_overdue=4,
        hours_to_resolve=(5.0, 1.0, 30.0, 8.0),
    )  # fmt: skip
    # 200 returned, 160 with a due day of which 16 late (10%); 30 unsatisfied or complained (15%).
    returned = ReturnedCounts(
        returned=200, answered=50, with_due_day=160, late=16, unsatisfied_or_complaint=30
    )
    figures = row(complaints=complaints, returned=returned)
    assert figures.on_time_share == round(6 / 9 * 100, 2) == 66.67
    assert figures.complaint_satisfaction == 60.0  # (10 - 4) / 10
    assert figures.dossier_satisfaction == 75.0  # 100 - (10 + 15)
    assert figures.median_hours_to_resolve == 6.5
    assert figures.response_rate == 25.0


def test_decision_766_says_no_data_where_there_is_none() -> None:
    nothing = row(returned=ReturnedCounts(returned=5, answered=1, with_due_day=0))
    assert nothing.on_time_share is None and nothing.complaint_satisfaction is None
    assert nothing.dossier_satisfaction is None  # no due days: lateness cannot be told
    assert nothing.median_hours_to_resolve is None
    assert row(returned=None).dossier_satisfaction is None


def test_months_are_cut_at_local_midnight() -> None:
    spans = months(date(2026, 10, 15), date(2026, 12, 3), ZONE)
    assert [s.key for s in spans] == ["2026-10", "2026-11", "2026-12"]
    assert spans[0].start == datetime(2026, 10, 14, 17, tzinfo=UTC)
    assert spans[1].start == spans[0].end == datetime(2026, 10, 31, 17, tzinfo=UTC)
    assert spans[2].end == datetime(2026, 12, 3, 17, tzinfo=UTC)


def test_the_default_period_is_the_last_full_month() -> None:
    assert report_period(date(2026, 3, 1), None, None) == (date(2026, 2, 1), date(2026, 2, 28))
    assert report_period(date(2026, 3, 9), date(2026, 3, 2), None) == (date(2026, 3, 2), date(2026, 3, 9))
    assert report_period(date(2026, 3, 9), None, date(2026, 1, 20)) == (date(2026, 1, 1), date(2026, 1, 20))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStorage]:
    db = SQLiteStorage(tmp_path / "reports.db")
    await db.open()
    await set_units(db, [*TREE, Unit(code="OLD", name="Phường cũ", parent_code="Q3")], retired=("OLD",))
    yield db
    await db.close()


def imported(
    key: str, unit: str, rating: Rating, at: datetime = T0, factor: str | None = None
) -> ImportedAnswer:
    return ImportedAnswer(
        unit_code=unit, procedure="Cấp phép", rating=rating, rating_option=rating.value, factor=factor,
        answered_at=at, channel="phone", import_key=key,
    )  # fmt: skip


async def report(
    store: SQLiteStorage, by: Grouping, unit: str | None = None, now: datetime = T0 + timedelta(days=30)
) -> Report:
    units = await store.directory.list_units(retired=True)
    return await build_report(
        store.reports, units, SETTINGS, first=date(2026, 11, 1), last=date(2026, 11, 30),
        by=by, unit_code=unit, now=now,
    )  # fmt: skip


async def test_a_units_row_counts_its_whole_subtree(store: SQLiteStorage) -> None:
    await answer(store, "HS-1", "Q1-BN", chat="1", rating=Rating.SATISFIED)
    await answer(store, "HS-2", "Q1", chat="2", rating=Rating.NEUTRAL)
    await open_case(store, "HS-3", "Q1-BN", chat="3")
    await store.reports.import_answers([imported("k1", "Q3", Rating.SATISFIED)], T0)
    found = await report(store, "unit")
    rows = {r.key: r for r in found.rows}
    assert [(r.key, r.depth) for r in found.rows] == [("HCM", 0), ("Q1", 1), ("Q1-BN", 2), ("Q3", 1)]
    assert rows["Q1-BN"].ratings == RatingCounts(answers=2, satisfied=1, unsatisfied=1)
    assert rows["Q1"].ratings == RatingCounts(answers=3, satisfied=1, neutral=1, unsatisfied=1)
    assert rows["HCM"].ratings.answers == 4 and found.total is rows["HCM"]
    assert rows["Q1"].complaints.opened == 1 and rows["Q3"].complaints.opened == 0
    assert rows["Q1"].returned == ReturnedCounts(
        returned=3, answered=3, with_due_day=3, late=3, unsatisfied_or_complaint=1
    )
    assert rows["Q3"].returned == ReturnedCounts()  # imported answers have no dossier
    assert rows["Q3"].too_few and not rows["Q1"].too_few
    only_q1 = await report(store, "unit", "Q1")
    assert [r.key for r in only_q1.rows] == ["Q1", "Q1-BN"] and only_q1.total.ratings.answers == 3


async def test_rows_by_channel_month_and_procedure_add_up_to_the_total(store: SQLiteStorage) -> None:
    await answer(store, "HS-1", "Q1-BN", chat="1", rating=Rating.SATISFIED)
    await open_case(store, "HS-2", "Q1-BN", chat="2")
    october = datetime(2026, 10, 31, 17, 30, tzinfo=UTC)  # 1 November, 00:30 in Hồ Chí Minh City
    await store.reports.import_answers(
        [imported("k1", "Q3", Rating.NEUTRAL, october), imported("k2", "Q3", Rating.SATISFIED, october)], T0
    )
    by_channel = await report(store, "channel")
    assert {r.key: r.ratings.answers for r in by_channel.rows} == {"phone": 2, "telegram": 2}
    assert [r.returned for r in by_channel.rows] == [None, None]
    assert by_channel.total.returned == ReturnedCounts(
        returned=2, answered=2, with_due_day=2, late=2, unsatisfied_or_complaint=1
    )
    assert by_channel.total.ratings == RatingCounts(answers=4, satisfied=2, neutral=1, unsatisfied=1)
    by_month = await report(store, "month")
    assert [(r.key, r.ratings.answers) for r in by_month.rows] == [("2026-11", 4)]
    by_procedure = await report(store, "procedure")
    assert {r.key: r.ratings.answers for r in by_procedure.rows} == {"Cấp phép": 2, "Đăng ký kết hôn": 2}
    assert by_procedure.total.complaints.opened == 1


async def test_factors_are_counted_overall_and_per_rating(store: SQLiteStorage) -> None:
    first = await answer(store, "HS-1", "Q1-BN", chat="1", rating=Rating.UNSATISFIED)
    survey = await store.surveys.start_survey(
        channel="telegram", chat_id="1", dossier_id=first.dossier_id, question_set="default",
        question_set_version=1, first_step="problem", now=T0,
    )  # fmt: skip
    await store.surveys.record_follow_up(
        survey, FollowUp(question_id="problem", option_id="staff", factor="staff"), next_step=None, now=T0
    )
    await store.reports.import_answers(
        [
            imported("k1", "Q3", Rating.NEUTRAL, factor="staff"),
            imported("k2", "Q3", Rating.NEUTRAL, factor="access"),
            imported("k3", "Q3", Rating.SATISFIED),
        ],
        T0,
    )
    found = await report(store, "factor")
    factors = {f.factor: f for f in found.factors}
    assert list(factors) == ["access", "procedure", "staff", "result", "feedback"]
    assert factors["staff"].named == {Rating.SATISFIED: 0, Rating.NEUTRAL: 1, Rating.UNSATISFIED: 1}
    assert factors["staff"].total == 2 and factors["staff"].share_of() == 50.0
    assert factors["staff"].share_of(Rating.NEUTRAL) == 50.0
    assert factors["staff"].share_of(Rating.UNSATISFIED) == 100.0
    assert factors["result"].total == 0 and factors["staff"].label == "Công chức giải quyết"


async def test_complaints_are_overdue_as_of_when_the_report_is_made(store: SQLiteStorage) -> None:
    case = await open_case(store, "HS-1", "Q1-BN", chat="1", deadline=date(2026, 11, 24))
    early = await report(store, "unit", "Q1-BN", now=T0 + timedelta(days=1))
    assert early.total.complaints.overdue == 0 and early.total.on_time_share is None
    late = await report(store, "unit", "Q1-BN", now=datetime(2026, 11, 24, 17, tzinfo=UTC))
    assert late.total.complaints.overdue == 1 and late.total.on_time_share == 0.0
    await store.cases.change_case(
        case.id, from_states=[CaseState.NEW], to_state=CaseState.RESOLVED, actor="person:1",
        action="resolved", now=T0 + timedelta(hours=6),
    )  # fmt: skip
    resolved = await report(store, "unit", "Q1-BN", now=T0 + timedelta(days=30))
    assert resolved.total.on_time_share == 100.0 and resolved.total.complaint_satisfaction == 100.0
    assert resolved.total.median_hours_to_resolve == 6.0
