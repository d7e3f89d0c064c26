"""A log line for a failure that may repeat many times a second (a full disk, every message and
every scheduled round failing alike): written at most once a period, with how many were left out."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any


class ThrottledLog:
    """Logs at most once per `every` seconds; the next line written says how many were left out."""

    def __init__(
        self, logger: logging.Logger, every: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.logger = logger
        self.every = every
        self.clock = clock
        self._last: float | None = None
        self._left_out = 0

    def log(self, level: int, message: str, *args: Any, exc_info: bool = False) -> bool:
        """Writes the line unless one was written less than `every` seconds ago; whether it was."""
        now = self.clock()
        if self._last is not None and now - self._last < self.every:
            self._left_out += 1
            return False
        if self._left_out:
            message += f" ({self._left_out} more like it not logged in the last {self.every:.0f} s)"
        self.logger.log(level, message, *args, exc_info=exc_info)
        self._last, self._left_out = now, 0
        return True

    def error(self, message: str, *args: Any) -> bool:
        return self.log(logging.ERROR, message, *args)

    def exception(self, message: str, *args: Any) -> bool:
        """An error with the traceback of the exception being handled."""
        return self.log(logging.ERROR, message, *args, exc_info=True)
