"""Refused requests (a webhook called without its secret, with a body that is no update) are logged
so that an operator sees a misconfiguration or an attack, but never a line each: 5,000 of them wrote
590 KB in 11 seconds. Per source address, the first refusal in a minute is logged as it happens;
the others are counted and told in one line when the minute is over, at the next request that
arrives after it, or when the channel stops."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

WINDOW_SECONDS = 60.0
OTHERS = "other addresses"


@dataclass
class _Window:
    started: float
    more: Counter[str] = field(default_factory=Counter)  # refusals after the first, by reason


class RefusalLog:
    """Counts refusals per source; `clock` is monotonic seconds (tests move it by hand)."""

    # Addresses counted apart at once; beyond them a flood from ever new addresses is counted as one.
    MAX_SOURCES = 1000

    def __init__(self, log: logging.Logger, what: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._log, self._what, self._clock = log, what, clock
        self._windows: dict[str, _Window] = {}  # oldest first: a window is added when it starts

    def __len__(self) -> int:
        return len(self._windows)

    def refused(self, source: str | None, reason: str) -> None:
        """Notes a refused request from `source` (an address) and why."""
        now = self._clock()
        self.summarise(now)
        source = source or "an unknown address"
        if source not in self._windows and len(self._windows) >= self.MAX_SOURCES:
            source = OTHERS
        window = self._windows.get(source)
        if window is not None:
            window.more[reason] += 1
            return
        self._windows[source] = _Window(now)
        self._log.warning("%s: refused a request from %s: %s", self._what, source, reason)

    def summarise(self, now: float | None = None) -> None:
        """Tells the count of each minute that is over. Windows end in the order they began, so
        this looks at no more of them than it closes."""
        now = self._clock() if now is None else now
        while self._windows:
            source, window = next(iter(self._windows.items()))
            if now - window.started < WINDOW_SECONDS:
                break
            del self._windows[source]
            self._tell(source, window)

    def close(self) -> None:
        """Tells every count not yet told."""
        for source, window in self._windows.items():
            self._tell(source, window)
        self._windows.clear()

    def _tell(self, source: str, window: _Window) -> None:
        total = sum(window.more.values())
        if total:
            reasons = ", ".join(f"{reason}: {count}" for reason, count in window.more.most_common())
            self._log.warning(
                "%s: refused %d more requests from %s within a minute of the first (%s)",
                self._what,
                total,
                source,
                reasons,
            )
