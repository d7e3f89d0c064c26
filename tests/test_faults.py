"""The fault-injection suite (issue 10): the real `feedback-bot run` against the Telegram emulator,
killed with SIGKILL at random points, cut off from the emulator, flooded with 429s, and on a full
or read-only disk. Every thanked answer must be stored, none doubled, and every invitation and
case notice delivered exactly once or listed by `feedback-bot outbox`.

Run alone with `pytest -m faults`; FAULTS_SEED=<n> replays one random schedule (each test prints
the seed it used). Two processes on one SQLite file are tested in
tests/test_e2e_telegram.py::test_a_second_run_on_one_sqlite_database_refuses_or_stands_by."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e_support import BotMessage, BotProcess, TelegramEmulator, texts_of

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

SEED = int(os.environ.get("FAULTS_SEED", "20261126"))
RATINGS = ("Hài lòng", "Bình thường", "Không hài lòng")
GREETING = "Kính chào Ông/Bà! Hồ sơ"
THANKED = ("Cảm ơn", "Thủ trưởng", "đã được đánh giá")
NOT_SAVED = "chưa lưu được"


def rng_for(name: str) -> random.Random:
    print(f"{name}: FAULTS_SEED={SEED}")
    return random.Random(f"{SEED}:{name}")


async def history(tg: TelegramEmulator, token: str) -> list[dict[str, Any]]:
    """Every message the bot sent (and edit it made), as the emulator recorded them."""
    async with httpx.AsyncClient(base_url=tg.url, timeout=30) as http:
        response = await http.post("/getUpdatesHistory", json={"token": token})
        response.raise_for_status()
        return list(response.json()["result"])


def sent_to(records: list[dict[str, Any]], chat_id: int) -> list[BotMessage]:
    """The messages the bot sent to one chat (edits left out)."""
    return [
        BotMessage.of(r)
        for r in records
        if str(r.get("message", {}).get("chat_id")) == str(chat_id) and "text" in r.get("message", {})
    ]


class SurveyedCitizen:
    """A citizen who answers the invitation as a person would: taps, and taps again (or opens the
    link again) when no answer came because the bot was down. Only ever taps its one rating, so
    the stored answer must be that one."""

    def __init__(self, user: Any, token: str, rating: str, rng: random.Random) -> None:
        self.user, self.token, self.rating, self.rng = user, token, rating, rng
        self.thanked = False
        self.resumed_ids: set[int] = set()  # questions shown again on the citizen's /start

    async def answer(self, invitation_timeout: float) -> None:
        shown = await self.user.replies_until(lambda found: any(m.buttons for m in found), invitation_timeout)
        assert any(m.buttons for m in shown), f"no invitation reached {self.user.id}"
        while not self.thanked:
            message = next((m for m in reversed(shown) if m.buttons), None)
            if message is None:  # a tap taken but its answer lost with the bot: the link shows where it is
                await self.user.send_command(f"/start {self.token}")
                shown = await self.user.replies_until(bool, timeout=6)
                self.resumed_ids |= {m.message_id for m in shown}
                self.thanked = any(t in texts_of(shown) for t in THANKED)
                continue
            labels = [b.text for b in message.buttons]
            if labels == list(RATINGS):
                label = self.rating
            elif "Bỏ qua" in labels:
                label = "Bỏ qua"
            else:
                label = self.rng.choice(labels)
            data = next(b.callback_data for b in message.buttons if b.text == label)
            await self.user.press(message, data)
            replies = await self.user.replies_until(bool, timeout=6)
            if not replies:
                continue  # the bot was down (the emulator hands an update out once): tap again
            said = texts_of(replies)
            if NOT_SAVED in said:
                continue
            self.thanked = any(t in said for t in THANKED)
            shown = replies


@pytest.fixture
def bot(tg: TelegramEmulator, tmp_path: Path) -> Iterator[BotProcess]:
    # Notices go out 1 s after the last case opened; no digest catch-up clutters the heads' chats.
    running = BotProcess(
        tg,
        tmp_path,
        cases={"new_case_notice": {"quiet_seconds": 1, "max_wait_seconds": 3}},
    )
    yield running
    if running.process is not None and running.process.poll() is None:
        running.stop()


async def test_kill_9_at_random_points_loses_and_doubles_nothing(tg, bot, people):
    rng = rng_for("kill-9")
    citizens_count, kills = 10, 3
    bot.start()
    citizens: list[SurveyedCitizen] = []
    codes = [f"HS-KILL-{i:02d}" for i in range(citizens_count)]
    for i, code in enumerate(codes):
        token = bot.add_dossier(code, returned=False)
        user = people(bot, 4000 + i)
        await user.send_command(f"/start {token}")
        assert "chưa có kết quả" in texts_of(await user.replies_until(bool, timeout=15))
        citizens.append(SurveyedCitizen(user, token, rng.choice(RATINGS), random.Random(rng.random())))

    async def return_dossiers() -> None:  # as the one-stop software would, amid the kills
        for code in codes:
            done = await asyncio.to_thread(bot.cli, "dossier", "returned", code)
            assert done.returncode == 0, done.stderr
            await asyncio.sleep(rng.uniform(0, 0.5))

    async def kill_and_restart() -> None:
        for _ in range(kills):
            await asyncio.sleep(rng.uniform(0.3, 3.0))
            await asyncio.to_thread(bot.kill)
            await asyncio.sleep(rng.uniform(0, 1.0))
            await asyncio.to_thread(bot.start)

    await asyncio.wait_for(
        asyncio.gather(
            return_dossiers(),
            kill_and_restart(),
            *(c.answer(invitation_timeout=90) for c in citizens),
        ),
        timeout=150,
    )
    await asyncio.sleep(4)  # the last notices (1 s of quiet) go out
    bot.stop()

    # Every thanked answer is stored with the rating the citizen gave; one per dossier.
    stored = dict(bot.query("SELECT d.code, a.rating FROM answers a JOIN dossiers d ON d.id = a.dossier_id"))
    english = {"Hài lòng": "satisfied", "Bình thường": "neutral", "Không hài lòng": "unsatisfied"}
    for code, citizen in zip(codes, citizens, strict=True):
        assert citizen.thanked
        assert stored.get(code) == english[citizen.rating], code
    assert bot.query("SELECT COUNT(*), COUNT(DISTINCT dossier_id) FROM answers") == [
        (citizens_count, citizens_count)
    ]

    # Every invitation reached its chat exactly once (counted on the emulator's side).
    records = await history(tg, bot.token)
    for citizen in citizens:
        invitations = [
            m
            for m in sent_to(records, citizen.user.id)
            if GREETING in (m.text or "") and m.message_id not in citizen.resumed_ids
        ]
        assert len(invitations) == 1, (citizen.user.id, [m.text for m in invitations])

    # Every complaint opened a case, announced to the head once: the notices' counts add up.
    cases = bot.query("SELECT COUNT(*) FROM cases")[0][0]
    assert cases == sum(c.rating == "Không hài lòng" for c in citizens)
    announced = [
        int(match.group(1))
        for m in sent_to(records, 2101)
        if (match := re.search(r"🔔 .*?: (\d+) phản ánh mới", m.text or ""))
    ]
    pending = json.loads(bot.cli("outbox", "--format", "json").stdout)
    assert sum(announced) == cases or pending, (announced, cases)
    print(
        f"kill-9: {kills} kills, {citizens_count} citizens, {len(stored)} answers stored, "
        f"{cases} cases announced in {announced}, outbox {pending}"
    )


async def test_a_429_storm_loses_and_doubles_nothing(tg, bot, people):
    rng = rng_for("429-storm")
    bot.start()
    codes = [f"HS-429-{i}" for i in range(5)]
    citizens = []
    for i, code in enumerate(codes):
        token = bot.add_dossier(code, returned=False)
        user = people(bot, 4100 + i)
        await user.send_command(f"/start {token}")
        assert await user.replies_until(bool, timeout=15)
        citizens.append(SurveyedCitizen(user, token, rng.choice(RATINGS), random.Random(rng.random())))

    async def storm() -> None:  # waves of 429 (retry after 1-2 s) while invitations and answers go
        for _ in range(4):
            await tg.flood(bot.token, count=rng.randint(5, 12), retry_after=rng.randint(1, 2))
            await asyncio.sleep(rng.uniform(1, 4))

    async def return_dossiers() -> None:
        for code in codes:
            assert (await asyncio.to_thread(bot.cli, "dossier", "returned", code)).returncode == 0

    await asyncio.wait_for(
        asyncio.gather(storm(), return_dossiers(), *(c.answer(invitation_timeout=90) for c in citizens)),
        timeout=150,
    )
    bot.stop()
    assert bot.query("SELECT COUNT(*), COUNT(DISTINCT dossier_id) FROM answers") == [(5, 5)]
    records = await history(tg, bot.token)
    for citizen in citizens:
        assert citizen.thanked
        greetings = [
            m
            for m in sent_to(records, citizen.user.id)
            if GREETING in (m.text or "") and m.message_id not in citizen.resumed_ids
        ]
        assert len(greetings) == 1, citizen.user.id
    assert bot.query("SELECT status, COUNT(*) FROM invitations GROUP BY status") == [("sent", 5)]
    assert not bot.logged("was not delivered", within=0)


@contextlib.contextmanager
def mounted(folder: Path, *options: str) -> Iterator[Path]:
    """A file system of its own at `folder` (needs root and a machine that allows mounts)."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", *options, str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here ({' '.join(options)}: {done.stderr.strip()}); needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Writes a file until the disk is full."""
    filler = folder / "filler"
    # Unbuffered: a buffered file keeps the bytes a full disk refused and raises again on closing,
    # outside the suppress, whenever the free space is not a multiple of the block written.
    with filler.open("wb", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 65536)
    return filler


async def test_a_full_disk_is_told_politely_and_recovered_from_without_a_restart(tg, tmp_path, people):
    with mounted(tmp_path / "disk", "-t", "tmpfs", "-o", "size=4m", "tmpfs") as disk:
        bot = BotProcess(tg, disk)  # its config and database on the small disk
        bot.start()
        try:
            token = bot.add_dossier("HS-FULL-1")
            citizen = people(bot, 4200)
            await citizen.send_command(f"/start {token}")
            question = await citizen.replies_until(lambda f: any(m.buttons for m in f), timeout=15)
            filler = fill(disk)

            refused = bot.cli("dossier", "add", "HS-FULL-2", "--unit", "Q1", "--procedure", "Khai sinh")
            assert refused.returncode == 2 and "Traceback" not in refused.stderr
            assert refused.stderr.strip().splitlines()[-1] == (
                f"feedback-bot: cannot open the database {disk / 'feedback.db'}: database or disk is full"
            )
            data = next(b.callback_data for b in question[-1].buttons if b.text == "Hài lòng")
            for _ in range(3):
                await citizen.press(question[-1], data)
                assert NOT_SAVED in texts_of(await citizen.replies_until(bool, timeout=15))
            assert bot.query("SELECT COUNT(*) FROM answers") == [(0,)]
            assert len([line for line in bot.log if "was not saved" in line]) == 1  # once a minute

            filler.unlink()  # room again: no restart
            await citizen.press(question[-1], data)
            comment = await citizen.replies_until(bool, timeout=15)
            assert NOT_SAVED not in texts_of(comment) and any(m.buttons for m in comment)
            assert bot.query("SELECT rating FROM answers") == [("satisfied",)]
        finally:
            bot.stop()


def test_a_read_only_database_stops_run_and_dossier_add_with_one_line(tg, tmp_path):
    data = tmp_path / "data"
    bot = BotProcess(tg, tmp_path, database=str(tmp_path / "ro" / "feedback.db"))
    data.mkdir()
    bot.config_path.write_text(
        bot.config_path.read_text(encoding="utf-8").replace(str(tmp_path / "ro"), str(data)), encoding="utf-8"
    )
    assert bot.cli("dossier", "add", "HS-RO-1", "--unit", "Q1", "--procedure", "Khai sinh").returncode == 0
    bot.config_path.write_text(
        bot.config_path.read_text(encoding="utf-8").replace(str(data), str(tmp_path / "ro")), encoding="utf-8"
    )
    # chmod does not stop root: a read-only bind mount of the database's folder does.
    with mounted(tmp_path / "ro", "--bind", str(data)):
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(tmp_path / "ro")]).returncode != 0:
            pytest.skip("cannot remount read-only here")
        for command in (["run"], ["dossier", "add", "HS-RO-2", "--unit", "Q1", "--procedure", "Khai sinh"]):
            done = bot.cli(*command)
            assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
            last = done.stderr.strip().splitlines()[-1]
            assert last.startswith(
                f"feedback-bot: cannot open the database {tmp_path / 'ro' / 'feedback.db'}: "
            )


class Cutoff:
    """A TCP relay between the bot and the emulator that can cut the line: while cut, every
    connection is dropped and new ones are closed at once, as when the chat platform is down."""

    def __init__(self, target_port: int) -> None:
        import socket
        import threading

        self._socket, self._threading = socket, threading
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.down = False
        self.open: set[Any] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            try:
                upstream = self._socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open |= {client, upstream}
            for one, other in ((client, upstream), (upstream, client)):
                self._threading.Thread(target=self._pump, args=(one, other), daemon=True).start()

    def _pump(self, source: Any, sink: Any) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(self._socket.SHUT_RDWR)

    def cut(self) -> None:
        self.down = True
        with self.lock:
            for connection in self.open:
                with contextlib.suppress(OSError):
                    connection.shutdown(self._socket.SHUT_RDWR)
                connection.close()
            self.open.clear()

    def restore(self) -> None:
        self.down = False

    def close(self) -> None:
        self.cut()
        self.listener.close()


OUTAGE_SECONDS = 20  # with invitations retried after 10 s, then 20 s, as long as a minute's outage


async def test_the_platform_gone_for_a_while_then_back_delivers_everything_once(tg, tmp_path, people):
    from urllib.parse import urlsplit

    relay = Cutoff(urlsplit(tg.url).port or 80)
    via = f"http://127.0.0.1:{relay.port}"
    bot = BotProcess(
        tg,
        tmp_path,
        telegram={"username": "TestNameBot", "base_url": f"{via}/bot", "base_file_url": f"{via}/file/bot"},
    )
    try:
        with bot:
            waiting = []
            for i in range(3):
                token = bot.add_dossier(f"HS-OUT-{i}", returned=False)
                user = people(bot, 4300 + i)
                await user.send_command(f"/start {token}")
                assert await user.replies_until(bool, timeout=15)  # "not returned yet"
                waiting.append(user)
            relay.cut()
            for i in range(3):  # returned while Telegram cannot be reached: invitations wait
                assert (
                    await asyncio.to_thread(bot.cli, "dossier", "returned", f"HS-OUT-{i}")
                ).returncode == 0
            await asyncio.sleep(OUTAGE_SECONDS)
            assert bot.query("SELECT status FROM invitations") == [("pending",)] * 3
            relay.restore()
            for user in waiting:
                shown = await user.replies_until(lambda found: any(m.buttons for m in found), timeout=90)
                assert GREETING in texts_of(shown)
        records = await history(tg, bot.token)
        for user in waiting:
            assert len([m for m in sent_to(records, user.id) if GREETING in (m.text or "")]) == 1
        assert bot.query("SELECT status, COUNT(*) FROM invitations GROUP BY status") == [("sent", 3)]
    finally:
        relay.close()
