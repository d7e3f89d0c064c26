"""The day's digest run that finds the database unreachable tries again until it can claim the
digests, rather than leaving them to tomorrow's run (found by a probe: PostgreSQL stopped for a
minute at digest time, and no head got the day's digest until a process restarted)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from bot import app
from handlers.digest import DigestRun
from storage.base import DatabaseUnavailable


class FlakyDigests:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def send(self, senders: Any, now: Any, show: int) -> DigestRun:
        self.calls += 1
        if self.calls <= self.failures:
            raise DatabaseUnavailable("cannot read the database: the server is down")
        return DigestRun(sent=3)

    async def retry(self, senders: Any, now: Any, show: int) -> DigestRun:
        self.calls += 1
        raise DatabaseUnavailable("cannot read the database: the server is down")


async def test_the_days_run_tries_again_until_the_database_answers(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(app, "DIGEST_RETRY_CHECK_SECONDS", 0)
    digests = FlakyDigests(failures=3)
    await app.deliver_digests(SimpleNamespace(digests=digests, monthly=None), {}, 10)  # type: ignore[arg-type]
    assert digests.calls == 4


async def test_it_gives_up_after_its_catch_up_time(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(app, "DIGEST_RETRY_CHECK_SECONDS", 0)
    monkeypatch.setattr(app, "DIGEST_CATCH_UP", app.timedelta(seconds=0))
    digests = FlakyDigests(failures=100)
    await app.deliver_digests(SimpleNamespace(digests=digests, monthly=None), {}, 10)  # type: ignore[arg-type]
    assert digests.calls == 1


async def test_the_retry_round_does_not_loop(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(app, "DIGEST_RETRY_CHECK_SECONDS", 0)
    digests = FlakyDigests(failures=100)
    await app.deliver_digests(SimpleNamespace(digests=digests, monthly=None), {}, 10, retrying=True)  # type: ignore[arg-type]
    assert digests.calls == 1
