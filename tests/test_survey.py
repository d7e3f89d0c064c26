"""The citizen's survey through the dispatcher, with a real SQLite database."""

from __future__ import annotations

import asyncio
import unicodedata
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import build_dispatcher, links_for
from bot.config import Config
from handlers.dispatch import Dispatcher
from handlers.survey import SurveyOption
from handlers.typed import folded
from storage.records import Rating
from storage.sqlite import SQLiteStorage
from tests.conftest import NOW, Citizen, add_dossier, labels, texts


async def test_unsatisfied_flow_records_rating_follow_up_and_complaint(config, store, dispatcher):
    dossier, token = await add_dossier(config, store)
    alice = Citizen(dispatcher)

    replies = await alice.command("start", token)
    assert len(replies) == 1
    assert "Đăng ký khai sinh" in replies[0].text and "UBND Phường Bến Nghé" in replies[0].text
    assert labels(replies) == ["Hài lòng", "Bình thường", "Không hài lòng"]

    replies = await alice.press("Không hài lòng")
    assert "chưa hài lòng" in texts(replies)
    assert "Thái độ, hướng dẫn của cán bộ" in labels(replies)
    assert labels(replies)[-1] == "Lý do khác"
    answer = await store.surveys.get_answer(dossier.id)
    assert answer is not None and answer.rating == Rating.UNSATISFIED  # stored at the first tap

    replies = await alice.press("Thái độ, hướng dẫn của cán bộ")
    assert labels(replies) == ["Bỏ qua"]

    replies = await alice.say("  Cán bộ không hướng dẫn, tôi phải đi lại 3 lần.  ")
    assert "Thủ trưởng UBND Phường Bến Nghé" in texts(replies)
    assert not labels(replies)

    answer = await store.surveys.get_answer(dossier.id)
    assert answer is not None
    assert [(f.question_id, f.option_id, f.factor) for f in answer.follow_ups] == [
        ("problem", "staff", "staff")
    ]
    assert answer.texts == {"complaint": "Cán bộ không hướng dẫn, tôi phải đi lại 3 lần."}
    assert (answer.question_set, answer.question_set_version) == ("default", 1)
    assert answer.completed_at is not None
    survey = (await store.chats.get_chat_state("telegram", "1001")).survey
    assert survey is not None and survey.step is None


async def test_satisfied_flow_offers_an_optional_comment(config, store, dispatcher):
    dossier, token = await add_dossier(config, store)
    alice = Citizen(dispatcher)
    await alice.command("start", token)
    replies = await alice.press("Hài lòng")
    assert "góp ý" in texts(replies) and labels(replies) == ["Bỏ qua"]
    replies = await alice.press("Bỏ qua")
    assert "Cảm ơn" in texts(replies) and "Thủ trưởng" not in texts(replies)
    answer = await store.surveys.get_answer(dossier.id)
    assert answer is not None and answer.rating == Rating.SATISFIED and answer.texts == {}
    assert answer.completed_at is not None


async def test_neutral_without_complaint_is_not_told_the_head_will_see_it(config, store, dispatcher):
    _, token = await add_dossier(config, store)
    alice = Citizen(dispatcher)
    await alice.command("start", token)
    await alice.press("Bình thường")
    await alice.press("Lý do khác")
    replies = await alice.press("Bỏ qua")
    assert "Cảm ơn" in texts(replies) and "Thủ trưởng" not in texts(replies)


async def test_neutral_with_a_complaint_is_told_the_head_will_see_it(config, store, dispatcher):
    _, token = await add_dossier(config, store)
    alice = Citizen(dispatcher)
    await alice.command("start", token)
    await alice.press("Bình thường")
    await alice.press("Thủ tục, giấy tờ phức tạp")
    replies = await alice.say("Phải nộp bản sao công chứng hai lần")
    assert "Thủ trưởng" in texts(replies)


async def test_english_speaker_gets_english_texts(config, store, dispatcher):
    _, token = await add_dossier(config, store)
    bob = Citizen(dispatcher, chat_id="1002", language_hint="en-GB")
    replies = await bob.command("start", token)
    assert labels(replies) == ["Satisfied", "Neutral", "Unsatisfied"]
    assert "Hello" in texts(replies)


