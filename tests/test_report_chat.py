"""/report in the chat: a unit head gets their unit's last 30 days as a chart with a three-line
summary, an admin the whole city's, anyone else a polite refusal; the chart only where the channel
sends pictures (Telegram). End to end through the Bot API emulator: tests/test_e2e_reports.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.app import build_dispatcher, opened_storage
from bot.config import Config
from handlers.report_chat import ReportDesk
from handlers.reports import Report, ReportSettings
from handlers.texts import Language
from storage.base import Storage
from storage.records import ChatState, ImportedAnswer, Rating
from tests.conftest import NOW, Citizen

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def answers(unit: str, rating: Rating, count: int, start: int = 0) -> list[ImportedAnswer]:
    return [
        ImportedAnswer(
            unit_code=unit, procedure="Khai sinh", rating=rating, rating_option=rating.value,
            answered_at=NOW - timedelta(days=2), channel="paper", import_key=f"{unit}-{rating}-{n}",
        )
        for n in range(start, start + count)
    ]  # fmt: skip


async def test_a_head_gets_the_chart_and_three_lines(db: Storage, config: Config) -> None:
    await db.reports.import_answers(
        answers("Q1-BN", Rating.SATISFIED, 20) + answers("Q1", Rating.NEUTRAL, 10), NOW
    )
    head = Citizen(build_dispatcher(config, db), chat_id="2001")  # the head of Quận 1
    (reply,) = await head.command("report")
    lines = reply.text.splitlines()
    assert len(lines) == 3
    first = (NOW.astimezone(ZONE).date() - timedelta(days=29)).strftime("%d/%m/%Y")
    assert lines[0].startswith(f"Báo cáo UBND Quận 1, {first} –") and "30 ý kiến" in lines[0]
    assert "Hài lòng 66.67%, bình thường 33.33%, không hài lòng 0.00%" in lines[1]
    assert lines[2].startswith("Phản ánh: 0 mới")
    assert reply.picture is not None and reply.picture.startswith(b"\x89PNG\r\n\x1a\n")

    ward = Citizen(build_dispatcher(config, db), chat_id="2101")  # the head of Bến Nghé: 20 answers
    (reply,) = await ward.command("report")
    assert (
        "UBND Phường Bến Nghé" in reply.text
        and "Quá ít ý kiến để so sánh tỷ lệ (cần ít nhất 30)" in reply.text
    )


async def test_an_admin_gets_the_city_and_a_citizen_is_refused(db: Storage, config: Config) -> None:
    admin = Citizen(build_dispatcher(config, db), chat_id="9001")
    (reply,) = await admin.command("report")
    assert "toàn thành phố" in reply.text and "0 ý kiến" in reply.text
    assert reply.picture is None  # nothing to draw
    citizen = Citizen(build_dispatcher(config, db), chat_id="5555")
    (reply,) = await citizen.command("report")
    assert reply.text.endswith("Lệnh /report dành cho thủ trưởng đơn vị và quản trị viên.")
    assert reply.picture is None


async def test_the_chart_goes_only_where_pictures_can(db: Storage, config: Config) -> None:
    await db.reports.import_answers(answers("Q1", Rating.UNSATISFIED, 3), NOW)
    drawn: list[Report] = []

    def draw(report: Report, language: Language) -> bytes:
        drawn.append(report)
        return b"chart"

    desk = ReportDesk(
        db.reports, db.directory, ReportSettings(zone=ZONE, min_answers=2), draw, [("zalo", "z-admin")]
    )
    on_zalo = await desk.send_report(ChatState(channel="zalo", chat_id="z-admin"), "en", NOW)
    assert on_zalo[0].picture is None and "Report of the whole city" in on_zalo[0].text
    assert "Satisfied 0.00%, neutral 0.00%, unsatisfied 100.00%" in on_zalo[0].text
    desk.admins = frozenset({("telegram", "77")})
    on_telegram = await desk.send_report(ChatState(channel="telegram", chat_id="77"), "en", NOW)
    assert on_telegram[0].picture == b"chart" and drawn[0].unit_code is None
    assert (drawn[0].last - drawn[0].first).days == 29


@pytest.fixture
async def db(config: Config) -> AsyncIterator[Storage]:
    async with opened_storage(config) as store:
        yield store
