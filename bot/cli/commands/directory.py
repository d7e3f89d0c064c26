"""`directory import | show`: the unit tree and its heads and staff, which live in the database after
the first start. `import` takes a directory file (`units:` and `retire:`) or a config file, whose
`units:` it reads and whose other keys it leaves alone: a unit added to config.yaml later gets into
the directory this way."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from bot.cli.common import CommandError, cli_actor, with_store
from bot.config import Config, ConfigError, read_yaml
from handlers.admin import apply_directory, plan_directory, summarize
from handlers.directory import DirectoryChange, DirectoryError, DirectoryFile
from storage.base import Storage
from storage.records import Person, Unit

DIRECTORY_KEYS = frozenset(DirectoryFile.model_fields)
CONFIG_ONLY_KEYS = frozenset(Config.model_fields) - DIRECTORY_KEYS


def import_directory(config: Config, args: argparse.Namespace) -> int:
    """Prints what a directory file changes (units added, renamed, moved, retired; people added,
    removed, changing role) and applies it with --apply."""
    source = directory_source(args.file)

    async def run(store: Storage) -> tuple[DirectoryChange, bool]:
        now = datetime.now(UTC)
        try:
            change = await plan_directory(
                store.directory, store.digests, source, str(args.file), now.astimezone(config.zone).date()
            )
        except DirectoryError as exc:
            raise CommandError(str(exc)) from exc
        applied = bool(
            args.apply
            and not change.empty
            and await apply_directory(store.directory, change, now, cli_actor())
        )
        return change, applied

    change, applied = with_store(config, run)
    if change.empty:
        print("nothing in the directory changes")
        return 0
    print("\n".join(change.lines(config.language)))
    print(f"applied: {summarize(change)}" if applied else "not applied: run again with --apply")
    return 0


def directory_source(path: Path) -> str:
    """The directory file's text; for a config file (any key of the config's own, such as
    `database:`), only its `units:` and `retire:`, said so on standard error."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{path}: cannot be read: {exc}") from exc
    try:
        data = read_yaml(path)
    except ConfigError:
        return text  # the directory's own parser names the problem
    if not isinstance(data, dict) or not CONFIG_ONLY_KEYS & set(data):
        return text
    print(f"reading the units of the config file {path} (its other keys are left out)", file=sys.stderr)
    return yaml.safe_dump({k: data[k] for k in ("units", "retire") if k in data}, allow_unicode=True)


def show_directory(config: Config, args: argparse.Namespace) -> int:
    """Prints the unit tree with each unit's head and staff and the chats they are reached on."""

    async def fetch(store: Storage) -> tuple[list[Unit], list[Person]]:
        return await store.directory.list_units(retired=True), await store.directory.all_people()

    units, people = with_store(config, fetch)
    if not units:
        print("the directory is empty: add units under 'units:' in the config or a directory file and "
              "run: feedback-bot directory import FILE --apply")  # fmt: skip
        return 0
    print("\n".join(tree_lines(units, people, config.zone)))
    return 0


def tree_lines(units: list[Unit], people: list[Person], zone: ZoneInfo) -> list[str]:
    """Units under their parents, each with its head first and then its staff; retired units last."""
    active = [u for u in units if u.retired_at is None]
    codes = {u.code for u in active}
    children: dict[str | None, list[Unit]] = {}
    for unit in active:
        parent = unit.parent_code if unit.parent_code in codes else None
        children.setdefault(parent, []).append(unit)
    members: dict[str, list[Person]] = {}
    for person in sorted(people, key=lambda p: (p.role.value != "head", p.name)):
        members.setdefault(person.unit_code, []).append(person)
    lines: list[str] = []

    def add(unit: Unit, depth: int) -> None:
        indent = "  " * depth
        lines.append(f"{indent}{unit.code}  {unit.name}")
        for person in members.get(unit.code, []):
            chats = ", ".join(f"{c.channel} {c.chat_id}" for c in person.contacts)
            lines.append(f"{indent}    {person.role.value:<5}  {person.name}  ({chats})")
        for child in children.get(unit.code, []):
            add(child, depth + 1)

    for root in children.get(None, []):
        add(root, 0)
    retired = [(u, u.retired_at) for u in units if u.retired_at is not None]
    if retired:
        lines.append("retired:")
        lines += [f"  {u.code}  {u.name}  (since {at.astimezone(zone):%Y-%m-%d})" for u, at in retired]
    return lines
