"""The daily digest: each unit head gets the unit's figures for the previous day, its new
complaints (each with an Assign button), its open and overdue cases, and the overdue cases of the
units below it. Each (unit, day) digest is claimed before it is sent, so it never goes twice."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial

from handlers.cases import CaseDesk
from handlers.chat import Reply, Sender
from handlers.outbox import deliver_to_head
from handlers.texts import Language, text
from storage.base import CaseRepository, ChatRepository, DigestRepository, DirectoryRepository
from storage.records import Case, CaseCounts, CaseState, Unit, UnitFigures

log = logging.getLogger(__name__)

LISTED = 20  # overdue and escalated cases listed by name; the rest are counted


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

    @property
    def empty(self) -> bool:
        return not (self.new_total or self.open_total or self.overdue_total or self.escalated_total)


def render_digest(
    desk: CaseDesk, digest: Digest, language: Language, forwarded_from: str | None
) -> list[Reply]:
    """The digest as messages: the summary, then each new complaint with its Assign button."""
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
    for title, cases, total in (
        ("digest_overdue_title", digest.overdue, digest.overdue_total),
        ("digest_escalated_title", digest.escalated, digest.escalated_total),
    ):
        if cases:
            lines.append("\n" + text(title, language))
            lines += [_case_line(case, language) for case in cases]
            if total > len(cases):
                lines.append(f"… (+{total - len(cases)})")
    replies = [Reply("\n".join(lines))]
    replies += [
        Reply(desk.describe(case, language), desk.head_buttons(case, language)) for case in digest.new
    ]
    if digest.new_total > len(digest.new):
        replies.append(Reply(text("digest_more", language, count=digest.new_total - len(digest.new))))
    return replies


def _share(count: int, total: int, language: Language) -> str:
    """A count with its share of the total, written as the language writes decimals (50,0% in Vietnamese)."""
    if not total:
        return str(count)
    share = f"{count * 100 / total:.1f}"
    return f"{count} ({share.replace('.', ',') if language == 'vi' else share}%)"


def _case_line(case: Case, language: Language) -> str:
    assignee = text("case_assignee", language, name=case.assignee_name) if case.assignee_name else ""
    return text(
        "case_line", language, id=case.id, dossier=case.dossier_code, procedure=case.procedure,
        deadline=case.deadline.strftime("%d/%m/%Y"), assignee=f" ·{assignee}" if assignee else "",
    )  # fmt: skip


@dataclass
class DigestRun:
    sent: int = 0
    empty: int = 0
    unreachable: int = 0
    already: int = 0


class Digests:
    def __init__(
        self,
        directory: DirectoryRepository,
        digests: DigestRepository,
        cases: CaseRepository,
        chats: ChatRepository,
        desk: CaseDesk,
        default_language: Language,
    ) -> None:
        self.directory = directory
        self.digests = digests
        self.cases = cases
        self.chats = chats
        self.desk = desk
        self.default_language = default_language

    async def build(self, day: date, show: int, only: Sequence[str] | None = None) -> list[Digest]:
        """Every unit's digest for `day` (a local date): figures of the day before, new cases
        since the unit's previous digest, open and overdue cases, and overdue cases of child units.
        Figures and counts come from two grouped queries; cases are listed only where there are some."""
        zone = self.desk.settings.zone
        start = datetime.combine(day - timedelta(days=1), time(0), zone).astimezone(UTC)
        end = datetime.combine(day, time(0), zone).astimezone(UTC)
        units = await self.directory.list_units()
        figures = await self.digests.figures_by_unit(start, end)
        counts = await self.digests.case_counts(day)
        every_state = tuple(CaseState)
        cases = self.cases
        digests = []
        for unit in units:
            if only is not None and unit.code not in only:
                continue
            mine = counts.get(unit.code, CaseCounts())
            children = [u.code for u in units if u.parent_code == unit.code]
            escalated_total = sum(counts[c].overdue for c in children if c in counts)
            here = [unit.code]
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
                    escalated=await cases.list_cases(children, deadline_before=day, limit=LISTED)
                    if escalated_total
                    else [],
                    escalated_total=escalated_total,
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
        for digest in await self.build(day, show, only):
            unit = digest.unit
            if not await self.digests.claim_digest(unit.code, day, now):
                run.already += 1
                continue
            if digest.empty:
                await self.digests.finish_digest(unit.code, day, "empty", now)
                run.empty += 1
                continue
            recipient = await deliver_to_head(
                self.directory, self.chats, senders, unit, parents, partial(render_digest, self.desk, digest),
                self.default_language, now,
            )  # fmt: skip
            if recipient is None:
                log.error("digest of %s for %s reached no head (nor any above it)", unit.code, day)
                await self.digests.finish_digest(unit.code, day, "unreachable", now)
                run.unreachable += 1
            else:
                await self.digests.finish_digest(
                    unit.code, day, "sent", now, recipient=f"person:{recipient.id}"
                )
                run.sent += 1
        return run
