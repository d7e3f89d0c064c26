"""Several processes: N simulated citizens complete the survey through real `feedback-bot run`
processes in webhook mode on one PostgreSQL database, first one process, then two; prints updates
per second for each and their ratio.

    .venv/bin/python bench/multi_process.py [--citizens 200] [--rounds 3] [--processes 2]

Each citizen's updates (start, rating, follow-up, text) are posted to the processes' webhooks in
turn, with the secret header, as nginx in front of them would: one citizen's next update usually
reaches the other process, which goes on from the database. A citizen sends the next update once
the bot has answered the last. The bots send to a small fake Bot API served by this script, which
answers at once; they run without their pacing (telegram.messages_per_second set out of reach), as
bench/survey_throughput.py does, since pacing is a wait, not work. The PostgreSQL server is a
throwaway one, durable (bench/_postgresql.py). Everything shares this machine's cores: the bots,
PostgreSQL, and this script's driver and fake Bot API.

Measured 2026-11-27 on a 2-core machine shared with other work: 1 process 48-82 updates/s,
2 processes 88-125 (ratio 1.23-1.85; 1.34 with the defaults, where about 70 transactions a run
raced the other process's and ran again, none with one process: every answer bumps one counter
row). A process is bound by its own CPU, not by PostgreSQL (0.8-2.4 ms of the server's CPU an
update): each bot spends 8-15 ms of CPU an update, about 85 % of it in python-telegram-bot's HTTP
client to the Bot API (httpx, whose pool of up to 256 kept-alive connections is scanned at every
request: py-spy), against about 1 ms an update, bot and PostgreSQL together, in
bench/survey_throughput.py, which has no HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _postgresql import PostgreSQLUnavailable, database, describe, durable_server, skipped

from tests.ports import free_port

TOKEN = "4242:BENCH"
SECRET = "bench-webhook-S3cret"
HOOK = "/telegram/hook"
START_TIMEOUT = 60  # seconds a bot may take to start taking updates
POST_ATTEMPTS = 10  # posts of one update while the connections it is tried on turn out closed
LABELS = ("Hài lòng", "Bình thường", "Không hài lòng")
BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Bench", "username": "BenchBot"}


class FakeBotApi:
    """Telegram's Bot API as far as the bot uses it here: every call succeeds at once; messages
    sent are kept per chat, and a citizen waiting for the bot's next message is woken."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/bot"
        self.sent: dict[int, list[dict[str, Any]]] = {}
        self._arrived: dict[int, asyncio.Event] = {}
        self._ids = itertools.count(1000)
        self.calls = 0

    def arrived(self, chat: int) -> asyncio.Event:
        return self._arrived.setdefault(chat, asyncio.Event())

    async def call(self, request: Any) -> Any:
        from aiohttp import web

        self.calls += 1
        method = request.match_info["method"]
        raw = await request.read()
        if request.content_type == "application/json":
            params = json.loads(raw or b"{}")
        else:
            params = {}
            for key, value in parse_qsl(raw.decode()):
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    params[key] = value
        result: Any = True
        if method == "getMe":
            result = BOT_USER
        elif method == "sendMessage":
            chat = int(params["chat_id"])
            result = {
                "message_id": next(self._ids),
                "date": int(time.time()),
                "chat": {"id": chat, "type": "private"},
                "from": BOT_USER,
                "text": params.get("text", ""),
            }
            if params.get("reply_markup"):
                result["reply_markup"] = params["reply_markup"]
            self.sent.setdefault(chat, []).append(result)
            self.arrived(chat).set()
        return web.json_response({"ok": True, "result": result})

    @contextlib.asynccontextmanager
    async def serving(self) -> Any:
        from aiohttp import web

        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self.call)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        try:
            yield self
        finally:
            await runner.cleanup()


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    markup = message.get("reply_markup") or {}
    return [(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row]


class Bot:
    """One `feedback-bot run` process on its own HTTP port."""

    def __init__(self, config: Path, folder: Path) -> None:
        self.port = free_port()
        self.hook = f"http://127.0.0.1:{self.port}{HOOK}"
        self.log: list[str] = []
        self._ready = threading.Event()
        env = {**os.environ, "FEEDBACK_BOT_API_PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from bot.cli import main; main()", "--config", str(config), "run"],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line.rstrip("\n"))
            if "feedback bot running" in line:
                self._ready.set()

    async def wait_taking(self) -> None:
        """Until the webhook takes updates: a call with the secret and no update is refused as
        such (400), not put off (503) as before the channel started. (The fake Bot API the bot
        starts with is served by this event loop, so the wait must not block it.)"""
        import httpx

        deadline = time.monotonic() + START_TIMEOUT
        async with httpx.AsyncClient() as http:
            while True:
                if self._ready.is_set():
                    with contextlib.suppress(httpx.TransportError):
                        answer = await http.post(
                            self.hook, content=b"{}", headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
                        )
                        if answer.status_code != 503:
                            return
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("a bot did not start:\n" + "\n".join(self.log[-30:]))
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.asynccontextmanager
async def running(count: int, config: Path, folder: Path) -> AsyncIterator[list[Bot]]:
    bots = [Bot(config, folder) for _ in range(count)]
    try:
        for bot in bots:
            await bot.wait_taking()
        yield bots
    finally:
        for bot in bots:
            bot.stop()