async def test_language_command_switches_and_repeats_the_question(config, store, dispatcher):
    _, token = await add_dossier(config, store)
    alice = Citizen(dispatcher)
    await alice.command("start", token)
    replies = await alice.command("language")
    assert labels(replies) == ["Tiếng Việt", "English"]
    replies = await alice.press("English")
    assert replies[0].text == "Language set to English."
    assert labels(replies) == ["Satisfied", "Neutral", "Unsatisfied"]
    assert (await store.chats.get_chat_state("telegram", "1001")).language == "en"
    replies = await alice.command("language", "vi")
    assert replies[0].text == "Đã chuyển sang Tiếng Việt."


async def test_a_second_start_with_an_answered_link_is_thanked_and_changes_nothing(config, store, dispatcher):
    dossier, token = await add_dossier(config, store)
    alice = Citizen(dispatcher)
    await alice.command("start", token)
    await alice.press("Hài lòng")
    await alice.press("Bỏ qua")
    before = await store.surveys.get_answer(dossier.id)

    for who in (alice, Citizen(dispatcher, chat_id="1003")):
        replies = await who.command("start", token)
        assert "đã được đánh giá" in texts(replies) and not labels(replies)
    assert await store.surveys.get_answer(dossier.id) == before


async def test_two_chats_racing_on_one_link_store_one_answer(config, store, dispatcher):
    dossier, token = await add_dossier(config, store)
    alice, bob = Citizen(dispatcher, "1001"), Citizen(dispatcher, "1002")
    await alice.command("start", token)
    await bob.command("start", token)
    await alice.press("Hài lòng")
    replies = await bob.press("Không hài lòng")
    assert "đã được đánh giá" in texts(replies)
    answer = await store.surveys.get_answer(dossier.id)
    assert answer is not None and answer.rating == Rating.SATISFIED and answer.chat_id == "1001"


async def test_forged_unknown_and_malformed_links_are_refused_politely(config, store, dispatcher):
    dossier, token = await add_dossier(config, store)
    alice = Citizen(dispatcher)
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (forged, "x" * 32, "abc", "../../etc/passwd", token + "x", "Ω" * 32):
        replies = await alice.command("start", bad)
        assert "không hợp lệ" in texts(replies), bad
    assert (await store.chats.get_chat_state("telegram", "1001")).survey is None
    assert await store.surveys.get_answer(dossier.id) is None


async def test_a_link_from_another_secret_is_refused(tmp_path, config, store, dispatcher):
    from tests.conftest import make_config

    other = build_dispatcher(make_config(tmp_path, secret="another-secret"), store)
    _, token = await add_dossier(make_config(tmp_path, secret="another-secret"), store)
    assert labels(await Citizen(other).command("start", token))  # genuine for its own secret
    replies = await Citizen(dispatcher, "1009").command("start", token)
    assert "không hợp lệ" in texts(replies)


async def test_an_expired_link_is_refused(config, store, dispatcher):
    _, token = await add_dossier(config, store)
    alice = Citizen(dispatcher)
    alice.now = NOW + timedelta(days=config.survey.link_valid_days + 1)
    replies = await alice.command("start", token)
    assert "hết hạn" in texts(replies)
    assert (await store.chats.get_chat_state("telegram", "1001")).survey is None


async def test_a_stale_or_forged_button_changes_nothing(config, store, dispatcher):
    dossier, token = await add_dossier(config, store)
    alice = Citizen(dispatcher)
    first = await alice.command("start", token)
    await alice.press("Hài lòng")
    survey = (await store.chats.get_chat_state("telegram", "1001")).survey

    # the rating button pressed again, a forged key, another survey's key, garbage
    for key in (
        first[0].options[2].key,
        SurveyOption(survey.id, "rating", "unsatisfied"),
        SurveyOption(999, "rating", "satisfied"),
        SurveyOption(survey.id, "comment", "nope"),
        "garbage",
        "",
        "s.x.y",
    ):
        replies = await alice.press_key(key)
        assert "không còn hiệu lực" in texts(replies), key
    answer = await store.surveys.get_answer(dossier.id)
    assert answer.rating == Rating.SATISFIED
    assert (await store.chats.get_chat_state("telegram", "1001")).survey.step == "comment"


