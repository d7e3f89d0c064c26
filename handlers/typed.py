"""Choices where people type instead of pressing buttons (Zalo, the terminal). The options of the
messages the bot sends are numbered on from one another and remembered per chat in storage, so a
typed number means what the person saw, whichever instance of the bot reads it."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime, timedelta

from handlers.chat import Address, Reply, numbered
from storage.base import ChatRepository

MENU_LIMIT = 60  # numbered options a chat keeps; past it, numbering starts again at 1
MENU_FRESH = timedelta(hours=12)  # messages the bot starts continue a menu this young


def folded(value: str) -> str:
    """Text compared loosely: no diacritics, case or extra spaces ("Không hài lòng" ~ "khong hai long")."""
    decomposed = unicodedata.normalize("NFD", value.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())


async def number_replies(
    chats: ChatRepository, address: Address, replies: Sequence[Reply], *, conversation: bool, now: datetime
) -> list[str]:
    """The replies as texts with their options numbered, the numbers remembered for the chat. An
    answer to what the person sent (`conversation`) starts the numbers again at 1; a message the
    bot starts itself (a notice) numbers on from what the person was shown recently."""
    options = [(o.key, o.label) for reply in replies for o in reply.options if not o.typed]
    number = 1
    if options or conversation:
        number = await chats.extend_menu(
            address.channel,
            address.chat_id,
            options,
            keep_since=None if conversation else now - MENU_FRESH,
            limit=MENU_LIMIT,
            now=now,
        )
    last = max((n for n, reply in enumerate(replies) if reply.options), default=-1)
    texts = []
    for n, reply in enumerate(replies):
        texts.append(numbered(reply, number, hint=n == last))
        number += sum(1 for o in reply.options if not o.typed)
    return texts


def typed_choice(menu: Sequence[tuple[str, str]], typed: str) -> str | None:
    """The key of the remembered option a typed text names: its number, or its words when no
    other option has the same words."""
    words = folded(typed).rstrip(".)")
    if words.isdecimal():
        number = int(words)
        return menu[number - 1][0] if 1 <= number <= len(menu) else None
    same = [key for key, label in menu if folded(label) == words]
    return same[0] if len(same) == 1 else None
