"""SurveyRepository: survey progress and answers, each answer stored with the step it moves the
survey to, only if the survey still stands where the caller saw it."""

from __future__ import annotations

from datetime import date, timedelta, timezone

import pytest

from storage.base import AlreadyAnswered, StaleStep, Storage
from storage.records import CaseState, FollowUp, Rating
from tests.storage.conftest import DEADLINE, T0, add_dossier, answer, hours, open_case, start_survey


class TestSurveys:
    async def test_a_survey_starts_at_its_first_step(self, db: Storage):
        dossier = await add_dossier(db)
        survey = await db.surveys.start_survey(
            channel="zalo",
            chat_id="z1",
            dossier_id=dossier.id,
            question_set="sipas",
            question_set_version=3,
            first_step="rating",
            now=T0,
        )
        assert (survey.channel, survey.chat_id, survey.dossier_id) == ("zalo", "z1", dossier.id)
        assert (survey.question_set, survey.question_set_version, survey.step) == ("sipas", 3, "rating")
        assert survey.started_at == survey.updated_at == T0
        assert survey.rating is None and survey.unit_name == "UBND Phường Bến Nghé"
        assert (await db.chats.get_chat_state("zalo", "z1")).survey == survey

    async def test_a_new_survey_replaces_the_chats_earlier_one_only(self, db: Storage):
        one, two = await add_dossier(db, "HS-1"), await add_dossier(db, "HS-2")
        await start_survey(db, one.id, "42")
        elsewhere = await start_survey(db, one.id, "43")
        second = await start_survey(db, two.id, "42", now=T0 + hours(1))
        assert (await db.chats.get_chat_state("telegram", "42")).survey == second
        assert (await db.chats.get_chat_state("telegram", "43")).survey == elsewhere

    async def test_a_new_survey_in_a_chat_gets_a_new_id(self, db: Storage):
        one, two = await add_dossier(db, "HS-1"), await add_dossier(db, "HS-2")
        first = await start_survey(db, one.id)
        second = await start_survey(db, two.id)
        assert second.id != first.id and second.dossier_id == two.id
        with pytest.raises(StaleStep):
            await db.surveys.record_rating(
                first, rating=Rating.SATISFIED, option_id="s", next_step=None, now=T0
            )

    async def test_a_survey_of_the_same_dossier_under_way_is_kept_as_it_stands(self, db: Storage):
        dossier = await add_dossier(db)
        first = await start_survey(db, dossier.id)
        await db.surveys.record_rating(
            first, rating=Rating.UNSATISFIED, option_id="u", next_step="problem", now=T0
        )
        again = await start_survey(db, dossier.id, now=T0 + hours(1))  # an invitation sent twice
        assert again.id == first.id and again.step == "problem" and again.rating == Rating.UNSATISFIED

    async def test_a_finished_survey_of_the_same_dossier_is_replaced(self, db: Storage):
        dossier = await add_dossier(db)
        first = await start_survey(db, dossier.id)
        await db.surveys.record_rating(first, rating=Rating.SATISFIED, option_id="s", next_step=None, now=T0)
        assert (await start_survey(db, dossier.id)).id != first.id

    async def test_an_unanswered_dossier_has_no_answer(self, db: Storage):
        dossier = await add_dossier(db)
        await start_survey(db, dossier.id)
        assert await db.surveys.get_answer(dossier.id) is None
        assert await db.surveys.get_answer(dossier.id + 1000) is None

    async def test_a_rating_is_stored_with_what_it_was_given_to(self, db: Storage):
        dossier = await add_dossier(db)
        survey = await start_survey(db, dossier.id)
        answer = await db.surveys.record_rating(
            survey, rating=Rating.NEUTRAL, option_id="normal", next_step="problem", now=T0 + hours(1)
        )
        assert (answer.dossier_id, answer.channel, answer.chat_id) == (dossier.id, "telegram", "42")
        assert (answer.question_set, answer.question_set_version) == ("default", 1)
        assert (answer.rating, answer.rating_option) == (Rating.NEUTRAL, "normal")
        assert answer.answered_at == T0 + hours(1) and answer.completed_at is None
        assert (answer.follow_ups, answer.texts) == ([], {})
        assert await db.surveys.get_answer(dossier.id) == answer
        moved = (await db.chats.get_chat_state("telegram", "42")).survey
        assert (
            moved.step == "problem" and moved.updated_at == T0 + hours(1) and moved.rating == Rating.NEUTRAL
        )

    @pytest.mark.parametrize("late", [True, False, None])
    async def test_whether_the_dossier_was_late_is_stored_with_the_rating(self, db: Storage, late):
        dossier = await add_dossier(db)
        survey = await start_survey(db, dossier.id)
        answer = await db.surveys.record_rating(
            survey, rating=Rating.SATISFIED, option_id="s", next_step=None, now=T0, dossier_late=late
        )
        assert answer.dossier_late is late
        assert (await db.surveys.get_answer(dossier.id)).dossier_late is late

    async def test_survey_steps_are_stored_with_the_answer(self, db: Storage):
        dossier = await add_dossier(db)
        survey = await start_survey(db, dossier.id)
        answer = await db.surveys.record_rating(
            survey, rating=Rating.UNSATISFIED, option_id="unsatisfied", next_step="problem", now=T0
        )
        assert answer.rating == Rating.UNSATISFIED and answer.completed_at is None
        survey = (await db.chats.get_chat_state("telegram", "42")).survey
        assert survey.step == "problem"
        answer = await db.surveys.record_follow_up(
            survey,
            FollowUp(question_id="problem", option_id="staff", factor="staff"),
            next_step="complaint",
            now=T0,
        )
        assert answer.follow_ups == [FollowUp(question_id="problem", option_id="staff", factor="staff")]
        survey = (await db.chats.get_chat_state("telegram", "42")).survey
        answer = await db.surveys.record_text(
            survey,
            "complaint",
            'Lời "trích dẫn" \' và ký tự đặc biệt; DROP TABLE',
            next_step=None,
            now=T0 + timedelta(minutes=2),
        )
        assert answer.texts == {"complaint": 'Lời "trích dẫn" \' và ký tự đặc biệt; DROP TABLE'}
        assert answer.completed_at == T0 + timedelta(minutes=2)
        assert (await db.chats.get_chat_state("telegram", "42")).survey.step is None
        assert await db.surveys.get_answer(dossier.id) == answer

    async def test_a_rating_that_ends_the_survey_completes_the_answer(self, db: Storage):
        dossier = await add_dossier(db)
        answer = await db.surveys.record_rating(
            await start_survey(db, dossier.id),
            rating=Rating.SATISFIED,
            option_id="satisfied",
            next_step=None,
            now=T0,
        )
        assert answer.completed_at == T0
        assert (await db.chats.get_chat_state("telegram", "42")).survey.step is None

    async def test_follow_ups_are_kept_in_the_order_answered(self, db: Storage):
        dossier = await add_dossier(db)
        survey = await start_survey(db, dossier.id)
        await db.surveys.record_rating(
            survey, rating=Rating.UNSATISFIED, option_id="unsatisfied", next_step="problem", now=T0
        )
        first = FollowUp(question_id="problem", option_id="slow", factor="procedure")
        second = FollowUp(question_id="result", option_id="wrong")  # a question without a factor
        survey = (await db.chats.get_chat_state("telegram", "42")).survey
        await db.surveys.record_follow_up(survey, first, next_step="result", now=T0)
        survey = (await db.chats.get_chat_state("telegram", "42")).survey
        answer = await db.surveys.record_follow_up(survey, second, next_step=None, now=T0 + hours(1))
        assert answer.follow_ups == [first, second] and answer.completed_at == T0 + hours(1)

    async def test_a_follow_up_pressed_twice_is_stale(self, db: Storage):
        dossier = await add_dossier(db)
        survey = await start_survey(db, dossier.id)
        await db.surveys.record_rating(
            survey, rating=Rating.UNSATISFIED, option_id="unsatisfied", next_step="problem", now=T0
        )
        at_problem = (await db.chats.get_chat_state("telegram", "42")).survey
        chosen = FollowUp(question_id="problem", option_id="slow")
        await db.surveys.record_follow_up(at_problem, chosen, next_step="complaint", now=T0)
        with pytest.raises(StaleStep):
            await db.surveys.record_follow_up(
                at_problem, FollowUp(question_id="problem", option_id="rude"), next_step="complaint", now=T0
            )
        assert (await db.surveys.get_answer(dossier.id)).follow_ups == [chosen]

    async def test_a_step_answered_twice_is_stale(self, db: Storage):
        dossier = await add_dossier(db)
        survey = await start_survey(db, dossier.id)
        await db.surveys.record_rating(
            survey, rating=Rating.SATISFIED, option_id="satisfied", next_step="comment", now=T0
        )
        with pytest.raises(StaleStep):
            await db.surveys.record_rating(
                survey, rating=Rating.NEUTRAL, option_id="neutral", next_step="x", now=T0
            )
        assert (await db.surveys.get_answer(dossier.id)).rating == Rating.SATISFIED

    async def test_one_answer_per_dossier_across_chats(self, db: Storage):
        dossier = await add_dossier(db)
        first, second = await start_survey(db, dossier.id, "1"), await start_survey(db, dossier.id, "2")
        await db.surveys.record_rating(
            first, rating=Rating.SATISFIED, option_id="satisfied", next_step=None, now=T0
        )
        with pytest.raises(AlreadyAnswered):
            await db.surveys.record_rating(
                second, rating=Rating.NEUTRAL, option_id="neutral", next_step=None, now=T0
            )
        # the failed attempt rolled back: the second chat's survey did not move on
        assert (await db.chats.get_chat_state("telegram", "2")).survey.step == "rating"

    async def test_a_rating_with_a_deadline_opens_the_complaint_case_with_it(self, db: Storage):
        dossier = await add_dossier(db)
        answer = await db.surveys.record_rating(
            await start_survey(db, dossier.id),
            rating=Rating.UNSATISFIED,
            option_id="unsatisfied",
            next_step="problem",
            now=T0,
            case_deadline=DEADLINE,
        )
        (case,) = await db.cases.list_cases(["Q1-BN"])
        assert (case.dossier_id, case.state, case.deadline, case.opened_at) == (
            dossier.id,
            CaseState.NEW,
            DEADLINE,
            T0,
        )
        assert (case.citizen_channel, case.citizen_chat_id, case.rating) == ("telegram", "42", answer.rating)
        assert [e.action for e in await db.cases.case_events(case.id)] == ["opened"]

    async def test_a_rating_without_a_deadline_opens_no_case(self, db: Storage):
        await answer(db, rating=Rating.UNSATISFIED)
        assert await db.cases.list_cases(["Q1-BN"]) == []

    async def test_a_refused_rating_opens_no_case(self, db: Storage):
        dossier = await add_dossier(db)
        first, second = await start_survey(db, dossier.id, "1"), await start_survey(db, dossier.id, "2")
        await db.surveys.record_rating(
            first, rating=Rating.SATISFIED, option_id="satisfied", next_step="comment", now=T0
        )
        with pytest.raises(AlreadyAnswered):
            await db.surveys.record_rating(
                second,
                rating=Rating.UNSATISFIED,
                option_id="u",
                next_step=None,
                now=T0,
                case_deadline=DEADLINE,
            )
        with pytest.raises(StaleStep):
            await db.surveys.record_rating(
                first,
                rating=Rating.UNSATISFIED,
                option_id="u",
                next_step=None,
                now=T0,
                case_deadline=DEADLINE,
            )
        assert await db.cases.list_cases(["Q1-BN"], states=list(CaseState)) == []

    async def test_a_skipped_text_moves_on_and_stores_nothing(self, db: Storage):
        dossier = await add_dossier(db)
        survey = await start_survey(db, dossier.id)
        await db.surveys.record_rating(
            survey, rating=Rating.SATISFIED, option_id="satisfied", next_step="comment", now=T0
        )
        survey = (await db.chats.get_chat_state("telegram", "42")).survey
        answer = await db.surveys.record_text(survey, "comment", None, next_step=None, now=T0 + hours(1))
        assert answer.texts == {} and answer.completed_at == T0 + hours(1)
        assert (await db.chats.get_chat_state("telegram", "42")).survey.step is None

    async def test_texts_are_kept_by_question(self, db: Storage):
        dossier = await add_dossier(db)
        survey = await start_survey(db, dossier.id)
        await db.surveys.record_rating(
            survey, rating=Rating.NEUTRAL, option_id="neutral", next_step="comment", now=T0
        )
        survey = (await db.chats.get_chat_state("telegram", "42")).survey
        await db.surveys.record_text(survey, "comment", "Chờ lâu", next_step="idea", now=T0)
        survey = (await db.chats.get_chat_state("telegram", "42")).survey
        answer = await db.surveys.record_text(survey, "idea", "Thêm quầy", next_step=None, now=T0)
        assert answer.texts == {"comment": "Chờ lâu", "idea": "Thêm quầy"}

    async def test_a_text_sent_twice_is_stale(self, db: Storage):
        dossier = await add_dossier(db)
        survey = await start_survey(db, dossier.id)
        await db.surveys.record_rating(
            survey, rating=Rating.NEUTRAL, option_id="neutral", next_step="comment", now=T0
        )
        survey = (await db.chats.get_chat_state("telegram", "42")).survey
        await db.surveys.record_text(survey, "comment", "lần một", next_step=None, now=T0)
        with pytest.raises(StaleStep):
            await db.surveys.record_text(survey, "comment", "lần hai", next_step=None, now=T0)
        assert (await db.surveys.get_answer(dossier.id)).texts == {"comment": "lần một"}

    async def test_a_text_before_any_rating_is_stale(self, db: Storage):
        dossier = await add_dossier(db)
        survey = await start_survey(db, dossier.id)
        with pytest.raises(StaleStep):
            await db.surveys.record_text(survey, "rating", "xin chào", next_step=None, now=T0)
        assert await db.surveys.get_answer(dossier.id) is None
        assert (await db.chats.get_chat_state("telegram", "42")).survey.step == "rating"

    async def test_a_text_with_a_deadline_opens_the_case_once(self, db: Storage):
        dossier = await add_dossier(db)
        survey = await start_survey(db, dossier.id)
        await db.surveys.record_rating(
            survey, rating=Rating.NEUTRAL, option_id="neutral", next_step="complaint", now=T0
        )
        assert await db.cases.list_cases(["Q1-BN"]) == []  # a neutral rating alone opens nothing
        survey = (await db.chats.get_chat_state("telegram", "42")).survey
        await db.surveys.record_text(
            survey, "complaint", "Cán bộ hẹn lại nhiều lần", next_step="more", now=T0, case_deadline=DEADLINE
        )
        (case,) = await db.cases.list_cases(["Q1-BN"])
        assert case.texts == {"complaint": "Cán bộ hẹn lại nhiều lần"} and case.deadline == DEADLINE
        survey = (await db.chats.get_chat_state("telegram", "42")).survey
        later = date(2026, 12, 1)
        await db.surveys.record_text(
            survey, "more", "Thêm", next_step=None, now=T0 + hours(1), case_deadline=later
        )
        (still,) = await db.cases.list_cases(["Q1-BN"])
        assert still.id == case.id and still.deadline == DEADLINE and still.opened_at == T0
        assert [e.action for e in await db.cases.case_events(case.id)] == ["opened"]

    async def test_cool_down_looks_at_answer_times(self, db: Storage):
        dossier = await add_dossier(db)
        survey = await start_survey(db, dossier.id)
        await db.surveys.record_rating(
            survey, rating=Rating.SATISFIED, option_id="satisfied", next_step=None, now=T0
        )
        assert await db.surveys.answered_since("telegram", "42", T0 - timedelta(days=7))
        assert await db.surveys.answered_since("telegram", "42", T0)  # `since` itself counts
        assert not await db.surveys.answered_since("telegram", "42", T0 + timedelta(seconds=1))
        assert not await db.surveys.answered_since("telegram", "43", T0 - timedelta(days=7))
        assert not await db.surveys.answered_since("zalo", "42", T0 - timedelta(days=7))

    async def test_a_survey_started_but_unanswered_is_no_cool_down(self, db: Storage):
        dossier = await add_dossier(db)
        await start_survey(db, dossier.id)
        assert not await db.surveys.answered_since("telegram", "42", T0 - timedelta(days=7))

    async def test_answers_are_listed_by_unit_subtree(self, db: Storage):
        for code, unit, chat in (("A", "Q1-BN", "1"), ("B", "Q1", "2"), ("C", "Q3", "3")):
            dossier = await add_dossier(db, code=code, unit=unit)
            survey = await start_survey(db, dossier.id, chat)
            await db.surveys.record_rating(
                survey, rating=Rating.NEUTRAL, option_id="neutral", next_step=None, now=T0
            )
        assert [r.dossier_code for r in await db.surveys.list_answers()] == ["A", "B", "C"]
        assert [r.dossier_code for r in await db.surveys.list_answers("HCM")] == ["A", "B", "C"]
        assert [r.dossier_code for r in await db.surveys.list_answers("Q1")] == ["A", "B"]
        assert [r.dossier_code for r in await db.surveys.list_answers("Q1-BN")] == ["A"]
        assert await db.surveys.list_answers("Q99") == []
        (row,) = await db.surveys.list_answers("Q3")
        assert row.unit_name == "UBND Quận 3" and row.procedure == "Đăng ký kết hôn"
        assert row.unit_code == "Q3" and row.answer == await db.surveys.get_answer(row.answer.dossier_id)

    async def test_answers_are_listed_oldest_first(self, db: Storage):
        await answer(db, "LATE", chat="1", now=T0 + hours(2))
        await answer(db, "EARLY", chat="2", now=T0)
        await answer(db, "MIDDLE", chat="3", now=T0 + hours(1))
        assert [r.dossier_code for r in await db.surveys.list_answers()] == ["EARLY", "MIDDLE", "LATE"]

    async def test_answers_that_opened_a_case_are_listed_with_it(self, db: Storage):
        await answer(db, "HS-OK", chat="1", now=T0)
        case = await open_case(db, "HS-BAD", chat="2", now=T0 + hours(1))
        await db.cases.change_case(
            case.id,
            from_states=[CaseState.NEW],
            to_state=CaseState.RESOLVED,
            actor="person:1",
            action="resolved",
            now=T0 + hours(2),
        )
        plain, complaint = await db.surveys.list_answers()
        assert (plain.dossier_code, plain.case_id, plain.case_state) == ("HS-OK", None, None)
        assert (complaint.dossier_code, complaint.case_id, complaint.case_state) == (
            "HS-BAD",
            case.id,
            CaseState.RESOLVED,
        )

    async def test_times_are_instants_whatever_their_zone(self, db: Storage):
        vietnam = timezone(timedelta(hours=7), "ICT")
        dossier = await add_dossier(db)
        survey = await start_survey(db, dossier.id)
        await db.surveys.record_rating(
            survey, rating=Rating.SATISFIED, option_id="satisfied", next_step=None, now=T0.astimezone(vietnam)
        )
        assert await db.surveys.answered_since("telegram", "42", T0)
        assert await db.surveys.answered_since("telegram", "42", T0.astimezone(vietnam))
        assert not await db.surveys.answered_since("telegram", "42", T0 + timedelta(seconds=1))
        assert not await db.surveys.answered_since("telegram", "42", (T0 + hours(1)).astimezone(vietnam))
        assert (await db.surveys.get_answer(dossier.id)).answered_at == T0


