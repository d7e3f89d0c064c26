"""The command line: `feedback-bot run | console | dossier | answers`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import json
import logging
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from bot.app import build_dispatcher, build_handlers, links_for, opened_storage, serve
from bot.channels.console import ConsoleChannel
from bot.channels.telegram import CHANNEL as TELEGRAM
from bot.channels.telegram import TelegramChannel
from bot.channels.zalo import CHANNEL as ZALO
from bot.channels.zalo import ZaloChannel, ZaloClient
from bot.config import ENV_TELEGRAM_TOKEN, ENV_ZALO_TOKEN, Config, ConfigError, config_path, load_config
from handlers.admin import apply_directory, plan_directory, summarize
from handlers.chat import Sender
from handlers.digest import DigestRun
from handlers.directory import DirectoryChange, DirectoryError, UnitConfig
from handlers.links import new_survey_code
from handlers.question_set import QuestionSet, QuestionSetError, load_question_set
from handlers.question_sets import QuestionSets
from storage.base import DuplicateDossier, UnknownDossier, UnknownUnit
from storage.records import AnswerRow, AuditEntry, StoredQuestionSet

log = logging.getLogger("feedback-bot")


class CommandError(Exception):
    """A mistake on the command line, told to the person in one line."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        given = getattr(args, "config", None)
        config = load_config(config_path(given), must_exist=given is not None)
        _setup_logging(config)
        load_question_set(config.question_set)  # a broken question set stops every command
        return int(args.handler(config, args))
    except (ConfigError, QuestionSetError, CommandError) as exc:
        print(f"feedback-bot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
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
        description="Citizen feedback on administrative services, over Telegram (and the terminal).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", parents=[common], help="run the bot (Telegram long polling)")
    run.set_defaults(handler=run_bot)

    console = commands.add_parser("console", parents=[common], help="answer surveys in this terminal")
    console.add_argument(
        "--demo",
        action="store_true",
        help="throwaway database with a demo unit and dossier; the survey starts at once",
    )
    console.set_defaults(handler=run_console)

    dossier = commands.add_parser("dossier", parents=[common], help="record dossiers and their return")
    dossier_commands = dossier.add_subparsers(dest="dossier_command", metavar="ACTION", required=True)
    add = dossier_commands.add_parser(
        "add", parents=[common], help="record a dossier; prints its survey link"
    )
    add.add_argument("code")
    add.add_argument("--unit", required=True, help="code of the unit that handles it")
    add.add_argument("--procedure", required=True, help="name of the administrative procedure")
    add.add_argument("--received", type=_date, metavar="DATE", help="date received (YYYY-MM-DD)")
    add.add_argument("--due", type=_date, metavar="DATE", help="appointment date for the result (YYYY-MM-DD)")
    add.add_argument(
        "--returned",
        nargs="?",
        const="now",
        metavar="DATETIME",
        help="the result was returned (now, or at YYYY-MM-DD[THH:MM])",
    )
    add.add_argument("--qr", type=Path, metavar="FILE.png", help="also write the survey link as a QR code")
    add.set_defaults(handler=add_dossier)
    returned = dossier_commands.add_parser(
        "returned", parents=[common], help="record that the result was returned"
    )
    returned.add_argument("code")
    returned.add_argument("--at", default="now", metavar="DATETIME", help="when (default: now)")
    returned.set_defaults(handler=return_dossier)

    digest = commands.add_parser("digest", parents=[common], help="send the day's digests to unit heads now")
    digest.add_argument("--unit", help="only this unit's digest")
    digest.add_argument("--date", type=_date, metavar="DATE", help="the day (default: today, locally)")
    digest.set_defaults(handler=send_digests_now)

    questions = commands.add_parser("questions", parents=[common], help="manage question sets")
    question_commands = questions.add_subparsers(dest="questions_command", metavar="ACTION", required=True)
    for action, about in (
        ("validate", "check a question-set file and say what is wrong, with line numbers"),
        ("import", "store a question-set file as the set's next version (inactive until activated)"),
    ):
        command = question_commands.add_parser(action, parents=[common], help=about)
        command.add_argument("file", type=Path)
        command.set_defaults(handler=validate_questions if action == "validate" else import_questions)
    listing = question_commands.add_parser(
        "list", parents=[common], help="list sets: scope, version, state, answers"
    )
    listing.set_defaults(handler=list_questions)
    for action, about, handler in (
        ("activate", "make this version its set's active one (also to go back to an earlier one)",
         "activate_questions"),
        ("preview", "answer this version's survey in the terminal; nothing is stored", "preview_questions"),
    ):  # fmt: skip
        command = question_commands.add_parser(action, parents=[common], help=about)
        command.add_argument("id", type=int, help="the id shown by `questions list`")
        command.set_defaults(handler=globals()[handler])

    directory = commands.add_parser("directory", parents=[common], help="change units and people")
    directory_commands = directory.add_subparsers(dest="directory_command", metavar="ACTION", required=True)
    directory_import = directory_commands.add_parser(
        "import", parents=[common], help="show what a directory file changes; --apply to apply it"
    )
    directory_import.add_argument("file", type=Path)
    directory_import.add_argument("--apply", action="store_true", help="apply the change")
    directory_import.set_defaults(handler=import_directory)

    audit = commands.add_parser("audit", parents=[common], help="print admin changes and case actions")
    audit.add_argument("--since", type=_date, metavar="DATE", help="from this day on (YYYY-MM-DD)")
    audit.set_defaults(handler=print_audit)

    answers = commands.add_parser("answers", parents=[common], help="list stored answers")
    answers.add_argument("--unit", help="only this unit and the units under it")
    answers.add_argument("--format", choices=("table", "csv", "json"), default="table")
    answers.set_defaults(handler=list_answers)
    return parser


