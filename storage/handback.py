"""Results of work done in a database thread, handed back to the event loops that wait for them:
what both backends' `Database` do once a batch of units of work or reads is done."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, Protocol


class Waiting(Protocol):
    """A job someone awaits: its future is settled in its own event loop."""

    @property
    def future(self) -> asyncio.Future[Any]: ...


Outcome = tuple[Waiting, bool, Any]  # (job, succeeded, its result or exception)


def settle(outcomes: Sequence[Outcome]) -> None:
    """In the event loop: hands each job its result; a caller that gave up is skipped."""
    for job, succeeded, value in outcomes:
        if job.future.done():
            continue
        if succeeded:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)


def hand_back(outcomes: Sequence[Outcome]) -> None:
    """From a database thread: one call into each waiting event loop (normally the one)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].future.get_loop(), []).append(outcome)
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: no one is left to answer
            loop.call_soon_threadsafe(settle, settled)
