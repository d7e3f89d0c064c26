"""Invitations and notices that survive outages and floods: retried with capped backoff for as long
as the failure may pass, given up only when refused for good, claimed for a lease a crashed sender
leaves behind, and sent for different chats at the same time (each chat's in order), so that one
slow or flood-controlled chat holds up no other."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise

from bot.app import Handlers
from handlers.cases import CaseAction, CaseButton
from handlers.chat import Delivery, Reply
from handlers.outbox import FIRST_RETRY, LEASE, LONGEST_RETRY, Courier, Outcome
from tests.conftest import NOW, Citizen, add_dossier, labels
from tests.test_cases import complain, only_case

WEEK = timedelta(days=7)


@dataclass
class ScriptedSender:
    """A channel whose answers per chat follow a script (then SENT); every attempt is recorded, and
    a chat can be held (its sends wait) until the test lets it go."""

    script: dict[str, list[Delivery]] = field(default_factory=dict)
    attempts: list[str] = field(default_factory=list)
    sent: list[tuple[str, Reply]] = field(default_factory=list)
    held: dict[str, asyncio.Event] = field(default_factory=dict)
    tried: dict[str, asyncio.Event] = field(default_factory=lambda: defaultdict(asyncio.Event))
    arrived: dict[str, asyncio.Event] = field(default_factory=lambda: defaultdict(asyncio.Event))

    async def send(self, chat_id: str, *replies: Reply) -> Delivery:
        self.attempts.append(chat_id)
        self.tried[chat_id].set()
        if chat_id in self.held:
            await self.held[chat_id].wait()
        planned = self.script.get(chat_id)
        outcome = planned.pop(0) if planned else Delivery.SENT
        if outcome == Delivery.SENT:
            self.sent += [(chat_id, reply) for reply in replies]
            self.arrived[chat_id].set()
        return outcome

    def to(self, chat_id: str) -> list[Reply]:
        return [reply for chat, reply in self.sent if chat == chat_id]


async def waiting_citizen(config, store, dispatcher, code="HS-001", chat="1001"):
    """A citizen who opened the survey link before the return, and the return: an invitation waits."""
    dossier, token = await add_dossier(config, store, code, returned=False)
    await Citizen(dispatcher, chat_id=chat).command("start", token)
    await store.dossiers.mark_returned(code, NOW)
    return dossier


def row(store, table: str, chat: str) -> tuple[str, int, datetime | None, str | None]:
    with sqlite3.connect(store.path) as db:
        status, attempts, next_at, error = db.execute(
            f"SELECT status, attempts, next_attempt_at, error FROM {table} WHERE chat_id = ?", (chat,)
        ).fetchone()
    return status, attempts, datetime.fromisoformat(next_at) if next_at else None, error


async def test_an_outage_never_gives_an_invitation_up(config, store, dispatcher, handlers: Handlers):
    await waiting_citizen(config, store, dispatcher)
    sender = ScriptedSender({"1001": [Delivery.FAILED] * 12})
    now, waits = NOW, []
    for attempt in range(1, 13):
        result = await handlers.invitations.send({"telegram": sender}, now, WEEK)
        status, attempts, next_at, error = row(store, "invitations", "1001")
        assert (result.retrying, status, attempts) == (1, "pending", attempt) and error
        assert next_at is not None
        waits.append(next_at - now)
        now = next_at
    # the waits double from the first and stop at the longest
    assert waits[:4] == [FIRST_RETRY, 2 * FIRST_RETRY, 4 * FIRST_RETRY, 8 * FIRST_RETRY]
    assert waits[-1] == LONGEST_RETRY and all(a <= b for a, b in pairwise(waits))
    result = await handlers.invitations.send({"telegram": sender}, now, WEEK)
    assert result.sent == 1 and len(sender.sent) == 1 and sender.attempts == ["1001"] * 13
    assert row(store, "invitations", "1001")[0] == "sent"


async def test_a_retry_waits_for_its_time(config, store, dispatcher, handlers: Handlers):
    await waiting_citizen(config, store, dispatcher)
    sender = ScriptedSender({"1001": [Delivery.FAILED]})
    await handlers.invitations.send({"telegram": sender}, NOW, WEEK)
    early = await handlers.invitations.send({"telegram": sender}, NOW + FIRST_RETRY / 2, WEEK)
    assert (early.waiting, early.sent) == (1, 0) and sender.attempts == ["1001"]
    assert (await handlers.invitations.send({"telegram": sender}, NOW + FIRST_RETRY, WEEK)).sent == 1


async def test_only_a_refusal_for_good_gives_up(config, store, dispatcher, handlers: Handlers):
    await waiting_citizen(config, store, dispatcher, "HS-001", "1001")
    await waiting_citizen(config, store, dispatcher, "HS-002", "1002")
    sender = ScriptedSender({"1001": [Delivery.REFUSED], "1002": [Delivery.UNREACHABLE]})
    result = await handlers.invitations.send({"telegram": sender}, NOW, WEEK)
    assert (result.failed, result.unreachable) == (1, 1)
    assert row(store, "invitations", "1001")[::3] == ("failed", "the platform refused the message")
    assert row(store, "invitations", "1002")[0] == "unreachable"
    later = await handlers.invitations.send({"telegram": sender}, NOW + timedelta(days=1), WEEK)
    assert later.sent == 0 and sender.attempts == ["1001", "1002"]


async def test_a_resolution_notice_that_failed_many_times_still_asks_the_citizen(
    config, store, dispatcher, handlers: Handlers
):
    citizen, _ = await complain(dispatcher, config, store)
    case = await only_case(store)
    head, staff = Citizen(dispatcher, chat_id="2101"), Citizen(dispatcher, chat_id="2102")
    await head.press_key(CaseButton(case.id, CaseAction.ASSIGN))
    await head.press("Phạm Thị D")
    await staff.press_key(CaseButton(case.id, CaseAction.RESOLVE))
    await staff.say("Đã gọi điện xin lỗi.")
    # the "assigned" and "resolved" notices to the citizen fail through an outage of many rounds
    sender = ScriptedSender({"1001": [Delivery.FAILED] * 12})
    now = NOW
    for _ in range(12):
        await handlers.notices.send({"telegram": sender}, now)
        now += LONGEST_RETRY
    await handlers.notices.send({"telegram": sender}, now)
    assigned, resolved = sender.to("1001")
    assert "đã được giao cho cán bộ Phạm Thị D" in assigned.text  # in the order they were recorded
    assert labels([resolved]) == ["Đã được giải quyết", "Chưa được giải quyết"]
    citizen.last = [resolved]
    await citizen.press("Đã được giải quyết")
    assert (await store.cases.get_case(case.id)).state.value == "closed"


async def test_a_chats_later_notices_wait_behind_one_being_retried(
    config, store, dispatcher, handlers: Handlers
):
    await complain(dispatcher, config, store)
    case = await only_case(store)
    head = Citizen(dispatcher, chat_id="2101")
    await head.press_key(CaseButton(case.id, CaseAction.ASSIGN))
    await head.press("Phạm Thị D")
    staff = Citizen(dispatcher, chat_id="2102")
    await staff.press_key(CaseButton(case.id, CaseAction.RESOLVE))
    await staff.say("Xong.")
    sender = ScriptedSender({"1001": [Delivery.FAILED]})
    first = await handlers.notices.send({"telegram": sender}, NOW)
    # the citizen's first notice failed: their second is not tried before it; the staff member's went
    assert (first.retrying, first.sent, first.waiting) == (1, 1, 1)
    assert sender.attempts.count("1001") == 1
    early = await handlers.notices.send({"telegram": sender}, NOW + FIRST_RETRY / 2)
    assert (early.sent, early.waiting) == (0, 2) and sender.attempts.count("1001") == 1
    await handlers.notices.send({"telegram": sender}, NOW + FIRST_RETRY)
    assigned, resolved = sender.to("1001")
    assert "đã được giao" in assigned.text and "Xong." in resolved.text


async def test_a_slow_chat_holds_up_no_other(config, store, dispatcher, handlers: Handlers):
    await waiting_citizen(config, store, dispatcher, "HS-001", "1001")
    await waiting_citizen(config, store, dispatcher, "HS-002", "1002")
    sender = ScriptedSender(held={"1001": asyncio.Event()})  # flood control: 1001 waits a long time
    round_ = asyncio.create_task(handlers.invitations.send({"telegram": sender}, NOW, WEEK))
    await asyncio.wait_for(sender.arrived["1002"].wait(), timeout=5)
    assert not round_.done() and sender.to("1001") == []
    sender.held["1001"].set()
    assert (await asyncio.wait_for(round_, timeout=5)).sent == 2


async def test_an_overlapping_round_sends_nothing_twice(config, store, dispatcher, handlers: Handlers):
    await waiting_citizen(config, store, dispatcher, "HS-001", "1001")
    sender = ScriptedSender(held={"1001": asyncio.Event()})
    first = asyncio.create_task(handlers.invitations.send({"telegram": sender}, NOW, WEEK))
    await asyncio.wait_for(sender.tried["1001"].wait(), timeout=5)
    second = await asyncio.wait_for(handlers.invitations.send({"telegram": sender}, NOW, WEEK), timeout=5)
    assert second.sent == 0
    sender.held["1001"].set()
    assert (await asyncio.wait_for(first, timeout=5)).sent == 1
    again = await handlers.invitations.send({"telegram": sender}, NOW + timedelta(hours=1), WEEK)
    assert again.sent == 0 and sender.attempts == ["1001"]


async def test_a_claim_left_by_a_crashed_sender_is_taken_over_after_its_lease(
    config, store, dispatcher, handlers: Handlers
):
    await waiting_citizen(config, store, dispatcher)
    (invitation,) = await store.outbox.pending_invitations()
    assert await store.outbox.claim_invitation(invitation.id, NOW, NOW + LEASE)  # then kill -9
    sender = ScriptedSender()
    assert (await handlers.invitations.send({"telegram": sender}, NOW + LEASE / 2, WEEK)).sent == 0
    assert (await handlers.invitations.send({"telegram": sender}, NOW + LEASE, WEEK)).sent == 1
    assert [chat for chat, _ in sender.sent] == ["1001"]


async def test_an_invitation_is_not_sent_once_its_link_expired(config, store, dispatcher, handlers: Handlers):
    await waiting_citizen(config, store, dispatcher)
    sender = ScriptedSender()
    late = NOW + timedelta(days=config.survey.link_valid_days + 1)
    result = await handlers.invitations.send({"telegram": sender}, late, WEEK)
    assert result.skipped == 1 and sender.attempts == []
    assert row(store, "invitations", "1001")[::3] == ("skipped", "the survey link expired")


async def test_a_chats_later_messages_wait_behind_one_another_process_took():
    """Another process claimed the chat's first message after this round read it: the chat's later
    messages wait for the next round rather than overtake the one that process is sending."""
    courier = Courier()
    tried: list[str] = []

    def send(item: str, outcome: Outcome) -> Callable[[], Awaitable[Outcome]]:
        async def sent() -> Outcome:
            tried.append(item)
            return outcome

        return sent

    first = courier.hand_over("telegram:1001", "notice:1", send("notice:1", Outcome.TAKEN))
    second = courier.hand_over("telegram:1001", "notice:2", send("notice:2", Outcome.SENT))
    other = courier.hand_over("telegram:1002", "notice:3", send("notice:3", Outcome.SENT))
    assert await asyncio.gather(first, second, other) == [Outcome.TAKEN, Outcome.WAITING, Outcome.SENT]
    assert tried == ["notice:1", "notice:3"]
    await courier.close()


async def test_a_message_whose_turn_comes_long_after_its_round_is_left_for_a_fresh_round():
    """A backlog waiting for free slots: a message whose turn comes more than half a lease after its
    round handed it over is not begun (claimed with its round's time, its lease could have run out
    already, and another process take it over while it is sent); the chat's later ones neither."""
    seconds = [0.0]
    courier = Courier(at_once=1, clock=lambda: seconds[0])
    slow_chat_sends, slot_taken = asyncio.Event(), asyncio.Event()
    tried: list[str] = []

    def send(item: str, wait: asyncio.Event | None = None) -> Callable[[], Awaitable[Outcome]]:
        async def sent() -> Outcome:
            tried.append(item)
            if wait is not None:
                slot_taken.set()
                await wait.wait()
            return Outcome.SENT

        return sent

    slow = courier.hand_over("telegram:1001", "invitation:1", send("invitation:1", slow_chat_sends))
    stale = courier.hand_over("telegram:1002", "invitation:2", send("invitation:2"))
    later = courier.hand_over("telegram:1002", "invitation:3", send("invitation:3"))
    await asyncio.wait_for(slot_taken.wait(), timeout=5)
    seconds[0] = (LEASE / 2).total_seconds() + 1  # the one slot was busy all that time
    slow_chat_sends.set()
    assert await asyncio.gather(slow, stale, later) == [Outcome.SENT, Outcome.WAITING, Outcome.WAITING]
    assert tried == ["invitation:1"]
    fresh = courier.hand_over("telegram:1002", "invitation:2", send("invitation:2"))  # the next round
    assert await fresh == Outcome.SENT
    await courier.close()
