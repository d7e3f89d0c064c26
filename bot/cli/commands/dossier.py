"""`dossier add | import | returned | show | list`: what the one-stop desk records about dossiers,
and what an operator looks up again (a receipt's survey link and QR code, which dossiers a unit has).

Everything a command can check is checked before anything is stored: a dossier recorded and then
refused (its QR file could not be written) would leave its link unprinted and a retry refused; a
file imported half (its row 40,000 refused) would leave the operator to work out which rows to
send again."""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import links_for
from bot.cli.common import CommandError, cli_actor, moment, today, units_under, unknown_unit, with_store
from bot.cli.output import Column, ProgressBar, emit, render
from bot.config import Config
from handlers.codes import TextRefused, checked_code, checked_name, typed_code
from handlers.dossier_facts import FactsRefused, checked_citizen_name, dossier_facts
from handlers.dossier_file import DossierFileRefused, FileRow, read_dossier_file
from handlers.links import SurveyLinks, new_survey_code
from handlers.phones import normalised_phone, shown_phone
from storage.base import DuplicateDossier, Storage, StorageError, UnknownDossier, UnknownUnit
from storage.records import Answer, Dossier, DossierFacts, NewDossier, PutOutcome

# A clock a little ahead of the server's is not a return in the future.
CLOCK_SKEW = timedelta(minutes=1)
PAGE = 500
BATCH = 1000  # dossiers stored in one transaction by `dossier import`


def add_dossier(config: Config, args: argparse.Namespace) -> int:
    """Records a dossier and prints its survey link and survey code (and writes its QR code)."""
    now = datetime.now(UTC)
    try:
        code = checked_code(args.code)
        procedure = checked_name(args.procedure, "procedure")
        citizen_name = checked_citizen_name(args.citizen_name) if args.citizen_name is not None else None
        phone = normalised_phone(args.phone) if args.phone is not None else None
    except TextRefused as exc:
        raise CommandError(str(exc)) from exc
    if args.received and args.due and args.due < args.received:
        raise CommandError(f"the due date {args.due} is before the received date {args.received}")
    returned_at = _returned_time(args.returned, config, now) if args.returned else None
    if returned_at and args.received and returned_at.astimezone(config.zone).date() < args.received:
        raise CommandError(f"the return ({_local(returned_at, config)}) is before the received date "
                           f"{args.received}")  # fmt: skip
    if args.qr:
        check_writable(args.qr)
    links = links_for(config)

    async def add(store: Storage) -> Dossier:
        if citizen_name is not None or phone is not None:
            facts = DossierFacts(
                code=code, unit_code=args.unit, procedure=procedure, received_on=args.received,
                due_on=args.due, citizen_name=citizen_name, phone=phone,
            )  # fmt: skip
            return await _put_new(store, facts, links, returned_at, now, config)
        try:
            return await store.dossiers.add_dossier(
                code=code,
                unit_code=args.unit,
                procedure=procedure,
                link_id=links.new_link_id(),
                now=now,
                received_on=args.received,
                due_on=args.due,
                returned_at=returned_at,
                survey_code=new_survey_code(),
            )
        except DuplicateDossier as exc:
            raise CommandError(
                f"dossier {code} is already recorded: see it with feedback-bot dossier show {code}"
            ) from exc
        except UnknownUnit as exc:
            raise unknown_unit(args.unit, config) from exc

    dossier = with_store(config, add)
    url = links.url(dossier.link_id)
    print(url)
    print(dossier.survey_code or "")  # for Zalo, which has no deep links: the citizen types it
    sys.stdout.flush()
    if args.qr:
        write_qr(url, args.qr, code)
    return 0


