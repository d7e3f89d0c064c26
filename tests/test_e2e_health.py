"""End to end: the real `feedback-bot run` with an `api:` section against the Telegram emulator.
/healthz and /readyz answer 200 once the channel runs; a citizen answers a survey and /metrics
counts the updates handled and the answer stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e_support import BotMessage, BotProcess, TelegramEmulator
from tests.ports import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def bot(tg: TelegramEmulator, tmp_path: Path) -> Iterator[BotProcess]:
    port = free_port()
    with BotProcess(tg, tmp_path, api={"listen": "127.0.0.1", "port": port}) as running:
        running.api_url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
        yield running


def has_buttons(messages: list[BotMessage]) -> bool:
    return any(m.buttons for m in messages)


def samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


async def test_health_readiness_and_metrics_of_a_running_bot(bot, people):
    async with httpx.AsyncClient(base_url=bot.api_url, timeout=5) as api:
        assert (await api.get("/healthz")).json() == {"status": "ok"}
        # "feedback bot running" is logged once the channels that could start did: Telegram runs.
        deadline = time.monotonic() + 15
        while (ready := await api.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, (ready.text, "\n".join(bot.log))
            await asyncio.sleep(0.1)
        assert ready.json() == {"status": "ok", "database": "ok", "channels": {"telegram": "running"}}

        token = bot.add_dossier("HS-E2E-HEALTH")
        citizen = people(bot, 1401)
        await citizen.send_command(f"/start {token}")
        greeting = await citizen.replies_until(has_buttons, timeout=15)
        satisfied = next(b for m in greeting for b in m.buttons if b.text == "Hài lòng")
        await citizen.press(greeting[-1], satisfied.callback_data)
        await citizen.replies_until(bool, timeout=15)

        scraped = await api.get("/metrics")
        assert scraped.status_code == 200
        found = samples(scraped.text)
        telegram = (("channel", "telegram"),)
        assert found[("feedback_bot_updates_handled_total", telegram)] >= 2
        assert found[("feedback_bot_answers_stored_total", telegram)] == 1
        assert found[("feedback_bot_messages_sent_total", telegram)] >= 2
        assert found[("feedback_bot_leader", telegram)] == 1
        assert found[("feedback_bot_outbox_depth", (("kind", "invitations"),))] == 0
        assert ("feedback_bot_digest_lag_seconds", ()) in found