async def test_someone_else_pressing_a_forged_button_of_my_survey_changes_nothing(config, store, dispatcher):
    dossier, token = await add_dossier(config, store)
    alice, mallory = Citizen(dispatcher, "1001"), Citizen(dispatcher, "6666")
    replies = await alice.command("start", token)
    stolen = replies[0].options[2].key
    assert "không còn hiệu lực" in texts(await mallory.press_key(stolen))
    assert await store.surveys.get_answer(dossier.id) is None


async def test_typed_numbers_and_loose_words_choose_options(config, store, dispatcher):
    dossier, token = await add_dossier(config, store)
    alice = Citizen(dispatcher, channel="console")
    await alice.command("start", token)
    replies = await alice.say("khong   HAI long")
    assert "chưa hài lòng" in texts(replies)
    replies = await alice.say("3")
    assert labels(replies) == ["Bỏ qua"]
    replies = await alice.say("1")  # the number of "Bỏ qua"
    answer = await store.surveys.get_answer(dossier.id)
    assert answer.rating == Rating.UNSATISFIED and answer.follow_ups[0].option_id == "staff"
    assert answer.texts == {} and answer.completed_at is not None


async def test_a_follow_up_is_chosen_by_its_words_without_punctuation_or_by_their_start(
    config, store, dispatcher
):
    for code, chat, typed in (
        ("HS-001", "1001", "thai do huong dan cua can bo"),
        ("HS-002", "1002", "thai do"),
    ):
        dossier, token = await add_dossier(config, store, code)
        citizen = Citizen(dispatcher, chat_id=chat, channel="console")
        await citizen.command("start", token)
        await citizen.say("khong hai long")
        assert labels(await citizen.say(typed)) == ["Bỏ qua"]
        assert (await store.surveys.get_answer(dossier.id)).follow_ups[0].option_id == "staff"


async def test_an_unknown_typed_answer_repeats_the_options(config, store, dispatcher):
    dossier, token = await add_dossier(config, store)
    alice = Citizen(dispatcher)
    await alice.command("start", token)
    for typed in ("7", "0", "có lẽ", "-1"):
        replies = await alice.say(typed)
        assert "chọn một trong các phương án" in texts(replies)
        assert labels(replies) == ["Hài lòng", "Bình thường", "Không hài lòng"]
    assert await store.surveys.get_answer(dossier.id) is None


async def test_over_long_text_is_refused_and_not_stored(config, store, dispatcher):
    dossier, token = await add_dossier(config, store)
    alice = Citizen(dispatcher)
    await alice.command("start", token)
    await alice.press("Không hài lòng")
    await alice.press("Lý do khác")
    replies = await alice.say("x" * 2001)
    assert "quá dài (2001 ký tự)" in texts(replies)
    assert (await store.surveys.get_answer(dossier.id)).texts == {}
    assert (await store.chats.get_chat_state("telegram", "1001")).survey.step == "complaint"
    replies = await alice.say("x" * 2000)  # exactly at the limit is fine
    assert "Thủ trưởng" in texts(replies)


async def test_photo_during_a_survey_is_refused_and_the_question_repeated(config, store, dispatcher):
    _, token = await add_dossier(config, store)
    alice = Citizen(dispatcher)
    await alice.command("start", token)
    replies = await alice.send_photo()
    assert "chỉ nhận tin nhắn chữ" in replies[0].text
    assert labels(replies) == ["Hài lòng", "Bình thường", "Không hài lòng"]
    await alice.press("Không hài lòng")
    await alice.press("Lý do khác")
    replies = await alice.send_photo()
    assert "nhập ý kiến bằng chữ" in texts(replies)


