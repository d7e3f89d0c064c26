"""Documents on Telegram, offline: a file is fetched only when the handler asks for it (an admin's
question set or directory file), never for anyone else, and never past the size limit, whatever size
the update or getFile claims."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import Update
from telegram.ext import ContextTypes

from bot.channels.telegram import TelegramChannel
from bot.config import Config
from handlers.chat import MAX_ATTACHMENT
from handlers.dispatch import Dispatcher
from tests.telegram_fake import FILE_CHUNK, FakeTelegram, Updates
from tests.test_question_sets import WARD_SET

ADMIN, CITIZEN = 9001, 1001


@pytest.fixture
async def telegram(
    config: Config, dispatcher: Dispatcher
) -> AsyncIterator[tuple[TelegramChannel, FakeTelegram]]:
    fake = FakeTelegram()
    channel = TelegramChannel(
        config.telegram, dispatcher, dispatcher.chats, request=fake, files=fake.file_transport()
    )
    errors: list[BaseException | None] = []

    async def fail(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.append(context.error)

    channel.application.add_error_handler(fail)
    async with channel.application:
        yield channel, fake
    assert errors == [], f"handlers raised: {errors}"


async def feed(channel: TelegramChannel, payload: dict[str, Any]) -> None:
    await channel.application.process_update(Update.de_json(payload, channel.application.bot))


def last_text(fake: FakeTelegram, chat_id: int) -> str:
    return str(fake.sent(chat_id)[-1].params["text"])


async def test_an_admins_question_set_is_fetched_and_read(store, telegram):
    channel, fake = telegram
    fake.serve_file("f-ward", WARD_SET.encode())
    await feed(channel, Updates().document(ADMIN, "f-ward", "ward.yaml", len(WARD_SET.encode())))
    assert "Đã lưu bộ câu hỏi ward-five-level phiên bản 1" in last_text(fake, ADMIN)
    assert fake.downloads == ["f-ward"]


@pytest.mark.parametrize("claimed", [len(WARD_SET.encode()), None, 10 * MAX_ATTACHMENT])
async def test_nobody_but_an_admin_has_a_file_fetched(store, telegram, claimed):
    channel, fake = telegram
    fake.serve_file("f-mine", WARD_SET.encode())
    await feed(channel, Updates().document(CITIZEN, "f-mine", "mine.yaml", claimed))
    assert "Chỉ quản trị viên" in last_text(fake, CITIZEN)
    assert [c.method for c in fake.calls if c.method == "getFile"] == [] and fake.downloads == []
    assert await store.question_sets.list_question_sets() == []


@pytest.mark.parametrize("claimed", [100, None])
async def test_a_file_larger_than_it_claims_is_not_read_past_the_limit(store, telegram, claimed):
    channel, fake = telegram
    fake.serve_file("f-big", b"# " + b"x" * (20 * MAX_ATTACHMENT), claimed_size=claimed)
    await feed(channel, Updates().document(ADMIN, "f-big", "big.yaml", claimed))
    assert "Không đọc được tệp «big.yaml»" in last_text(fake, ADMIN)
    assert fake.downloads == ["f-big"]
    assert fake.bytes_served <= MAX_ATTACHMENT + FILE_CHUNK  # the download stopped past the limit
    assert await store.question_sets.list_question_sets() == []


async def test_a_file_said_to_be_too_large_is_not_fetched_at_all(store, telegram):
    channel, fake = telegram
    fake.serve_file("f-huge", WARD_SET.encode(), claimed_size=MAX_ATTACHMENT + 1)
    await feed(channel, Updates().document(ADMIN, "f-huge", "huge.yaml", MAX_ATTACHMENT + 1))
    assert "Không đọc được tệp «huge.yaml»" in last_text(fake, ADMIN)
    assert [c for c in fake.calls if c.method == "getFile"] == [] and fake.downloads == []

    # The update said nothing of its size, getFile says it is too large: not downloaded either.
    await feed(channel, Updates().document(ADMIN, "f-huge", "huge.yaml", None))
    assert "Không đọc được tệp «huge.yaml»" in last_text(fake, ADMIN)
    assert fake.downloads == []


async def test_a_file_telegram_cannot_give_gets_a_polite_answer(store, telegram, caplog):
    channel, fake = telegram
    fake.fail_next("getFile", 400, "Bad Request: file is too big")
    await feed(channel, Updates().document(ADMIN, "f-gone", "gone.yaml", 10))
    assert "Không đọc được tệp «gone.yaml»" in last_text(fake, ADMIN)
    await feed(channel, Updates().document(ADMIN, "f-unknown", "unknown.yaml", 10))  # no file_path given
    assert "Không đọc được tệp «unknown.yaml»" in last_text(fake, ADMIN)
    assert "123:ABC" not in caplog.text  # the file address carries the token; it never reaches the log
