"""The daily digest: each unit head gets the unit's figures for the previous day, its new
complaints (each with an Assign button), its open and overdue cases, the overdue cases of the
units below it, and what could not be delivered since its last digest (notices about its cases,
an earlier digest). Each (unit, day) digest is claimed for a lease before it is sent, so it never
goes twice and a claim left by a run that died is taken over; it counts as sent only once the
platform accepted every message of it, and is retried with a growing wait otherwise."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from handlers.calendar import next_working_day
from handlers.cases import CaseDesk
from handlers.chat import Delivery, Reply, Sender
from handlers.directory import subtree
from handlers.extensions import ExtensionDesk
from handlers.lateness import lateness_table, letter_on_time, start_of
from handlers.outbox import ChatLocks, backoff, deliver_to_head
from handlers.texts import CATALOG, Language, text
from storage.base import (
    CaseRepository,
    ChatRepository,
    DigestRepository,
    DirectoryRepository,
    LetterRepository,
    OutboxRepository,
)
from storage.records import (
    Case,
    CaseCounts,
    CaseState,
    DigestRecord,
    DigestStatus,
    DueDossier,
    Notice,
    OutboxStatus,
    Unit,
    UnitFigures,
    UnitLateness,
)

log = logging.getLogger(__name__)

AT_RISK_SHOWN = 5  # at-risk dossiers shown with their Extend button; the rest are counted
MISSING_NAMED = 30  # late dossiers without a letter named by number (the first few with buttons)
LISTED = 20  # overdue and escalated cases (and what was not delivered) listed; the rest are counted
# A run claims a digest for this long; a claim older than that was left by a run that died.
DIGEST_LEASE = timedelta(minutes=10)
FIRST_DIGEST_RETRY = timedelta(minutes=1)  # after a digest not accepted whole; doubling...
LONGEST_DIGEST_RETRY = timedelta(minutes=30)  # ...up to this, for the rest of the day
DIGESTS_AT_ONCE = 20  # units' digests sent at the same time
MISSED_DAYS = 7  # earlier digests not delivered are looked for this many days back
GIVEN_UP = (OutboxStatus.UNREACHABLE, OutboxStatus.FAILED)
NOT_DELIVERED = (DigestStatus.RETRYING, DigestStatus.FAILED, DigestStatus.UNREACHABLE)


@dataclass(frozen=True)
class LetterFigures:
    """A unit's apology letters in a digest: issued the day before (and how many of those after the
    working day before their appointment, or for a second extension), late dossiers still without
    one (open, or returned late the day before), and dossiers due by the next working day."""

    sent: int = 0
    late: int = 0
    rescheduled_twice: int = 0
    missing: int = 0
    open_missing: int = 0  # of `missing`, those not returned yet (the rest were returned the day before)
    at_risk: int = 0

    def __bool__(self) -> bool:
        return bool(self.sent or self.missing or self.at_risk or self.rescheduled_twice)


@dataclass
class Digest:
    unit: Unit
    day: date
    figures: UnitFigures
    new: list[Case]
    new_total: int
    open_total: int
    overdue: list[Case]
    overdue_total: int
    escalated: list[Case]
    escalated_total: int
    undelivered: list[Notice] = field(default_factory=list)  # given up since the unit's last digest
    missed: list[DigestRecord] = field(default_factory=list)  # earlier digests not delivered
    attempts: int = 0  # tries of this digest that were not accepted whole
    # Due by the next working day, not returned and not extended: the head extends them (a letter).
    at_risk: list[DueDossier] = field(default_factory=list)
    letters: LetterFigures = field(default_factory=LetterFigures)
    # Open, late, no letter: the first few, to extend still (LetterFigures.open_missing counts them all).
    missing: list[DueDossier] = field(default_factory=list)
    children_missing: list[tuple[str, int]] = field(default_factory=list)  # units below: name, count

    @property
    def empty(self) -> bool:
        return not (
            self.new_total
            or self.open_total
            or self.overdue_total
            or self.escalated_total
            or self.undelivered
            or self.missed
            or self.at_risk
            or self.letters
            or self.children_missing
        )


def render_digest(
    desk: CaseDesk,
    digest: Digest,
    language: Language,
    forwarded_from: str | None,
    extensions: ExtensionDesk | None = None,
) -> list[Reply]:
    """The digest as messages: the summary, each new complaint with its Assign button, then the
    dossiers at risk of being late, the first few with their Extend button."""
    figures = digest.figures
    lines = []
    if forwarded_from is not None:
        lines.append(text("digest_forwarded", language, unit=forwarded_from))
    lines.append(
        text(
            "digest_header",
            language,
            day=digest.day.strftime("%d/%m/%Y"),
            unit=digest.unit.name,
            yesterday=(digest.day - timedelta(days=1)).strftime("%d/%m/%Y"),
            answers=figures.answers,
            satisfied=_share(figures.satisfied, figures.answers, language),
            neutral=_share(figures.neutral, figures.answers, language),
            unsatisfied=_share(figures.unsatisfied, figures.answers, language),
            new=digest.new_total,
            open=digest.open_total,
            overdue=digest.overdue_total,
            escalated=text("digest_escalated_count", language, count=digest.escalated_total)
            if digest.escalated_total
            else "",
        )
    )
    if digest.letters:
        letters = digest.letters
        lines.append(
            text(
                "digest_letters",
                language,
                yesterday=(digest.day - timedelta(days=1)).strftime("%d/%m/%Y"),
                sent=letters.sent,
                late=letters.late,
                missing=letters.missing,
                at_risk=letters.at_risk,
                twice=text("digest_rescheduled_twice", language, count=letters.rescheduled_twice)
                if letters.rescheduled_twice
                else "",
            )
        )
    if digest.children_missing:
        lines.append("\n" + text("digest_children_missing_title", language))
        lines += [
            text("children_missing_line", language, unit=name, count=count)
            for name, count in digest.children_missing
        ]
    for title, cases, total in (
        ("digest_overdue_title", digest.overdue, digest.overdue_total),
        ("digest_escalated_title", digest.escalated, digest.escalated_total),
    ):
        if cases:
            lines.append("\n" + text(title, language))
            lines += [_case_line(case, language) for case in cases]
            if total > len(cases):
                lines.append(f"… (+{total - len(cases)})")
    if digest.undelivered or digest.missed:
        lines.append("\n" + text("digest_undelivered_title", language))
        lines += [_missed_line(record, language) for record in digest.missed]
        lines += [_undelivered_line(notice, language) for notice in digest.undelivered[:LISTED]]
        if len(digest.undelivered) > LISTED:
            lines.append(f"… (+{len(digest.undelivered) - LISTED})")
    replies = [Reply("\n".join(lines))]
    replies += [
        Reply(desk.describe(case, language), desk.head_buttons(case, language)) for case in digest.new
    ]
    if digest.new_total > len(digest.new):
        replies.append(Reply(text("digest_more", language, count=digest.new_total - len(digest.new))))
    for title, dossiers, total, more in (
        ("digest_at_risk_title", digest.at_risk, len(digest.at_risk), "at_risk_more"),
        ("digest_missing_title", digest.missing, digest.letters.open_missing, "missing_more"),
    ):
        if dossiers:
            shown = dossiers[:AT_RISK_SHOWN]
            replies.append(Reply(text(title, language)))
            replies += [
                Reply(
                    _at_risk_line(dossier, language),
                    extensions.head_buttons(dossier.id, language) if extensions is not None else (),
                )
                for dossier in shown
            ]
            if total > len(shown):
                named = ", ".join(str(d.id) for d in dossiers[len(shown) :])
                unnamed = total - len(dossiers)
                ids = f"{named} (+{unnamed})" if named and unnamed > 0 else named or f"+{unnamed}"
                replies.append(Reply(text(more, language, count=total - len(shown), ids=ids)))
    return replies


def _at_risk_line(dossier: DueDossier, language: Language) -> str:
    return text(
        "at_risk_line", language, code=dossier.code, procedure=dossier.procedure,
        citizen=f" · {dossier.citizen_name}" if dossier.citizen_name else "",
        due=dossier.due_on.strftime("%d/%m/%Y"),
    )  # fmt: skip


def _share(count: int, total: int, language: Language) -> str:
    """A count with its share of the total, written as the language writes decimals (50,0% in Vietnamese)."""
    if not total:
        return str(count)
    share = f"{count * 100 / total:.1f}"
    return f"{count} ({share.replace('.', ',') if language == 'vi' else share}%)"


def _undelivered_line(notice: Notice, language: Language) -> str:
    """A notice about one of the unit's cases that was given up: what it would have said to whom, and why."""
    what = f"undelivered_{notice.kind}" if f"undelivered_{notice.kind}" in CATALOG else "undelivered_notice"
    why = "undelivered_blocked" if notice.status == OutboxStatus.UNREACHABLE else "undelivered_refused"
    return text(
        "undelivered_line", language, id=notice.case_id, what=text(what, language), why=text(why, language)
    )


