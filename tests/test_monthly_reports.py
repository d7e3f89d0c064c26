"""The monthly report by chat: on the month's first working day every unit head with a reachable
chat gets last month's report of their unit (the chart on Telegram, the three-line summary as its
caption), the admins the whole tree's; nothing goes twice, whatever the number of runs; on other
days nothing goes; a report that reached no one is tried again by the next run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.app import opened_storage
from bot.config import Config
from handlers.chat import Delivery
from handlers.monthly_reports import MonthlyReports, MonthlyRun, first_working_day
from handlers.reports import Report, ReportSettings
from handlers.texts import Language
from storage.base import Storage
from storage.records import ImportedAnswer, Rating
from tests.fakes import RecordingSender

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
# Monday 2 November 2026, 08:00 in Hồ Chí Minh City: 1 November is a Sunday.
MONDAY = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
async def db(config: Config) -> AsyncIterator[Storage]:
    async with opened_storage(config) as store:
        yield store


def draw(report: Report, language: Language) -> bytes:
    return f"chart of {report.unit_code or '*'}".encode()


def monthly(db: Storage, admins: list[tuple[str, str]]) -> MonthlyReports:
    settings = ReportSettings(zone=ZONE, min_answers=1)
    return MonthlyReports(db.reports, db.directory, settings, draw, admins, holidays=[date(2026, 9, 2)])


def test_the_first_working_day_skips_weekends_and_holidays() -> None:
    assert first_working_day(date(2026, 11, 20), ()) == date(2026, 11, 2)
    assert first_working_day(date(2026, 9, 15), [date(2026, 9, 1), date(2026, 9, 2)]) == date(2026, 9, 3)
    assert first_working_day(date(2026, 10, 1), ()) == date(2026, 10, 1)


async def answered_in_october(db: Storage, unit: str = "Q1-BN", count: int = 3) -> None:
    october = datetime(2026, 10, 15, 3, tzinfo=UTC)
    await db.reports.import_answers(
        [
            ImportedAnswer(
                unit_code=unit, procedure="Khai sinh", rating=Rating.SATISFIED, rating_option="5",
                answered_at=october, channel="paper", import_key=f"{unit}-{n}",
            )
            for n in range(count)
        ],
        october,
    )  # fmt: skip


async def test_heads_and_admins_get_last_months_report_once(db: Storage) -> None:
    await answered_in_october(db)
    await answered_in_october(db, "Q3", 1)
    telegram = RecordingSender()
    reports = monthly(db, [("telegram", "9001")])
    assert await reports.send({"telegram": telegram}, MONDAY - timedelta(days=1)) == MonthlyRun()  # Sunday
    run = await reports.send({"telegram": telegram}, MONDAY)
    assert run == MonthlyRun(sent=4)  # the heads of Quận 1, Bến Nghé and Quận 3, and the admin
    by_chat = {chat: reply for chat, reply in telegram.sent}
    assert set(by_chat) == {"2001", "2101", "3001", "9001"}
    assert by_chat["2101"].text.startswith("Báo cáo UBND Phường Bến Nghé, 01/10/2026 – 31/10/2026: 3 ý kiến")
    assert by_chat["2101"].picture == b"chart of Q1-BN" and by_chat["9001"].picture == b"chart of *"
    assert "toàn thành phố" in by_chat["9001"].text
    again = await reports.send({"telegram": telegram}, MONDAY + timedelta(hours=3))
    assert again == MonthlyRun(already=4) and len(telegram.sent) == 4


async def test_a_report_that_reached_no_one_goes_again_and_an_empty_month_goes_nowhere(db: Storage) -> None:
    await answered_in_october(db)
    telegram = RecordingSender(outcomes={"2001": Delivery.FAILED})
    reports = monthly(db, [])
    assert await reports.send({"telegram": telegram}, MONDAY) == MonthlyRun(sent=1, empty=1, failed=1)
    assert [chat for chat, _ in telegram.sent] == ["2101"]  # Quận 3 had nothing in October
    telegram.outcomes.clear()
    assert await reports.send({"telegram": telegram}, MONDAY + timedelta(hours=1)) == MonthlyRun(
        sent=1, already=2
    )
    assert [chat for chat, _ in telegram.sent] == ["2101", "2001"]


async def test_zalo_gets_the_summary_without_the_picture(db: Storage) -> None:
    await answered_in_october(db)
    zalo = RecordingSender()
    run = await monthly(db, [("zalo", "z-admin")]).send({"zalo": zalo}, MONDAY)
    assert run == MonthlyRun(sent=1)  # the heads are on Telegram only, which is not running
    ((chat, reply),) = zalo.sent
    assert chat == "z-admin" and reply.picture is None and len(reply.text.splitlines()) == 3
