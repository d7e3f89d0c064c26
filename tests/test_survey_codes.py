"""Survey codes typed where there are no links (Zalo, the terminal): a typed code is never an
answer, at any step it resumes the survey where it stands; only text that can be nothing but a code
counts as a wrong guess, so words never lock a chat out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.app import links_for
from handlers.links import new_survey_code
from storage.records import Rating
from tests.conftest import NOW, Citizen, labels, texts

RATINGS = ["Hài lòng", "Bình thường", "Không hài lòng"]
WRONG = "không tìm thấy mã"
LOCKED = "sai mã nhiều lần"
OUTSIDE = "không có phiếu khảo sát nào đang mở"


async def coded_dossier(config, store, code: str = "", dossier_code: str = "HS-Z1", **extra):
    code = code or new_survey_code()
    fields = {"returned_at": NOW, **extra}
    dossier = await store.dossiers.add_dossier(
        code=dossier_code, unit_code="Q1-BN", procedure="Đăng ký khai sinh",
        link_id=links_for(config).new_link_id(), now=NOW, survey_code=code, **fields,
    )  # fmt: skip
    return dossier, code


# Item 4: the code again, at any step


async def test_the_code_sent_again_at_the_free_text_question_asks_it_again_and_stores_nothing(
    config, store, dispatcher
):
    dossier, code = await coded_dossier(config, store)
    dan = Citizen(dispatcher, chat_id="z-dan", channel="zalo")
    await dan.say(code)
    await dan.say("3")
    await dan.say("6")
    assert labels(dan.last) == ["Bỏ qua"]  # the free-text question
    again = await dan.say(code.lower().replace("-", " "))  # no reply came, so the citizen sends it again
    assert labels(again) == ["Bỏ qua"] and again[0].text == dan.last[0].text
    answer = await store.surveys.get_answer(dossier.id)
    assert answer.texts == {} and (await store.chats.get_chat_state("zalo", "z-dan")).survey.step is not None
    await dan.say("Cán bộ hẹn ba lần không trả")
    assert (await store.surveys.get_answer(dossier.id)).texts == {"complaint": "Cán bộ hẹn ba lần không trả"}


async def test_the_code_sent_again_at_any_step_resumes_where_the_survey_stands(config, store, dispatcher):
    dossier, code = await coded_dossier(config, store)
    dan = Citizen(dispatcher, chat_id="z-dan", channel="zalo")
    assert labels(await dan.say(code)) == RATINGS
    assert labels(await dan.say(code)) == RATINGS  # the rating question again, nothing recorded
    assert await store.surveys.get_answer(dossier.id) is None
    follow_up = labels(await dan.say("3"))
    assert labels(await dan.say(code)) == follow_up
    assert (await store.surveys.get_answer(dossier.id)).follow_ups == []


async def test_a_code_printed_before_the_check_characters_resumes_too(config, store, dispatcher):
    dossier, _ = await coded_dossier(config, store, code="ABCDE-FGHJK")
    dan = Citizen(dispatcher, chat_id="z-dan", channel="zalo")
    await dan.say("abcde fghjk")
    await dan.say("3")
    await dan.say("6")
    assert labels(await dan.say("ABCDEFGHJK")) == ["Bỏ qua"]
    assert (await store.surveys.get_answer(dossier.id)).texts == {}


async def test_another_dossiers_code_mid_survey_follows_the_rules_for_opening_it(config, store, dispatcher):
    first, first_code = await coded_dossier(config, store)
    second, second_code = await coded_dossier(config, store, dossier_code="HS-Z2")
    _, waiting_code = await coded_dossier(config, store, dossier_code="HS-Z3", returned_at=None)
    dan = Citizen(dispatcher, chat_id="z-dan", channel="zalo")
    await dan.say(first_code)
    await dan.say("3")
    replies = await dan.say(waiting_code)  # not returned yet: said so, and the survey under way goes on
    assert "chưa có kết quả" in texts(replies)
    assert labels(replies)[-1] == "Lý do khác"
    assert labels(await dan.say(second_code)) == RATINGS  # another returned dossier: its survey begins
    await dan.say("1")
    assert (await store.surveys.get_answer(second.id)).rating == Rating.SATISFIED
    assert (await store.surveys.get_answer(first.id)).rating == Rating.UNSATISFIED


async def test_a_mistyped_code_mid_survey_is_no_answer(config, store, dispatcher):
    dossier, code = await coded_dossier(config, store)
    dan = Citizen(dispatcher, chat_id="z-dan", channel="zalo")
    await dan.say(code)
    await dan.say("3")
    await dan.say("6")
    mistyped = code[:-1] + ("0" if code[-1] != "0" else "1")
    replies = await dan.say(mistyped)
    assert WRONG in texts(replies) and labels(replies) == ["Bỏ qua"]
    assert (await store.surveys.get_answer(dossier.id)).texts == {}


async def test_words_that_look_like_an_old_code_are_a_complaint_at_the_free_text_question(
    config, store, dispatcher
):
    dossier, code = await coded_dossier(config, store)
    dan = Citizen(dispatcher, chat_id="z-dan", channel="zalo")
    await dan.say(code)
    await dan.say("3")
    await dan.say("6")
    await dan.say("khong thich")
    assert (await store.surveys.get_answer(dossier.id)).texts == {"complaint": "khong thich"}


# Item 16: only text that can be nothing but a code counts as a wrong guess


@pytest.mark.parametrize("words", ["hello world", "khong thich", "KHONG-THICH", "09012 34567"])
async def test_words_outside_a_survey_never_count_as_wrong_codes(config, store, dispatcher, words: str):
    _, code = await coded_dossier(config, store)
    dan = Citizen(dispatcher, chat_id="z-dan", channel="zalo")
    for _ in range(10):
        replies = await dan.say(words)
        assert OUTSIDE in texts(replies) and WRONG not in texts(replies)
    assert labels(await dan.say(code)) == RATINGS  # the real code still opens the survey


async def test_mistyped_codes_are_told_but_not_counted(config, store, dispatcher):
    _, code = await coded_dossier(config, store)
    dan = Citizen(dispatcher, chat_id="z-dan", channel="zalo")
    mistyped = code[:-1] + ("0" if code[-1] != "0" else "1")
    for _ in range(6):
        assert WRONG in texts(await dan.say(mistyped))
    assert labels(await dan.say(code)) == RATINGS


async def test_five_codes_that_can_only_be_guesses_slow_the_chat(config, store, dispatcher):
    _, code = await coded_dossier(config, store)
    guesser = Citizen(dispatcher, chat_id="z-guess", channel="zalo")
    for guess in [new_survey_code() for _ in range(4)] + ["7K3QM-X9D2F"]:  # an old-style one too
        assert WRONG in texts(await guesser.say(guess))
    assert LOCKED in texts(await guesser.say(code))  # even the right one waits an hour
    assert OUTSIDE in texts(await guesser.say("hello world"))  # words are still only words
    guesser.now = NOW + timedelta(hours=1, seconds=1)
    assert labels(await guesser.say(code)) == RATINGS
