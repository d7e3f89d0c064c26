"""The arguments of `feedback-bot`: every command and option, each command naming the function that
runs it (`args.handler`). Nothing here opens a file or the database."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from bot.cli.commands import (
    answers,
    api,
    apikey,
    audit,
    cases,
    db,
    digest,
    directory,
    dossier,
    lateness,
    letter,
    outbox,
    privacy,
    questions,
    report,
    run,
    zalo_oa,
)
from bot.cli.common import day
from bot.cli.output import FORMS
from bot.config import Config
from handlers.reports import GROUPINGS

Handler = Callable[[Config, argparse.Namespace], int]
Commands = argparse._SubParsersAction  # argparse's own type for a group of subcommands


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="config file (default: $FEEDBACK_BOT_CONFIG, else ./config.yaml)",
    )
    parser = argparse.ArgumentParser(
        prog="feedback-bot",
        parents=[common],
        description="Citizen feedback on administrative services, over Telegram and Zalo (and the terminal).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(group: Commands[argparse.ArgumentParser], name: str, about: str,
                handler: Handler) -> argparse.ArgumentParser:  # fmt: skip
        made = group.add_parser(name, parents=[common], help=about, description=about)
        made.set_defaults(handler=handler)
        return made

    def actions(name: str, about: str) -> Commands[argparse.ArgumentParser]:
        group = commands.add_parser(name, parents=[common], help=about, description=about)
        return group.add_subparsers(dest=f"{name}_action", metavar="ACTION", required=True)

    def listing(made: argparse.ArgumentParser) -> None:
        made.add_argument("--format", choices=FORMS, default="table", help="table (default), csv or json")

    serving = command(
        commands, "run", "run the bot on every channel with a token (Telegram, Zalo)", run.run_bot
    )
    serving.add_argument(
        "--standby",
        action="store_true",
        help="if another run serves the database, wait and take over when it stops (instead of refusing)",
    )
    alone = command(
        commands, "api", "serve only the intake API for the one-stop software (beside a running bot, or not)",
        api.serve_api_alone,
    )  # fmt: skip
    alone.add_argument(
        "--listen", metavar="ADDR", help="address to listen on (default: api.listen, 127.0.0.1)"
    )
    alone.add_argument("--port", type=api.port, help="port (default: api.port, 8080; 0: any free one)")
    console = command(commands, "console", "answer surveys in this terminal", run.run_console)
    console.add_argument(
        "--demo",
        action="store_true",
        help="throwaway database with a demo unit and dossier; the survey starts at once",
    )

    dossiers = actions("dossier", "record dossiers and their return; look them up")
    add = command(dossiers, "add", "record a dossier; prints its survey link and code", dossier.add_dossier)
    add.add_argument("code")
    add.add_argument("--unit", required=True, help="code of the unit that handles it")
    add.add_argument("--procedure", required=True, help="name of the administrative procedure")
    add.add_argument("--received", type=day, metavar="DATE", help="date received (YYYY-MM-DD)")
    add.add_argument("--due", type=day, metavar="DATE", help="appointment date for the result (YYYY-MM-DD)")
    add.add_argument(
        "--returned",
        nargs="?",
        const="now",
        metavar="DATETIME",
        help="the result was returned (now, or at YYYY-MM-DD[THH:MM])",
    )
    add.add_argument("--qr", type=Path, metavar="FILE.png", help="also write the survey link as a QR code")
    add.add_argument("--citizen-name", metavar="NAME", help="the citizen's name (who the dossier is for)")
    add.add_argument("--phone", metavar="NUMBER", help="the citizen's phone (0901234567 or +84 90 123 4567)")
    dossier_import = command(
        dossiers, "import", "record the dossiers of a one-stop export (CSV or .xlsx), added or updated",
        dossier.import_dossiers,
    )  # fmt: skip
    dossier_import.add_argument(
        "file", type=Path, help="a CSV (UTF-8) or .xlsx file with a header row naming its columns"
    )
    dossier_import.add_argument(
        "--dry-run", action="store_true", help="check every row and say what would be stored; store nothing"
    )
    dossier_import.add_argument(
        "--skip-bad", action="store_true", help="store the good rows even when some are refused (listed)"
    )
    returned = command(dossiers, "returned", "record that the result was returned", dossier.return_dossier)
    returned.add_argument("code")
    returned.add_argument("--at", default="now", metavar="DATETIME", help="when (default: now)")
    show = command(
        dossiers, "show", "a dossier's state, dates, survey link and code; its QR code again",
        dossier.show_dossier,
    )  # fmt: skip
    show.add_argument("code")
    show.add_argument("--qr", type=Path, metavar="FILE.png", help="write the survey link as a QR code again")
    apology = command(
        dossiers, "letter", "the apology letter for a dossier's latest extension: its text, and a PDF",
        letter.write_letter,
    )  # fmt: skip
    apology.add_argument("code")
    apology.add_argument("--pdf", type=Path, required=True, metavar="FILE.pdf", help="write the letter here")
    apology.add_argument("--language", choices=("vi", "en"), help="default: the config's language")
    extend = command(
        dossiers, "extend", "record a new appointment and its reason (as the intake API's extended event); "
        "the apology letter goes out", lateness.extend_dossier,
    )  # fmt: skip
    extend.add_argument("code")
    extend.add_argument("--reason", required=True, help="why the dossier is late, as the citizen reads it")
    extend.add_argument(
        "--new-due", required=True, metavar="DATE", help="the new appointment: YYYY-MM-DD (17:00), or a time"
    )
    dossier_list = command(dossiers, "list", "list dossiers, newest first", dossier.list_dossiers)
    dossier_list.add_argument("--unit", help="only this unit and the units under it")
    listing(dossier_list)

    send = command(commands, "digest", "send the day's digests to unit heads now", digest.send_digests_now)
    send.add_argument("--unit", help="only this unit's digest")
    send.add_argument("--date", type=day, metavar="DATE", help="the day (default: today, locally)")

    sets = actions("questions", "manage question sets")
    for name, about, handler in (
        ("validate", "check a question-set file and say what is wrong, with line numbers",
         questions.validate_questions),
        ("import", "store a question-set file as the set's next version (inactive until activated)",
         questions.import_questions),
    ):  # fmt: skip
        command(sets, name, about, handler).add_argument("file", type=Path)
    listing(command(sets, "list", "list sets: id, version, state, answers, scope", questions.list_questions))
    for name, about, handler in (
        ("activate", "make this version its set's active one (also to go back to an earlier one)",
         questions.activate_questions),
        ("preview", "answer this version's survey in the terminal; nothing is stored",
         questions.preview_questions),
    ):  # fmt: skip
        command(sets, name, about, handler).add_argument(
            "id", type=int, help="the id shown by `questions list`"
        )

    units = actions("directory", "units and people: show them, change them")
    directory_import = command(
        units, "import", "show what a directory file (or a config file's units:) changes; --apply applies it",
        directory.import_directory,
    )  # fmt: skip
    directory_import.add_argument("file", type=Path)
    directory_import.add_argument("--apply", action="store_true", help="apply the change")
    command(units, "show", "the unit tree with heads, staff and their chat ids", directory.show_directory)

    waiting = command(
        commands, "outbox", "messages not delivered: pending, retrying, given up; digests not sent",
        outbox.list_outbox,
    )  # fmt: skip
    waiting.add_argument("--state", choices=outbox.STATES, default="all", help="default: all")
    listing(waiting)

    keys = actions("apikey", "keys the one-stop software calls the intake API with")
    made = command(keys, "create", "make a key for some units; prints it once", apikey.create_key)
    made.add_argument("--name", required=True, help="who uses it, for the audit trail (e.g. motcua-q1)")
    made.add_argument(
        "--units", required=True, metavar="CODE[,CODE...]", help="units it may touch, with those under them"
    )
    listing(command(keys, "list", "list keys (never the keys themselves)", apikey.list_keys))
    command(keys, "revoke", "revoke a key at once", apikey.revoke_key).add_argument("name")

    trail = command(commands, "audit", "print admin changes and case actions", audit.print_audit)
    trail.add_argument("--since", type=day, metavar="DATE", help="from this day on (YYYY-MM-DD)")
    listing(trail)

    listed = command(commands, "answers", "list stored answers", answers.list_answers)
    listed.add_argument("--unit", help="only this unit and the units under it")
    listed.add_argument(
        "--with-personal-data",
        action="store_true",
        help="add the citizen's chat id, name and phone (left out by default; the export is audited)",
    )
    listing(listed)

    # Reports (issue 14): answers collected elsewhere, and the report itself.
    answer_actions = listed.add_subparsers(dest="answers_action", metavar="ACTION")
    answer_import = command(
        answer_actions, "import", "store answers collected on paper, by phone or at a kiosk (CSV or .xlsx)",
        report.import_answers,
    )  # fmt: skip
    answer_import.add_argument(
        "file", type=Path, help="columns: unit, procedure, rating, date, channel[, factor]"
    )
    answer_import.add_argument(
        "--skip-bad", action="store_true", help="import the good rows even when some are refused (listed)"
    )
    answer_import.add_argument(
        "--scale",
        type=int,
        choices=(3, 5),
        help="the scale of ratings given as numbers (needed for 1-3 only)",
    )
    reporting = command(
        commands,
        "report",
        "satisfaction, complaints and the Decision 766 figures for a period",
        report.report,
    )
    reporting.add_argument("--unit", help="this unit and its subtree (default: the whole tree)")
    reporting.add_argument(
        "--from", dest="from_day", type=day, metavar="DATE", help="default: last full month"
    )
    reporting.add_argument("--to", dest="to_day", type=day, metavar="DATE", help="default: today with --from")
    reporting.add_argument("--by", choices=GROUPINGS, default="unit", help="rows by (default: unit)")
    reporting.add_argument("--format", choices=report.REPORT_FORMS, default="table", help="default: table")
    reporting.add_argument("--output", type=Path, metavar="FILE", help="write here (needed for xlsx and png)")

    letters = command(commands, "letters", "apology letters and where they went", lateness.list_letters)
    letters.add_argument("--unit", help="only this unit and the units under it")
    letters.add_argument("--to-print", action="store_true", help="only letters delivered nowhere")
    listing(letters)
    late = command(
        commands, "lateness", "per unit: dossiers returned, late, and apology letters on time, late, missing",
        lateness.lateness,
    )  # fmt: skip
    late.add_argument("--unit", help="this unit and the units under it, a row each (each its own dossiers)")
    late.add_argument("--from", dest="from_day", type=day, metavar="DATE", help="default: last full month")
    late.add_argument("--to", dest="to_day", type=day, metavar="DATE", help="default: today with --from")
    late.add_argument("--compare-year", action="store_true", help="also the same period a year before")
    listing(late)

    complaints = actions("cases", "complaint cases")
    case_list = command(complaints, "list", "list cases: open ones unless --state says", cases.list_cases)
    case_list.add_argument("--unit", help="only this unit and the units under it")
    case_list.add_argument("--state", choices=cases.STATE_CHOICES, default="open", help="default: open")
    listing(case_list)
    case_show = command(complaints, "show", "print a case with its history", cases.show_case)
    case_show.add_argument("number", type=int, help="the case number (as in cases list)")
    personal = actions("privacy", "citizens' personal data")
    erase = command(
        personal, "forget", "erase a citizen's personal data (ratings stay anonymous; open complaints close)",
        privacy.forget,
    )  # fmt: skip
    whose = erase.add_mutually_exclusive_group(required=True)
    whose.add_argument("--phone", help="every dossier with this phone number")
    whose.add_argument("--dossier", metavar="CODE", help="this dossier")

    schema = actions("db", "the database: its migrations; a move from SQLite to PostgreSQL")
    command(schema, "migrate", "apply the migrations the configured database lacks", db.migrate_database)
    command(
        schema, "status", "every migration, applied or not (exit status 1 while some are pending)",
        db.show_status,
    )  # fmt: skip
    copying = command(
        schema, "copy", "copy a SQLite database into an empty PostgreSQL one, and check the copy",
        db.copy_to_postgresql,
    )  # fmt: skip
    copying.add_argument(
        "--from", dest="source", required=True, metavar="sqlite:PATH", help="the SQLite file"
    )
    copying.add_argument(
        "--to", dest="target", required=True, metavar="postgresql://...", help="an empty PostgreSQL database"
    )
    copying.add_argument("--batch", type=int, default=5000, help=argparse.SUPPRESS)

    oa = actions("zalo-oa", "the Zalo Official Account: its token, ZNS quota and webhook")
    command(oa, "status", "token expiry, ZNS quota left today, last webhook received", zalo_oa.zalo_oa_status)
    return parser
