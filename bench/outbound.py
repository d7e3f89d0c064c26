"""Outbound delivery under Telegram's limits: 3,000 messages to 1,000 chats (per chat a survey
invitation, then two relayed messages of a complaint case, as case notices) through the real outbox
(a real SQLite file, the scheduled round `bot.app.deliver_outbox`, the courier) and the real Telegram
channel (an Application with its rate limiter) against a fake Bot API that enforces the limits:

- about 30 messages a second overall: a bucket of 30 that refills at 30 a second;
- in each chat about one a second after a short burst (a bucket of `--server-chat-burst`, default 3,
  refilling at one a second); Telegram documents the short bursts without a number;
- 429 with retry_after (whole seconds, as Telegram sends it) beyond either, and random 429 storms:
  for a while (`--storm-seconds`) every message is refused, on average every `--storm-every` s.

Each request takes 20 to 60 ms of simulated network time. The clock is real: the 3,000 messages
need 100 s at the cap, so a run takes under two minutes. Prints the messages per second as a share
of the 30/s cap, the p99 delay per message (from the moment its send started to the moment Telegram
took it, and from the moment it was queued), how many were lost or doubled, and per-chat order.

    .venv/bin/python bench/outbound.py [--chats 1000] [--seed 7] [--storm-every 30] [--storm-seconds 0.5 2.5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import re
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telegram.request import RequestData

from bot.app import build_handlers, deliver_outbox, links_for, seed_directory
from bot.channels.telegram import TelegramChannel
from bot.config import Config
from handlers.chat import Delivery, Reply, Sender
from storage.records import CaseState, NoticeTo, Rating
from storage.sqlite import SQLiteStorage
from tests.telegram_fake import BOT, FakeTelegram

CAP = 30.0  # Telegram's overall limit, messages a second
MARK = re.compile(r"\[(I|M1|M2)-(\d+)\]")
FIRST_CHAT = 3_000_000


class Bucket:
    """A token bucket: `size` at once, refilled at `rate` a second."""

    def __init__(self, size: float, rate: float, now: float) -> None:
        self.size, self.rate, self.level, self.at = size, rate, size, now

    def take(self, now: float) -> float:
        """Takes a token; 0 if there was one, else the seconds until there will be (nothing taken)."""
        self.level = min(self.size, self.level + (now - self.at) * self.rate)
        self.at = now
        if self.level >= 1:
            self.level -= 1
            return 0.0
        return (1 - self.level) / self.rate


@dataclass
class Accepted:
    chat: int
    mark: str
    at: float


@dataclass
class LimitedTelegram(FakeTelegram):
    """The fake Bot API with Telegram's limits; it keeps every message it accepted."""

    chat_burst: int = 3
    storms: list[tuple[float, float]] = field(default_factory=list)  # (start, end), loop time
    seed: int = 7

    def __post_init__(self) -> None:
        super().__init__()
        self.random = random.Random(self.seed)
        self.overall: Bucket | None = None
        self.chats: dict[int, Bucket] = {}
        self.accepted: list[Accepted] = []
        self.refused = Counter[str]()

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         *args: Any, **kwargs: Any) -> tuple[int, bytes]:  # fmt: skip
        endpoint = url.rsplit("/", 1)[-1]
        if endpoint != "sendMessage":
            return await super().do_request(url, method, request_data, *args, **kwargs)
        loop = asyncio.get_running_loop()
        latency = self.random.uniform(0.02, 0.06)
        await asyncio.sleep(latency / 2)  # on its way to Telegram
        now = loop.time()
        params = dict(request_data.parameters) if request_data else {}
        chat = int(params["chat_id"])
        found = MARK.search(str(params.get("text", "")))
        mark = f"{found.group(1)}-{found.group(2)}" if found else "?"
        wait = self._refusal(chat, now)
        await asyncio.sleep(latency / 2)  # and back
        if wait:
            self.refused["storm" if self._storm(now) else "limit"] += 1
            retry_after = max(1, math.ceil(wait))
            description = f"Too Many Requests: retry after {retry_after}"
            body = {"ok": False, "error_code": 429, "description": description,
                    "parameters": {"retry_after": retry_after}}  # fmt: skip
            return 429, json.dumps(body).encode()
        self.accepted.append(Accepted(chat, mark, now))
        result = {"message_id": len(self.accepted), "date": int(time.time()), "from": BOT,
                  "chat": {"id": chat, "type": "private"}, "text": params.get("text", "")}  # fmt: skip
        if "reply_markup" in params:
            result["reply_markup"] = params["reply_markup"]
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def _storm(self, now: float) -> tuple[float, float] | None:
        return next(((s, e) for s, e in self.storms if s <= now < e), None)

    def _refusal(self, chat: int, now: float) -> float:
        """Seconds to wait before this message would be taken; 0: taken now."""
        storm = self._storm(now)
        if storm is not None:
            return storm[1] - now
        if self.overall is None:
            self.overall = Bucket(CAP, CAP, now)
        bucket = self.chats.setdefault(chat, Bucket(self.chat_burst, 1.0, now))
        # Peek at the chat first: a refused message takes no token from the overall bucket.
        bucket.level = min(bucket.size, bucket.level + (now - bucket.at) * bucket.rate)
        bucket.at = now
        if bucket.level < 1:
            return (1 - bucket.level) / bucket.rate
        wait = self.overall.take(now)
        if wait:
            return wait
        bucket.level -= 1
        return 0.0