class _Redact(logging.Filter):
    """Keeps secrets (the bot token, the link secret) out of every log line."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "[secret]")
            record.msg, record.args = message, None
        return True


def _setup_logging(config: Config) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    token = config.telegram.token.get_secret_value() if config.telegram.token else ""
    handler.addFilter(_Redact([token, config.secret.get_secret_value()]))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    # httpx logs every request URL, and Telegram's URLs carry the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-11-26") from exc


def _moment(value: str, config: Config) -> datetime:
    """'now' or an ISO date/time; a time without a zone is in the config's time zone."""
    if value == "now":
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{value!r} is not a date and time like 2026-11-26T14:30") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=config.zone)
    return moment.astimezone(UTC)


# Commands


def run_bot(config: Config, args: argparse.Namespace) -> int:
    """Runs the bot on Telegram until Ctrl-C or SIGTERM."""
    if config.telegram.token is None and config.zalo.token is None:
        raise CommandError(
            f"no bot token: set {ENV_TELEGRAM_TOKEN}=<token from @BotFather> (or {ENV_ZALO_TOKEN}, or "
            "telegram.token / zalo.token in the config); to try the survey without them, run: "
            "feedback-bot console --demo"
        )
    return asyncio.run(serve(config))


def run_console(config: Config, args: argparse.Namespace) -> int:
    """Runs the survey in the terminal, on the configured database or a throwaway demo one."""
    if not args.demo:
        return asyncio.run(_console(config))
    return _demo(config)


def _demo(config: Config, question_set: QuestionSet | None = None) -> int:
    """The survey of a demo dossier in the terminal, on a throwaway database."""
    with tempfile.TemporaryDirectory(prefix="feedback-bot-demo-") as folder:
        demo = config.model_copy(
            update={
                "database": Path(folder) / "demo.db",
                "units": (UnitConfig(code="DEMO", name="UBND Phường Bến Nghé"),),
            }
        )
        return asyncio.run(_console(demo, demo_dossier=True, question_set=question_set))


