"""The Zalo channel, on the Zalo Bot Platform's HTTP API: long polling (one update a call; error
408 means nothing new), no buttons (options are numbered and typed), 2,000 characters a message."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from datetime import UTC, datetime
from typing import Any

import httpx

from handlers.chat import Address, Delivery, Incoming, Kind, Reply, numbered, split_text
from handlers.dispatch import Dispatcher

log = logging.getLogger(__name__)

CHANNEL = "zalo"
MAX_TEXT = 2000
MAX_RETRIES_ON_FLOOD = 5
POLL_SECONDS = 30


class ZaloError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code, self.description = code, description


class ZaloClient:
    """The few Bot API calls the bot makes. `transport` lets tests put httpx.MockTransport here."""

    def __init__(self, base_url: str, token: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._url = f"{base_url}{token}/"
        self._http = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(POLL_SECONDS + 15))

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

    async def send_message(self, chat_id: str, text: str) -> None:
        """Sends one message; flood control (429) is waited out and tried again."""
        for attempt in range(MAX_RETRIES_ON_FLOOD + 1):
            try:
                await self.call("sendMessage", chat_id=chat_id, text=text)
                return
            except ZaloError as exc:
                if exc.code != 429 or attempt == MAX_RETRIES_ON_FLOOD:
                    raise
                wait = float(m.group(1)) if (m := re.search(r"retry after (\d+)", exc.description)) else 1.0
                log.info("zalo: flood control, retrying in %.1f s", wait)
                await asyncio.sleep(wait)

    async def close(self) -> None:
        await self._http.aclose()


def incoming_from(update: dict[str, Any]) -> Incoming | None:
    """What a Zalo update means to the handlers; None for updates the bot ignores."""
    message = update.get("message") or {}
    chat = message.get("chat") or {}
    sender = message.get("from") or {}
    if not chat.get("id") or chat.get("chat_type", "PRIVATE") != "PRIVATE":
        return None
    address = Address(CHANNEL, str(chat["id"]))
    common: dict[str, Any] = {"address": address, "sender_id": str(sender.get("id", chat["id"])),
                              "received_at": datetime.now(UTC), "language_hint": "vi"}  # fmt: skip
    text = message.get("text")
    if update.get("event_name") == "message.text.received" and isinstance(text, str):
        stripped = text.strip()
        if stripped.startswith("/") and len(stripped) > 1:
            name, _, rest = stripped[1:].partition(" ")
            return Incoming(kind=Kind.COMMAND, command=name, text=rest.strip(), **common)
        return Incoming(kind=Kind.TEXT, text=text, **common)
    return Incoming(kind=Kind.UNSUPPORTED, **common)


class ZaloChannel:
    def __init__(self, client: ZaloClient, dispatcher: Dispatcher) -> None:
        self.client = client
        self.dispatcher = dispatcher
        self._polling: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Checks the token (getMe) and starts long polling."""
        me = await self.client.call("getMe")
        log.info("zalo: polling as %s", (me or {}).get("account_name", "?"))
        self._polling = asyncio.create_task(self._poll(), name="zalo-polling")

    async def stop(self) -> None:
        if self._polling is not None:
            self._polling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._polling
            self._polling = None
        await self.client.close()

    async def _poll(self) -> None:
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
                try:
                    await self.answer_update(update)
                except Exception:
                    log.exception("error while handling a zalo update")

    async def answer_update(self, update: dict[str, Any]) -> None:
        """Turns an update into Incoming, lets the dispatcher answer it, and sends the replies."""
        incoming = incoming_from(update)
        if incoming is None:
            return
        for reply in await self.dispatcher.handle(incoming):
            if await self.send(incoming.address.chat_id, reply) == Delivery.UNREACHABLE:
                break

    async def send(self, chat_id: str, reply: Reply) -> Delivery:
        """Sends a reply as text, options numbered, split into messages of at most 2,000 characters."""
        try:
            for piece in split_text(numbered(reply), MAX_TEXT):
                await self.client.send_message(chat_id, piece)
        except ZaloError as exc:
            if exc.code == 403:
                log.info("zalo chat %s blocked the bot; marked unreachable", chat_id)
                await self.dispatcher.store.mark_unreachable(CHANNEL, chat_id, datetime.now(UTC))
                return Delivery.UNREACHABLE
            log.warning("zalo: could not send to chat %s: %s", chat_id, exc)
            return Delivery.FAILED
        except httpx.HTTPError as exc:
            log.warning("zalo: could not send to chat %s: %s", chat_id, exc)
            return Delivery.FAILED
        return Delivery.SENT
