"""ZNS through the OA: the template sender the handlers use (handlers/templates.py) and the ratings
that come back.

Sending: each purpose (`rating`, `apology`, `resolution`) is the config's template of that name,
its parameters filled from the fields handlers give. Every message is recorded with its tracking
id (which the handlers make from their outbox row, so a retry carries the same one, never the
phone or the dossier's code) before it is sent, so that a rating or a delivery receipt finds its
dossier, and a message Zalo accepted is never sent again for the same tracking id. A phone Zalo
says has no account (-118) is remembered and not tried again. The day's quota is kept as Zalo
last reported it: when less than RESERVE of it is left, invitations wait for the next day while
apology letters and resolutions still go.

Ratings: a `user_feedback` event, or a rating fetched from /rating/get (at start and every hour:
those given while the bot was down), becomes its dossier's answer (handlers/template_ratings.py);
one for a template that is not the configured rating template, or a tracking id this bot did not
send, is logged and ignored."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.channels.zalo_oa.client import (
    BadPhone,
    NoZaloAccount,
    QuotaExhausted,
    TemplateRejected,
    ZaloOAClient,
    ZaloOAError,
)
from bot.channels.zalo_oa.webhook import UserFeedback
from bot.config import ZaloOAConfig
from bot.metrics import Metrics
from handlers.template_ratings import RatingOutcome, RatingScale, TemplateRating, TemplateRatings
from handlers.templates import ZNS, TemplateDelivery, TemplatePurpose, TemplateResult
from storage.base import ZaloOARepository
from storage.records import Rating
from storage.zalo_oa_records import ZnsStatus

log = logging.getLogger(__name__)

RESERVE = 0.2  # of the day's quota, kept for apology letters and resolutions
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")  # Zalo counts the quota by Vietnam's day
FETCH_EVERY = timedelta(hours=1)
FETCH_BACK = timedelta(days=7)  # the first fetch looks this far back
FETCH_PAGE = 100


def rating_scale(settings: ZaloOAConfig) -> RatingScale:
    """The config's stars and chips, as the handlers read them."""
    levels = {star: Rating(level) for level, stars in settings.stars.items() for star in stars}
    return RatingScale(levels, dict(settings.chips))


class ZnsSender:
    """Sends the configured ZNS templates (handlers.templates.TemplateSender)."""

    def __init__(
        self,
        client: ZaloOAClient,
        store: ZaloOARepository,
        settings: ZaloOAConfig,
        zone: ZoneInfo = ZONE,
        prefix: str = "",
        metrics: Metrics | None = None,
    ) -> None:
        self.client = client
        self.metrics = metrics or Metrics()  # counts the templates sent, and those not and why
        self.store = store
        self.settings = settings
        self.zone = zone  # Zalo's day, by which the quota is counted
        self.prefix = prefix  # this install's, so another database's tracking ids never collide
        self._quota: tuple[int, int, datetime] | None = None  # daily, remaining, as of

    async def load_quota(self) -> None:
        """The last quota known, from the database (a restart keeps the day's count)."""
        known = await self.store.zns_quota()
        if known is not None:
            self._quota = (known.daily, known.remaining, known.as_of)

    def has_template(self, purpose: TemplatePurpose) -> bool:
        return purpose.value in self.settings.templates

    def saving_quota(self) -> bool:
        if self._quota is None:
            return False
        daily, remaining, as_of = self._quota
        if as_of.astimezone(self.zone).date() != datetime.now(self.zone).date():
            return False  # a new day (Zalo's quota is daily): not known to be low
        return remaining <= 0 or remaining < daily * RESERVE

    async def send_template(
        self,
        purpose: TemplatePurpose,
        phone: str,
        fields: Mapping[str, str],
        tracking_id: str,
        *,
        dossier_id: int | None = None,
    ) -> TemplateResult:
        """Sends the template (see `_send_template`), counted in the metrics."""
        result = await self._send_template(purpose, phone, fields, tracking_id, dossier_id=dossier_id)
        self.metrics.template_delivered(ZNS, result.delivery)
        return result

    async def _send_template(
        self,
        purpose: TemplatePurpose,
        phone: str,
        fields: Mapping[str, str],
        tracking_id: str,
        *,
        dossier_id: int | None,
    ) -> TemplateResult:
        template = self.settings.templates.get(purpose.value)
        tracking_id = f"{self.prefix}{tracking_id}"
        if template is None:
            return TemplateResult(TemplateDelivery.REFUSED, error=f"no {purpose.value} template configured")
        if await self.store.phone_without_zalo(phone):
            return TemplateResult(TemplateDelivery.NO_ACCOUNT)
        now = datetime.now(UTC)
        known = await self.store.zns_message(tracking_id)
        if known is not None and known.status in (ZnsStatus.SENT, ZnsStatus.DELIVERED):
            # Accepted before (a crash between Zalo's answer and the outbox's record): not again.
            return TemplateResult(TemplateDelivery.SENT, known.msg_id)
        if known is None:
            await self.store.add_zns_message(
                purpose=purpose.value, dossier_id=dossier_id, template_id=template.id,
                tracking_id=tracking_id, phone=phone, now=now,
            )  # fmt: skip
        params = {name: fields.get(field, "") for name, field in template.params.items()}
        try:
            sent = await self.client.send_template(phone, template.id, params, tracking_id)
        except NoZaloAccount:
            await self.store.mark_phone_without_zalo(phone, now)
            await self.store.mark_zns_failed(tracking_id, "no Zalo account on this phone", now)
            return TemplateResult(TemplateDelivery.NO_ACCOUNT)
        except QuotaExhausted as exc:
            await self._note_quota(self._quota[0] if self._quota else 0, 0, now)
            return TemplateResult(TemplateDelivery.QUOTA, error=str(exc))
        except (TemplateRejected, BadPhone) as exc:
            await self.store.mark_zns_failed(tracking_id, str(exc), now)
            return TemplateResult(TemplateDelivery.REFUSED, error=str(exc))
        except ZaloOAError as exc:
            if exc.transient:
                return TemplateResult(TemplateDelivery.FAILED, error=str(exc))
            await self.store.mark_zns_failed(tracking_id, str(exc), now)
            return TemplateResult(TemplateDelivery.REFUSED, error=str(exc))
        await self.store.mark_zns_sent(tracking_id, sent.msg_id, now)
        if sent.daily_quota is not None and sent.remaining_quota is not None:
            await self._note_quota(sent.daily_quota, sent.remaining_quota, now)
        return TemplateResult(TemplateDelivery.SENT, sent.msg_id)

    async def _note_quota(self, daily: int, remaining: int, now: datetime) -> None:
        self._quota = (daily, remaining, now)
        await self.store.save_zns_quota(daily, remaining, now)


