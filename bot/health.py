"""What GET /readyz reports: whether the database answers a trivial read in time, and whether
each chat channel this process runs has started. Kept apart from bot/http/ so that the running
bot fills it in without loading FastAPI."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from handlers.throttled_log import ThrottledLog

log = logging.getLogger(__name__)

PING_TIMEOUT = 2.0  # seconds the database has to answer /readyz's read
UNANSWERED = ThrottledLog(log)


class ChannelState(StrEnum):
    STARTING = "starting"  # not started yet: its server cannot be reached, tried again with backoff
    RUNNING = "running"
    REFUSED = "refused"  # the platform refused the token: not tried again until a restart


@dataclass(frozen=True)
class ReadinessReport:
    ready: bool
    database: str  # "ok", "unavailable" or "timeout"
    channels: dict[str, str]

    def body(self) -> dict[str, object]:
        return {
            "status": "ok" if self.ready else "not ready",
            "database": self.database,
            "channels": self.channels,
        }


@dataclass
class Readiness:
    """`ping` reads the database (raising when it does not answer); `channels` holds the state of
    each chat channel configured, set by whoever starts them (none: a process without channels)."""

    ping: Callable[[], Awaitable[object]]
    channels: dict[str, ChannelState] = field(default_factory=dict)
    timeout: float = PING_TIMEOUT

    def expect(self, *names: str) -> None:
        """These channels, and only these, are to start (each STARTING until it has)."""
        self.channels = {name: self.channels.get(name, ChannelState.STARTING) for name in names}

    def set(self, name: str, state: ChannelState) -> None:
        self.channels[name] = state

    async def check(self) -> ReadinessReport:
        """Ready when the database answers within `timeout` and every channel runs."""
        try:
            await asyncio.wait_for(self.ping(), self.timeout)
            database = "ok"
        except TimeoutError:
            UNANSWERED.error("readiness: the database did not answer within %.0f s", self.timeout)
            database = "timeout"
        except Exception as exc:
            UNANSWERED.error("readiness: the database does not answer: %s", exc)
            database = "unavailable"
        channels = {name: state.value for name, state in self.channels.items()}
        running = all(state == ChannelState.RUNNING for state in self.channels.values())
        return ReadinessReport(database == "ok" and running, database, channels)