def write_config(folder: Path, url: str, api: FakeBotApi) -> Path:
    import yaml

    config = {
        "database": url,
        "secret": "bench-link-secret",
        "units": [{"code": "Q1", "name": "UBND Quận 1"}],
        "api": {"listen": "127.0.0.1", "port": 8080},  # each process: FEEDBACK_BOT_API_PORT
        "telegram": {
            "token": TOKEN,
            "username": BOT_USER["username"],
            "base_url": api.url,
            "base_file_url": api.url,
            "mode": "webhook",
            "url": f"https://bot.example.gov.vn{HOOK}",
            "secret": SECRET,
            "messages_per_second": 1_000_000,
            "chat_burst": 1_000_000,
        },
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


async def add_dossiers(url: str, config: Path, citizens: int) -> list[str]:
    """The dossiers the citizens were given links for (the schema migrated on the way)."""
    from bot.app import links_for, seed_directory
    from bot.config import load_config
    from storage.postgresql import PostgreSQLStorage

    loaded = load_config(config)
    store = PostgreSQLStorage(url)
    await store.open()
    try:
        await seed_directory(store, loaded)
        links = links_for(loaded)
        now = datetime.now(UTC)
        tokens = []
        for n in range(citizens):
            dossier = await store.dossiers.add_dossier(
                code=f"HS-{n}",
                unit_code="Q1",
                procedure="Đăng ký khai sinh",
                link_id=links.new_link_id(),
                now=now,
                returned_at=now,
            )
            tokens.append(links.token(dossier.link_id))
        return tokens
    finally:
        await store.close()


def count_answers(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as pg:
        row = pg.execute("SELECT COUNT(*) FROM answers WHERE completed_at IS NOT NULL").fetchone()
        return int(row[0]) if row else 0


async def drive(api: FakeBotApi, hooks: list[str], tokens: list[str]) -> tuple[int, float]:
    """Every citizen through start → rating → follow-up → text, all at once; each of a citizen's
    updates to the next webhook in turn. Returns (updates, seconds). (aiohttp's client rather
    than httpx's: its pool costs the driver less CPU, which the bots share.)"""
    import aiohttp

    from tests.telegram_fake import Updates

    updates = Updates()
    turn = itertools.count()
    posted = 0

    async def post(http: aiohttp.ClientSession, chat: int, update: dict[str, Any], buttoned: bool) -> None:
        nonlocal posted
        seen = len(api.sent.get(chat, []))
        arrived = api.arrived(chat)
        for attempt in range(POST_ATTEMPTS):
            try:
                async with http.post(
                    hooks[next(turn) % len(hooks)],
                    json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                ) as answer:
                    answer.raise_for_status()
                break
            except aiohttp.ClientConnectionError:  # a kept-alive connection the server had just closed
                if attempt == POST_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.01)
        posted += 1
        while True:  # until the bot has answered this update
            sent = api.sent.get(chat, [])[seen:]
            if sent and (not buttoned or buttons(sent[-1])):
                return
            arrived.clear()
            await asyncio.wait_for(arrived.wait(), 60)

    async def citizen(http: aiohttp.ClientSession, n: int, chat: int, token: str) -> None:
        await post(http, chat, updates.message(chat, f"/start {token}", command=True), True)
        choice = dict(buttons(api.sent[chat][-1]))[LABELS[n % 3]]
        await post(http, chat, updates.press(chat, choice), True)
        # unsatisfied/neutral: the last option ("other"); satisfied: "Bỏ qua"
        await post(http, chat, updates.press(chat, buttons(api.sent[chat][-1])[-1][1]), False)
        await post(http, chat, updates.message(chat, f"Ý kiến của công dân số {chat}"), False)

    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(citizen(http, n, 3_000_000 + n, token) for n, token in enumerate(tokens)))
        return posted, time.perf_counter() - started


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user and system) the processes have used so far, from Linux's /proc; 0 elsewhere."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.0


