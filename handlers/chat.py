"""The seam between chat platforms and handlers: what a person sent, and what to send back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Address:
    """Where a person is reached: a channel (telegram, zalo, console) and a chat id on it."""

    channel: str
    chat_id: str


class Kind(StrEnum):
    TEXT = "text"
    COMMAND = "command"
    OPTION = "option"  # a button pressed; on platforms without buttons, never produced
    CONTACT = "contact"
    DOCUMENT = "document"
    UNSUPPORTED = "unsupported"  # a photo, a sticker, a voice note...


@dataclass(frozen=True, slots=True)
class Incoming:
    """Something a person sent. `text` is the message, the command's arguments, the phone
    number of a shared contact, or a document's file name; `option` is the key of the option
    chosen; `attachment` is a document's bytes (None when it was too big to fetch)."""

    address: Address
    kind: Kind
    sender_id: str
    received_at: datetime
    text: str = ""
    command: str | None = None
    option: str | None = None
    language_hint: str | None = None
    attachment: bytes | None = None


@dataclass(frozen=True, slots=True)
class Option:
    """One choice offered with a reply: a button, or a numbered line where there are no buttons.
    `typed` is what to show instead of a number where people type: a line that names a short
    command ("To assign it, type: giao 12"), for choices that must stay valid while others come."""

    key: str
    label: str
    typed: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """Text to send, with options to choose from. `typing_hint` tells people on platforms
    without buttons how to answer ("type the number"); button platforms leave it out."""

    text: str
    options: tuple[Option, ...] = field(default=())
    typing_hint: str = ""


# Channels that show options as buttons; on the others people type an option's number or words.
BUTTON_CHANNELS = frozenset({"telegram"})

MAX_ATTACHMENT = 256 * 1024  # bytes of a document the bot fetches; question sets are a few KB


class Delivery(StrEnum):
    """What became of a batch of messages: SENT only when the platform accepted every one of them."""

    SENT = "sent"
    UNREACHABLE = "unreachable"  # the person blocked the bot, or the chat does not exist: do not try again
    FAILED = "failed"  # a passing fault (outage, flood control, server error): worth another try later
    REFUSED = "refused"  # the platform refused a message itself (400): the same would be refused again


class Sender(Protocol):
    """What a channel offers to messages the handlers start themselves (invitations, notices,
    digests): the replies go in order, as one batch (where options are typed, numbered on from
    one another), stopping at the first that does not go through; the outcome of the batch, SENT
    only when every message of it was accepted."""

    async def send(self, chat_id: str, *replies: Reply) -> Delivery: ...


def numbered(reply: Reply, first: int = 1, *, hint: bool = True) -> str:
    """The reply as text for platforms without buttons: options become a numbered list from
    `first` (options with a typed command show that line instead); `hint` adds how to answer."""
    if not reply.options:
        return reply.text
    lines = [reply.text, ""]
    number = first
    for option in reply.options:
        if option.typed:
            lines.append(option.typed)
        else:
            lines.append(f"{number}. {option.label}")
            number += 1
    if hint and reply.typing_hint and number > first:
        lines += ["", reply.typing_hint]
    return "\n".join(lines)


def split_text(message: str, limit: int) -> list[str]:
    """Cuts a long text into pieces of at most `limit` characters, at a paragraph, line or word
    boundary where there is one, so no piece ends mid-word."""
    pieces: list[str] = []
    rest = message
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), 0) or max(window.rfind("\n"), 0) or max(window.rfind(" "), 0)
        if cut < limit // 2:
            cut = window.rfind(" ") if window.rfind(" ") >= limit // 2 else limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return pieces
