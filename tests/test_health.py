"""/healthz, /readyz and /metrics, offline: the HTTP app over a real SQLite database, the counters
moved by a survey answered through the dispatcher and by the outbox delivering through the Telegram
channel against the fake Bot API; the gauges read from storage at a scrape."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from telegram.ext import ContextTypes

from bot.app import backlog, build_handlers, build_intake, chat_channels, serving_api
from bot.channels.telegram import TelegramChannel
from bot.channels.zalo import ZaloChannel
from bot.channels.zalo_oa.client import NoZaloAccount, QuotaExhausted, RateLimited, TemplateRejected
from bot.channels.zalo_oa.zns import ZnsRatings, ZnsSender, rating_scale
from bot.config import ApiConfig, Config
from bot.health import ChannelState, Readiness
from bot.http.app import build_http_app
from bot.metrics import Metrics
from handlers.chat import Reply
from handlers.templates import TemplatePurpose
from storage.sqlite import SQLiteStorage
from tests.clock import FakeClock
from tests.conftest import NOW, Citizen, add_dossier, make_config
from tests.fakes import RecordingSender
from tests.telegram_fake import FakeTelegram
from tests.test_zalo_channel import FakeZalo
from tests.test_zalo_oa_zns import PHONE, SETTINGS, FakeClient, returned_with_phone

WEEK = timedelta(days=7)
METRICS = {
    "feedback_bot_updates_handled": "counter",
    "feedback_bot_answers_stored": "counter",
    "feedback_bot_messages_sent": "counter",
    "feedback_bot_messages_failed": "counter",
    "feedback_bot_outbox_depth": "gauge",
    "feedback_bot_digest_lag_seconds": "gauge",
    "feedback_bot_leader": "gauge",
}


@pytest.fixture
def metrics(config: Config, store: SQLiteStorage) -> Metrics:
    return Metrics(backlog(config, store))


@pytest.fixture
def readiness(store: SQLiteStorage) -> Readiness:
    made = Readiness(store.ping)
    made.expect("telegram")
    return made


@pytest.fixture
async def http(
    config: Config, store: SQLiteStorage, readiness: Readiness, metrics: Metrics
) -> AsyncIterator[httpx.AsyncClient]:
    app = build_http_app(build_intake(config, store), ApiConfig(), readiness=readiness, metrics=metrics)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as client:
        yield client


async def scrape(http: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, labels), checked to parse as Prometheus text."""
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parsed(response.text)


