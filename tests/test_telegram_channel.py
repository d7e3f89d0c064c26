"""The Telegram channel offline: a real python-telegram-bot Application fed Update payloads,
talking to a fake BaseRequest that records calls and answers with valid JSON."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import Update
from telegram.ext import ContextTypes

from bot.channels.telegram import TelegramChannel
from bot.config import Config
from handlers.chat import Delivery, Reply
from handlers.dispatch import Dispatcher
from storage.records import Rating
from tests.conftest import add_dossier
from tests.telegram_fake import BOT, FakeTelegram, Updates


@pytest.fixture
async def telegram(
    config: Config, dispatcher: Dispatcher
) -> AsyncIterator[tuple[TelegramChannel, FakeTelegram]]:
    fake = FakeTelegram()
    channel = TelegramChannel(config.telegram, dispatcher, dispatcher.chats, request=fake)
    errors: list[BaseException | None] = []

    async def fail(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.append(context.error)

    channel.application.add_error_handler(fail)
    async with channel.application:
        yield channel, fake
    assert errors == [], f"handlers raised: {errors}"


async def feed(channel: TelegramChannel, payload: dict[str, Any]) -> None:
    await channel.application.process_update(Update.de_json(payload, channel.application.bot))


def buttons(call: Any) -> list[tuple[str, str]]:
    markup = call.params.get("reply_markup") or {}
    return [(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row]


async def test_the_whole_unsatisfied_survey_over_telegram(config, store, telegram):
    channel, fake = telegram
    updates = Updates()
    dossier, token = await add_dossier(config, store)

    await feed(channel, updates.message(1001, f"/start {token}", command=True))
    (greeting,) = fake.sent(1001)
    assert "Đăng ký khai sinh" in greeting.params["text"]
    assert [t for t, _ in buttons(greeting)] == ["Hài lòng", "Bình thường", "Không hài lòng"]

    await feed(channel, updates.press(1001, buttons(greeting)[2][1]))
    assert [c.method for c in fake.calls[-3:]] == [
        "answerCallbackQuery",
        "editMessageReplyMarkup",
        "sendMessage",
    ]
    follow_up = fake.sent(1001)[-1]
    await feed(channel, updates.press(1001, dict(buttons(follow_up))["Thái độ, hướng dẫn của cán bộ"]))
    await feed(channel, updates.message(1001, "Cán bộ tiếp nhận thiếu niềm nở."))
    assert "Thủ trưởng UBND Phường Bến Nghé" in fake.sent(1001)[-1].params["text"]

    answer = await store.surveys.get_answer(dossier.id)
    assert answer.rating == Rating.UNSATISFIED and answer.channel == "telegram" and answer.chat_id == "1001"
    assert answer.texts == {"complaint": "Cán bộ tiếp nhận thiếu niềm nở."}


async def test_a_button_pressed_twice_is_answered_politely(config, store, telegram):
    channel, fake = telegram
    updates = Updates()
    dossier, token = await add_dossier(config, store)
    await feed(channel, updates.message(1001, f"/start {token}", command=True))
    satisfied = buttons(fake.sent(1001)[0])[0][1]
    await feed(channel, updates.press(1001, satisfied))
    asked = fake.sent(1001)[-1].params["text"]
    await feed(channel, updates.press(1001, satisfied))
    refusal, again = (c.params["text"] for c in fake.sent(1001)[-2:])
    assert "không còn hiệu lực" in refusal and again == asked  # and the question the survey waits on
    assert (await store.surveys.get_answer(dossier.id)).rating == Rating.SATISFIED


async def test_language_comes_from_the_telegram_user(config, store, telegram):
    channel, fake = telegram
    _, token = await add_dossier(config, store)
    await feed(channel, Updates().message(1002, f"/start {token}", command=True, language="en"))
    assert [t for t, _ in buttons(fake.sent(1002)[0])] == ["Satisfied", "Neutral", "Unsatisfied"]


async def test_stickers_photos_and_contacts_get_a_polite_reply(telegram):
    channel, fake = telegram
    updates = Updates()
    sticker = {
        "file_id": "s",
        "file_unique_id": "s",
        "width": 1,
        "height": 1,
        "is_animated": False,
        "is_video": False,
        "type": "regular",
    }
    await feed(channel, updates.message(1001, sticker=sticker))
    await feed(
        channel,
        updates.message(1001, photo=[{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]),
    )
    await feed(channel, updates.message(1001, contact={"phone_number": "+84901234567", "first_name": "D"}))
    assert ["Xin lỗi, bot chỉ nhận" in c.params["text"] for c in fake.sent(1001)] == [True] * 3


async def test_an_over_long_message_is_refused(telegram):
    channel, fake = telegram
    await feed(channel, Updates().message(1001, "a" * 4000))
    assert "quá dài (4000 ký tự)" in fake.sent(1001)[0].params["text"]


async def test_group_chats_and_edits_are_ignored(telegram):
    channel, fake = telegram
    updates = Updates()
    await feed(channel, updates.message(1001, "xin chào", chat=Updates.chat(-100123, "supergroup")))
    await feed(channel, {"update_id": 99, "edited_message": updates.message(1001, "x")["message"]})
    assert fake.sent() == []


async def test_a_blocked_chat_is_marked_unreachable(config, store, telegram):
    channel, fake = telegram
    fake.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    await feed(channel, Updates().message(1001, "xin chào"))
    chat = await store.chats.get_chat_state("telegram", "1001")
    assert chat is not None and chat.unreachable_since is not None
    # they write again: they unblocked us
    await feed(channel, Updates().message(1001, "xin chào"))
    assert (await store.chats.get_chat_state("telegram", "1001")).unreachable_since is None


async def test_flood_control_is_waited_out_and_the_message_still_goes(telegram):
    channel, fake = telegram
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    assert await channel.send("1001", Reply("Xin chào")) == Delivery.SENT
    assert [c.method for c in fake.calls if c.method.startswith("sendMessage")] == [
        "sendMessage!429",
        "sendMessage",
    ]


async def test_send_reports_a_blocked_chat(store, telegram):
    channel, fake = telegram
    fake.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    assert await channel.send("1001", Reply("Xin chào")) == Delivery.UNREACHABLE
    assert (await store.chats.get_chat_state("telegram", "1001")).unreachable_since is not None


async def test_a_long_reply_is_split_with_buttons_on_the_last_piece(telegram):
    from handlers.chat import Option

    channel, fake = telegram
    long = ("Đoạn văn dài. " * 400).strip()
    await channel.send("1001", Reply(long, (Option("k", "Nút"),)))
    pieces = fake.sent(1001)
    assert len(pieces) == 2 and all(len(p.params["text"]) <= 4096 for p in pieces)
    assert "reply_markup" not in pieces[0].params and buttons(pieces[1]) == [("Nút", "k")]


async def test_an_emoji_reply_is_split_by_utf16_units_as_telegram_counts(telegram):
    channel, fake = telegram
    angry = "😡" * 3000  # 3,000 characters, 6,000 UTF-16 units: over Telegram's 4,096
    assert await channel.send("1001", Reply(angry)) == Delivery.SENT
    pieces = [p.params["text"] for p in fake.sent(1001)]
    assert [len(p.encode("utf-16-le")) // 2 for p in pieces] == [4096, 1904] and "".join(pieces) == angry


async def test_the_command_menu_is_set_in_both_languages(telegram):
    channel, fake = telegram
    await channel.set_commands()
    menus = {
        c.params.get("language_code"): c.params["commands"] for c in fake.calls if c.method == "setMyCommands"
    }
    assert set(menus) == {None, "vi", "en"}
    assert [c["command"] for c in menus["en"]] == ["start", "help", "language", "mydata", "forget", "privacy"]
    assert menus["en"][1]["description"] == "How to use this bot"
    assert menus["vi"][1]["description"] == "Hướng dẫn sử dụng"


async def test_a_head_assigns_a_case_from_telegram_buttons(config, store, dispatcher, telegram):
    from handlers.cases import CaseAction, CaseButton
    from tests.test_cases import complain

    channel, fake = telegram
    await complain(dispatcher, config, store)
    (case,) = await store.cases.list_cases(["Q1-BN"])
    updates = Updates()
    await feed(channel, updates.press(2101, CaseButton(case.id, CaseAction.ASSIGN).pack()))
    staff = dict(buttons(fake.sent(2101)[-1]))
    assert list(staff) == ["Phạm Thị D", "Võ Văn E"]
    await feed(channel, updates.press(2101, staff["Phạm Thị D"]))
    assert "Đã giao phản ánh" in fake.sent(2101)[-1].params["text"]
    await feed(channel, updates.press(6666, CaseButton(case.id, CaseAction.ASSIGN).pack()))  # not a head here
    assert "không có quyền" in fake.sent(6666)[-1].params["text"]
    assert (await store.cases.get_case(case.id)).assignee_name == "Phạm Thị D"


class OtherBot(FakeTelegram):
    """A Telegram whose getMe answers with another bot: the token in use is not the configured bot's."""

    def __init__(self, username: str) -> None:
        super().__init__()
        self.username = username

    def _result(self, endpoint: str, params: dict[str, Any]) -> Any:
        if endpoint == "getMe":
            return {**BOT, "username": self.username}
        return super()._result(endpoint, params)


@pytest.mark.parametrize(("username", "warned"), [("HcmFeedbackBot", True), ("testnamebot", False)])
async def test_start_warns_loudly_when_the_token_is_another_bot_than_the_links_name(
    config, dispatcher, caplog, username, warned
):
    fake = OtherBot(username)
    channel = TelegramChannel(config.telegram, dispatcher, dispatcher.chats, request=fake)
    with caplog.at_level(logging.ERROR, logger="bot.channels.telegram"):
        await channel.start()
        await channel.stop()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    if warned:
        (line,) = errors
        assert "@HcmFeedbackBot" in line and "@TestNameBot" in line and "\n" not in line
    else:  # usernames ignore case
        assert errors == []
    assert fake.calls[0].method == "getMe"
