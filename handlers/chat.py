"""The seam between chat platforms and handlers: what a person sent, and what to send back."""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable
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


# Fetches a document's bytes when a handler asks for them: at most `limit` bytes, None when the
# file is larger (whatever size the platform claimed) or cannot be fetched.
Fetch = Callable[[int], Awaitable[bytes | None]]


@dataclass(frozen=True, slots=True)
class Incoming:
    """Something a person sent. `text` is the message, the command's arguments, the phone
    number of a shared contact, or a document's file name; `option` is the key of the option
    chosen; `attachment` fetches a document's bytes, so that the handler decides whether a file
    is worth fetching (nobody's but an admin's is) and how much of it."""

    address: Address
    kind: Kind
    sender_id: str
    received_at: datetime
    text: str = ""
    command: str | None = None
    option: str | None = None
    language_hint: str | None = None
    attachment: Fetch | None = None

    def __post_init__(self) -> None:
        # JSON may carry a lone surrogate ("\ud800") and a terminal in the C locale decodes stray
        # bytes into them; no database or platform takes one, so the text gets U+FFFD in its place.
        if not self.text.isascii():
            object.__setattr__(self, "text", readable(self.text))


def readable(text: str) -> str:
    """The text with each lone surrogate replaced by U+FFFD (a pair of them becomes the character
    it stands for)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


@dataclass(frozen=True, slots=True)
class Option:
    """One choice offered with a reply: a button, or a numbered line where there are no buttons.
    `typed` is what to show instead of a number where people type: a line that names a short
    command ("To assign it, type: giao 12"), for choices that must stay valid while others come."""

    key: str
    label: str
    typed: str = ""


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent after a reply's text, where the platform takes files (Telegram)."""

    name: str
    content: bytes
    media_type: str = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Reply:
    """Text to send, with options to choose from. `typing_hint` tells people on platforms
    without buttons how to answer ("type the number"); button platforms leave it out. An
    `attachment` goes after the text where the platform takes files, and is left out elsewhere."""

    text: str
    options: tuple[Option, ...] = field(default=())
    typing_hint: str = ""
    attachment: Attachment | None = None
    # A picture (PNG) sent with the text as its caption where the channel sends pictures (Telegram);
    # elsewhere the text goes alone (a report's chart: its summary says what matters).
    picture: bytes | None = None


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


def utf16_units(message: str) -> int:
    """A message's length as Telegram and Zalo count it: UTF-16 code units, in which a character
    beyond the Basic Multilingual Plane (most emoji: "😡") takes two."""
    return len(message.encode("utf-16-le")) // 2


def text_length(written: str) -> int:
    """The length of what a person wrote, as the limits on it count: characters once accents typed
    apart from their letters are composed (NFC), so "ồ" is one however the keyboard sent it, and an
    emoji is one. An emoji built of several (a flag, a skin tone, a family) counts as its parts:
    the limits bound what is stored, and marks stacked on one letter cannot slip past them."""
    return len(unicodedata.normalize("NFC", written))


def split_text(message: str, limit: int, length: Callable[[str], int] = utf16_units) -> list[str]:
    """Cuts a long text into pieces of at most `limit` (by `length`: UTF-16 code units, as Telegram
    and Zalo count), at a paragraph, line or word boundary in the second half of a piece where
    there is one, else between two characters a person sees as two: never inside an emoji built of
    several, a flag or a letter and its accents, unless one alone is longer than a piece."""
    pieces: list[str] = []
    rest = message
    while length(rest) > limit:
        end = _fitting(rest, limit, length)
        window = rest[:end]
        cut = next(
            (at for at in (window.rfind(sep) for sep in ("\n\n", "\n", " ")) if at > 0 and at >= end // 2),
            None,
        )
        if cut is None:
            cut = _cluster_start(rest, end)
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return [piece for piece in pieces if piece] or [""]


def _fitting(text: str, limit: int, length: Callable[[str], int]) -> int:
    """How many characters from the start of `text` fit in `limit` (at least one). Every character
    takes at least one unit, so no more than `limit` of them are tried."""
    low, high = 1, max(1, min(len(text), limit))
    while low < high:
        middle = (low + high + 1) // 2
        if length(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def _cluster_start(text: str, end: int) -> int:
    """The last place at or before `end` where a cut leaves whole what a person sees as one
    character; `end` itself when one such character is longer than the piece."""
    cut = end
    while cut > 0 and _continues(text, cut):
        cut -= 1
    return cut or end


_ZWJ = "\u200d"


def _continues(text: str, at: int) -> bool:
    """Whether the character at `at` belongs with the one before it (a simplified reading of
    Unicode's grapheme clusters, UAX #29, enough for accents, emoji sequences and flags)."""
    char, before = text[at], text[at - 1]
    point = ord(char)
    if unicodedata.category(char).startswith("M") or char == _ZWJ or before == _ZWJ:
        return True  # an accent on its letter; the joiner inside an emoji sequence
    if 0xFE00 <= point <= 0xFE0F or 0xE0100 <= point <= 0xE01EF or 0xE0020 <= point <= 0xE007F:
        return True  # variation selectors, tags (subdivision flags)
    if 0x1F3FB <= point <= 0x1F3FF:
        return True  # skin tones
    if before == "\r" and char == "\n":
        return True
    if _regional(char) and _regional(before):
        # Flags are pairs of regional indicators: a cut between pairs, never inside one.
        run = 0
        while at - run - 1 >= 0 and _regional(text[at - run - 1]):
            run += 1
        return run % 2 == 1
    return False


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF
