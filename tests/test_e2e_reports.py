"""End to end: the real `feedback-bot run` against the local Telegram Bot API server. Two citizens
answer their surveys on Telegram, a file of answers collected on paper and by phone is imported
beside them from the command line, and `feedback-bot report` shows them in one table: together by
unit, apart by channel, the factor the unsatisfied citizen named counted."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.e2e_support import texts_of
from tests.test_e2e_telegram import bot, has_buttons, tap  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


async def test_bot_answers_and_an_imported_file_are_one_report(tg, bot, people, tmp_path: Path):  # noqa: F811
    for code, chat, rating in (("HS-R-1", 1401, "Không hài lòng"), ("HS-R-2", 1402, "Hài lòng")):
        citizen = people(bot, chat)
        await citizen.send_command(f"/start {bot.add_dossier(code)}")
        greeting = await citizen.replies_until(has_buttons, timeout=15)
        asked = await tap(citizen, greeting, rating)
        if rating == "Không hài lòng":
            await tap(citizen, asked, "Thái độ, hướng dẫn của cán bộ")
        else:
            assert "góp ý" in texts_of(asked)

    today = datetime.now(ZONE).date()
    paper = tmp_path / "phieu.csv"
    paper.write_text(
        "Mã đơn vị,Thủ tục,Mức độ hài lòng,Ngày đánh giá,Kênh,Yếu tố\n"
        f"Q1-BN,Đăng ký khai sinh,Bình thường,{today:%d/%m/%Y},giấy,thủ tục\n"
        f"Q1,Cấp phép xây dựng,hài lòng,{today:%d/%m/%Y},điện thoại,\n",
        encoding="utf-8",
    )
    for expected in ("2 answers imported", "0 answers imported, 2 already imported before"):
        done = bot.cli("answers", "import", str(paper))
        assert done.returncode == 0, done.stderr
        assert expected in done.stdout

    period = ("--from", today.isoformat(), "--to", today.isoformat(), "--format", "json")
    by_unit = bot.cli("report", *period)
    assert by_unit.returncode == 0, by_unit.stderr
    found = json.loads(by_unit.stdout)
    rows = {r["key"]: r for r in found["rows"]}
    assert (rows["Q1-BN"]["answers"], rows["Q1-BN"]["satisfied"], rows["Q1-BN"]["neutral"]) == (3, 1, 1)
    assert rows["Q1-BN"]["unsatisfied"] == 1 and rows["Q1-BN"]["complaints"] == 1
    assert (rows["Q1-BN"]["returned"], rows["Q1-BN"]["response_rate_pct"]) == (2, 100.0)
    assert rows["Q1"]["answers"] == 4  # its own phone answer and its ward's three

    by_channel = json.loads(bot.cli("report", *period, "--by", "channel").stdout)
    assert {r["key"]: r["answers"] for r in by_channel["rows"]} == {"paper": 1, "phone": 1, "telegram": 2}
    by_factor = json.loads(bot.cli("report", *period, "--by", "factor").stdout)
    named = {r["factor"]: (r["named_by_neutral"], r["named_by_unsatisfied"]) for r in by_factor["rows"]}
    assert named["staff"] == (0, 1) and named["procedure"] == (1, 0)


async def test_a_head_gets_the_report_as_a_photo_with_its_summary(tg, bot, people):  # noqa: F811
    citizen = people(bot, 1403)
    await citizen.send_command(f"/start {bot.add_dossier('HS-R-3', unit='Q1')}")
    await tap(citizen, await citizen.replies_until(has_buttons, timeout=15), "Hài lòng")
    head = people(bot, 2001)  # the head of Quận 1
    await head.send_command("/report")
    (photo,) = await head.replies_until(bool, timeout=30)
    assert photo.raw.get("photo") and photo.raw["photo"]["mime_type"] == "image/png"
    summary = photo.text or ""
    assert summary.startswith("Báo cáo UBND Quận 1,") and "1 ý kiến" in summary
    assert "Quá ít ý kiến" in summary and "Phản ánh: 0 mới" in summary
