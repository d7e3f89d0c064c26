"""The monthly report by chat: on the first working day of a month, at the digest time, every unit
head gets the last full month's report of their unit (its subtree), and the admins the whole
tree's: the chart as a picture with the three-line summary of /report (on channels without
pictures, the summary alone); a unit where nothing happened that month (no answer, no complaint,
no dossier returned) gets nothing, as an empty digest is not sent. Idempotent like digests: each
(unit, month) is claimed before it is sent (a claim whose sender died is taken over when its lease
runs out), so a run after a restart, or a second run the same day, sends nothing twice; the whole
tree's report is claimed as '*'."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from time import monotonic

from handlers.calendar import is_working_day, next_working_day
from handlers.chat import Delivery, Reply, Sender
from handlers.lateness import last_full_month
from handlers.report_chat import PICTURE_CHANNELS, Draw, summary
from handlers.reports import ReportSettings, build_report
from storage.base import DirectoryRepository, ReportRepository
from storage.records import Role

log = logging.getLogger(__name__)
WHOLE_TREE = "*"
LEASE = timedelta(minutes=15)


def first_working_day(month: date, holidays: Collection[date]) -> date:
    """The first working day of the month `month` is in."""
    first = month.replace(day=1)
    return first if is_working_day(first, holidays) else next_working_day(first, holidays)


@dataclass(frozen=True)
class MonthlyRun:
    sent: int = 0
    empty: int = 0  # nothing happened in the unit that month: nothing sent
    already: int = 0  # claimed by an earlier run
    failed: int = 0  # no recipient took it


class MonthlyReports:
    def __init__(
        self,
        reports: ReportRepository,
        directory: DirectoryRepository,
        settings: ReportSettings,
        draw: Draw,
        admins: Sequence[tuple[str, str]],
        holidays: Collection[date] = (),
    ) -> None:
        self.reports = reports
        self.directory = directory
        self.settings = settings
        self.draw = draw
        self.admins = list(admins)  # (channel, chat id)
        self.holidays = frozenset(holidays)

    async def send(self, senders: Mapping[str, Sender], now: datetime) -> MonthlyRun:
        """Sends the last full month's reports not sent yet, if today is the month's first working day."""
        today = now.astimezone(self.settings.zone).date()
        if today != first_working_day(today, self.holidays):
            return MonthlyRun()
        first, last = last_full_month(today)
        month = f"{first:%Y-%m}"
        units = await self.directory.list_units(retired=True)
        names = {u.code: u.name for u in units}
        heads: dict[str, list[tuple[str, str]]] = {}
        for person in await self.directory.all_people():
            if person.role == Role.HEAD and person.unit_code in names:
                reachable = [(c.channel, c.chat_id) for c in person.contacts if c.channel in senders]
                heads.setdefault(person.unit_code, []).extend(reachable[:1])
        scopes: list[tuple[str, list[tuple[str, str]]]] = [
            (code, found) for code, found in heads.items() if found
        ]
        if self.admins:
            scopes.append((WHOLE_TREE, self.admins))
        sent = empty = already = failed = 0
        language = self.settings.language
        started = monotonic()
        for scope, recipients in scopes:
            # Each claim at its own time: a run of many units may take longer than the lease, and a
            # claim dated from the run's start would be taken over by another process at once.
            at = now + timedelta(seconds=monotonic() - started)
            if not await self.reports.claim_monthly_report(scope, month, at, lease=LEASE):
                already += 1
                continue
            code = None if scope == WHOLE_TREE else scope
            report = await build_report(
                self.reports, units, self.settings, first=first, last=last, by="unit", unit_code=code, now=now
            )
            total = report.total
            if not (
                total.ratings.answers
                or total.complaints.opened
                or (total.returned and total.returned.returned)
            ):
                await self.reports.finish_monthly_report(scope, month, at, sent=True, claimed_at=at)
                empty += 1
                continue
            name = names[code] if code else ("toàn thành phố" if language == "vi" else "the whole city")
            words = summary(report, name, language)
            picture = None
            if report.total.ratings.answers and any(channel in PICTURE_CHANNELS for channel, _ in recipients):
                picture = await asyncio.to_thread(self.draw, report, language)
            delivered = False
            for channel, chat_id in recipients:
                sender = senders.get(channel)
                if sender is None:
                    continue
                reply = Reply(words, picture=picture if channel in PICTURE_CHANNELS else None)
                delivered |= await sender.send(chat_id, reply) == Delivery.SENT
            await self.reports.finish_monthly_report(scope, month, at, sent=delivered, claimed_at=at)
            if delivered:
                sent += 1
            else:
                failed += 1
                log.warning("the monthly report of %s for %s reached none of its recipients", scope, month)
        return MonthlyRun(sent, empty, already, failed)
