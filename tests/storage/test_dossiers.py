"""DossierRepository: dossiers, the chats waiting for their survey, wrong survey codes typed; what
the one-stop software says of dossiers (their facts and history) and the answers it reads back."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from storage.base import DuplicateDossier, OutOfScope, Storage, UnknownDossier, UnknownUnit
from storage.records import (
    Answer,
    DossierEventFacts,
    DossierEventType,
    DossierFacts,
    FollowUp,
    NewDossier,
    OutboxStatus,
    PutOutcome,
    PutResult,
    Rating,
)
from tests.storage.conftest import T0, add_dossier, answer, hours, start_survey

VIETNAM = timezone(timedelta(hours=7))
CREATED, UPDATED, UNCHANGED = PutOutcome.CREATED, PutOutcome.UPDATED, PutOutcome.UNCHANGED


class TestDossiers:
    async def test_dossier_round_trip_and_lookups(self, db: Storage):
        dossier = await add_dossier(db)
        assert dossier.code == "HS-1" and dossier.due_on == date(2026, 11, 10) and dossier.returned_at == T0
        assert await db.dossiers.get_dossier("HS-1") == dossier
        assert await db.dossiers.get_dossier_by_id(dossier.id) == dossier
        assert await db.dossiers.get_dossier_by_link("L-HS-1") == dossier
        assert await db.dossiers.get_dossier_by_link("L-none") is None

    async def test_every_field_is_kept(self, db: Storage):
        dossier = await db.dossiers.add_dossier(
            code="HS-9",
            unit_code="Q3",
            procedure="Cấp giấy phép xây dựng",
            link_id="L9",
            now=T0,
            survey_code="482913",
        )
        assert (dossier.unit_code, dossier.unit_name, dossier.procedure) == (
            "Q3",
            "UBND Quận 3",
            "Cấp giấy phép xây dựng",
        )
        assert (dossier.received_on, dossier.due_on, dossier.returned_at) == (None, None, None)
        assert dossier.created_at == T0 and dossier.survey_code == "482913" and not dossier.answered

    async def test_missing_dossiers_are_none(self, db: Storage):
        dossier = await add_dossier(db, survey_code="111111")
        assert await db.dossiers.get_dossier("HS-404") is None
        assert await db.dossiers.get_dossier_by_id(dossier.id + 1000) is None
        assert await db.dossiers.get_dossier_by_survey_code("999999") is None

    async def test_a_dossier_is_found_by_its_survey_code(self, db: Storage):
        await add_dossier(db, "HS-1", survey_code="111111")
        other = await add_dossier(db, "HS-2", survey_code="222222")
        await add_dossier(db, "HS-3")  # a dossier without a code matches no code
        assert await db.dossiers.get_dossier_by_survey_code("222222") == other

    async def test_a_dossier_knows_it_was_answered(self, db: Storage):
        answered = await answer(db, "HS-1")
        assert (await db.dossiers.get_dossier("HS-1")).answered
        assert (await db.dossiers.get_dossier_by_id(answered.dossier_id)).answered
        assert not (await add_dossier(db, "HS-2")).answered

    async def test_duplicate_dossier_and_unknown_unit_are_refused(self, db: Storage):
        await add_dossier(db)
        with pytest.raises(DuplicateDossier):
            await add_dossier(db)
        with pytest.raises(UnknownUnit):
            await add_dossier(db, code="HS-2", unit="Q99")
        with pytest.raises(UnknownDossier):
            await db.dossiers.mark_returned("HS-404", T0)

    async def test_a_refused_dossier_changes_nothing(self, db: Storage):
        first = await add_dossier(db, "HS-1", "Q1-BN")
        with pytest.raises(DuplicateDossier):
            await db.dossiers.add_dossier(
                code="HS-1", unit_code="Q3", procedure="Khác", link_id="L-other", now=T0 + hours(1)
            )
        with pytest.raises(UnknownUnit):
            await add_dossier(db, "HS-2", "Q99")
        assert await db.dossiers.get_dossier("HS-1") == first
        assert await db.dossiers.get_dossier_by_link("L-other") is None
        assert await db.dossiers.get_dossier("HS-2") is None
        assert await db.dossiers.list_dossiers() == [first]

    async def test_dossiers_are_listed_newest_first(self, db: Storage):
        # recorded out of order: the listing follows when they were recorded, not the order of calls
        middle = await add_dossier(db, "HS-B", now=T0 + hours(1))
        oldest = await add_dossier(db, "HS-A", now=T0)
        newest = await add_dossier(db, "HS-C", now=T0 + hours(2))
        assert await db.dossiers.list_dossiers() == [newest, middle, oldest]

    async def test_dossiers_are_listed_by_unit(self, db: Storage):
        ward = await add_dossier(db, "HS-1", "Q1-BN", now=T0)
        district = await add_dossier(db, "HS-2", "Q1", now=T0 + hours(1))
        other = await add_dossier(db, "HS-3", "Q3", now=T0 + hours(2))
        assert await db.dossiers.list_dossiers(["Q3"]) == [other]
        # only the units named, not their wards
        assert await db.dossiers.list_dossiers(["Q1"]) == [district]
        assert await db.dossiers.list_dossiers(["Q1", "Q1-BN"]) == [district, ward]
        assert await db.dossiers.list_dossiers(["HCM"]) == []
        assert await db.dossiers.list_dossiers([]) == []
        assert await db.dossiers.list_dossiers(None) == [other, district, ward]

    async def test_dossiers_are_listed_a_page_at_a_time(self, db: Storage):
        made = [await add_dossier(db, f"HS-{n}", now=T0 + hours(n)) for n in range(5)]
        newest_first = made[::-1]
        assert await db.dossiers.list_dossiers(limit=2) == newest_first[:2]
        assert await db.dossiers.list_dossiers(limit=2, offset=2) == newest_first[2:4]
        assert await db.dossiers.list_dossiers(limit=2, offset=4) == newest_first[4:]
        assert await db.dossiers.list_dossiers(limit=2, offset=5) == []
        assert await db.dossiers.list_dossiers(["Q1-BN"], limit=1, offset=1) == [newest_first[1]]

    async def test_wrong_codes_are_counted_per_chat_since_a_time(self, db: Storage):
        assert await db.dossiers.count_wrong_codes("zalo", "z1", T0 - hours(1)) == 0
        for minutes in (0, 1, 2):
            await db.dossiers.record_wrong_code("zalo", "z1", T0 + timedelta(minutes=minutes))
        await db.dossiers.record_wrong_code("zalo", "z2", T0)
        await db.dossiers.record_wrong_code("telegram", "z1", T0)
        assert await db.dossiers.count_wrong_codes("zalo", "z1", T0 - hours(1)) == 3
        # `since` itself counts
        assert await db.dossiers.count_wrong_codes("zalo", "z1", T0 + timedelta(minutes=1)) == 2
        assert await db.dossiers.count_wrong_codes("zalo", "z1", T0 + timedelta(minutes=3)) == 0
        assert await db.dossiers.count_wrong_codes("zalo", "z2", T0 - hours(1)) == 1
        assert await db.dossiers.count_wrong_codes("telegram", "z1", T0 - hours(1)) == 1

    async def test_marking_returned_records_the_time(self, db: Storage):
        await add_dossier(db, returned=False)
        assert (await db.dossiers.get_dossier("HS-1")).returned_at is None
        returned = await db.dossiers.mark_returned("HS-1", T0 + hours(5))
        assert returned.returned_at == T0 + hours(5) and returned.code == "HS-1"
        assert await db.dossiers.get_dossier("HS-1") == returned
        # nobody opened the link: nobody to invite
        assert await db.outbox.pending_invitations() == []

    async def test_return_queues_an_invitation_for_each_waiting_chat_once(self, db: Storage):
        dossier = await add_dossier(db, returned=False)
        await db.dossiers.link_chat(dossier.id, "telegram", "42", T0)
        await db.dossiers.link_chat(dossier.id, "telegram", "42", T0)
        await db.dossiers.link_chat(dossier.id, "zalo", "z1", T0)
        assert await db.outbox.pending_invitations() == []
        returned = await db.dossiers.mark_returned("HS-1", T0 + timedelta(days=1))
        assert returned.returned_at == T0 + timedelta(days=1)
        await db.dossiers.mark_returned("HS-1", T0 + timedelta(days=1))  # recorded twice: still one each
        pending = await db.outbox.pending_invitations()
        assert sorted((i.channel, i.chat_id) for i in pending) == [("telegram", "42"), ("zalo", "z1")]
        assert {i.dossier_id for i in pending} == {dossier.id}
        # read a page at a time: the page after the first invitation holds the second
        first, second = pending
        assert await db.outbox.pending_invitations(limit=1) == [first]
        assert await db.outbox.pending_invitations(limit=1, after_id=first.id) == [second]
        assert await db.outbox.pending_invitations(after_id=second.id) == []

    async def test_a_link_made_after_the_return_queues_its_invitation(self, db: Storage):
        dossier = await add_dossier(db, returned=True)
        await db.dossiers.link_chat(dossier.id, "telegram", "42", T0)
        (invitation,) = await db.outbox.pending_invitations()
        assert invitation.status == OutboxStatus.PENDING and invitation.attempts == 0
        assert (invitation.dossier_id, invitation.channel, invitation.chat_id) == (
            dossier.id,
            "telegram",
            "42",
        )
        await db.dossiers.link_chat(dossier.id, "telegram", "42", T0 + hours(1))  # the link opened again
        assert await db.outbox.pending_invitations() == [invitation]

    @pytest.mark.parametrize("link_first", [True, False])
    async def test_a_link_racing_the_return_queues_exactly_one_invitation(
        self, db: Storage, link_first: bool
    ):
        dossier = await add_dossier(db, returned=False)
        link = db.dossiers.link_chat(dossier.id, "telegram", "42", T0)
        ret = db.dossiers.mark_returned("HS-1", T0)
        await asyncio.gather(*((link, ret) if link_first else (ret, link)))
        (invitation,) = await db.outbox.pending_invitations()
        assert (invitation.dossier_id, invitation.chat_id) == (dossier.id, "42")
        # whichever came second found the other's work done
        await db.dossiers.link_chat(dossier.id, "telegram", "42", T0)
        await db.dossiers.mark_returned("HS-1", T0)
        assert len(await db.outbox.pending_invitations()) == 1

    async def test_an_invitation_sent_is_not_queued_again(self, db: Storage):
        dossier = await add_dossier(db, returned=True)
        await db.dossiers.link_chat(dossier.id, "telegram", "42", T0)
        (invitation,) = await db.outbox.pending_invitations()
        await db.outbox.finish_invitation(invitation.id, OutboxStatus.SENT, T0)
        await db.dossiers.mark_returned("HS-1", T0 + hours(1))
        await db.dossiers.link_chat(dossier.id, "telegram", "42", T0 + hours(1))
        assert await db.outbox.pending_invitations() == []


def facts(code: str = "HS-1", unit: str = "Q1-BN", **changes: Any) -> DossierFacts:
    """A dossier as the one-stop software describes it, every fact given."""
    given: dict[str, Any] = {
        "code": code,
        "unit_code": unit,
        "procedure": "Đăng ký kết hôn",
        "received_at": T0,
        "due_at": T0 + timedelta(days=10),
        "received_on": date(2026, 11, 20),
        "due_on": date(2026, 11, 30),
        "citizen_name": "Nguyễn Văn An",
        "phone": "84901234567",
        "channel_hint": "zalo",
    }
    return DossierFacts.model_validate({**given, **changes})


def fresh(code: str, n: int = 0) -> NewDossier:
    return NewDossier(link_id=f"L{n}-{code}", survey_code=f"S{n}-{code}")


async def put(
    db: Storage,
    *given: DossierFacts,
    now: datetime = T0,
    within: set[str] | None = None,
    n: int = 0,
) -> list[PutResult]:
    """Puts these facts as one batch; `n` tells the NewDossiers of one call from another's."""
    return await db.dossiers.put_dossiers(
        [(f, fresh(f.code, n)) for f in given], actor="api:one-stop", now=now, within=within
    )


