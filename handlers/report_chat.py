"""/report in the chat: a unit head gets their unit's report for the last 30 days (the unit and its
subtree, a row per unit below it), an admin the whole tree's, as a chart with a three-line summary
(the chart where the channel sends pictures; the summary alone elsewhere). The chart is drawn by the
shell (`draw`, bot/report_files.py), in a worker thread: drawing takes a few tenths of a second."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from handlers.chat import Reply
from handlers.reports import Report, ReportSettings, build_report
from handlers.texts import Language, text
from storage.base import DirectoryRepository, ReportRepository
from storage.records import ChatState, Role

DAYS = 30
PICTURE_CHANNELS = frozenset({"telegram"})
Draw = Callable[[Report, Language], bytes]


def summary(report: Report, unit: str, language: Language) -> str:
    """Three lines: who and when with the answers, the shares, the complaints."""
    total = report.total
    lines = [
        text(
            "report_summary_head", language, unit=unit, first=f"{report.first:%d/%m/%Y}",
            last=f"{report.last:%d/%m/%Y}", answers=total.ratings.answers,
        )
    ]  # fmt: skip
    shares = total.shares
    if shares is None or total.too_few:
        lines.append(text("report_summary_too_few", language, least=total.min_answers))
    else:
        lines.append(
            text(
                "report_summary_shares", language, satisfied=f"{shares[0]:.2f}", neutral=f"{shares[1]:.2f}",
                unsatisfied=f"{shares[2]:.2f}", both=f"{total.satisfied_or_neutral:.2f}",
            )
        )  # fmt: skip
    c = total.complaints
    lines.append(
        text(
            "report_summary_complaints", language, opened=c.opened, on_time=c.resolved_on_time,
            overdue=c.overdue, reopened=c.reopened,
        )
    )  # fmt: skip
    return "\n".join(lines)


class ReportDesk:
    def __init__(
        self,
        reports: ReportRepository,
        directory: DirectoryRepository,
        settings: ReportSettings,
        draw: Draw,
        admins: Iterable[tuple[str, str]],
    ) -> None:
        self.reports = reports
        self.directory = directory
        self.settings = settings
        self.draw = draw
        self.admins = frozenset(admins)  # (channel, chat id)

    async def send_report(self, chat: ChatState, language: Language, now: datetime) -> list[Reply]:
        """/report: the last 30 days of the unit the person heads (an admin: the whole tree)."""
        people = await self.directory.people_at(chat.channel, chat.chat_id)
        headed = sorted(p.unit_code for p in people if p.role == Role.HEAD)
        admin = (chat.channel, chat.chat_id) in self.admins
        if not headed and not admin:
            return [Reply(text("report_not_allowed", language))]
        units = await self.directory.list_units(retired=True)
        names = {u.code: u.name for u in units}
        code = None if admin else headed[0]
        today = now.astimezone(self.settings.zone).date()
        first = today - timedelta(days=DAYS - 1)
        report = await build_report(
            self.reports, units, self.settings, first=first, last=today, by="unit", unit_code=code, now=now
        )
        unit = names.get(code, code) if code else ("toàn thành phố" if language == "vi" else "the whole city")
        picture = None
        if chat.channel in PICTURE_CHANNELS and report.total.ratings.answers:
            picture = await asyncio.to_thread(self.draw, report, language)
        return [Reply(summary(report, unit, language), picture=picture)]
