"""`digest`: sends the day's digests that have not gone yet, now, on every channel with a token; their
buttons and typed choices are answered by the running bot."""

from __future__ import annotations

import argparse
import contextlib
import sys
from datetime import UTC, datetime

from bot.app import build_handlers
from bot.channels.telegram import CHANNEL as TELEGRAM
from bot.channels.telegram import TelegramChannel
from bot.channels.zalo import CHANNEL as ZALO
from bot.channels.zalo import ZaloChannel, ZaloClient
from bot.channels.zalo_oa.channel import CHANNEL as ZALO_OA
from bot.channels.zalo_oa.wiring import build_channel as build_zalo_oa_channel
from bot.channels.zalo_oa.wiring import build_webhook
from bot.cli.common import CommandError, today, unknown_unit, with_store
from bot.config import ENV_TELEGRAM_TOKEN, ENV_ZALO_TOKEN, Config
from handlers.chat import Sender
from handlers.digest import DigestRun
from storage.base import Storage


def send_digests_now(config: Config, args: argparse.Namespace) -> int:
    """Sends the digests of the day that have not gone yet, on every configured channel."""
    now = datetime.now(UTC)
    local_today = today(config, now)
    if args.date is not None and args.date > local_today:
        # Sending a later day's digest now would record that day's digest as sent, and the real
        # one, with that day's complaints, would never go.
        raise CommandError(
            f"--date {args.date} is after today ({local_today} in {config.timezone}): a day's digest "
            "can be sent on that day or later"
        )
    if config.telegram.token is None and config.zalo.token is None and config.zalo_oa is None:
        raise CommandError(
            f"no bot token: set {ENV_TELEGRAM_TOKEN} or {ENV_ZALO_TOKEN} (or their keys in the config)"
        )

    async def send(store: Storage) -> DigestRun:
        if args.unit and await store.directory.get_unit(args.unit) is None:
            raise unknown_unit(args.unit, config)
        handlers = build_handlers(config, store)
        async with contextlib.AsyncExitStack() as stack:
            senders: dict[str, Sender] = {}
            if config.telegram.token is not None:
                telegram = TelegramChannel(config.telegram, handlers.dispatcher, store.chats)
                await stack.enter_async_context(telegram.application)
                senders[TELEGRAM] = telegram
            if config.zalo.token is not None:
                zalo = ZaloChannel(
                    ZaloClient(config.zalo.base_url, config.zalo.token.get_secret_value()),
                    handlers.dispatcher,
                    store.chats,
                )
                stack.push_async_callback(zalo.client.close)
                senders[ZALO] = zalo
            if config.zalo_oa is not None:  # Zalo Official Account: the pair in the database
                oa = build_zalo_oa_channel(
                    config.zalo_oa, store, handlers.dispatcher, build_webhook(config.zalo_oa)
                )
                await oa.tokens.start()
                stack.push_async_callback(oa.client.close)
                senders[ZALO_OA] = oa
            return await handlers.digests.send(
                senders, now, config.digest.show, day=args.date, only=[args.unit] if args.unit else None
            )

    run = with_store(config, send)
    print(
        f"digests: {run.sent} sent, {run.empty} with nothing to report, {run.unreachable} reached no head, "
        f"{run.already} sent before, {run.retrying} not accepted now (tried again later), "
        f"{run.failed} refused (see: feedback-bot outbox)",
        file=sys.stderr,
    )
    return 0
