"""End to end on Zalo: the real `feedback-bot run` with Telegram and Zalo in one process; a citizen
completes the unsatisfied survey on Zalo by typing the code from the receipt and numbers; a head
on Zalo gets the digest from `feedback-bot digest`, assigns by typing, the staff member resolves,
the citizen is told and confirms."""

from __future__ import annotations

import copy
import re
import time
import uuid
from typing import Any

import pytest

from tests.conftest import UNITS
from tests.e2e_support import BotProcess, texts_of
from tests.test_e2e_telegram import has_buttons

pytestmark = pytest.mark.e2e


async def test_a_citizen_answers_on_zalo_while_telegram_runs_too(tg, zalo, tmp_path, people):
    token = f"{uuid.uuid4().int % 10**6}:zalo{uuid.uuid4().hex[:8]}"
    with BotProcess(tg, tmp_path, zalo={"base_url": zalo.base_url, "token": token}) as bot:
        _, code = bot.add_dossier_with_code("HS-E2E-Z1")
        dan = zalo.user(token, user_id="a1b2c3")
        try:
            await dan.send_text(code.lower().replace("-", " "))
            greeting = await dan.replies(timeout=15)
            shown = "\n".join(m.text or "" for m in greeting)
            assert "Đăng ký khai sinh" in shown and "3. Không hài lòng" in shown and "gõ số thứ tự" in shown
            await dan.send_text("3")
            assert "6. Lý do khác" in "\n".join(m.text or "" for m in await dan.replies(timeout=15))
            await dan.send_text("thai do, huong dan cua can bo")  # the option's words, typed loosely
            await dan.replies(timeout=15)
            await dan.send_text("Cán bộ không hướng dẫn.")
            thanks = "\n".join(m.text or "" for m in await dan.replies(timeout=15))
            assert "Thủ trưởng UBND Phường Bến Nghé" in thanks
            await dan.send_sticker()
            assert "chỉ nhận tin nhắn chữ" in "\n".join(m.text or "" for m in await dan.replies(timeout=15))
        finally:
            await dan.aclose()

        # Telegram is served by the same process
        alice = people(bot, 1401)
        await alice.send_command(f"/start {bot.add_dossier('HS-E2E-Z2')}")
        assert has_buttons(await alice.replies_until(has_buttons, timeout=15))
        assert texts_of(await alice.replies(timeout=0.5)) == ""

    assert bot.query("SELECT channel, chat_id, rating, follow_ups FROM answers") == [
        ("zalo", "a1b2c3", "unsatisfied", '[{"question_id":"problem","option_id":"staff","factor":"staff"}]')
    ]


async def test_webhook_mode_answers_and_refuses_a_wrong_secret(tg, zalo, tmp_path):
    import socket

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = f"{uuid.uuid4().int % 10**6}:zalo{uuid.uuid4().hex[:8]}"
    url = f"http://127.0.0.1:{port}/zalo"
    webhook = {"base_url": zalo.base_url, "token": token, "mode": "webhook", "url": url, "port": port,
               "secret": "e2e-webhook-secret"}  # fmt: skip
    with BotProcess(tg, tmp_path, zalo=webhook) as bot:
        _, code = bot.add_dossier_with_code("HS-E2E-Z3")
        dan = zalo.user(token, user_id="w-dan")
        try:
            await dan.send_text(code)  # the emulator posts it to our webhook with the secret
            assert "3. Không hài lòng" in "\n".join(m.text or "" for m in await dan.replies(timeout=15))
        finally:
            await dan.aclose()
        async with httpx.AsyncClient() as http:
            forged = await http.post(url, json={"event_name": "message.text.received", "message": {
                "from": {"id": "x"}, "chat": {"id": "x", "chat_type": "PRIVATE"}, "text": "/help"}},
                headers={"X-Bot-Api-Secret-Token": "not-the-secret"})  # fmt: skip
        assert forged.status_code == 403
        assert bot.logged("wrong secret")


async def until(user: Any, fragment: str, within: float = 20) -> str:
    """What the bot wrote to a Zalo user, read until `fragment` shows up (or `within` seconds pass)."""
    deadline, seen = time.monotonic() + within, ""
    while fragment not in seen and (left := deadline - time.monotonic()) > 0:
        seen += "\n".join(m.text or "" for m in await user.replies(timeout=left))
    assert fragment in seen, seen
    return seen