def _missed_line(record: DigestRecord, language: Language) -> str:
    why = {
        DigestStatus.UNREACHABLE: "undelivered_nobody",
        DigestStatus.FAILED: "undelivered_refused",
    }.get(record.status, "undelivered_not_accepted")
    return text("digest_missed_line", language, day=record.day.strftime("%d/%m/%Y"), why=text(why, language))


def _case_line(case: Case, language: Language) -> str:
    assignee = text("case_assignee", language, name=case.assignee_name) if case.assignee_name else ""
    return text(
        "case_line", language, id=case.id, dossier=case.dossier_code, procedure=case.procedure,
        deadline=case.deadline.strftime("%d/%m/%Y"), assignee=f" ·{assignee}" if assignee else "",
    )  # fmt: skip


async def letter_watch(
    letters: LetterRepository,
    day: date,
    holidays: Collection[date],
    zone: ZoneInfo,
    unit_codes: Sequence[str] | None = None,
) -> tuple[dict[str, list[DueDossier]], dict[str, list[DueDossier]], dict[str, LetterFigures]]:
    """By unit (of these; all with None), for the digest of `day`: the open dossiers at risk (due
    after today, by the next working day, not extended) and those late without a letter (due
    before today; one due today is neither yet), and the letter figures of the day before. Of the
    late ones only the few a digest names are kept (a city has tens of thousands)."""
    yesterday = day - timedelta(days=1)
    at_risk: dict[str, list[DueDossier]] = {}
    missing: dict[str, list[DueDossier]] = {}
    open_missing: dict[str, int] = {}
    for dossier in await letters.open_dossiers_due(
        unit_codes, due_after=None, due_until=next_working_day(day, holidays)
    ):
        code = dossier.unit_code
        if dossier.extended or dossier.due_on == day:
            continue
        if dossier.due_on > day:
            at_risk.setdefault(code, []).append(dossier)
            continue
        open_missing[code] = open_missing.get(code, 0) + 1
        if open_missing[code] <= MISSING_NAMED:
            missing.setdefault(code, []).append(dossier)
    sent: dict[str, list[bool]] = {}
    twice: dict[str, int] = {}
    for letter in await letters.letters_issued(start_of(yesterday, zone), start_of(day, zone), unit_codes):
        on_time = letter_on_time(letter.issued_at, letter.due_on, holidays, zone)
        sent.setdefault(letter.unit_code, []).append(on_time)
        twice[letter.unit_code] = twice.get(letter.unit_code, 0) + letter.rescheduled_twice
    returned = await lateness_table(letters, yesterday, yesterday, holidays, zone, unit_codes)
    figures = {
        code: LetterFigures(
            sent=len(sent.get(code, [])),
            late=sent.get(code, []).count(False),
            rescheduled_twice=twice.get(code, 0),
            missing=open_missing.get(code, 0) + returned.get(code, UnitLateness()).letters_missing,
            open_missing=open_missing.get(code, 0),
            at_risk=len(at_risk.get(code, [])),
        )
        for code in {*at_risk, *open_missing, *sent, *returned}
    }
    return at_risk, missing, figures


