"""A clock for the channels' pacing and flood waits, so tests never sleep through time: with `auto`,
every sleep moves the time on at once; otherwise sleepers wait until the test calls `advance`."""

from __future__ import annotations

import asyncio
import heapq
import itertools


class FakeClock:
    def __init__(self, *, auto: bool = False) -> None:
        self.now = 1000.0
        self.auto = auto
        self.slept: list[float] = []
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        if self.auto:
            self.now += seconds
            await asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), wake))
        await wake

    @property
    def sleeping(self) -> int:
        return len(self._sleepers)

    async def advance(self, seconds: float) -> None:
        """Moves the time on, waking each sleeper whose time came, in order, and letting it run."""
        until = self.now + seconds
        while self._sleepers and self._sleepers[0][0] <= until:
            wake_at, _, wake = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake_at)
            wake.set_result(None)
            for _ in range(20):  # let the woken task run until it sleeps or ends
                await asyncio.sleep(0)
        self.now = until
