"""`audit`: admin changes and case actions, oldest first, with who did each by name.

The trail stores actors as the code wrote them (`person:3`, an admin's `telegram:9001`, `citizen`,
`cli:USER`, `config`); names are looked up when printing, so a renamed person shows by their
current name and nothing stored changes. A citizen is shown as "citizen (Telegram)": their chat id
is personal data and is never printed."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.cli.common import with_store
from bot.cli.output import Column, emit, render
from bot.config import Config
from storage.base import Storage
from storage.records import AuditEntry, Person

PLATFORMS = {"telegram": "Telegram", "zalo": "Zalo", "console": "the terminal"}
CASE_DETAIL = re.compile(r"#(\d+)")

AUDIT_COLUMNS = (Column("at"), Column("actor"), Column("action"), Column("detail"))


@dataclass(frozen=True)
class Actors:
    """What the names of the actors in a stretch of the trail are looked up from."""

    people: dict[int, Person]
    admins: dict[tuple[str, str], str]  # (channel, chat id) → the admin's name in the config
    case_channels: dict[int, str]  # case number → the channel its citizen wrote from

    def name(self, entry: AuditEntry) -> str:
        kind, _, rest = entry.actor.partition(":")
        if kind == "person" and rest.isdecimal():
            person = self.people.get(int(rest))
            return (
                f"{person.name} ({person.role.value}, {person.unit_code})" if person else "a removed person"
            )
        if kind == "citizen":
            channel = rest if rest in PLATFORMS else self._case_channel(entry)
            return f"citizen ({PLATFORMS[channel]})" if channel in PLATFORMS else "citizen"
        if kind == "cli":
            return f"command line ({rest})"
        if kind == "api":
            return f"intake API (key {rest})"
        if kind == "config" and not rest:
            return "the config file"
        if kind in PLATFORMS:
            if (admin := self.admins.get((kind, rest))) is not None:
                return f"{admin} (admin)"
            staff = [p for p in self.people.values() if any(c.channel == kind and c.chat_id == rest
                                                             for c in p.contacts)]  # fmt: skip
            if staff:
                return f"{staff[0].name} ({staff[0].role.value}, {staff[0].unit_code})"
            # Whoever it was is no longer an admin; the id might be anyone's chat, so it stays out.
            return f"someone on {PLATFORMS[kind]} who is no longer an admin"
        return entry.actor

    def _case_channel(self, entry: AuditEntry) -> str | None:
        found = CASE_DETAIL.match(entry.detail or "") if entry.action.startswith("case ") else None
        return self.case_channels.get(int(found[1])) if found else None


async def actors_of(store: Storage, config: Config, entries: Sequence[AuditEntry]) -> Actors:
    people = {p.id: p for p in await store.directory.all_people(inactive=True)}
    admins = {(c.channel, c.chat_id): person.name for person in config.admins for c in person.contacts}
    case_ids = {
        int(found[1])
        for e in entries
        if e.actor.partition(":")[0] == "citizen"
        and e.action.startswith("case ")
        and (found := CASE_DETAIL.match(e.detail or ""))
    }
    case_channels = {}
    for case_id in sorted(case_ids):
        case = await store.cases.get_case(case_id)
        if case is not None:
            case_channels[case_id] = case.citizen_channel
    return Actors(people, admins, case_channels)


def print_audit(config: Config, args: argparse.Namespace) -> int:
    """Prints the audit trail: admin changes and case actions, oldest first."""
    since = datetime.combine(args.since, datetime.min.time(), config.zone) if args.since else None

    async def fetch(store: Storage) -> tuple[list[AuditEntry], Actors]:
        entries = await store.audit.audit_since(since)
        return entries, await actors_of(store, config, entries)

    entries, actors = with_store(config, fetch)
    rows = [
        {
            "at": entry.at.astimezone(config.zone).isoformat(timespec="seconds")
            if args.format != "table" else entry.at.astimezone(config.zone).strftime("%Y-%m-%d %H:%M"),
            "actor": actors.name(entry),
            "action": entry.action,
            "detail": entry.detail,
        }
        for entry in entries
    ]  # fmt: skip
    if not rows:
        print(f"nothing in the audit trail{f' since {args.since}' if args.since else ''}", file=sys.stderr)
    emit(render(rows, AUDIT_COLUMNS, args.format, empty=None))
    return 0
