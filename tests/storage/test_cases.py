"""CaseRepository: complaint cases and their history; a change records its event and queues its
notices in the same transaction, or does nothing at all."""

from __future__ import annotations

from datetime import date

from storage.base import Storage
from storage.records import OPEN_STATES, CaseState, FollowUp, NoticeTo, Rating, Role
from tests.storage.conftest import (
    DEADLINE,
    T0,
    TG_2001,
    TG_2002,
    add_dossier,
    entry,
    hours,
    open_case,
    set_people,
    start_survey,
)

HEAD = NoticeTo(kind="case_new", channel="telegram", chat_id="2001", person_id=None)
CITIZEN = NoticeTo(kind="case_assigned", channel="telegram", chat_id="42")


async def assign(db: Storage, case_id: int, assignee_id: int, now=T0):
    return await db.cases.change_case(
        case_id,
        from_states=[CaseState.NEW, CaseState.REOPENED],
        to_state=CaseState.ASSIGNED,
        actor="person:1",
        action="assigned",
        now=now,
        assignee_id=assignee_id,
    )


async def move(db: Storage, case_id: int, to_state: CaseState, now=T0):
    return await db.cases.change_case(
        case_id, from_states=list(CaseState), to_state=to_state, actor="test", action=to_state.value, now=now
    )


