"""End to end: the real `feedback-bot run` process serving the intake API beside Telegram. The
one-stop software records a dossier over HTTP, the citizen scans the receipt's link before the
result exists, the software reports the return, the citizen is invited and answers, and the
software reads the rating back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e_support import BotMessage, BotProcess, TelegramEmulator, texts_of
from tests.ports import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def bot(tg: TelegramEmulator, tmp_path: Path) -> Iterator[BotProcess]:
    port = free_port()
    with BotProcess(tg, tmp_path, api={"listen": "127.0.0.1", "port": port}) as running:
        running.api_url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{running.api_url}/api/health", timeout=2).status_code == 200:  # type: ignore[attr-defined]
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "\n".join(running.log)
            time.sleep(0.1)
        yield running


def has_buttons(messages: list[BotMessage]) -> bool:
    return any(m.buttons for m in messages)


async def test_the_one_stop_software_drives_the_survey_over_http(tg, bot, people):
    made = bot.cli("apikey", "create", "--name", "motcua-q1", "--units", "Q1")
    assert made.returncode == 0, made.stderr
    (key,) = made.stdout.split()  # printed once, alone on its line
    async with httpx.AsyncClient(base_url=bot.api_url, headers={"Authorization": f"Bearer {key}"}) as api:
        put = await api.put("/api/v1/dossiers/000.00.15.H29-261126-0001", json={
            "unit": "Q1-BN", "procedure": "Đăng ký khai sinh", "received_at": "20261126080000",
            "due_at": "20261128170000", "citizen_name": "Nguyễn Thị Lan", "phone": "0901234567",
        })  # fmt: skip
        assert put.status_code == 201, put.text
        token = put.json()["survey_link"].split("start=", 1)[1]

        lan = people(bot, 1301)  # scans the receipt's QR code at the desk
        await lan.send_command(f"/start {token}")
        assert "chưa có kết quả" in texts_of(await lan.replies_until(bool, timeout=15))

        returned = await api.post(
            "/api/v1/dossiers/000.00.15.H29-261126-0001/events", json={"type": "returned", "at": "now"}
        )
        assert returned.status_code == 422  # "now" is not a time: nothing recorded
        at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        returned = await api.post(
            "/api/v1/dossiers/000.00.15.H29-261126-0001/events", json={"type": "returned", "at": at}
        )
        assert returned.status_code == 201, returned.text
        invitation = await lan.replies_until(has_buttons, timeout=30)
        assert "Đăng ký khai sinh" in texts_of(invitation)
        rating = next(b for m in invitation for b in m.buttons if b.text == "Bình thường")
        await lan.press(invitation[-1], rating.callback_data)
        await lan.replies_until(bool, timeout=15)

        answers = (await api.get("/api/v1/answers")).json()
        assert [(a["dossier_code"], a["rating"]) for a in answers["answers"]] == [
            ("000.00.15.H29-261126-0001", "neutral")
        ]
        assert "1301" not in str(answers)
        dossier = (await api.get("/api/v1/dossiers/000.00.15.H29-261126-0001")).json()
        assert dossier["answer"]["rating"] == "neutral" and dossier["state"] == "returned"

    trail = bot.cli("audit").stdout
    assert "intake API (key motcua-q1)" in trail and "dossier created" in trail
    assert key not in bot.cli("apikey", "list").stdout