async def _put_new(
    store: Storage,
    facts: DossierFacts,
    links: SurveyLinks,
    returned_at: datetime | None,
    now: datetime,
    config: Config,
) -> Dossier:
    """A new dossier with a citizen's name or phone, which add_dossier does not take: recorded as
    the intake records dossiers (put_dossiers, audited), after checking that it is new, since
    put_dossiers would update one already recorded."""
    if await store.dossiers.get_dossier(facts.code) is not None:
        raise CommandError(
            f"dossier {facts.code} is already recorded: see it with feedback-bot dossier show {facts.code}"
        )
    new = NewDossier(link_id=links.new_link_id(), survey_code=new_survey_code())
    try:
        (result,) = await store.dossiers.put_dossiers([(facts, new)], actor=cli_actor(), now=now)
    except UnknownUnit as exc:
        raise unknown_unit(facts.unit_code, config) from exc
    if result.outcome is not PutOutcome.CREATED:
        raise CommandError(
            f"dossier {facts.code} was recorded meanwhile by another process, and is now updated with "
            f"what was given here: see it with feedback-bot dossier show {facts.code}"
        )
    if returned_at is not None:
        return await store.dossiers.mark_returned(facts.code, returned_at)
    return result.dossier


def import_dossiers(config: Config, args: argparse.Namespace) -> int:
    """Records the dossiers of a one-stop export (CSV or .xlsx), each added or updated by its code;
    prints how many were added, updated, unchanged and refused, the refused with their lines and
    problems. A refused row stores nothing, unless --skip-bad; --dry-run checks and stores nothing."""
    try:
        found = read_dossier_file(args.file, config.zone)
    except DossierFileRefused as exc:
        raise CommandError(str(exc)) from exc
    if found.ignored_columns:
        print(f"columns ignored: {', '.join(found.ignored_columns)}", file=sys.stderr)
    checked, refused = _checked_rows(found.rows, config.zone)
    links = links_for(config)

    async def store_rows(store: Storage) -> tuple[int, Counter[PutOutcome] | None]:
        good = await _in_directory(store, checked, refused)
        # Listed before anything is stored, so that a failure part way loses none of them.
        refused.sort(key=lambda item: item[0])  # by line; a line's problems in the order of its fields
        emit("".join(f"line {line}: {problem}\n" for line, problem in refused))
        if args.dry_run or (refused and not args.skip_bad):
            return len(good), None
        return len(good), await _put_in_batches(store, good, links)

    storable, outcomes = with_store(config, store_rows)
    rows = len({line for line, _ in refused})
    if refused and not args.skip_bad:
        raise CommandError(
            f"nothing stored: {rows:,} of {len(found.rows):,} rows are refused (listed above); fix them and "
            "import the file again, or store the other rows with --skip-bad"
        )
    if outcomes is None:
        emit(f"would store {storable:,}, refused {rows:,} (a dry run: nothing is stored)\n")
        return 0
    emit(
        f"added {outcomes[PutOutcome.CREATED]:,}, updated {outcomes[PutOutcome.UPDATED]:,}, "
        f"unchanged {outcomes[PutOutcome.UNCHANGED]:,}, refused {rows:,}\n"
    )
    return 0


async def _in_directory(
    store: Storage, checked: list[tuple[int, DossierFacts]], refused: list[tuple[int, str]]
) -> list[tuple[int, DossierFacts]]:
    """The rows whose unit is in the directory; the others join `refused`, each on its line, rather
    than one unknown unit refusing a whole batch of a thousand."""
    units = {unit.code for unit in await store.directory.list_units(retired=True)}
    known = [(line, facts) for line, facts in checked if facts.unit_code in units]
    unknown = "{!r}: it is not in the directory (see: feedback-bot directory show)"
    refused += [
        (line, "unknown unit " + unknown.format(facts.unit_code))
        for line, facts in checked
        if facts.unit_code not in units
    ]
    return known


