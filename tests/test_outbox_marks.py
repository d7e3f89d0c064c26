"""What the platform took is recorded through a short outage of the database, so that it is not
sent again when its claim ends (a probe: ten citizens invited twice after a 12-second outage)."""

from __future__ import annotations

import pytest

from handlers import outbox
from handlers.outbox import recorded
from storage.base import DatabaseUnavailable
from storage.records import OutboxStatus


class FlakyFinish:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[tuple[OutboxStatus, str | None]] = []

    async def __call__(self, status: OutboxStatus, error: str | None) -> None:
        self.calls.append((status, error))
        if len(self.calls) <= self.failures:
            raise DatabaseUnavailable("cannot write to the database: the server is down")


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox, "MARK_FIRST_WAIT", 0.0)


async def test_a_sent_message_is_recorded_once_the_database_is_back():
    finish = FlakyFinish(failures=3)
    await recorded(finish, OutboxStatus.SENT, None)
    assert finish.calls == [(OutboxStatus.SENT, None)] * 4


async def test_an_outage_longer_than_the_patience_is_raised(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(outbox, "MARK_PATIENCE", 0.0)
    finish = FlakyFinish(failures=10)
    with pytest.raises(DatabaseUnavailable):
        await recorded(finish, OutboxStatus.SENT, None)
    assert len(finish.calls) == 1


async def test_other_errors_are_not_retried():
    async def broken(status: OutboxStatus, error: str | None) -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        await recorded(broken, OutboxStatus.SENT, None)
