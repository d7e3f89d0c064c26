"""End to end: the real `feedback-bot run` with the intake API beside Telegram. A citizen scans the
receipt's link at the desk; the one-stop software reports that the dossier will be late (`extended`)
and the citizen gets the apology letter at once, in Vietnamese with the reason and the new date;
then the return, the invitation, the answer; and `feedback-bot lateness` counts the dossier as late
with its letter on time. Dates are relative to today, so the test never rots."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from handlers.calendar import previous_working_day
from tests.e2e_support import texts_of
from tests.test_e2e_intake import bot, has_buttons  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
CODE = "000.00.15.H29-LETTER-0001"
REASON = "Chờ ý kiến thẩm định của Sở Tư pháp"


def compact(at: datetime) -> str:
    return at.astimezone(ZONE).strftime("%Y%m%d%H%M%S")


async def test_the_citizen_gets_the_letter_then_the_survey_and_lateness_counts_it(tg, bot, people):  # noqa: F811
    today = datetime.now(ZONE).date()
    due = previous_working_day(today, ())  # the appointment was yesterday (a working day): late today
    letter_day = previous_working_day(due, ())  # the letter went the working day before: on time
    issued = datetime.combine(letter_day, time(9, 0), ZONE)
    new_due = datetime.combine(today + timedelta(days=5), time(17, 0), ZONE)
    made = bot.cli("apikey", "create", "--name", "motcua-q1", "--units", "Q1")
    assert made.returncode == 0, made.stderr
    (key,) = made.stdout.split()
    async with httpx.AsyncClient(base_url=bot.api_url, headers={"Authorization": f"Bearer {key}"}) as api:
        put = await api.put(f"/api/v1/dossiers/{CODE}", json={
            "unit": "Q1-BN", "procedure": "Đăng ký khai sinh",
            "received_at": compact(issued - timedelta(days=5)),
            "due_at": compact(datetime.combine(due, time(17, 0), ZONE)), "citizen_name": "Nguyễn Thị Lan",
        })  # fmt: skip
        assert put.status_code == 201, put.text
        token = put.json()["survey_link"].split("start=", 1)[1]

        lan = people(bot, 1302)  # scans the receipt's QR code at the desk
        await lan.send_command(f"/start {token}")
        assert "chưa có kết quả" in texts_of(await lan.replies_until(bool, timeout=15))

        extended = await api.post(f"/api/v1/dossiers/{CODE}/events", json={
            "type": "extended", "at": compact(issued), "reason": REASON, "new_due_at": compact(new_due),
        })  # fmt: skip
        assert extended.status_code == 201, extended.text
        letter = texts_of(await lan.replies_until(lambda m: REASON in texts_of(m), timeout=30))
        assert new_due.strftime("%d/%m/%Y") in letter and CODE in letter and "Nguyễn Thị Lan" in letter

        at = datetime.now(ZONE).isoformat(timespec="seconds")
        returned = await api.post(f"/api/v1/dossiers/{CODE}/events", json={"type": "returned", "at": at})
        assert returned.status_code == 201, returned.text
        invitation = await lan.replies_until(has_buttons, timeout=30)
        rating = next(b for m in invitation for b in m.buttons if b.text == "Hài lòng")
        await lan.press(invitation[-1], rating.callback_data)
        await lan.replies_until(bool, timeout=15)

    shown = bot.cli("lateness", "--from", today.isoformat(), "--to", today.isoformat(), "--format", "json")
    assert shown.returncode == 0, shown.stderr
    rows = {row["unit"]: row for row in json.loads(shown.stdout)}
    assert (rows["Q1-BN"]["returned"], rows["Q1-BN"]["returned_late"]) == (1, 1)
    assert (rows["Q1-BN"]["letters_on_time"], rows["Q1-BN"]["letters_missing"]) == (1, 0)
    letters = json.loads(bot.cli("letters", "--format", "json").stdout)
    assert [(row["dossier"], row["state"]) for row in letters] == [(CODE, "delivered")]
    (answer,) = json.loads(bot.cli("answers", "--format", "json").stdout)
    assert (answer["dossier_late"], answer["letter_sent"]) == (True, True)


async def test_a_head_hands_the_extension_to_staff_and_a_second_one_is_told(tg, bot, people):  # noqa: F811
    today = datetime.now(ZONE).date()
    due = datetime.combine(today + timedelta(days=1), time(17, 0), ZONE)
    made = bot.cli("apikey", "create", "--name", "motcua-q1", "--units", "Q1")
    (key,) = made.stdout.split()
    async with httpx.AsyncClient(base_url=bot.api_url, headers={"Authorization": f"Bearer {key}"}) as api:
        put = await api.put(f"/api/v1/dossiers/{CODE}", json={
            "unit": "Q1-BN", "procedure": "Cấp giấy phép xây dựng",
            "received_at": compact(due - timedelta(days=10)), "due_at": compact(due),
        })  # fmt: skip
        assert put.status_code == 201, put.text

        head, staff, district = people(bot, 2101), people(bot, 2102), people(bot, 2001)
        await head.send_text("giao gia hạn 1")  # the first dossier of a new database; the digest names it
        offered = await head.replies_until(has_buttons, timeout=15)
        assert CODE in texts_of(offered)
        chosen = next(b for m in offered for b in m.buttons if b.text == "Phạm Thị D")
        await head.press(offered[-1], chosen.callback_data)
        assert "Đã giao Phạm Thị D" in texts_of(await head.replies_until(bool, timeout=15))

        told = await staff.replies_until(has_buttons, timeout=30)
        assert f"gia hạn hồ sơ {CODE}" in texts_of(told)
        extend = next(b for m in told for b in m.buttons if b.text == "Gia hạn, gửi thư xin lỗi")
        await staff.press(told[-1], extend.callback_data)
        assert "lý do" in texts_of(await staff.replies_until(bool, timeout=15))
        await staff.send_text(REASON)
        await staff.replies_until(bool, timeout=15)
        new_day = (today + timedelta(days=7)).strftime("%d/%m/%Y")
        await staff.send_text(new_day)
        assert f"Đã gia hạn hồ sơ {CODE}" in texts_of(await staff.replies_until(bool, timeout=15))

        again = await api.post(f"/api/v1/dossiers/{CODE}/events", json={
            "type": "extended", "at": compact(datetime.now(ZONE)), "reason": "Chờ bổ sung giấy tờ",
            "new_due_at": compact(due + timedelta(days=14)),
        })  # fmt: skip
        assert again.status_code == 201, again.text
        for person in (head, district):
            alert = await person.replies_until(lambda m: "gia hạn thêm lần nữa" in texts_of(m), timeout=30)
            assert CODE in texts_of(alert) and "Chờ bổ sung giấy tờ" in texts_of(alert)

    letters = json.loads(bot.cli("letters", "--to-print", "--format", "json").stdout)
    assert [row["dossier"] for row in letters] == [CODE, CODE]  # the citizen has no chat: both printed
