"""`report`: the satisfaction table for a period and a part of the unit tree (handlers/reports.py),
as a table, CSV, JSON, an Excel workbook or a PNG chart; and `answers import`, answers collected on
paper, by phone or at a kiosk, stored beside the bot's (handlers/answer_file.py).

The table, CSV and JSON go to standard output or to --output; a workbook or a picture needs
--output. The Decision 766 figures follow the table with their formulas (on standard error for CSV,
which stays one table; inside the JSON)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, timedelta

from bot.cli.common import CommandError, today, unknown_unit, with_store
from bot.cli.output import Column, emit, render
from bot.config import Config
from handlers.answer_file import AnswerFileRefused, read_answer_file
from handlers.reports import (
    FORMULAS,
    GROUPINGS,
    NO_DATA,
    Grouping,
    Report,
    ReportRow,
    ReportSettings,
    build_report,
    report_period,
)
from storage.base import Storage
from storage.records import Rating

REPORT_FORMS = ("table", "csv", "json", "xlsx", "png")
TOO_FEW_CELL = "too few"  # a share of fewer answers than reports.min_answers, in the table and CSV
MAX_DAYS = 3660


def _pct(value: object) -> str:
    return "" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


ROW_COLUMNS = (
    Column("key"),
    Column("name"),
    Column("level", in_table=False),
    Column("answers"),
    Column("satisfied", in_table=False),
    Column("neutral", in_table=False),
    Column("unsatisfied", in_table=False),
    Column("satisfied_pct", text=_pct),
    Column("neutral_pct", text=_pct),
    Column("unsatisfied_pct", text=_pct),
    Column("satisfied_or_neutral_pct", text=_pct),
    Column("too_few", in_table=False),
    Column("returned", in_table=False),
    Column("answered_dossiers", in_table=False),
    Column("response_rate_pct", text=_pct),
    Column("complaints"),
    Column("resolved_on_time"),
    Column("overdue"),
    Column("reopened"),
    Column("median_hours_to_resolve", text=_pct),
    Column("on_time_pct", text=_pct, in_table=False),
    Column("complaint_satisfaction_pct", text=_pct, in_table=False),
    Column("dossier_satisfaction_pct", text=_pct, in_table=False),
)
FACTOR_COLUMNS = (
    Column("factor"),
    Column("name"),
    Column("named"),
    Column("named_pct", text=_pct),
    Column("named_by_satisfied"),
    Column("named_by_neutral"),
    Column("named_by_unsatisfied"),
    Column("unsatisfied_named_pct", text=_pct),
)


def row_fields(row: ReportRow, language: str, *, marked: bool) -> dict[str, object]:
    """A row's cells; `marked`: shares of too few answers are written as such (table, CSV)."""
    shares: tuple[object, object, object] = row.shares or (None, None, None)
    both: object = row.satisfied_or_neutral
    if marked and row.too_few and row.ratings.answers:
        shares = (TOO_FEW_CELL,) * 3
        both = TOO_FEW_CELL
    r, c = row.ratings, row.complaints
    return {
        "key": row.key, "name": ("  " * row.depth + row.label) if marked else row.label, "level": row.depth,
        "answers": r.answers, "satisfied": r.satisfied, "neutral": r.neutral, "unsatisfied": r.unsatisfied,
        "satisfied_pct": shares[0], "neutral_pct": shares[1], "unsatisfied_pct": shares[2],
        "satisfied_or_neutral_pct": both, "too_few": row.too_few,
        "returned": row.returned.returned if row.returned else None,
        "answered_dossiers": row.returned.answered if row.returned else None,
        "response_rate_pct": row.response_rate, "complaints": c.opened,
        "resolved_on_time": c.resolved_on_time,
        "overdue": c.overdue, "reopened": c.reopened, "median_hours_to_resolve": row.median_hours_to_resolve,
        "on_time_pct": row.on_time_share, "complaint_satisfaction_pct": row.complaint_satisfaction,
        "dossier_satisfaction_pct": row.dossier_satisfaction,
    }  # fmt: skip


def factor_fields(report: Report) -> list[dict[str, object]]:
    return [
        {
            "factor": f.factor, "name": f.label, "named": f.total, "named_pct": f.share_of(),
            "named_by_satisfied": f.named[Rating.SATISFIED], "named_by_neutral": f.named[Rating.NEUTRAL],
            "named_by_unsatisfied": f.named[Rating.UNSATISFIED],
            "unsatisfied_named_pct": f.share_of(Rating.UNSATISFIED),
        }
        for f in report.factors
    ]  # fmt: skip


def indicators(report: Report, language: str) -> list[dict[str, object]]:
    """The whole selection's Decision 766 figures, and the other derived figures, with formulas."""
    total = report.total
    values = {
        "on_time_share": total.on_time_share,
        "complaint_satisfaction": total.complaint_satisfaction,
        "dossier_satisfaction": total.dossier_satisfaction,
        "satisfied_or_neutral": total.satisfied_or_neutral,
        "response_rate": total.response_rate,
    }
    return [
        {
            "name": name,
            "value_pct": values[name] if values[name] is not None else NO_DATA["en"],
            "formula": formula_vi if language == "vi" else formula_en,
            "formula_en": formula_en,
        }
        for name, formula_vi, formula_en in FORMULAS
    ]


