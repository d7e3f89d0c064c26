"""The running application: storage, handlers, channels and the scheduler wired together."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from telegram.error import InvalidToken

from bot.channels.telegram import CHANNEL as TELEGRAM
from bot.channels.telegram import TelegramChannel, TelegramWebhook, webhook_for
from bot.channels.zalo import CHANNEL as ZALO
from bot.channels.zalo import Webhook, ZaloChannel, ZaloClient, ZaloError
from bot.channels.zalo_oa.channel import CHANNEL as ZALO_OA
from bot.channels.zalo_oa.webhook import ZaloOAWebhook
from bot.channels.zalo_oa.wiring import build_channel as build_zalo_oa_channel
from bot.channels.zalo_oa.wiring import build_client as build_zalo_oa_client
from bot.channels.zalo_oa.wiring import build_webhook, build_zns
from bot.channels.zalo_oa.zns import ZnsRatings, rating_scale
from bot.config import ENV_API_PORT, ENV_SECRET, PLACEHOLDER_SECRET, ApiConfig, Config
from bot.health import ChannelState, Readiness
from bot.http.server import ApiServer, ApiServerError
from bot.leadership import AlwaysLeader, Callback, Leader, Leadership, lock_key
from bot.metrics import Backlog, Metrics
from handlers.admin import AdminDesk
from handlers.cases import CaseDesk, CaseSettings
from handlers.chat import Delivery, Reply, Sender
from handlers.digest import DigestRun, Digests
from handlers.directory import flatten
from handlers.dispatch import Dispatcher
from handlers.dossier_alerts import DossierAlerts
from handlers.extensions import ExtensionDesk
from handlers.intake import Intake
from handlers.invitations import Invitations
from handlers.letter_outbox import LetterDeliveries
from handlers.links import SurveyLinks
from handlers.monthly_reports import MonthlyReports, MonthlyRun
from handlers.new_cases import AnnounceSettings, NewCaseNotices
from handlers.notices import Notices
from handlers.outbox import Courier
from handlers.privacy import PrivacyDesk, PrivacySettings, erase_expired
from handlers.question_set import QuestionSet, load_question_set
from handlers.question_sets import QuestionSets
from handlers.report_chat import ReportDesk
from handlers.reports import Report, ReportSettings
from handlers.survey import SurveyFlow, SurveySettings
from handlers.tally import NO_TALLY, Tally
from handlers.template_ratings import DEFAULT_LEVELS, RatingScale, TemplateRatings
from handlers.templates import ZNS, TemplateSender
from handlers.texts import LANGUAGES, Language
from handlers.throttled_log import ThrottledLog
from storage.backends import is_postgresql, storage_for
from storage.base import AlreadyServing, Storage
from storage.records import Rating

log = logging.getLogger(__name__)

DIGEST_RETRY_CHECK_SECONDS = 30  # how often the running bot looks for digests due again
DIGEST_CATCH_UP = timedelta(hours=6)  # how long a day's failed digest run keeps trying
STOP_GRACE_SECONDS = 10  # messages being sent at a stop may finish within this

# A scheduled job that fails fails every round alike (a full disk, a read-only database): each
# job's failure is logged once a minute at most, saying how many rounds failed in between.
JOB_FAILURES = {
    job: ThrottledLog(log)
    for job in ("outbox", "new-cases", "digests", "digest-retries", "retention", "monthly-reports")
}
RETENTION_TIME = (2, 30)  # local: personal data past its retention period is erased at night


async def seed_directory(store: Storage, config: Config) -> None:
    """On first start, the config's units and people become the directory. After that the
    directory lives in the database, and the config's units count only when imported with
    `feedback-bot directory import CONFIG --apply`; a start says so when they differ."""
    units, people = flatten(config.units)
    stored = await store.directory.list_units(retired=True)
    if not stored:
        if units:
            await store.directory.apply_directory(
                units=units,
                people=people,
                retired=[],
                moves={},
                now=datetime.now(UTC),
                actor="config",
                summary=f"seeded from the config: {len(units)} units",
            )
        return
    known = {(u.code, u.name, u.parent_code) for u in stored}
    differing = [u.code for u in units if (u.code, u.name, u.parent_code) not in known]
    if differing:
        log.warning(
            "the config's units differ from the directory in the database, which wins (units that "
            "differ: %s); to apply the config's units run: feedback-bot directory import %s --apply",
            ", ".join(differing),
            config.source or "config.yaml",
        )


@asynccontextmanager
async def opened_storage(config: Config, store: Storage | None = None) -> AsyncIterator[Storage]:
    """The configured database (or `store`, made for it) for the block: created and migrated if
    need be, with the config's units saved, closed afterwards."""
    store = store or storage_for(config.database)
    await store.open()
    try:
        await seed_directory(store, config)
        yield store
    finally:
        await store.close()


