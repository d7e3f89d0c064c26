"""A Zalo OA platform for httpx.MockTransport: OAuth with single-use refresh tokens, the OA's
customer-service messages and ZNS, faults to switch on; and a clock the tests move by hand."""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx

from bot.channels.zalo_oa.client import ZaloOAClient, ZaloOAHttp
from bot.channels.zalo_oa.tokens import TokenKeeper
from storage.base import ZaloOARepository

APP_ID, APP_SECRET = "4291", "app-s3cret"
START = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


class Clock:
    """Wall-clock `now()` and monotonic `time()`, moved together by `advance`; `sleep` advances."""

    def __init__(self) -> None:
        self.at = START
        self.monotonic = 1000.0
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.at

    def time(self) -> float:
        return self.monotonic

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)
        self.monotonic += seconds


class FakeZaloOA:
    def __init__(self, clock: Clock, access_ttl: int = 90000) -> None:
        self.clock = clock
        self.access_ttl = access_ttl
        self.refresh_token = "rt-" + secrets.token_hex(8)
        self.access: str | None = None
        self.access_expires = START
        self.refreshes: list[str] = []  # the refresh tokens presented, accepted or not
        self.sent: list[dict[str, Any]] = []  # customer-service messages accepted
        self.calls: list[tuple[str, str]] = []  # (method, path) of every authenticated call answered
        self.faults: list[tuple[int, str]] = []  # the next authenticated calls answer these errors
        self.oauth_faults: list[int] = []  # the next refreshes answer HTTP status (500) or error codes
        self.network_down = False
        self.oauth_gate: asyncio.Barrier | None = None  # refreshes wait for each other here

    async def handle_async(self, request: httpx.Request) -> httpx.Response:
        if self.oauth_gate is not None and request.url.path == "/v4/oa/access_token":
            await self.oauth_gate.wait()
        return self.handle(request)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.network_down:
            raise httpx.ConnectError("down", request=request)
        path = request.url.path
        if path == "/v4/oa/access_token":
            return self.oauth(request)
        token = request.headers.get("access_token")
        if token is None or token != self.access:
            return httpx.Response(200, json={"error": -216, "message": "Access token is invalid"})
        if self.clock.now() > self.access_expires:
            return httpx.Response(200, json={"error": -216, "message": "Access token has expired"})
        self.calls.append((request.method, path))
        if self.faults:
            code, message = self.faults.pop(0)
            if code >= 500:
                return httpx.Response(code, text="gateway")
            return httpx.Response(200, json={"error": code, "message": message})
        body = json.loads(request.content or b"{}")
        if path == "/v3.0/oa/message/cs":
            self.sent.append(body)
            return ok({"message_id": f"m{len(self.sent)}", "user_id": body["recipient"]["user_id"]})
        if path == "/message/quota":
            return ok({"dailyQuota": 1000, "remainingQuota": 990})
        if path == "/message/template":
            return ok(
                {"msg_id": "zm1", "sent_time": "1", "quota": {"dailyQuota": "1000", "remainingQuota": "989"}}
            )
        if path == "/v2.0/oa/getoa":
            return ok({"oa_id": "oa1", "name": "UBND"})
        return httpx.Response(404, json={"error": 404, "message": "no such path"})

    def oauth(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.refreshes.append(form.get("refresh_token", ""))
        if self.oauth_faults:
            fault = self.oauth_faults.pop(0)
            if fault >= 500:
                return httpx.Response(fault, text="down")
            return httpx.Response(200, json={"error": fault, "error_name": "fault"})
        if form.get("app_id") != APP_ID or request.headers.get("secret_key") != APP_SECRET:
            return httpx.Response(
                200, json={"error": -14002, "error_description": "app_id or secret_key is invalid"}
            )
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.refresh_token:
            return httpx.Response(
                200,
                json={"error": -14014, "error_description": "refresh_token is invalid or was already used"},
            )
        self.access = "at-" + secrets.token_hex(8)
        self.refresh_token = "rt-" + secrets.token_hex(8)
        self.access_expires = self.clock.now() + timedelta(seconds=self.access_ttl)
        return httpx.Response(
            200,
            json={
                "access_token": self.access,
                "refresh_token": self.refresh_token,
                "expires_in": str(self.access_ttl),
            },
        )

    def http(self) -> ZaloOAHttp:
        return ZaloOAHttp(
            "https://api.test",
            "https://oauth.test",
            "https://zns.test",
            httpx.MockTransport(self.handle_async),
        )

    def keeper(
        self, store: ZaloOARepository, env_token: str | None, http: ZaloOAHttp | None = None
    ) -> TokenKeeper:
        return TokenKeeper(
            store, http or self.http(), APP_ID, APP_SECRET, env_token, now=self.clock.now, clock=self.clock
        )

    def client(self, store: ZaloOARepository, env_token: str | None) -> tuple[ZaloOAClient, TokenKeeper]:
        http = self.http()
        keeper = self.keeper(store, env_token, http)
        return ZaloOAClient(http, keeper), keeper


def ok(data: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"error": 0, "message": "Success", "data": data})
