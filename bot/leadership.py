"""Who long-polls a bot: Telegram (and the Zalo Bot Platform) hand a bot's updates to one getUpdates
consumer, so when several `feedback-bot run` processes share one PostgreSQL database they elect
one poller per (channel, bot) with a session-level advisory lock. Every process starts its channels
for sending; only the leader polls. Webhook mode needs no leader (every process answers what
reaches it), and SQLite needs none either: one process per database (`AlwaysLeader`).

Timing (the goal: when the leader dies, another process polls within 10 s):
- A follower tries `pg_try_advisory_lock` every INTERVAL_SECONDS (1 s).
- A leader killed (kill -9, a crash) closes its socket: PostgreSQL ends its session and drops the
  lock at once, and a follower has it at its next try, within 1 s. It polls after a grace of one
  leader's check (1 + 1 s): a leader whose session was ended while it lives (terminated, the
  server restarted) notices within that and stops first. So another process polls within
  1 + 2 = 3 s of a leader's death.
- A leader cut off from the database (a network fault) is ended by the server only when its TCP
  keepalives go unanswered: the deploy recipe (deploy/postgresql.conf.snippet) sets
  `tcp_keepalives_idle = 3`, `tcp_keepalives_interval = 1`, `tcp_keepalives_count = 2` and
  `tcp_user_timeout = 5000`, so about 3 + 1 × 2 = 5 s after the last packet. The leader must stop
  polling before that, or two processes would poll: it runs `SELECT 1` every INTERVAL_SECONDS with
  CHECK_TIMEOUT_SECONDS (1 s) to answer, so it stops polling at most 1 + 1 = 2 s after the last
  packet (plus the time its channel takes to stop), well inside the 5 s. A follower then polls
  within 5 + 1 + 2 = 8 s at worst of a silent cut, within 3 s of a kill or a restart.
The lock key is a 64-bit hash of the channel and the bot's public id (a Telegram token's digits
before the colon), or of a hash of the token where it has no such id: never the token itself,
which is also never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import psycopg

from storage.postgresql.db import connection_kwargs, first_line

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 1.0  # between a follower's tries for the lock, and between a leader's checks
CHECK_TIMEOUT_SECONDS = 1.0  # a leader's check not answered within this: it is no longer leader
CONNECT_TIMEOUT_SECONDS = 3  # libpq's connect_timeout (whole seconds)

Callback = Callable[[], Awaitable[None]]
T = TypeVar("T")


def lock_key(channel: str, token: str) -> int:
    """The advisory lock of a bot on a channel: a signed 64-bit number (PostgreSQL's bigint), the
    same in every process and across versions (a hash of stable text, not Python's hash())."""
    public_id, sep, _ = token.partition(":")
    identity = public_id if sep and public_id.isdigit() else hashlib.sha256(token.encode()).hexdigest()
    digest = hashlib.sha256(f"{channel}:{identity}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Leader(Protocol):
    """What the running bot asks of an election: start it, stop it, and whether this one leads."""

    @property
    def is_leader(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class AlwaysLeader:
    """SQLite: one process serves a database (storage's file lock sees to it), so it always polls."""

    def __init__(self, name: str, on_elected: Callback, on_deposed: Callback) -> None:
        self.name = name
        self._on_elected, self._on_deposed = on_elected, on_deposed
        self._leader = False

    @property
    def is_leader(self) -> bool:
        return self._leader

    async def start(self) -> None:
        try:
            await self._on_elected()
        except Exception:  # the channel still sends; its polling is what failed
            log.exception("%s: could not start polling", self.name)
            return
        self._leader = True

    async def stop(self) -> None:
        if self._leader:
            self._leader = False
            await self._on_deposed()


class Leadership:
    """One process's part in the election of `name`'s poller (a channel, "telegram"), on its own
    connection to `url` (autocommit: the lock is the session's, held until released or the
    session ends). `on_elected` starts polling; `on_deposed` stops it, and is called before the
    lock is given up, so two processes never poll at once."""

    def __init__(
        self,
        url: str,
        name: str,
        key: int,
        on_elected: Callback,
        on_deposed: Callback,
        *,
        interval: float = INTERVAL_SECONDS,
        check_timeout: float = CHECK_TIMEOUT_SECONDS,
        connect_timeout: int = CONNECT_TIMEOUT_SECONDS,
    ) -> None:
        self.url, self.name, self.key = url, name, key
        self._on_elected, self._on_deposed = on_elected, on_deposed
        self.interval, self.check_timeout, self.connect_timeout = interval, check_timeout, connect_timeout
        self.grace = interval + check_timeout  # the longest a deposed leader takes to notice
        self._leader = False
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._said_unreachable = False

    @property
    def is_leader(self) -> bool:
        return self._leader

    async def start(self) -> None:
        """Takes part from now on, in a task of its own: returns at once, elected or not."""
        if self._task is None:
            self._task = asyncio.create_task(self._take_part(), name=f"leadership {self.name}")

    async def stop(self) -> None:
        """Stops polling if this one leads, then gives the lock up and closes the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._leader:
            await self._depose()
        if self._connection is not None:
            with contextlib.suppress(psycopg.Error, OSError, TimeoutError):
                await self._within(self._connection.execute("SELECT pg_advisory_unlock(%s)", (self.key,)))
            await self._disconnect()

    async def _take_part(self) -> None:
        while True:
            try:
                if self._connection is None:
                    self._connection = await self._connect()
                if self._leader:
                    await self._check()
                elif await self._try_lock():
                    # A leader whose session was ended (terminated, the server restarted) learns
                    # it at its next check: it is given that long to stop polling first.
                    await asyncio.sleep(self.grace)
                    await self._check()
                    log.info("elected polling leader for %s", self.name)
                    self._leader = True
                    try:
                        await self._on_elected()
                    except Exception:
                        log.exception("%s: could not start polling as leader; giving the lead up", self.name)
                        await self._depose()
                        await self._disconnect()  # the session's end frees the lock
            except Exception as exc:  # psycopg's errors, a timeout, a socket's: the connection is done
                await self._lost(exc)
            await asyncio.sleep(self.interval)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        settings = {  # the password as the storage's connections have it (from the environment)
            **connection_kwargs(),
            "connect_timeout": self.connect_timeout,
            "application_name": f"feedback-bot {self.name} leader",
        }
        connection = await asyncio.wait_for(
            psycopg.AsyncConnection.connect(self.url, autocommit=True, **settings),
            self.connect_timeout + 1,
        )
        if self._said_unreachable:
            log.info("%s: the database is reachable again; taking part in the election", self.name)
            self._said_unreachable = False
        return connection

    async def _try_lock(self) -> bool:
        assert self._connection is not None
        cursor = await self._within(self._connection.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)))
        row = await cursor.fetchone()
        return bool(row and row[0])

    async def _check(self) -> None:
        """The leader's session still answers: the lock is still held."""
        assert self._connection is not None
        await self._within(self._connection.execute("SELECT 1"))

    async def _within(self, call: Awaitable[T]) -> T:
        """`call`'s result, or TimeoutError after `check_timeout`. The connection is closed before
        the call is cancelled: cancelled on an open one, psycopg would first try for seconds to
        cancel the query on the server, which a leader cut off cannot reach."""
        task = asyncio.ensure_future(call)
        done, _ = await asyncio.wait({task}, timeout=self.check_timeout)
        if task in done:
            return task.result()
        await self._disconnect()
        task.cancel()
        task.add_done_callback(_retrieve)
        raise TimeoutError(f"no answer within {self.check_timeout:g} s")

    async def _lost(self, exc: BaseException) -> None:
        """The connection failed: a leader stops polling at once; the election goes on with a new
        connection."""
        reason = first_line(exc)
        if self._leader:
            log.warning(
                "lost polling leadership for %s (the database connection failed: %s)", self.name, reason
            )
            await self._depose()
        elif not self._said_unreachable:
            log.warning(
                "%s: cannot reach the database for the leader election (%s); retrying", self.name, reason
            )
            self._said_unreachable = True
        await self._disconnect()

    async def _depose(self) -> None:
        self._leader = False
        try:
            await self._on_deposed()
        except Exception:
            log.exception("%s: stopping polling failed", self.name)

    async def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await connection.close()


def _retrieve(task: asyncio.Future[Any]) -> None:
    """A call given up on ends with an error nobody waits for: taken here, not logged by asyncio."""
    if not task.cancelled():
        task.exception()
