"""End to end on Zalo: the real `feedback-bot run` with Telegram and Zalo in one process; a citizen
completes the unsatisfied survey on Zalo by typing the code from the receipt and numbers."""

from __future__ import annotations

import uuid

import pytest

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
        assert any("wrong secret" in line for line in bot.log)
