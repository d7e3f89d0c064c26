"""One chat's updates in the order they came, different chats at the same time: what every
channel needs so that a quick "3" then "6" are answered in order without one slow chat (a flood
wait, a long digest) holding up everyone else."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Hashable
from typing import TypeVar

T = TypeVar("T")


class ChatOrder:
    """Runs work keyed by chat: in arrival order within a chat, concurrently across chats. A chat's
    lock lives only while it has work waiting, so idle chats cost nothing."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    async def run(self, chat: Hashable, work: Awaitable[T]) -> T:
        lock, users = self._locks.get(chat, (asyncio.Lock(), 0))
        self._locks[chat] = (lock, users + 1)
        try:
            async with lock:
                return await work
        finally:
            lock, users = self._locks[chat]
            if users == 1:
                del self._locks[chat]
            else:
                self._locks[chat] = (lock, users - 1)

    @property
    def busy(self) -> int:
        """Chats with work running or waiting."""
        return len(self._locks)
