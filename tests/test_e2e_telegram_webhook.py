"""End to end in webhook mode: the real `feedback-bot run` registers its webhook with the Telegram
emulator, which posts citizens' updates to it; nobody polls. The emulator posts without the secret
header Telegram sends, so a small relay here adds it, as Telegram would (behind it, nginx): the
bot refuses a call without it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.e2e_support import BotMessage, BotProcess, TelegramEmulator, texts_of
from tests.ports import free_port

psycopg = pytest.importorskip("psycopg")

pytestmark = pytest.mark.e2e

SECRET = "e2e_webhook-S3cret"
PATH = "/telegram/hook"


class SecretRelay:
    """Telegram's side of a webhook call: takes the emulator's POST and makes it as Telegram
    does, with X-Telegram-Bot-Api-Secret-Token, to the bot. Answers the emulator 200 whatever the
    bot said (an error would stop the emulator) and keeps the bot's statuses."""

    def __init__(self, *targets: str) -> None:
        self.targets = targets  # taken in turn, as nginx's upstream does
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}{PATH}"
        self.statuses: list[int] = []
        self.answered_by: list[str] = []

    async def relay(self, request: web.Request) -> web.Response:
        body = await request.read()
        target = self.targets[len(self.statuses) % len(self.targets)]
        async with httpx.AsyncClient() as http:
            answer = await http.post(
                target,
                content=body,
                headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
            )
        self.statuses.append(answer.status_code)
        self.answered_by.append(target)
        return web.json_response({"ok": True})

    async def __aenter__(self) -> SecretRelay:
        app = web.Application()
        app.router.add_post(PATH, self.relay)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._runner.cleanup()


@pytest.fixture
async def hooked(tg: TelegramEmulator, tmp_path: Path) -> AsyncIterator[tuple[BotProcess, SecretRelay]]:
    api_port = free_port()
    async with SecretRelay(f"http://127.0.0.1:{api_port}{PATH}") as relay:
        bot = BotProcess(
            tg,
            tmp_path,
            api={"listen": "127.0.0.1", "port": api_port},
            telegram={
                "username": "TestNameBot",
                "base_url": tg.base_url,
                "base_file_url": tg.base_file_url,
                "mode": "webhook",
                "url": relay.url,
                "secret": SECRET,
            },
        )
        bot.api_url = f"http://127.0.0.1:{api_port}"  # type: ignore[attr-defined]
        with bot:
            yield bot, relay


def has_buttons(messages: list[BotMessage]) -> bool:
    return any(m.buttons for m in messages)


async def tap(user: Any, messages: list[BotMessage], label: str) -> list[BotMessage]:
    for message in reversed(messages):
        for button in message.buttons:
            if button.text == label:
                await user.press(message, button.callback_data)
                return await user.replies_until(bool, timeout=15)
    raise AssertionError(f"no button {label!r} in {[m.text for m in messages]}")


async def test_a_citizen_is_answered_by_webhook_and_nobody_polls(hooked, people):
    bot, relay = hooked
    assert bot.logged(f"telegram: webhook for @TestNameBot at {PATH}")
    token = bot.add_dossier("HS-HOOK-1")
    lan = people(bot, 1401)
    await lan.send_command(f"/start {token}")
    greeting = await lan.replies_until(has_buttons, timeout=15)
    assert "Đăng ký khai sinh" in texts_of(greeting)
    thanks = await tap(lan, await tap(lan, greeting, "Hài lòng"), "Bỏ qua")
    assert "Cảm ơn" in texts_of(thanks)
    assert bot.query("SELECT rating FROM answers") == [("satisfied",)]
    assert relay.statuses and set(relay.statuses) == {200}
    assert not any("polling as" in line for line in bot.log)


async def test_a_post_without_the_secret_is_refused(hooked, people):
    bot, _ = hooked
    token = bot.add_dossier("HS-HOOK-2")
    forged = {
        "update_id": 999001,
        "message": {
            "message_id": 1, "date": 1764000000, "text": f"/start {token}",
            "chat": {"id": 1402, "type": "private", "first_name": "Mallory"},
            "from": {"id": 1402, "is_bot": False, "first_name": "Mallory"},
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }  # fmt: skip
    async with httpx.AsyncClient(base_url=bot.api_url) as http:
        missing = await http.post(PATH, json=forged)
        wrong = await http.post(PATH, json=forged, headers={"X-Telegram-Bot-Api-Secret-Token": "guessed"})
    assert (missing.status_code, wrong.status_code) == (403, 403)
    mallory = people(bot, 1402)
    assert await mallory.replies(timeout=2) == []  # nothing was answered
    assert bot.query("SELECT COUNT(*) FROM surveys") == [(0,)]
    assert bot.logged("telegram webhook: refused a request from 127.0.0.1: wrong secret")
    assert not any(SECRET in line for line in bot.log)


class PortedBot(BotProcess):
    """A bot process whose HTTP port comes from the environment, as the systemd unit gives it."""

    def __init__(self, *args: Any, api_port: int, **config: Any) -> None:
        super().__init__(*args, **config)
        self.api_port = api_port

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, "FEEDBACK_BOT_API_PORT": str(self.api_port)}


async def test_two_processes_on_postgresql_answer_the_webhook_in_turn(tg, tmp_path, people, postgresql_url):
    ports = [free_port(), free_port()]
    async with SecretRelay(*(f"http://127.0.0.1:{port}{PATH}" for port in ports)) as relay:
        bots = []
        for n, port in enumerate(ports):
            folder = tmp_path / f"bot{n}"
            folder.mkdir()
            telegram = {"username": "TestNameBot", "base_url": tg.base_url, "base_file_url": tg.base_file_url,
                        "mode": "webhook", "url": relay.url, "secret": SECRET}  # fmt: skip
            api = {"listen": "127.0.0.1", "port": 9}  # each process's port from the environment
            bots.append(
                PortedBot(tg, folder, api_port=port, database=postgresql_url, api=api, telegram=telegram)
            )
        bots[1].token = bots[0].token
        for bot in bots:
            bot.start()
        try:
            assert all(bot.logged("telegram: webhook for @TestNameBot") for bot in bots)
            token = bots[0].add_dossier("HS-HOOK-PG")
            lan = people(bots[0], 1501)
            await lan.send_command(f"/start {token}")  # to the first process
            greeting = await lan.replies_until(has_buttons, timeout=15)
            comment = await tap(lan, greeting, "Hài lòng")  # the second goes on from where it was
            thanks = await tap(lan, comment, "Bỏ qua")  # and the first again
            assert "Cảm ơn" in texts_of(thanks)
        finally:
            for bot in bots:
                bot.stop()
    assert relay.statuses == [200, 200, 200]
    assert relay.answered_by == [relay.targets[0], relay.targets[1], relay.targets[0]]
    assert not any("polling" in line or "leader" in line for bot in bots for line in bot.log)
    with psycopg.connect(postgresql_url) as db:
        assert db.execute("SELECT chat_id, rating, completed_at IS NOT NULL FROM answers").fetchall() == [
            ("1501", "satisfied", True)
        ]
