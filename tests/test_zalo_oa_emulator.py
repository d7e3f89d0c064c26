"""The OA client and its token keeper against the Zalo OA emulator (../shared/emulators/zalo_oa.js),
in process, on a real database: the first refresh, an access token expired mid-run (-216: one
refresh, the call made again), a refresh token that works once, a crash between Zalo's answer
and the commit (stranded, reported, recovered by a new token from the environment), a restart on
the stored pair."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.channels.zalo_oa.client import TokenUnavailable, ZaloOAClient, ZaloOAHttp
from bot.channels.zalo_oa.tokens import REJECTED, TokenKeeper
from storage.sqlite import SQLiteStorage
from tests.test_zalo_oa_tokens import CrashingStore

pytestmark = pytest.mark.e2e
SECRET = "app-s3cret"


@pytest.fixture(scope="module")
def oa_server() -> Iterator[Any]:
    """The OA emulator, one per test module; each test has its own OA (app id)."""
    import tests.e2e_support  # noqa: F401 - puts ../shared/emulators on the path

    with importlib.import_module("emulators").ZaloOAEmulator() as server:
        yield server
    if server._process is not None and server._process.stdout is not None:
        server._process.stdout.close()


@pytest.fixture
async def oa(oa_server: Any) -> AsyncIterator[Any]:
    made = await oa_server.create_oa(
        app_id=f"app{uuid.uuid4().hex[:10]}", app_secret=SECRET, oa_secret_key="k3y"
    )
    yield made
    await made.http.aclose()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStorage]:
    db = SQLiteStorage(tmp_path / "oa.db")
    await db.open()
    yield db
    await db.close()


def client_for(
    oa_server: Any, oa: Any, repository: Any, env_token: str | None
) -> tuple[ZaloOAClient, TokenKeeper]:
    http = ZaloOAHttp(oa_server.url, oa_server.url, oa_server.url)
    keeper = TokenKeeper(repository, http, oa.app_id, SECRET, env_token)
    return ZaloOAClient(http, keeper), keeper


async def generation(store: SQLiteStorage) -> int:
    pair = await store.zalo_oa.get_oa_token()
    assert pair is not None
    return pair.generation


async def test_an_access_token_expired_mid_run_is_refreshed_once(oa_server, oa, store):
    dan = await oa.add_user("u1", phone="84901234567")
    await dan.follow()
    client, keeper = client_for(oa_server, oa, store.zalo_oa, oa.refresh_token)
    await keeper.start()
    await client.send_text("u1", "Xin chào")
    assert await generation(store) == 2  # seeded (1), refreshed once (2)
    await oa.expire_access_token()
    await client.send_text("u1", "Lần hai")
    assert [m.text for m in await dan.replies(timeout=5)] == ["Xin chào", "Lần hai"]
    assert await generation(store) == 3  # exactly one more refresh
    stored, tokens = await store.zalo_oa.get_oa_token(), await oa.tokens()
    assert stored is not None and (stored.access_token, stored.refresh_token) == (
        tokens["access_token"], tokens["refresh_token"])  # fmt: skip
    assert [c["path"] for c in await oa.calls()] == ["/v3.0/oa/message/cs"] * 2
    quota = await client.quota()
    assert (quota.daily, quota.remaining) == (1000, 1000)
    await client.close()


async def test_a_refresh_token_works_once_and_a_restart_uses_the_stored_pair(oa_server, oa, store, tmp_path):
    first = oa.refresh_token
    client, keeper = client_for(oa_server, oa, store.zalo_oa, first)
    await keeper.start()
    await client.get_oa()
    await client.close()
    # Another database seeded with the same, now used, token: Zalo refuses it.
    other = SQLiteStorage(tmp_path / "other.db")
    await other.open()
    try:
        stale, keeper = client_for(oa_server, oa, other.zalo_oa, first)
        await keeper.start()
        with pytest.raises(TokenUnavailable, match="rejected"):
            await stale.get_oa()
        await stale.close()
    finally:
        await other.close()
    # The restarted bot, with the same (used) token still in its environment, goes on on its pair.
    restarted, keeper = client_for(oa_server, oa, store.zalo_oa, first)
    await keeper.start()
    assert (await restarted.get_oa())["oa_id"] == oa.oa_id
    assert await generation(store) == 2
    await restarted.close()


async def test_a_crash_between_refresh_and_commit_strands_the_pair_until_a_new_env_token(
    oa_server, oa, store, caplog
):
    first = oa.refresh_token
    crashing, keeper = client_for(oa_server, oa, CrashingStore(store.zalo_oa), first)
    await keeper.start()
    with pytest.raises(RuntimeError, match="killed"):
        await crashing.get_oa()
    await crashing.close()
    restarted, keeper = client_for(oa_server, oa, store.zalo_oa, first)
    await keeper.start()
    with pytest.raises(TokenUnavailable):
        await restarted.get_oa()
    assert REJECTED in caplog.text
    stranded = await store.zalo_oa.get_oa_token()
    assert stranded is not None and stranded.rejected_at is not None and stranded.access_token is None
    await restarted.close()
    # The admin puts a new refresh token (from Zalo's console: here the emulator's) in the environment.
    fixed, keeper = client_for(oa_server, oa, store.zalo_oa, (await oa.tokens())["refresh_token"])
    await keeper.start()
    assert (await fixed.get_oa())["oa_id"] == oa.oa_id
    recovered = await store.zalo_oa.get_oa_token()
    assert recovered is not None and recovered.rejected_at is None and recovered.access_token is not None
    await fixed.close()


async def test_zalo_errors_arrive_typed(oa_server, oa, store):
    from bot.channels.zalo_oa.client import (
        BadPhone,
        NoZaloAccount,
        OutsideWindow,
        TemplateRejected,
        Unfollowed,
    )

    dan = await oa.add_user("u2", phone="84901230000")
    await dan.follow()
    await oa.register_template("412345", ["ho_ten"], rating=True)
    client, keeper = client_for(oa_server, oa, store.zalo_oa, oa.refresh_token)
    await keeper.start()
    await client.send_list("u2", "Ông/Bà hài lòng không?", [("Hài lòng", "1"), ("Không hài lòng", "3")])
    (listed,) = await dan.replies(timeout=5)
    assert listed.text == "Ông/Bà hài lòng không?"
    assert [(b["title"], b["type"], b["payload"]) for b in listed.buttons] == [
        ("Hài lòng", "oa.query.hide", "1"), ("Không hài lòng", "oa.query.hide", "3")]  # fmt: skip
    detail = await client.user_detail("u2")
    assert (detail["user_id"], detail["user_is_follower"]) == ("u2", True)
    sent = await client.send_template("84901230000", "412345", {"ho_ten": "Dân"}, "tr-1")
    assert sent.msg_id and sent.remaining_quota == 999
    with pytest.raises(TemplateRejected):
        await client.send_template("84901230000", "412345", {}, "tr-2")
    with pytest.raises(BadPhone):
        await client.send_template("0901230000", "412345", {"ho_ten": "Dân"}, "tr-3")
    with pytest.raises(NoZaloAccount):
        await client.send_template("84999999999", "412345", {"ho_ten": "Dân"}, "tr-4")
    await dan.last_interaction(hours_ago=49)
    with pytest.raises(OutsideWindow):
        await client.send_text("u2", "Xin chào")
    await dan.unfollow()
    with pytest.raises(Unfollowed):
        await client.send_text("u2", "Xin chào")
    ratings = await client.ratings("412345", 0, 2**45)
    assert ratings["total"] == 0
    await client.close()
