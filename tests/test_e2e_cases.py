"""End to end, the complaint loop: a citizen complains, the digest reaches the unit head, the head
assigns, the staff member resolves with a note, the citizen is told and says "not resolved", and
the head sees the case reopened. Real `feedback-bot run` and `feedback-bot digest` processes
against the Telegram emulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e_support import BotProcess, texts_of
from tests.test_e2e_telegram import has_buttons, tap

pytestmark = pytest.mark.e2e


def with_text(fragment: str) -> Callable[[list[Any]], bool]:
    return lambda messages: fragment in texts_of(messages)


async def test_complaint_loop_end_to_end(tg, tmp_path, people):
    with BotProcess(tg, tmp_path) as bot:
        citizen, head, staff = people(bot, 1201), people(bot, 2101), people(bot, 2102)
        token = bot.add_dossier("HS-E2E-C1", procedure="Cấp giấy phép xây dựng")
        await citizen.send_command(f"/start {token}")
        greeting = await citizen.replies_until(has_buttons, timeout=15)
        problem = await tap(citizen, greeting, "Không hài lòng")
        await tap(citizen, problem, "Kết quả trễ hẹn hoặc chưa đúng")
        await citizen.send_text("Trễ hẹn 10 ngày mà không có thư xin lỗi.")
        assert "Thủ trưởng" in texts_of(await citizen.replies_until(bool, timeout=15))

        done = bot.cli("digest")
        assert done.returncode == 0, done.stderr
        assert "1 sent" in done.stderr
        digest = await head.replies_until(has_buttons, timeout=20)
        assert "Báo cáo ngày" in texts_of(digest) and "Phản ánh mới: 1" in texts_of(digest)
        assert "Trễ hẹn 10 ngày mà không có thư xin lỗi." in texts_of(digest)
        assert bot.cli("digest").stderr.count("sent before") == 1  # the same day's digest never goes twice

        staff_list = await tap(head, digest, "Giao xử lý")
        assert [b.text for m in staff_list for b in m.buttons] == ["Phạm Thị D", "Võ Văn E"]
        assigned = await tap(head, staff_list, "Phạm Thị D")
        assert "Đã giao phản ánh" in texts_of(assigned)

        task = await staff.replies_until(has_buttons, timeout=20)
        assert "Ông/Bà được giao xử lý phản ánh" in texts_of(task) and "HS-E2E-C1" in texts_of(task)
        told = await citizen.replies_until(with_text("đã được giao cho cán bộ Phạm Thị D"), timeout=20)
        assert told

        prompt = await tap(staff, task, "Đã xử lý xong")
        assert "Xin nhập ngắn gọn" in texts_of(prompt)
        await staff.send_text("Đã gửi thư xin lỗi và hẹn trả kết quả ngày mai.")
        assert "Đã ghi nhận" in texts_of(await staff.replies_until(bool, timeout=15))

        resolved = await citizen.replies_until(has_buttons, timeout=20)
        assert "Đã gửi thư xin lỗi" in texts_of(resolved) and "UBND Phường Bến Nghé" in texts_of(resolved)
        reopened = await tap(citizen, resolved, "Chưa được giải quyết")
        assert "mở lại" in texts_of(reopened)

        back = await head.replies_until(with_text("CHƯA được giải quyết"), timeout=20)
        assert any(b.text == "Giao xử lý" for m in back for b in m.buttons)

        assert bot.query("SELECT state FROM cases") == [("reopened",)]
        assert [a for (a,) in bot.query("SELECT action FROM case_events ORDER BY id")] == [
            "opened",
            "assigned",
            "resolved",
            "reopened",
        ]


async def test_a_digest_missed_while_down_is_sent_at_start_once(tg, tmp_path, people):
    bot = BotProcess(tg, tmp_path, digest={"time": "00:00"})
    token = bot.add_dossier("HS-E2E-C2")
    # The citizen answers in the terminal while the Telegram bot is down.
    answered = bot.console(f"/start {token}\n3\n6\nKhông ai nghe máy đường dây nóng\n")
    assert "Thủ trưởng" in answered.stdout, answered.stderr
    head = people(bot, 2101)
    with bot:
        digest = await head.replies_until(has_buttons, timeout=20)
        assert "Không ai nghe máy đường dây nóng" in texts_of(digest)
    with bot:  # a restart the same day sends nothing again
        assert await head.replies(timeout=3) == []
    assert bot.query("SELECT unit_code, status FROM digests ORDER BY unit_code") == [
        ("Q1", "empty"),
        ("Q1-BN", "sent"),
        ("Q3", "empty"),
    ]


async def test_a_new_complaint_reaches_the_head_at_once_and_staff_and_citizen_talk_through_the_bot(
    tg, tmp_path, people
):
    quick = {"new_case_notice": {"quiet_seconds": 0, "max_wait_seconds": 60}}
    with BotProcess(tg, tmp_path, cases=quick) as bot:
        citizen, head, staff = people(bot, 1301), people(bot, 2101), people(bot, 2102)
        token = bot.add_dossier("HS-E2E-C3", procedure="Đăng ký hộ kinh doanh")
        await citizen.send_command(f"/start {token}")
        greeting = await citizen.replies_until(has_buttons, timeout=15)
        problem = await tap(citizen, greeting, "Không hài lòng")
        await tap(citizen, problem, "Lý do khác")
        await citizen.send_text("Hồ sơ bị trả lại ba lần.")
        await citizen.replies_until(bool, timeout=15)

        alert = await head.replies_until(has_buttons, timeout=20)  # no digest needed
        assert "1 phản ánh mới" in texts_of(alert) and "Hồ sơ bị trả lại ba lần." in texts_of(alert)
        assigned = await tap(head, await tap(head, alert, "Giao xử lý"), "Phạm Thị D")
        assert "Đã giao phản ánh" in texts_of(assigned)

        task = await staff.replies_until(has_buttons, timeout=20)
        asked = await tap(staff, task, "Nhắn người dân")
        assert "tin nhắn gửi người dân" in texts_of(asked)
        await staff.send_text("Chào chị, mai chị mang bản gốc CCCD qua giúp em.")
        await staff.replies_until(bool, timeout=15)

        message = await citizen.replies_until(with_text("mang bản gốc CCCD"), timeout=20)
        assert "Cán bộ Phạm Thị D" in texts_of(message) and "2102" not in texts_of(message)
        await tap(citizen, message, "Trả lời")
        await citizen.send_text("Dạ vâng, 8 giờ sáng mai tôi qua.")
        assert "Đã chuyển câu trả lời" in texts_of(await citizen.replies_until(bool, timeout=15))

        back = await staff.replies_until(with_text("8 giờ sáng mai"), timeout=20)
        assert "1301" not in texts_of(back)
        actions = [a for (a,) in bot.query("SELECT action FROM case_events ORDER BY id")]
        assert actions == ["opened", "assigned", "messaged citizen", "citizen replied"]