def links_for(config: Config) -> SurveyLinks:
    return SurveyLinks(config.secret.get_secret_value(), config.telegram.username)


def backlog(config: Config, store: Storage) -> Backlog:
    """The metrics read from storage at each scrape: the outbox's depth, the digests' lag."""
    return Backlog(store, config.zone, config.digest.hour_minute)


def chat_channels(config: Config) -> list[str]:
    """The chat channels the config sets up, which a running bot starts."""
    configured = {
        TELEGRAM: config.telegram.token is not None,
        ZALO: config.zalo.token is not None,
        ZALO_OA: config.zalo_oa is not None,
    }
    return [name for name, wanted in configured.items() if wanted]


def case_settings(config: Config) -> CaseSettings:
    return CaseSettings(
        open_on=frozenset(Rating(r) for r in config.cases.open_on),
        deadline_working_days=config.cases.deadline_working_days,
        contact_hours=config.cases.contact_hours,
        holidays=frozenset(config.cases.holidays),
        zone=config.zone,
    )


@dataclass(frozen=True)
class Handlers:
    """Everything the running bot calls: the dispatcher for what people send, and the jobs that
    send on their own (invitations, case notices, digests)."""

    dispatcher: Dispatcher
    invitations: Invitations
    notices: Notices
    digests: Digests
    new_cases: NewCaseNotices
    letters: LetterDeliveries
    alerts: DossierAlerts  # to heads and staff about a dossier: an extension handed on, a second one
    ratings: TemplateRatings  # ratings given in a ZNS template, which become answers
    courier: Courier  # sends the invitations and notices, different chats' at the same time
    monthly: MonthlyReports | None = None  # last month's report to heads and admins (with the digests)


def draw_report(report: Report, language: Language) -> bytes:
    """A report's chart for /report; the drawing code (and matplotlib) is loaded with the first."""
    from bot.report_files import draw_png

    return draw_png(report, language)


