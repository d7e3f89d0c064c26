"""End to end, two real `feedback-bot run` processes on one PostgreSQL database and the Telegram
emulator in polling mode: one polls (the elected leader), both send. Fifty citizens answer the
survey while the leader is killed with kill -9 halfway; the other takes over within 10 seconds,
and every citizen who was thanked has exactly one answer."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.app import links_for, opened_storage
from bot.config import load_config
from tests.conftest import NOW
from tests.e2e_support import BotMessage, BotProcess, TelegramEmulator, texts_of

psycopg = pytest.importorskip("psycopg")

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

CITIZENS = 50
ELECTED = "elected polling leader for telegram"
TAKEOVER_SECONDS = 10


def bots_on(
    tg: TelegramEmulator, tmp_path: Path, url: str, count: int = 2, **config: Any
) -> list[BotProcess]:
    """`count` bot processes of one bot (one token) on the database at `url`."""
    bots = []
    for n in range(count):
        folder = tmp_path / f"bot{n}"
        folder.mkdir()
        bots.append(BotProcess(tg, folder, database=url, **config))
    for bot in bots[1:]:
        bot.token = bots[0].token
    return bots


async def survey_tokens(bot: BotProcess, count: int, *, returned: bool = True) -> list[str]:
    """`count` dossiers (returned, or not yet), written to the database as the one-stop software's
    would be; the token of each one's survey link."""
    config = load_config(bot.config_path)
    links = links_for(config)
    tokens = []
    async with opened_storage(config) as store:
        for n in range(count):
            dossier = await store.dossiers.add_dossier(
                code=f"HS-MP-{'R' if returned else 'W'}{n:03d}", unit_code="Q1-BN",
                procedure="Đăng ký khai sinh", link_id=links.new_link_id(), now=NOW - timedelta(days=1),
                returned_at=NOW if returned else None,
            )  # fmt: skip
            tokens.append(links.token(dossier.link_id))
    return tokens


def has_buttons(messages: list[BotMessage]) -> bool:
    return any(m.buttons for m in messages)


def thanked(messages: list[BotMessage]) -> bool:
    return "Cảm ơn" in texts_of(messages)


def button(messages: list[BotMessage], label: str) -> tuple[BotMessage, str]:
    for message in reversed(messages):
        for b in message.buttons:
            if b.text == label and b.callback_data is not None:
                return message, b.callback_data
    raise AssertionError(f"no button {label!r} in {[m.text for m in messages]}")


class Citizens:
    """People answering the survey as people do: a message that gets no answer within 15 s is sent
    again, twice at most. A citizen whose message was taken by the process killed (polled, not yet
    answered, or answered and not yet told) may go unthanked: with real Telegram too, an update
    polled is confirmed by the next poll, before it is answered."""

    def __init__(self) -> None:
        self.thanked: list[int] = []
        self.unfinished: dict[int, str] = {}  # citizen -> the step that got no answer, and what came
        self.half_thanked = asyncio.Event()
        self.again: list[tuple[int, str, float]] = []  # (citizen, step, when first sent) sent again

    async def step(
        self, who: int, name: str, act: Callable[[], Awaitable[None]], user: Any, done: Callable[..., bool]
    ) -> list[BotMessage] | None:
        first_sent = time.monotonic()
        seen: list[BotMessage] = []
        for attempt in range(3):
            if attempt:
                self.again.append((who, name, first_sent))
            await act()
            seen = await user.replies_until(done, timeout=15)
            if done(seen):
                return seen
        self.unfinished[who] = f"{name}: {texts_of(seen)[:80]!r}"
        return None

    async def answer(self, user: Any, who: int, token: str) -> None:
        greeting = await self.step(
            who, "start", lambda: user.send_command(f"/start {token}"), user, has_buttons
        )
        if greeting is None:
            return
        message, data = button(greeting, "Hài lòng")
        comment = await self.step(who, "rating", lambda: user.press(message, data), user, has_buttons)
        if comment is None:
            return
        message, data = button(comment, "Bỏ qua")
        if await self.step(who, "skip", lambda: user.press(message, data), user, thanked) is None:
            return
        self.thanked.append(who)
        if len(self.thanked) >= CITIZENS // 2:
            self.half_thanked.set()


async def test_fifty_citizens_answer_while_the_polling_leader_is_killed(tg, tmp_path, people, postgresql_url):
    first, second = bots_on(tg, tmp_path, postgresql_url)
    tokens = await survey_tokens(first, CITIZENS)
    first.start()
    try:
        assert await asyncio.to_thread(first.logged, ELECTED, 15), "\n".join(first.log)
        second.start()
        await asyncio.sleep(3)  # the second has tried for the lock, and lost
        assert not any(ELECTED in line or "polling as" in line for line in second.log)

        citizens = Citizens()

        async def citizen(n: int) -> None:
            await asyncio.sleep(n * 0.3)  # arriving one after another: half are mid-survey at the kill
            await citizens.answer(people(first, 2000 + n), 2000 + n, tokens[n])

        answering = asyncio.gather(*(citizen(n) for n in range(CITIZENS)))
        await citizens.half_thanked.wait()
        first.kill()
        killed = time.monotonic()
        assert await asyncio.to_thread(second.logged, ELECTED, TAKEOVER_SECONDS), "\n".join(second.log)
        took = time.monotonic() - killed
        assert second.logged("telegram: polling as @TestNameBot", within=5)
        await answering
    finally:
        for bot in (first, second):
            if bot.process is not None and bot.process.poll() is None:
                bot.stop()
    print(f"takeover in {took:.1f} s; sent again: {citizens.again}; unthanked: {citizens.unfinished}")
    assert took < TAKEOVER_SECONDS
    # Sent again only what was sent before the other process polled: nothing sent later was lost.
    assert all(sent < killed + took for _, _, sent in citizens.again)
    assert len(citizens.thanked) + len(citizens.unfinished) == CITIZENS
    assert len(citizens.thanked) >= CITIZENS - 10, citizens.unfinished
    with psycopg.connect(postgresql_url) as db:
        rows = db.execute(
            "SELECT chat_id, COUNT(*), MIN(rating), COUNT(completed_at) FROM answers GROUP BY chat_id"
        ).fetchall()
    answers = {int(chat): (count, rating, completed) for chat, count, rating, completed in rows}
    for who in citizens.thanked:  # every citizen thanked has exactly one answer, complete
        assert answers.get(who) == (1, "satisfied", 1), who
    assert all(count == 1 for count, _, _ in answers.values())
    # One not thanked pressed the last button just before the kill: the killed process stored the
    # answer and died before it said thanks; the button pressed again says it was answered.
    for who, what in citizens.unfinished.items():
        assert what.startswith("skip") and "đã được trả lời" in what, what
        assert answers.get(who) == (1, "satisfied", 1), who


