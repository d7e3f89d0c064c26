"""Pacing what a channel sends, per chat: an overall rate, a short burst then about one message a
second in each chat, and a chat told to wait (flood control, 429 with retry_after) waiting alone,
so that one flooded chat holds up no other. Time comes from a clock, so tests never sleep."""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta
from typing import Protocol

# How long a send may wait out flood control before it is reported as not accepted. An answer to
# what a person just sent waits long: dropping it would leave them without a reply. A message the
# bot starts itself (invitation, notice, digest) waits a minute: its outbox tries it again later.
REPLY_PATIENCE = timedelta(minutes=10)
SEND_PATIENCE = timedelta(minutes=1)
REMEMBERED_CHATS = 10_000  # chats whose pace is kept; idle ones are forgotten beyond this


class Clock(Protocol):
    def time(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The event loop's monotonic time, and real sleeping."""

    def time(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Pace:
    """At most `burst` sends at once, then `rate` a second; turns are handed out in the order asked
    for (virtual scheduling: each turn moves the theoretical time of the next one on)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.interval = 1 / rate
        self.tolerance = (max(burst, 1) - 1) * self.interval
        self.next_at = -math.inf

    def reserve(self, now: float) -> float:
        """Takes the next turn; how long to wait for it."""
        start = max(now, self.next_at - self.tolerance)
        self.next_at = max(self.next_at, start) + self.interval
        return start - now

    def idle(self, now: float) -> bool:
        """Whether a full burst could go now, so forgetting this pace changes nothing."""
        return self.next_at <= now


class _ChatPace:
    def __init__(self, rate: float, burst: int) -> None:
        self.pace = Pace(rate, burst)
        self.paused_until = -math.inf


class ChatPacer:
    """Turns to send: per chat (a burst, then about one a second; none while the chat is told to
    wait) and overall (`messages_per_second`)."""

    def __init__(self, messages_per_second: float, chat_burst: int, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or LoopClock()
        self._overall = Pace(messages_per_second, max(1, int(messages_per_second)))
        self._chat_burst = chat_burst
        self._chats: dict[str, _ChatPace] = {}

    def _chat(self, chat: str) -> _ChatPace:
        found = self._chats.get(chat)
        if found is None:
            if len(self._chats) >= REMEMBERED_CHATS:
                now = self.clock.time()
                for key, old in list(self._chats.items()):
                    if old.pace.idle(now) and old.paused_until <= now:
                        del self._chats[key]
            found = self._chats[chat] = _ChatPace(1.0, self._chat_burst)
        return found

    def paused_for(self, chat: str) -> float:
        """Seconds the chat is still told to wait (0 when it may send)."""
        found = self._chats.get(chat)
        return max(0.0, found.paused_until - self.clock.time()) if found else 0.0

    async def turn(self, chat: str, deadline: float) -> bool:
        """Waits for the chat's turn and then the overall one; False at once if the chat is told to
        wait beyond `deadline`."""
        pacing = self._chat(chat)
        wait = pacing.paused_until - self.clock.time()
        if wait > 0:
            if self.clock.time() + wait > deadline:
                return False
            await self.clock.sleep(wait)
        await self._wait(pacing.pace.reserve(self.clock.time()))
        await self._wait(self._overall.reserve(self.clock.time()))
        return True

    def pause(self, chat: str, seconds: float) -> None:
        """The platform told this chat to wait `seconds` (flood control): its sends wait that long."""
        pacing = self._chat(chat)
        pacing.paused_until = max(pacing.paused_until, self.clock.time() + seconds)

    async def _wait(self, seconds: float) -> None:
        if seconds > 0:
            await self.clock.sleep(seconds)