def parsed(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


class TestHealthz:
    async def test_liveness_asks_nothing_of_the_database(self, http, store):
        await store.close()
        response = await http.get("/healthz")
        assert (response.status_code, response.json()) == (200, {"status": "ok"})


class TestReadyz:
    async def test_ready_once_the_database_answers_and_every_channel_runs(self, http, readiness):
        readiness.set("telegram", ChannelState.RUNNING)
        response = await http.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok", "channels": {"telegram": "running"}}

    async def test_a_channel_not_started_is_named(self, http):
        response = await http.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {
            "status": "not ready",
            "database": "ok",
            "channels": {"telegram": "starting"},
        }

    async def test_a_refused_token_is_not_ready(self, http, readiness):
        readiness.set("telegram", ChannelState.REFUSED)
        response = await http.get("/readyz")
        assert (response.status_code, response.json()["channels"]) == (503, {"telegram": "refused"})

    async def test_a_closed_database_is_not_ready(self, http, store, readiness):
        readiness.set("telegram", ChannelState.RUNNING)
        await store.close()
        response = await http.get("/readyz")
        assert response.status_code == 503
        assert response.json()["database"] == "unavailable"

    async def test_a_database_that_does_not_answer_in_time_is_not_ready(self, config, store):
        async def hangs() -> None:
            await asyncio.Event().wait()

        readiness = Readiness(hangs, timeout=0.05)
        app = build_http_app(build_intake(config, store), ApiConfig(), readiness=readiness)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
            response = await client.get("/readyz")
        assert (response.status_code, response.json()["database"]) == (503, "timeout")

    async def test_the_api_command_serves_them_with_no_channel(self, config, store):
        with socket.socket() as probe:  # a port free just now, for the server to take
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        async with (
            serving_api(config, store, ApiConfig(port=port)),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
        ):
            ready = await client.get("/readyz")
            alive = await client.get("/healthz")
            scraped = await client.get("/metrics")
        assert (ready.status_code, ready.json()) == (200, {"status": "ok", "database": "ok", "channels": {}})
        assert alive.status_code == 200
        assert 'feedback_bot_outbox_depth{kind="invitations"} 0.0' in scraped.text

    async def test_the_health_routes_stay_out_of_the_integrators_document(self, http):
        spec = (await http.get("/api/openapi.json")).json()
        assert not {"/healthz", "/readyz", "/metrics"} & set(spec["paths"])


class TestMetrics:
    async def test_every_metric_is_shown_and_parses(self, http, metrics):
        metrics.add_channel("telegram")
        metrics.set_leader("telegram", True)
        response = await http.get("/metrics")
        families = {f.name: f.type for f in text_string_to_metric_families(response.text)}
        assert METRICS.items() <= families.items()
        samples = await scrape(http)
        assert value(samples, "feedback_bot_leader", channel="telegram") == 1
        assert value(samples, "feedback_bot_outbox_depth", kind="invitations") == 0
        assert ("feedback_bot_digest_lag_seconds", ()) in samples

    async def test_each_metrics_counts_apart(self):
        one, other = Metrics(), Metrics()
        one.update_handled("telegram")
        assert b'feedback_bot_updates_handled_total{channel="telegram"} 1.0' in await one.exposition()
        assert b"feedback_bot_updates_handled_total{" not in await other.exposition()

    async def test_a_survey_answered_through_the_dispatcher_is_counted(self, http, config, store, metrics):
        dispatcher = build_handlers(config, store, tally=metrics).dispatcher
        _, token = await add_dossier(config, store)
        citizen = Citizen(dispatcher)
        await citizen.command("start", token)
        samples = await scrape(http)
        assert value(samples, "feedback_bot_updates_handled_total", channel="telegram") == 1
        assert value(samples, "feedback_bot_answers_stored_total", channel="telegram") == 0
        (satisfied,) = [o.key for r in citizen.last for o in r.options if o.label == "Hài lòng"]
        await citizen.press_key(satisfied)
        await citizen.press_key(satisfied)  # the same button pressed again stores nothing new
        samples = await scrape(http)
        assert value(samples, "feedback_bot_updates_handled_total", channel="telegram") == 3
        assert value(samples, "feedback_bot_answers_stored_total", channel="telegram") == 1

    async def test_the_outbox_delivering_or_failing_is_counted(self, http, config, store, metrics):
        handlers = build_handlers(config, store, tally=metrics)
        for code, chat in (("HS-001", "1001"), ("HS-002", "1002"), ("HS-003", "1003")):
            _, token = await add_dossier(config, store, code, returned=False)
            await Citizen(handlers.dispatcher, chat_id=chat).command("start", token)
            await store.dossiers.mark_returned(code, NOW)
        assert value(await scrape(http), "feedback_bot_outbox_depth", kind="invitations") == 3
        fake = FakeTelegram()
        fake.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
        fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 3600", retry_after=3600)
        channel = TelegramChannel(
            config.telegram,
            handlers.dispatcher,
            store.chats,
            request=fake,
            outbox=store.outbox,
            clock=FakeClock(),
            metrics=metrics,
        )
        errors: list[BaseException | None] = []

        async def fail(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
            errors.append(context.error)

        channel.application.add_error_handler(fail)
        async with channel.application:
            result = await handlers.invitations.send({"telegram": channel}, NOW, WEEK)
        assert errors == []
        assert (result.sent, result.unreachable, result.retrying) == (1, 1, 1)
        samples = await scrape(http)
        assert value(samples, "feedback_bot_messages_sent_total", channel="telegram") == 1
        assert value(samples, "feedback_bot_messages_failed_total", channel="telegram", reason="blocked") == 1
        assert value(samples, "feedback_bot_messages_failed_total", channel="telegram", reason="flood") == 1
        assert value(samples, "feedback_bot_outbox_depth", kind="invitations") == 1  # the one retried

    async def test_zalo_replies_and_sends_are_counted_with_why_they_failed(self, config, store, metrics):
        dispatcher = build_handlers(config, store, tally=metrics).dispatcher
        zalo = FakeZalo()
        channel = ZaloChannel(zalo.client(), dispatcher, store.chats, outbox=store.outbox, metrics=metrics)
        message = {"from": {"id": "u1"}, "chat": {"id": "u1", "chat_type": "PRIVATE"}, "text": "xin chào"}
        await channel.answer_update({"event_name": "message.text.received", "message": message})
        for status in (403, 400, 503):
            zalo.faults = [(status, status, "no")]
            await channel.send("u2", Reply("Xin chào"))
        await channel.stop()
        found = parsed((await metrics.exposition()).decode())
        assert value(found, "feedback_bot_updates_handled_total", channel="zalo") == 1
        assert value(found, "feedback_bot_messages_sent_total", channel="zalo") == 1
        for reason in ("blocked", "refused", "error"):
            assert value(found, "feedback_bot_messages_failed_total", channel="zalo", reason=reason) == 1

    async def test_zns_templates_and_ratings_are_counted(self, config, store, metrics):
        dossier = await returned_with_phone(store)
        client = FakeClient(errors=[
            NoZaloAccount(-118, "no account"), QuotaExhausted(-1139, "quota"),
            TemplateRejected(-1123, "too long"), RateLimited(-32, "slow down"),
        ])  # fmt: skip
        zns = ZnsSender(client, store.zalo_oa, SETTINGS, metrics=metrics)  # type: ignore[arg-type]
        for n, phone in enumerate(("84900000001", "84900000002", "84900000003", "84900000004", PHONE)):
            await zns.send_template(TemplatePurpose.RATING, phone, {}, f"invitation-{n}", dossier_id=dossier)
        handlers = build_handlers(config, store, tally=metrics)
        handlers.ratings.scale = rating_scale(SETTINGS)
        ratings = ZnsRatings(client, store.zalo_oa, SETTINGS, handlers.ratings)  # type: ignore[arg-type]
        client.rated = [{"rate": 5, "msgId": "zmsg-1", "trackingId": "invitation-4"}]
        now = datetime.now(UTC)
        assert await ratings.fetch(now - timedelta(days=1), now) == 1
        found = parsed((await metrics.exposition()).decode())
        assert value(found, "feedback_bot_messages_sent_total", channel="zns") == 1
        for reason in ("no_account", "quota", "refused", "error"):
            assert value(found, "feedback_bot_messages_failed_total", channel="zns", reason=reason) == 1
        assert value(found, "feedback_bot_answers_stored_total", channel="zns") == 1

    async def test_digest_lag_grows_past_the_digest_time_until_every_digest_went(
        self, config, store, metrics
    ):
        gauges = backlog(config, store)  # digests at 07:30 in Ho Chi Minh City: 00:30 UTC
        before = NOW.replace(hour=0, minute=10)
        assert await gauges.digest_lag(before) == 0
        assert await gauges.digest_lag(NOW) == timedelta(hours=2, minutes=30).total_seconds()
        handlers = build_handlers(config, store)
        await handlers.digests.send({"telegram": RecordingSender()}, NOW, config.digest.show)
        assert await gauges.digest_lag(NOW) == 0

    async def test_a_digest_being_sent_still_is_late(self, config, store):
        gauges = backlog(config, store)
        today = NOW.astimezone(config.zone).date()
        await store.digests.claim_digest("Q3", today, NOW, lease=timedelta(minutes=10))  # a sender under way
        await build_handlers(config, store).digests.send({"telegram": RecordingSender()}, NOW, 5)
        later = NOW + timedelta(minutes=1)
        assert await gauges.digest_lag(later) == timedelta(hours=2, minutes=31).total_seconds()


def test_the_channels_a_config_sets_up(tmp_path):
    assert chat_channels(make_config(tmp_path)) == ["telegram"]
    assert chat_channels(make_config(tmp_path, telegram={"username": "TestNameBot"})) == []


async def test_a_scrape_answers_at_once_when_the_database_hangs(monkeypatch):
    import asyncio as aio
    import time as clock

    from bot import metrics as metrics_module

    class HangingBacklog:
        async def depths(self):
            await aio.sleep(30)

        async def digest_lag(self, now):
            await aio.sleep(30)

    monkeypatch.setattr(metrics_module, "SCRAPE_READ_SECONDS", 0.05)
    metrics = metrics_module.Metrics(HangingBacklog())  # type: ignore[arg-type]
    metrics.set_leader("telegram", True)
    started = clock.monotonic()
    text = (await metrics.exposition()).decode()
    assert clock.monotonic() - started < 5
    assert 'feedback_bot_leader{channel="telegram"} 1.0' in text