def storms_for(
    seed: int, every: float, length: tuple[float, float], start: float, span: float
) -> list[tuple[float, float]]:
    """Random storms over `span` seconds from `start`: gaps drawn around `every`, lengths within `length`."""
    if every <= 0:
        return []
    rng = random.Random(seed * 31 + 1)
    found, at = [], start + rng.expovariate(1 / every)
    while at < start + span:
        end = at + rng.uniform(*length)
        found.append((at, end))
        at = end + rng.expovariate(1 / every)
    return found


async def prepare(store: SQLiteStorage, config: Config, chats: int) -> None:
    """Per chat: a dossier it waits for (returned: an invitation is queued) and a complaint case of
    another citizen whose staff member relays two messages to it (two notices)."""
    now = datetime.now(UTC)
    links = links_for(config)
    (staff,) = [p for p in await store.directory.unit_people("Q1") if p.role.value == "staff"]
    for n in range(chats):
        dossier = await store.dossiers.add_dossier(
            code=f"HS-I-{n}", unit_code="Q1", procedure=f"Đăng ký khai sinh [I-{n}]",
            link_id=links.new_link_id(), now=now,
        )  # fmt: skip
        await store.dossiers.link_chat(dossier.id, "telegram", str(FIRST_CHAT + n), now)
        await store.dossiers.mark_returned(dossier.code, now)
        answered = await store.dossiers.add_dossier(
            code=f"HS-C-{n}", unit_code="Q1", procedure="Cấp giấy phép xây dựng", link_id=links.new_link_id(),
            now=now, returned_at=now,
        )  # fmt: skip
        survey = await store.surveys.start_survey(
            channel="telegram", chat_id=f"9{n}", dossier_id=answered.id, question_set="default",
            question_set_version=1, first_step="rating", now=now,
        )  # fmt: skip
        await store.surveys.record_rating(
            survey, rating=Rating.UNSATISFIED, option_id="unsatisfied", next_step=None, now=now,
            case_deadline=date.today() + timedelta(days=3),
        )  # fmt: skip
    for case in await store.cases.list_cases(["Q1"], states=[CaseState.NEW]):
        n = int(case.dossier_code.rsplit("-", 1)[1])
        await store.cases.change_case(
            case.id, from_states=[CaseState.NEW], to_state=CaseState.ASSIGNED, actor="bench",
            action="assigned", now=now, assignee_id=staff.id,
        )  # fmt: skip
        for m in (1, 2):
            await store.cases.change_case(
                case.id, from_states=[CaseState.ASSIGNED], to_state=CaseState.ASSIGNED, actor="bench",
                action="message", now=now, note=f"Tin nhắn {m} của cán bộ [M{m}-{n}]",
                notices=[NoticeTo(kind="message", channel="telegram", chat_id=str(FIRST_CHAT + n))],
            )  # fmt: skip


class Timed:
    """The channel as the outbox sees it, noting when the outbox first began sending each message."""

    def __init__(self, channel: TelegramChannel) -> None:
        self.channel = channel
        self.began: dict[str, float] = {}

    async def send(self, chat_id: str, *replies: Reply) -> Delivery:
        for reply in replies:
            if found := MARK.search(reply.text):
                self.began.setdefault(f"{found.group(1)}-{found.group(2)}", asyncio.get_running_loop().time())
        return await self.channel.send(chat_id, *replies)


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