def outcomes(results: list[PutResult]) -> list[tuple[str, PutOutcome]]:
    return [(r.dossier.code, r.outcome) for r in results]


async def trail(db: Storage, since: datetime = T0) -> list[tuple[str, str, str | None]]:
    """The audit trail from `since`, without the test tree's own directory entry."""
    return [
        (e.actor, e.action, e.detail)
        for e in await db.audit.audit_since(since)
        if e.action != "directory applied"
    ]


def event(kind: DossierEventType, at: datetime, **carried: Any) -> DossierEventFacts:
    return DossierEventFacts(type=kind, at=at, **carried)


async def add_event(
    db: Storage,
    kind: DossierEventType,
    at: datetime,
    code: str = "HS-1",
    *,
    now: datetime = T0,
    **carried: Any,
):
    return await db.dossiers.add_dossier_event(
        code, event(kind, at, **carried), actor="api:one-stop", now=now
    )


async def answered(
    db: Storage,
    code: str,
    unit: str = "Q1-BN",
    *,
    now: datetime = T0,
    factors: tuple[str | None, ...] = (),
    chat: str = "chat-secret-42",
    finished: bool = True,
) -> Answer:
    """A dossier answered unsatisfied, then one follow-up a factor (None: a question without one);
    the survey ends with the last of them unless not `finished`."""
    dossier = await add_dossier(db, code, unit, now=now)
    survey = await start_survey(db, dossier.id, chat, now=now)
    steps = [f"q{n}" for n in range(len(factors))]
    result = await db.surveys.record_rating(
        survey,
        rating=Rating.UNSATISFIED,
        option_id="unsatisfied",
        next_step=steps[0] if steps else (None if finished else "later"),
        now=now,
    )
    for n, factor in enumerate(factors):
        survey = (await db.chats.get_chat_state("telegram", chat)).survey
        last = n == len(factors) - 1
        result = await db.surveys.record_follow_up(
            survey,
            FollowUp(question_id=steps[n], option_id="o", factor=factor),
            next_step=(None if finished else "later") if last else steps[n + 1],
            now=now,
        )
    return result


