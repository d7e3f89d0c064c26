"""The Zalo webhook under hostile requests: a body nested 100,000 deep, an oversized body, bytes that
are no JSON, text no database takes; each is answered with a 4xx at once, and thousands of refused
requests leave a few log lines, not thousands."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.channels.refusals import WINDOW_SECONDS, RefusalLog
from bot.channels.zalo import MAX_WEBHOOK_BODY, Webhook, ZaloChannel
from handlers.chat import readable
from handlers.dispatch import Dispatcher
from tests.conftest import NOW, Citizen, add_dossier, texts
from tests.test_zalo_channel import FakeZalo

SECRET = "s3cret-token"
GOOD = {"X-Bot-Api-Secret-Token": SECRET}


class Clock:
    """Time moved by hand (bot.channels.pacing.Clock)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def update(chat: str, text: str) -> dict[str, Any]:
    return {"event_name": "message.text.received", "message": {
        "from": {"id": chat}, "chat": {"id": chat, "chat_type": "PRIVATE"}, "text": text}}  # fmt: skip


@pytest.fixture
async def webhook(
    dispatcher: Dispatcher, unused_tcp_port: int
) -> AsyncIterator[tuple[str, FakeZalo, ZaloChannel, Clock]]:
    zalo, clock = FakeZalo(), Clock()
    url = f"http://127.0.0.1:{unused_tcp_port}/hook"
    channel = ZaloChannel(
        zalo.client(), dispatcher, dispatcher.chats, Webhook(url=url, secret=SECRET, port=unused_tcp_port),
        clock=clock,
    )  # fmt: skip
    await channel.start()
    try:
        yield url, zalo, channel, clock
    finally:
        await channel.stop()


async def replied(zalo: FakeZalo, chat: str, count: int = 1) -> list[str]:
    for _ in range(200):
        sent = [m["text"] for m in zalo.sent if m.get("chat_id") == chat]
        if len(sent) >= count:
            return sent
        await asyncio.sleep(0.02)
    raise AssertionError(f"no reply to {chat}")


@pytest.mark.timeout(20)
async def test_a_body_nested_deep_is_refused_with_a_4xx(webhook):
    """100,000 nested arrays answered 500 (a RecursionError in the JSON parser): now such a body is
    too large to be read at all, and 30,000 nested within the size limit are no JSON the bot takes."""
    url, zalo, _, _ = webhook
    async with httpx.AsyncClient() as http:
        nested = await http.post(url, content=b"[" * 100_000 + b"]" * 100_000, headers=GOOD)
        smaller = await http.post(url, content=b"[" * 30_000 + b"]" * 30_000, headers=GOOD)
        in_message = await http.post(
            url, content=b'{"message": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", headers=GOOD
        )
        assert (nested.status_code, smaller.status_code, in_message.status_code) == (413, 400, 400)
        ok = await http.post(url, json=update("w1", "/help"), headers=GOOD)  # the next one is answered
    assert ok.status_code == 200 and "/language" in (await replied(zalo, "w1"))[0]


async def test_an_oversized_body_is_refused_unread(webhook):
    url, _, _, _ = webhook
    async with httpx.AsyncClient() as http:
        big = await http.post(url, content=b" " * (MAX_WEBHOOK_BODY + 1), headers=GOOD)
    assert big.status_code == 413


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe\x00garbage",
        b'{"message": {"chat": {"id": [[[["x"]]]]}, "text": "hi"}}',
        b"null",
        b"1e999999",
    ],
)
async def test_bodies_that_are_no_update_get_400_or_are_ignored(webhook, body):
    url, zalo, _, _ = webhook
    async with httpx.AsyncClient() as http:
        response = await http.post(url, content=body, headers=GOOD)
    assert response.status_code in (200, 400)
    await asyncio.sleep(0.05)
    assert [m for m in zalo.sent if "text" in m] == []


