"""The Telegram channel offline, as one of several processes: it starts for sending in every
process, long-polls only while elected, and in webhook mode takes what Telegram posts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from bot.channels.telegram import TelegramChannel, TelegramWebhook, webhook_for
from bot.config import Config
from bot.http.telegram import SECRET_HEADER, telegram_routes
from handlers.chat import Delivery, Reply
from handlers.dispatch import Dispatcher
from tests.conftest import make_config
from tests.telegram_fake import FakeTelegram, Updates

HOOK_URL = "https://bot.hcm.gov.vn/telegram/hook"
SECRET = "s3cret_-token"


class SlowPolls(FakeTelegram):
    """getUpdates waits a moment when there is nothing new, as a long poll does."""

    async def do_request(self, url: str, method: str, *args: object, **kwargs: object) -> tuple[int, bytes]:
        if url.endswith("/getUpdates"):
            await asyncio.sleep(0.01)
        return await super().do_request(url, method, *args, **kwargs)  # type: ignore[arg-type]


def polls(fake: FakeTelegram) -> int:
    return sum(call.method == "getUpdates" for call in fake.calls)


async def until(condition: object, within: float = 5) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "not within the time"
        await asyncio.sleep(0.01)


@pytest.fixture
async def follower(
    config: Config, dispatcher: Dispatcher
) -> AsyncIterator[tuple[TelegramChannel, FakeTelegram]]:
    fake = SlowPolls()
    channel = TelegramChannel(config.telegram, dispatcher, dispatcher.chats, request=fake)
    await channel.start()
    yield channel, fake
    await channel.stop()


async def test_a_process_not_elected_sends_but_never_polls(follower):
    channel, fake = follower
    assert await channel.send("1001", Reply("Thông báo")) == Delivery.SENT
    await asyncio.sleep(0.05)
    assert polls(fake) == 0 and not channel.polling
    assert "deleteWebhook" not in {call.method for call in fake.calls}  # nor touches the webhook


async def test_elected_it_polls_and_deposed_it_stops(follower):
    channel, fake = follower
    await channel.start_polling()
    await until(lambda: polls(fake) >= 2)
    assert channel.polling and "deleteWebhook" in {call.method for call in fake.calls}

    await channel.stop_polling()
    assert not channel.polling
    stopped = polls(fake)
    await asyncio.sleep(0.05)
    assert polls(fake) == stopped
    assert await channel.send("1001", Reply("Vẫn gửi được")) == Delivery.SENT

    await channel.start_polling()  # elected again
    await until(lambda: polls(fake) > stopped)
    await channel.start_polling()  # twice: still one poller
    assert channel.polling


@pytest.fixture
def hook_config(tmp_path) -> Config:
    return make_config(
        tmp_path,
        api={"port": 0},
        telegram={"token": "123:ABC", "username": "TestNameBot", "mode": "webhook", "url": HOOK_URL,
                  "secret": SECRET},
    )  # fmt: skip


@pytest.fixture
async def hooked(
    hook_config: Config, dispatcher: Dispatcher
) -> AsyncIterator[tuple[TelegramChannel, FakeTelegram, httpx.AsyncClient]]:
    webhook = webhook_for(hook_config.telegram)
    assert webhook is not None
    fake = FakeTelegram()
    channel = TelegramChannel(
        hook_config.telegram, dispatcher, dispatcher.chats, request=fake, webhook=webhook
    )
    app = FastAPI()
    app.include_router(telegram_routes(webhook))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as http:
        yield channel, fake, http
    await channel.stop()


async def test_webhook_mode_registers_the_webhook_and_never_polls(hooked):
    channel, fake, _ = hooked
    await channel.start()
    (registered,) = [call for call in fake.calls if call.method == "setWebhook"]
    assert registered.params["url"] == HOOK_URL and registered.params["secret_token"] == SECRET
    assert registered.params["allowed_updates"] == ["message", "callback_query"]
    assert not channel.polls
    await asyncio.sleep(0.05)
    assert polls(fake) == 0


async def test_a_posted_update_is_answered_and_one_without_the_secret_refused(hooked, caplog):
    channel, fake, http = hooked
    update = Updates().message(1001, "/help", command=True)
    early = await http.post("/telegram/hook", json=update, headers={SECRET_HEADER: SECRET})
    assert early.status_code == 503  # not started yet: Telegram calls again
    await channel.start()

    caplog.set_level("WARNING", logger="bot.channels.telegram")
    missing = await http.post("/telegram/hook", json=update)
    wrong = await http.post("/telegram/hook", json=update, headers={SECRET_HEADER: "not-it"})
    garbage = await http.post("/telegram/hook", content=b"{oops", headers={SECRET_HEADER: SECRET})
    listed = await http.post("/telegram/hook", json=[1, 2], headers={SECRET_HEADER: SECRET})
    assert (missing.status_code, wrong.status_code, garbage.status_code, listed.status_code) == (
        403,
        403,
        400,
        400,
    )
    assert fake.sent(1001) == []

    accepted = await http.post("/telegram/hook", json=update, headers={SECRET_HEADER: SECRET})
    assert accepted.status_code == 200
    await until(lambda: len(fake.sent(1001)) == 1)
    assert "/language" in fake.sent(1001)[0].params["text"]
    refusals = [r.getMessage() for r in caplog.records]
    assert len(refusals) == 1 and "wrong secret" in refusals[0] and SECRET not in refusals[0]


async def test_webhook_for_is_none_in_polling_mode(config):
    assert webhook_for(config.telegram) is None
    hooked = {"token": "1:A", "mode": "webhook", "url": HOOK_URL, "secret": "x"}
    webhook = webhook_for(make_config(config.database.parent, api={}, telegram=hooked).telegram)
    assert isinstance(webhook, TelegramWebhook) and webhook.path == "/telegram/hook"
