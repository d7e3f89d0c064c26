"""Choices where people type instead of pressing buttons (Zalo, the terminal). The options of the
messages the bot sends are numbered on from one another and remembered per chat in storage, so a
typed number means what the person saw, whichever instance of the bot reads it."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from handlers.buttons import MAX_ID
from handlers.chat import Address, Reply, numbered
from storage.base import ChatRepository

log = logging.getLogger(__name__)

MENU_LIMIT = 60  # numbered options a chat keeps; past it, numbering starts again at 1
MENU_FRESH = timedelta(hours=12)  # messages the bot starts continue a menu this young


def folded(value: str) -> str:
    """Text compared loosely: no diacritics, case or extra spaces ("Không hài lòng" ~ "khong hai long")."""
    decomposed = unicodedata.normalize("NFD", value.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())


@dataclass(frozen=True)
class NumberedReplies:
    """Replies as texts to send, their options numbered from `first`; `options[n]` are those the
    n-th text shows. They count as shown only once sent: see `remember_shown`."""

    address: Address
    texts: list[str]
    first: int
    options: list[list[tuple[str, str]]]
    conversation: bool


async def number_replies(
    chats: ChatRepository, address: Address, replies: Sequence[Reply], *, conversation: bool, now: datetime
) -> NumberedReplies:
    """The replies as texts with their options numbered. An answer to what the person sent
    (`conversation`) numbers from 1; a message the bot starts itself (a notice) numbers on from
    what the person was shown recently. Nothing is remembered yet: the channel calls
    `remember_shown` with what it sent, so a typed number never means an option never seen."""
    options = [[(o.key, o.label) for o in reply.options if not o.typed] for reply in replies]
    number = first = 1
    if not conversation and any(options):
        number = first = await chats.menu_start(
            address.channel,
            address.chat_id,
            adding=sum(len(shown) for shown in options),
            keep_since=now - MENU_FRESH,
            limit=MENU_LIMIT,
        )
    last = max((n for n, reply in enumerate(replies) if reply.options), default=-1)
    texts = []
    for n, reply in enumerate(replies):
        texts.append(numbered(reply, number, hint=n == last))
        number += len(options[n])
    return NumberedReplies(address, texts, first, options, conversation)


async def remember_shown(chats: ChatRepository, replies: NumberedReplies, sent: int, now: datetime) -> None:
    """Remembers the numbered options of the first `sent` texts, the ones the platform accepted, as
    the chat's menu. With none sent the menu stays as the person last saw it; an answer that went
    through replaces it (even with no options: the numbers shown before no longer apply)."""
    shown = [option for options in replies.options[:sent] for option in options]
    if sent == 0 or not (shown or replies.conversation):
        return
    address = replies.address
    if not await chats.remember_menu(address.channel, address.chat_id, shown, first=replies.first, now=now):
        # Another message to the chat was numbered while these were sent: their numbers would
        # point at other options, so they are not remembered (a typed one is asked again).
        log.warning(
            "chat %s:%s was shown other numbers meanwhile; these options are not remembered",
            address.channel,
            address.chat_id,
        )


def typed_number(typed: str) -> int | None:
    """The number a person typed (digits of any script, "١٢" too), or None for anything else and
    for a number beyond the ids storage holds (it names nothing, and SQLite cannot take it)."""
    digits = typed.strip()
    if not digits.isdecimal():
        return None
    significant = digits.lstrip("0") or "0"
    # Counted before int(): Python refuses to convert more than 4,300 digits at all.
    if len(significant) > len(str(MAX_ID)) or int(significant) > MAX_ID:
        return None
    return int(significant)


PREFIX_LETTERS = 4  # a prefix shorter than this ("hai", "ba": also numbers in Vietnamese) is no choice


def words(value: str) -> tuple[str, ...]:
    """The words of a text compared loosely: folded, punctuation ignored ("Thái độ, hướng dẫn…")."""
    return tuple("".join(c if c.isalnum() else " " for c in folded(value)).split())


def chosen(options: Sequence[Sequence[str]], typed: str) -> int | None:
    """Which option (each with its labels, such as its Vietnamese and English texts) typed text
    names: its number, its words, or the start of its words when no other option starts so."""
    typed_digits = folded(typed).rstrip(".)")
    if typed_digits.isdecimal():
        number = typed_number(typed_digits)
        return number - 1 if number is not None and 1 <= number <= len(options) else None
    typed_words = words(typed)
    if not typed_words or all(word.isdecimal() for word in typed_words):
        return None
    same = {n for n, labels in enumerate(options) for label in labels if words(label) == typed_words}
    if same:
        return same.pop() if len(same) == 1 else None
    if len("".join(typed_words)) < PREFIX_LETTERS:
        return None
    starting = {
        n for n, labels in enumerate(options) for label in labels if _starts(words(label), typed_words)
    }
    return starting.pop() if len(starting) == 1 else None


def _starts(label: tuple[str, ...], typed: tuple[str, ...]) -> bool:
    """Whether the typed words begin the label's, the last of them perhaps cut short."""
    if len(typed) > len(label):
        return False
    *whole, last = typed
    return label[: len(whole)] == tuple(whole) and label[len(whole)].startswith(last)


def typed_choice(menu: Sequence[tuple[str, str]], typed: str) -> str | None:
    """The key of the remembered option a typed text names (see `chosen`); options with the same
    words need their number."""
    index = chosen([(label,) for _, label in menu], typed)
    return menu[index][0] if index is not None else None
