"""The OA's token pair offline (httpx.MockTransport, a hand-moved clock, a real SQLite database):
seeded from the environment, refreshed ahead of expiry and once on -216, single-use refresh
tokens committed before use, two processes at once, a crash between Zalo's answer and the commit,
a failed refresh retried with backoff, a restart on the stored pair; no token in any log line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.channels.zalo_oa.client import TokenUnavailable, Transient
from bot.channels.zalo_oa.tokens import BACKOFF_MAX, REJECTED, seed_hash
from storage.sqlite import SQLiteStorage
from tests.zalo_oa_fake import APP_SECRET, Clock, FakeZaloOA


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStorage]:
    db = SQLiteStorage(tmp_path / "oa.db")
    await db.open()
    yield db
    await db.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def zalo(clock: Clock) -> FakeZaloOA:
    return FakeZaloOA(clock)


def no_secret_in(caplog: pytest.LogCaptureFixture, *secrets: str) -> bool:
    logged = "\n".join(r.getMessage() for r in caplog.records)
    return not any(s and s in logged for s in secrets)


async def test_the_first_call_refreshes_the_seeded_token_once_and_commits_the_pair(
    store, zalo, clock, caplog
):
    caplog.set_level(logging.INFO)
    first = zalo.refresh_token
    client, keeper = zalo.client(store.zalo_oa, first)
    seeded = await keeper.start()
    assert seeded is not None and seeded.refresh_token == first and seeded.access_token is None
    assert seeded.seed_hash == seed_hash(first)
    await client.send_text("u1", "xin chào")
    await client.send_text("u1", "lần hai")
    assert zalo.refreshes == [first] and len(zalo.sent) == 2
    stored = await store.zalo_oa.get_oa_token()
    assert (
        stored is not None
        and stored.access_token == zalo.access
        and stored.refresh_token == zalo.refresh_token
    )
    assert stored.generation == 2 and stored.access_expires_at == clock.now() + timedelta(seconds=90000)
    assert no_secret_in(caplog, first, zalo.refresh_token, zalo.access or "", APP_SECRET)
    await client.close()


async def test_a_token_near_its_expiry_is_refreshed_before_use(store, zalo, clock):
    client, keeper = zalo.client(store.zalo_oa, zalo.refresh_token)
    await keeper.start()
    await client.send_text("u1", "một")
    clock.advance(90000 - 3700)  # more than an hour left: used as it is
    await client.send_text("u1", "hai")
    assert len(zalo.refreshes) == 1
    clock.advance(200)  # less than an hour left
    await client.send_text("u1", "ba")
    assert len(zalo.refreshes) == 2 and len(zalo.sent) == 3
    stored = await store.zalo_oa.get_oa_token()
    assert stored is not None and stored.generation == 3
    await client.close()


async def test_minus_216_mid_run_refreshes_once_and_the_call_is_made_again(store, zalo):
    client, keeper = zalo.client(store.zalo_oa, zalo.refresh_token)
    await keeper.start()
    await client.send_text("u1", "một")
    zalo.access = "revoked-by-zalo"  # Zalo no longer takes the stored token, long before its expiry
    await client.send_text("u1", "hai")
    assert len(zalo.refreshes) == 2 and [m["message"]["text"] for m in zalo.sent] == ["một", "hai"]
    stored = await store.zalo_oa.get_oa_token()
    assert stored is not None and stored.access_token == zalo.access
    await client.close()


async def test_a_refused_token_is_renewed_only_once_per_call(store, zalo):
    client, keeper = zalo.client(store.zalo_oa, zalo.refresh_token)
    await keeper.start()
    await client.send_text("u1", "một")
    zalo.faults += [(-216, "invalid"), (-216, "invalid again")]
    with pytest.raises(Exception, match="-216"):
        await client.send_text("u1", "hai")
    assert len(zalo.refreshes) == 2  # one refresh, then the second -216 is the caller's failure
    await client.close()


async def test_coroutines_needing_a_token_at_once_share_one_refresh(store, zalo):
    client, keeper = zalo.client(store.zalo_oa, zalo.refresh_token)
    await keeper.start()
    await asyncio.gather(*(client.send_text(f"u{n}", "xin chào") for n in range(10)))
    assert len(zalo.refreshes) == 1 and len(zalo.sent) == 10
    await client.close()


async def test_two_processes_refreshing_at_once_end_on_one_pair(store, zalo, tmp_path):
    other = SQLiteStorage(tmp_path / "oa.db")  # a second process on the same database
    await other.open()
    try:
        one, keeper_one = zalo.client(store.zalo_oa, zalo.refresh_token)
        two, keeper_two = zalo.client(other.zalo_oa, zalo.refresh_token)
        await keeper_one.start()
        await keeper_two.start()
        zalo.oauth_gate = asyncio.Barrier(2)  # both have read the seeded pair before Zalo answers
        first = await asyncio.gather(
            keeper_one.access_token(), keeper_two.access_token(), return_exceptions=True
        )
        # Both presented the seeded token and Zalo took it once. The loser either found the
        # winner's pair at once or failed this once (the winner was still writing its pair) ...
        assert len(zalo.refreshes) == 2 and zalo.refreshes[0] == zalo.refreshes[1]
        assert zalo.access in first and all(
            t == zalo.access or isinstance(t, TokenUnavailable) for t in first
        )
        # ... and takes the winner's pair at its next call, backoff or not, without asking Zalo.
        tokens = [await keeper_one.access_token(), await keeper_two.access_token()]
        assert tokens == [zalo.access, zalo.access] and len(zalo.refreshes) == 2
        stored = await store.zalo_oa.get_oa_token()
        assert stored is not None and stored.generation == 2 and stored.rejected_at is None
        await one.close()
        await two.close()
    finally:
        await other.close()


class CrashingStore:
    """The repository, except that the next pair written is lost as a crash would lose it."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.crash = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def save_oa_token(self, *args: Any, **kwargs: Any) -> Any:
        if self.crash:
            self.crash = False
            raise RuntimeError("killed between Zalo's answer and the commit")
        return await self.store.save_oa_token(*args, **kwargs)


