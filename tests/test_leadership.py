"""The election of one polling leader per bot, against a real PostgreSQL: a lock held by one
session, taken over when that session stops or is ended."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable

import psycopg
import pytest

from bot.leadership import AlwaysLeader, Leadership, lock_key

INTERVAL = 0.1  # seconds between tries and checks: short, for the tests


class Polling:
    """One process's polling, as its callbacks see it."""

    def __init__(self) -> None:
        self.polling = False
        self.elected = 0
        self.deposed = 0
        self.changed = asyncio.Event()

    async def start(self) -> None:
        self.polling, self.elected = True, self.elected + 1
        self.changed.set()

    async def stop(self) -> None:
        self.polling, self.deposed = False, self.deposed + 1
        self.changed.set()


async def until(condition: Callable[[], bool], within: float = 5) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    for _ in itertools.count():
        if condition():
            return
        assert loop.time() < deadline, "not within the time"
        await asyncio.sleep(0.01)


@pytest.fixture
async def elect(postgresql_url: str) -> AsyncIterator[Callable[..., tuple[Leadership, Polling]]]:
    made: list[Leadership] = []

    def make(
        key: int = lock_key("telegram", "123456:secret"), name: str = "telegram"
    ) -> tuple[Leadership, Polling]:
        polling = Polling()
        leadership = Leadership(
            postgresql_url, name, key, polling.start, polling.stop, interval=INTERVAL, check_timeout=0.3
        )
        made.append(leadership)
        return leadership, polling

    yield make
    for leadership in made:
        await leadership.stop()


async def test_exactly_one_of_two_leads_and_the_other_takes_over_when_it_stops(elect):
    (first, first_polling), (second, second_polling) = elect(), elect()
    await first.start()
    await until(lambda: first.is_leader)
    await second.start()
    await asyncio.sleep(INTERVAL * 5)  # several tries of the second
    assert (first.is_leader, second.is_leader) == (True, False)
    assert (first_polling.polling, second_polling.polling) == (True, False)

    await first.stop()
    assert (first_polling.polling, first_polling.deposed) == (False, 1)  # stopped before the lock went
    loop = asyncio.get_running_loop()
    stopped = loop.time()
    await until(lambda: second.is_leader)
    assert loop.time() - stopped < INTERVAL * 2 + second.grace
    assert second_polling.polling and second_polling.elected == 1


