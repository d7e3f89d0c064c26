"""`feedback-bot zalo-oa status`, in-process on a real database: the token's state (none, seeded,
valid, expired, rejected, a new one in the environment), the ZNS quota asked of Zalo (a fake
over httpx.MockTransport) or the last known one, and the last webhook; never a token."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.channels.zalo_oa import wiring
from bot.channels.zalo_oa.client import ZaloOAHttp
from bot.channels.zalo_oa.tokens import seed_hash
from storage.sqlite import SQLiteStorage
from tests.cli_support import error_line, run, write_config

OA = {"app_id": "4291", "oa_id": "oa1"}


@pytest.fixture
def oa_config(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for variable in ("ZALO_OA_APP_SECRET", "ZALO_OA_SECRET_KEY", "ZALO_OA_REFRESH_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    write_config(config_file, api={"port": 0}, zalo_oa=OA)
    return config_file


class Zns:
    def __init__(self) -> None:
        self.down = False
        self.tokens: list[str | None] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("down", request=request)
        self.tokens.append(request.headers.get("access_token"))
        assert request.url.path == "/message/quota"
        data = {"dailyQuota": 1000, "remainingQuota": 987}
        return httpx.Response(200, json={"error": 0, "message": "Success", "data": data})


@pytest.fixture
def zns(monkeypatch: pytest.MonkeyPatch) -> Zns:
    fake = Zns()
    transport = httpx.MockTransport(fake.handle)
    monkeypatch.setattr(
        wiring, "build_http", lambda s: ZaloOAHttp(s.api_url, s.oauth_url, s.zns_url, transport)
    )
    monkeypatch.setattr("bot.cli.commands.zalo_oa.build_http", wiring.build_http)
    return fake


def database(config_file: Path) -> Path:
    return config_file.parent / "db" / "feedback.db"


async def prepare(path: Path, *, refresh: bool = True, expires_in: timedelta = timedelta(hours=20),
                  rejected: bool = False, webhook: bool = True) -> None:  # fmt: skip
    store = SQLiteStorage(path)
    await store.open()
    now = datetime.now(UTC)
    pair = await store.zalo_oa.seed_oa_token("rt-env-secret", seed_hash("rt-env-secret"), now)
    if refresh:
        expiry = now + expires_in
        await store.zalo_oa.save_oa_token(
            pair.generation,
            access_token="at-secret-1",
            access_expires_at=expiry,
            refresh_token="rt-secret-2",
            now=now,
        )
    if rejected:
        current = await store.zalo_oa.get_oa_token()
        assert current is not None
        await store.zalo_oa.mark_oa_token_rejected(current.generation, "-14014: already used", now)
    if webhook:
        await store.zalo_oa.record_webhook_event("user_send_text:m1", "user_send_text", now)
    await store.close()


def output(capsys: pytest.CaptureFixture[str]) -> str:
    out = capsys.readouterr().out
    assert not any(secret in out for secret in ("rt-env-secret", "at-secret-1", "rt-secret-2"))
    return out


def test_without_the_section_it_says_so(config_file, capsys):
    assert run(config_file, "zalo-oa", "status") == 2
    assert "no zalo_oa: section" in error_line(capsys.readouterr().err)


def test_before_any_token(oa_config, zns, capsys):
    assert run(oa_config, "zalo-oa", "status") == 0
    out = output(capsys)
    assert "access token: no token: set ZALO_OA_REFRESH_TOKEN" in out
    assert "ZNS quota today: no valid access token; never known" in out
    assert "last webhook: none received yet (at /zalo-oa/webhook)" in out and zns.tokens == []


def test_a_valid_token_its_quota_asked_now_and_the_last_webhook(oa_config, zns, capsys):
    asyncio.run(prepare(database(oa_config)))
    assert run(oa_config, "zalo-oa", "status") == 0
    out = output(capsys)
    assert "access token: valid until " in out and ", refreshed " in out
    assert "ZNS quota today: 987 of 1000 left (asked now)" in out and zns.tokens == ["at-secret-1"]
    assert "last webhook: user_send_text at " in out
    zns.down = True  # Zalo cannot be asked: the last known quota, with its time
    assert run(oa_config, "zalo-oa", "status") == 0
    out = output(capsys)
    assert (
        "ZNS quota today: Zalo not reachable (GET /message/quota: ConnectError); last known 987 of 1000"
        in out
    )


def test_a_seeded_expired_or_rejected_token(oa_config, zns, capsys):
    asyncio.run(prepare(database(oa_config), refresh=False, webhook=False))
    run(oa_config, "zalo-oa", "status")
    assert "access token: none yet" in output(capsys)
    asyncio.run(prepare(database(oa_config), expires_in=timedelta(hours=-1)))
    run(oa_config, "zalo-oa", "status")
    out = output(capsys)
    assert "access token: expired at " in out and "no valid access token" in out
    asyncio.run(prepare(database(oa_config), rejected=True))
    run(oa_config, "zalo-oa", "status")
    out = output(capsys)
    assert "access token: refresh token rejected at " in out and "(-14014: already used)" in out
    assert "put a new one in ZALO_OA_REFRESH_TOKEN" in out


def test_a_new_token_in_the_environment_is_announced(oa_config, zns, capsys, monkeypatch):
    asyncio.run(prepare(database(oa_config)))
    monkeypatch.setenv("ZALO_OA_REFRESH_TOKEN", "rt-env-secret")
    run(oa_config, "zalo-oa", "status")
    assert "replaces the stored pair" not in output(capsys)
    monkeypatch.setenv("ZALO_OA_REFRESH_TOKEN", "rt-from-the-console")
    run(oa_config, "zalo-oa", "status")
    out = capsys.readouterr().out
    assert "a new ZALO_OA_REFRESH_TOKEN is set: it replaces the stored pair" in out
    assert "rt-from-the-console" not in out


def test_run_refuses_to_start_without_the_oa_secrets(oa_config, capsys, monkeypatch):
    assert run(oa_config, "run") == 2
    line = error_line(capsys.readouterr().err)
    assert "zalo_oa is configured but ZALO_OA_APP_SECRET and ZALO_OA_SECRET_KEY are not set" in line
    monkeypatch.setenv("ZALO_OA_APP_SECRET", "s")
    assert run(oa_config, "run") == 2
    assert "but ZALO_OA_SECRET_KEY is not set" in error_line(capsys.readouterr().err)
