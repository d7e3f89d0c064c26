"""`apikey create | list | revoke`: the keys the one-stop software calls the intake API with.

A key is printed once, alone on its line, when it is made (for a script to capture); only its hash
is stored, so a lost key is revoked and a new one made. A key touches only dossiers of the units it
names and the units under them."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime

from bot.cli.common import CommandError, cli_actor, unknown_unit, with_store
from bot.cli.output import Column, emit, render
from bot.config import Config
from handlers.codes import TextRefused, checked_code
from handlers.intake import hash_api_key, new_api_key
from storage.base import DuplicateApiKey, Storage, UnknownApiKey, UnknownUnit
from storage.records import ApiKey

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

KEY_COLUMNS = (
    Column("name"),
    Column("units"),
    Column("state"),
    Column("created"),
    Column("created_by"),
    Column("last_used"),
    Column("revoked"),
)


def create_key(config: Config, args: argparse.Namespace) -> int:
    """Makes a key for these units and prints it once."""
    if not NAME.fullmatch(args.name):
        raise CommandError(
            f"the key name {args.name!r} may hold letters, digits, dot, dash and underscore (at most 64), "
            "for example motcua-q1"
        )
    try:
        units = list(dict.fromkeys(checked_code(u, "unit code") for u in args.units.split(",") if u.strip()))
    except TextRefused as exc:
        raise CommandError(str(exc)) from exc
    if not units:
        raise CommandError("name at least one unit: --units CODE[,CODE...]")
    key = new_api_key()

    async def create(store: Storage) -> ApiKey:
        try:
            return await store.api_keys.create_api_key(
                args.name, hash_api_key(key), units, actor=cli_actor(), now=datetime.now(UTC)
            )
        except DuplicateApiKey as exc:
            raise CommandError(
                f"a key named {args.name!r} exists (see: feedback-bot apikey list); choose another name"
            ) from exc
        except UnknownUnit as exc:
            raise unknown_unit(str(exc), config) from exc

    made = with_store(config, create)
    print(key)
    sys.stdout.flush()
    print(
        f"key {made.name!r} for {', '.join(made.units)} and the units under them: it is shown only now; "
        "the one-stop software sends it as: Authorization: Bearer <key>",
        file=sys.stderr,
    )
    return 0


def list_keys(config: Config, args: argparse.Namespace) -> int:
    """Lists every key, revoked ones too; never the keys themselves."""

    async def fetch(store: Storage) -> list[ApiKey]:
        return await store.api_keys.list_api_keys()

    def local(at: datetime | None) -> str | None:
        return at.astimezone(config.zone).isoformat(timespec="seconds") if at else None

    rows = [
        {
            "name": k.name,
            "units": list(k.units),
            "state": "revoked" if k.revoked_at else "active",
            "created": local(k.created_at),
            "created_by": k.created_by,
            "last_used": local(k.last_used_at),
            "revoked": local(k.revoked_at),
        }
        for k in with_store(config, fetch)
    ]
    emit(render(rows, KEY_COLUMNS, args.format, empty="no API keys (make one: feedback-bot apikey create)"))
    return 0


def revoke_key(config: Config, args: argparse.Namespace) -> int:
    """Revokes a key at once: its next request is refused."""

    async def revoke(store: Storage) -> ApiKey:
        try:
            return await store.api_keys.revoke_api_key(args.name, actor=cli_actor(), now=datetime.now(UTC))
        except UnknownApiKey as exc:
            raise CommandError(f"no key named {args.name!r} (see: feedback-bot apikey list)") from exc

    revoked = with_store(config, revoke)
    assert revoked.revoked_at is not None
    print(f"key {revoked.name!r} revoked at {revoked.revoked_at.astimezone(config.zone):%Y-%m-%d %H:%M}",
          file=sys.stderr)  # fmt: skip
    return 0