def _checked_rows(
    rows: list[FileRow], zone: ZoneInfo
) -> tuple[list[tuple[int, DossierFacts]], list[tuple[int, str]]]:
    """Each row's facts, or its problems (one a line); a code met again is refused on its later line,
    since two rows for one dossier cannot both be its facts."""
    checked: list[tuple[int, DossierFacts]] = []
    refused: list[tuple[int, str]] = []
    first_line: dict[str, int] = {}
    bar = ProgressBar("checking", len(rows))
    for done, row in enumerate(rows, 1):
        try:
            facts = dossier_facts(row.code, row.fields, zone)
        except FactsRefused as exc:
            refused += [(row.line, problem.message) for problem in exc.problems]
        else:
            if facts.code in first_line:
                refused.append(
                    (row.line, f"the dossier code {facts.code} is on line {first_line[facts.code]} too")
                )
            else:
                first_line[facts.code] = row.line
                checked.append((row.line, facts))
        bar.advance_to(done)
    bar.finish()
    return checked, refused


async def _put_in_batches(
    store: Storage, rows: list[tuple[int, DossierFacts]], links: SurveyLinks
) -> Counter[PutOutcome]:
    """Stores the dossiers BATCH at a time, each batch one transaction. A failure part way names
    what was stored: importing the file again leaves those unchanged and stores the rest."""
    outcomes: Counter[PutOutcome] = Counter()
    bar = ProgressBar("storing", len(rows))
    done = 0
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        given = [(facts, NewDossier(link_id=links.new_link_id(), survey_code=new_survey_code()))
                 for _, facts in batch]  # fmt: skip
        try:
            results = await store.dossiers.put_dossiers(given, actor=cli_actor(), now=datetime.now(UTC))
        except StorageError as exc:
            bar.finish()
            cause = f"unknown unit {exc}" if isinstance(exc, UnknownUnit) else str(exc)
            stored = f"the rows before line {batch[0][0]} are stored" if done else "nothing is stored"
            raise CommandError(
                f"{cause}: {stored}; importing the file again leaves the stored dossiers unchanged"
            ) from exc
        outcomes.update(result.outcome for result in results)
        done += len(batch)
        bar.advance_to(done)
    bar.finish()
    return outcomes


def return_dossier(config: Config, args: argparse.Namespace) -> int:
    """Records that a dossier's result was returned; the running bot then sends the survey."""
    at = _returned_time(args.at, config, datetime.now(UTC))
    code = typed_code(args.code)

    async def mark(store: Storage) -> None:
        try:
            await store.dossiers.mark_returned(code, at)
        except UnknownDossier as exc:
            raise CommandError(f"no dossier {code!r} is recorded") from exc

    with_store(config, mark)
    print(f"dossier {code} returned at {_local(at, config)}", file=sys.stderr)
    return 0


def show_dossier(config: Config, args: argparse.Namespace) -> int:
    """Prints a dossier's state, dates, survey link and survey code, and writes its QR code again:
    for a receipt to be printed again."""
    if args.qr:
        check_writable(args.qr)

    async def find(store: Storage) -> tuple[Dossier | None, Answer | None]:
        dossier = await store.dossiers.get_dossier(typed_code(args.code))
        answer = await store.surveys.get_answer(dossier.id) if dossier is not None else None
        if dossier is not None and (dossier.citizen_name or dossier.phone):
            # The citizen's name and phone are shown: a read of personal data, traced.
            detail = f"dossier show {dossier.code}"
            await store.audit.record_access(cli_actor(), "personal data shown", detail, datetime.now(UTC))
        return dossier, answer

    dossier, answer = with_store(config, find)
    if dossier is None:
        raise CommandError(
            f"no dossier {typed_code(args.code)!r} is recorded (see: feedback-bot dossier list)"
        )
    url = links_for(config).url(dossier.link_id)
    fields = [
        ("dossier", dossier.code),
        ("state", _state(dossier, config)),
        ("unit", f"{dossier.unit_code} ({dossier.unit_name})"),
        ("procedure", dossier.procedure),
        *([("citizen", dossier.citizen_name)] if dossier.citizen_name else []),
        *([("phone", shown_phone(dossier.phone))] if dossier.phone else []),
        ("received", str(dossier.received_on or "—")),
        ("due", str(dossier.due_on or "—")),
        ("returned", _local(dossier.returned_at, config) if dossier.returned_at else "—"),
        ("answered", f"{answer.rating.value}, {_local(answer.answered_at, config)}" if answer else "no"),
        ("recorded", _local(dossier.created_at, config)),
        ("survey link", url),
        ("survey code", dossier.survey_code or "—"),
    ]
    width = max(len(label) for label, _ in fields)
    emit("".join(f"{label:<{width}}  {value}\n" for label, value in fields))
    if args.qr:
        write_qr(url, args.qr, dossier.code)
    return 0