async def _console(
    config: Config, demo_dossier: bool = False, question_set: QuestionSet | None = None
) -> int:
    async with opened_storage(config) as store:
        dispatcher = build_dispatcher(config, store, question_set)
        channel = ConsoleChannel(dispatcher, store.chats)
        print("Gõ /help để xem hướng dẫn, /quit để thoát. Type /help for help, /quit to leave.")
        if demo_dossier:
            now = datetime.now(UTC)
            dossier = await store.dossiers.add_dossier(
                code="DEMO-0001",
                unit_code="DEMO",
                procedure="Cấp bản sao trích lục khai sinh",
                link_id=links_for(config).new_link_id(),
                now=now,
                returned_at=now,
            )
            reply = await dispatcher.survey.begin(channel.address, dossier, config.language, now)
            await channel.show([reply], conversation=True)
        await channel.converse()
    return 0


def add_dossier(config: Config, args: argparse.Namespace) -> int:
    """Records a dossier and prints its survey link (and writes its QR code)."""
    links = links_for(config)
    returned_at = _moment(args.returned, config) if args.returned else None

    async def add() -> tuple[str, str]:
        async with opened_storage(config) as store:
            try:
                dossier = await store.dossiers.add_dossier(
                    code=args.code,
                    unit_code=args.unit,
                    procedure=args.procedure,
                    link_id=links.new_link_id(),
                    now=datetime.now(UTC),
                    received_on=args.received,
                    due_on=args.due,
                    returned_at=returned_at,
                    survey_code=new_survey_code(),
                )
            except DuplicateDossier as exc:
                raise CommandError(f"dossier {args.code} is already recorded") from exc
            except UnknownUnit as exc:
                raise CommandError(
                    f"unknown unit {args.unit!r}: add it under 'units:' in the config"
                ) from exc
        return links.url(dossier.link_id), dossier.survey_code or ""

    url, code = asyncio.run(add())
    if args.qr:
        _write_qr(url, args.qr)
        print(f"QR code written to {args.qr}", file=sys.stderr)
    print(url)
    print(code)  # for Zalo, which has no deep links: the citizen types it
    return 0


def _write_qr(url: str, path: Path) -> None:
    import qrcode
    from qrcode.image.pure import PyPNGImage

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        image = qrcode.make(url, image_factory=PyPNGImage, box_size=8, border=4)
        with path.open("wb") as out:
            image.save(out)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror}") from exc


def return_dossier(config: Config, args: argparse.Namespace) -> int:
    """Records that a dossier's result was returned; the running bot then sends the survey."""
    at = _moment(args.at, config)

    async def mark() -> None:
        async with opened_storage(config) as store:
            try:
                await store.dossiers.mark_returned(args.code, at)
            except UnknownDossier as exc:
                raise CommandError(f"no dossier {args.code!r} is recorded") from exc

    asyncio.run(mark())
    print(f"dossier {args.code} returned at {at.astimezone(config.zone):%Y-%m-%d %H:%M}", file=sys.stderr)
    return 0


def send_digests_now(config: Config, args: argparse.Namespace) -> int:
    """Sends the digests of the day that have not gone yet, on every configured channel; their
    buttons and typed choices work in the running bot."""
    if config.telegram.token is None and config.zalo.token is None:
        raise CommandError(
            f"no bot token: set {ENV_TELEGRAM_TOKEN} or {ENV_ZALO_TOKEN} (or their keys in the config)"
        )

    async def send() -> DigestRun:
        async with opened_storage(config) as store, contextlib.AsyncExitStack() as stack:
            if args.unit and await store.directory.get_unit(args.unit) is None:
                raise CommandError(f"unknown unit {args.unit!r}")
            handlers = build_handlers(config, store)
            dispatcher = handlers.dispatcher
            senders: dict[str, Sender] = {}
            if config.telegram.token is not None:
                telegram = TelegramChannel(config.telegram, dispatcher, store.chats)
                await stack.enter_async_context(telegram.application)
                senders[TELEGRAM] = telegram
            if config.zalo.token is not None:
                zalo = ZaloChannel(
                    ZaloClient(config.zalo.base_url, config.zalo.token.get_secret_value()),
                    dispatcher,
                    store.chats,
                )
                stack.push_async_callback(zalo.client.close)
                senders[ZALO] = zalo
            return await handlers.digests.send(
                senders, datetime.now(UTC), config.digest.show,
                day=args.date, only=[args.unit] if args.unit else None,
            )  # fmt: skip

    run = asyncio.run(send())
    print(
        f"digests: {run.sent} sent, {run.empty} with nothing to report, {run.unreachable} reached no head, "
        f"{run.already} sent before",
        file=sys.stderr,
    )
    return 0