class TestWholeAnswers:
    async def whole(self, db: Storage, dossier_id: int, **given: object):
        values: dict = {
            "channel": "zns", "chat_id": "84901234567", "question_set": "zns-rating",
            "rating": Rating.UNSATISFIED, "option_id": "stars_2",
            "follow_ups": [FollowUp(question_id="chips", option_id="Chờ đợi lâu", factor="access")],
            "texts": {"note": "Trả kết quả trễ hẹn"}, "answered_at": T0 - hours(1), "now": T0,
        }  # fmt: skip
        values.update(given)
        return await db.surveys.record_whole_answer(dossier_id, **values)

    async def test_a_whole_answer_is_stored_complete_at_once(self, db: Storage):
        dossier = await add_dossier(db)
        stored = await self.whole(db, dossier.id, dossier_late=True)
        assert (stored.channel, stored.chat_id, stored.question_set, stored.rating, stored.rating_option) == (
            "zns", "84901234567", "zns-rating", Rating.UNSATISFIED, "stars_2",
        )  # fmt: skip
        assert stored.follow_ups == [FollowUp(question_id="chips", option_id="Chờ đợi lâu", factor="access")]
        assert stored.texts == {"note": "Trả kết quả trễ hẹn"}
        assert (stored.answered_at, stored.completed_at) == (T0 - hours(1), T0)
        assert (stored.dossier_late, stored.letter_sent) == (True, False)
        assert await db.surveys.get_answer(dossier.id) == stored
        assert await db.surveys.answered_since("zns", "84901234567", T0 - hours(1))
        assert await db.cases.list_cases(["Q1-BN"], states=list(CaseState)) == []

    async def test_a_whole_answer_opens_its_case_with_a_deadline(self, db: Storage):
        dossier = await add_dossier(db)
        await self.whole(db, dossier.id, case_deadline=DEADLINE)
        (case,) = await db.cases.list_cases(["Q1-BN"], states=list(CaseState))
        assert (case.dossier_id, case.deadline, case.citizen_channel, case.citizen_chat_id) == (
            dossier.id, DEADLINE, "zns", "84901234567",
        )  # fmt: skip

    async def test_a_dossier_answered_already_keeps_its_answer(self, db: Storage):
        first = await answer(db)
        with pytest.raises(AlreadyAnswered):
            await self.whole(db, first.dossier_id, case_deadline=DEADLINE)
        assert await db.surveys.get_answer(first.dossier_id) == first
        assert await db.cases.list_cases(["Q1-BN"], states=list(CaseState)) == []
