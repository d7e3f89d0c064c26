"""`run`: the bot on every channel with a token; `console`: the survey in this terminal, on the
configured database or a throwaway demo one."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bot.app import build_dispatcher, links_for, serve
from bot.channels.console import ConsoleChannel
from bot.cli.common import CommandError, refuse_new_database, with_store
from bot.config import (
    ENV_TELEGRAM_TOKEN,
    ENV_ZALO_OA_APP_SECRET,
    ENV_ZALO_OA_SECRET_KEY,
    ENV_ZALO_TOKEN,
    Config,
)
from handlers.directory import UnitConfig
from handlers.question_set import QuestionSet
from storage.base import Storage


def run_bot(config: Config, args: argparse.Namespace) -> int:
    """Runs the bot on every channel with a token until Ctrl-C or SIGTERM."""
    if config.zalo_oa is not None:  # Zalo Official Account: its two secrets, from the environment
        oa = config.zalo_oa
        given = ((ENV_ZALO_OA_APP_SECRET, oa.app_secret), (ENV_ZALO_OA_SECRET_KEY, oa.secret_key))
        missing = [name for name, value in given if value is None]
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            raise CommandError(
                f"zalo_oa is configured but {' and '.join(missing)} {verb} not set in the environment"
            )
    if config.telegram.token is None and config.zalo.token is None and config.zalo_oa is None:
        raise CommandError(
            f"no bot token: set {ENV_TELEGRAM_TOKEN}=<token from @BotFather> (or {ENV_ZALO_TOKEN}, or "
            "telegram.token / zalo.token in the config); to try the survey without them, run: "
            "feedback-bot console --demo"
        )
    # The running bot opens its database for as long as it runs (bot.app.serve), not per command.
    refuse_new_database(config)
    return asyncio.run(serve(config, standby=args.standby))


def run_console(config: Config, args: argparse.Namespace) -> int:
    """Runs the survey in the terminal, on the configured database or a throwaway demo one."""
    if args.demo:
        return demo(config)
    return with_store(config, lambda store: converse(config, store))


def demo(config: Config, question_set: QuestionSet | None = None) -> int:
    """The survey of a demo dossier in the terminal, on a throwaway database: it works from any
    folder, with or without a config file, and leaves nothing behind."""
    with tempfile.TemporaryDirectory(prefix="feedback-bot-demo-") as folder:
        throwaway = config.model_copy(
            update={
                "database": Path(folder) / "demo.db",
                "units": (UnitConfig(code="DEMO", name="UBND Phường Bến Nghé"),),
            }
        )
        return with_store(
            throwaway,
            lambda store: converse(throwaway, store, demo_dossier=True, question_set=question_set),
            throwaway=True,
        )


async def converse(
    config: Config, store: Storage, demo_dossier: bool = False, question_set: QuestionSet | None = None
) -> int:
    dispatcher = build_dispatcher(config, store, question_set)
    channel = ConsoleChannel(dispatcher, store.chats)
    print("Gõ /help để xem hướng dẫn, /quit để thoát. Type /help for help, /quit to leave.")
    if demo_dossier:
        now = datetime.now(UTC)
        dossier = await store.dossiers.add_dossier(
            code="DEMO-0001",
            unit_code="DEMO",
            procedure="Cấp bản sao trích lục khai sinh",
            link_id=links_for(config).new_link_id(),
            now=now,
            returned_at=now,
        )
        reply = await dispatcher.survey.begin(channel.address, dossier, config.language, now)
        chat = await store.chats.get_chat_state(channel.address.channel, channel.address.chat_id)
        await channel.show(
            await dispatcher.with_first_notice(chat, [reply], config.language, now), conversation=True
        )
    await channel.converse()
    return 0