def build_handlers(
    config: Config,
    store: Storage,
    default_set: QuestionSet | None = None,
    templates: TemplateSender | None = None,
    *,
    tally: Tally = NO_TALLY,
) -> Handlers:
    """Wires the handlers to the repositories each uses; `templates` sends ZNS template messages
    (none: no Zalo Official Account); `tally` counts updates handled and answers stored."""
    question_set = default_set or load_question_set(config.question_set)
    cases = case_settings(config)
    sets = QuestionSets(store.question_sets, store.directory, question_set)
    privacy = PrivacyDesk(
        store.privacy,
        store.audit,
        PrivacySettings(
            controller=config.privacy.controller,
            explicit_consent=config.privacy.consent == "explicit",
            retention_days=config.privacy.retention_days,
        ),
        config.zone,
    )
    survey = SurveyFlow(
        store.dossiers,
        store.surveys,
        sets,
        links_for(config),
        SurveySettings(
            cooldown_days=config.survey.cooldown_days,
            link_valid_days=config.survey.link_valid_days,
            explicit_consent=config.privacy.consent == "explicit",
        ),
        cases,
        store.chats,
        privacy.consent_question,
        tally=tally,
    )
    option_texts = {
        language: {
            o.id: o.text(language) for q in question_set.questions if q.type == "choice" for o in q.options
        }
        for language in LANGUAGES
    }
    admins = [(c.channel, c.chat_id) for person in config.admins for c in person.contacts]
    desk = CaseDesk(store.cases, store.directory, store.chats, cases, option_texts)
    extensions = ExtensionDesk(store.dossiers, store.directory, store.chats, cases, store.letters)
    admin = AdminDesk(sets, store.directory, store.digests, admins)
    language = config.language
    courier = Courier()
    report_settings = ReportSettings(
        zone=config.zone, min_answers=config.reports.min_answers, language=language
    )
    reports = ReportDesk(store.reports, store.directory, report_settings, draw_report, admins)
    monthly = MonthlyReports(
        store.reports, store.directory, report_settings, draw_report, admins, config.cases.holidays
    )
    return Handlers(
        dispatcher=Dispatcher(
            store.chats,
            store.directory,
            survey,
            desk,
            admin,
            language,
            extensions=extensions,
            privacy=privacy,
            reports=reports,
            tally=tally,
        ),
        invitations=Invitations(
            store.outbox, store.chats, store.dossiers, store.surveys, survey, language, courier, templates
        ),
        notices=Notices(
            store.outbox,
            store.cases,
            store.directory,
            store.chats,
            desk,
            language,
            courier,
            templates,
            store.dossiers,
        ),
        digests=Digests(
            store.directory,
            store.digests,
            store.cases,
            store.chats,
            desk,
            language,
            store.outbox,
            letters=store.letters,
            extensions=extensions,
        ),
        new_cases=NewCaseNotices(
            store.cases, store.directory, store.chats, desk, announce_settings(config), language
        ),
        letters=LetterDeliveries(
            store.letters,
            store.dossiers,
            store.chats,
            store.directory,
            config.zone,
            language,
            config.letters.template_for,
            courier,
            templates,
        ),
        alerts=DossierAlerts(store.letters, store.directory, store.chats, extensions, language),
        ratings=TemplateRatings(
            store.dossiers,
            store.surveys,
            rating_scale(config.zalo_oa) if config.zalo_oa is not None else RatingScale(DEFAULT_LEVELS, {}),
            cases,
            tally=tally,
        ),
        courier=courier,
        monthly=monthly,
    )


def announce_settings(config: Config) -> AnnounceSettings:
    notice = config.cases.new_case_notice
    return AnnounceSettings(
        enabled=notice.enabled,
        quiet=timedelta(seconds=notice.quiet_seconds),
        max_wait=timedelta(seconds=notice.max_wait_seconds),
        show=config.digest.show,
    )


def build_dispatcher(config: Config, store: Storage, default_set: QuestionSet | None = None) -> Dispatcher:
    return build_handlers(config, store, default_set).dispatcher


def build_intake(config: Config, store: Storage) -> Intake:
    """The intake API's service over the repositories it uses."""
    return Intake(
        store.dossiers, store.surveys, store.directory, store.api_keys, links_for(config), config.zone
    )


@asynccontextmanager
async def serving_api(
    config: Config,
    store: Storage,
    settings: ApiConfig | None,
    zalo_oa: ZaloOAWebhook | None = None,
    telegram: TelegramWebhook | None = None,
    *,
    readiness: Readiness | None = None,
    metrics: Metrics | None = None,
) -> AsyncIterator[Intake | None]:
    """The HTTP API (with `settings`; none: no API) serving the intake service for the block, and
    the Zalo OA's and Telegram's webhooks when given, with /healthz, /readyz (`readiness`; none:
    the database only) and /metrics (`metrics`; none: the storage gauges only). Raises
    bot.http.server.ApiServerError when it cannot listen where the settings say."""
    if settings is None:
        yield None
        return
    # Imported here: the commands that serve no HTTP need not load FastAPI (80 ms).
    from bot.http.app import build_http_app

    intake = build_intake(config, store)
    app = build_http_app(
        intake,
        settings,
        zalo_oa=zalo_oa,
        telegram=telegram,
        readiness=readiness or Readiness(store.ping),
        metrics=metrics or Metrics(backlog(config, store)),
    )
    async with ApiServer(app, settings.listen, settings.port) as server:
        log.info("intake API on %s/api/docs", server.url)
        yield intake


