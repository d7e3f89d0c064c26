"""End to end: an admin uploads a question set to the running bot as a document, previews it,
activates it, and the next citizen's survey uses it; a non-admin's upload is refused."""

from __future__ import annotations

import pytest

from tests.e2e_support import BotProcess, texts_of
from tests.test_e2e_telegram import has_buttons, tap
from tests.test_question_sets import WARD_SET

pytestmark = pytest.mark.e2e


async def test_an_admin_uploads_and_activates_a_question_set(tg, tmp_path, people):
    with BotProcess(tg, tmp_path) as bot:
        admin, stranger, citizen = people(bot, 9001), people(bot, 1301), people(bot, 1302)
        await stranger.send_document("ward.yaml", WARD_SET.encode())
        assert "Chỉ quản trị viên" in texts_of(await stranger.replies_until(bool, timeout=15))

        await admin.send_document("ward.yaml", WARD_SET.encode())
        preview = await admin.replies_until(has_buttons, timeout=15)
        assert "Đã lưu bộ câu hỏi ward-five-level phiên bản 1" in texts_of(preview)
        assert "5) Rất không hài lòng" in texts_of(preview)
        activated = await tap(admin, preview, "Kích hoạt")
        assert "Đã kích hoạt ward-five-level phiên bản 1" in texts_of(activated)

        token = bot.add_dossier("HS-E2E-Q1")
        await citizen.send_command(f"/start {token}")
        greeting = await citizen.replies_until(has_buttons, timeout=15)
        assert greeting[-1].buttons[0].text == "Rất hài lòng"
        await tap(citizen, greeting, "Rất hài lòng")
        assert bot.query("SELECT question_set, question_set_version, rating FROM answers") == [
            ("ward-five-level", 1, "satisfied")
        ]
        assert [
            a for (a,) in bot.query("SELECT action FROM audit WHERE action LIKE 'question set%' ORDER BY id")
        ] == [
            "question set imported",
            "question set activated",
        ]
