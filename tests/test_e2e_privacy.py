"""End to end on the Telegram emulator, the real `feedback-bot run`: a citizen reads the privacy
notice with the bot's first answer, answers with a complaint, asks /mydata (a message and a JSON
file), then /forget and confirms; the head's /cases shows the complaint closed as withdrawn, and
the database keeps the rating without the person."""

from __future__ import annotations

import pytest

from tests.e2e_support import BotProcess, texts_of
from tests.test_e2e_cases import with_text
from tests.test_e2e_telegram import has_buttons, tap

pytestmark = pytest.mark.e2e


async def test_a_citizen_sees_then_erases_their_data(tg, tmp_path, people):
    with BotProcess(tg, tmp_path) as bot:
        citizen, head = people(bot, 718293645), people(bot, 2101)
        token = bot.add_dossier("HS-E2E-P1", procedure="Cấp giấy phép xây dựng")
        await citizen.send_command(f"/start {token}")
        greeting = await citizen.replies_until(has_buttons, timeout=15)
        assert "Về dữ liệu cá nhân" in texts_of(greeting) and "/forget" in texts_of(greeting)
        problem = await tap(citizen, greeting, "Không hài lòng")
        await tap(citizen, problem, "Kết quả trễ hẹn hoặc chưa đúng")
        await citizen.send_text("Chờ ba tuần, gọi số 0901234567 không ai nghe.")
        assert "Thủ trưởng" in texts_of(await citizen.replies_until(bool, timeout=15))

        await citizen.send_command("/mydata")
        shown = await citizen.replies_until(lambda m: any(x.document for x in m), timeout=15)
        assert "HS-E2E-P1" in texts_of(shown) and "Chờ ba tuần" in texts_of(shown)
        (document,) = [m.document for m in shown if m.document]
        assert document["file_name"].endswith(".json")

        await citizen.send_command("/forget")
        asked = await citizen.replies_until(has_buttons, timeout=15)
        done = await tap(citizen, asked, "Xóa dữ liệu của tôi")
        assert "Đã xóa dữ liệu cá nhân" in texts_of(done)

        await head.send_command("/cases")
        listed = await head.replies_until(with_text("rút và yêu cầu xóa dữ liệu"), timeout=15)
        assert "#1" in texts_of(listed)
        assert bot.query("SELECT rating, chat_id, texts FROM answers") == [("unsatisfied", "", "{}")]
        assert bot.query("SELECT state FROM cases") == [("closed",)]
        assert bot.query("SELECT count(*) FROM chats WHERE chat_id = '718293645'") == [(0,)]
