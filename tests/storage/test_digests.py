"""DigestRepository: what the daily digest counts for every unit at once, and which digests went
(a unit's digest of a day is claimed once, unless its run had nothing to report, its claim's lease
ran out, or it is retrying and its time has come)."""

from __future__ import annotations

from datetime import date, timedelta

from storage.base import Storage
from storage.records import CaseCounts, CaseState, DigestStatus, Rating, UnitFigures
from tests.storage.conftest import T0, answer, hours, open_case

DAY = date(2026, 11, 20)
LEASE = timedelta(minutes=10)


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
        assert await db.digests.claim_digest("Q1-BN", DAY, T0 + hours(1), lease=LEASE)
        # claimed but not yet sent: the cases are still new
        assert (await db.digests.case_counts(DAY))["Q1-BN"].new == 1
        await db.digests.finish_digest("Q1-BN", DAY, DigestStatus.SENT, T0 + hours(1), recipient="person:1")
        after = (await db.digests.case_counts(DAY))["Q1-BN"]
        assert (after.new, after.last_digest_at) == (0, T0 + hours(1))
        await open_case(db, "HS-2", "Q1-BN", chat="2", now=T0 + hours(2))
        assert (await db.digests.case_counts(DAY))["Q1-BN"].new == 1

    async def test_a_digest_with_nothing_to_report_counts_as_the_last_one(self, db: Storage):
        await open_case(db, "HS-1", "Q1-BN", chat="1", now=T0)
        assert await db.digests.claim_digest("Q1-BN", DAY, T0 + hours(1), lease=LEASE)
        await db.digests.finish_digest("Q1-BN", DAY, DigestStatus.EMPTY, T0 + hours(1))
        assert (await db.digests.case_counts(DAY))["Q1-BN"].last_digest_at == T0 + hours(1)

    async def test_another_units_digest_leaves_a_units_cases_new(self, db: Storage):
        await open_case(db, "HS-1", "Q1-BN", chat="1", now=T0)
        await open_case(db, "HS-2", "Q3", chat="2", now=T0)
        await db.digests.claim_digest("Q3", DAY, T0 + hours(1), lease=LEASE)
        await db.digests.finish_digest("Q3", DAY, DigestStatus.SENT, T0 + hours(1))
        counts = await db.digests.case_counts(DAY)
        assert (counts["Q1-BN"].new, counts["Q3"].new) == (1, 0)