DOSSIER_COLUMNS = (
    Column("dossier"),
    Column("unit"),
    Column("procedure"),
    Column("received"),
    Column("due"),
    Column("returned"),
    Column("answered"),
    Column("state"),
)


def list_dossiers(config: Config, args: argparse.Namespace) -> int:
    """Lists dossiers, newest first: all, or a unit's and those of the units under it."""

    async def fetch(store: Storage) -> list[Dossier]:
        codes = await units_under(store, args.unit, config)
        found: list[Dossier] = []
        while page := await store.dossiers.list_dossiers(codes, limit=PAGE, offset=len(found)):
            found += page
            if len(page) < PAGE:
                break
        return found

    rows = [_dossier_row(d, config) for d in with_store(config, fetch)]
    emit(render(rows, DOSSIER_COLUMNS, args.format, empty="no dossiers recorded"))
    return 0


def _dossier_row(dossier: Dossier, config: Config) -> dict[str, object]:
    return {
        "dossier": dossier.code,
        "unit": dossier.unit_code,
        "procedure": dossier.procedure,
        "received": dossier.received_on.isoformat() if dossier.received_on else None,
        "due": dossier.due_on.isoformat() if dossier.due_on else None,
        "returned": _iso(dossier.returned_at, config),
        "answered": dossier.answered,
        "state": _state(dossier, config),
    }


def _state(dossier: Dossier, config: Config) -> str:
    """Where the dossier is, as the desk says it: returned (late or not), or waiting (overdue or not)."""
    due = dossier.due_on
    if dossier.returned_at is not None:
        late = due is not None and dossier.returned_at.astimezone(config.zone).date() > due
        return "returned late" if late else "returned"
    if due is not None and today(config, datetime.now(UTC)) > due:
        return "overdue"
    return "in process"


def _returned_time(value: str, config: Config, now: datetime) -> datetime:
    at = moment(value, config, now)
    if at > now + CLOCK_SKEW:
        raise CommandError(
            f"the return time {_local(at, config)} is in the future: record a return when the result "
            "is handed over (the citizen is asked about it at once)"
        )
    return at


def check_writable(path: Path, what: str = "the QR code", suffix: str = ".png") -> None:
    """Refuses a QR file (or another file a command writes) that could not be written, before
    anything is stored. A missing folder is fine when it can be created (it is, on writing)."""
    if path.is_dir():
        raise CommandError(f"cannot write {what} to {path}: it is a folder; give a file name ending {suffix}")
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise CommandError(f"cannot write {what} to {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise CommandError(f"cannot write {what} to {path}: permission denied")


def write_qr(url: str, path: Path, code: str) -> None:
    """Writes the survey link as a PNG QR code; the link and code were printed before, so a failure
    here (a disk full) loses nothing, and says how to write it again."""
    import qrcode
    from qrcode.image.pure import PyPNGImage

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        image = qrcode.make(url, image_factory=PyPNGImage, box_size=8, border=4)
        with path.open("wb") as out:
            image.save(out)
    except OSError as exc:
        raise CommandError(
            f"cannot write the QR code to {path}: {exc.strerror}; the dossier is recorded, write its QR "
            f"code again with: feedback-bot dossier show {code} --qr FILE"
        ) from exc
    print(f"QR code written to {path}", file=sys.stderr)


def _local(at: datetime, config: Config) -> str:
    return at.astimezone(config.zone).strftime("%Y-%m-%d %H:%M")


def _iso(at: datetime | None, config: Config) -> str | None:
    return at.astimezone(config.zone).isoformat(timespec="seconds") if at else None
