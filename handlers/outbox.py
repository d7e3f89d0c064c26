"""What the outboxes (invitations, case notices) and the messages to heads (digests, new cases)
share: the courier that sends different chats' messages at the same time and each chat's in order,
the lease of a claim, the backoff of a retry, and turning a delivery into a recorded outcome.

A message is retried for as long as the failure may pass (an outage, flood control, a server
error) and given up only when the platform refuses it for good: the chat blocked the bot or does
not exist, or the message itself is refused. What is given up is reported: in the next digest of
the unit concerned and by `feedback-bot outbox`."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from time import monotonic
from zoneinfo import ZoneInfo

from handlers.chat import Address, Delivery, Reply, Sender
from handlers.templates import TemplateDelivery, TemplateResult
from handlers.texts import Language, language_of
from handlers.throttled_log import ThrottledLog
from storage.base import ChatRepository, DatabaseUnavailable, DirectoryRepository
from storage.records import ChatState, Contact, OutboxStatus, Person, Role, Unit

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(seconds=10)  # after a first passing failure; each next wait doubles...
LONGEST_RETRY = timedelta(minutes=10)  # ...up to this, for as long as it takes
# A sender claims a message for this long; one that died holding it leaves it to be taken over
# then. Longer than a send may take: a channel waits out flood control for a minute at most here.
LEASE = timedelta(minutes=5)
CHATS_AT_ONCE = 100  # chats sending at the same time: enough to keep 30 messages a second going
REFUSED = "the platform refused the message"
BLOCKED = "the chat blocked the bot or does not exist"


def backoff(attempts: int, first: timedelta = FIRST_RETRY, longest: timedelta = LONGEST_RETRY) -> timedelta:
    """How long to wait after `attempts` failed tries: `first`, doubling each time, never over `longest`."""
    wait: timedelta = first * (1 << min(max(attempts - 1, 0), 30))
    return min(wait, longest)


def due(next_attempt_at: datetime | None, now: datetime) -> bool:
    return next_attempt_at is None or next_attempt_at <= now


class Outcome(StrEnum):
    """What became of one message in a round."""

    SENT = "sent"
    SKIPPED = "skipped"  # no longer to be sent (answered already, cool-down, link expired)
    UNREACHABLE = "unreachable"  # given up: the chat blocked the bot or does not exist
    FAILED = "failed"  # given up: the platform refused the message for good
    RETRYING = "retrying"  # not accepted now: tried again after a backoff
    WAITING = "waiting"  # not tried now (its time has not come, its channel is not running...)
    TAKEN = "taken"  # another sender has it, or it went meanwhile


@dataclass
class Round:
    """What became of the messages one round of an outbox looked at."""

    sent: int = 0
    skipped: int = 0
    unreachable: int = 0
    failed: int = 0
    retrying: int = 0
    waiting: int = 0

    def count(self, outcome: Outcome) -> None:
        if outcome != Outcome.TAKEN:
            setattr(self, outcome.value, getattr(self, outcome.value) + 1)

    @classmethod
    async def of(cls, outcomes: Iterable[Awaitable[Outcome]]) -> Round:
        """The round, once every message handed over has an outcome."""
        made = cls()
        for outcome in await asyncio.gather(*outcomes):
            made.count(outcome)
        return made


def settled(outcome: Outcome) -> asyncio.Future[Outcome]:
    """An outcome known at once, for a list of outcomes to come."""
    future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
    future.set_result(outcome)
    return future


@dataclass
class _Chat:
    """One chat's messages waiting in the courier, in the order handed over."""

    # (message, its send, its outcome to come, when it was handed over)
    waiting: deque[tuple[str, Callable[[], Awaitable[Outcome]], asyncio.Future[Outcome], float]] = field(
        default_factory=deque
    )