class TestIntake:
    """put_dossiers, the dossier's history and the answers read back: what the intake API stores."""

    async def test_dossiers_put_and_added_one_by_one_never_share_an_id(self, db: Storage):
        ids = [r.dossier.id for r in await put(db, facts("HS-1"), facts("HS-2"))]
        ids.append((await add_dossier(db, "HS-3")).id)
        ids += [r.dossier.id for r in await put(db, facts("HS-4"), n=1)]
        ids.append((await add_dossier(db, "HS-5")).id)
        assert len(set(ids)) == 5
        for code, dossier_id in zip(["HS-1", "HS-2", "HS-3", "HS-4", "HS-5"], ids, strict=True):
            found = await db.dossiers.get_dossier(code)
            assert found is not None and found.id == dossier_id

    async def test_a_new_dossier_is_created_with_every_fact(self, db: Storage):
        (result,) = await put(db, facts())
        stored = result.dossier
        assert result.outcome == CREATED
        assert (stored.code, stored.unit_code, stored.unit_name, stored.procedure) == (
            "HS-1",
            "Q1-BN",
            "UBND Phường Bến Nghé",
            "Đăng ký kết hôn",
        )
        assert (stored.received_at, stored.due_at) == (T0, T0 + timedelta(days=10))
        assert (stored.received_on, stored.due_on) == (date(2026, 11, 20), date(2026, 11, 30))
        assert (stored.citizen_name, stored.phone, stored.channel_hint) == (
            "Nguyễn Văn An",
            "84901234567",
            "zalo",
        )
        assert (stored.link_id, stored.survey_code) == ("L0-HS-1", "S0-HS-1")
        assert stored.created_at == stored.updated_at == T0
        assert stored.state is None and stored.returned_at is None and not stored.answered
        assert await db.dossiers.get_dossier("HS-1") == stored
        assert await db.dossiers.get_dossier_by_survey_code("S0-HS-1") == stored
        assert await trail(db) == [("api:one-stop", "dossier created", "HS-1")]

    async def test_the_same_facts_again_change_nothing(self, db: Storage):
        (first,) = await put(db, facts())
        # the same instants, given in Vietnam's time
        again = facts(
            received_at=T0.astimezone(VIETNAM), due_at=(T0 + timedelta(days=10)).astimezone(VIETNAM)
        )
        (result,) = await put(db, again, now=T0 + hours(1), n=1)
        assert result.outcome == UNCHANGED
        # the link and code are the first ones; nothing was written, updated_at included
        assert result.dossier == first.dossier == await db.dossiers.get_dossier("HS-1")
        assert await trail(db, T0 + hours(1)) == []

    async def test_changed_facts_are_written_and_named_in_the_audit(self, db: Storage):
        (first,) = await put(db, facts())
        later = T0 + hours(1)
        changed = facts(due_at=T0 + timedelta(days=12), phone="84907654321")
        (result,) = await put(db, changed, now=later, n=1)
        assert result.outcome == UPDATED
        stored = result.dossier
        assert (stored.due_at, stored.phone, stored.updated_at) == (
            T0 + timedelta(days=12),
            "84907654321",
            later,
        )
        assert (stored.id, stored.link_id, stored.survey_code, stored.created_at) == (
            first.dossier.id,
            "L0-HS-1",
            "S0-HS-1",
            T0,
        )
        assert await db.dossiers.get_dossier("HS-1") == stored
        assert await trail(db, later) == [("api:one-stop", "dossier updated", "HS-1: due_at, phone")]

    async def test_a_fact_left_out_is_removed_and_a_dossier_may_move(self, db: Storage):
        await put(db, facts())
        (result,) = await put(db, facts(unit="Q3", citizen_name=None, received_on=None), now=T0 + hours(1))
        stored = result.dossier
        assert result.outcome == UPDATED
        assert (stored.unit_code, stored.unit_name, stored.citizen_name, stored.received_on) == (
            "Q3",
            "UBND Quận 3",
            None,
            None,
        )
        assert await trail(db, T0 + hours(1)) == [
            ("api:one-stop", "dossier updated", "HS-1: unit_code, received_on, citizen_name")
        ]

    async def test_a_batch_is_answered_in_the_order_given(self, db: Storage):
        await put(db, facts("HS-1"), facts("HS-2"))
        results = await put(
            db, facts("HS-3"), facts("HS-2", procedure="Khai sinh"), facts("HS-1"), now=T0 + hours(1), n=1
        )
        assert outcomes(results) == [("HS-3", CREATED), ("HS-2", UPDATED), ("HS-1", UNCHANGED)]
        assert [r.dossier for r in results] == [
            await db.dossiers.get_dossier(c) for c in ("HS-3", "HS-2", "HS-1")
        ]
        assert results[0].dossier.link_id == "L1-HS-3" and results[1].dossier.link_id == "L0-HS-2"
        assert await trail(db, T0 + hours(1)) == [
            ("api:one-stop", "dossier created", "HS-3"),
            ("api:one-stop", "dossier updated", "HS-2: procedure"),
        ]

    async def test_a_code_given_twice_in_a_batch_ends_with_its_later_facts(self, db: Storage):
        await put(db, facts("HS-9"))
        results = await put(
            db,
            facts("HS-1"),
            facts("HS-1", phone="84907654321"),
            facts("HS-2"),
            facts("HS-2"),
            facts("HS-9", phone="84907654321"),
            facts("HS-9"),
            now=T0 + hours(1),
            n=1,
        )
        assert outcomes(results) == [
            ("HS-1", CREATED),
            ("HS-1", UPDATED),
            ("HS-2", CREATED),
            ("HS-2", UNCHANGED),
            ("HS-9", UPDATED),
            ("HS-9", UPDATED),
        ]
        one, nine = await db.dossiers.get_dossier("HS-1"), await db.dossiers.get_dossier("HS-9")
        assert one.phone == "84907654321" and one.link_id == "L1-HS-1"
        assert nine.phone == "84901234567" and nine.updated_at == T0 + hours(1)
        # every answer about a dossier is the dossier as the batch left it
        assert [r.dossier for r in results[:2]] == [one, one] and [r.dossier for r in results[4:]] == [
            nine,
            nine,
        ]
        assert len(await db.dossiers.list_dossiers()) == 3
        assert await trail(db, T0 + hours(1)) == [
            ("api:one-stop", "dossier created", "HS-1"),
            ("api:one-stop", "dossier updated", "HS-1: phone"),
            ("api:one-stop", "dossier created", "HS-2"),
            ("api:one-stop", "dossier updated", "HS-9: phone"),
            ("api:one-stop", "dossier updated", "HS-9: phone"),
        ]

    async def test_a_large_batch_is_answered_whole_and_in_order(self, db: Storage):
        codes = [f"HS-{n:04d}" for n in range(1234)][::-1]  # more than one chunk of codes
        created = await put(db, *(facts(c, "Q3" if n % 2 else "Q1") for n, c in enumerate(codes)))
        assert outcomes(created) == [(c, CREATED) for c in codes]
        assert len({r.dossier.id for r in created}) == len(codes)
        again = await put(db, *(facts(c, "Q3" if n % 2 else "Q1") for n, c in enumerate(codes)), n=1)
        assert again == [PutResult(dossier=r.dossier, outcome=UNCHANGED) for r in created]

    async def test_an_empty_batch_is_answered_empty(self, db: Storage):
        assert await put(db) == []

    async def test_an_unknown_unit_refuses_the_whole_batch(self, db: Storage):
        (before,) = await put(db, facts("HS-0"))
        with pytest.raises(UnknownUnit, match=r"^Q99$"):
            await put(
                db,
                facts("HS-1"),
                facts("HS-0", phone="84907654321"),
                facts("HS-2", unit="Q99"),
                facts("HS-3"),
                now=T0 + hours(1),
                n=1,
            )
        assert await db.dossiers.list_dossiers() == [before.dossier]
        assert await trail(db, T0 + hours(1)) == []

    async def test_a_dossier_outside_the_callers_units_refuses_the_whole_batch(self, db: Storage):
        await put(db, facts("HS-1", "Q1-BN"), facts("HS-3", "Q3"))
        before = await db.dossiers.list_dossiers()
        ward = {"Q1", "Q1-BN"}
        for outside in (facts("HS-3", "Q3", phone="84907654321"), facts("HS-3", "Q3"), facts("HS-3", "Q1")):
            with pytest.raises(OutOfScope, match=r"^HS-3$"):
                await put(
                    db,
                    facts("HS-2", "Q1"),
                    facts("HS-1", "Q1", phone="84907654321"),
                    outside,
                    now=T0 + hours(1),
                    within=ward,
                    n=1,
                )
        assert await db.dossiers.list_dossiers() == before
        assert await trail(db, T0 + hours(1)) == []

    async def test_the_scope_is_the_unit_a_dossier_is_recorded_under(self, db: Storage):
        await put(db, facts("HS-1", "Q1-BN"))
        # the facts' own units are the caller's to check
        results = await put(db, facts("HS-1", "Q3"), facts("HS-2", "Q3"), within={"Q1-BN"}, now=T0 + hours(1))
        assert outcomes(results) == [("HS-1", UPDATED), ("HS-2", CREATED)]
        with pytest.raises(OutOfScope, match=r"^HS-1$"):
            await put(db, facts("HS-1", "Q1-BN"), within={"Q1-BN"}, now=T0 + hours(2))
        assert outcomes(await put(db, facts("HS-1", "Q3"), within={"Q3"}, now=T0 + hours(2))) == [
            ("HS-1", UNCHANGED)
        ]

    async def test_an_event_is_recorded_and_becomes_the_state(self, db: Storage):
        await put(db, facts())
        result = await add_event(db, DossierEventType.RECEIVED, T0, now=T0 + hours(1))
        stored = result.event
        assert result.recorded
        assert (stored.type, stored.at, stored.recorded_at, stored.recorded_by) == (
            DossierEventType.RECEIVED,
            T0,
            T0 + hours(1),
            "api:one-stop",
        )
        assert (stored.reason, stored.until, stored.new_due_at) == (None, None, None)
        assert stored.dossier_id == result.dossier.id
        assert result.dossier.state == DossierEventType.RECEIVED and result.dossier.updated_at == T0 + hours(
            1
        )
        assert await db.dossiers.get_dossier("HS-1") == result.dossier
        assert await db.dossiers.list_dossier_events(result.dossier.id) == [stored]
        assert await trail(db, T0 + hours(1)) == [
            ("api:one-stop", "dossier event", "HS-1 received 2026-11-20T02:00:00+00:00")
        ]

    async def test_what_an_event_carries_is_kept(self, db: Storage):
        (made,) = await put(db, facts())
        asked = await add_event(
            db, DossierEventType.SUPPLEMENT_REQUESTED, T0 + hours(1), reason="Thiếu bản sao CCCD",
            until=date(2026, 11, 25),
        )  # fmt: skip
        extended = await add_event(
            db, DossierEventType.EXTENDED, (T0 + hours(2)).astimezone(VIETNAM), reason="Cần xác minh",
            new_due_at=(T0 + timedelta(days=15)).astimezone(VIETNAM),
        )  # fmt: skip
        assert (asked.event.reason, asked.event.until) == ("Thiếu bản sao CCCD", date(2026, 11, 25))
        assert (extended.event.at, extended.event.reason, extended.event.new_due_at) == (
            T0 + hours(2),
            "Cần xác minh",
            T0 + timedelta(days=15),
        )
        assert await db.dossiers.list_dossier_events(made.dossier.id) == [asked.event, extended.event]

    async def test_the_same_type_at_the_same_time_is_recorded_once(self, db: Storage):
        await put(db, facts())
        first = await add_event(db, DossierEventType.SUSPENDED, T0 + hours(1), now=T0 + hours(1), reason="a")
        # the same instant in Vietnam's time, reported again later with another reason
        again = await add_event(
            db, DossierEventType.SUSPENDED, (T0 + hours(1)).astimezone(VIETNAM), now=T0 + hours(2), reason="b"
        )
        assert not again.recorded and again.event == first.event and again.dossier == first.dossier
        assert await trail(db, T0 + hours(2)) == []
        # another type at that time, or the same type at another time, is another event
        other = await add_event(db, DossierEventType.WITHDRAWN, T0 + hours(1), now=T0 + hours(3))
        later = await add_event(db, DossierEventType.SUSPENDED, T0 + hours(4), now=T0 + hours(3))
        assert other.recorded and later.recorded
        events = await db.dossiers.list_dossier_events(first.dossier.id)
        assert [(e.type, e.at) for e in events] == [
            (DossierEventType.SUSPENDED, T0 + hours(1)),
            (DossierEventType.WITHDRAWN, T0 + hours(1)),
            (DossierEventType.SUSPENDED, T0 + hours(4)),
        ]

    async def test_the_state_is_the_latest_event_by_time_whatever_order_they_arrive_in(self, db: Storage):
        (made,) = await put(db, facts())
        requested = await add_event(db, DossierEventType.SUPPLEMENT_REQUESTED, T0 + hours(2))
        assert requested.dossier.state == DossierEventType.SUPPLEMENT_REQUESTED
        late = await add_event(db, DossierEventType.RECEIVED, T0, now=T0 + hours(3))  # reported late
        assert late.recorded and late.dossier.state == DossierEventType.SUPPLEMENT_REQUESTED
        assert late.dossier.updated_at == T0 + hours(3)
        supplied = await add_event(db, DossierEventType.SUPPLEMENT_RECEIVED, T0 + hours(5))
        assert supplied.dossier.state == DossierEventType.SUPPLEMENT_RECEIVED
        # two events at one time: the one recorded last stands
        extended = await add_event(db, DossierEventType.EXTENDED, T0 + hours(5))
        assert extended.dossier.state == DossierEventType.EXTENDED
        assert (await db.dossiers.get_dossier("HS-1")).state == DossierEventType.EXTENDED
        events = await db.dossiers.list_dossier_events(made.dossier.id)
        assert [e.type for e in events] == [
            DossierEventType.RECEIVED,
            DossierEventType.SUPPLEMENT_REQUESTED,
            DossierEventType.SUPPLEMENT_RECEIVED,
            DossierEventType.EXTENDED,
        ]

    async def test_a_returned_event_records_the_first_return_and_queues_invitations_once(self, db: Storage):
        (made,) = await put(db, facts())
        await db.dossiers.link_chat(made.dossier.id, "telegram", "42", T0)
        await db.dossiers.link_chat(made.dossier.id, "zalo", "z1", T0)
        assert await db.outbox.pending_invitations() == []
        returned = await add_event(db, DossierEventType.RETURNED, T0 + timedelta(days=1))
        assert returned.dossier.returned_at == T0 + timedelta(days=1)
        assert returned.dossier.state == DossierEventType.RETURNED
        pending = await db.outbox.pending_invitations()
        assert sorted((i.channel, i.chat_id) for i in pending) == [("telegram", "42"), ("zalo", "z1")]
        assert {(i.dossier_id, i.status) for i in pending} == {(made.dossier.id, OutboxStatus.PENDING)}
        again = await add_event(db, DossierEventType.RETURNED, T0 + timedelta(days=2))
        assert again.recorded and again.dossier.returned_at == T0 + timedelta(days=1)
        assert await db.outbox.pending_invitations() == pending
        assert await trail(db, T0) == [
            ("api:one-stop", "dossier created", "HS-1"),
            ("api:one-stop", "dossier event", "HS-1 returned 2026-11-21T02:00:00+00:00"),
            ("api:one-stop", "dossier event", "HS-1 returned 2026-11-22T02:00:00+00:00"),
        ]

    async def test_a_returned_event_keeps_a_return_recorded_before(self, db: Storage):
        dossier = await add_dossier(db, returned=False)
        await db.dossiers.mark_returned("HS-1", T0 + hours(1))
        await db.dossiers.link_chat(dossier.id, "telegram", "42", T0 + hours(2))
        returned = await add_event(db, DossierEventType.RETURNED, T0 + hours(3))
        assert returned.dossier.returned_at == T0 + hours(1)
        assert len(await db.outbox.pending_invitations()) == 1

    async def test_other_events_leave_the_return_alone(self, db: Storage):
        await put(db, facts())
        await add_event(db, DossierEventType.RECEIVED, T0)
        result = await add_event(db, DossierEventType.WITHDRAWN, T0 + hours(1))
        assert result.dossier.returned_at is None
        assert result.dossier.state == DossierEventType.WITHDRAWN

    async def test_an_event_for_an_unknown_or_outside_dossier_is_refused(self, db: Storage):
        (made,) = await put(db, facts("HS-1", "Q3"))
        with pytest.raises(UnknownDossier, match=r"^HS-404$"):
            await add_event(db, DossierEventType.RECEIVED, T0, "HS-404")
        for kind in (DossierEventType.RECEIVED, DossierEventType.RETURNED):
            with pytest.raises(OutOfScope, match=r"^HS-1$"):
                await db.dossiers.add_dossier_event(
                    "HS-1", event(kind, T0), actor="api:one-stop", now=T0 + hours(1), within={"Q1", "Q1-BN"}
                )
        assert await db.dossiers.list_dossier_events(made.dossier.id) == []
        assert await db.dossiers.get_dossier("HS-1") == made.dossier
        inside = await db.dossiers.add_dossier_event(
            "HS-1", event(DossierEventType.RECEIVED, T0), actor="api:one-stop", now=T0, within={"Q3"}
        )
        assert inside.recorded

    async def test_a_dossier_without_events_has_no_history(self, db: Storage):
        (made,) = await put(db, facts())
        assert await db.dossiers.list_dossier_events(made.dossier.id) == []
        assert await db.dossiers.list_dossier_events(made.dossier.id + 1000) == []

    async def test_an_exported_answer_says_what_the_one_stop_software_needs_and_no_more(self, db: Storage):
        given = await answered(db, "HS-1", factors=("waiting", None, "staff", "waiting"))
        (exported,) = await db.dossiers.export_answers(None)
        assert exported.change > 0 and given.dossier_id
        assert (exported.dossier_code, exported.unit_code, exported.procedure) == (
            "HS-1",
            "Q1-BN",
            "Đăng ký kết hôn",
        )
        assert (exported.rating, exported.channel, exported.answered_at) == (
            Rating.UNSATISFIED,
            "telegram",
            T0,
        )
        assert exported.factors == ["waiting", "staff"] and exported.completed
        assert "chat-secret-42" not in exported.model_dump_json()

    async def test_an_answer_under_way_is_exported_not_completed(self, db: Storage):
        await answered(db, "HS-1", factors=("waiting",), finished=False)
        await answered(db, "HS-2", chat="43", finished=False)
        await answered(db, "HS-3", chat="44")
        exported = await db.dossiers.export_answers(None)
        assert [(e.dossier_code, e.factors, e.completed) for e in exported] == [
            ("HS-1", ["waiting"], False),
            ("HS-2", [], False),
            ("HS-3", [], True),
        ]

    async def test_answers_are_exported_in_the_order_given_a_page_at_a_time(self, db: Storage):
        # answered_at out of the order of recording: the export follows the changes
        for n in range(5):
            await answered(db, f"HS-{n}", chat=str(n), now=T0 + hours(5 - n))
        everything = await db.dossiers.export_answers(None)
        assert [e.dossier_code for e in everything] == [f"HS-{n}" for n in range(5)]
        changes = [e.change for e in everything]
        assert changes == sorted(set(changes))
        first = await db.dossiers.export_answers(None, limit=2)
        assert [e.change for e in first] == changes[:2]
        second = await db.dossiers.export_answers(None, after_change=first[-1].change, limit=2)
        assert [e.change for e in second] == changes[2:4]
        last = await db.dossiers.export_answers(None, after_change=second[-1].change, limit=2)
        assert [e.change for e in last] == changes[4:]
        assert await db.dossiers.export_answers(None, after_change=changes[-1]) == []

    async def test_an_answer_that_changes_comes_again_after_the_others(self, db: Storage):
        await answered(db, "HS-1", factors=("waiting",), finished=False)
        await answered(db, "HS-2", chat="43")
        (first, second) = await db.dossiers.export_answers(None)
        assert (first.dossier_code, first.completed) == ("HS-1", False)
        seen = second.change  # a poller's cursor after both
        survey = (await db.chats.get_chat_state("telegram", "chat-secret-42")).survey
        assert survey is not None
        await db.surveys.record_text(survey, "complaint", "Chờ lâu", next_step=None, now=T0 + hours(1))
        (again,) = await db.dossiers.export_answers(None, after_change=seen)
        assert (again.dossier_code, again.completed, again.factors) == ("HS-1", True, ["waiting"])
        assert again.change > seen

    async def test_answers_are_exported_since_a_time(self, db: Storage):
        for n in range(4):
            await answered(db, f"HS-{n}", chat=str(n), now=T0 + hours(n))
        since = await db.dossiers.export_answers(None, since=(T0 + hours(2)).astimezone(VIETNAM))
        assert [e.dossier_code for e in since] == ["HS-2", "HS-3"]  # `since` itself counts
        paged = await db.dossiers.export_answers(None, since=T0 + hours(1), after_change=since[0].change)
        assert [e.dossier_code for e in paged] == ["HS-3"]
        assert await db.dossiers.export_answers(None, since=T0 + hours(4)) == []

    async def test_answers_are_exported_for_the_units_named(self, db: Storage):
        await answered(db, "HS-1", "Q1-BN", chat="1")
        await answered(db, "HS-2", "Q1", chat="2")
        await answered(db, "HS-3", "Q3", chat="3")

        async def codes(units: list[str] | None, **paging: Any) -> list[str]:
            return [e.dossier_code for e in await db.dossiers.export_answers(units, **paging)]

        assert await codes(None) == ["HS-1", "HS-2", "HS-3"]
        # only the units named, not their wards
        assert await codes(["Q1"]) == ["HS-2"]
        assert await codes(["Q1-BN", "Q3"]) == ["HS-1", "HS-3"]
        assert await codes(["Q1-BN", "Q3"], limit=1) == ["HS-1"]
        assert await codes(["HCM"]) == [] and await codes([]) == []
        # a dossier that moved is exported under the unit it is recorded under now
        await put(db, facts("HS-1", "Q3"))
        assert await codes(["Q3"]) == ["HS-1", "HS-3"]


async def test_linked_chats_are_counted_by_dossier(db: Storage):
    first = await add_dossier(db, "HS-LC1")
    other = await add_dossier(db, "HS-LC2")
    assert await db.dossiers.linked_chat_count(first.id) == 0
    await db.dossiers.link_chat(first.id, "telegram", "42", T0)
    await db.dossiers.link_chat(first.id, "zalo", "z-1", T0)
    await db.dossiers.link_chat(first.id, "telegram", "42", T0)  # the same chat again
    counts = (await db.dossiers.linked_chat_count(first.id), await db.dossiers.linked_chat_count(other.id))
    assert counts == (2, 0)