class TestCases:
    async def test_a_case_carries_the_dossier_and_what_the_citizen_said(self, db: Storage):
        dossier = await add_dossier(db)
        survey = await start_survey(db, dossier.id, "42", channel="telegram")
        await db.surveys.record_rating(
            survey, rating=Rating.UNSATISFIED, option_id="unsatisfied", next_step="problem", now=T0
        )
        survey = (await db.chats.get_chat_state("telegram", "42")).survey
        reason = FollowUp(question_id="problem", option_id="slow", factor="procedure")
        await db.surveys.record_follow_up(survey, reason, next_step="complaint", now=T0)
        survey = (await db.chats.get_chat_state("telegram", "42")).survey
        await db.surveys.record_text(
            survey, "complaint", "Hẹn ba lần", next_step=None, now=T0 + hours(1), case_deadline=DEADLINE
        )
        (listed,) = await db.cases.list_cases(["Q1-BN"])
        case = await db.cases.get_case(listed.id)
        assert case == listed
        assert (case.dossier_id, case.dossier_code, case.procedure) == (dossier.id, "HS-1", "Đăng ký kết hôn")
        assert (case.unit_code, case.unit_name, case.state) == (
            "Q1-BN",
            "UBND Phường Bến Nghé",
            CaseState.NEW,
        )
        assert (case.opened_at, case.updated_at, case.deadline) == (T0 + hours(1), T0 + hours(1), DEADLINE)
        assert (case.assignee_id, case.assignee_name, case.resolution) == (None, None, None)
        assert (case.citizen_channel, case.citizen_chat_id, case.rating) == (
            "telegram",
            "42",
            Rating.UNSATISFIED,
        )
        assert case.follow_ups == [reason] and case.texts == {"complaint": "Hẹn ba lần"}

    async def test_a_missing_case_is_none(self, db: Storage):
        case = await open_case(db)
        assert await db.cases.get_case(case.id + 1000) is None
        assert await db.cases.case_events(case.id + 1000) == []

    async def test_cases_are_listed_oldest_first(self, db: Storage):
        late = await open_case(db, "HS-LATE", chat="1", now=T0 + hours(2))
        early = await open_case(db, "HS-EARLY", chat="2", now=T0)
        middle = await open_case(db, "HS-MID", chat="3", now=T0 + hours(1))
        assert [c.id for c in await db.cases.list_cases(["Q1-BN"])] == [early.id, middle.id, late.id]

    async def test_cases_are_listed_for_the_units_named(self, db: Storage):
        ward = await open_case(db, "HS-1", "Q1-BN", chat="1", now=T0)
        district = await open_case(db, "HS-2", "Q1", chat="2", now=T0 + hours(1))
        await open_case(db, "HS-3", "Q3", chat="3", now=T0 + hours(2))
        assert [c.id for c in await db.cases.list_cases(["Q1"])] == [district.id]
        assert [c.id for c in await db.cases.list_cases(["Q1-BN", "Q1"])] == [ward.id, district.id]
        assert await db.cases.list_cases(["HCM"]) == []
        assert await db.cases.list_cases([]) == []
        assert await db.cases.count_cases(["Q1-BN", "Q1"]) == 2
        assert await db.cases.count_cases([]) == 0

    async def test_cases_are_listed_by_state_open_ones_by_default(self, db: Storage):
        made = {state: await open_case(db, f"HS-{state.value}", chat=state.value) for state in CaseState}
        for state, case in made.items():
            if state != CaseState.NEW:
                await move(db, case.id, state)
        assert {c.state for c in await db.cases.list_cases(["Q1-BN"])} == set(OPEN_STATES)
        assert await db.cases.count_cases(["Q1-BN"]) == len(OPEN_STATES)
        (resolved,) = await db.cases.list_cases(["Q1-BN"], states=[CaseState.RESOLVED])
        assert resolved.id == made[CaseState.RESOLVED].id
        assert await db.cases.count_cases(["Q1-BN"], states=[CaseState.RESOLVED, CaseState.CLOSED]) == 2
        assert await db.cases.list_cases(["Q1-BN"], states=[]) == []

    async def test_cases_are_listed_by_opening_time(self, db: Storage):
        at_t0 = await open_case(db, "HS-1", chat="1", now=T0)
        later = await open_case(db, "HS-2", chat="2", now=T0 + hours(1))
        # strictly after: a case opened at that very time is not new since then
        assert [c.id for c in await db.cases.list_cases(["Q1-BN"], opened_after=T0)] == [later.id]
        assert await db.cases.count_cases(["Q1-BN"], opened_after=T0) == 1
        assert [c.id for c in await db.cases.list_cases(["Q1-BN"], opened_after=T0 - hours(1))] == [
            at_t0.id,
            later.id,
        ]
        assert await db.cases.list_cases(["Q1-BN"], opened_after=T0 + hours(1)) == []

    async def test_cases_are_listed_by_deadline(self, db: Storage):
        due_21 = await open_case(db, "HS-1", chat="1", deadline=date(2026, 11, 21))
        await open_case(db, "HS-2", chat="2", deadline=date(2026, 11, 22))
        # strictly before: a case due on the day is not yet overdue that day
        assert [c.id for c in await db.cases.list_cases(["Q1-BN"], deadline_before=date(2026, 11, 22))] == [
            due_21.id
        ]
        assert await db.cases.count_cases(["Q1-BN"], deadline_before=date(2026, 11, 22)) == 1
        assert await db.cases.count_cases(["Q1-BN"], deadline_before=date(2026, 11, 23)) == 2
        assert await db.cases.count_cases(["Q1-BN"], deadline_before=date(2026, 11, 21)) == 0

    async def test_cases_are_listed_by_assignee(self, db: Storage):
        binh, chi = await set_people(
            db, [entry("Q1-BN", Role.STAFF, "Bình", TG_2001), entry("Q1-BN", Role.STAFF, "Chi", TG_2002)]
        )
        first = await open_case(db, "HS-1", chat="1", now=T0)
        second = await open_case(db, "HS-2", chat="2", now=T0 + hours(1))
        await open_case(db, "HS-3", chat="3", now=T0 + hours(2))
        await assign(db, first.id, binh.id)
        await assign(db, second.id, chi.id)
        assert [c.id for c in await db.cases.list_cases(["Q1-BN"], assignee_id=binh.id)] == [first.id]
        assert await db.cases.count_cases(["Q1-BN"], assignee_id=chi.id) == 1
        assert await db.cases.count_cases(["Q1-BN"], assignee_id=binh.id, states=[CaseState.NEW]) == 0

    async def test_cases_are_listed_a_page_at_a_time(self, db: Storage):
        made = [await open_case(db, f"HS-{n}", chat=str(n), now=T0 + hours(n)) for n in range(5)]
        ids = [c.id for c in made]
        page = [c.id for c in await db.cases.list_cases(["Q1-BN"], limit=2)]
        assert page == ids[:2]
        assert [c.id for c in await db.cases.list_cases(["Q1-BN"], limit=2, offset=2)] == ids[2:4]
        assert [c.id for c in await db.cases.list_cases(["Q1-BN"], limit=2, offset=4)] == ids[4:]
        assert await db.cases.list_cases(["Q1-BN"], limit=2, offset=5) == []
        assert [c.id for c in await db.cases.list_cases(["Q1-BN"], offset=3)] == ids[3:]
        assert [c.id for c in await db.cases.list_cases(["Q1-BN"], limit=None)] == ids
        # counting ignores paging
        assert await db.cases.count_cases(["Q1-BN"]) == 5

    async def test_a_change_moves_the_case_records_its_event_and_queues_its_notices(self, db: Storage):
        (binh,) = await set_people(db, [entry("Q1-BN", Role.STAFF, "Bình", TG_2001)])
        case = await open_case(db)
        to_staff = NoticeTo(kind="case_assigned_staff", channel="telegram", chat_id="2001", person_id=binh.id)
        changed = await db.cases.change_case(
            case.id,
            from_states=[CaseState.NEW],
            to_state=CaseState.ASSIGNED,
            actor=f"person:{binh.id}",
            action="assigned",
            now=T0 + hours(1),
            note="Gọi lại trước 17 giờ",
            assignee_id=binh.id,
            notices=[to_staff, CITIZEN],
        )
        assert changed == await db.cases.get_case(case.id)
        assert (changed.state, changed.assignee_id, changed.assignee_name) == (
            CaseState.ASSIGNED,
            binh.id,
            "Bình",
        )
        assert changed.updated_at == T0 + hours(1) and changed.opened_at == case.opened_at
        last = (await db.cases.case_events(case.id))[-1]
        assert (last.case_id, last.at, last.actor, last.action, last.note) == (
            case.id,
            T0 + hours(1),
            f"person:{binh.id}",
            "assigned",
            "Gọi lại trước 17 giờ",
        )
        queued = await db.outbox.pending_notices()
        assert [
            NoticeTo.model_validate(n.model_dump(include=set(NoticeTo.model_fields))) for n in queued
        ] == [
            to_staff,
            CITIZEN,
        ]
        assert {n.case_id for n in queued} == {case.id}

    async def test_an_assignee_or_resolution_given_replaces_the_cases_and_none_keeps_it(self, db: Storage):
        binh, chi = await set_people(
            db, [entry("Q1-BN", Role.STAFF, "Bình", TG_2001), entry("Q1-BN", Role.STAFF, "Chi", TG_2002)]
        )
        case = await open_case(db)
        await assign(db, case.id, binh.id)
        resolved = await db.cases.change_case(
            case.id,
            from_states=[CaseState.ASSIGNED],
            to_state=CaseState.RESOLVED,
            actor="person:2",
            action="resolved",
            now=T0 + hours(1),
            resolution="Đã trả kết quả",
        )
        assert (resolved.assignee_id, resolved.resolution) == (binh.id, "Đã trả kết quả")
        reopened = await move(db, case.id, CaseState.REOPENED, now=T0 + hours(2))
        assert (reopened.assignee_id, reopened.resolution) == (binh.id, "Đã trả kết quả")
        reassigned = await assign(db, case.id, chi.id, now=T0 + hours(3))
        assert (reassigned.assignee_id, reassigned.assignee_name) == (chi.id, "Chi")
        again = await db.cases.change_case(
            case.id,
            from_states=[CaseState.ASSIGNED],
            to_state=CaseState.RESOLVED,
            actor="person:3",
            action="resolved",
            now=T0 + hours(4),
            resolution="Đã gọi điện",
        )
        assert again.resolution == "Đã gọi điện"

    async def test_a_change_from_a_wrong_state_changes_nothing_and_queues_nothing(self, db: Storage):
        (binh,) = await set_people(db, [entry("Q1-BN", Role.STAFF, "Bình", TG_2001)])
        case = await open_case(db)
        stale = await db.cases.change_case(
            case.id,
            from_states=[CaseState.ASSIGNED],
            to_state=CaseState.RESOLVED,
            actor="person:1",
            action="resolved",
            now=T0 + hours(1),
            note="nhấn lại nút cũ",
            assignee_id=binh.id,
            resolution="xong",
            notices=[HEAD, CITIZEN],
        )
        assert stale is None
        assert await db.cases.get_case(case.id) == case
        assert [e.action for e in await db.cases.case_events(case.id)] == ["opened"]
        assert await db.outbox.pending_notices() == []

    async def test_a_change_of_a_missing_case_is_none(self, db: Storage):
        case = await open_case(db)
        missing = await db.cases.change_case(
            case.id + 1000,
            from_states=list(CaseState),
            to_state=CaseState.CLOSED,
            actor="person:1",
            action="closed",
            now=T0,
            notices=[CITIZEN],
        )
        assert missing is None and await db.outbox.pending_notices() == []

    async def test_a_case_history_is_kept_oldest_first(self, db: Storage):
        (binh,) = await set_people(db, [entry("Q1-BN", Role.STAFF, "Bình", TG_2001)])
        case = await open_case(db, now=T0)
        await assign(db, case.id, binh.id, now=T0 + hours(1))
        await move(db, case.id, CaseState.RESOLVED, now=T0 + hours(2))
        await move(db, case.id, CaseState.CLOSED, now=T0 + hours(3))
        events = await db.cases.case_events(case.id)
        assert [(e.action, e.at) for e in events] == [
            ("opened", T0),
            ("assigned", T0 + hours(1)),
            ("resolved", T0 + hours(2)),
            ("closed", T0 + hours(3)),
        ]
        assert events[0].actor == "citizen" and {e.case_id for e in events} == {case.id}
        other = await open_case(db, "HS-2", chat="43")
        assert [e.action for e in await db.cases.case_events(other.id)] == ["opened"]

    async def test_a_case_says_whether_the_citizen_finished_the_survey(self, db: Storage):
        dossier = await add_dossier(db)
        await db.surveys.record_rating(
            await start_survey(db, dossier.id),
            rating=Rating.UNSATISFIED,
            option_id="unsatisfied",
            next_step="complaint",
            now=T0,
            case_deadline=DEADLINE,
        )
        (case,) = await db.cases.list_cases(["Q1-BN"])
        assert not case.survey_done  # the citizen may still be writing
        survey = (await db.chats.get_chat_state("telegram", "42")).survey
        await db.surveys.record_text(survey, "complaint", "Hẹn ba lần", next_step=None, now=T0 + hours(1))
        assert (await db.cases.get_case(case.id)).survey_done