class Courier:
    """Sends outbox messages: different chats' at the same time (at most `at_once` sending), each
    chat's one after another in the order handed over. A chat whose message is to be retried, or
    was taken by another sender (another process), sends nothing more for now: its later messages
    stay pending, behind that one, so a chat never gets them out of order. A message handed over is
    held until it has an outcome, so a round that starts meanwhile leaves it alone.

    A message is claimed when its turn comes, with the time of the round that handed it over. One
    whose turn comes more than `fresh_for` after that (a backlog waiting for free slots) is not
    begun: claimed with so old a time, its lease could already have run out, and another process
    would take it over while it is being sent. It is left pending, with the chat's later messages,
    for a round with a fresh time."""

    def __init__(
        self,
        at_once: int = CHATS_AT_ONCE,
        *,
        fresh_for: timedelta = LEASE / 2,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self._slots = asyncio.Semaphore(at_once)
        self._fresh_for = fresh_for.total_seconds()
        self._clock = clock
        self._chats: dict[str, _Chat] = {}
        self._held: set[str] = set()
        self._runners: set[asyncio.Task[None]] = set()
        self._closing = False
        # A full disk fails the record of every message alike: logged once a minute at most.
        self.failures = ThrottledLog(log)

    def holds(self, item: str) -> bool:
        """Whether this message is handed over and has no outcome yet."""
        return item in self._held

    def hand_over(
        self, chat: str, item: str, send: Callable[[], Awaitable[Outcome]]
    ) -> asyncio.Future[Outcome]:
        """Queues `send` (which sends the message `item` and records what became of it) after the
        chat's messages handed over before; its outcome to come."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        if self._closing or item in self._held:
            future.set_result(Outcome.WAITING if self._closing else Outcome.TAKEN)
            return future
        self._held.add(item)
        queue = self._chats.get(chat)
        if queue is None:
            queue = self._chats[chat] = _Chat()
            runner = asyncio.create_task(self._run(chat, queue), name=f"courier {chat}")
            self._runners.add(runner)
            runner.add_done_callback(self._runners.discard)
        queue.waiting.append((item, send, future, self._clock()))
        return future

    async def _run(self, chat: str, queue: _Chat) -> None:
        stalled = False
        try:
            while queue.waiting:
                item, send, future, handed_at = queue.waiting[0]
                try:
                    if stalled or self._closing:
                        outcome = Outcome.WAITING
                    else:
                        async with self._slots:
                            if self._clock() - handed_at > self._fresh_for:
                                stalled, outcome = True, Outcome.WAITING  # its round's time is too old
                            else:
                                outcome = await send()
                except Exception:
                    self.failures.exception(
                        "sending %s to %s failed; it is tried again once its claim ends", item, chat
                    )
                    outcome = Outcome.WAITING
                queue.waiting.popleft()
                self._held.discard(item)
                # Retried, or claimed by another process since the round read it (that process
                # sends it now): the chat's later messages wait, so they never overtake it.
                stalled = stalled or outcome in (Outcome.RETRYING, Outcome.TAKEN)
                if not future.done():
                    future.set_result(outcome)
        finally:
            for item, _, future, _ in queue.waiting:  # cancelled: what did not go stays pending
                self._held.discard(item)
                if not future.done():
                    future.set_result(Outcome.WAITING)
            if self._chats.get(chat) is queue:
                del self._chats[chat]

    @property
    def busy(self) -> int:
        """Chats with messages being sent or waiting."""
        return len(self._chats)

    async def close(self, grace: float = 10.0) -> None:
        """Stops taking messages; those being sent may finish within `grace` seconds, those not
        begun stay pending (and a send cut short is claimed until its lease ends)."""
        self._closing = True
        if self._runners:
            _, late = await asyncio.wait(set(self._runners), timeout=grace)
            for runner in late:
                runner.cancel()
            await asyncio.gather(*late, return_exceptions=True)


# Seconds a message the platform took keeps trying to be recorded while the database is away: well
# within its claim's lease (5 minutes), after which another round would send it again.
MARK_PATIENCE = 120.0
MARK_FIRST_WAIT = 0.5


async def recorded(
    finish: Callable[[OutboxStatus, str | None], Awaitable[None]], status: OutboxStatus, error: str | None
) -> None:
    """Records what became of a message the platform has answered for, through a short outage of
    the database: a record that fails leaves the message claimed, and it would be sent again when
    the claim ends (a probe saw ten citizens invited twice after a 12-second outage)."""
    wait, waited = MARK_FIRST_WAIT, 0.0
    while True:
        try:
            await finish(status, error)
            return
        except DatabaseUnavailable:
            if waited >= MARK_PATIENCE:
                raise
            log.warning(
                "cannot record a message as %s yet (the database is away); trying again", status.value
            )
            await asyncio.sleep(wait)
            waited += wait
            wait = min(wait * 2, 10.0)


async def settle(
    chats: ChatRepository,
    address: Address,
    delivery: Delivery,
    now: datetime,
    *,
    attempts: int,
    finish: Callable[[OutboxStatus, str | None], Awaitable[None]],
    retry: Callable[[str, datetime], Awaitable[int]],
    what: str,
) -> Outcome:
    """Records a delivery: sent; given up, when the chat blocked the bot (it is marked and not tried
    again) or the platform refused the message; else retried after a backoff that grows with the
    `attempts` made before this one."""
    if delivery == Delivery.SENT:
        await recorded(finish, OutboxStatus.SENT, None)
        return Outcome.SENT
    if delivery == Delivery.UNREACHABLE:
        await chats.mark_unreachable(address.channel, address.chat_id, now)
        await recorded(finish, OutboxStatus.UNREACHABLE, BLOCKED)
        return Outcome.UNREACHABLE
    if delivery == Delivery.REFUSED:
        log.error("%s to %s:%s: %s; given up", what, address.channel, address.chat_id, REFUSED)
        await recorded(finish, OutboxStatus.FAILED, REFUSED)
        return Outcome.FAILED
    next_attempt_at = now + backoff(attempts + 1)
    await retry(f"{address.channel} did not accept it (server, network or flood control)", next_attempt_at)
    log.warning(
        "%s to %s:%s not accepted (attempt %s); tried again from %s",
        what, address.channel, address.chat_id, attempts + 1, next_attempt_at.isoformat(timespec="seconds"),
    )  # fmt: skip
    return Outcome.RETRYING


NO_ZALO = "no Zalo account on this phone"
QUOTA_WAIT = timedelta(minutes=5)  # after the local midnight that renews the day's ZNS quota


def next_local_day(now: datetime, zone: ZoneInfo) -> datetime:
    """The local midnight after `now`: when the day's ZNS quota is renewed."""
    return datetime.combine(now.astimezone(zone).date() + timedelta(days=1), time(), zone)


async def settle_template(
    result: TemplateResult,
    now: datetime,
    zone: ZoneInfo,
    *,
    attempts: int,
    finish: Callable[[OutboxStatus, str | None], Awaitable[None]],
    retry: Callable[[str, datetime], Awaitable[int]],
    what: str,
) -> Outcome:
    """Records a template message (ZNS) as settle records a chat's: sent; given up when the phone has
    no account (UNREACHABLE: not tried again) or the template was refused; held until just after
    the local midnight when the day's quota is used up; else retried after a backoff."""
    if result.delivery == TemplateDelivery.SENT:
        await recorded(finish, OutboxStatus.SENT, None)
        log.info("%s: sent (message %s)", what, result.message_id)
        return Outcome.SENT
    if result.delivery == TemplateDelivery.NO_ACCOUNT:
        await recorded(finish, OutboxStatus.UNREACHABLE, NO_ZALO)
        log.info("%s: %s", what, NO_ZALO)
        return Outcome.UNREACHABLE
    if result.delivery == TemplateDelivery.REFUSED:
        error = f"the template was refused: {result.error}"
        await recorded(finish, OutboxStatus.FAILED, error)
        log.error("%s: %s; given up", what, error)
        return Outcome.FAILED
    if result.delivery == TemplateDelivery.QUOTA:
        next_attempt_at = next_local_day(now, zone) + QUOTA_WAIT
        error = "the day's ZNS quota is used up"
    else:
        next_attempt_at = now + backoff(attempts + 1)
        error = f"ZNS did not accept it ({result.error or 'server, network or rate limit'})"
    await retry(error, next_attempt_at)
    log.warning("%s: %s; tried again from %s", what, error, next_attempt_at.isoformat(timespec="seconds"))
    return Outcome.RETRYING


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


class ChatLocks:
    """One batch at a time to a chat, so that two digests (or a digest and a new-case notice) sent at
    the same time to one head never interleave. A chat's lock lives while someone holds or awaits it."""

    def __init__(self) -> None:
        self._locks: dict[Address, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, address: Address) -> AsyncIterator[None]:
        lock, users = self._locks.get(address, (asyncio.Lock(), 0))
        self._locks[address] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[address]
            if users == 1:
                del self._locks[address]
            else:
                self._locks[address] = (lock, users - 1)


@dataclass(frozen=True)
class Handed:
    """What became of messages for a unit's head: SENT (`head` accepted every one of them), or why
    nobody did: UNREACHABLE (no head of the unit or above can be reached), FAILED (a head's chat
    on `channel` did not accept them now: try again later) or REFUSED (the platform refused one)."""

    delivery: Delivery
    head: Person | None = None
    channel: str | None = None


async def deliver_to_head(
    directory: DirectoryRepository,
    chats: ChatRepository,
    senders: Mapping[str, Sender],
    unit: Unit,
    parents: Mapping[str, str | None],
    render: Callable[[Language, str | None], Sequence[Reply]],
    default_language: Language,
    now: datetime,
    locks: ChatLocks | None = None,
) -> Handed:
    """Sends what `render` makes (in the reader's language; with the unit's name when it goes to
    a head above instead) to the unit's head, else to the nearest head above who can be reached.
    A head's chat that blocked the bot is passed over; one that fails now stops here, so the
    messages are tried again later rather than sent to someone else."""
    code: str | None = unit.code
    while code is not None:
        for head in [p for p in await directory.unit_people(code) if p.role == Role.HEAD]:
            forwarded = unit.name if code != unit.code else None
            for target in await targets(chats, senders, head.contacts):
                language = language_of(target.chat.language, default_language)
                async with (locks or ChatLocks()).hold(target.address):
                    outcome = await target.sender.send(target.address.chat_id, *render(language, forwarded))
                if outcome == Delivery.SENT:
                    return Handed(Delivery.SENT, head, target.address.channel)
                if outcome != Delivery.UNREACHABLE:
                    return Handed(outcome, None, target.address.channel)
                await chats.mark_unreachable(target.address.channel, target.address.chat_id, now)
        code = parents.get(code)
    return Handed(Delivery.UNREACHABLE)
