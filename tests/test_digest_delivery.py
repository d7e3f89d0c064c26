"""Digests that are never lost nor counted as sent when they were not: a claim left by a run that
died is taken over after its lease; a digest is sent only when the platform accepted every message
of it, else retried with backoff (or, refused for good, reported); and what could not be delivered
(a notice to a citizen who blocked the bot, a digest that reached nobody) is in the next digest."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta

from bot.app import Handlers
from handlers.cases import CaseAction, CaseButton
from handlers.chat import Delivery, Reply
from handlers.digest import DIGEST_LEASE, FIRST_DIGEST_RETRY
from storage.records import DigestStatus
from tests.conftest import Citizen
from tests.fakes import RecordingSender
from tests.test_cases import complain, only_case

DAY = date(2026, 11, 27)
MORNING = datetime(2026, 11, 27, 0, 30, tzinfo=UTC)  # 07:30 local, the day after the complaint


def to(sender: RecordingSender, chat_id: str) -> list[Reply]:
    return [reply for chat, reply in sender.sent if chat == chat_id]


def digest_row(store, unit: str = "Q1-BN", day: date = DAY) -> tuple[str, int, str | None]:
    with sqlite3.connect(store.path) as db:
        found = db.execute(
            "SELECT status, attempts, error FROM digests WHERE unit_code = ? AND day = ?",
            (unit, day.isoformat()),
        ).fetchone()
    return tuple(found) if found else None


class FirstReplyOnly(RecordingSender):
    """A channel that accepts the first message of a batch and then fails (a 429 storm, a 5xx)."""

    def __init__(self, failing: set[str]) -> None:
        super().__init__()
        self.failing = failing

    async def send(self, chat_id: str, *replies: Reply) -> Delivery:
        if chat_id not in self.failing:
            return await super().send(chat_id, *replies)
        self.sent.append((chat_id, replies[0]))
        return Delivery.FAILED


async def test_a_claim_left_by_a_run_that_died_is_taken_over_after_its_lease(
    config, store, dispatcher, handlers: Handlers
):
    await complain(dispatcher, config, store)
    with sqlite3.connect(store.path) as db:  # `feedback-bot digest` was killed after claiming Q1-BN
        db.execute(
            "INSERT INTO digests (unit_code, day, status, claimed_at) VALUES ('Q1-BN', ?, 'sending', ?)",
            (DAY.isoformat(), MORNING.isoformat()),
        )
    sender = RecordingSender()
    soon = await handlers.digests.send({"telegram": sender}, MORNING + DIGEST_LEASE / 2, show=5)
    assert (soon.sent, soon.already) == (0, 1) and to(sender, "2101") == []  # it may still be going
    later = await handlers.digests.send({"telegram": sender}, MORNING + DIGEST_LEASE, show=5)
    assert (later.sent, later.already) == (1, 0)
    assert "Báo cáo ngày 27/11/2026" in to(sender, "2101")[0].text
    assert digest_row(store)[0] == "sent"


async def test_the_running_bot_takes_over_a_stale_claim_without_waiting_for_tomorrow(
    config, store, dispatcher, handlers: Handlers
):
    await complain(dispatcher, config, store)
    assert await store.digests.claim_digest("Q1-BN", DAY, MORNING, lease=DIGEST_LEASE)  # then kill -9
    sender = RecordingSender()
    assert (await handlers.digests.retry({"telegram": sender}, MORNING + DIGEST_LEASE / 2, show=5)).sent == 0
    assert (await handlers.digests.retry({"telegram": sender}, MORNING + DIGEST_LEASE, show=5)).sent == 1
    assert len(to(sender, "2101")) == 2


async def test_a_digest_not_accepted_whole_is_retried_not_recorded_as_sent(
    config, store, dispatcher, handlers: Handlers
):
    await complain(dispatcher, config, store)
    storm = FirstReplyOnly({"2101"})
    run = await handlers.digests.send({"telegram": storm}, MORNING, show=5)
    assert (run.sent, run.retrying) == (0, 1)
    status, attempts, error = digest_row(store)
    assert (status, attempts) == ("retrying", 1) and "telegram" in error
    # the head above does not get it instead: the head's chat is there, only not accepting now
    assert to(storm, "2001") == []
    early = await handlers.digests.retry({"telegram": storm}, MORNING + FIRST_DIGEST_RETRY / 2, show=5)
    assert early.sent == 0 and len(to(storm, "2101")) == 1
    storm.failing.clear()
    again = await handlers.digests.retry({"telegram": storm}, MORNING + FIRST_DIGEST_RETRY, show=5)
    assert again.sent == 1 and digest_row(store)[0] == "sent"
    header, complaint = to(storm, "2101")[1:]
    assert "Báo cáo ngày 27/11/2026" in header.text and "HS-001" in complaint.text
    # sent now: a later run does not send it again
    assert (
        await handlers.digests.send({"telegram": storm}, MORNING + timedelta(hours=5), show=5)
    ).already == 1


async def test_a_digest_refused_for_good_is_recorded_failed_and_not_retried(
    config, store, dispatcher, handlers: Handlers
):
    await complain(dispatcher, config, store)
    refusing = RecordingSender(outcomes={"2101": Delivery.REFUSED})
    run = await handlers.digests.send({"telegram": refusing}, MORNING, show=5)
    assert (run.sent, run.failed) == (0, 1)
    assert digest_row(store)[::2] == ("failed", "telegram refused a message of it")
    assert await store.digests.due_digests(DAY, MORNING + timedelta(hours=3), lease=DIGEST_LEASE) == []


async def test_notices_given_up_are_in_the_units_next_digest(config, store, dispatcher, handlers: Handlers):
    await complain(dispatcher, config, store)
    case = await only_case(store)
    head = Citizen(dispatcher, chat_id="2101")
    await head.press_key(CaseButton(case.id, CaseAction.ASSIGN))
    await head.press("Phạm Thị D")
    blocked = RecordingSender(outcomes={"1001": Delivery.UNREACHABLE})  # the citizen blocked the bot
    await handlers.notices.send({"telegram": blocked}, MORNING - timedelta(hours=1))
    sender = RecordingSender()
    await handlers.digests.send({"telegram": sender}, MORNING, show=5)
    header = to(sender, "2101")[0].text
    assert "Không gửi được:" in header
    assert f"#{case.id}: báo người dân phản ánh đã được giao cho cán bộ — người nhận đã chặn bot" in header
    # listed once: the next digest lists only what was given up since this one
    tomorrow = datetime(2026, 11, 28, 0, 30, tzinfo=UTC)
    await handlers.digests.send({"telegram": sender}, tomorrow, show=5)
    assert "Không gửi được" not in to(sender, "2101")[-1].text


async def test_a_digest_that_reached_nobody_is_in_the_next_one(config, store, dispatcher, handlers: Handlers):
    await complain(dispatcher, config, store)
    nobody = RecordingSender(outcomes={"2101": Delivery.UNREACHABLE, "2001": Delivery.UNREACHABLE})
    assert (await handlers.digests.send({"telegram": nobody}, MORNING, show=5)).unreachable == 1
    for chat in ("2101", "2001"):  # they wrote to the bot again
        await store.chats.mark_reachable("telegram", chat)
    sender = RecordingSender()
    await handlers.digests.send({"telegram": sender}, datetime(2026, 11, 28, 0, 30, tzinfo=UTC), show=5)
    header = to(sender, "2101")[0].text
    assert "Báo cáo ngày 27/11/2026 không gửi được (không liên lạc được với ai)" in header


async def test_the_english_digest_says_what_was_not_delivered(config, store, dispatcher, handlers: Handlers):
    await complain(dispatcher, config, store)
    case = await only_case(store)
    head = Citizen(dispatcher, chat_id="2101")
    await head.press_key(CaseButton(case.id, CaseAction.ASSIGN))
    await head.press("Phạm Thị D")
    await handlers.notices.send({"telegram": RecordingSender(outcomes={"1001": Delivery.REFUSED})}, MORNING)
    await store.chats.set_language("telegram", "2101", "en")
    sender = RecordingSender()
    await handlers.digests.send({"telegram": sender}, MORNING + timedelta(minutes=1), show=5)
    header = to(sender, "2101")[0].text
    assert "Not delivered:" in header
    assert (
        f"#{case.id}: telling the citizen the complaint was assigned — the platform refused the message"
        in header
    )
    assert DigestStatus.SENT.value == digest_row(store)[0]


async def test_a_heads_chat_under_flood_control_holds_up_no_other_digest(
    config, store, dispatcher, handlers: Handlers
):
    import asyncio

    from tests.test_outbox_delivery import ScriptedSender

    await complain(dispatcher, config, store, "HS-001", "1001")
    _, dossier = await complain(dispatcher, config, store, "HS-002", "1002")
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE dossiers SET unit_code = 'Q3' WHERE id = ?", (dossier.id,))
        db.execute("UPDATE cases SET unit_code = 'Q3' WHERE dossier_id = ?", (dossier.id,))
    sender = ScriptedSender(held={"2101": asyncio.Event()})  # Bến Nghé's head waits out a 429
    run = asyncio.create_task(handlers.digests.send({"telegram": sender}, MORNING, show=5))
    await asyncio.wait_for(sender.arrived["3001"].wait(), timeout=5)  # Quận 3's digest went meanwhile
    assert not run.done()
    sender.held["2101"].set()
    assert (await asyncio.wait_for(run, timeout=5)).sent == 2


class OneAtATime(RecordingSender):
    """A channel that lets others run between the messages of a batch, as a real one does."""

    async def send(self, chat_id: str, *replies: Reply) -> Delivery:
        import asyncio

        for reply in replies:
            await asyncio.sleep(0)
            self.sent.append((chat_id, reply))
        return Delivery.SENT


async def test_two_digests_for_one_head_never_interleave(config, store, dispatcher, handlers: Handlers):
    await complain(dispatcher, config, store)
    await store.chats.mark_unreachable("telegram", "2101", MORNING)  # Bến Nghé's goes to Quận 1's head
    sender = OneAtATime()
    overdue = datetime(2026, 12, 2, 0, 30, tzinfo=UTC)  # Quận 1's own digest lists it as escalated
    assert (await handlers.digests.send({"telegram": sender}, overdue, show=5)).sent == 2
    texts = [reply.text for reply in to(sender, "2001")]
    headers = [n for n, message in enumerate(texts) if message.startswith(("Báo cáo", "Lưu ý"))]
    assert len(headers) == 2 and len(texts) == 3
    # each digest whole: the forwarded one's header is followed by its own complaint
    forwarded = next(n for n in headers if texts[n].startswith("Lưu ý: không liên lạc được"))
    assert forwarded + 1 < len(texts) and "HS-001" in texts[forwarded + 1]


async def test_batches_to_one_chat_wait_for_each_other_and_other_chats_do_not():
    import asyncio

    from handlers.chat import Address
    from handlers.outbox import ChatLocks

    locks, order, release = ChatLocks(), [], asyncio.Event()

    async def batch(name: str, chat: str) -> None:
        async with locks.hold(Address("telegram", chat)):
            order.append(f"{name} begins")
            if name == "first":
                await release.wait()
            order.append(f"{name} ends")

    first = asyncio.create_task(batch("first", "2001"))
    second = asyncio.create_task(batch("second", "2001"))
    other = asyncio.create_task(batch("other", "3001"))
    await asyncio.wait_for(other, timeout=5)  # another chat: not held up
    assert order == ["first begins", "other begins", "other ends"]
    release.set()
    await asyncio.wait_for(asyncio.gather(first, second), timeout=5)
    assert order[3:] == ["first ends", "second begins", "second ends"]
