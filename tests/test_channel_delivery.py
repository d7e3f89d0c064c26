"""What the channels' sending reports, and how they pace, offline: a real python-telegram-bot
Application against a fake Bot API that answers 429 with retry_after (and 400, 403, 5xx), and the
Zalo client against httpx's MockTransport; time is a fake clock, never slept through.

A 429 makes only its own chat wait; a conversation reply is tried again through many 429s and, if
it never gets through, is logged and recorded; a batch is SENT only when every message was accepted."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from telegram import Update
from telegram.ext import ContextTypes

from bot.channels.pacing import REPLY_PATIENCE, SEND_PATIENCE
from bot.channels.telegram import TelegramChannel
from bot.channels.zalo import ZaloChannel, ZaloClient
from bot.config import Config
from handlers.chat import Delivery, Reply
from handlers.dispatch import Dispatcher
from tests.clock import FakeClock
from tests.telegram_fake import FakeTelegram, Updates
from tests.test_zalo_channel import FakeZalo

FLOOD = "Too Many Requests: retry after {}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def telegram(
    config: Config, dispatcher: Dispatcher, store: Any, clock: FakeClock
) -> AsyncIterator[tuple[TelegramChannel, FakeTelegram]]:
    fake = FakeTelegram()
    channel = TelegramChannel(
        config.telegram, dispatcher, dispatcher.chats, request=fake, outbox=store.outbox, clock=clock
    )
    errors: list[BaseException | None] = []

    async def fail(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.append(context.error)

    channel.application.add_error_handler(fail)
    async with channel.application:
        yield channel, fake
    assert errors == [], f"handlers raised: {errors}"


def flood(fake: FakeTelegram, times: int, retry_after: int) -> None:
    for _ in range(times):
        fake.fail_next("sendMessage", 429, FLOOD.format(retry_after), retry_after=retry_after)


def methods(fake: FakeTelegram) -> list[str]:
    return [c.method for c in fake.calls if c.method.startswith("sendMessage")]


async def until(condition: Any) -> None:
    """Lets the other tasks run until `condition()` holds (bounded: a few thousand turns)."""
    for _ in range(5000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def test_one_chats_flood_wait_holds_up_no_other_chat(telegram, clock):
    channel, fake = telegram
    flood(fake, 1, retry_after=20)
    slow = asyncio.create_task(channel.send("1001", Reply("Lời mời khảo sát")))
    await until(lambda: clock.sleeping == 1)  # 1001 waits out its 20 s
    assert await channel.send("1002", Reply("Thông báo")) == Delivery.SENT  # at once, no wait
    assert [int(c.params["chat_id"]) for c in fake.sent()] == [1002]
    await clock.advance(21)
    assert await slow == Delivery.SENT
    assert methods(fake) == ["sendMessage!429", "sendMessage", "sendMessage"]
    assert [int(c.params["chat_id"]) for c in fake.sent()] == [1002, 1001]


async def test_a_flooded_chat_is_not_asked_again_before_its_time(telegram, clock):
    channel, fake = telegram
    wait = int(SEND_PATIENCE.total_seconds()) * 3
    flood(fake, 1, retry_after=wait)
    # longer than a message the bot starts itself waits: not sent now, the outbox retries it later
    assert await channel.send("1001", Reply("Thông báo")) == Delivery.FAILED
    assert await channel.send("1001", Reply("Thông báo khác")) == Delivery.FAILED
    assert methods(fake) == ["sendMessage!429"]  # the second never reached Telegram
    await clock.advance(wait)
    assert await channel.send("1001", Reply("Thông báo")) == Delivery.SENT


async def test_a_conversation_reply_gets_through_more_than_five_429s(telegram, clock):
    channel, fake = telegram
    clock.auto = True
    flood(fake, 8, retry_after=30)
    await channel.application.process_update(
        Update.de_json(Updates().message(1001, "xin chào"), channel.application.bot)
    )
    (reply,) = fake.sent(1001)
    assert "khảo sát" in reply.params["text"] and methods(fake).count("sendMessage!429") == 8


async def test_a_reply_that_never_gets_through_is_logged_and_recorded(store, telegram, clock, caplog):
    channel, fake = telegram
    clock.auto = True
    retry_after = 120
    flood(fake, int(REPLY_PATIENCE.total_seconds()) // retry_after + 5, retry_after=retry_after)
    with caplog.at_level(logging.ERROR, logger="bot.channels.telegram"):
        await channel.application.process_update(
            Update.de_json(Updates().message(1001, "xin chào"), channel.application.bot)
        )
    assert fake.sent(1001) == []
    (line,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "1001" in line and "not delivered" in line
    (recorded,) = await store.outbox.undelivered_replies()
    assert (recorded.channel, recorded.chat_id) == ("telegram", "1001") and "flood control" in recorded.error


@pytest.mark.parametrize(
    ("status", "description", "delivery"),
    [
        (400, "Bad Request: message is too long", Delivery.REFUSED),
        (400, "Bad Request: chat not found", Delivery.UNREACHABLE),
        (403, "Forbidden: bot was blocked by the user", Delivery.UNREACHABLE),
        (500, "Internal Server Error", Delivery.FAILED),
        (502, "Bad Gateway", Delivery.FAILED),
        (401, "Unauthorized", Delivery.FAILED),
    ],
)
async def test_send_says_what_the_platform_answered(telegram, status, description, delivery):
    channel, fake = telegram
    fake.fail_next("sendMessage", status, description)
    assert await channel.send("1001", Reply("Xin chào")) == delivery


async def test_a_batch_is_sent_only_when_every_message_was_accepted(telegram, clock):
    channel, fake = telegram
    clock.auto = True  # more messages than a chat's burst: paced
    batch = (Reply("Báo cáo"), Reply("Phản ánh #1"), Reply("Phản ánh #2"))
    assert await channel.send("1001", *batch) == Delivery.SENT
    fake.calls.clear()

    async def refuse_the_second(*args: Any, **kwargs: Any) -> tuple[int, bytes]:
        if len(fake.sent()) == 1:
            fake.fail_next("sendMessage", 400, "Bad Request: message is too long")
        return await FakeTelegram.do_request(fake, *args, **kwargs)

    fake.do_request = refuse_the_second  # type: ignore[method-assign]
    assert await channel.send("1001", *batch) == Delivery.REFUSED
    assert methods(fake) == ["sendMessage", "sendMessage!400"]  # it stops at the refused one


async def test_a_network_failure_is_a_passing_failure(telegram):
    from telegram.error import NetworkError

    channel, fake = telegram

    async def unreachable(*args: Any, **kwargs: Any) -> tuple[int, bytes]:
        raise NetworkError("All connection attempts failed")

    fake.do_request = unreachable  # type: ignore[method-assign]
    assert await channel.send("1001", Reply("Xin chào")) == Delivery.FAILED


async def test_a_chat_gets_a_short_burst_then_about_one_message_a_second(config, telegram, clock):
    channel, fake = telegram
    burst = config.telegram.chat_burst
    for n in range(burst):
        assert await channel.send("1001", Reply(f"Tin {n}")) == Delivery.SENT
    paced = asyncio.create_task(channel.send("1001", Reply("Tin sau")))
    await until(lambda: clock.sleeping == 1)
    assert await channel.send("1002", Reply("Chat khác")) == Delivery.SENT  # another chat: no wait
    await clock.advance(1)
    assert await paced == Delivery.SENT
    assert [int(c.params["chat_id"]) for c in fake.sent()] == [1001] * burst + [1002, 1001]


async def test_the_overall_rate_is_kept_across_chats(config, telegram, clock):
    channel, fake = telegram
    rate = config.telegram.messages_per_second
    sends = [asyncio.create_task(channel.send(str(5000 + n), Reply("Tin"))) for n in range(rate + 5)]
    await until(lambda: len(fake.sent()) == rate and clock.sleeping == 5)
    await clock.advance(1)
    assert all(outcome == Delivery.SENT for outcome in await asyncio.gather(*sends))
    assert len(fake.sent()) == rate + 5


async def test_zalo_waits_out_more_than_five_429s_then_says_what_failed(store, dispatcher, clock):
    clock.auto = True
    zalo = FakeZalo()
    client = ZaloClient(
        "https://zalo.test/bot", "1:abc", transport=httpx.MockTransport(zalo.handle), clock=clock
    )
    channel = ZaloChannel(client, dispatcher, dispatcher.chats, outbox=store.outbox)

    def typed(user: str, words: str) -> dict[str, Any]:
        message = {"from": {"id": user}, "chat": {"id": user, "chat_type": "PRIVATE"}, "text": words}
        return {"event_name": "message.text.received", "message": message}

    zalo.faults += [(429, 429, FLOOD.format(5))] * 8
    assert await channel.send("u1", Reply("Xin chào")) == Delivery.SENT
    # an answer to what a person wrote waits much longer than a message the bot starts itself
    zalo.faults += [(429, 429, FLOOD.format(60))] * 8
    await channel.answer_update(typed("u2", "xin chào"))
    assert [m["chat_id"] for m in zalo.sent] == ["u1", "u2"] and zalo.faults == []
    zalo.faults += [(429, 429, FLOOD.format(60))] * 8
    assert await channel.send("u1", Reply("Xin chào")) == Delivery.FAILED  # the outbox tries it later
    zalo.faults = [(400, 400, "Bad Request: text must be 1 to 2000 characters")]
    assert await channel.send("u1", Reply("Xin chào")) == Delivery.REFUSED
    # an answer that never got through is recorded
    zalo.faults = [(503, 503, "Service Unavailable")]
    await channel.answer_update(typed("u3", "xin chào"))
    (recorded,) = await store.outbox.undelivered_replies()
    assert (recorded.channel, recorded.chat_id) == ("zalo", "u3") and "503" in recorded.error
    await channel.stop()
