"""The Telegram channel, on python-telegram-bot: long polling, inline buttons, sending paced per chat
(a chat under flood control waits alone), and answers that never get through recorded."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hmac
import json
import logging
import math
import os
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.constants import MessageLimit
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application, BaseRateLimiter, BaseUpdateProcessor, ContextTypes, TypeHandler
from telegram.request import BaseRequest

from bot.channels.ordering import ChatOrder
from bot.channels.pacing import REPLY_PATIENCE, SEND_PATIENCE, ChatPacer, Clock
from bot.channels.refusals import RefusalLog
from bot.config import TelegramConfig
from bot.metrics import FLOOD, Metrics
from handlers.chat import Address, Delivery, Incoming, Kind, Reply, split_text
from handlers.dispatch import COMMANDS, Dispatcher
from handlers.texts import LANGUAGES, text
from storage.base import ChatRepository, OutboxRepository

log = logging.getLogger(__name__)

# Opt in to python-telegram-bot's coming behaviour (RetryAfter.retry_after as a timedelta); without
# it every 429 emits a deprecation warning from inside the library's own rate limiter.
os.environ.setdefault("PTB_TIMEDELTA", "1")

CHANNEL = "telegram"
ALLOWED_UPDATES = ["message", "callback_query"]
POLL_SECONDS = 30
FLOOD_CONTROL = "flood control"  # how an error that flood control outlasted the patience begins
DOWNLOAD_TIMEOUT = httpx.Timeout(30)


class PacedRateLimiter(BaseRateLimiter[float]):
    """Telegram's limits, kept per chat (about 30 messages a second overall; in a chat, a short
    burst, then about one a second). A 429 (flood control, RetryAfter) makes only its own chat wait
    the time Telegram asks for, then the message is sent again; other chats go on. A call waits at
    most `rate_limit_args` seconds in all for flood control (default: SEND_PATIENCE), then the
    RetryAfter is raised to the caller; a chat told to wait longer than that is not asked again."""

    def __init__(self, messages_per_second: float, chat_burst: int, clock: Clock | None = None) -> None:
        self.pacer = ChatPacer(messages_per_second, chat_burst, clock)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to free."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: float | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat_id = data.get("chat_id")
        if chat_id is None:  # getUpdates, answerCallbackQuery...: not paced, as python-telegram-bot does
            return await callback(*args, **kwargs)
        chat = str(chat_id)
        clock = self.pacer.clock
        patience = SEND_PATIENCE.total_seconds() if rate_limit_args is None else rate_limit_args
        deadline = clock.time() + patience
        while True:
            if not await self.pacer.turn(chat, deadline):
                raise RetryAfter(timedelta(seconds=math.ceil(self.pacer.paused_for(chat))))
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                wait = _seconds(exc.retry_after)
                self.pacer.pause(chat, wait)
                if clock.time() + wait > deadline:
                    raise
                log.info("telegram: flood control in chat %s; sending again in %.0f s", chat, wait)


def _seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class PerChatOrder(BaseUpdateProcessor):
    """Updates of different chats are handled concurrently; one chat's updates in arrival order."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._order = ChatOrder()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        await self._order.run(chat.id, coroutine)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to free."""


