"""The report repository's contract: grouped counts of answers (the bot's and imported ones),
factors named, dossiers returned and complaint cases, and the import of answers collected
elsewhere, stored once however often imported."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from storage.base import Storage
from storage.records import (
    CaseState,
    ComplaintCounts,
    FactorCount,
    FollowUp,
    ImportedAnswer,
    Rating,
    RatingCounts,
    ReportBy,
    ReportSpan,
    ReturnedCounts,
)
from tests.storage.conftest import T0, add_dossier, answer, hours, open_case

DAY = timedelta(days=1)
PERIOD = [ReportSpan(key="", start=T0 - 10 * DAY, end=T0 + 10 * DAY)]


def imported(
    key: str, unit: str = "Q3", rating: Rating = Rating.NEUTRAL, **changes: object
) -> ImportedAnswer:
    data: dict[str, object] = {
        "unit_code": unit, "procedure": "Cấp giấy phép xây dựng", "rating": rating, "rating_option": "3",
        "factor": None, "answered_at": T0, "channel": "paper", "import_key": key,
    }  # fmt: skip
    return ImportedAnswer.model_validate(data | changes)


async def test_imported_answers_are_stored_once(db: Storage) -> None:
    rows = [imported("k1"), imported("k2", rating=Rating.UNSATISFIED, factor="staff")]
    assert await db.reports.import_answers(rows, T0) == 2
    assert await db.reports.import_answers([*rows, imported("k3")], T0) == 1
    counts = await db.reports.rating_counts(PERIOD, ReportBy.CHANNEL, None)
    assert counts == {"paper": RatingCounts(answers=3, neutral=2, unsatisfied=1)}


async def test_ratings_are_counted_by_each_grouping_with_imported_ones(db: Storage) -> None:
    await answer(db, "HS-1", "Q1-BN", chat="1", rating=Rating.SATISFIED)
    await answer(db, "HS-2", "Q1", chat="2", rating=Rating.UNSATISFIED, now=T0 + hours(1))
    await answer(db, "HS-OLD", "Q1", chat="3", now=T0 - 20 * DAY)  # before the period
    await db.reports.import_answers([imported("k1", "Q1-BN")], T0)
    by_unit = await db.reports.rating_counts(PERIOD, ReportBy.UNIT, None)
    assert by_unit == {
        "Q1-BN": RatingCounts(answers=2, satisfied=1, neutral=1),
        "Q1": RatingCounts(answers=1, unsatisfied=1),
    }
    by_procedure = await db.reports.rating_counts(PERIOD, ReportBy.PROCEDURE, ["Q1"])
    assert by_procedure == {"Đăng ký kết hôn": RatingCounts(answers=1, unsatisfied=1)}
    by_channel = await db.reports.rating_counts(PERIOD, ReportBy.CHANNEL, ["Q1", "Q1-BN"])
    assert by_channel == {
        "telegram": RatingCounts(answers=2, satisfied=1, unsatisfied=1),
        "paper": RatingCounts(answers=1, neutral=1),
    }
    months = [
        ReportSpan(key="a", start=T0 - 30 * DAY, end=T0 - DAY),
        ReportSpan(key="b", start=T0 - DAY, end=T0 + DAY),
    ]
    by_month = await db.reports.rating_counts(months, ReportBy.MONTH, None)
    assert by_month == {
        "a": RatingCounts(answers=1, satisfied=1),
        "b": RatingCounts(answers=3, satisfied=1, neutral=1, unsatisfied=1),
    }


async def test_factors_named_are_counted_per_rating_each_answer_once(db: Storage) -> None:
    first = await answer(db, "HS-1", chat="1", rating=Rating.UNSATISFIED)
    survey = await db.surveys.start_survey(
        channel="telegram", chat_id="1", dossier_id=first.dossier_id, question_set="default",
        question_set_version=1, first_step="problem", now=T0,
    )  # fmt: skip
    for step in ("problem", "again"):
        survey = survey.model_copy(update={"step": step})
        follow_up = FollowUp(question_id=step, option_id="staff", factor="staff")
        await db.surveys.record_follow_up(survey, follow_up, next_step="again", now=T0)
    await db.reports.import_answers(
        [imported("k1", factor="staff"), imported("k2", factor="access", rating=Rating.UNSATISFIED)], T0
    )
    found = await db.reports.factor_counts(PERIOD, None)
    assert found == [
        FactorCount(factor="access", rating=Rating.UNSATISFIED, named=1),
        FactorCount(factor="staff", rating=Rating.NEUTRAL, named=1),
        FactorCount(factor="staff", rating=Rating.UNSATISFIED, named=1),
    ]
    assert await db.reports.factor_counts(PERIOD, ["Q1"]) == []


async def test_returned_dossiers_count_answers_lateness_and_unhappy_ones(db: Storage) -> None:
    # add_dossier: due 2026-11-10, returned at T0 (2026-11-20): late when its due day ends before.
    await answer(db, "HS-1", "Q1-BN", chat="1", rating=Rating.UNSATISFIED)
    await add_dossier(db, "HS-2", "Q1-BN")
    await add_dossier(db, "HS-3", "Q3", returned=False)
    late_from = {date(2026, 11, 10): datetime(2026, 11, 10, 17, tzinfo=UTC)}
    by_unit = await db.reports.returned_counts(PERIOD, ReportBy.UNIT, None, late_from)
    assert by_unit == {
        "Q1-BN": ReturnedCounts(returned=2, answered=1, with_due_day=2, late=2, unsatisfied_or_complaint=1)
    }
    not_yet = {date(2026, 11, 10): T0 + DAY}
    by_month = await db.reports.returned_counts(PERIOD, ReportBy.MONTH, ["Q1-BN"], not_yet)
    assert by_month == {
        "": ReturnedCounts(returned=2, answered=1, with_due_day=2, late=0, unsatisfied_or_complaint=1)
    }
    assert await db.reports.returned_counts(PERIOD, ReportBy.PROCEDURE, ["Q3"], {}) == {}
    assert await db.reports.returned_counts(PERIOD, ReportBy.CHANNEL, None, {}) == {}


async def test_complaints_count_on_time_overdue_reopened_and_hours(db: Storage) -> None:
    deadline = date(2026, 11, 22)
    ends = {deadline: datetime(2026, 11, 22, 17, tzinfo=UTC)}
    on_time = await open_case(db, "HS-1", chat="1", deadline=deadline)
    late = await open_case(db, "HS-2", chat="2", deadline=deadline)
    await open_case(db, "HS-3", chat="3", deadline=deadline)  # never resolved
    for case, after in ((on_time, hours(10)), (late, 4 * DAY)):
        await db.cases.change_case(
            case.id, from_states=[CaseState.NEW], to_state=CaseState.RESOLVED, actor="person:1",
            action="resolved", now=T0 + after,
        )  # fmt: skip
    await db.cases.change_case(
        on_time.id, from_states=[CaseState.RESOLVED], to_state=CaseState.REOPENED, actor="citizen",
        action="reopened", now=T0 + hours(11),
    )  # fmt: skip
    before_deadline = await db.reports.complaint_counts(PERIOD, ReportBy.UNIT, None, ends, T0 + DAY)
    (counts,) = before_deadline.values()
    assert counts.model_copy(update={"hours_to_resolve": ()}) == ComplaintCounts(
        opened=3, resolved_on_time=1, overdue=1, reopened=1, reopened_or_overdue=2
    )
    assert sorted(round(h, 3) for h in counts.hours_to_resolve) == [10.0, 96.0]
    after_deadline = await db.reports.complaint_counts(
        PERIOD, ReportBy.CHANNEL, ["Q1-BN"], ends, T0 + 5 * DAY
    )
    assert after_deadline["telegram"].overdue == 2 and after_deadline["telegram"].reopened_or_overdue == 3
    assert await db.reports.complaint_counts(PERIOD, ReportBy.PROCEDURE, ["Q3"], ends, T0) == {}
    months = [ReportSpan(key="2026-11", start=T0 - DAY, end=T0 + DAY)]
    by_month = await db.reports.complaint_counts(months, ReportBy.MONTH, None, {}, T0 + 90 * DAY)
    assert by_month["2026-11"].opened == 3 and by_month["2026-11"].overdue == 0  # no deadline given


async def test_a_monthly_report_is_claimed_once_unless_it_failed_or_its_claim_ran_out(db: Storage) -> None:
    lease = timedelta(minutes=15)
    assert await db.reports.claim_monthly_report("Q1", "2026-10", T0, lease=lease)
    assert not await db.reports.claim_monthly_report("Q1", "2026-10", T0 + timedelta(minutes=5), lease=lease)
    assert await db.reports.claim_monthly_report("*", "2026-10", T0, lease=lease)  # another scope
    assert await db.reports.claim_monthly_report("Q1", "2026-11", T0, lease=lease)  # another month
    # The sender died: its claim is taken over once the lease ran out.
    assert await db.reports.claim_monthly_report("Q1", "2026-10", T0 + timedelta(minutes=16), lease=lease)
    await db.reports.finish_monthly_report("Q1", "2026-10", T0, sent=True)
    assert not await db.reports.claim_monthly_report("Q1", "2026-10", T0 + DAY, lease=lease)
    await db.reports.finish_monthly_report("*", "2026-10", T0, sent=False)  # reached no one
    assert await db.reports.claim_monthly_report("*", "2026-10", T0 + timedelta(minutes=1), lease=lease)