async def test_heads_and_staff_work_a_complaint_on_zalo(tg, zalo, tmp_path):
    token = f"{uuid.uuid4().int % 10**6}:zalo{uuid.uuid4().hex[:8]}"
    units = copy.deepcopy(UNITS)
    ward = units[0]["children"][0]
    ward["head"]["zalo"] = "zh-2101"  # Telegram and Zalo: the one written from last is used
    ward["staff"][0] = {"name": "Phạm Thị D", "zalo": "zs-2102"}  # Zalo only
    config = {"zalo": {"base_url": zalo.base_url, "token": token}, "units": units}
    with BotProcess(tg, tmp_path, **config) as bot:
        _, code = bot.add_dossier_with_code("HS-E2E-Z4", procedure="Cấp giấy phép xây dựng")
        dan, head, staff = (zalo.user(token, user_id=who) for who in ("zc-dan", "zh-2101", "zs-2102"))
        try:
            await dan.send_text(code)
            await until(dan, "3. Không hài lòng")
            await dan.send_text("khong hai long")
            await until(dan, "Lý do khác")
            await dan.send_text("6")
            await dan.send_text("Chờ ba tuần chưa có kết quả.")
            await until(dan, "Thủ trưởng UBND Phường Bến Nghé")

            await head.send_text("/help")
            await until(head, "giao 12")  # the help for heads explains the short commands

            done = bot.cli("digest")
            assert done.returncode == 0 and "1 sent" in done.stderr, done.stderr
            digest = await until(head, "Chờ ba tuần chưa có kết quả.")
            assert "Báo cáo ngày" in digest and "Phản ánh mới: 1" in digest
            found = re.search(r"gõ «giao (\d+)»", digest)
            assert found, digest
            case_id = found.group(1)

            await head.send_text(f"giao {case_id}")
            assert "1. Phạm Thị D\n2. Võ Văn E" in await until(head, "Võ Văn E")
            await head.send_text("1")
            await until(head, "Đã giao phản ánh")

            task = await until(staff, f"gõ «xong {case_id}»")
            assert "Cấp giấy phép xây dựng" in task
            await until(dan, "đã được giao cho cán bộ Phạm Thị D")
            await staff.send_text(f"xong {case_id}")
            await until(staff, "Xin nhập ngắn gọn")
            await staff.send_text("Đã trả kết quả và xin lỗi Ông.")
            await until(staff, "Đã ghi nhận")

            resolved = await until(dan, "Chưa được giải quyết")
            assert "Đã trả kết quả và xin lỗi Ông." in resolved and "1. Đã được giải quyết" in resolved
            await dan.send_text("1")
            await until(dan, "đã được đóng")
        finally:
            for user in (dan, head, staff):
                await user.aclose()
        assert bot.query("SELECT state, resolution FROM cases") == [
            ("closed", "Đã trả kết quả và xin lỗi Ông.")
        ]
        head_on_telegram = tg.user(bot.token, user_id=2101)
        try:  # they last wrote on Zalo, so their Telegram chat got nothing
            assert await head_on_telegram.replies(timeout=0.5) == []
        finally:
            await head_on_telegram.aclose()


async def test_zalo_down_at_start_does_not_stop_telegram_and_joins_when_it_comes_up(tg, tmp_path, people):
    import socket

    from tests.e2e_support import ZaloEmulator

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = f"{uuid.uuid4().int % 10**6}:zalo{uuid.uuid4().hex[:8]}"
    with BotProcess(tg, tmp_path, zalo={"base_url": f"http://127.0.0.1:{port}/bot", "token": token}) as bot:
        alice = people(bot, 1402)
        await alice.send_command(f"/start {bot.add_dossier('HS-E2E-Z5')}")
        assert has_buttons(await alice.replies_until(has_buttons, timeout=15))  # Telegram serves meanwhile
        assert bot.logged("zalo: cannot start")
        with ZaloEmulator(port=port) as zalo:  # Zalo comes back: the bot's next try starts the channel
            dan = zalo.user(token, user_id="late-dan")
            try:
                await dan.send_text("/help")
                assert "/language" in await until(dan, "/language", within=30)
            finally:
                await dan.aclose()
        if zalo._process is not None and zalo._process.stdout is not None:
            zalo._process.stdout.close()  # the emulator module leaves its output pipe open


async def test_a_zalo_token_refused_is_reported_once_and_telegram_runs_on(tg, zalo, tmp_path, people):
    with BotProcess(tg, tmp_path, zalo={"base_url": zalo.base_url, "token": "no-such-token"}) as bot:
        alice = people(bot, 1403)
        await alice.send_command(f"/start {bot.add_dossier('HS-E2E-Z6')}")
        assert has_buttons(await alice.replies_until(has_buttons, timeout=15))
    refused = [line for line in bot.log if "refused the bot token" in line]
    assert len(refused) == 1 and "zalo" in refused[0] and "no-such-token" not in "\n".join(bot.log)


async def test_a_code_sent_again_and_an_emoji_complaint_reach_the_head_whole(tg, zalo, tmp_path):
    """The emulator counts a message's length as Zalo does, in UTF-16 units: 1,500 "😡" are 3,000."""
    token = f"{uuid.uuid4().int % 10**6}:zalo{uuid.uuid4().hex[:8]}"
    units = copy.deepcopy(UNITS)
    units[0]["children"][0]["head"] = {"name": "Lê Văn C", "zalo": "zh-emoji"}
    angry = "😡" * 1500
    with BotProcess(tg, tmp_path, zalo={"base_url": zalo.base_url, "token": token}, units=units) as bot:
        _, code = bot.add_dossier_with_code("HS-E2E-Z6")
        dan, head = (zalo.user(token, user_id=who) for who in ("zc-emoji", "zh-emoji"))
        try:
            await dan.send_text(code)
            await until(dan, "3. Không hài lòng")
            await dan.send_text("3")
            await until(dan, "6. Lý do khác")
            await dan.send_text("6")
            question = await until(dan, "1. Bỏ qua")
            await dan.send_text(code)  # no reply seemed to come, so the citizen sends the code again
            assert await until(dan, "1. Bỏ qua") == question
            await dan.send_text(angry)
            await until(dan, "Thủ trưởng UBND Phường Bến Nghé")
            done = bot.cli("digest")
            assert done.returncode == 0 and "1 sent" in done.stderr, done.stderr
            digest = await until(head, "gõ «giao")
            assert digest.count("😡") == 1500
        finally:
            for user in (dan, head):
                await user.aclose()
    assert bot.query("SELECT texts FROM answers") == [(f'{{"complaint":"{angry}"}}',)]
