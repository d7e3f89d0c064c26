"""`cases list | show`: complaint cases for operators. The listing gives each case's unit, state,
who holds it and whether it is overdue, by unit (with the units under it) and state; what the
citizen wrote stays out. `cases show N` prints one case with its history (who did what, when, and
the notes and messages, as the audit trail does); a citizen's chat id is never printed."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from bot.cli.commands.audit import Actors, actors_of
from bot.cli.common import CommandError, today, units_under, with_store
from bot.cli.output import Column, emit, render
from bot.config import Config
from storage.base import Storage
from storage.records import OPEN_STATES, AuditEntry, Case, CaseEvent, CaseState

# What --state takes: a state, or a group of them.
STATE_CHOICES = ("open", "all", *(s.value for s in CaseState))

CASE_COLUMNS = (
    Column("number"),
    Column("unit"),
    Column("dossier"),
    Column("state"),
    Column("assignee"),
    Column("opened"),
    Column("deadline"),
    Column("overdue"),
)


def states_named(name: str) -> tuple[CaseState, ...]:
    if name == "open":
        return OPEN_STATES
    if name == "all":
        return tuple(CaseState)
    return (CaseState(name),)


def list_cases(config: Config, args: argparse.Namespace) -> int:
    """Lists cases, oldest first: open ones unless --state says otherwise."""
    now = datetime.now(UTC)

    async def fetch(store: Storage) -> list[Case]:
        codes = await units_under(store, args.unit, config)
        if codes is None:
            codes = [u.code for u in await store.directory.list_units(retired=True)]
        return await store.cases.list_cases(codes, states=states_named(args.state))

    day = today(config, now)
    rows = [
        {
            "number": case.id,
            "unit": case.unit_code,
            "dossier": case.dossier_code,
            "state": case.state.value,
            "assignee": case.assignee_name,
            "opened": case.opened_at.astimezone(config.zone).isoformat(timespec="seconds"),
            "deadline": case.deadline.isoformat(),
            "overdue": case.overdue_on(day),
        }
        for case in with_store(config, fetch)
    ]
    empty = "no cases" if args.state == "all" else f"no {args.state} cases"
    emit(render(rows, CASE_COLUMNS, args.format, empty=empty))
    return 0


def show_case(config: Config, args: argparse.Namespace) -> int:
    """Prints a case and its history, oldest first."""

    async def fetch(store: Storage) -> tuple[Case | None, list[CaseEvent], Actors | None]:
        case = await store.cases.get_case(args.number)
        if case is None:
            return None, [], None
        events = await store.cases.case_events(case.id)
        return case, events, await actors_of(store, config, [_entry(e) for e in events])

    case, events, actors = with_store(config, fetch)
    if case is None or actors is None:
        raise CommandError(f"no case number {args.number} (see: feedback-bot cases list --state all)")
    local = config.zone
    fields = [
        ("case", str(case.id)),
        ("unit", f"{case.unit_code} ({case.unit_name})"),
        ("dossier", f"{case.dossier_code}: {case.procedure}"),
        ("rating", case.rating.value),
        ("state", case.state.value),
        ("assignee", case.assignee_name or "—"),
        ("opened", case.opened_at.astimezone(local).isoformat(timespec="seconds")),
        (
            "deadline",
            case.deadline.isoformat()
            + (" (overdue)" if case.overdue_on(today(config, datetime.now(UTC))) else ""),
        ),
    ]
    width = max(len(label) for label, _ in fields)
    lines = [f"{label:<{width}}  {value}" for label, value in fields]
    lines.append("\nhistory:")
    for event in events:
        at = event.at.astimezone(local).strftime("%Y-%m-%d %H:%M")
        note = f": {event.note}" if event.note else ""
        lines.append(f"  {at}  {actors.name(_entry(event))}  {event.action}{note}")
    emit("\n".join(lines) + "\n")
    return 0


def _entry(event: CaseEvent) -> AuditEntry:
    """A case event as the audit trail shows it, so its actor is named the same way."""
    return AuditEntry(
        at=event.at, actor=event.actor, action=f"case {event.action}", detail=f"#{event.case_id}"
    )