def incoming_from(update: Update) -> Incoming | None:
    """What a Telegram update means to the handlers; None for updates the bot ignores."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None or chat.type != "private":
        return None
    address = Address(CHANNEL, str(chat.id))
    common: dict[str, Any] = {
        "address": address,
        "sender_id": str(user.id),
        "language_hint": user.language_code,
        "received_at": datetime.now(UTC),
    }
    if update.callback_query is not None:
        return Incoming(kind=Kind.OPTION, option=update.callback_query.data or "", **common)
    message = update.message
    if message is None:
        return None
    if message.text is not None:
        entity = message.entities[0] if message.entities else None
        if entity is not None and entity.type == "bot_command" and entity.offset == 0:
            name = message.text[1 : entity.length].split("@", 1)[0]
            return Incoming(
                kind=Kind.COMMAND, command=name, text=message.text[entity.length :].strip(), **common
            )
        return Incoming(kind=Kind.TEXT, text=message.text, **common)
    if message.contact is not None:
        return Incoming(kind=Kind.CONTACT, text=message.contact.phone_number, **common)
    if message.document is not None:
        return Incoming(kind=Kind.DOCUMENT, text=message.document.file_name or "", **common)
    return Incoming(kind=Kind.UNSUPPORTED, **common)


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.options:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(o.label, callback_data=o.key)] for o in reply.options])


class TelegramWebhook:
    """Telegram's calls to the webhook, as the HTTP server (bot/http/telegram.py) hands them over:
    refused (403) unless they carry our secret, compared in constant time before anything is read;
    then taken by the channel once it has started (503 before: Telegram calls again). Refusals are
    logged at most once a minute per address, with a count of the rest."""

    def __init__(self, path: str, secret: str, clock: Callable[[], float] | None = None) -> None:
        self.path = path
        self.secret = secret
        self.take: Callable[[bytes], Awaitable[int]] | None = None  # set by the channel when started
        self._refusals = RefusalLog(log, "telegram webhook", *([clock] if clock is not None else []))

    async def receive(self, body: bytes, secret: str | None, remote: str | None) -> int:
        """The HTTP status to answer a call with."""
        self._refusals.summarise()
        if not hmac.compare_digest((secret or "").encode(), self.secret.encode()):
            self._refusals.refused(remote, "wrong secret")
            return 403
        if self.take is None:
            return 503
        status = await self.take(body)
        if status != 200:
            self._refusals.refused(remote, "not an update")
        return status

    def close(self) -> None:
        self._refusals.close()


def webhook_for(config: TelegramConfig) -> TelegramWebhook | None:
    """The webhook of `config` in webhook mode; None in polling mode."""
    if config.mode != "webhook" or config.secret is None:
        return None
    return TelegramWebhook(config.webhook_path, config.secret.get_secret_value())


class TelegramChannel:
    def __init__(
        self,
        config: TelegramConfig,
        dispatcher: Dispatcher,
        chats: ChatRepository,
        *,
        request: BaseRequest | None = None,
        files: httpx.AsyncBaseTransport | None = None,
        paced: bool = True,
        outbox: OutboxRepository | None = None,
        clock: Clock | None = None,
        webhook: TelegramWebhook | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        if config.token is None:
            raise ValueError("no Telegram token")
        self.username = config.username
        self.webhook = webhook  # webhook mode: updates come through it, and nobody polls
        self.webhook_url = config.url
        self.dispatcher = dispatcher
        self.chats = chats
        self._files = files  # how documents are downloaded; tests put a fake file server here
        self.outbox = outbox  # where answers that never got through are recorded
        self.metrics = metrics or Metrics()  # counts what is sent, and what is not and why
        builder: Any = (
            Application.builder()
            .token(config.token.get_secret_value())
            .base_url(config.base_url)
            .base_file_url(config.base_file_url)
            .concurrent_updates(PerChatOrder())
        )
        self.paced = paced
        if paced:
            builder = builder.rate_limiter(
                PacedRateLimiter(config.messages_per_second, config.chat_burst, clock)
            )
        if request is not None:
            builder = builder.request(request).get_updates_request(request)
        self.application = builder.build()
        self.application.add_handler(TypeHandler(Update, self.answer_update))
        self.application.add_error_handler(self.log_error)

    # Lifecycle

    async def start(self) -> None:
        """Connects (getMe), checks the bot is the one survey links name, sets the command menu and
        starts answering and sending; in webhook mode, registers the webhook (every process alike:
        the same address each time). Polling is started apart (`start_polling`), by the process
        elected to poll."""
        await self.application.initialize()
        self.check_username()
        await self.set_commands()
        await self.application.start()
        if self.webhook is not None and self.webhook_url is not None:
            await self.application.bot.set_webhook(
                self.webhook_url,
                secret_token=self.webhook.secret,
                allowed_updates=ALLOWED_UPDATES,
            )
            self.webhook.take = self.take_posted
            log.info("telegram: webhook for @%s at %s", self.application.bot.username, self.webhook.path)

    @property
    def polls(self) -> bool:
        """Whether this channel takes its updates by long polling (not by webhook)."""
        return self.webhook is None

    @property
    def polling(self) -> bool:
        updater = self.application.updater
        return updater is not None and updater.running

    async def start_polling(self) -> None:
        """Starts long polling (this process was elected to poll); deletes a webhook set before."""
        updater = self.application.updater
        assert updater is not None
        if updater.running:
            return
        await updater.start_polling(
            allowed_updates=ALLOWED_UPDATES,
            timeout=POLL_SECONDS,
            bootstrap_retries=-1,
            error_callback=self._log_polling_error,
        )
        log.info("telegram: polling as @%s", self.application.bot.username)

    async def stop_polling(self) -> None:
        """Stops long polling (this process no longer leads); sending and answering go on."""
        if self.polling:
            assert self.application.updater is not None
            await self.application.updater.stop()
            log.info("telegram: polling stopped")

    async def take_posted(self, body: bytes) -> int:
        """An update posted to the webhook (its secret checked): queued to be answered like a
        polled one, and the HTTP status returned at once."""
        try:
            data = json.loads(body)
            update = Update.de_json(data, self.application.bot) if isinstance(data, dict) else None
        except (ValueError, TypeError, KeyError, RecursionError):
            update = None
        if update is None:
            return 400
        await self.application.update_queue.put(update)
        return 200

    def check_username(self) -> None:
        """Survey links and QR codes name `telegram.username`; if the token belongs to another bot,
        every printed link opens a chat with that other bot (or none). Usernames ignore case."""
        actual = self.application.bot.username
        if actual.lower() != self.username.lower():
            log.error(
                "telegram: the token is the bot @%s but telegram.username in the config is @%s: survey "
                "links and QR codes name @%s and do not reach this bot; set telegram.username: %s",
                actual, self.username, self.username, actual,
            )  # fmt: skip

    async def stop(self) -> None:
        if self.webhook is not None:
            self.webhook.take = None
            self.webhook.close()
        await self.stop_polling()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    async def set_commands(self) -> None:
        default = self.dispatcher.default_language
        for language in (None, *LANGUAGES):
            commands = [BotCommand(name, text(key, language or default)) for name, key in COMMANDS]
            await self.application.bot.set_my_commands(commands, language_code=language)

    # Handling

    async def answer_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Turns an update into Incoming, lets the dispatcher answer it, and sends the replies."""
        incoming = incoming_from(update)
        if incoming is None:
            return
        if (
            incoming.kind == Kind.DOCUMENT
            and update.message is not None
            and update.message.document is not None
        ):
            # Fetched only if the handler asks: a file from someone who may not send one never is.
            incoming = dataclasses.replace(
                incoming, attachment=functools.partial(self._fetch, update.message.document)
            )
        query = update.callback_query
        if query is None:
            replies = await self.dispatcher.handle(incoming)
        else:
            # The button is settled while the answer is stored: the tap shows as taken at once.
            replies, _ = await asyncio.gather(self.dispatcher.handle(incoming), self._settle_button(query))
        delivery, error = await self._send(incoming.address.chat_id, replies, REPLY_PATIENCE)
        if delivery in (Delivery.FAILED, Delivery.REFUSED):
            await self._record_undelivered(incoming.address.chat_id, error or delivery.value)

    async def _fetch(self, document: Any, limit: int) -> bytes | None:
        """A document's bytes, at most `limit` of them; None when it is larger or cannot be had.
        The sizes Telegram gives are trusted only to refuse early: the download itself stops past
        `limit`, so a file larger than it claims is never held whole."""
        if document.file_size is not None and document.file_size > limit:
            return None
        try:
            file = await document.get_file()
        except TelegramError as exc:
            log.warning("telegram: could not fetch a document: %s", exc)
            return None
        if (file.file_size is not None and file.file_size > limit) or not file.file_path:
            return None
        return await self._download(file.file_path, limit)

    async def _download(self, url: str, limit: int) -> bytes | None:
        """The file at `url`, read as it arrives and dropped once it passes `limit` bytes. Bytes are
        counted as they come over the wire, never decompressed: a small compressed chunk could
        unpack to a huge one. The URL holds the bot's token, so errors are logged by kind only."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return None
        data = bytearray()
        try:
            async with (
                httpx.AsyncClient(transport=self._files, timeout=DOWNLOAD_TIMEOUT) as client,
                client.stream(
                    "GET",
                    parts._replace(path=quote(parts.path)).geturl(),
                    headers={"Accept-Encoding": "identity"},
                ) as response,
            ):
                if response.status_code != 200:
                    log.warning("telegram: could not fetch a document: HTTP %s", response.status_code)
                    return None
                async for chunk in response.aiter_raw():
                    data += chunk
                    if len(data) > limit:
                        log.info("telegram: a document passed %s bytes; not fetched further", limit)
                        return None
        except httpx.HTTPError as exc:
            log.warning("telegram: could not fetch a document: %s", type(exc).__name__)
            return None
        return bytes(data)

    async def _settle_button(self, query: Any) -> None:
        """Stops the spinner and takes the buttons off the message, so each is pressed once."""
        await _quietly(query.answer())
        if query.message is not None:
            await _quietly(query.edit_message_reply_markup(reply_markup=None))

    async def send(self, chat_id: str, *replies: Reply) -> Delivery:
        """Sends messages the bot starts itself (invitations, notices, digests): flood control is
        waited out for SEND_PATIENCE at most, then the outbox tries again later."""
        delivery, _ = await self._send(chat_id, replies, SEND_PATIENCE)
        return delivery

    async def _send(
        self, chat_id: str, replies: Sequence[Reply], patience: timedelta
    ) -> tuple[Delivery, str | None]:
        """Sends replies (see `_transmit`), counted in the metrics."""
        delivery, error = await self._transmit(chat_id, replies, patience)
        flood = delivery == Delivery.FAILED and (error or "").startswith(FLOOD_CONTROL)
        if replies:  # an update answered with nothing sent nothing
            self.metrics.delivered(CHANNEL, delivery, FLOOD if flood else None)
        return delivery, error

    async def _transmit(
        self, chat_id: str, replies: Sequence[Reply], patience: timedelta
    ) -> tuple[Delivery, str | None]:
        """Sends replies, each split if longer than Telegram allows, its buttons under its last
        piece, stopping at the first message not accepted: SENT only when every one was. Records a
        chat that blocked the bot. With what Telegram said, when it was not SENT."""
        # How long flood control may be waited out: for our rate limiter, which an unpaced
        # application (a benchmark's) does not have, so it is told nothing.
        limits = {"rate_limit_args": patience.total_seconds()} if self.paced else {}
        try:
            for reply in replies:
                if reply.picture is not None and len(reply.text) <= MessageLimit.CAPTION_LENGTH:
                    picture = InputFile(reply.picture, filename="report.png")  # named: sent as image/png
                    await self.application.bot.send_photo(
                        int(chat_id),
                        picture,
                        caption=reply.text or None,
                        reply_markup=keyboard(reply),
                        **limits,
                    )
                    continue
                pieces = split_text(reply.text, MessageLimit.MAX_TEXT_LENGTH)
                for n, piece in enumerate(pieces, 1):
                    markup = keyboard(reply) if n == len(pieces) else None
                    await self.application.bot.send_message(
                        int(chat_id), piece, reply_markup=markup, **limits
                    )
                if reply.attachment is not None:
                    attached = reply.attachment
                    await self.application.bot.send_document(
                        int(chat_id),
                        InputFile(attached.content, filename=attached.name),
                        **limits,
                    )
        except Forbidden as exc:
            log.info("telegram chat %s blocked the bot; marked unreachable", chat_id)
            await self.chats.mark_unreachable(CHANNEL, chat_id, datetime.now(UTC))
            return Delivery.UNREACHABLE, str(exc)
        except BadRequest as exc:
            if "chat not found" in str(exc).lower():
                await self.chats.mark_unreachable(CHANNEL, chat_id, datetime.now(UTC))
                return Delivery.UNREACHABLE, str(exc)
            log.error("telegram refused a message to chat %s: %s", chat_id, exc)
            return Delivery.REFUSED, f"refused: {exc}"
        except RetryAfter as exc:
            log.warning(
                "telegram: flood control in chat %s outlasted %.0f s: %s",
                chat_id,
                patience.total_seconds(),
                exc,
            )
            return Delivery.FAILED, f"{FLOOD_CONTROL}: {exc}"
        except TelegramError as exc:  # network down, timeouts, 5xx, a token refused: it may pass
            log.warning("telegram: could not send to chat %s: %s", chat_id, exc)
            return Delivery.FAILED, str(exc)
        return Delivery.SENT, None

    async def _record_undelivered(self, chat_id: str, error: str) -> None:
        """An answer Telegram did not take even after waiting: never dropped silently."""
        log.error("telegram: the answer to chat %s was not delivered: %s", chat_id, error)
        if self.outbox is not None:
            await self.outbox.record_undelivered_reply(CHANNEL, chat_id, datetime.now(UTC), error)

    async def log_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Logs an error raised while handling an update, with what the update was."""
        where = ""
        if isinstance(update, Update) and update.effective_chat is not None:
            where = f" in chat {update.effective_chat.id}"
        log.error(
            "error while handling update %s%s",
            getattr(update, "update_id", "?"),
            where,
            exc_info=context.error,
        )

    @staticmethod
    def _log_polling_error(error: TelegramError) -> None:
        log.warning("telegram polling: %s (retrying)", error)


async def _quietly(call: Coroutine[Any, Any, Any]) -> None:
    """A cosmetic call (stop a spinner, drop old buttons) that must not stop the real work."""
    try:
        await call
    except TelegramError as exc:
        log.debug("telegram: cosmetic call failed: %s", exc)
