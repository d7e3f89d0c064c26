"""`dossier extend`, `letters` and `lateness`: a dossier rescheduled from the command line exactly as
the intake API records it (its apology letter with it), the letters and where they went, and the
city's count of late dossiers per unit, year on year.

Chat ids and phones are left out of the listings: a letter's deliveries show their channel and
what became of them."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, timedelta

from bot.cli.common import CommandError, cli_actor, today, units_under, with_store
from bot.cli.output import Column, emit, render
from bot.config import Config
from handlers.codes import typed_code
from handlers.dossier_facts import FactsRefused, event_facts
from handlers.lateness import last_full_month, lateness_table, share, year_before
from storage.base import Storage, UnknownDossier
from storage.records import EventResult, Letter, LetterStatus, UnitLateness

# A new appointment given as a day is at the end of that working day.
APPOINTMENT_TIME = "170000"


def extend_dossier(config: Config, args: argparse.Namespace) -> int:
    """Records a dossier's `extended` event as the intake API would; says where its letter goes."""
    now = datetime.now(UTC)
    code = typed_code(args.code)
    new_due = args.new_due.strip()
    if len(new_due) == 10 and new_due[4] == "-" and new_due[7] == "-":  # a day: YYYY-MM-DD
        new_due = new_due.replace("-", "") + APPOINTMENT_TIME
    fields = {
        "type": "extended",
        "at": now.astimezone(config.zone).isoformat(),  # to the microsecond: two are two events
        "reason": args.reason,
        "new_due_at": new_due,
    }
    try:
        event = event_facts(fields, config.zone)
    except FactsRefused as exc:
        raise CommandError("; ".join(p.message for p in exc.problems)) from exc

    async def extend(store: Storage) -> EventResult:
        try:
            return await store.dossiers.add_dossier_event(code, event, actor=cli_actor(), now=now)
        except UnknownDossier as exc:
            raise CommandError(f"no dossier {code!r} is recorded (see: feedback-bot dossier list)") from exc

    result = with_store(config, extend)
    new_due_at = event.new_due_at.astimezone(config.zone) if event.new_due_at else None
    lines = [
        f"dossier {code} extended: new appointment {new_due_at:%Y-%m-%d %H:%M}" if new_due_at else "",
        f"reason: {event.reason}",
    ]
    letter = result.letter
    if letter is not None:
        if letter.rescheduled_twice:
            lines.append("warning: this dossier was rescheduled before; the rules allow it only once")
        lines.append(f"apology letter {letter.id}: {letter_route(letter)}")
    emit("".join(f"{line}\n" for line in lines if line))
    if not result.recorded:
        print("this extension was recorded before: nothing new, no second letter", file=sys.stderr)
    return 0


def letter_route(letter: Letter) -> str:
    """How the letter goes out, as the desk reads it."""
    routes = []
    for delivery in letter.deliveries:
        if delivery.channel is None:
            routes.append("no chat or phone reaches the citizen: to print at the desk")
        elif delivery.status == LetterStatus.PENDING:
            routes.append(f"by {delivery.channel} (sent by the running bot)")
        else:
            routes.append(f"by {delivery.channel}: {delivery.status.value}")
    return "; ".join(routes)


def letter_state(letter: Letter) -> str:
    if letter.delivered:
        return "delivered"
    return "to print" if letter.to_print else "pending"


LETTER_COLUMNS = (
    Column("letter"),
    Column("dossier"),
    Column("unit"),
    Column("issued"),
    Column("due"),
    Column("new_due"),
    Column("twice"),
    Column("state"),
    Column("deliveries"),
    Column("reason", in_table=False),
)


def list_letters(config: Config, args: argparse.Namespace) -> int:
    """Lists apology letters with where they went; --to-print: those delivered nowhere."""

    async def fetch(store: Storage) -> list[Letter]:
        codes = await units_under(store, args.unit, config)
        return await store.letters.list_letters(codes, to_print=args.to_print)

    rows = [
        {
            "letter": letter.id,
            "dossier": letter.dossier_code,
            "unit": letter.unit_code,
            "issued": letter.issued_at.astimezone(config.zone).isoformat(timespec="seconds"),
            "due": letter.due_on.isoformat() if letter.due_on else None,
            "new_due": letter.new_due_at.astimezone(config.zone).date().isoformat()
            if letter.new_due_at
            else None,
            "twice": letter.rescheduled_twice,
            "state": letter_state(letter),
            "deliveries": [f"{d.channel or 'none'} {d.status.value}" for d in letter.deliveries],
            "reason": letter.reason,
        }
        for letter in with_store(config, fetch)
    ]
    empty = "no letter to print" if args.to_print else "no apology letters"
    emit(render(rows, LETTER_COLUMNS, args.format, empty=empty))
    return 0