class ZnsRatings:
    """Takes ratings from the webhook and from /rating/get, as answers."""

    def __init__(
        self, client: ZaloOAClient, store: ZaloOARepository, settings: ZaloOAConfig, ratings: TemplateRatings
    ) -> None:
        self.client = client
        self.store = store
        self.settings = settings
        self.ratings = ratings
        self._fetching: asyncio.Task[None] | None = None

    @property
    def template_id(self) -> str | None:
        template = self.settings.templates.get(TemplatePurpose.RATING.value)
        return template.id if template is not None else None

    async def take(self, event: UserFeedback) -> None:
        """A `user_feedback` event (the webhook checked and took it in once)."""
        given = event.message
        await self.record(
            given.template_id, given.tracking_id, given.msg_id, given.rate, tuple(given.feedbacks),
            given.note, _moment(given.submit_time),
        )  # fmt: skip

    async def record(
        self,
        template_id: str | None,
        tracking_id: str | None,
        msg_id: str,
        stars: int,
        chips: tuple[str, ...],
        note: str,
        rated_at: datetime | None,
    ) -> RatingOutcome | None:
        """One rating as its dossier's answer; None when it is not one of this bot's."""
        if template_id is not None and template_id != self.template_id:
            log.info(
                "zalo_oa: a rating for template %s, which is not the rating template; ignored", template_id
            )
            return None
        sent = await self.store.zns_message(tracking_id) if tracking_id else None
        if sent is None and msg_id:
            sent = await self.store.zns_message_by_msg_id(msg_id)
        foreign = sent is not None and bool(msg_id) and sent.msg_id is not None and sent.msg_id != msg_id
        if sent is None or sent.dossier_id is None or sent.purpose != TemplatePurpose.RATING.value or foreign:
            log.warning("zalo_oa: a rating (message %s) for no rating this bot sent; ignored", msg_id[:64])
            return None
        rating = TemplateRating(sent.dossier_id, stars, chips, note, msg_id, rated_at)
        return await self.ratings.record(rating, datetime.now(UTC))

    def start(self) -> None:
        """Fetches the ratings given while the bot was down, now and every hour."""
        if self.template_id is not None:
            self._fetching = asyncio.create_task(self._keep_fetching(), name="zalo_oa-ratings")

    async def stop(self) -> None:
        if self._fetching is not None:
            self._fetching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._fetching
            self._fetching = None

    async def _keep_fetching(self) -> None:
        since = datetime.now(UTC) - FETCH_BACK
        while True:
            until = datetime.now(UTC)
            try:
                taken = await self.fetch(since, until)
                if taken:
                    log.info("zalo_oa: %s ratings fetched from Zalo became answers", taken)
                since = until - timedelta(minutes=5)  # overlapping: a rating at the edge is not missed
            except ZaloOAError as exc:
                log.warning("zalo_oa: fetching ratings failed (%s); trying again in an hour", exc)
            except Exception:
                log.exception("zalo_oa: fetching ratings failed; trying again in an hour")
            await asyncio.sleep(FETCH_EVERY.total_seconds())

    async def fetch(self, since: datetime, until: datetime) -> int:
        """Takes every rating given between the two times; how many became answers."""
        template_id = self.template_id
        if template_id is None:
            return 0
        taken, offset = 0, 0
        while True:
            page = await self.client.ratings(
                template_id, int(since.timestamp() * 1000), int(until.timestamp() * 1000), offset, FETCH_PAGE
            )
            rows: list[Any] = page.get("data") or []
            for row in rows:
                if not isinstance(row, dict):
                    continue
                outcome = await self.record(
                    template_id, _text(row.get("trackingId")), _text(row.get("msgId")) or "",
                    _stars(row.get("rate")), tuple(_text(c) or "" for c in row.get("feedbacks") or ()),
                    _text(row.get("note")) or "", _moment(_text(row.get("submitDate"))),
                )  # fmt: skip
                taken += outcome == RatingOutcome.RECORDED
            offset += len(rows)
            if len(rows) < FETCH_PAGE or offset >= int(page.get("total") or 0):
                return taken


def _text(value: object) -> str | None:
    return str(value)[:2000] if value is not None else None


def _stars(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def _moment(milliseconds: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(milliseconds or "") / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None
