"""What every command shares: the one-line error, `with_store` (open the store, run a coroutine on
it, close), reading dates and times as typed, and the unit lookups that explain a unit not found."""

from __future__ import annotations

import argparse
import asyncio
import getpass
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar

from bot.app import opened_storage
from bot.config import ENV_CONFIG, Config
from handlers.directory import subtree
from storage.base import Storage

T = TypeVar("T")


class CommandError(Exception):
    """A mistake on the command line, told to the person in one line."""


def with_store(config: Config, work: Callable[[Storage], Awaitable[T]], *, throwaway: bool = False) -> T:
    """Opens the configured database (created and migrated if need be), runs `work` on it and
    closes it. Without a config file, defaults would put a new database wherever the command was
    run from; that is refused unless the database is `throwaway` (the demo)."""
    if not throwaway:
        refuse_new_database(config)

    async def run() -> T:
        async with opened_storage(config) as store:
            return await work(store)

    return asyncio.run(run())


def refuse_new_database(config: Config) -> None:
    if config.source is None and isinstance(config.database, Path) and not config.database.exists():
        raise CommandError(
            f"no config file found, so no database is created at {config.database}: give --config PATH "
            f"or set {ENV_CONFIG} (to try the bot without one: feedback-bot console --demo)"
        )


def day(value: str) -> date:
    """An argparse type: a day typed as 2026-11-26."""
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-11-26") from exc


def moment(value: str, config: Config, now: datetime) -> datetime:
    """'now' or an ISO date/time; a time without a zone is in the config's time zone."""
    if value == "now":
        return now
    try:
        found = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{value!r} is not a date and time like 2026-11-26T14:30") from exc
    if found.tzinfo is None:
        found = found.replace(tzinfo=config.zone)
    return found.astimezone(UTC)


def today(config: Config, now: datetime) -> date:
    return now.astimezone(config.zone).date()


def cli_actor() -> str:
    """Who the audit trail records for a change made from the command line."""
    return f"cli:{getpass.getuser()}"


def unknown_unit(code: str, config: Config) -> CommandError:
    """The one advice for a unit not in the directory: the database's directory is what counts
    after the first start, and a directory import is how a unit gets into it."""
    source = config.source or "FILE"
    return CommandError(
        f"unknown unit {code!r}: it is not in the directory (see: feedback-bot directory show); to add "
        f"it, put it under 'units:' in {source} and run: feedback-bot directory import {source} --apply"
    )


async def units_under(store: Storage, code: str | None, config: Config) -> list[str] | None:
    """The unit and every unit below it (retired ones too, whose records stay); None for no unit
    given. Raises CommandError for a unit not in the directory."""
    if code is None:
        return None
    units = await store.directory.list_units(retired=True)
    if code not in {u.code for u in units}:
        raise unknown_unit(code, config)
    return subtree([code], units)