def server_pids(server: str) -> list[int]:
    """The PostgreSQL server's processes: the postmaster and its children (backends, WAL writer...)."""
    import psycopg

    with psycopg.connect(server) as pg:
        row = pg.execute("SHOW data_directory").fetchone()
    try:
        postmaster = int((Path(row[0] if row else "") / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                children.append(int(stat.parent.name))
    return [postmaster, *children]


def transactions(url: str) -> tuple[int, int]:
    """The database's transactions so far: (committed, rolled back), as its server counts them."""
    import psycopg

    with psycopg.connect(url) as pg:
        row = pg.execute(
            "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)


@dataclass
class Run:
    rate: float  # updates a second
    cpu: dict[str, float]  # milliseconds of CPU per update: bots, PostgreSQL, driver
    rolled_back: int  # transactions rolled back during the run: raced another, and run again


async def one_run(server: str, processes: int, citizens: int) -> Run:
    with tempfile.TemporaryDirectory(prefix="multi-bench-") as name, database(server) as url:
        folder = Path(name)
        api = FakeBotApi()
        config = write_config(folder, url, api)
        tokens = await add_dossiers(url, config, citizens)
        async with api.serving(), running(processes, config, folder) as bots:
            groups = {
                "bots": [bot.process.pid for bot in bots],
                "PostgreSQL": server_pids(server),
                "driver": [os.getpid()],
            }
            before = {group: cpu_seconds(pids) for group, pids in groups.items()}
            _, rolled_back = transactions(url)
            count, seconds = await drive(api, [bot.hook for bot in bots], tokens)
            groups["PostgreSQL"] = server_pids(server)  # backends that ended meanwhile are not counted
            after = {group: cpu_seconds(pids) for group, pids in groups.items()}
        used = {group: (after[group] - before[group]) * 1000 / count for group in groups}
        await asyncio.sleep(1)  # the bots' sessions have ended: the server has their counts
        rolled_back = transactions(url)[1] - rolled_back
        answered = count_answers(url)
        assert answered == citizens, f"{answered} completed answers stored for {citizens} citizens"
        return Run(count / seconds, used, rolled_back)


async def measure(citizens: int, rounds: int, processes: int) -> None:
    try:
        with durable_server() as server:
            results: dict[int, list[Run]] = {1: [], processes: []}
            for _ in range(rounds):
                for count in results:
                    results[count].append(await one_run(server, count, citizens))
            described = describe(server)
    except PostgreSQLUnavailable as missing:
        print(skipped(missing))
        return
    base = statistics.median(run.rate for run in results[1])
    print(
        f"{citizens} citizens x 4 updates, webhook mode, updates posted to the processes in turn, "
        f"median of {rounds} rounds"
    )
    for count, runs in results.items():
        rate = statistics.median(run.rate for run in runs)
        label = "1 feedback-bot process on PostgreSQL" if count == 1 else f"{count} processes, one database"
        ratio = "(baseline)" if count == 1 else f"ratio {rate / base:.2f}"
        cpu = ", ".join(
            f"{group} {statistics.median(run.cpu[group] for run in runs):.1f}" for group in runs[0].cpu
        )
        raced = statistics.median(run.rolled_back for run in runs)
        print(f"  {label:<39} {rate:8.0f} updates/s  {ratio:<11} CPU ms/update: {cpu}; raced: {raced:.0f}")
    print(f"    {described}; {os.cpu_count()} cores shared by the bots, PostgreSQL and this driver")
    print("  every citizen's completed answer was counted in the database after each run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--citizens", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(measure(args.citizens, args.rounds, args.processes))


if __name__ == "__main__":
    main()
