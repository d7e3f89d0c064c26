"""The running bot's metrics, served as Prometheus text at GET /metrics: counters of what the
channels and handlers did, gauges read from storage when scraped (the outbox's depth, how late
today's digests are), and whether this process leads each channel's polling.

One `Metrics` per process (or per app in tests), each with its own registry, never the global one:
tests that build many apps never see each other's counts. Handlers count through the Tally seam
(handlers/tally.py), which `Metrics` fulfils."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from handlers.chat import Delivery
from handlers.templates import TemplateDelivery
from handlers.throttled_log import ThrottledLog
from storage.base import Storage
from storage.records import DigestStatus, OutboxStatus

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger(__name__)

# The text format generate_latest writes for names such as ours, which every Prometheus reads (the
# library's CONTENT_TYPE_LATEST names version 1.0.0 from 0.22 on).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEPTH_LIMIT = 10_000  # items of each kind counted at a scrape; a deeper outbox shows this many
# Why a batch of messages was not delivered, as the failure counter's `reason` label says it.
REASONS = {
    Delivery.UNREACHABLE: "blocked",  # the chat blocked the bot or does not exist: not tried again
    Delivery.REFUSED: "refused",  # the platform refused the message itself: not tried again
    Delivery.FAILED: "error",  # an outage, a server error: tried again later
}
# Why a template message (ZNS) was not delivered.
TEMPLATE_REASONS = {
    TemplateDelivery.NO_ACCOUNT: "no_account",  # no Zalo account on the phone: not tried again
    TemplateDelivery.REFUSED: "refused",  # the template or a field was refused: given up
    TemplateDelivery.QUOTA: "quota",  # the day's quota is used up: tried again the next day
    TemplateDelivery.FAILED: "error",  # a failure that may pass: tried again later
}
FLOOD = "flood"  # flood control outlasted the patience (a channel that tells it apart says so)
# A digest in these states is settled for the day: sent, nothing to report, or given up.
SETTLED_DIGESTS = (DigestStatus.SENT, DigestStatus.EMPTY, DigestStatus.FAILED, DigestStatus.UNREACHABLE)
SCRAPE_READ_SECONDS = 1.0  # the storage gauges' reads, at most, in a scrape
SCRAPE_FAILURES = ThrottledLog(log)


@dataclass(frozen=True)
class Backlog:
    """The gauges read from storage at each scrape: what waits in the outboxes, and how late today's
    digests are (the digest time is local, in `zone`)."""

    store: Storage
    zone: ZoneInfo
    digest_time: tuple[int, int]

    async def depths(self) -> dict[str, int]:
        """Pending items (due now or later, retries included) of each kind, at most DEPTH_LIMIT."""
        outbox, pending = self.store.outbox, (OutboxStatus.PENDING,)
        return {
            "invitations": len(await outbox.list_invitations(pending, limit=DEPTH_LIMIT)),
            "notices": len(await outbox.list_notices(pending, limit=DEPTH_LIMIT)),
            "letters": len(await self.store.letters.pending_letter_deliveries(limit=DEPTH_LIMIT)),
        }

    async def digest_lag(self, now: datetime) -> float:
        """Seconds since today's digest time while a unit's digest of today is not settled (not
        recorded yet, being sent, or retrying); 0 when all are, or before the digest time."""
        today = now.astimezone(self.zone).date()
        due = datetime.combine(today, time(*self.digest_time), self.zone)
        if now < due:
            return 0.0
        records = await self.store.digests.list_digests(tuple(DigestStatus), since=today)
        settled = {r.unit_code for r in records if r.day == today and r.status in SETTLED_DIGESTS}
        units = await self.store.directory.list_units()
        if all(unit.code in settled for unit in units):
            return 0.0
        return (now - due).total_seconds()


class Metrics:
    """The registry and every metric of one process; a Tally for the handlers."""

    def __init__(self, backlog: Backlog | None = None) -> None:
        # Imported here: the commands that serve no metrics need not load the library (35 ms).
        from prometheus_client import CollectorRegistry, Counter, Gauge

        self.registry: CollectorRegistry = CollectorRegistry()
        self.backlog = backlog
        by_channel = ["channel"]
        self.updates = Counter(
            "feedback_bot_updates_handled",
            "Messages, button presses and webhook events a channel handed to the handlers",
            by_channel,
            registry=self.registry,
        )
        self.answers = Counter(
            "feedback_bot_answers_stored",
            "Citizens' ratings stored: the first answer of a survey, or a rating given in a ZNS template",
            by_channel,
            registry=self.registry,
        )
        self.sent = Counter(
            "feedback_bot_messages_sent",
            "Batches of messages (a reply, an invitation, a digest...) the platform accepted whole",
            by_channel,
            registry=self.registry,
        )
        self.failed = Counter(
            "feedback_bot_messages_failed",
            "Batches of messages not delivered, by reason: blocked, refused (both given up), "
            "flood or error (tried again later)",
            ["channel", "reason"],
            registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "feedback_bot_outbox_depth",
            f"Items waiting in an outbox now (due or not, retries included; at most {DEPTH_LIMIT:,})",
            ["kind"],
            registry=self.registry,
        )
        self.digest_lag = Gauge(
            "feedback_bot_digest_lag_seconds",
            "Seconds since today's digest time while a unit's digest of today is not settled; 0 otherwise",
            registry=self.registry,
        )
        self.leader = Gauge(
            "feedback_bot_leader",
            "1 where this process polls the channel (its leader), else 0",
            by_channel,
            registry=self.registry,
        )

    def add_channel(self, channel: str) -> None:
        """Shows the channel's counters at 0 before anything happened on it."""
        for counter in (self.updates, self.answers, self.sent):
            counter.labels(channel)

    # The Tally of the handlers

    def update_handled(self, channel: str) -> None:
        self.updates.labels(channel).inc()

    def answer_stored(self, channel: str) -> None:
        self.answers.labels(channel).inc()

    # The channels

    def delivered(self, channel: str, delivery: Delivery, reason: str | None = None) -> None:
        """Counts a batch of messages sent, or not delivered (for `reason`, else the delivery's)."""
        if delivery == Delivery.SENT:
            self.sent.labels(channel).inc()
        else:
            self.failed.labels(channel, reason or REASONS[delivery]).inc()

    def template_delivered(self, channel: str, delivery: TemplateDelivery) -> None:
        """Counts a template message (ZNS) sent, or not delivered and why."""
        if delivery == TemplateDelivery.SENT:
            self.sent.labels(channel).inc()
        else:
            self.failed.labels(channel, TEMPLATE_REASONS[delivery]).inc()

    def set_leader(self, channel: str, leading: bool) -> None:
        """Whether this process is the one polling `channel` (the leader elected among several)."""
        self.leader.labels(channel).set(1 if leading else 0)

    # Scraping

    async def exposition(self, now: datetime | None = None) -> bytes:
        """The metrics in Prometheus' text format, the storage gauges read now. When storage does
        not answer within SCRAPE_READ_SECONDS, they keep the values of the last scrape that read them
        (and it is logged): a scrape during an outage still answers at once, leader gauge and all."""
        if self.backlog is not None:
            try:
                async with asyncio.timeout(SCRAPE_READ_SECONDS):
                    depths = await self.backlog.depths()
                    lag = await self.backlog.digest_lag(now or datetime.now(UTC))
            except Exception:
                SCRAPE_FAILURES.exception("metrics: the outbox and digests could not be read")
            else:
                for kind, depth in depths.items():
                    self.outbox_depth.labels(kind).set(depth)
                self.digest_lag.set(lag)
        from prometheus_client import generate_latest

        return generate_latest(self.registry)