async def deliver_outbox(handlers: Handlers, senders: Mapping[str, Sender], cooldown: timedelta) -> None:
    """One scheduled round of the outboxes: hands the invitations, case notices and apology letters
    due now to the
    courier and returns without waiting for them, so that a chat waiting out flood control never
    holds up the next round (what is being sent is left alone by it). Errors are logged and the
    next round tries again."""
    try:
        await handlers.invitations.hand_over(senders, datetime.now(UTC), cooldown)
        await handlers.notices.hand_over(senders, datetime.now(UTC))
        await handlers.letters.hand_over(senders, datetime.now(UTC))
    except Exception:
        JOB_FAILURES["outbox"].exception("sending from the outbox failed; will try again next round")


async def announce_new_cases(handlers: Handlers, senders: Mapping[str, Sender]) -> None:
    """Tells heads of the complaints that opened, and heads and staff of what happened to a dossier
    (an extension handed to them, a dossier rescheduled twice); a job of its own, so a head's slow
    chat holds up no invitation or notice."""
    try:
        await handlers.new_cases.send(senders, datetime.now(UTC))
        await handlers.alerts.send(senders, datetime.now(UTC))
    except Exception:
        JOB_FAILURES["new-cases"].exception("announcing new cases failed; will try again next round")


async def erase_expired_data(store: Storage, config: Config) -> None:
    """Erases the personal data of dossiers inactive past `privacy.retention_days`; errors are
    logged and the next night's run (or the next start) goes on from where this one stopped."""
    try:
        erased = await erase_expired(store.privacy, config.privacy.retention_days, datetime.now(UTC))
        if erased:
            log.info("personal data of %s dossiers past the retention period erased", erased)
    except Exception:
        JOB_FAILURES["retention"].exception("erasing personal data past its retention failed; tried again")


async def deliver_digests(
    handlers: Handlers, senders: Mapping[str, Sender], show: int, *, retrying: bool = False
) -> None:
    """Sends the day's digests not sent yet (or, `retrying`, only those due again: not accepted
    whole, or claimed by a run that died); errors are logged. The day's run that fails before it
    could claim anything (the database unreachable at digest time) tries again every
    DIGEST_RETRY_CHECK_SECONDS for DIGEST_CATCH_UP: nothing else would send today's digests before
    tomorrow's run or a restart."""
    give_up = time.monotonic() + DIGEST_CATCH_UP.total_seconds()
    while True:
        try:
            now = datetime.now(UTC)
            run = await (handlers.digests.retry if retrying else handlers.digests.send)(senders, now, show)
            if retrying and run == DigestRun():
                return
            log.info(
                "digests: %s sent, %s with nothing to report, %s unreachable, %s sent before, %s to retry, "
                "%s refused",
                run.sent, run.empty, run.unreachable, run.already, run.retrying, run.failed,
            )  # fmt: skip
            break
        except Exception:
            JOB_FAILURES["digest-retries" if retrying else "digests"].exception("sending digests failed")
            if retrying or time.monotonic() >= give_up:
                break
            await asyncio.sleep(DIGEST_RETRY_CHECK_SECONDS)
    if not retrying and handlers.monthly is not None:
        await deliver_monthly_reports(handlers.monthly, senders)


async def deliver_monthly_reports(monthly: MonthlyReports, senders: Mapping[str, Sender]) -> None:
    """On the month's first working day, at the digest time (or at a start after it), last month's
    reports not sent yet; errors are logged, and the next start that day sends what is left."""
    try:
        run = await monthly.send(senders, datetime.now(UTC))
        if run != MonthlyRun():
            log.info("monthly reports: %s sent, %s with nothing to report, %s sent before, %s reached no one",
                     run.sent, run.empty, run.already, run.failed)  # fmt: skip
    except Exception:
        JOB_FAILURES["monthly-reports"].exception("sending the monthly reports failed")


def digest_due_today(config: Config, now: datetime) -> bool:
    """Whether today's digest time has passed (a start after it catches up)."""
    local = now.astimezone(config.zone)
    hour, minute = config.digest.hour_minute
    return (local.hour, local.minute) >= (hour, minute)


def warn_if_placeholder_secret(config: Config) -> None:
    """Links signed with the shipped default secret can be forged by anyone who knows it. The
    warning names no value: the log filter would print the secret as "[secret]" anyway."""
    if config.secret.get_secret_value() == PLACEHOLDER_SECRET:
        log.warning(
            "the link secret is still the placeholder value: set %s before printing "
            "survey links for real receipts",
            ENV_SECRET,
        )