def validate_questions(config: Config, args: argparse.Namespace) -> int:
    """Checks a question-set file; prints what it asks, or each problem with its line."""
    question_set = _question_set_file(args.file, config)
    rating = question_set.rating_question
    print(f"{args.file}: valid: {question_set.id}, {len(question_set.questions)} questions, rating options: "
          + ", ".join(o.text(config.language) for o in rating.options))  # fmt: skip
    return 0


def _question_set_file(path: Path, config: Config) -> QuestionSet:
    """The set in a file; its problems told in the config's language."""
    try:
        return load_question_set(path)
    except QuestionSetError as exc:
        raise CommandError(exc.describe(config.language)) from exc


def import_questions(config: Config, args: argparse.Namespace) -> int:
    """Stores a question-set file as its set's next version, unless it is unchanged."""
    _question_set_file(args.file, config)  # refuse an invalid file before touching the database
    source = args.file.read_text(encoding="utf-8")

    async def store_it() -> tuple[StoredQuestionSet, bool]:
        async with opened_storage(config) as store:
            sets = QuestionSets(store.question_sets, store.directory, load_question_set(config.question_set))
            return await sets.import_set(source, str(args.file), datetime.now(UTC), _cli_actor())

    stored, created = asyncio.run(store_it())
    if created:
        print(f"imported {stored.set_id} v{stored.version} as id {stored.id}; "
              f"activate it with: feedback-bot questions activate {stored.id}")  # fmt: skip
    else:
        print(f"unchanged: the same as {stored.set_id} v{stored.version} (id {stored.id})")
    return 0


def list_questions(config: Config, args: argparse.Namespace) -> int:
    """Lists every stored version with its scope, state and answer count."""

    async def fetch() -> list[tuple[StoredQuestionSet, str]]:
        async with opened_storage(config) as store:
            sets = QuestionSets(store.question_sets, store.directory, load_question_set(config.question_set))
            rows = []
            for stored in await store.question_sets.list_question_sets():
                scope = sets.parsed(stored).scope
                where = ", ".join([*scope.units, *scope.procedures]) or "everywhere"
                rows.append((stored, where))
            return rows

    rows = asyncio.run(fetch())
    if not rows:
        print("no imported question sets; citizens get the default set")
        return 0
    print(f"{'id':>4}  {'set':<20} {'version':>7}  {'state':<8} {'answers':>7}  scope")
    for stored, where in rows:
        state = "active" if stored.active else "inactive"
        row = f"{stored.id:>4}  {stored.set_id:<20} {stored.version:>7}  {state:<8} {stored.answers:>7}"
        print(f"{row}  {where}")
    return 0


def activate_questions(config: Config, args: argparse.Namespace) -> int:
    """Makes a stored version its set's active one."""

    async def activate() -> StoredQuestionSet | None:
        async with opened_storage(config) as store:
            return await store.question_sets.activate_question_set(args.id, datetime.now(UTC), _cli_actor())

    stored = asyncio.run(activate())
    if stored is None:
        raise CommandError(f"no question set with id {args.id}: see `feedback-bot questions list`")
    print(f"{stored.set_id} v{stored.version} is active; new surveys in its scope use it")
    return 0