@dataclass
class DigestRun:
    sent: int = 0
    empty: int = 0
    unreachable: int = 0
    already: int = 0
    retrying: int = 0  # not accepted whole now: tried again later
    failed: int = 0  # a message of it was refused for good


class Digests:
    def __init__(
        self,
        directory: DirectoryRepository,
        digests: DigestRepository,
        cases: CaseRepository,
        chats: ChatRepository,
        desk: CaseDesk,
        default_language: Language,
        outbox: OutboxRepository,
        letters: LetterRepository | None = None,
        extensions: ExtensionDesk | None = None,
    ) -> None:
        self.directory = directory
        self.digests = digests
        self.cases = cases
        self.chats = chats
        self.desk = desk
        self.default_language = default_language
        self.outbox = outbox
        self.letters = letters
        self.extensions = extensions

    async def build(self, day: date, show: int, only: Sequence[str] | None = None) -> list[Digest]:
        """Every unit's digest for `day` (a local date): figures of the day before, new cases
        since the unit's previous digest, open and overdue cases, overdue cases of child units, and
        what was not delivered since the previous digest. Figures and counts come from grouped
        queries; cases are listed only where there are some."""
        zone = self.desk.settings.zone
        start = datetime.combine(day - timedelta(days=1), time(0), zone).astimezone(UTC)
        end = datetime.combine(day, time(0), zone).astimezone(UTC)
        units = await self.directory.list_units()
        figures = await self.digests.figures_by_unit(start, end)
        counts = await self.digests.case_counts(day)
        records = await self.digests.list_digests(
            (*NOT_DELIVERED, DigestStatus.SENDING), since=day - timedelta(days=MISSED_DAYS)
        )
        wanted = [c for code, c in counts.items() if only is None or code in only]
        since = (
            None
            if any(c.last_digest_at is None for c in wanted)
            else min((c.last_digest_at for c in wanted if c.last_digest_at is not None), default=None)
        )
        given_up = (
            await self.outbox.list_notices(GIVEN_UP, unit_codes=only, finished_since=since) if wanted else []
        )
        every_state = tuple(CaseState)
        at_risk: dict[str, list[DueDossier]] = {}
        missing: dict[str, list[DueDossier]] = {}
        letters: dict[str, LetterFigures] = {}
        if self.letters is not None:
            holidays, zone = self.desk.settings.holidays, self.desk.settings.zone
            # The units digested and every unit below them: a parent counts its subtree's letters.
            scope = None if only is None else subtree(list(only), units)
            at_risk, missing, letters = await letter_watch(self.letters, day, holidays, zone, scope)
        cases = self.cases
        digests = []
        for unit in units:
            if only is not None and unit.code not in only:
                continue
            mine = counts.get(unit.code, CaseCounts())
            children = [u for u in units if u.parent_code == unit.code]
            escalated_total = sum(counts[c.code].overdue for c in children if c.code in counts)
            here = [unit.code]
            last = mine.last_digest_at
            digests.append(
                Digest(
                    unit=unit,
                    day=day,
                    figures=figures.get(unit.code, UnitFigures()),
                    new=await cases.list_cases(
                        here, states=every_state, opened_after=mine.last_digest_at, limit=show
                    )
                    if mine.new
                    else [],
                    new_total=mine.new,
                    open_total=mine.open,
                    overdue=await cases.list_cases(here, deadline_before=day, limit=LISTED)
                    if mine.overdue
                    else [],
                    overdue_total=mine.overdue,
                    escalated=await cases.list_cases(
                        [c.code for c in children], deadline_before=day, limit=LISTED
                    )
                    if escalated_total
                    else [],
                    escalated_total=escalated_total,
                    undelivered=[
                        n
                        for n in given_up
                        if n.unit_code == unit.code
                        and (last is None or (n.sent_at is not None and n.sent_at > last))
                    ],
                    missed=[
                        r
                        for r in records
                        if r.unit_code == unit.code
                        and r.day < day
                        and r.status != DigestStatus.SENDING
                        and (last is None or r.claimed_at > last)
                    ],
                    at_risk=at_risk.get(unit.code, []),
                    letters=letters.get(unit.code, LetterFigures()),
                    missing=missing.get(unit.code, []),
                    children_missing=[
                        (c.name, count)
                        for c in children
                        if (
                            count := sum(letters[u].missing for u in subtree([c.code], units) if u in letters)
                        )
                    ],
                    attempts=next(
                        (r.attempts for r in records if r.unit_code == unit.code and r.day == day), 0
                    ),
                )
            )
        return digests

    async def send(
        self,
        senders: Mapping[str, Sender],
        now: datetime,
        show: int,
        *,
        day: date | None = None,
        only: Sequence[str] | None = None,
    ) -> DigestRun:
        """Sends each unit's digest of `day` (today, locally) unless it went already. A unit whose
        head cannot be reached has its digest sent to the head of the unit above, with a note."""
        day = day or self.desk.settings.today(now)
        parents = {u.code: u.parent_code for u in await self.directory.list_units()}
        run = DigestRun()
        # Units' digests go at the same time, so a head's chat under flood control holds up no other;
        # two for one head (the unit's own, one forwarded from below) wait for each other.
        slots, locks = asyncio.Semaphore(DIGESTS_AT_ONCE), ChatLocks()

        async def send_one(digest: Digest) -> None:
            async with slots:
                try:
                    await self._send_one(senders, digest, parents, now, run, locks)
                except Exception:
                    log.exception(
                        "digest of %s for %s failed; it is taken over once its claim ends",
                        digest.unit.code,
                        day,
                    )

        await asyncio.gather(*(send_one(d) for d in await self.build(day, show, only)))
        return run

    async def retry(self, senders: Mapping[str, Sender], now: datetime, show: int) -> DigestRun:
        """Sends again today's digests that are due again: not accepted whole and their time has
        come, or claimed by a run that died (its lease ran out)."""
        day = self.desk.settings.today(now)
        due = await self.digests.due_digests(day, now, lease=DIGEST_LEASE)
        if not due:
            return DigestRun()
        return await self.send(senders, now, show, day=day, only=due)

    async def _send_one(
        self,
        senders: Mapping[str, Sender],
        digest: Digest,
        parents: Mapping[str, str | None],
        now: datetime,
        run: DigestRun,
        locks: ChatLocks,
    ) -> None:
        unit, day = digest.unit, digest.day
        if not await self.digests.claim_digest(unit.code, day, now, lease=DIGEST_LEASE):
            run.already += 1
            return
        if digest.empty:
            await self.digests.finish_digest(unit.code, day, DigestStatus.EMPTY, now, claimed_at=now)
            run.empty += 1
            return
        render = partial(render_digest, self.desk, digest, extensions=self.extensions)
        handed = await deliver_to_head(
            self.directory, self.chats, senders, unit, parents, render,
            self.default_language, now, locks,
        )  # fmt: skip
        if handed.delivery == Delivery.SENT and handed.head is not None:
            await self.digests.finish_digest(
                unit.code, day, DigestStatus.SENT, now, recipient=f"person:{handed.head.id}", claimed_at=now
            )
            run.sent += 1
        elif handed.delivery == Delivery.UNREACHABLE:
            log.error("digest of %s for %s reached no head (nor any above it)", unit.code, day)
            await self.digests.finish_digest(unit.code, day, DigestStatus.UNREACHABLE, now, claimed_at=now)
            run.unreachable += 1
        elif handed.delivery == Delivery.REFUSED:
            error = f"{handed.channel} refused a message of it"
            log.error("digest of %s for %s: %s; not sent", unit.code, day, error)
            await self.digests.finish_digest(
                unit.code, day, DigestStatus.FAILED, now, error=error, claimed_at=now
            )
            run.failed += 1
        else:
            next_attempt_at = now + backoff(digest.attempts + 1, FIRST_DIGEST_RETRY, LONGEST_DIGEST_RETRY)
            error = f"{handed.channel} did not accept every message of it (server, network or flood control)"
            await self.digests.retry_digest(unit.code, day, error, next_attempt_at, claimed_at=now)
            log.warning(
                "digest of %s for %s: %s; tried again from %s",
                unit.code, day, error, next_attempt_at.isoformat(timespec="seconds"),
            )  # fmt: skip
            run.retrying += 1