STANDBY_POLL = 5.0  # seconds between a standby's tries to take the database over


async def claimed(store: Storage, config: Config, standby: bool, stop: asyncio.Event) -> bool:
    """Claims the database for this process. Another one serving it: refused, or with `standby`,
    waited for until it stops (or this one is told to stop). Whether this process may serve."""
    said = False
    while not stop.is_set():
        try:
            await store.claim_serving()
            if said:
                log.info("the other bot stopped: this one takes over %s", config.database)
            return True
        except AlreadyServing as holder:
            if not standby:
                log.error(
                    "%s is served by %s; a second one would send everything twice. Stop it first, or "
                    "start this one with --standby to take over when it stops",
                    config.database,
                    holder,
                )
                return False
            if not said:
                log.info("standby: %s is served by %s; waiting to take over", config.database, holder)
                said = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), STANDBY_POLL)
    return False


async def serve(config: Config, *, standby: bool = False) -> int:
    """Runs the bot until SIGINT or SIGTERM. Returns the process exit code."""
    warn_if_placeholder_secret(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    # Claimed before it is opened: a refused (or waiting) second run must not migrate or seed the
    # database under the one that serves it. Several processes serve one PostgreSQL database: there
    # is no file to claim; they elect one poller per bot (bot/leadership.py) and claim outbox work
    # in the database.
    unopened = storage_for(config.database)
    if standby and is_postgresql(config.database):
        log.info("--standby: on PostgreSQL every process serves, and one of them polls each bot")
    try:
        if not is_postgresql(config.database) and not await claimed(unopened, config, standby, stop):
            return 0 if stop.is_set() else 1
        return await _serve(config, unopened, stop)
    except ApiServerError as exc:
        log.error("%s (see api.listen and api.port in the config, or %s)", exc, ENV_API_PORT)
        return 1
    finally:
        await unopened.close()


async def _serve(config: Config, unopened: Storage, stop: asyncio.Event) -> int:
    # The API starts before the channels: an address that cannot be had stops the start at once.
    # The Zalo OA's and Telegram's webhooks are served by it; their channels, made below, take
    # what arrives.
    oa_webhook = build_webhook(config.zalo_oa) if config.zalo_oa is not None else None
    tg_webhook = webhook_for(config.telegram) if config.telegram.token is not None else None
    # /readyz says "starting" for each configured channel until it has started.
    readiness = Readiness(unopened.ping)
    readiness.expect(*chat_channels(config))
    metrics = Metrics(backlog(config, unopened))
    async with (
        opened_storage(config, unopened) as store,
        serving_api(
            config, store, config.api, oa_webhook, tg_webhook, readiness=readiness, metrics=metrics
        ) as intake,
    ):
        oa = build_zalo_oa_client(config.zalo_oa, store) if config.zalo_oa is not None else None
        zns = (
            build_zns(config.zalo_oa, store, oa, config.secret.get_secret_value(), metrics)
            if config.zalo_oa is not None and oa is not None
            else None
        )
        handlers = build_handlers(config, store, templates=zns, tally=metrics)
        dispatcher = handlers.dispatcher
        channels: dict[str, Channel] = {}
        leaders: dict[str, Leader] = {}  # who long-polls, for each channel that polls
        ratings: ZnsRatings | None = None
        if config.telegram.token is not None:
            telegram = TelegramChannel(
                config.telegram, dispatcher, store.chats, outbox=store.outbox, webhook=tg_webhook,
                metrics=metrics,
            )  # fmt: skip
            channels[TELEGRAM] = telegram
            if telegram.polls:
                leaders[TELEGRAM] = leader_for(config, TELEGRAM, config.telegram.token.get_secret_value(),
                                               *reported(metrics, TELEGRAM, telegram))  # fmt: skip
        if config.zalo.token is not None:
            client = ZaloClient(config.zalo.base_url, config.zalo.token.get_secret_value())
            zalo = ZaloChannel(
                client, dispatcher, store.chats, zalo_webhook(config), outbox=store.outbox, metrics=metrics
            )
            channels[ZALO] = zalo
            if zalo.polls:
                leaders[ZALO] = leader_for(config, ZALO, config.zalo.token.get_secret_value(),
                                           *reported(metrics, ZALO, zalo))  # fmt: skip
        if config.zalo_oa is not None and oa_webhook is not None and oa is not None and zns is not None:
            # Zalo Official Account: the chat with followers, and ZNS to phones (ratings come back).
            oa_channel = build_zalo_oa_channel(
                config.zalo_oa, store, dispatcher, oa_webhook, oa, metrics=metrics
            )
            ratings = ZnsRatings(oa.client, store.zalo_oa, config.zalo_oa, handlers.ratings)
            oa_channel.on_feedback = ratings.take
            channels[ZALO_OA] = oa_channel
            await zns.load_quota()
        senders: dict[str, Sender] = {}  # each channel joins once it has started
        readiness.expect(*channels)
        # The channels that poll: the leader gauge follows this process's election (always won on
        # a SQLite database, where it is the only one).
        for name in [*channels, *([ZNS] if zns is not None else [])]:
            metrics.add_channel(name)
            if name in leaders:
                metrics.set_leader(name, False)

        def started(name: str, state: ChannelState) -> None:
            readiness.set(name, state)

        tried = {name: asyncio.Event() for name in channels}
        starting = [
            asyncio.create_task(
                _keep_starting(name, channel, senders, tried[name], stop, started, leaders.get(name))
            )
            for name, channel in channels.items()
        ]
        await asyncio.wait([asyncio.create_task(event.wait()) for event in tried.values()])
        if not senders and all(task.done() for task in starting):
            log.error("no channel could start")
            return 1
        scheduler = AsyncIOScheduler(timezone=config.zone)
        outbox = scheduler.add_job(
            deliver_outbox,
            "interval",
            seconds=config.survey.invitation_check_seconds,
            args=(handlers, senders, timedelta(days=config.survey.cooldown_days)),
            next_run_time=datetime.now(config.zone),
            max_instances=1,
            coalesce=True,
            id="outbox",
        )
        dispatcher.on_notices = lambda: outbox.modify(next_run_time=datetime.now(config.zone))
        if intake is not None:  # a return or an extension reported over HTTP goes out at once
            intake.on_outbox = lambda: outbox.modify(next_run_time=datetime.now(config.zone))
        announcing = scheduler.add_job(
            announce_new_cases,
            "interval",
            seconds=config.survey.invitation_check_seconds,
            args=(handlers, senders),
            next_run_time=datetime.now(config.zone),
            max_instances=1,
            coalesce=True,
            id="new-cases",
        )
        dispatcher.extensions.on_alerts = lambda: announcing.modify(next_run_time=datetime.now(config.zone))
        scheduler.add_job(
            deliver_digests,
            "interval",
            seconds=DIGEST_RETRY_CHECK_SECONDS,
            args=(handlers, senders, config.digest.show),
            kwargs={"retrying": True},
            max_instances=1,
            coalesce=True,
            id="digest-retries",
        )
        hour, minute = config.digest.hour_minute
        digests = scheduler.add_job(
            deliver_digests,
            "cron",
            hour=hour,
            minute=minute,
            args=(handlers, senders, config.digest.show),
            misfire_grace_time=None,
            max_instances=1,
            coalesce=True,
            id="digests",
        )
        scheduler.add_job(
            erase_expired_data,
            "cron",
            hour=RETENTION_TIME[0],
            minute=RETENTION_TIME[1],
            args=(store, config),
            next_run_time=datetime.now(config.zone),  # and at start: a night missed is caught up
            misfire_grace_time=None,
            max_instances=1,
            coalesce=True,
            id="retention",
        )
        if digest_due_today(config, datetime.now(UTC)):
            # A run missed while the bot was down is caught up at start; each (unit, day) goes once.
            digests.modify(next_run_time=datetime.now(config.zone))
        scheduler.start()
        if ratings is not None:
            ratings.start()  # the ratings given while the bot was down, then every hour
        settle_heap()
        log.info(
            "feedback bot running (%s); database %s", ", ".join(senders) or "no channel yet", config.database
        )
        await stop.wait()
        log.info("stopping")
        scheduler.shutdown(wait=False)
        for task in starting:
            task.cancel()
        # Polling stops first and its lock is given up (another process polls from now on) while
        # what is being sent here finishes.
        for leader in leaders.values():
            await leader.stop()
        await handlers.courier.close(grace=STOP_GRACE_SECONDS)
        if ratings is not None:
            await ratings.stop()
        for channel in channels.values():
            await channel.stop()
    return 0


class Polls(Protocol):
    async def start_polling(self) -> None: ...

    async def stop_polling(self) -> None: ...


def reported(metrics: Metrics, name: str, channel: Polls) -> tuple[Callback, Callback]:
    """What a channel's election starts and stops: its polling, told to the leader gauge."""

    async def elected() -> None:
        await channel.start_polling()
        metrics.set_leader(name, True)

    async def deposed() -> None:
        metrics.set_leader(name, False)
        await channel.stop_polling()

    return elected, deposed


def leader_for(config: Config, name: str, token: str, on_elected: Callback, on_deposed: Callback) -> Leader:
    """Who decides whether this process polls the bot `token` on channel `name`: with PostgreSQL an
    election among the processes serving the database; with SQLite this process, the only one."""
    if is_postgresql(config.database):
        return Leadership(str(config.database), name, lock_key(name, token), on_elected, on_deposed)
    return AlwaysLeader(name, on_elected, on_deposed)


async def serve_api(config: Config, settings: ApiConfig) -> int:
    """Serves only the intake API until SIGINT or SIGTERM, beside a running bot or without one:
    it claims no database (a running bot keeps serving it, and sends the invitations of returns
    reported here at its next outbox round). Returns the process exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with opened_storage(config) as store, serving_api(config, store, settings):
            settle_heap()
            await stop.wait()
            log.info("stopping")
    except ApiServerError as exc:
        log.error("%s (give --listen and --port, or see api.listen and api.port in the config)", exc)
        return 1
    return 0


def settle_heap() -> None:
    """Once started: what start-up made (modules, the app, schemas, the config) lives as long as
    the process, so the garbage collector is told to leave it out of its rounds (gc.freeze). A full
    round walks every object tracked; with start-up's left in, the rounds that a batch of 1,000
    dossiers sets off took a quarter of its time (bench/intake.py)."""
    gc.collect()
    gc.freeze()


def zalo_webhook(config: Config) -> Webhook | None:
    zalo = config.zalo
    if zalo.mode != "webhook" or zalo.url is None or zalo.secret is None:
        return None
    return Webhook(url=zalo.url, secret=zalo.secret.get_secret_value(), listen=zalo.listen, port=zalo.port)


class Channel(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, chat_id: str, *replies: Reply) -> Delivery: ...


async def _keep_starting(
    name: str,
    channel: Channel,
    senders: dict[str, Sender],
    tried: asyncio.Event,
    stop: asyncio.Event,
    started: Callable[[str, ChannelState], None] = lambda name, state: None,
    leader: Leader | None = None,
) -> None:
    """Starts a channel, retrying with backoff while its server cannot be reached, without holding
    up the others, then its `leader`, who starts its polling when this process is to poll. A
    token the platform refuses stops here: retrying would not help. `started` is told that it
    runs, or that its token was refused."""
    delay = 1.0
    while not stop.is_set():
        try:
            await channel.start()
        except InvalidToken:
            log.error("%s refused the bot token: check its token in the config or environment", name)
            started(name, ChannelState.REFUSED)
            tried.set()
            return
        except ZaloError as exc:
            if exc.code in (401, 403):
                log.error("%s refused the bot token (%s): check ZALO_BOT_TOKEN or zalo.token", name, exc)
                started(name, ChannelState.REFUSED)
                tried.set()
                return
            log.warning("%s: cannot start (%s); retrying in %.0f s", name, exc, delay)
        except Exception as exc:  # network down, server error: try again
            log.warning("%s: cannot start (%s); retrying in %.0f s", name, exc, delay)
        else:
            senders[name] = channel
            started(name, ChannelState.RUNNING)
            if leader is not None:
                await leader.start()
            tried.set()
            return
        tried.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, 60)