class TestAnnouncements:
    async def test_open_cases_wait_to_be_announced_oldest_first(self, db: Storage):
        late = await open_case(db, "HS-LATE", chat="1", now=T0 + hours(2))
        early = await open_case(db, "HS-EARLY", "Q3", chat="2", now=T0)
        closed = await open_case(db, "HS-CLOSED", chat="3", now=T0 + hours(1))
        await move(db, closed.id, CaseState.CLOSED)
        waiting = await db.cases.unannounced_cases()
        assert [c.id for c in waiting] == [early.id, late.id]
        assert waiting[0] == await db.cases.get_case(early.id)
        assert [c.id for c in await db.cases.unannounced_cases(limit=1)] == [early.id]

    async def test_an_announcement_is_claimed_once(self, db: Storage):
        first = await open_case(db, "HS-1", chat="1", now=T0)
        second = await open_case(db, "HS-2", chat="2", now=T0 + hours(1))
        third = await open_case(db, "HS-3", chat="3", now=T0 + hours(2))
        assert await db.cases.mark_announced([first.id], T0 + hours(3)) == [first.id]
        # a second sender (or a second run) claims only what nobody claimed before
        claimed = await db.cases.mark_announced([third.id, first.id, second.id], T0 + hours(3))
        assert sorted(claimed) == sorted([second.id, third.id])
        assert await db.cases.mark_announced([first.id, second.id, third.id], T0 + hours(4)) == []
        assert await db.cases.unannounced_cases() == []

    async def test_announcing_nothing_or_a_missing_case_claims_nothing(self, db: Storage):
        case = await open_case(db)
        assert await db.cases.mark_announced([], T0) == []
        assert await db.cases.mark_announced([case.id + 1000], T0) == []
        assert [c.id for c in await db.cases.unannounced_cases()] == [case.id]

    async def test_an_announced_case_stays_announced_whatever_happens_to_it(self, db: Storage):
        case = await open_case(db)
        await db.cases.mark_announced([case.id], T0)
        await move(db, case.id, CaseState.REOPENED, now=T0 + hours(1))
        assert await db.cases.unannounced_cases() == []