async def test_messages_outside_a_survey_get_a_polite_pointer(dispatcher):
    alice = Citizen(dispatcher)
    assert "quét mã QR" in texts(await alice.say("xin chào"))
    assert "quét mã QR" in texts(await alice.command("start"))
    assert "chỉ nhận tin nhắn chữ" in texts(await alice.send_photo())
    assert "/language" in texts(await alice.command("help"))
    assert "không hiểu lệnh" in texts(await alice.command("frobnicate"))


async def test_start_for_a_dossier_not_yet_returned_links_the_chat_and_queues_on_return(
    config, store, dispatcher
):
    dossier, token = await add_dossier(config, store, returned=False)
    alice = Citizen(dispatcher)
    replies = await alice.command("start", token)
    assert "chưa có kết quả" in texts(replies) and not labels(replies)
    assert await store.outbox.pending_invitations() == []
    await store.dossiers.mark_returned(dossier.code, NOW)
    (invitation,) = await store.outbox.pending_invitations()
    assert (invitation.channel, invitation.chat_id, invitation.dossier_id) == ("telegram", "1001", dossier.id)


async def test_a_survey_survives_a_restart_at_the_same_question(config, store):
    dossier, token = await add_dossier(config, store)
    alice = Citizen(build_dispatcher(config, store))
    await alice.command("start", token)
    await alice.press("Không hài lòng")
    await store.close()

    reopened = SQLiteStorage(config.database)
    await reopened.open()
    try:
        alice.dispatcher = build_dispatcher(config, reopened)
        replies = await alice.press("Kết quả trễ hẹn hoặc chưa đúng")  # the button sent before the restart
        assert labels(replies) == ["Bỏ qua"]
        answer = await reopened.surveys.get_answer(dossier.id)
        assert answer.follow_ups[0].option_id == "result"
    finally:
        await reopened.close()


async def test_a_second_start_mid_survey_resumes_the_current_question(config, store, dispatcher):
    _, token = await add_dossier(config, store)
    alice = Citizen(dispatcher)
    await alice.command("start", token)
    await alice.press("Không hài lòng")
    replies = await alice.command("start", token)
    assert "Lý do khác" in labels(replies)


async def test_many_citizens_at_once_never_mix(config, store, dispatcher: Dispatcher):
    citizens, dossiers = [], []
    for n in range(40):
        dossier, token = await add_dossier(config, store, code=f"HS-{n:03}")
        citizen = Citizen(dispatcher, chat_id=str(5000 + n))
        citizens.append((citizen, token, n))
        dossiers.append(dossier)

    async def answer(citizen: Citizen, token: str, n: int) -> None:
        await citizen.command("start", token)
        await citizen.press(["Hài lòng", "Bình thường", "Không hài lòng"][n % 3])
        if n % 3:
            await citizen.press("Lý do khác")
        await citizen.say(f"ý kiến số {n}")

    await asyncio.gather(*(answer(*c) for c in citizens))
    for n, dossier in enumerate(dossiers):
        stored = await store.surveys.get_answer(dossier.id)
        assert stored.chat_id == str(5000 + n)
        assert stored.rating == [Rating.SATISFIED, Rating.NEUTRAL, Rating.UNSATISFIED][n % 3]
        assert list(stored.texts.values()) == [f"ý kiến số {n}"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=st.text(min_size=0, max_size=2100))
async def test_any_typed_text_gets_a_reply_and_never_crashes(config: Config, store, dispatcher, message):
    alice = Citizen(dispatcher, chat_id="7777")
    replies = await alice.say(message)
    assert replies and all(r.text for r in replies)
    replies = await alice.command("start", message[:80])
    assert replies and all(r.text for r in replies)


def test_folded_ignores_case_spacing_and_diacritics():
    assert folded("  Không   HÀI lòng ") == folded("khong hai long")
    assert folded("Đúng hẹn") == "dung hen"