HEAD = 2101  # the head of Q1-BN (tests/conftest.py UNITS)


async def test_a_notice_an_invitation_and_the_digest_go_out_once_from_two_processes(
    tg, tmp_path, people, postgresql_url
):
    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    now = datetime.now(zone)
    if (now.hour, now.minute) == (23, 59):
        pytest.skip("no digest time is left today for the first start")
    later = min(now + timedelta(hours=1), now.replace(hour=23, minute=59))
    first, second = bots_on(
        tg, tmp_path, postgresql_url,
        cases={"new_case_notice": {"quiet_seconds": 0, "max_wait_seconds": 0}},
        digest={"time": later.strftime("%H:%M")},  # not due yet: the complaint comes first
    )  # fmt: skip
    (complaint,) = await survey_tokens(first, 1)
    (waiting,) = await survey_tokens(first, 1, returned=False)
    first.start()
    second.start()
    try:
        head = people(first, HEAD)
        # A complaint: its head is told once, though both processes look for new cases.
        carol = people(first, 2201)
        await carol.send_command(f"/start {complaint}")
        greeting = await carol.replies_until(has_buttons, timeout=15)
        message, data = button(greeting, "Không hài lòng")
        await carol.press(message, data)
        problems = await carol.replies_until(has_buttons, timeout=15)
        message, data = button(problems, "Thái độ, hướng dẫn của cán bộ")
        await carol.press(message, data)
        await carol.replies_until(has_buttons, timeout=15)
        await carol.send_text("Cán bộ không hướng dẫn.")
        assert "Thủ trưởng" in texts_of(await carol.replies_until(bool, timeout=15))
        told = await head.replies_until(lambda found: "phản ánh mới" in texts_of(found), timeout=20)
        told += await head.replies(timeout=5)
        assert sum("phản ánh mới" in (m.text or "") for m in told) == 1, texts_of(told)

        # A return recorded later: the citizen waiting is invited once.
        dan = people(first, 2202)
        await dan.send_command(f"/start {waiting}")
        assert "chưa có kết quả" in texts_of(await dan.replies_until(bool, timeout=15))
        assert first.cli("dossier", "returned", "HS-MP-W000").returncode == 0
        invited = await dan.replies_until(has_buttons, timeout=30)
        invited += await dan.replies(timeout=5)
        assert sum("Đăng ký khai sinh" in (m.text or "") for m in invited) == 1, texts_of(invited)

        # The digest, due in both processes at once: both restarted after its time, each catches
        # up at start (as after a night's outage) and the head gets it once.
        for bot in (first, second):
            assert bot.stop() == 0
            data = yaml.safe_load(bot.config_path.read_text(encoding="utf-8"))
            data["digest"]["time"] = datetime.now(zone).strftime("%H:%M")
            bot.config_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        first.start()
        second.start()
        digests = await head.replies_until(lambda found: "Báo cáo ngày" in texts_of(found), timeout=30)
        digests += await head.replies(timeout=5)
        assert sum("Báo cáo ngày" in (m.text or "") for m in digests) == 1, texts_of(digests)
    finally:
        for bot in (first, second):
            if bot.process is not None and bot.process.poll() is None:
                bot.stop()


async def test_the_zalo_bot_has_its_own_poller_and_it_is_taken_over_too(tg, zalo, tmp_path, postgresql_url):
    zalo_token = f"{uuid.uuid4().int % 10**6}:zalo{uuid.uuid4().hex[:8]}"
    first, second = bots_on(
        tg, tmp_path, postgresql_url, zalo={"base_url": zalo.base_url, "token": zalo_token}
    )
    dan = zalo.user(zalo_token, user_id="mp-dan")
    first.start()
    try:
        assert await asyncio.to_thread(first.logged, "elected polling leader for zalo", 15)
        assert first.logged(ELECTED)  # Telegram's poller, elected apart
        second.start()
        await asyncio.sleep(3)
        assert not any("elected polling leader" in line for line in second.log)
        await dan.send_text("/help")
        assert "/language" in "\n".join(m.text or "" for m in await dan.replies(timeout=15))

        first.kill()
        killed = time.monotonic()
        assert await asyncio.to_thread(second.logged, "elected polling leader for zalo", TAKEOVER_SECONDS)
        assert time.monotonic() - killed < TAKEOVER_SECONDS
        assert second.logged("zalo: polling as", within=5)
        await dan.send_text("/help")
        assert "/language" in "\n".join(m.text or "" for m in await dan.replies(timeout=15))
    finally:
        await dan.aclose()
        for bot in (first, second):
            if bot.process is not None and bot.process.poll() is None:
                bot.stop()
