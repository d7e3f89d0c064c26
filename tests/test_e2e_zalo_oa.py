"""End to end on a Zalo Official Account: the real `feedback-bot run` with `api:` and `zalo_oa:`
pointing at the OA emulator (../shared/emulators/zalo_oa.js), its webhook registered at the
bot's HTTP server. A follower is greeted, types the survey code from the receipt and takes the
survey to the thanks; the access token expires mid-run and the next reply still arrives after
exactly one refresh; a restart goes on on the stored pair (the environment's token is used up by
then); a forged webhook gets 403 and changes nothing."""

from __future__ import annotations

import asyncio
import copy
import importlib
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import UNITS
from tests.e2e_support import BotProcess, texts_of
from tests.ports import free_port
from tests.test_e2e_telegram import has_buttons, tap
from tests.test_e2e_zalo import until

pytestmark = pytest.mark.e2e
SECRET, KEY = "app-s3cret-e2e", "oa-k3y-e2e"


@pytest.fixture(scope="module")
def oa_server() -> Iterator[Any]:
    with importlib.import_module("emulators").ZaloOAEmulator() as server:
        yield server
    if server._process is not None and server._process.stdout is not None:
        server._process.stdout.close()


async def test_a_follower_takes_the_survey_through_a_token_expiry_a_restart_and_a_forgery(
    tg, oa_server, tmp_path, monkeypatch
):
    port = free_port()
    oa = await oa_server.create_oa(app_id=f"e2e{uuid.uuid4().hex[:8]}", app_secret=SECRET, oa_secret_key=KEY,
                                   webhook=f"http://127.0.0.1:{port}/zalo-oa/webhook")  # fmt: skip
    monkeypatch.setenv("ZALO_OA_APP_SECRET", SECRET)
    monkeypatch.setenv("ZALO_OA_SECRET_KEY", KEY)
    monkeypatch.setenv("ZALO_OA_REFRESH_TOKEN", oa.refresh_token)
    settings = {"app_id": oa.app_id, "oa_id": oa.oa_id, "api_url": oa_server.url, "oauth_url": oa_server.url,
                "zns_url": oa_server.url}  # fmt: skip
    bot = BotProcess(tg, tmp_path, api={"listen": "127.0.0.1", "port": port}, zalo_oa=settings)
    try:
        with bot:
            _, code = bot.add_dossier_with_code("HS-E2E-OA1")
            dan = await oa.add_user("oa-dan", phone="84901234567")
            assert await dan.follow() == 200
            await until(dan, "mã khảo sát")  # greeted as a /start without a link
            assert await dan.send_text(code.lower()) == 200
            greeting = await until(dan, "3. Không hài lòng")
            assert "Đăng ký khai sinh" in greeting and "gõ số thứ tự" in greeting
            await dan.send_text("3")
            await until(dan, "6. Lý do khác")
            await dan.send_text("6")
            await until(dan, "1. Bỏ qua")
            await dan.send_text("Chờ ba tuần chưa có kết quả.")
            await until(dan, "Thủ trưởng UBND Phường Bến Nghé")
            assert bot.query("SELECT channel, chat_id, rating FROM answers") == [
                ("zalo_oa", "oa-dan", "unsatisfied")
            ]
            assert bot.query("SELECT generation FROM zalo_oa_token") == [(2,)]  # seeded, refreshed once

            await oa.expire_access_token()
            await dan.send_text("/help")
            await until(dan, "/language")
            assert bot.query("SELECT generation FROM zalo_oa_token") == [(3,)]  # exactly one refresh
            stored = bot.query("SELECT access_token, refresh_token FROM zalo_oa_token")
            tokens = await oa.tokens()
            assert stored == [(tokens["access_token"], tokens["refresh_token"])]

        # The environment still holds the first refresh token, which Zalo took long ago.
        with bot:
            await dan.send_text("/help")
            await until(dan, "/language")
            assert bot.query("SELECT generation FROM zalo_oa_token") == [(3,)]
            assert not bot.logged("refresh token rejected", within=0.5)

            events = bot.query("SELECT count(*) FROM zalo_oa_events")
            forged = {"app_id": oa.app_id, "user_id_by_app": "app_oa-dan", "event_name": "user_send_text",
                      "timestamp": "1764205200000", "sender": {"id": "oa-dan"}, "recipient": {"id": oa.oa_id},
                      "message": {"text": "/help", "msg_id": "forged-1"}}  # fmt: skip
            assert await oa.post_raw(forged, bad_signature=True) == 403
            assert bot.logged("zalo_oa webhook: refused a request")
            assert bot.query("SELECT count(*) FROM zalo_oa_events") == events
            assert await dan.replies(timeout=1) == []

            await oa.flood(2)  # Zalo's rate limit (-32) on the next two calls: waited out
            await dan.send_text("/help")
            await until(dan, "/language")
            await dan.unfollow()
            assert bot.query("SELECT unreachable_since IS NOT NULL FROM chats WHERE channel = 'zalo_oa'") == [
                (1,)
            ]
        assert all(entry["status"] == 200 for entry in await oa.webhook_log())
        assert oa.refresh_token not in "\n".join(bot.log) and SECRET not in "\n".join(bot.log)
    finally:
        await oa.http.aclose()