async def test_text_with_lone_surrogates_is_answered(config, store, webhook):
    url, zalo, _, _ = webhook
    await store.dossiers.add_dossier(
        code="HS-S", unit_code="Q1-BN", procedure="Đăng ký khai sinh", link_id="ls", now=NOW,
        returned_at=NOW, survey_code="ABCDE-FGHJK",
    )  # fmt: skip
    async with httpx.AsyncClient() as http:
        for n, typed in enumerate(("ABCDE-FGHJK", "3", "6")):
            await http.post(url, json=update("s1", typed), headers=GOOD)
            await replied(zalo, "s1", n + 1)
        body = json.dumps(update("s1", "chờ lâu \ud800 quá")).encode()  # JSON allows a lone surrogate
        assert (await http.post(url, content=body, headers=GOOD)).status_code == 200
    assert "Thủ trưởng" in (await replied(zalo, "s1", 4))[-1]
    (case,) = await store.cases.list_cases(["Q1-BN"])
    assert "\ufffd" in (await store.surveys.get_answer(case.dossier_id)).texts["complaint"]


@pytest.mark.timeout(60)
async def test_thousands_of_refused_requests_leave_a_few_log_lines(webhook, caplog):
    url, _, _, clock = webhook
    caplog.set_level(logging.INFO, logger="bot.channels.zalo")
    async with httpx.AsyncClient() as http:
        for n in range(400):
            if n % 2:
                await http.post(url, json=update("x", "hi"), headers={"X-Bot-Api-Secret-Token": "wrong-one"})
            else:
                await http.post(url, content=b"{oops", headers=GOOD)
        lines = [r for r in caplog.records if r.name == "bot.channels.zalo"]
        assert len(lines) == 1 and "127.0.0.1" in lines[0].getMessage()

        clock.now += WINDOW_SECONDS  # a minute later, the next refusal brings the count of the last one
        await http.post(url, content=b"{oops", headers=GOOD)
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.channels.zalo"]
    assert len(lines) == 3, lines
    assert "refused 399 more requests from 127.0.0.1" in lines[1]
    assert "wrong secret: 200" in lines[1] and "not JSON: 199" in lines[1]
    assert sum(len(line) for line in lines) < 1000


def test_refusals_are_summarised_per_source_and_memory_stays_bounded():
    clock = Clock()
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("test.refusals")
    logger.addHandler(handler := Collect())
    logger.propagate = False
    try:
        refusals = RefusalLog(logger, "webhook", clock.time)
        for n in range(100_000):
            refusals.refused(f"10.0.{n % 50}.1", "wrong secret")
        assert len(records) == 50  # the first from each of 50 addresses
        clock.now += WINDOW_SECONDS
        refusals.summarise()
        assert len(records) == 100 and "refused 1999 more requests from 10.0.0.1" in records[50]
        for n in range(100_000):  # a flood from ever new addresses
            refusals.refused(f"10.1.{n // 256}.{n % 256}", "not JSON")
        assert len(refusals) <= RefusalLog.MAX_SOURCES + 1 and len(records) < 1200
        refusals.close()
        assert "more requests from other addresses" in records[-1]
    finally:
        logger.removeHandler(handler)


@given(st.text(st.characters(exclude_categories=[])))  # surrogates included
def test_any_text_becomes_text_a_database_takes(typed):
    shown = readable(typed)
    assert shown.encode("utf-8").decode("utf-8") == shown
    assert shown == typed or "\ufffd" in shown


async def test_a_lone_surrogate_typed_at_the_free_text_question_is_stored_readably(config, store, dispatcher):
    _, token = await add_dossier(config, store)
    citizen = Citizen(dispatcher, chat_id="1001")
    await citizen.command("start", token)
    await citizen.press("Không hài lòng")
    await citizen.press("Lý do khác")
    assert "Thủ trưởng" in texts(await citizen.say("chờ \udcff lâu"))  # a stray byte, as a terminal reads it
