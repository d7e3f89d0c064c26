"""The terminal channel: the same handlers, a person typing as a citizen; options are numbered."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

from handlers.chat import Address, Delivery, Incoming, Kind, Reply
from handlers.dispatch import Dispatcher
from handlers.typed import number_replies, remember_shown
from storage.base import ChatRepository

CHANNEL = "console"
CHAT_ID = "local"


def incoming_from(line: str, language_hint: str | None = None) -> Incoming:
    """What a typed line means: "/command arguments" or plain text."""
    address = Address(CHANNEL, CHAT_ID)
    now = datetime.now(UTC)
    stripped = line.strip()
    if stripped.startswith("/") and len(stripped) > 1:
        name, _, rest = stripped[1:].partition(" ")
        return Incoming(
            address, Kind.COMMAND, CHAT_ID, now, text=rest.strip(), command=name, language_hint=language_hint
        )
    return Incoming(address, Kind.TEXT, CHAT_ID, now, text=line.rstrip("\n"), language_hint=language_hint)


class ConsoleChannel:
    def __init__(self, dispatcher: Dispatcher, chats: ChatRepository, out: TextIO | None = None) -> None:
        self.dispatcher = dispatcher
        self.chats = chats
        self.out = out or sys.stdout
        self.address = Address(CHANNEL, CHAT_ID)

    async def send(self, chat_id: str, *replies: Reply) -> Delivery:
        """Prints replies the bot starts itself, options numbered on from what was shown last."""
        return await self.show(replies, conversation=False)

    async def show(self, replies: Sequence[Reply], *, conversation: bool) -> Delivery:
        """Prints replies, options numbered; an answer to what was typed (`conversation`) numbers
        from 1. The options count as shown once printed: remembered after writing them."""
        now = datetime.now(UTC)
        numbered = await number_replies(self.chats, self.address, replies, conversation=conversation, now=now)
        for message in numbered.texts:
            self.out.write(f"\n🤖 {message}\n")
        self.out.flush()
        await remember_shown(self.chats, numbered, len(numbered.texts), now)
        return Delivery.SENT

    async def converse(self, lines: TextIO | None = None) -> None:
        """Reads what the person types (standard input by default) until end of input or /quit,
        answering each line."""
        lines = lines or sys.stdin
        loop = asyncio.get_running_loop()
        while True:
            self.out.write("\n> ")
            self.out.flush()
            line = await loop.run_in_executor(None, lines.readline)
            if not line or line.strip() in {"/quit", "/exit"}:
                self.out.write("\n")
                return
            if not line.strip():
                continue
            await self.show(await self.dispatcher.handle(incoming_from(line)), conversation=True)
