"""The OA chat: what followers write to the Official Account goes to the same Dispatcher as every
channel's messages (channel "zalo_oa", the chat id the follower's user id); replies go out as
customer-service texts with numbered options, typed back as on the Zalo Bot Platform.

Zalo's refusals: -230 (the follower's last message is over 48 hours old) refuses the message for
good (only ZNS reaches them now); -213 (unfollowed) marks the chat unreachable, as a block does on
the other channels; -32 (rate limit) is waited out for the send's patience; a network error, a
5xx or no usable token is a passing failure the outbox tries again. Webhook events are taken in
once each (storage), the last one is what `feedback-bot zalo-oa status` shows, and the answer to
Zalo does not wait for the dispatcher: a follower's messages are answered in the background, in
order within a chat, beside other chats."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from bot.channels.ordering import ChatOrder
from bot.channels.pacing import REPLY_PATIENCE, SEND_PATIENCE, Clock, LoopClock
from bot.channels.zalo_oa.client import (
    OutsideWindow,
    RateLimited,
    Unfollowed,
    ZaloOAClient,
    ZaloOAError,
)
from bot.channels.zalo_oa.tokens import TokenKeeper
from bot.channels.zalo_oa.webhook import (
    Follow,
    OAEvent,
    UnknownEvent,
    UserFeedback,
    UserReceivedMessage,
    UserSendSticker,
    UserSendText,
    ZaloOAWebhook,
)
from bot.metrics import Metrics
from handlers.chat import Address, Delivery, Incoming, Kind, Reply, split_text
from handlers.dispatch import Dispatcher
from handlers.typed import number_replies, remember_shown
from storage.base import ChatRepository, OutboxRepository, ZaloOARepository

log = logging.getLogger(__name__)

CHANNEL = "zalo_oa"
MAX_TEXT = 2000  # UTF-16 units of a customer-service text
KEEP_FRESH_SECONDS = 600  # how often the token is looked at while nothing is sent
STOP_GRACE_SECONDS = 10
RATE_LIMIT_WAIT_MAX = 30.0

FeedbackHandler = Callable[[UserFeedback], Awaitable[None]]


def _moment(milliseconds: str | None) -> datetime:
    """A Zalo time in ms since the epoch; now when absent or unreadable."""
    try:
        return datetime.fromtimestamp(int(milliseconds or "") / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return datetime.now(UTC)


def incoming_from(event: UserSendText | UserSendSticker) -> Incoming:
    """What a follower's message means to the handlers."""
    address = Address(CHANNEL, event.sender.id)
    common = {"address": address, "sender_id": event.sender.id, "received_at": datetime.now(UTC),
              "language_hint": "vi"}  # fmt: skip
    if isinstance(event, UserSendText):
        stripped = event.message.text.strip()
        if stripped.startswith("/") and len(stripped) > 1:
            name, _, rest = stripped[1:].partition(" ")
            return Incoming(kind=Kind.COMMAND, command=name, text=rest.strip(), **common)  # type: ignore[arg-type]
        return Incoming(kind=Kind.TEXT, text=event.message.text, **common)  # type: ignore[arg-type]
    return Incoming(kind=Kind.UNSUPPORTED, **common)  # type: ignore[arg-type]