def formulas_text(report: Report, language: str) -> str:
    lines = ["", "Decision 766/QĐ-TTg, group 5, and how each figure is computed (whole selection):"]
    for found in indicators(report, language):
        value = found["value_pct"]
        shown = f"{value:.2f}%" if isinstance(value, float) else str(value)
        lines.append(f"  {found['name']}: {shown}")
        lines.append(f"    {found['formula']}")
        if language == "vi":
            lines.append(f"    {found['formula_en']}")
    return "".join(f"{line}\n" for line in lines)


def report(config: Config, args: argparse.Namespace) -> int:
    """Prints or writes the report of a period for a unit and its subtree (the whole tree by default)."""
    now = datetime.now(UTC)
    first, last = period(config, args, now)
    form = args.format
    if form in ("xlsx", "png") and args.output is None:
        raise CommandError(f"--format {form} writes a file: give --output FILE.{form}")
    settings = ReportSettings(
        zone=config.zone, min_answers=config.reports.min_answers,
        language=config.language,
    )  # fmt: skip
    # The workbook holds every grouping, the one asked for first.
    groupings: tuple[Grouping, ...] = (args.by,)
    if form == "xlsx":
        groupings += tuple(g for g in GROUPINGS if g != args.by)

    async def fetch(store: Storage) -> list[Report]:
        if args.unit is not None and await store.directory.get_unit(args.unit) is None:
            raise unknown_unit(args.unit, config)
        units = await store.directory.list_units(retired=True)
        return [
            await build_report(
                store.reports, units, settings, first=first, last=last, by=by,
                unit_code=args.unit, now=now,
            )
            for by in groupings
        ]  # fmt: skip

    reports = with_store(config, fetch)
    print(f"answers from {first} to {last}", file=sys.stderr)
    # Imported here: the files' module reads bot.cli.output, and only these two formats need it.
    from bot.report_files import draw_png, write_xlsx

    if form == "xlsx":
        write_xlsx(reports, args.output, settings.min_answers, config.language)
        print(f"written: {args.output}", file=sys.stderr)
        return 0
    if form == "png":
        args.output.write_bytes(draw_png(reports[0], config.language))
        print(f"written: {args.output}", file=sys.stderr)
        return 0
    text = render_report(reports[0], form, config.language)
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
        print(f"written: {args.output}", file=sys.stderr)
    else:
        emit(text)
    if form == "csv":
        print(formulas_text(reports[0], config.language), end="", file=sys.stderr)
    return 0


def render_report(found: Report, form: str, language: str) -> str:
    """The report as a table (with its formulas after it), CSV, or JSON (with everything)."""
    columns: tuple[Column, ...]
    if found.by == "factor":
        rows, columns = factor_fields(found), FACTOR_COLUMNS
    else:
        # JSON has the total apart; the table and CSV end with it, unless a row is the total already.
        shown = [*found.rows, *([] if found.total in found.rows or form == "json" else [found.total])]
        rows, columns = [row_fields(r, language, marked=form != "json") for r in shown], ROW_COLUMNS
    if form == "json":
        import json

        document = {
            "period": {"from": found.first.isoformat(), "to": found.last.isoformat()},
            "unit": found.unit_code, "by": found.by, "min_answers": found.total.min_answers,
            "rows": rows, "total": row_fields(found.total, language, marked=False),
            "indicators": indicators(found, language),
        }  # fmt: skip
        return json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n"
    if found.by != "factor":  # the first column is named after the grouping: unit, procedure, ...
        rows = [{found.by: r.pop("key"), **r} for r in rows]
        # A procedure's name is its key: the table shows it once.
        name = Column("name", in_table=found.by != "procedure")
        columns = (Column(found.by), name, *columns[2:])
    text = render(rows, columns, "csv" if form == "csv" else "table", empty="no answers in the period")
    if form == "table":
        text += formulas_text(found, language)
    return text


def period(config: Config, args: argparse.Namespace, now: datetime) -> tuple[date, date]:
    first, last = report_period(today(config, now), args.from_day, args.to_day)
    if last < first:
        raise CommandError(f"--to {last} is before --from {first}")
    if last - first > timedelta(days=MAX_DAYS):
        raise CommandError("give a period of ten years at most")
    return first, last


def import_answers(config: Config, args: argparse.Namespace) -> int:
    """Stores the answers of a CSV or .xlsx file; nothing if a row is refused, unless --skip-bad."""
    now = datetime.now(UTC)

    async def store_rows(store: Storage) -> tuple[int, int, list[str]]:
        units = {u.code for u in await store.directory.list_units()}
        try:
            found = read_answer_file(args.file, config.zone, units, now=now, scale=args.scale)
        except AnswerFileRefused as exc:
            raise CommandError(str(exc)) from exc
        problems = [f"line {p.line}: {p.message}" for p in found.problems]
        if problems and not args.skip_bad:
            return 0, len(found.answers), problems
        stored = await store.reports.import_answers(found.answers, now)
        return stored, len(found.answers), problems

    stored, good, problems = with_store(config, store_rows)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems and not args.skip_bad:
        raise CommandError(
            f"{len(problems)} row(s) refused, nothing imported: correct them, or give --skip-bad to import "
            f"the {good} good row(s)"
        )
    emit(
        f"{stored} answers imported, {good - stored} already imported before, {len(problems)} rows skipped\n"
    )
    return 0