async def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="feedback-outbound-") as folder:
        config = Config.model_validate({
            "database": str(Path(folder) / "outbound.db"), "secret": "bench",
            "telegram": {"token": "1:BENCH", "username": "TestNameBot"},
            "units": [{"code": "Q1", "name": "UBND Quận 1",
                       "head": {"name": "Nguyễn Văn A", "telegram": 2001},
                       "staff": [{"name": "Trần Thị B", "telegram": 2002}]}],
        })  # fmt: skip
        store = SQLiteStorage(config.database)
        await store.open()
        await seed_directory(store, config)
        started = time.perf_counter()
        await prepare(store, config, args.chats)
        expected = {f"{kind}-{n}" for n in range(args.chats) for kind in ("I", "M1", "M2")}
        took = time.perf_counter() - started
        print(f"{len(expected)} messages to {args.chats} chats queued in {took:.1f} s "
              f"(SQLite file, WAL)")  # fmt: skip

        loop = asyncio.get_running_loop()
        horizon = len(expected) / CAP * 1.5 + 30
        fake = LimitedTelegram(chat_burst=args.server_chat_burst, seed=args.seed)
        fake.storms = storms_for(args.seed, args.storm_every, tuple(args.storm_seconds), loop.time(), horizon)
        handlers = build_handlers(config, store)
        channel = TelegramChannel(config.telegram, handlers.dispatcher, store.chats, request=fake,
                                  outbox=store.outbox)  # fmt: skip
        timed = Timed(channel)
        senders: dict[str, Sender] = {"telegram": timed}
        cooldown = timedelta(days=config.survey.cooldown_days)
        async with channel.application:
            t0 = loop.time()
            deadline = t0 + horizon
            while loop.time() < deadline and len({a.mark for a in fake.accepted}) < len(expected):
                await deliver_outbox(handlers, senders, cooldown)  # the scheduled round of `run`
                await asyncio.sleep(min(args.period, max(0.0, deadline - loop.time())))
            await handlers.courier.close(grace=5)
        with sqlite3.connect(config.database) as db:
            statuses = Counter(
                status
                for (status,) in db.execute(
                    "SELECT status FROM invitations UNION ALL SELECT status FROM notices"
                )
            )  # fmt: skip
        await store.close()

    marks = Counter(a.mark for a in fake.accepted)
    lost = len(expected - set(marks))
    doubled = sum(count - 1 for count in marks.values() if count > 1)
    firsts = {}
    for a in fake.accepted:
        firsts.setdefault(a.mark, a.at)
    last = max(firsts.values()) if firsts else t0
    rate = len(firsts) / (last - t0) if firsts else 0.0
    during = [(s, e) for s, e in fake.storms if s < last and e > t0]
    stormy = sum(min(e, last) - max(s, t0) for s, e in during)
    open_rate = len(firsts) / max(1e-9, last - t0 - stormy) if firsts else 0.0
    from_queue = [at - t0 for at in firsts.values()]
    from_start = [firsts[m] - timed.began[m] for m in firsts if m in timed.began]
    order_broken = 0
    by_chat: dict[int, list[str]] = defaultdict(list)
    for a in sorted(fake.accepted, key=lambda a: a.at):
        by_chat[a.chat].append(a.mark.split("-")[0])
    for kinds in by_chat.values():
        if kinds != sorted(kinds, key=("I", "M1", "M2").index):
            order_broken += 1
    print(f"delivered {len(firsts)} of {len(expected)} in {last - t0:.1f} s")
    most = CAP + CAP * (last - t0 - stormy)  # its bucket at the start, then its refill outside storms
    print(f"  {rate:.2f} messages/s = {rate / CAP:.1%} of the {CAP:.0f}/s cap "
          f"({open_rate / CAP:.1%} of it outside the {len(during)} storms, {stormy:.1f} s in all); "
          f"{len(firsts) / most:.1%} of the about {most:.0f} the server could take in that time")  # fmt: skip
    print("  delay per message, from the outbox beginning to send it to Telegram taking it: "
          f"p50 {p(from_start, .5):.2f} s, "
          f"p99 {p(from_start, .99):.2f} s, max {max(from_start, default=math.nan):.2f} s")  # fmt: skip
    print(f"  delay per message, from queued (all at once) to taken: p50 {p(from_queue, .5):.1f} s, "
          f"p99 {p(from_queue, .99):.1f} s")  # fmt: skip
    print(f"  429 answered: {fake.refused['limit']} over the limits, {fake.refused['storm']} in storms")
    print(f"  lost {lost}, doubled {doubled}; chats whose messages came out of order: {order_broken}")
    print(f"  outbox rows: {dict(statuses)}")
    share_ok = rate / CAP >= 0.95
    print("goals (>= 95% of the cap, 0 lost, 0 doubled):",
          "met" if share_ok and not lost and not doubled else "NOT met")  # fmt: skip
    return 0 if not lost and not doubled else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=1000, help="chats; three messages each (default 1000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--storm-every", type=float, default=30.0, help="mean seconds between 429 storms; 0: none"
    )
    parser.add_argument("--storm-seconds", type=float, nargs=2, default=(0.5, 2.5), metavar=("MIN", "MAX"))
    parser.add_argument("--server-chat-burst", type=int, default=3, help="messages a chat may get at once")
    parser.add_argument(
        "--period", type=float, default=10.0, help="seconds between outbox rounds (default 10)"
    )
    raise SystemExit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