class TestClaims:
    async def test_a_digest_is_claimed_once(self, db: Storage):
        assert await db.digests.claim_digest("Q1", DAY, T0, lease=LEASE)
        # going already (a second run, another process): refused while the claim's lease lasts
        assert not await db.digests.claim_digest("Q1", DAY, T0 + timedelta(minutes=5), lease=LEASE)
        await db.digests.finish_digest("Q1", DAY, DigestStatus.SENT, T0 + hours(1), recipient="telegram:2001")
        assert not await db.digests.claim_digest("Q1", DAY, T0 + hours(2), lease=LEASE)

    async def test_a_claim_whose_lease_ran_out_is_taken_over(self, db: Storage):
        assert await db.digests.claim_digest("Q1", DAY, T0, lease=LEASE)
        # its sender died before finishing: within the lease nobody takes it, after it the next run does
        assert not await db.digests.claim_digest("Q1", DAY, T0 + LEASE - timedelta(seconds=1), lease=LEASE)
        assert await db.digests.claim_digest("Q1", DAY, T0 + LEASE, lease=LEASE)
        assert not await db.digests.claim_digest("Q1", DAY, T0 + LEASE, lease=LEASE)
        await db.digests.finish_digest("Q1", DAY, DigestStatus.SENT, T0 + LEASE)
        assert not await db.digests.claim_digest("Q1", DAY, T0 + hours(5), lease=LEASE)

    async def test_a_retrying_digest_is_claimed_again_from_its_next_attempt(self, db: Storage):
        assert await db.digests.claim_digest("Q1", DAY, T0, lease=LEASE)
        assert await db.digests.retry_digest("Q1", DAY, "429 Too Many Requests", T0 + hours(1)) == 1
        assert not await db.digests.claim_digest("Q1", DAY, T0 + hours(0.5), lease=LEASE)
        assert await db.digests.claim_digest("Q1", DAY, T0 + hours(1), lease=LEASE)
        assert await db.digests.retry_digest("Q1", DAY, "timed out", T0 + hours(2)) == 2
        (retrying,) = await db.digests.list_digests([DigestStatus.RETRYING])
        assert (retrying.unit_code, retrying.day, retrying.attempts, retrying.error) == (
            "Q1",
            DAY,
            2,
            "timed out",
        )
        assert (retrying.next_attempt_at, retrying.claimed_at) == (T0 + hours(2), T0 + hours(1))

    async def test_a_digest_refused_for_good_is_not_claimed_again(self, db: Storage):
        assert await db.digests.claim_digest("Q1", DAY, T0, lease=LEASE)
        await db.digests.finish_digest("Q1", DAY, DigestStatus.FAILED, T0, error="Bad Request: too long")
        assert not await db.digests.claim_digest("Q1", DAY, T0 + hours(9), lease=LEASE)
        assert await db.digests.due_digests(DAY, T0 + hours(9), lease=LEASE) == []
        (failed,) = await db.digests.list_digests([DigestStatus.FAILED])
        assert (failed.status, failed.error, failed.sent_at) == (
            DigestStatus.FAILED,
            "Bad Request: too long",
            T0,
        )

    async def test_due_digests_are_those_retrying_whose_time_came_and_stale_claims(self, db: Storage):
        for unit in ("HCM", "Q1", "Q1-BN", "Q3"):
            assert await db.digests.claim_digest(unit, DAY, T0, lease=LEASE)
        await db.digests.retry_digest("Q1", DAY, "timeout", T0 + hours(1))
        await db.digests.retry_digest("Q3", DAY, "timeout", T0 + hours(3))
        await db.digests.finish_digest("HCM", DAY, DigestStatus.SENT, T0)
        # Q1-BN is still claimed: due once its lease runs out
        assert await db.digests.due_digests(DAY, T0 + timedelta(minutes=5), lease=LEASE) == []
        assert await db.digests.due_digests(DAY, T0 + hours(1), lease=LEASE) == ["Q1", "Q1-BN"]
        assert await db.digests.due_digests(DAY, T0 + hours(3), lease=LEASE) == ["Q1", "Q1-BN", "Q3"]
        assert await db.digests.due_digests(date(2026, 11, 21), T0 + hours(3), lease=LEASE) == []

    async def test_digests_are_listed_by_state_from_a_day_on(self, db: Storage):
        await db.digests.claim_digest("Q1", DAY, T0, lease=LEASE)
        await db.digests.finish_digest("Q1", DAY, DigestStatus.UNREACHABLE, T0)
        later = date(2026, 11, 21)
        await db.digests.claim_digest("Q3", later, T0, lease=LEASE)
        await db.digests.finish_digest("Q3", later, DigestStatus.SENT, T0, recipient="person:7")
        await db.digests.claim_digest("Q1", later, T0, lease=LEASE)
        every = list(DigestStatus)
        assert [(d.unit_code, d.day, d.status) for d in await db.digests.list_digests(every)] == [
            ("Q1", DAY, DigestStatus.UNREACHABLE),
            ("Q1", later, DigestStatus.SENDING),
            ("Q3", later, DigestStatus.SENT),
        ]
        assert [d.unit_code for d in await db.digests.list_digests(every, since=later)] == ["Q1", "Q3"]
        (sent,) = await db.digests.list_digests([DigestStatus.SENT])
        assert (sent.recipient, sent.attempts, sent.claimed_at) == ("person:7", 0, T0)

    async def test_a_claim_is_for_one_unit_and_day(self, db: Storage):
        assert await db.digests.claim_digest("Q1", DAY, T0, lease=LEASE)
        assert await db.digests.claim_digest("Q3", DAY, T0, lease=LEASE)
        assert await db.digests.claim_digest("Q1", date(2026, 11, 21), T0, lease=LEASE)

    async def test_a_day_that_had_nothing_to_report_can_be_claimed_again(self, db: Storage):
        assert await db.digests.claim_digest("Q1", DAY, T0, lease=LEASE)
        await db.digests.finish_digest("Q1", DAY, DigestStatus.EMPTY, T0)
        assert await db.digests.claim_digest("Q1", DAY, T0 + hours(3), lease=LEASE)
        assert not await db.digests.claim_digest("Q1", DAY, T0 + hours(3), lease=LEASE)  # claimed again: once
        await db.digests.finish_digest("Q1", DAY, DigestStatus.SENT, T0 + hours(3))
        assert not await db.digests.claim_digest("Q1", DAY, T0 + hours(4), lease=LEASE)
