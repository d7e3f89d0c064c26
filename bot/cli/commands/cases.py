"""`cases list`: complaint cases for operators, by unit (with the units under it) and state, with
who holds each and whether it is overdue. What the citizen wrote and their chat stay out: heads and
staff read a case in the chat."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from bot.cli.common import today, units_under, with_store
from bot.cli.output import Column, emit, render
from bot.config import Config
from storage.base import Storage
from storage.records import OPEN_STATES, Case, CaseState

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