async def test_heads_and_staff_work_a_complaint_on_the_oa(tg, oa_server, tmp_path, monkeypatch):
    port = free_port()
    oa = await oa_server.create_oa(app_id=f"e2e{uuid.uuid4().hex[:8]}", app_secret=SECRET, oa_secret_key=KEY,
                                   webhook=f"http://127.0.0.1:{port}/zalo-oa/webhook")  # fmt: skip
    monkeypatch.setenv("ZALO_OA_APP_SECRET", SECRET)
    monkeypatch.setenv("ZALO_OA_SECRET_KEY", KEY)
    monkeypatch.setenv("ZALO_OA_REFRESH_TOKEN", oa.refresh_token)
    units = copy.deepcopy(UNITS)
    ward = units[0]["children"][0]
    ward["head"] = {"name": "Lê Văn C", "zalo_oa": "oa-head"}
    ward["staff"][0] = {"name": "Phạm Thị D", "zalo_oa": "oa-staff"}
    settings = {"app_id": oa.app_id, "oa_id": oa.oa_id, "api_url": oa_server.url, "oauth_url": oa_server.url,
                "zns_url": oa_server.url}  # fmt: skip
    try:
        with BotProcess(tg, tmp_path, api={"port": port}, zalo_oa=settings, units=units) as bot:
            _, code = bot.add_dossier_with_code("HS-E2E-OA2", procedure="Cấp giấy phép xây dựng")
            dan, head, staff = [await oa.add_user(who) for who in ("oa-citizen", "oa-head", "oa-staff")]
            for person in (dan, head, staff):
                await person.follow()
                await until(person, "mã khảo sát")
            await head.send_text("/help")
            await until(head, "giao 12")  # the help for heads explains the short commands
            await dan.send_text(code)
            await until(dan, "3. Không hài lòng")
            await dan.send_text("khong hai long")
            await until(dan, "Lý do khác")
            await dan.send_text("6")
            await dan.send_text("Chờ ba tuần chưa có kết quả.")
            await until(dan, "Thủ trưởng UBND Phường Bến Nghé")

            done = bot.cli("digest")
            assert done.returncode == 0 and "1 sent" in done.stderr, done.stderr
            digest = await until(head, "Chờ ba tuần chưa có kết quả.")
            found = re.search(r"gõ «giao (\d+)»", digest)
            assert found, digest
            case_id = found.group(1)
            await head.send_text(f"giao {case_id}")
            await until(head, "Võ Văn E")
            await head.send_text("1")
            await until(head, "Đã giao phản ánh")
            await until(staff, f"gõ «xong {case_id}»")
            await until(dan, "đã được giao cho cán bộ Phạm Thị D")
            await staff.send_text(f"xong {case_id}")
            await until(staff, "Xin nhập ngắn gọn")
            await staff.send_text("Đã trả kết quả và xin lỗi Ông.")
            await until(staff, "Đã ghi nhận")
            await until(dan, "Chưa được giải quyết")
            await dan.send_text("1")
            await until(dan, "đã được đóng")
        assert bot.query("SELECT state, resolution FROM cases") == [
            ("closed", "Đã trả kết quả và xin lỗi Ông.")
        ]
    finally:
        await oa.http.aclose()


ZNS_TEMPLATES = {
    "rating": {"id": "rating-e2e", "params": {"ho_ten": "citizen_name", "ma_ho_so": "code",
                                               "ten_thu_tuc": "procedure"}},
    "resolution": {"id": "resolution-e2e", "params": {"ma_ho_so": "code", "ket_qua": "resolution_note"}},
    "apology": {"id": "apology-e2e", "params": {"ma_ho_so": "code", "ngay_hen_moi": "new_due_date",
                                                 "ly_do": "reason"}},
}  # fmt: skip