LATENESS_COLUMNS = (
    Column("unit"),
    Column("name", in_table=False),
    Column("returned"),
    Column("returned_late"),
    Column("share_late"),
    Column("letters_on_time"),
    Column("letters_late"),
    Column("letters_missing"),
)
COMPARED_COLUMNS = (
    Column("returned_late_year_before"),
    Column("share_late_year_before"),
    Column("change"),
    Column("halved"),
)
TOTAL = "TOTAL"


def lateness(config: Config, args: argparse.Namespace) -> int:
    """Prints, per unit (its own dossiers), the dossiers returned in the period, those late, the
    share late and the letters on time, late and missing; with --compare-year, the year before."""
    first, last = period(config, args)

    async def fetch(
        store: Storage,
    ) -> tuple[dict[str, str], dict[str, UnitLateness], dict[str, UnitLateness]]:
        codes = await units_under(store, args.unit, config)
        names = {u.code: u.name for u in await store.directory.list_units(retired=True)}
        holidays, zone = config.cases.holidays, config.zone
        now = await lateness_table(store.letters, first, last, holidays, zone, codes)
        before: dict[str, UnitLateness] = {}
        if args.compare_year:
            before = await lateness_table(
                store.letters, year_before(first), year_before(last), holidays, zone, codes
            )
        if codes is not None:
            names = {code: names[code] for code in codes if code in names}
        return names, now, before

    names, now, before = with_store(config, fetch)
    shown = [code for code in names if code in now or code in before] if args.unit is None else list(names)
    rows = [
        row(code, names.get(code, code), now.get(code), before.get(code), args.compare_year) for code in shown
    ]
    if rows:
        rows.append(row(TOTAL, "", total(now.values()), total(before.values()), args.compare_year))
    columns = LATENESS_COLUMNS + (COMPARED_COLUMNS if args.compare_year else ())
    print(f"dossiers returned from {first} to {last}", file=sys.stderr)
    emit(render(rows, columns, args.format, empty="no dossiers returned in the period"))
    return 0


def period(config: Config, args: argparse.Namespace) -> tuple[date, date]:
    if args.from_day is None and args.to_day is None:
        return last_full_month(today(config, datetime.now(UTC)))
    first = args.from_day or date(2000, 1, 1)
    last = args.to_day or today(config, datetime.now(UTC))
    if last < first:
        raise CommandError(f"--to {last} is before --from {first}")
    if last - first > timedelta(days=3660):
        raise CommandError("give a period of ten years at most")
    return first, last


def total(figures: object) -> UnitLateness:
    found = list(figures)  # type: ignore[call-overload]
    return UnitLateness(**{name: sum(getattr(f, name) for f in found) for name in UnitLateness.model_fields})


def row(
    code: str, name: str, now: UnitLateness | None, before: UnitLateness | None, compare: bool
) -> dict[str, object]:
    now = now or UnitLateness()
    found: dict[str, object] = {
        "unit": code,
        "name": name,
        "returned": now.returned,
        "returned_late": now.returned_late,
        "share_late": f"{share(now.returned_late, now.returned):.2f}",
        "letters_on_time": now.letters_on_time,
        "letters_late": now.letters_late,
        "letters_missing": now.letters_missing,
    }
    if compare:
        before = before or UnitLateness()
        share_before = share(before.returned_late, before.returned)
        found |= {
            "returned_late_year_before": before.returned_late,
            "share_late_year_before": f"{share_before:.2f}",
            "change": f"{share(now.returned_late, now.returned) - share_before:+.2f}",
            # The city's target: half as many late dossiers as the year before.
            "halved": now.returned_late * 2 <= before.returned_late if before.returned_late else None,
        }
    return found