async def test_an_old_button_of_a_finished_survey_changes_nothing(config, store, dispatcher):
    dossier, token = await add_dossier(config, store)
    alice = Citizen(dispatcher)
    first = await alice.command("start", token)
    await alice.press("Hài lòng")
    await alice.press("Bỏ qua")
    finished = await store.surveys.get_answer(dossier.id)
    for option in first[0].options:
        assert "không còn hiệu lực" in texts(await alice.press_key(option.key))
    assert await store.surveys.get_answer(dossier.id) == finished


async def test_a_typed_survey_code_opens_the_survey_and_guessing_is_slowed(config, store, dispatcher):
    from handlers.links import new_survey_code, normalized_code

    code = new_survey_code()
    dossier = await store.dossiers.add_dossier(
        code="HS-Z1", unit_code="Q1-BN", procedure="Đăng ký khai sinh",
        link_id=links_for(config).new_link_id(), now=NOW, returned_at=NOW, survey_code=code,
    )  # fmt: skip
    assert normalized_code(code.lower().replace("-", " ")) == code
    assert normalized_code(code.replace("-", "")) == code
    assert normalized_code("xin chao ban") is None and normalized_code("cam on nhieu") is None
    dan = Citizen(dispatcher, chat_id="z-dan", channel="zalo")
    replies = await dan.say(f"  {code.lower()} ")
    assert labels(replies) == ["Hài lòng", "Bình thường", "Không hài lòng"]
    assert "Đăng ký khai sinh" in texts(replies)
    await dan.say("3")
    assert (await store.surveys.get_answer(dossier.id)).rating == Rating.UNSATISFIED

    guesser = Citizen(dispatcher, chat_id="z-guess", channel="zalo")
    for _ in range(5):
        assert "không tìm thấy mã" in texts(await guesser.say("7K3QM-X9D2F"))
    assert "sai mã nhiều lần" in texts(await guesser.say(code))  # even the right one waits an hour
    guesser.now = NOW + timedelta(hours=1, seconds=1)
    assert labels(await guesser.command("start", code)) == []  # answered already, but no longer slowed
    assert "đã được đánh giá" in texts(guesser.last)
    # the same dossier's Telegram link, answered on Zalo already: still one answer
    alice = Citizen(dispatcher, chat_id="1001")
    assert "đã được đánh giá" in texts(await alice.command("start", links_for(config).token(dossier.link_id)))
    assert (await store.surveys.get_answer(dossier.id)).channel == "zalo"


def test_survey_codes_are_random_and_unambiguous():
    from handlers.links import CODE_ALPHABET, new_survey_code

    codes = {new_survey_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(c not in CODE_ALPHABET for c in "ILOU") and len(CODE_ALPHABET) ** 10 >= 2**50


async def test_help_and_hints_speak_of_buttons_only_where_there_are_buttons(config, store, dispatcher):
    typed, tapped = Citizen(dispatcher, channel="console"), Citizen(dispatcher, channel="telegram")
    assert "gõ số thứ tự của phương án" in texts(await typed.command("help"))
    assert "bấm nút" not in texts(await typed.command("help"))
    assert "bấm nút" in texts(await tapped.command("help"))
    _, token = await add_dossier(config, store)
    await typed.command("start", token)
    await typed.say("1")  # satisfied: the free-text question comes next
    (question,) = typed.last
    assert question.typing_hint == "Ông/Bà gõ nội dung góp ý, hoặc gõ 1 để bỏ qua."


async def test_a_complaint_is_measured_as_the_person_sees_it(config, store, dispatcher):
    """Accents typed apart from their letters (some Vietnamese keyboards) count once, as they show."""
    dossier, token = await add_dossier(config, store)
    alice = Citizen(dispatcher)
    await alice.command("start", token)
    await alice.press("Không hài lòng")
    await alice.press("Thái độ, hướng dẫn của cán bộ")
    complaint = unicodedata.normalize("NFD", "Cán bộ không hướng dẫn. " * 80).strip()  # 1,919 as seen
    assert len(complaint) > 2000
    assert "Cảm ơn" in texts(await alice.say(complaint))
    assert (await store.surveys.get_answer(dossier.id)).texts == {"complaint": complaint}