async def test_a_citizen_rates_by_zns_and_hears_the_resolution_by_zns(
    tg, oa_server, tmp_path, monkeypatch, people
):
    """A dossier with a phone is returned; the citizen, who never wrote to the OA, gets the rating
    template, rates two stars with a chip and a note; the answer is unsatisfied with the chip's
    factor and opens a case; the head (on Telegram) gets it in the digest and assigns it; the staff
    member resolves it; the resolution reaches the phone by ZNS (no OA chat, so no window)."""
    port = free_port()
    oa = await oa_server.create_oa(app_id=f"e2e{uuid.uuid4().hex[:8]}", app_secret=SECRET, oa_secret_key=KEY,
                                   webhook=f"http://127.0.0.1:{port}/zalo-oa/webhook")  # fmt: skip
    await oa.register_template("rating-e2e", ["ho_ten", "ma_ho_so", "ten_thu_tuc"], rating=True)
    await oa.register_template("resolution-e2e", ["ma_ho_so", "ket_qua"])
    await oa.register_template("apology-e2e", ["ma_ho_so", "ngay_hen_moi", "ly_do"])
    monkeypatch.setenv("ZALO_OA_APP_SECRET", SECRET)
    monkeypatch.setenv("ZALO_OA_SECRET_KEY", KEY)
    monkeypatch.setenv("ZALO_OA_REFRESH_TOKEN", oa.refresh_token)
    settings = {"app_id": oa.app_id, "oa_id": oa.oa_id, "api_url": oa_server.url, "oauth_url": oa_server.url,
                "zns_url": oa_server.url, "templates": ZNS_TEMPLATES,
                "chips": {"Chờ đợi lâu": "access"}}  # fmt: skip
    try:
        with BotProcess(tg, tmp_path, api={"listen": "127.0.0.1", "port": port}, zalo_oa=settings) as bot:
            dan = await oa.add_user("oa-zns", name="Trần Văn Hùng", phone="84901234567")
            made = bot.cli(
                "dossier", "add", "HS-E2E-ZNS", "--unit", "Q1-BN", "--procedure", "Cấp giấy phép xây dựng",
                "--citizen-name", "Trần Văn Hùng", "--phone", "0901234567",
            )  # fmt: skip
            assert made.returncode == 0, made.stderr
            # Late: the apology letter reaches the phone by ZNS (no chat reaches the citizen).
            new_due = (datetime.now(UTC) + timedelta(days=9)).date().isoformat()
            extended = bot.cli(
                "dossier", "extend", "HS-E2E-ZNS", "--reason", "Chờ ý kiến Sở Xây dựng", "--new-due", new_due
            )
            assert extended.returncode == 0, extended.stderr
            (apology,) = await dan.zns(timeout=20)
            assert apology["template_id"] == "apology-e2e"
            assert apology["template_data"]["ly_do"] == "Chờ ý kiến Sở Xây dựng"
            written = date.fromisoformat(new_due).strftime("%d/%m/%Y")
            assert apology["template_data"]["ngay_hen_moi"] == written
            back = bot.cli("dossier", "returned", "HS-E2E-ZNS")
            assert back.returncode == 0, back.stderr
            (rating,) = await dan.zns(timeout=20)
            assert rating["template_id"] == "rating-e2e"
            assert rating["template_data"] == {
                "ho_ten": "Trần Văn Hùng",
                "ma_ho_so": "HS-E2E-ZNS",
                "ten_thu_tuc": "Cấp giấy phép xây dựng",
            }
            assert "84901234567" not in rating["tracking_id"] and "HS-E2E-ZNS" not in rating["tracking_id"]
            await dan.rate(rating, 2, feedbacks=["Chờ đợi lâu"], note="Trả kết quả trễ hẹn")
            deadline = asyncio.get_running_loop().time() + 20
            while not bot.query("SELECT 1 FROM cases"):
                assert asyncio.get_running_loop().time() < deadline, "\n".join(bot.log[-30:])
                await asyncio.sleep(0.2)
            ((channel, rating_level, follow_ups, texts),) = bot.query(
                "SELECT channel, rating, follow_ups, texts FROM answers"
            )
            assert (channel, rating_level) == ("zns", "unsatisfied")
            assert '"factor": "access"' in follow_ups or '"factor":"access"' in follow_ups
            assert "Trả kết quả trễ hẹn" in texts

            head, staff = people(bot, 2101), people(bot, 2102)
            done = bot.cli("digest")
            assert done.returncode == 0 and "1 sent" in done.stderr, done.stderr
            digest = await head.replies_until(has_buttons, timeout=20)
            assert "Trả kết quả trễ hẹn" in texts_of(digest)
            staff_list = await tap(head, digest, "Giao xử lý")
            await tap(head, staff_list, "Phạm Thị D")
            task = await staff.replies_until(has_buttons, timeout=20)
            assert "Nhắn người dân" not in [b.text for m in task for b in m.buttons]  # no chat reaches them
            await tap(staff, task, "Đã xử lý xong")
            await staff.send_text("Đã trả kết quả, xin lỗi vì chậm trễ.")
            assert "Đã ghi nhận" in texts_of(await staff.replies_until(bool, timeout=15))
            (resolution,) = await dan.zns(timeout=20)
            assert resolution["template_id"] == "resolution-e2e"
            assert resolution["template_data"] == {
                "ma_ho_so": "HS-E2E-ZNS",
                "ket_qua": "Đã trả kết quả, xin lỗi vì chậm trễ.",
            }
            assert len(await oa.sent_zns()) == 3  # the letter, the rating and the resolution, each once
    finally:
        await oa.http.aclose()
