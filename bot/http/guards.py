"""What stands before the routes, as plain ASGI middleware (no body is read by any of them):

- `Failures`: an exception no route handled is a 500 logged with the request's method and path
  (never its headers: they carry the key), or a 503 when the database is unavailable;
- `ApiKeys`: every request under /api/v1/ carries `Authorization: Bearer <key>` of a key that is
  neither unknown nor revoked (else 401), and each key's requests are paced by a token bucket
  (else 429 with Retry-After): before anything of the request is parsed;
- `BodyLimit`: a body over the limit is refused with 413, by its Content-Length before it is read,
  or while it streams in (chunked) as soon as it passes the limit; nothing past that is read."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.http.errors import error_response
from handlers.throttled_log import ThrottledLog
from storage.base import DatabaseUnavailable

log = logging.getLogger(__name__)

PROTECTED = "/api/v1/"
CALLER = "feedback_bot.api_caller"  # the scope key under which the caller reaches the routes
UNAVAILABLE_RETRY_SECONDS = 30
# A full disk fails every request alike, maybe a thousand a second: one line a minute says so.
UNAVAILABLE_LOG = ThrottledLog(log)


class Caller(Protocol):
    @property
    def key_name(self) -> str: ...


class TokenBuckets:
    """A token bucket per key name: `burst` requests at once, then `rate` a second."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # name: (tokens, when counted)

    def take(self, name: str) -> float:
        """Takes a token: 0 when there was one, else the seconds until there will be."""
        now = self.clock()
        tokens, then = self._buckets.get(name, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - then) * self.rate)
        if tokens >= 1:
            self._buckets[name] = (tokens - 1, now)
            return 0.0
        self._buckets[name] = (tokens, now)
        return (1 - tokens) / self.rate


class Watched:
    """`send`, noting whether the response has started: after that, an error can no longer be
    answered in its place."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        self.started = self.started or message["type"] == "http.response.start"
        await self.send(message)


class Failures:
    """An exception that got past the routes' handlers, answered in the one error shape."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sending = Watched(send)
        try:
            await self.app(scope, receive, sending)
        except DatabaseUnavailable as exc:
            UNAVAILABLE_LOG.error("the intake API cannot reach the database: %s", exc)
            if sending.started:
                raise
            retry = {"Retry-After": str(UNAVAILABLE_RETRY_SECONDS)}
            await error_response(503, "the database is unavailable just now: retry later", headers=retry)(
                scope, receive, send
            )
        except Exception:
            log.exception("the intake API failed on %s %r", scope.get("method"), scope.get("path"))
            if sending.started:
                raise
            await error_response(500, "internal error (logged): retry later, or tell the bot's admins")(
                scope, receive, send
            )


class ApiKeys:
    """The key check and the pacing per key for every path under /api/v1/; the caller found is
    put in the scope under CALLER."""

    def __init__(
        self,
        app: ASGIApp,
        authenticate: Callable[[str], Awaitable[Caller | None]],
        buckets: TokenBuckets,
    ) -> None:
        self.app = app
        self.authenticate = authenticate
        self.buckets = buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not f"{scope['path']}/".startswith(PROTECTED):
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        if token is None:
            refusal = "no API key: send the header Authorization: Bearer <key>"
            await unauthorized(refusal, 'Bearer realm="intake"')(scope, receive, send)
            return
        caller = await self.authenticate(token)
        if caller is None:
            refusal = "the API key is unknown or was revoked"
            await unauthorized(refusal, 'Bearer realm="intake", error="invalid_token"')(scope, receive, send)
            return
        wait = self.buckets.take(caller.key_name)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            error = f"too many requests with this API key: retry after {seconds} s"
            await error_response(429, error, headers={"Retry-After": str(seconds)})(scope, receive, send)
            return
        scope[CALLER] = caller
        await self.app(scope, receive, send)


def bearer_token(scope: Scope) -> str | None:
    """The key in `Authorization: Bearer <key>` (the scheme in any case), or None."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            header: str = value.decode("latin-1")
            scheme, _, token = header.strip().partition(" ")
            token = token.strip()
            if scheme.lower() == "bearer" and token and " " not in token:
                return token
            return None
    return None


def unauthorized(error: str, challenge: str) -> ASGIApp:
    return error_response(401, error, headers={"WWW-Authenticate": challenge})


class BodyTooLarge(HTTPException):
    """Raised while a body streams in past the limit. An HTTPException, which FastAPI passes on as
    it is (any other error while it reads a body becomes a 400); the connection is closed rather
    than the rest of the body read."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over {limit:,} bytes", headers={"Connection": "close"})


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = BodyTooLarge(self.max_bytes)
        declared = content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await error_response(413, refusal.detail, headers=refusal.headers)(scope, receive, send)
            return
        received = 0

        async def receiving() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise refusal
            return message

        sending = Watched(send)
        try:
            await self.app(scope, receiving, sending)
        except BodyTooLarge:
            if sending.started:
                raise
            await error_response(413, refusal.detail, headers=refusal.headers)(scope, receive, send)


def content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
