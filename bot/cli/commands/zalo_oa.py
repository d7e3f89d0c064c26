"""`zalo-oa status`: the Zalo Official Account's token (its expiry, or why there is none), the ZNS
quota left today (asked of Zalo with the stored access token; the last known one, with its time,
when Zalo cannot be asked), and the last webhook event received. Changes nothing but the quota
it stores; never prints a token."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime

from bot.channels.zalo_oa.client import ZaloOAError
from bot.channels.zalo_oa.tokens import seed_hash
from bot.channels.zalo_oa.wiring import build_http, secret
from bot.cli.common import CommandError, with_store
from bot.config import ENV_ZALO_OA_REFRESH_TOKEN, Config, ZaloOAConfig
from storage.base import Storage
from storage.zalo_oa_records import OAToken


def zalo_oa_status(config: Config, args: argparse.Namespace) -> int:
    """Prints the token, the quota and the last webhook, a line each."""
    settings = config.zalo_oa
    if settings is None:
        raise CommandError("no zalo_oa: section in the config (see README.md, Zalo Official Account)")

    def when(moment: datetime) -> str:
        return moment.astimezone(config.zone).strftime("%Y-%m-%d %H:%M %z")

    async def status(store: Storage) -> list[str]:
        now = datetime.now(UTC)
        token = await store.zalo_oa.get_oa_token()
        lines = [f"access token: {token_state(token, now, when)}"]
        env_token = secret(settings.refresh_token)
        if env_token and token is not None and seed_hash(env_token) != token.seed_hash:
            lines.append(
                f"  a new {ENV_ZALO_OA_REFRESH_TOKEN} is set: it replaces the stored pair when the bot starts"
            )
        lines.append(f"ZNS quota today: {await quota_state(settings, store, token, now, when)}")
        last = await store.zalo_oa.last_webhook_event()
        webhook = f"{last.event_name} at {when(last.received_at)}" if last else "none received yet"
        lines.append(f"last webhook: {webhook} (at {settings.webhook_path})")
        return lines

    for line in with_store(config, status):
        print(line)
    return 0


def token_state(token: OAToken | None, now: datetime, show: Callable[[datetime], str]) -> str:
    if token is None:
        return f"no token: set {ENV_ZALO_OA_REFRESH_TOKEN}"
    if token.rejected_at is not None:
        return (
            f"refresh token rejected at {show(token.rejected_at)} ({token.rejection}): "
            f"put a new one in {ENV_ZALO_OA_REFRESH_TOKEN}"
        )
    if token.access_token is None or token.access_expires_at is None:
        return "none yet: the running bot refreshes the seeded refresh token at its first call to Zalo"
    if token.access_expires_at <= now:
        return f"expired at {show(token.access_expires_at)}: the running bot refreshes it at its next call"
    refreshed = f", refreshed {show(token.refreshed_at)}" if token.refreshed_at else ""
    return f"valid until {show(token.access_expires_at)}{refreshed}"


async def quota_state(
    settings: ZaloOAConfig,
    store: Storage,
    token: OAToken | None,
    now: datetime,
    show: Callable[[datetime], str],
) -> str:
    why = "no valid access token"
    if token is not None and token.access_token and token.access_expires_at and token.access_expires_at > now:
        http = build_http(settings)
        try:
            data = await http.call("zns", "GET", "/message/quota", token.access_token)
            daily, remaining = int(data["dailyQuota"]), int(data["remainingQuota"])
        except ZaloOAError as exc:
            why = f"Zalo not reachable ({exc})"
        except (KeyError, TypeError, ValueError):
            why = "Zalo's answer had no quota"
        else:
            await store.zalo_oa.save_zns_quota(daily, remaining, now)
            return f"{remaining} of {daily} left (asked now)"
        finally:
            await http.close()
    known = await store.zalo_oa.zns_quota()
    last = (
        f"last known {known.remaining} of {known.daily} left at {show(known.as_of)}"
        if known
        else "never known"
    )
    return f"{why}; {last}"
