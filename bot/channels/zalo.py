"""The Zalo channel, on the Zalo Bot Platform's HTTP API: long polling (one update a call; error
408 means nothing new), no buttons (options are numbered and typed), 2,000 UTF-16 code units a message
(as JavaScript counts a string: an emoji such as "😡" takes two)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from aiohttp import web

from bot.channels.ordering import ChatOrder
from bot.channels.pacing import REPLY_PATIENCE, SEND_PATIENCE, Clock, LoopClock
from bot.channels.refusals import RefusalLog
from bot.metrics import Metrics
from handlers.chat import Address, Delivery, Incoming, Kind, Reply, split_text
from handlers.dispatch import Dispatcher
from handlers.typed import number_replies, remember_shown
from storage.base import ChatRepository, OutboxRepository

log = logging.getLogger(__name__)

CHANNEL = "zalo"
MAX_TEXT = 2000
POLL_SECONDS = 30
HANDLING_AT_ONCE = 64  # updates answered at the same time (different chats)
HANDLING_QUEUED = 1000  # updates taken in and not yet answered before polling waits
STOP_GRACE_SECONDS = 10
# A webhook update is a message of at most 2,000 characters with a few ids: 64 KB is plenty, and a
# larger body is refused before it is read.
MAX_WEBHOOK_BODY = 64 * 1024


class ZaloError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code, self.description = code, description


class ZaloClient:
    """The few Bot API calls the bot makes. `transport` lets tests put httpx.MockTransport here."""

    def __init__(
        self,
        base_url: str,
        token: str,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._url = f"{base_url}{token}/"
        self._http = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(POLL_SECONDS + 15))
        self.clock: Clock = clock or LoopClock()

    async def call(self, method: str, **params: Any) -> Any:
        response = await self._http.post(self._url + method, json=params)
        try:
            data = response.json()
        except ValueError as exc:
            raise ZaloError(response.status_code, "the answer is not JSON") from exc
        if data.get("ok"):
            return data.get("result")
        raise ZaloError(int(data.get("error_code") or response.status_code), str(data.get("description", "")))

    async def next_update(self, wait: int = POLL_SECONDS) -> dict[str, Any] | None:
        """The next update, or None when the poll waited `wait` seconds for nothing (error 408)."""
        try:
            update = await self.call("getUpdates", timeout=wait)
        except ZaloError as exc:
            if exc.code == 408:
                return None
            raise
        return update if isinstance(update, dict) else None

    async def send_message(self, chat_id: str, text: str, patience: timedelta = SEND_PATIENCE) -> None:
        """Sends one message; flood control (429) is waited out and tried again, for `patience` in
        all, after which its ZaloError is raised."""
        deadline = self.clock.time() + patience.total_seconds()
        while True:
            try:
                await self.call("sendMessage", chat_id=chat_id, text=text)
                return
            except ZaloError as exc:
                if exc.code != 429:
                    raise
                wait = float(m.group(1)) if (m := re.search(r"retry after (\d+)", exc.description)) else 1.0
                if self.clock.time() + wait > deadline:
                    raise
                log.info("zalo: flood control, retrying in %.1f s", wait)
                await self.clock.sleep(wait)

    async def close(self) -> None:
        await self._http.aclose()


def _object(value: Any) -> dict[str, Any]:
    """A JSON object of an update, or an empty one where the update has something else."""
    return value if isinstance(value, dict) else {}


def _is_id(value: object) -> bool:
    """Zalo ids are strings (numbers are taken too); anything else in an update is no chat."""
    return (
        isinstance(value, str | int)
        and not isinstance(value, bool)
        and value != 0
        and 0 < len(str(value)) <= 64
    )


def incoming_from(update: dict[str, Any]) -> Incoming | None:
    """What a Zalo update means to the handlers; None for updates the bot ignores."""
    message = _object(update.get("message"))
    chat = _object(message.get("chat"))
    sender = _object(message.get("from"))
    if not _is_id(chat.get("id")) or chat.get("chat_type", "PRIVATE") != "PRIVATE":
        return None
    address = Address(CHANNEL, str(chat["id"]))
    sender_id = sender.get("id") if _is_id(sender.get("id")) else chat["id"]
    common: dict[str, Any] = {"address": address, "sender_id": str(sender_id),
                              "received_at": datetime.now(UTC), "language_hint": "vi"}  # fmt: skip
    text = message.get("text")
    if update.get("event_name") == "message.text.received" and isinstance(text, str):
        stripped = text.strip()
        if stripped.startswith("/") and len(stripped) > 1:
            name, _, rest = stripped[1:].partition(" ")
            return Incoming(kind=Kind.COMMAND, command=name, text=rest.strip(), **common)
        return Incoming(kind=Kind.TEXT, text=text, **common)
    return Incoming(kind=Kind.UNSUPPORTED, **common)


@dataclass(frozen=True)
class Webhook:
    """Where Zalo posts updates (`url`, public) and where this process listens for them."""

    url: str
    secret: str
    listen: str = "127.0.0.1"
    port: int = 8443


class ZaloChannel:
    def __init__(
        self,
        client: ZaloClient,
        dispatcher: Dispatcher,
        chats: ChatRepository,
        webhook: Webhook | None = None,
        outbox: OutboxRepository | None = None,
        *,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.client = client
        self.dispatcher = dispatcher
        self.chats = chats
        self.webhook = webhook
        self.outbox = outbox  # where answers that never got through are recorded
        self.metrics = metrics or Metrics()  # counts what is sent, and what is not and why
        self._polling: asyncio.Task[None] | None = None
        self._name = "?"  # the bot's account name, once started
        self._server: web.AppRunner | None = None
        self._handling: set[asyncio.Task[None]] = set()
        self._order = ChatOrder()
        self._slots = asyncio.Semaphore(HANDLING_AT_ONCE)
        self._refusals = RefusalLog(
            log, "zalo webhook", (clock or LoopClock()).time
        )  # refusals counted by the minute

    async def start(self) -> None:
        """Checks the token (getMe); in webhook mode, listens and registers the webhook. Polling is
        started apart (`start_polling`), by the process elected to poll."""
        me = await self.client.call("getMe")
        self._name = name = (me or {}).get("account_name", "?")
        if self.webhook is None:
            return
        app = web.Application(client_max_size=MAX_WEBHOOK_BODY)
        app.router.add_post(urlsplit(self.webhook.url).path or "/", self.receive)
        self._server = web.AppRunner(app, access_log=None)
        await self._server.setup()
        await web.TCPSite(self._server, self.webhook.listen, self.webhook.port).start()
        await self.client.call("setWebhook", url=self.webhook.url, secret_token=self.webhook.secret)
        log.info("zalo: webhook for %s on %s:%s", name, self.webhook.listen, self.webhook.port)

    async def receive(self, request: web.Request) -> web.Response:
        """A webhook call: refused unless it carries our secret, then read (at most
        MAX_WEBHOOK_BODY bytes) and parsed; answered at once, handled after. Refusals are logged
        at most once a minute per address, with a count of the rest."""
        assert self.webhook is not None
        self._refusals.summarise()
        given = request.headers.get("X-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), self.webhook.secret.encode()):
            return self._refuse(request, 403, "wrong secret")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._refuse(request, 413, f"body over {MAX_WEBHOOK_BODY} bytes")
        try:
            update = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: arrays or objects nested too deep
            return self._refuse(request, 400, "not JSON")
        if not isinstance(update, dict):
            return self._refuse(request, 400, "not an update")
        self._take(update)
        return web.json_response({"ok": True})

    def _refuse(self, request: web.Request, status: int, reason: str) -> web.Response:
        self._refusals.refused(request.remote, reason)
        return web.json_response({"ok": False}, status=status)

    def _take(self, update: dict[str, Any]) -> None:
        """Answers an update in the background: after the same chat's earlier ones, beside others'.
        Updates the bot ignores (groups, malformed ones) are dropped here."""
        incoming = incoming_from(update)
        if incoming is None:
            return
        task = asyncio.create_task(self._order.run(incoming.address.chat_id, self._answer_logged(incoming)))
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)

    async def _answer_logged(self, incoming: Incoming) -> None:
        async with self._slots:
            try:
                await self._answer(incoming)
            except Exception:
                log.exception("error while handling a zalo update")

    @property
    def polls(self) -> bool:
        """Whether this channel takes its updates by long polling (not by webhook)."""
        return self.webhook is None

    @property
    def polling(self) -> bool:
        return self._polling is not None

    async def start_polling(self) -> None:
        """Long-polls from now on (this process was elected to poll), in a task of its own."""
        if self._polling is None:
            self._polling = asyncio.create_task(self._poll(), name="zalo-polling")
            log.info("zalo: polling as %s", self._name)

    async def stop_polling(self) -> None:
        """Stops long polling (this process no longer leads); sending and answering go on."""
        if self._polling is not None:
            self._polling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._polling
            self._polling = None
            log.info("zalo: polling stopped")

    async def stop(self) -> None:
        await self.stop_polling()
        if self._server is not None:
            await self._server.cleanup()
            self._server = None
            self._refusals.close()
        if self._handling:  # answers under way finish (their writes are already safe either way)
            await asyncio.wait(set(self._handling), timeout=STOP_GRACE_SECONDS)
        await self.client.close()

    async def _poll(self) -> None:
        delay = 1.0
        while True:  # getUpdates fails while a webhook is set
            try:
                await self.client.call("deleteWebhook")
                break
            except (httpx.HTTPError, ZaloError) as exc:
                log.warning("zalo polling: cannot delete the webhook: %s; retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60)
        delay = 1.0
        while True:
            try:
                update = await self.client.next_update()
                delay = 1.0
            except (httpx.HTTPError, ZaloError) as exc:
                log.warning("zalo polling: %s; retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60)
                continue
            if update is not None:
                self._take(update)
                while len(self._handling) >= HANDLING_QUEUED:
                    await asyncio.wait(set(self._handling), return_when=asyncio.FIRST_COMPLETED)

    async def answer_update(self, update: dict[str, Any]) -> None:
        """Turns an update into Incoming, lets the dispatcher answer it, and sends the replies."""
        incoming = incoming_from(update)
        if incoming is not None:
            await self._answer(incoming)

    async def _answer(self, incoming: Incoming) -> None:
        replies = await self.dispatcher.handle(incoming)
        chat_id = incoming.address.chat_id
        delivery, error = await self._send(chat_id, replies, conversation=True)
        if delivery in (Delivery.FAILED, Delivery.REFUSED):
            # Never dropped silently: logged, and kept where `feedback-bot outbox` shows it.
            log.error("zalo: the answer to chat %s was not delivered: %s", chat_id, error)
            if self.outbox is not None:
                await self.outbox.record_undelivered_reply(CHANNEL, chat_id, datetime.now(UTC), error or "")

    async def send(self, chat_id: str, *replies: Reply) -> Delivery:
        """Sends replies the bot starts itself (notices, digests): their options numbered on from
        what the person was shown recently; flood control is waited out for SEND_PATIENCE at most,
        then the outbox tries again later."""
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
        """Sends replies as texts, options numbered, each split into messages of at most 2,000
        UTF-16 units, stopping at the first not accepted: SENT only when every one was (with what
        Zalo said, when not). The options of the texts Zalo accepted are remembered for the chat,
        those of a text that did not go through are not (a typed number never means an option
        never seen)."""
        now = datetime.now(UTC)
        address = Address(CHANNEL, chat_id)
        patience = REPLY_PATIENCE if conversation else SEND_PATIENCE
        numbered = await number_replies(self.chats, address, replies, conversation=conversation, now=now)
        sent = 0
        try:
            for message in numbered.texts:
                for piece in split_text(message, MAX_TEXT):
                    await self.client.send_message(chat_id, piece, patience)
                sent += 1
        except ZaloError as exc:
            if exc.code == 403:
                log.info("zalo chat %s blocked the bot; marked unreachable", chat_id)
                await self.chats.mark_unreachable(CHANNEL, chat_id, now)
                return Delivery.UNREACHABLE, str(exc)
            if exc.code == 400:
                log.error("zalo refused a message to chat %s: %s", chat_id, exc)
                return Delivery.REFUSED, f"refused: {exc}"
            log.warning("zalo: could not send to chat %s: %s", chat_id, exc)
            return Delivery.FAILED, str(exc)
        except httpx.HTTPError as exc:
            log.warning("zalo: could not send to chat %s: %s", chat_id, exc)
            return Delivery.FAILED, str(exc) or type(exc).__name__
        finally:
            await remember_shown(self.chats, numbered, sent, now)
        return Delivery.SENT, None
