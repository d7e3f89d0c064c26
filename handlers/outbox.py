"""What the outboxes (invitations, case notices) share: turning a delivery into a recorded outcome."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from handlers.chat import Address, Delivery, Reply, Sender
from handlers.texts import Language, language_of
from storage.base import ChatRepository, DirectoryRepository
from storage.records import ChatState, Contact, OutboxStatus, Person, Role, Unit

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


@dataclass
class Round:
    """What became of the messages one round of an outbox looked at."""

    sent: int = 0
    skipped: int = 0
    unreachable: int = 0
    failed: int = 0
    waiting: int = 0

    def count(self, status: OutboxStatus | None) -> None:
        if status is None:
            self.waiting += 1
        else:
            setattr(self, status.value, getattr(self, status.value) + 1)


async def settle(
    chats: ChatRepository,
    address: Address,
    delivery: Delivery,
    now: datetime,
    *,
    finish: Callable[[OutboxStatus, str | None], Awaitable[None]],
    retry: Callable[[str], Awaitable[int]],
    what: str,
) -> OutboxStatus | None:
    """Records a delivery: sent; unreachable (the chat is marked, never tried again); or a passing
    failure, tried again next round until MAX_ATTEMPTS. None while it stays pending."""
    if delivery == Delivery.SENT:
        await finish(OutboxStatus.SENT, None)
        return OutboxStatus.SENT
    if delivery == Delivery.UNREACHABLE:
        await chats.mark_unreachable(address.channel, address.chat_id, now)
        await finish(OutboxStatus.UNREACHABLE, "chat blocked the bot")
        return OutboxStatus.UNREACHABLE
    attempts = await retry("send failed")
    if attempts >= MAX_ATTEMPTS:
        await finish(OutboxStatus.FAILED, f"failed {attempts} times")
        return OutboxStatus.FAILED
    log.warning(
        "%s to %s:%s failed (attempt %s); will retry", what, address.channel, address.chat_id, attempts
    )
    return None


@dataclass
class Target:
    """One of a person's chats the bot can send to now."""

    address: Address
    sender: Sender
    chat: ChatState


async def targets(
    chats: ChatRepository, senders: Mapping[str, Sender], contacts: Sequence[Contact]
) -> list[Target]:
    """A person's chats in the order to try them, leaving out those on a channel this process does
    not run and those that blocked the bot."""
    found = []
    for contact in contacts:
        sender = senders.get(contact.channel)
        if sender is None:
            continue
        chat = await chats.get_chat_state(contact.channel, contact.chat_id)
        if chat.unreachable_since is None:
            found.append(Target(Address(contact.channel, contact.chat_id), sender, chat))
    return found


async def deliver_to_head(
    directory: DirectoryRepository,
    chats: ChatRepository,
    senders: Mapping[str, Sender],
    unit: Unit,
    parents: Mapping[str, str | None],
    render: Callable[[Language, str | None], Sequence[Reply]],
    default_language: Language,
    now: datetime,
) -> Person | None:
    """Sends what `render` makes (in the reader's language; with the unit's name when it goes to
    a head above instead) to the unit's head, else to the nearest head above who can be reached.
    Who got it; None if nobody could be."""
    code: str | None = unit.code
    while code is not None:
        for head in [p for p in await directory.unit_people(code) if p.role == Role.HEAD]:
            forwarded = unit.name if code != unit.code else None
            for target in await targets(chats, senders, head.contacts):
                language = language_of(target.chat.language, default_language)
                outcome = await target.sender.send(target.address.chat_id, *render(language, forwarded))
                if outcome != Delivery.UNREACHABLE:
                    return head
                await chats.mark_unreachable(target.address.channel, target.address.chat_id, now)
        code = parents.get(code)
    return None