def preview_questions(config: Config, args: argparse.Namespace) -> int:
    """Runs a stored version's survey in the terminal on a throwaway database."""

    async def fetch() -> QuestionSet:
        async with opened_storage(config) as store:
            stored = await store.question_sets.get_question_set(args.id)
            if stored is None:
                raise CommandError(f"no question set with id {args.id}: see `feedback-bot questions list`")
            return QuestionSets(
                store.question_sets, store.directory, load_question_set(config.question_set)
            ).parsed(stored)

    return _demo(config, asyncio.run(fetch()))


def import_directory(config: Config, args: argparse.Namespace) -> int:
    """Prints what a directory file changes (units added, renamed, moved, retired; people added,
    removed, changing role) and applies it with --apply."""
    try:
        source = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{args.file}: cannot be read: {exc}") from exc

    async def run() -> tuple[DirectoryChange, bool]:
        async with opened_storage(config) as store:
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
                and await apply_directory(store.directory, change, now, _cli_actor())
            )
            return change, applied

    change, applied = asyncio.run(run())
    if change.empty:
        print("nothing in the directory changes")
        return 0
    print("\n".join(change.lines(config.language)))
    print(f"applied: {summarize(change)}" if applied else "not applied: run again with --apply")
    return 0


def print_audit(config: Config, args: argparse.Namespace) -> int:
    """Prints the audit trail: admin changes and case actions, oldest first."""
    since = datetime.combine(args.since, datetime.min.time(), config.zone) if args.since else None

    async def fetch() -> list[AuditEntry]:
        async with opened_storage(config) as store:
            return await store.audit.audit_since(since)

    for entry in asyncio.run(fetch()):
        at = entry.at.astimezone(config.zone).strftime("%Y-%m-%d %H:%M")
        print(f"{at}  {entry.actor:<14} {entry.action:<24} {entry.detail or ''}".rstrip())
    return 0


def _cli_actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


def list_answers(config: Config, args: argparse.Namespace) -> int:
    """Prints stored answers as a table, CSV or JSON."""

    async def fetch() -> list[AnswerRow]:
        async with opened_storage(config) as store:
            if args.unit and await store.directory.get_unit(args.unit) is None:
                raise CommandError(f"unknown unit {args.unit!r}")
            return await store.surveys.list_answers(args.unit)

    rows = [_answer_fields(row, config) for row in asyncio.run(fetch())]
    sys.stdout.write(_format(rows, args.format))
    return 0


FIELDS = (
    "dossier",
    "unit",
    "procedure",
    "rating",
    "follow_ups",
    "text",
    "channel",
    "answered_at",
    "question_set",
)


def _answer_fields(row: AnswerRow, config: Config) -> dict[str, object]:
    answer = row.answer
    return {
        "dossier": row.dossier_code,
        "unit": row.unit_code,
        "procedure": row.procedure,
        "rating": answer.rating.value,
        "follow_ups": [f.model_dump() for f in answer.follow_ups],
        "text": " | ".join(answer.texts.values()),
        "channel": answer.channel,
        "answered_at": answer.answered_at.astimezone(config.zone).isoformat(timespec="seconds"),
        "question_set": f"{answer.question_set} v{answer.question_set_version}",
    }


def _follow_ups_text(value: object) -> str:
    assert isinstance(value, list)
    return "; ".join(f"{f['option_id']} ({f['factor']})" if f["factor"] else f["option_id"] for f in value)


def _format(rows: list[dict[str, object]], form: str) -> str:
    if form == "json":
        return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    flat = [{**row, "follow_ups": _follow_ups_text(row["follow_ups"])} for row in rows]
    if form == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(flat)
        return out.getvalue()
    if not flat:
        return "no answers yet\n"
    shown = [{k: _clip(str(v)) for k, v in row.items()} for row in flat]
    widths = {k: max(len(k), *(len(row[k]) for row in shown)) for k in FIELDS}
    lines = ["  ".join(k.ljust(widths[k]) for k in FIELDS)]
    lines += ["  ".join(row[k].ljust(widths[k]) for k in FIELDS) for row in shown]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _clip(value: str, width: int = 40) -> str:
    value = " ".join(value.split())
    return value if len(value) <= width else value[: width - 1] + "…"
