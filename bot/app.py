"""The running application: storage, handlers, channels and the scheduler wired together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from telegram.error import InvalidToken

from bot.channels.telegram import CHANNEL, TelegramChannel
from bot.config import PLACEHOLDER_SECRET, Config
from handlers.chat import Sender
from handlers.dispatch import Dispatcher
from handlers.invitations import send_invitations
from handlers.links import SurveyLinks
from handlers.question_set import load_question_set
from handlers.survey import SurveyFlow, SurveySettings
from storage.base import Storage
from storage.records import Unit
from storage.sqlite import SQLiteStorage

log = logging.getLogger(__name__)


async def save_config_units(store: Storage, config: Config) -> None:
    """Stores the units listed in the config, so dossiers can name them."""
    units = [Unit(code=u.code, name=u.name, parent_code=parent) for u, parent in config.all_units()]
    if units:
        await store.save_units(units)


@asynccontextmanager
async def opened_storage(config: Config) -> AsyncIterator[Storage]:
    """The configured database for the block: created and migrated if need be, with the
    config's units saved, closed afterwards."""
    store = SQLiteStorage(config.database)
    await store.open()
    try:
        await save_config_units(store, config)
        yield store
    finally:
        await store.close()


def links_for(config: Config) -> SurveyLinks:
    return SurveyLinks(config.secret.get_secret_value(), config.telegram.username)


def build_dispatcher(config: Config, store: Storage) -> Dispatcher:
    survey = SurveyFlow(
        store,
        load_question_set(config.question_set),
        links_for(config),
        SurveySettings(
            cooldown_days=config.survey.cooldown_days, link_valid_days=config.survey.link_valid_days
        ),
    )
    return Dispatcher(store, survey, config.language)


async def deliver_invitations(
    dispatcher: Dispatcher, senders: Mapping[str, Sender], cooldown: timedelta
) -> None:
    """One scheduled round of the outbox; errors are logged and the next round tries again."""
    try:
        await send_invitations(dispatcher, senders, datetime.now(UTC), cooldown)
    except Exception:
        log.exception("sending survey invitations failed; will try again next round")


async def serve(config: Config) -> int:
    """Runs the bot until SIGINT or SIGTERM. Returns the process exit code."""
    if config.secret.get_secret_value() == PLACEHOLDER_SECRET:
        log.warning(
            "the link secret is the placeholder %r: set FEEDBACK_BOT_SECRET before printing "
            "survey links for real receipts",
            PLACEHOLDER_SECRET,
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async with opened_storage(config) as store:
        dispatcher = build_dispatcher(config, store)
        telegram = TelegramChannel(config.telegram, dispatcher)
        if not await _start_with_backoff(telegram, stop):
            return 0 if stop.is_set() else 1
        senders: dict[str, Sender] = {CHANNEL: telegram}
        scheduler = AsyncIOScheduler(timezone=config.zone)
        scheduler.add_job(
            deliver_invitations,
            "interval",
            seconds=config.survey.invitation_check_seconds,
            args=(dispatcher, senders, timedelta(days=config.survey.cooldown_days)),
            next_run_time=datetime.now(config.zone),
            max_instances=1,
            coalesce=True,
            id="invitations",
        )
        scheduler.start()
        log.info("feedback bot running; database %s", config.database)
        await stop.wait()
        log.info("stopping")
        scheduler.shutdown(wait=False)
        await telegram.stop()
    return 0


async def _start_with_backoff(channel: TelegramChannel, stop: asyncio.Event) -> bool:
    """Starts a channel, retrying with backoff while its server cannot be reached. A token the
    server refuses stops here: retrying would not help."""
    delay = 1.0
    while not stop.is_set():
        try:
            await channel.start()
            return True
        except InvalidToken:
            log.error("Telegram refused the bot token: check TELEGRAM_BOT_TOKEN or telegram.token")
            return False
        except Exception as exc:  # network down, server error: try again
            log.warning("telegram: cannot start (%s); retrying in %.0f s", exc, delay)
            await channel.stop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 60)
    return False