async def backend_holding(url: str, key: int) -> int:
    """The pid of the session that holds the advisory lock `key` (a bigint: classid is its high
    32 bits, objid its low ones)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as db:
        cursor = await db.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
            " AND classid::bigint = %s AND objid::bigint = %s",
            ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
        )
        (pid,) = await cursor.fetchone() or (None,)
        assert pid is not None, "no session holds the lock"
        return int(pid)


async def terminate(url: str, pid: int) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as db:
        await db.execute("SELECT pg_terminate_backend(%s)", (pid,))


async def test_a_leader_whose_session_is_ended_stops_polling_and_the_other_takes_over(
    elect, postgresql_url, caplog
):
    (first, first_polling), (second, second_polling) = elect(), elect()
    await first.start()
    await until(lambda: first.is_leader)
    await second.start()
    await asyncio.sleep(INTERVAL * 3)
    assert not second.is_leader

    caplog.set_level("INFO", logger="bot.leadership")
    await terminate(postgresql_url, await backend_holding(postgresql_url, first.key))
    await until(lambda: second.is_leader)
    assert (first_polling.polling, first_polling.deposed) == (False, 1)
    assert second_polling.polling
    assert any("lost polling leadership for telegram" in r.getMessage() for r in caplog.records)
    assert any("elected polling leader for telegram" in r.getMessage() for r in caplog.records)

    # the deposed one tries again with a new connection, and leads once the other stops
    await second.stop()
    await until(lambda: first.is_leader)
    assert first_polling.elected == 2


async def test_never_two_leaders_while_sessions_are_ended_again_and_again(elect, postgresql_url):
    pairs = [elect() for _ in range(3)]
    for leadership, _ in pairs:
        await leadership.start()
    for _ in range(4):
        await until(lambda: sum(p.polling for _, p in pairs) == 1)
        leader = next(leadership for leadership, _ in pairs if leadership.is_leader)
        await terminate(postgresql_url, await backend_holding(postgresql_url, leader.key))
        await until(lambda leader=leader: not leader.is_leader)
        assert sum(p.polling for _, p in pairs) <= 1
    await until(lambda: sum(p.polling for _, p in pairs) == 1)


async def test_two_bots_elect_each_their_own_leader(elect):
    (telegram, telegram_polling) = elect(lock_key("telegram", "123456:secret"), "telegram")
    (zalo, zalo_polling) = elect(lock_key("zalo", "123456:secret"), "zalo")
    (other, other_polling) = elect(lock_key("telegram", "654321:secret"), "telegram")
    for leadership in (telegram, zalo, other):
        await leadership.start()
    await until(lambda: telegram.is_leader and zalo.is_leader and other.is_leader)
    assert telegram_polling.polling and zalo_polling.polling and other_polling.polling


def test_lock_keys_are_stable_distinct_and_hide_the_token():
    key = lock_key("telegram", "123456:AAHsecret")
    assert key == lock_key("telegram", "123456:AAHrevoked-and-renewed")  # the same bot, a new token
    assert -(2**63) <= key < 2**63
    assert key == 1 * key and lock_key("telegram", "123456:x") != lock_key("zalo", "123456:x")
    assert len({lock_key("telegram", f"{n}:x") for n in range(10_000)}) == 10_000
    assert lock_key("zalo", "no-id-token") != lock_key("zalo", "other-token")
    # the same in every process and version: a hash of the text, not Python's hash()
    assert lock_key("telegram", "42:abc") == lock_key("telegram", "42:def")


async def test_a_database_that_cannot_be_reached_elects_no_one_and_is_retried(caplog):
    polling = Polling()
    leadership = Leadership(
        "postgresql://nobody@127.0.0.1:1/none", "telegram", 1, polling.start, polling.stop,
        interval=INTERVAL, connect_timeout=1,
    )  # fmt: skip
    caplog.set_level("WARNING", logger="bot.leadership")
    await leadership.start()
    await asyncio.sleep(INTERVAL * 5)
    await leadership.stop()
    assert not polling.elected and not leadership.is_leader
    warnings = [r.getMessage() for r in caplog.records if "leader election" in r.getMessage()]
    assert len(warnings) == 1  # said once, not at every try


async def test_always_leader_polls_from_start_to_stop():
    polling = Polling()
    leader = AlwaysLeader("telegram", polling.start, polling.stop)
    assert not leader.is_leader
    await leader.start()
    assert leader.is_leader and polling.polling
    await leader.stop()
    assert not leader.is_leader and (polling.polling, polling.deposed) == (False, 1)


class SilentLine:
    """A TCP relay to the database that can go silent, as a network cut does: bytes are dropped
    both ways, and no end hears that the other closed. `hang_up` then ends the server's side, as
    its keepalives do after some seconds."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.silent = False
        self.upstreams: list[asyncio.StreamWriter] = []
        self.clients: list[asyncio.StreamWriter] = []
        self.port = 0

    async def __aenter__(self) -> SilentLine:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        self._server.close()
        for writer in [*self.upstreams, *self.clients]:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.clients.append(writer)
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.upstreams.append(up_writer)
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65536):
                if not self.silent:
                    sink.write(data)
                    await sink.drain()
        if not self.silent:
            sink.close()

    def hang_up(self) -> None:
        for writer in self.upstreams:
            writer.close()


async def test_a_leader_cut_off_stops_polling_before_the_server_lets_the_lock_go(postgresql_url):
    info = psycopg.conninfo.conninfo_to_dict(postgresql_url)
    key = lock_key("telegram", "777:cut")
    async with SilentLine(str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432)) as line:
        through_line = psycopg.conninfo.make_conninfo(postgresql_url, host="127.0.0.1", port=line.port)
        cut_polling, other_polling = Polling(), Polling()
        cut = Leadership(through_line, "telegram", key, cut_polling.start, cut_polling.stop,
                         interval=INTERVAL, check_timeout=0.3, connect_timeout=1)  # fmt: skip
        other = Leadership(postgresql_url, "telegram", key, other_polling.start, other_polling.stop,
                           interval=INTERVAL, check_timeout=0.3)  # fmt: skip
        try:
            await cut.start()
            await until(lambda: cut.is_leader)
            await other.start()
            await asyncio.sleep(INTERVAL * 3)

            line.silent = True
            loop = asyncio.get_running_loop()
            silenced = loop.time()
            await until(lambda: not cut_polling.polling, within=3)
            assert loop.time() - silenced < INTERVAL + 0.3 + 0.3  # a check's interval and timeout, and slack
            await asyncio.sleep(0.5)
            assert not other.is_leader  # the server still holds the cut one's session, and its lock

            line.hang_up()  # the server's keepalives give up on it
            await until(lambda: other.is_leader)
            assert other_polling.polling and not cut_polling.polling
        finally:
            await other.stop()
            await cut.stop()
