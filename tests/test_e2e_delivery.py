"""End to end, delivery under faults: the real `feedback-bot run` against the Telegram emulator's
flood control (429 retry_after) and blocked chats; what was given up is in `feedback-bot outbox`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e_support import BotMessage, BotProcess, TelegramEmulator

pytestmark = pytest.mark.e2e


@pytest.fixture
def bot(tg: TelegramEmulator, tmp_path: Path) -> Iterator[BotProcess]:
    with BotProcess(tg, tmp_path) as running:
        yield running


def has_buttons(messages: list[BotMessage]) -> bool:
    return any(m.buttons for m in messages)


async def test_a_reply_gets_through_more_than_five_429s(tg, bot, people):
    token = bot.add_dossier("HS-E2E-D1")
    citizen = people(bot, 1201)
    await tg.flood(bot.token, count=7, retry_after=1)
    await citizen.send_command(f"/start {token}")
    greeting = await citizen.replies_until(has_buttons, timeout=40)
    assert [b.text for b in greeting[-1].buttons] == ["Hài lòng", "Bình thường", "Không hài lòng"]
    assert not bot.logged("was not delivered", within=0)


async def test_an_invitation_outlasts_flood_control_and_a_blocked_chat_is_listed(tg, bot, people):
    waiting, blocking = people(bot, 1202), people(bot, 1203)
    for code, citizen in (("HS-E2E-D2", waiting), ("HS-E2E-D3", blocking)):
        await citizen.send_command(f"/start {bot.add_dossier(code, returned=False)}")
        assert await citizen.replies_until(bool, timeout=15)  # told the survey comes with the result
    await tg.block(bot.token, 1203)
    await tg.flood(bot.token, count=8, retry_after=1)
    for code in ("HS-E2E-D2", "HS-E2E-D3"):
        assert bot.cli("dossier", "returned", code).returncode == 0
    invitation = await waiting.replies_until(has_buttons, timeout=40)
    assert "Đăng ký khai sinh" in invitation[-1].text
    for _ in range(200):  # recorded just after Telegram took it
        if bot.query("SELECT status FROM invitations ORDER BY id") == [("sent",), ("unreachable",)]:
            break
        await asyncio.sleep(0.05)
    assert bot.query("SELECT status FROM invitations ORDER BY id") == [("sent",), ("unreachable",)]
    listed = json.loads(bot.cli("outbox", "--format", "json").stdout)
    assert [(r["kind"], r["about"], r["to"], r["state"]) for r in listed] == [
        ("invitation", "dossier HS-E2E-D3", "citizen (Telegram)", "failed")
    ]