async def test_a_crash_between_the_refresh_and_the_commit_is_reported_and_a_new_env_token_recovers(
    store, zalo, clock, caplog
):
    first = zalo.refresh_token
    crashing = CrashingStore(store.zalo_oa)
    client, keeper = zalo.client(crashing, first)
    await keeper.start()
    with pytest.raises(RuntimeError, match="killed"):
        await client.send_text("u1", "một")
    # The restarted bot has the token Zalo already took: the refresh is refused and said so loudly.
    restarted, keeper = zalo.client(store.zalo_oa, first)
    await keeper.start()
    caplog.set_level(logging.ERROR)
    with pytest.raises(TokenUnavailable):
        await restarted.send_text("u1", "một")
    assert zalo.refreshes == [first, first]
    assert any(REJECTED in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    stranded = await store.zalo_oa.get_oa_token()
    assert (
        stranded is not None
        and stranded.rejected_at == clock.now()
        and "-14014" in (stranded.rejection or "")
    )
    # Until the backoff is over, nobody asks Zalo again.
    with pytest.raises(TokenUnavailable, match="next try"):
        await restarted.send_text("u1", "một")
    assert len(zalo.refreshes) == 2
    # The admin takes a new refresh token from Zalo's console and puts it in the environment.
    fixed, keeper = zalo.client(store.zalo_oa, zalo.refresh_token)
    await keeper.start()
    await fixed.send_text("u1", "một")
    assert [m["message"]["text"] for m in zalo.sent] == ["một"]
    recovered = await store.zalo_oa.get_oa_token()
    assert recovered is not None and recovered.rejected_at is None and recovered.access_token == zalo.access
    for c in (client, restarted, fixed):
        await c.close()


async def test_a_restart_after_a_refresh_uses_the_stored_pair_not_the_env_token(store, zalo):
    first = zalo.refresh_token
    client, keeper = zalo.client(store.zalo_oa, first)
    await keeper.start()
    await client.send_text("u1", "một")
    await client.close()
    again, keeper = zalo.client(store.zalo_oa, first)  # the environment still holds the first token
    pair = await keeper.start()
    assert pair is not None and pair.access_token == zalo.access and pair.generation == 2
    await again.send_text("u1", "hai")
    assert zalo.refreshes == [first] and len(zalo.sent) == 2
    await again.close()


async def test_a_failed_refresh_is_retried_with_a_backoff_that_doubles_up_to_a_cap(
    store, zalo, clock, caplog
):
    client, keeper = zalo.client(store.zalo_oa, zalo.refresh_token)
    await keeper.start()
    zalo.network_down = True
    waits = []
    for _ in range(12):
        caplog.clear()
        with pytest.raises(TokenUnavailable):
            await keeper.access_token()
        assert any("refreshing the access token failed" in r.getMessage() for r in caplog.records)
        with pytest.raises(TokenUnavailable, match="next try"):  # asked at once again: nothing is tried
            await keeper.access_token()
        wait = keeper._next_try - clock.time()
        waits.append(wait)
        clock.advance(wait)
    assert waits[:4] == [5, 10, 20, 40] and max(waits) == BACKOFF_MAX == waits[-1]
    zalo.network_down = False
    assert await keeper.access_token() == zalo.access
    await client.close()


async def test_server_errors_are_transient_and_no_token_without_a_seed(store, zalo):
    client, keeper = zalo.client(store.zalo_oa, None)
    assert await keeper.start() is None
    with pytest.raises(TokenUnavailable, match="ZALO_OA_REFRESH_TOKEN"):
        await client.send_text("u1", "một")
    client, keeper = zalo.client(store.zalo_oa, zalo.refresh_token)
    await keeper.start()
    await client.send_text("u1", "một")
    zalo.faults.append((502, ""))
    with pytest.raises(Transient):
        await client.send_text("u1", "hai")
    await client.close()
