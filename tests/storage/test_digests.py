"""DigestRepository: what the daily digest counts for every unit at once, and which digests went
(a unit's digest of a day is claimed once, unless its run had nothing to report)."""

from __future__ import annotations

from datetime import date

from storage.base import Storage
from storage.records import CaseCounts, CaseState, Rating, UnitFigures
from tests.storage.conftest import T0, answer, hours, open_case

DAY = date(2026, 11, 20)


async def close(db: Storage, case_id: int) -> None:
    await db.cases.change_case(
        case_id, from_states=list(CaseState), to_state=CaseState.CLOSED, actor="test", action="closed", now=T0
    )


class TestFigures:
    async def test_answers_are_counted_by_unit_and_rating_in_a_half_open_window(self, db: Storage):
        start, end = T0, T0 + hours(24)
        await answer(db, "A1", "Q1-BN", chat="1", rating=Rating.SATISFIED, now=start)  # the start counts
        await answer(db, "A2", "Q1-BN", chat="2", rating=Rating.SATISFIED, now=start + hours(1))
        await answer(db, "A3", "Q1-BN", chat="3", rating=Rating.UNSATISFIED, now=start + hours(2))
        await answer(db, "A4", "Q1", chat="4", rating=Rating.NEUTRAL, now=start + hours(3))
        await answer(db, "A5", "Q1", chat="5", rating=Rating.NEUTRAL, now=end)  # the end does not
        await answer(db, "A6", "Q3", chat="6", rating=Rating.SATISFIED, now=start - hours(1))
        figures = await db.digests.figures_by_unit(start, end)
        # each unit counts its own dossiers (not its wards'); units without answers are left out
        assert figures == {
            "Q1-BN": UnitFigures(answers=3, satisfied=2, neutral=0, unsatisfied=1),
            "Q1": UnitFigures(answers=1, satisfied=0, neutral=1, unsatisfied=0),
        }
        assert await db.digests.figures_by_unit(end + hours(1), end + hours(2)) == {}


class TestCaseCounts:
    async def test_open_and_overdue_cases_are_counted_by_unit(self, db: Storage):
        await open_case(db, "HS-1", "Q1-BN", chat="1", deadline=date(2026, 11, 19))  # overdue on DAY
        await open_case(db, "HS-2", "Q1-BN", chat="2", deadline=DAY)  # due on the day: not yet overdue
        closed = await open_case(db, "HS-3", "Q1-BN", chat="3", deadline=date(2026, 11, 1))
        await close(db, closed.id)
        await open_case(db, "HS-4", "Q3", chat="4", deadline=date(2026, 11, 30))
        await answer(db, "HS-5", "Q1", chat="5")  # no case: Q1 is left out
        counts = await db.digests.case_counts(DAY)
        assert set(counts) == {"Q1-BN", "Q3"}
        assert (counts["Q1-BN"].open, counts["Q1-BN"].overdue) == (2, 1)
        assert (counts["Q3"].open, counts["Q3"].overdue) == (1, 0)
        assert (await db.digests.case_counts(date(2026, 12, 1)))["Q3"].overdue == 1

    async def test_cases_are_new_until_the_units_digest_went(self, db: Storage):
        await open_case(db, "HS-1", "Q1-BN", chat="1", now=T0)
        assert (await db.digests.case_counts(DAY))["Q1-BN"] == CaseCounts(
            open=1, overdue=0, new=1, last_digest_at=None
        )
        assert await db.digests.claim_digest("Q1-BN", DAY, T0 + hours(1))
        # claimed but not yet sent: the cases are still new
        assert (await db.digests.case_counts(DAY))["Q1-BN"].new == 1
        await db.digests.finish_digest("Q1-BN", DAY, "sent", T0 + hours(1), recipient="person:1")
        after = (await db.digests.case_counts(DAY))["Q1-BN"]
        assert (after.new, after.last_digest_at) == (0, T0 + hours(1))
        await open_case(db, "HS-2", "Q1-BN", chat="2", now=T0 + hours(2))
        assert (await db.digests.case_counts(DAY))["Q1-BN"].new == 1

    async def test_a_digest_with_nothing_to_report_counts_as_the_last_one(self, db: Storage):
        await open_case(db, "HS-1", "Q1-BN", chat="1", now=T0)
        assert await db.digests.claim_digest("Q1-BN", DAY, T0 + hours(1))
        await db.digests.finish_digest("Q1-BN", DAY, "empty", T0 + hours(1))
        assert (await db.digests.case_counts(DAY))["Q1-BN"].last_digest_at == T0 + hours(1)

    async def test_another_units_digest_leaves_a_units_cases_new(self, db: Storage):
        await open_case(db, "HS-1", "Q1-BN", chat="1", now=T0)
        await open_case(db, "HS-2", "Q3", chat="2", now=T0)
        await db.digests.claim_digest("Q3", DAY, T0 + hours(1))
        await db.digests.finish_digest("Q3", DAY, "sent", T0 + hours(1))
        counts = await db.digests.case_counts(DAY)
        assert (counts["Q1-BN"].new, counts["Q3"].new) == (1, 0)


class TestClaims:
    async def test_a_digest_is_claimed_once(self, db: Storage):
        assert await db.digests.claim_digest("Q1", DAY, T0)
        # going already (a second run, another process): refused
        assert not await db.digests.claim_digest("Q1", DAY, T0 + hours(1))
        await db.digests.finish_digest("Q1", DAY, "sent", T0 + hours(1), recipient="telegram:2001")
        assert not await db.digests.claim_digest("Q1", DAY, T0 + hours(2))

    async def test_a_claim_is_for_one_unit_and_day(self, db: Storage):
        assert await db.digests.claim_digest("Q1", DAY, T0)
        assert await db.digests.claim_digest("Q3", DAY, T0)
        assert await db.digests.claim_digest("Q1", date(2026, 11, 21), T0)

    async def test_a_day_that_had_nothing_to_report_can_be_claimed_again(self, db: Storage):
        assert await db.digests.claim_digest("Q1", DAY, T0)
        await db.digests.finish_digest("Q1", DAY, "empty", T0)
        assert await db.digests.claim_digest("Q1", DAY, T0 + hours(3))
        assert not await db.digests.claim_digest("Q1", DAY, T0 + hours(3))  # claimed again: once
        await db.digests.finish_digest("Q1", DAY, "sent", T0 + hours(3))
        assert not await db.digests.claim_digest("Q1", DAY, T0 + hours(4))