class ZaloOAChannel:
    def __init__(
        self,
        client: ZaloOAClient,
        tokens: TokenKeeper,
        webhook: ZaloOAWebhook,
        dispatcher: Dispatcher,
        chats: ChatRepository,
        store: ZaloOARepository,
        outbox: OutboxRepository | None = None,
        *,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.client = client
        self.tokens = tokens
        self.webhook = webhook
        self.dispatcher = dispatcher
        self.chats = chats
        self.store = store
        self.outbox = outbox  # where answers that never got through are recorded
        self.metrics = metrics or Metrics()  # counts what is sent, and what is not and why
        self.clock: Clock = clock or LoopClock()
        self.on_feedback: FeedbackHandler | None = None  # ZNS ratings, when something takes them
        self._order = ChatOrder()
        self._handling: set[asyncio.Task[None]] = set()
        self._keeping: asyncio.Task[None] | None = None
        webhook.handle = self.take

    async def start(self) -> None:
        """Takes the token pair (seeded from the environment if need be) and keeps it fresh."""
        await self.tokens.start()
        self._keeping = asyncio.create_task(self._keep_fresh(), name="zalo_oa-tokens")
        log.info("zalo_oa: webhook at %s for app %s", self.webhook.path, self.webhook.app_id)

    async def _keep_fresh(self) -> None:
        """Refreshes the token ahead of its expiry while nothing is sent, and tries a failed
        refresh again (the keeper's backoff decides when)."""
        while True:
            try:
                await self.tokens.access_token()
            except ZaloOAError:
                pass  # logged by the keeper, which also decides when to try again
            except Exception:
                log.exception("zalo_oa: keeping the token fresh failed; trying again later")
            await self.clock.sleep(KEEP_FRESH_SECONDS)

    async def stop(self) -> None:
        if self._keeping is not None:
            self._keeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeping
            self._keeping = None
        self.webhook.handle = None
        self.webhook.close()
        if self._handling:
            await asyncio.wait(set(self._handling), timeout=STOP_GRACE_SECONDS)
        await self.client.close()

    async def take(self, event: OAEvent) -> None:
        """A checked webhook event: taken in once (by its key), then acted on; a follower's
        message is answered in the background."""
        now = datetime.now(UTC)
        if not await self.store.record_webhook_event(event.key, event.event_name, now):
            log.info("zalo_oa: a %s event came again; it was handled before", event.event_name)
            return
        if isinstance(event, UserSendText | UserSendSticker):
            self._answer_later(incoming_from(event))
        elif isinstance(event, Follow):
            if event.event_name == "follow":
                await self.chats.mark_reachable(CHANNEL, event.follower.id)
                # A new follower is greeted as a /start without a link would be.
                self._answer_later(Incoming(
                    Address(CHANNEL, event.follower.id), Kind.COMMAND, event.follower.id, now,
                    command="start", language_hint="vi",
                ))  # fmt: skip
            else:
                await self.chats.mark_unreachable(CHANNEL, event.follower.id, now)
        elif isinstance(event, UserReceivedMessage):
            delivered = await self.store.record_zns_delivery(
                event.message.msg_id, _moment(event.message.delivery_time)
            )
            if delivered is None:
                log.info("zalo_oa: a delivery receipt for a ZNS message this bot did not record")
        elif isinstance(event, UserFeedback):
            if self.on_feedback is not None:
                await self.on_feedback(event)
            else:
                log.info("zalo_oa: a ZNS rating arrived; ZNS ratings are not taken as answers yet")
        elif isinstance(event, UnknownEvent):
            log.info("zalo_oa: a %r event was ignored", event.event_name[:64])

    def _answer_later(self, incoming: Incoming) -> None:
        task = asyncio.create_task(self._order.run(incoming.address.chat_id, self._answer_logged(incoming)))
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)

    async def _answer_logged(self, incoming: Incoming) -> None:
        try:
            await self.answer(incoming)
        except Exception:
            log.exception("error while answering a zalo_oa message")

    async def answer(self, incoming: Incoming) -> None:
        """Lets the dispatcher answer what a follower sent, and sends the replies."""
        replies = await self.dispatcher.handle(incoming)
        chat_id = incoming.address.chat_id
        delivery, error = await self._send(chat_id, replies, conversation=True)
        if delivery in (Delivery.FAILED, Delivery.REFUSED):
            log.error("zalo_oa: the answer to chat %s was not delivered: %s", chat_id, error)
            if self.outbox is not None:
                await self.outbox.record_undelivered_reply(CHANNEL, chat_id, datetime.now(UTC), error or "")

    async def send(self, chat_id: str, *replies: Reply) -> Delivery:
        """Sends replies the bot starts itself (notices, digests), options numbered on from what
        the person was shown recently; a rate limit is waited out for SEND_PATIENCE at most."""
        delivery, _ = await self._send(chat_id, replies, conversation=False)
        return delivery

    async def _send(
        self, chat_id: str, replies: Sequence[Reply], *, conversation: bool
    ) -> tuple[Delivery, str | None]:
        """Sends replies (see `_transmit`), counted in the metrics."""
        delivery, error = await self._transmit(chat_id, replies, conversation=conversation)
        if replies:  # an update answered with nothing sent nothing
            self.metrics.delivered(CHANNEL, delivery)
        return delivery, error

    async def _transmit(
        self, chat_id: str, replies: Sequence[Reply], *, conversation: bool
    ) -> tuple[Delivery, str | None]:
        """Sends the replies as texts, each cut into messages of at most 2,000 UTF-16 units,
        stopping at the first not accepted: SENT only when every one was. The options of the texts
        Zalo accepted are remembered for the chat."""
        now = datetime.now(UTC)
        address = Address(CHANNEL, chat_id)
        patience = REPLY_PATIENCE if conversation else SEND_PATIENCE
        numbered = await number_replies(self.chats, address, replies, conversation=conversation, now=now)
        sent = 0
        try:
            for message in numbered.texts:
                for piece in split_text(message, MAX_TEXT):
                    await self._send_text(chat_id, piece, patience)
                sent += 1
        except Unfollowed as exc:
            log.info("zalo_oa chat %s does not follow the OA; marked unreachable", chat_id)
            await self.chats.mark_unreachable(CHANNEL, chat_id, now)
            return Delivery.UNREACHABLE, str(exc)
        except OutsideWindow as exc:
            log.info("zalo_oa chat %s: outside the 48-hour window; only ZNS reaches it now", chat_id)
            return Delivery.REFUSED, f"outside the 48-hour window: {exc}"
        except ZaloOAError as exc:
            if exc.transient or exc.code == 0:
                log.warning("zalo_oa: could not send to chat %s: %s", chat_id, exc)
                return Delivery.FAILED, str(exc)
            log.error("zalo_oa refused a message to chat %s: %s", chat_id, exc)
            return Delivery.REFUSED, f"refused: {exc}"
        finally:
            await remember_shown(self.chats, numbered, sent, now)
        return Delivery.SENT, None

    async def _send_text(self, chat_id: str, text: str, patience: timedelta) -> None:
        """One text; a rate limit (-32) waited out, 1 s then doubling, for `patience` in all."""
        deadline = self.clock.time() + patience.total_seconds()
        wait = 1.0
        while True:
            try:
                await self.client.send_text(chat_id, text)
                return
            except RateLimited:
                if self.clock.time() + wait > deadline:
                    raise
                log.info("zalo_oa: rate limit, retrying in %.0f s", wait)
                await self.clock.sleep(wait)
                wait = min(wait * 2, RATE_LIMIT_WAIT_MAX)
