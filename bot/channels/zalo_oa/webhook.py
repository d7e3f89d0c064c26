"""The OA's webhook: every call's `X-ZEvent-Signature` (`mac=` and the SHA-256 hex of app id + raw
body + the event's `timestamp` + the OA secret key) is checked in constant time before anything
is acted on; a call without a right one gets 403, a WARNING line (never its content) and nothing
else. Events are read into records by their `event_name`; each is handed on with a key that is
the same when Zalo sends it again (its msg_id, or for follow and unfollow its user and time)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from bot.channels.refusals import RefusalLog

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-ZEvent-Signature"


def _text(value: object) -> object:
    """Zalo's ids and times are strings; numbers are taken as their digits."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Text = Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=200)]


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_name: str
    app_id: Text | None = None
    timestamp: Text

    @property
    def key(self) -> str:
        """What makes this event the same when it comes again."""
        raise NotImplementedError


class Who(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: Text


class TextMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    msg_id: Text
    text: str = Field(max_length=10_000)


class UserSendText(Event):
    """A follower wrote to the OA (or pressed an oa.query button: its payload comes as text)."""

    event_name: Literal["user_send_text"]
    sender: Who
    recipient: Who
    message: TextMessage

    @property
    def key(self) -> str:
        return f"{self.event_name}:{self.message.msg_id}"


class StickerMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    msg_id: Text
    attachments: list[dict[str, Any]] = []


class UserSendSticker(Event):
    event_name: Literal["user_send_sticker"]
    sender: Who
    recipient: Who
    message: StickerMessage

    @property
    def key(self) -> str:
        return f"{self.event_name}:{self.message.msg_id}"


class Follow(Event):
    """`follow` or `unfollow` of the OA."""

    event_name: Literal["follow", "unfollow"]
    follower: Who
    oa_id: Text | None = None
    source: str | None = None

    @property
    def key(self) -> str:
        return f"{self.event_name}:{self.follower.id}:{self.timestamp}"


class Receipt(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    msg_id: Text
    delivery_time: Text | None = None
    tracking_id: Text | None = None


class UserReceivedMessage(Event):
    """A ZNS message reached the user's Zalo."""

    event_name: Literal["user_received_message"]
    message: Receipt

    @property
    def key(self) -> str:
        return f"{self.event_name}:{self.message.msg_id}"


class Feedback(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    msg_id: Text
    rate: int = Field(ge=1, le=5)
    feedbacks: list[Annotated[str, Field(max_length=200)]] = Field(default=[], max_length=20)
    note: str = Field(default="", max_length=2000)
    submit_time: Text | None = None
    tracking_id: Text | None = None
    template_id: Text | None = None


class UserFeedback(Event):
    """A ZNS rating template was answered: stars, quick-feedback chips, a note."""

    event_name: Literal["user_feedback"]
    message: Feedback

    @property
    def key(self) -> str:
        return f"{self.event_name}:{self.message.msg_id}"


class UnknownEvent(Event):
    """An event this bot does not act on; `digest` (of the body) tells it from the others."""

    digest: str = ""

    @property
    def key(self) -> str:
        return f"{self.event_name}:{self.digest}"


OAEvent = UserSendText | UserSendSticker | Follow | UserReceivedMessage | UserFeedback | UnknownEvent
KNOWN: dict[str, type[Event]] = {
    "user_send_text": UserSendText,
    "user_send_sticker": UserSendSticker,
    "follow": Follow,
    "unfollow": Follow,
    "user_received_message": UserReceivedMessage,
    "user_feedback": UserFeedback,
}


def signature(app_id: str, body: bytes, timestamp: str, secret_key: str) -> str:
    """The hex SHA-256 Zalo puts after `mac=`."""
    return hashlib.sha256(app_id.encode() + body + timestamp.encode() + secret_key.encode()).hexdigest()


def parse_event(data: dict[str, Any], body: bytes) -> OAEvent:
    """The event as its record; raises ValidationError for a known event with wrong fields."""
    kind = KNOWN.get(str(data.get("event_name")))
    if kind is None:
        digest = hashlib.sha256(body).hexdigest()[:32]
        return UnknownEvent.model_validate(
            {**data, "event_name": str(data.get("event_name")), "digest": digest}
        )
    event = kind.model_validate(data)
    assert isinstance(event, UserSendText | UserSendSticker | Follow | UserReceivedMessage | UserFeedback)
    return event


Handle = Callable[[OAEvent], Awaitable[None]]


class ZaloOAWebhook:
    """Checks and reads webhook calls, and hands each event to `handle` (the OA channel, which
    sets it when it is made: until then calls are answered 503 and nothing is taken)."""

    def __init__(
        self, app_id: str, secret_key: str, path: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.app_id = app_id
        self._secret_key = secret_key
        self.path = path
        self.handle: Handle | None = None
        self._refusals = RefusalLog(log, "zalo_oa webhook", clock)

    async def receive(self, body: bytes, given: str | None, source: str | None) -> int:
        """The HTTP status to answer a call with `body` and the signature header `given`."""
        self._refusals.summarise()
        if not given or not given.startswith("mac="):
            return self._refuse(source, 403, "no signature")
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return self._refuse(source, 403, "not JSON, so no signature can be checked")
        timestamp = _text(data.get("timestamp")) if isinstance(data, dict) else None
        if not isinstance(timestamp, str) or not self._secret_key:
            return self._refuse(source, 403, "no timestamp to check the signature with")
        wanted = signature(self.app_id, body, timestamp, self._secret_key)
        if not hmac.compare_digest(given.removeprefix("mac=").strip().lower().encode(), wanted.encode()):
            return self._refuse(source, 403, "wrong signature")
        assert isinstance(data, dict)
        try:
            event = parse_event(data, body)
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:5])
            log.warning(
                "zalo_oa webhook: a %s event with wrong fields (%s) was ignored",
                data.get("event_name"),
                fields,
            )
            return 400
        if self.handle is None:
            log.warning("zalo_oa webhook: an event came before the OA channel was ready; answered 503")
            return 503
        await self.handle(event)
        return 200

    def _refuse(self, source: str | None, status: int, reason: str) -> int:
        self._refusals.refused(source, reason)
        return status

    def close(self) -> None:
        self._refusals.close()
