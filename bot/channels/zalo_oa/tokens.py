"""The OA's token pair, kept in the database so that a crash, a restart or a second process never
strands the bot with a refresh token Zalo already took.

- Seeded from ZALO_OA_REFRESH_TOKEN when the database has no pair, or when the token in the
  environment is another one than the pair was seeded from (its SHA-256 is stored, never the
  token twice): an admin's way out of a stranded pair is to put a new token there and restart.
- Refreshed when less than REFRESH_AHEAD is left, and when a call is refused with -216 (once;
  the call is then made once more). Zalo's refresh tokens work once: the new pair is committed
  (compare-and-set on the generation read) before anything uses it; the old one is then gone.
- One refresh at a time: an asyncio.Lock within the process; across processes the
  compare-and-set, whose loser reloads the winner's pair (and a refresh refused because another
  process used the token first finds that process's pair too).
- A refresh that fails is logged at ERROR and tried again after a backoff that doubles up to
  BACKOFF_MAX; meanwhile the calls that need a token fail at once with TokenUnavailable (their
  senders try again later), never a tight loop against Zalo.

What cannot be helped: Zalo's answer to a refresh lost before it is committed (a crash, the disk
full) leaves the database with the refresh token Zalo already took. The next refresh is refused,
logged ("Zalo OA refresh token rejected: put a new one in ZALO_OA_REFRESH_TOKEN"), recorded, and
shown by `feedback-bot zalo-oa status`; a new token in the environment replaces the pair at the
next start."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.channels.pacing import Clock, LoopClock
from bot.channels.zalo_oa.client import RefreshRejected, TokenGrant, TokenUnavailable, ZaloOAError
from bot.config import ENV_ZALO_OA_REFRESH_TOKEN
from storage.base import ZaloOARepository
from storage.zalo_oa_records import OAToken

log = logging.getLogger(__name__)

REFRESH_AHEAD = timedelta(hours=1)  # a token with less left is refreshed before it is used
BACKOFF_FIRST = 5.0  # seconds before the first new try of a failed refresh
BACKOFF_MAX = 600.0
REJECTION_GRACE_SECONDS = 1.0  # a refused refresh looks again for another process's pair after this
REJECTED = f"Zalo OA refresh token rejected: put a new one in {ENV_ZALO_OA_REFRESH_TOKEN}"


class Refresher(Protocol):
    async def refresh(self, app_id: str, app_secret: str, refresh_token: str) -> TokenGrant: ...


def seed_hash(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


def utc_now() -> datetime:
    return datetime.now(UTC)


class TokenKeeper:
    """The access token to call Zalo with; see the module's description. `now` gives wall-clock
    time (expiry), `clock` monotonic time (backoff); tests set both."""

    def __init__(
        self,
        store: ZaloOARepository,
        oauth: Refresher,
        app_id: str,
        app_secret: str,
        env_refresh_token: str | None,
        *,
        now: Callable[[], datetime] = utc_now,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.oauth = oauth
        self.app_id = app_id
        self._app_secret = app_secret
        self._env_token = env_refresh_token
        self.now = now
        self.clock: Clock = clock or LoopClock()
        self._lock = asyncio.Lock()
        self._pair: OAToken | None = None
        self._failures = 0
        self._next_try = 0.0  # clock time before which no refresh is tried

    async def start(self) -> OAToken | None:
        """Seeds the pair from the environment when the database has none, or one seeded from
        another token; otherwise the stored pair is used. The pair in use, None without one."""
        pair: OAToken | None
        if self._env_token:
            before = await self.store.get_oa_token()
            pair = await self.store.seed_oa_token(self._env_token, seed_hash(self._env_token), self.now())
            if before is None or before.generation != pair.generation:
                replaced = " (it replaces the stored pair)" if before is not None else ""
                log.info("zalo_oa: token pair seeded from %s%s", ENV_ZALO_OA_REFRESH_TOKEN, replaced)
        else:
            pair = await self.store.get_oa_token()
        if pair is None:
            log.error("zalo_oa: no token: set %s (the OA's refresh token)", ENV_ZALO_OA_REFRESH_TOKEN)
        elif pair.rejected_at is not None:
            log.error("%s (refused at %s)", REJECTED, pair.rejected_at.isoformat(timespec="seconds"))
        self._pair = pair
        return pair

    def _fresh(self, pair: OAToken | None) -> bool:
        return (
            pair is not None
            and pair.access_token is not None
            and pair.access_expires_at is not None
            and pair.access_expires_at - self.now() > REFRESH_AHEAD
        )

    async def access_token(self) -> str:
        """A token with more than REFRESH_AHEAD left, refreshed first if need be. Raises
        TokenUnavailable when there is none and none can be had now."""
        pair = self._pair
        if self._fresh(pair) and pair is not None and pair.access_token is not None:
            return pair.access_token
        return await self._refreshed(refused=None)

    async def renew(self, used: str) -> str:
        """A token other than `used`, which Zalo refused (-216): another coroutine's or process's
        newer one if there is, else a refreshed one."""
        return await self._refreshed(refused=used)

    async def _refreshed(self, refused: str | None) -> str:
        async with self._lock:
            pair = await self.store.get_oa_token()  # another process may have refreshed
            if pair is None:
                raise TokenUnavailable(0, f"no token: set {ENV_ZALO_OA_REFRESH_TOKEN}")
            self._pair = pair
            if self._fresh(pair) and pair.access_token is not None and pair.access_token != refused:
                return pair.access_token
            wait = self._next_try - self.clock.time()
            if wait > 0:
                raise TokenUnavailable(0, f"refreshing the access token failed; next try in {wait:.0f} s")
            return await self._refresh(pair)

    async def _refresh(self, pair: OAToken) -> str:
        try:
            grant = await self.oauth.refresh(self.app_id, self._app_secret, pair.refresh_token)
        except RefreshRejected as exc:
            # Another process may have used this token a moment ago and be writing its pair now.
            await self.clock.sleep(REJECTION_GRACE_SECONDS)
            now = await self.store.get_oa_token()
            if now is not None and now.generation != pair.generation:
                # Another process refreshed with this token first: its pair is the one.
                log.info("zalo_oa: another process refreshed the token pair first; using its pair")
                self._pair, self._failures = now, 0
                if now.access_token is not None:
                    return now.access_token
                return await self._refresh(now)
            self._failed()
            log.error(
                "%s (Zalo said %s; next try in %.0f s)", REJECTED, exc, self._next_try - self.clock.time()
            )
            await self.store.mark_oa_token_rejected(pair.generation, str(exc), self.now())
            raise TokenUnavailable(0, REJECTED) from exc
        except ZaloOAError as exc:
            self._failed()
            log.error(
                "zalo_oa: refreshing the access token failed (%s); next try in %.0f s",
                exc,
                self._next_try - self.clock.time(),
            )
            raise TokenUnavailable(0, f"refreshing the access token failed: {exc}") from exc
        # Committed before anything uses it: Zalo has already forgotten the old refresh token.
        saved = await self.store.save_oa_token(
            pair.generation,
            access_token=grant.access_token,
            access_expires_at=self.now() + timedelta(seconds=grant.expires_in),
            refresh_token=grant.refresh_token,
            now=self.now(),
        )
        if saved is None:
            saved = await self.store.get_oa_token()
            log.warning("zalo_oa: another process wrote a token pair meanwhile; using its pair")
            if saved is None or saved.access_token is None:
                raise TokenUnavailable(0, "the token pair changed meanwhile; try again")
        else:
            log.info("zalo_oa: access token refreshed, valid until %s", saved.access_expires_at)
        self._pair, self._failures, self._next_try = saved, 0, 0.0
        assert saved.access_token is not None
        return saved.access_token

    def _failed(self) -> None:
        self._failures += 1
        delay = min(BACKOFF_FIRST * 2 ** (self._failures - 1), BACKOFF_MAX)
        self._next_try = self.clock.time() + delay
