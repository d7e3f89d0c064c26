"""Work that must go out once, claimed in the database by several bot processes at the same time.

Every scheduled job runs in every process: invitations, notices, letter deliveries, dossier alerts,
digests, monthly reports, new-case announcements; the Zalo OA webhook takes an event once and a ZNS
message is recorded once. Two PostgreSQLStorage instances on one database stand for two processes
(each its own pool of connections and worker threads); both claim the same items at once, many
calls in flight on each, and every item must be claimed exactly once.

A claim left by a process that died is taken over once its lease ran out; the process whose lease
ran out (paused, cut off, slow) may come back and mark what it had claimed: that mark changes
nothing, so it can neither undo the new claimer's record nor cut its lease short, nor make a sent
digest or report claimable again. The takeover tests run on SQLite as well (one storage playing
both processes), where the behaviour is the same."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from storage.base import DuplicateZnsMessage, Storage
from storage.postgresql import PostgreSQLStorage
from storage.records import DigestStatus, LetterStatus, OutboxStatus
from storage.sqlite import SQLiteStorage
from tests.storage.conftest import T0, TREE, answer, hours, open_case, set_units
from tests.storage.test_letters import extend, put
from tests.storage.test_outbox import invite, notify

LEASE = timedelta(minutes=5)
T1 = T0 + hours(1)  # when the claimers run: after every item was recorded
N = 24  # items of each kind
ROUNDS = 3  # claims of each item in flight at once on each storage


@dataclass(frozen=True)
class Work:
    """One kind of work, as a sender in a process sees it."""

    name: str
    make: Callable[[Storage, int], Awaitable[list[Any]]]  # n items, by key
    claim: Callable[[Storage, Any, datetime], Awaitable[bool]]
    # Marks what the sender claimed at that time (sent, or given up): whether it was written.
    finish: Callable[[Storage, Any, datetime, bool], Awaitable[bool]]
    left: Callable[[Storage, list[Any], datetime], Awaitable[list[Any]]]  # keys still to claim
    retry: Callable[[Storage, Any, datetime], Awaitable[int]] | None = None
    state: Callable[[Storage, Any], Awaitable[object]] | None = None  # what a stale mark must not change


# Invitations -------------------------------------------------------------------------------------


async def make_invitations(db: Storage, n: int) -> list[Any]:
    return [i.id for i in await invite(db, *(f"i{k}" for k in range(n)))]


async def invitation_state(db: Storage, key: int) -> object:
    (found,) = [i for i in await db.outbox.list_invitations(list(OutboxStatus)) if i.id == key]
    return found.status, found.attempts, found.error, found.next_attempt_at, found.sent_at


INVITATIONS = Work(
    "invitations",
    make_invitations,
    claim=lambda db, key, now: db.outbox.claim_invitation(key, now, now + LEASE),
    finish=lambda db, key, at, ok: db.outbox.finish_invitation(
        key, OutboxStatus.SENT if ok else OutboxStatus.FAILED, at, claimed_until=at + LEASE
    ),
    left=lambda db, keys, now: _ids(db.outbox.pending_invitations(limit=1000)),
    retry=lambda db, key, at: db.outbox.retry_invitation(
        key, "timeout", at + hours(0.1), claimed_until=at + LEASE
    ),
    state=invitation_state,
)


# Notices -----------------------------------------------------------------------------------------


async def make_notices(db: Storage, n: int) -> list[Any]:
    await notify(db, *(f"n{k}" for k in range(n)))
    return [x.id for x in await db.outbox.pending_notices(limit=1000)]


async def notice_state(db: Storage, key: int) -> object:
    (found,) = [x for x in await db.outbox.list_notices(list(OutboxStatus)) if x.id == key]
    return found.status, found.attempts, found.error, found.next_attempt_at, found.sent_at


NOTICES = Work(
    "notices",
    make_notices,
    claim=lambda db, key, now: db.outbox.claim_notice(key, now, now + LEASE),
    finish=lambda db, key, at, ok: db.outbox.finish_notice(
        key, OutboxStatus.SENT if ok else OutboxStatus.UNREACHABLE, at, claimed_until=at + LEASE
    ),
    left=lambda db, keys, now: _ids(db.outbox.pending_notices(limit=1000)),
    retry=lambda db, key, at: db.outbox.retry_notice(key, "timeout", None, claimed_until=at + LEASE),
    state=notice_state,
)


# Apology letters' deliveries ---------------------------------------------------------------------


async def make_deliveries(db: Storage, n: int) -> list[Any]:
    dossier_id = await put(db, "HS-letters")
    for k in range(n):
        await db.dossiers.link_chat(dossier_id, "telegram", f"l{k}", T0)
    await extend(db, "HS-letters")
    return [d.id for d in await db.letters.pending_letter_deliveries(limit=1000)]


async def delivery_state(db: Storage, key: int) -> object:
    found = [d for d in await db.letters.pending_letter_deliveries(limit=1000) if d.id == key]
    return [(d.status, d.attempts, d.error, d.next_attempt_at) for d in found]


DELIVERIES = Work(
    "letter deliveries",
    make_deliveries,
    claim=lambda db, key, now: db.letters.claim_letter_delivery(key, now, now + LEASE),
    finish=lambda db, key, at, ok: db.letters.finish_letter_delivery(
        key, LetterStatus.SENT if ok else LetterStatus.NOT_DELIVERED, at, claimed_until=at + LEASE
    ),
    left=lambda db, keys, now: _ids(db.letters.pending_letter_deliveries(limit=1000)),
    retry=lambda db, key, at: db.letters.retry_letter_delivery(
        key, "timeout", at + hours(0.1), claimed_until=at + LEASE
    ),
    state=delivery_state,
)


# Dossier alerts (a dossier rescheduled twice: its unit's head and the head above) ----------------


async def make_alerts(db: Storage, n: int) -> list[Any]:
    for k in range(-(-n // 2)):
        await put(db, f"HS-a{k}")
        await extend(db, f"HS-a{k}")
        await extend(db, f"HS-a{k}", at=T0 + hours(0.5))
    return [a.id for a in await db.letters.waiting_alerts(T0, lease=LEASE)][:n]


async def claim_alert(db: Storage, key: int, now: datetime) -> bool:
    return await db.letters.claim_alerts([key], now, lease=LEASE) == [key]


async def alert_state(db: Storage, key: int) -> object:
    found = [a for a in await db.letters.waiting_alerts(T1 + timedelta(days=30), lease=LEASE) if a.id == key]
    return [(a.announced_at, a.attempts) for a in found]


ALERTS = Work(
    "dossier alerts",
    make_alerts,
    claim=claim_alert,
    finish=lambda db, key, at, ok: db.letters.finish_alert(
        key, "sent" if ok else "unreachable", claimed_at=at
    ),
    left=lambda db, keys, now: _ids(db.letters.waiting_alerts(now, lease=LEASE)),
    retry=lambda db, key, at: db.letters.retry_alert(key, "not accepted now", at + hours(0.1), claimed_at=at),
    state=alert_state,
)


# Digests (a unit and a day) ----------------------------------------------------------------------


async def make_digests(db: Storage, n: int) -> list[Any]:
    days = [date(2026, 11, 1) + timedelta(days=k) for k in range(-(-n // len(TREE)))]
    return [(unit.code, day) for day in days for unit in TREE][:n]


async def digests_left(db: Storage, keys: list[Any], now: datetime) -> list[Any]:
    done = {
        (d.unit_code, d.day)
        for d in await db.digests.list_digests([s for s in DigestStatus if s.value != "sending"])
    }
    claimed = {(d.unit_code, d.day) for d in await db.digests.list_digests([DigestStatus.SENDING])}
    due = {
        (code, day)
        for day in {k[1] for k in keys}
        for code in await db.digests.due_digests(day, now, lease=LEASE)
    }
    return [k for k in keys if k not in done and (k not in claimed or k in due)]


async def digest_state(db: Storage, key: tuple[str, date]) -> object:
    found = [d for d in await db.digests.list_digests(list(DigestStatus)) if (d.unit_code, d.day) == key]
    return [(d.status, d.claimed_at, d.attempts, d.error, d.next_attempt_at, d.sent_at) for d in found]


DIGESTS = Work(
    "digests",
    make_digests,
    claim=lambda db, key, now: db.digests.claim_digest(*key, now, lease=LEASE),
    finish=lambda db, key, at, ok: db.digests.finish_digest(
        *key, DigestStatus.SENT if ok else DigestStatus.FAILED, at, claimed_at=at
    ),
    left=digests_left,
    retry=lambda db, key, at: db.digests.retry_digest(*key, "timeout", at + hours(0.1), claimed_at=at),
    state=digest_state,
)


# Monthly reports (a unit, or the whole tree, and a month) ----------------------------------------


async def make_reports(db: Storage, n: int) -> list[Any]:
    scopes = [u.code for u in TREE] + ["*"]
    return [(scope, f"2026-{month:02d}") for month in range(1, 13) for scope in scopes][:n]


async def reports_left(db: Storage, keys: list[Any], now: datetime) -> list[Any]:
    return keys  # the repository lists none: a claim says whether one is still to send


REPORTS = Work(
    "monthly reports",
    make_reports,
    claim=lambda db, key, now: db.reports.claim_monthly_report(*key, now, lease=LEASE),
    finish=lambda db, key, at, ok: db.reports.finish_monthly_report(*key, at, sent=ok, claimed_at=at),
    left=reports_left,
)


# At most once, never taken over: new-case announcements (the morning digest lists every new case),
# webhook events taken in, ZNS messages recorded before they are sent (a tracking id once).


async def make_cases(db: Storage, n: int) -> list[Any]:
    return [(await open_case(db, f"HS-c{k}", chat=f"c{k}")).id for k in range(n)]


async def announce(db: Storage, key: int, now: datetime) -> bool:
    return await db.cases.mark_announced([key], now) == [key]


async def cases_left(db: Storage, keys: list[Any], now: datetime) -> list[Any]:
    return [c.id for c in await db.cases.unannounced_cases()]


async def make_events(db: Storage, n: int) -> list[Any]:
    return [f"msg:m{k}" for k in range(n)]


async def make_zns(db: Storage, n: int) -> list[Any]:
    return [f"invitation-{k}" for k in range(n)]


async def record_zns(db: Storage, key: str, now: datetime) -> bool:
    try:
        await db.zalo_oa.add_zns_message(
            purpose="rating",
            dossier_id=None,
            template_id="t-1",
            tracking_id=key,
            phone="84901234567",
            now=now,
        )
    except DuplicateZnsMessage:
        return False
    return True


async def nothing_to_mark(db: Storage, key: Any, at: datetime, ok: bool) -> bool:
    return True


async def every_key(db: Storage, keys: list[Any], now: datetime) -> list[Any]:
    return keys


ANNOUNCEMENTS = Work("new-case announcements", make_cases, announce, nothing_to_mark, cases_left)
WEBHOOK_EVENTS = Work(
    "webhook events",
    make_events,
    claim=lambda db, key, now: db.zalo_oa.record_webhook_event(key, "user_send_text", now),
    finish=nothing_to_mark,
    left=every_key,
)
ZNS_MESSAGES = Work("ZNS messages", make_zns, record_zns, nothing_to_mark, every_key)

LEASED = [INVITATIONS, NOTICES, DELIVERIES, ALERTS, DIGESTS, REPORTS]
EVERY_KIND = [*LEASED, ANNOUNCEMENTS, WEBHOOK_EVENTS, ZNS_MESSAGES]


async def _ids(pending: Awaitable[list[Any]]) -> list[Any]:
    return [item.id for item in await pending]


def named(kinds: list[Work]) -> Any:
    return pytest.mark.parametrize("work", kinds, ids=[w.name for w in kinds])


# Two processes ------------------------------------------------------------------------------------


async def opened(url: str) -> PostgreSQLStorage:
    store = PostgreSQLStorage(url, pool_size=4)
    await store.open()
    return store


async def processes(url: str) -> tuple[Storage, Storage]:
    """Two processes' storages on one PostgreSQL database holding TREE."""
    first, second = await opened(url), await opened(url)
    await set_units(first, TREE)
    return first, second


@pytest.fixture
async def two(postgresql_emptied_url: str) -> AsyncIterator[tuple[Storage, Storage]]:
    first, second = await processes(postgresql_emptied_url)
    yield first, second
    await first.close()
    await second.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def pair(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Storage, Storage]]:
    """Two senders: two processes on PostgreSQL; on SQLite (one process per database) one storage."""
    if request.param == "postgresql":
        first, second = await processes(request.getfixturevalue("postgresql_emptied_url"))
    else:
        first = second = SQLiteStorage(tmp_path / "claims.db")
        await first.open()
        await set_units(first, TREE)
    yield first, second
    await first.close()
    if second is not first:
        await second.close()


async def drain(db: Storage, work: Work, keys: list[Any], now: datetime) -> list[Any]:
    """A process's sender: claims what is left (every claim of a pass in flight at once), marks
    each claimed one sent, until a pass claims nothing. The keys it claimed."""
    mine: list[Any] = []
    while True:
        left = await work.left(db, keys, now)
        won = await asyncio.gather(*(work.claim(db, key, now) for key in left))
        claimed = [key for key, ok in zip(left, won, strict=True) if ok]
        if not claimed:
            return mine
        marked = await asyncio.gather(*(work.finish(db, key, now, True) for key in claimed))
        assert all(marked), f"{work.name}: a sender's own claim was not marked"
        mine += claimed


@named(EVERY_KIND)
async def test_two_processes_draining_at_once_claim_each_item_exactly_once(two, work: Work):
    first, second = two
    keys = await work.make(first, N)
    assert len(keys) == N
    mine, theirs = await asyncio.gather(drain(first, work, keys, T1), drain(second, work, keys, T1))
    assert Counter(mine) + Counter(theirs) == Counter(keys)  # each once, none twice, none lost
    if work not in (REPORTS, WEBHOOK_EVENTS, ZNS_MESSAGES):
        assert await work.left(first, keys, T1 + 10 * LEASE) == []


@named(EVERY_KIND)
async def test_many_claims_of_each_item_at_once_on_both_processes_win_once(two, work: Work):
    first, second = two
    keys = await work.make(first, N)
    calls = [(key, db) for _ in range(ROUNDS) for db in (first, second) for key in keys]
    won = await asyncio.gather(*(work.claim(db, key, T1) for key, db in calls))
    assert Counter(key for (key, _), ok in zip(calls, won, strict=True) if ok) == Counter(keys)


@named(LEASED)
async def test_the_claims_of_a_killed_process_are_taken_over_once_its_lease_ran_out(
    two, work: Work, postgresql_emptied_url: str
):
    first, second = two
    keys = await work.make(first, N)
    killed = await opened(postgresql_emptied_url)
    held = await asyncio.gather(*(work.claim(killed, key, T1) for key in keys[: N // 2]))
    assert all(held)
    await killed.close()  # its connections gone, as kill -9 leaves them: only its claims stay
    during = T1 + LEASE / 2
    early = await asyncio.gather(drain(first, work, keys, during), drain(second, work, keys, during))
    assert Counter(early[0]) + Counter(early[1]) == Counter(keys[N // 2 :])  # what it held waits
    after = T1 + LEASE + timedelta(seconds=1)
    late = await asyncio.gather(drain(first, work, keys, after), drain(second, work, keys, after))
    assert Counter(late[0]) + Counter(late[1]) == Counter(keys[: N // 2])  # taken over, each once


@named(LEASED)
async def test_a_late_mark_racing_the_takeover_of_its_claim_wins_or_loses_whole(two, work: Work):
    """The first process marks what it claimed just as its lease ran out and the second takes the
    same items over, at once: for each item exactly one of them wins (marked sent, and then not
    taken over; or taken over, and then the mark not written), never both, never neither."""
    first, second = two
    keys = await work.make(first, N)
    assert all(await asyncio.gather(*(work.claim(first, key, T1) for key in keys)))
    taken_at = T1 + LEASE + timedelta(seconds=1)
    marks = asyncio.gather(*(work.finish(first, key, T1, True) for key in keys))
    takeovers = asyncio.gather(*(work.claim(second, key, taken_at) for key in keys))
    marked, taken = await asyncio.gather(marks, takeovers)
    assert [m != t for m, t in zip(marked, taken, strict=True)] == [True] * N


# A lease that ran out and was taken over: the late sender's marks change nothing ------------------


@named(LEASED)
async def test_an_expired_claim_is_taken_over_and_the_late_senders_marks_change_nothing(pair, work: Work):
    late, other = pair
    (key,) = await work.make(late, 1)
    assert await work.claim(late, key, T1)
    assert not await work.claim(other, key, T1 + LEASE / 2)  # held
    taken_at = T1 + LEASE + timedelta(seconds=1)
    assert await work.claim(other, key, taken_at)  # its lease ran out: taken over
    before = await work.state(other, key) if work.state else None
    assert not await work.finish(late, key, T1, False)  # the late sender's outcome: not written
    if work.retry is not None:
        assert await work.retry(late, key, T1) == 0  # nor its retry, which would end the new lease
    if work.state is not None:
        assert await work.state(other, key) == before
    assert not await work.claim(late, key, taken_at + LEASE / 2)  # the new claim still holds
    assert await work.finish(other, key, taken_at, True)
    after = await work.state(other, key) if work.state else None
    assert not await work.finish(late, key, T1, False)  # nor after the new claimer's record
    if work.retry is not None:
        assert await work.retry(late, key, T1) == 0
    if work.state is not None:
        assert await work.state(other, key) == after
    assert not await work.claim(late, key, taken_at + 100 * LEASE)  # done: never claimed again


@named(LEASED)
async def test_a_sender_whose_lease_ran_out_untaken_still_marks_its_claim(pair, work: Work):
    sender, _ = pair
    (key,) = await work.make(sender, 1)
    assert await work.claim(sender, key, T1)
    assert await work.finish(sender, key, T1, True)  # late, but nobody took it over: written
    assert not await work.finish(sender, key, T1, True)  # once
    assert not await work.claim(sender, key, T1 + 100 * LEASE)


@named([w for w in LEASED if w.retry is not None])
async def test_a_retried_item_is_claimed_again_once_and_the_first_claim_marks_nothing_more(pair, work: Work):
    first, second = pair
    (key,) = await work.make(first, 1)
    assert await work.claim(first, key, T1)
    assert await work.retry(first, key, T1) == 1  # released, due again at T1 + 0.1 h
    again = T1 + hours(0.2)
    assert await work.claim(second, key, again)
    assert not await work.finish(first, key, T1, True)  # the first claim ended with its retry
    assert await work.finish(second, key, again, True)


# Claims of many items in one statement, as the alert and new-case jobs make them -------------------


async def test_overlapping_batches_of_alerts_claimed_at_once_claim_each_alert_once(two):
    first, second = two
    keys = await make_alerts(first, N)
    batches = [keys, keys[::-1], keys[: N // 2], keys[N // 3 :]]  # overlapping, in different orders
    calls = [(db, batch) for batch in batches for db in (first, second)]
    won = await asyncio.gather(*(db.letters.claim_alerts(batch, T1, lease=LEASE) for db, batch in calls))
    assert Counter(key for claimed in won for key in claimed) == Counter(keys)


async def test_overlapping_batches_of_new_cases_announced_at_once_announce_each_case_once(two):
    first, second = two
    keys = await make_cases(first, N)
    batches = [keys, keys[::-1], keys[: N // 2], keys[N // 3 :]]
    calls = [(db, batch) for batch in batches for db in (first, second)]
    won = await asyncio.gather(*(db.cases.mark_announced(batch, T1) for db, batch in calls))
    assert Counter(key for claimed in won for key in claimed) == Counter(keys)
    assert await first.cases.unannounced_cases() == []


async def test_retention_erasure_run_by_both_processes_at_once_erases_every_dossier(two):
    """Both processes' nightly runs erase at once: each batch in one transaction (one raced by the
    other is run again, whole, and erases again what is erased: the same result)."""
    first, second = two
    ids = [(await answer(first, f"HS-r{k}", chat=f"r{k}")).dossier_id for k in range(6)]
    later = T1 + timedelta(days=800)

    async def erase_expired(db: Storage) -> list[int]:
        erased: list[int] = []
        while found := await db.privacy.inactive_dossiers(T1 + hours(1), 2):
            await db.privacy.forget_dossiers(found, actor="retention", now=later, note="hết hạn lưu trữ")
            erased += found
        return erased

    mine, theirs = await asyncio.gather(erase_expired(first), erase_expired(second))
    assert set(mine) | set(theirs) == set(ids)
    assert await first.privacy.inactive_dossiers(later, 100) == []
    for dossier_id in ids:
        dossier = await second.dossiers.get_dossier_by_id(dossier_id)
        assert dossier is not None and (dossier.citizen_name, dossier.phone) == (None, None)


async def test_the_oa_token_refreshed_by_both_processes_at_once_is_written_by_one(two):
    """Zalo honours a refresh token once: of the processes that read one generation and refreshed
    it at once, one pair is written, and the others reload it."""
    first, second = two
    seeded = await first.zalo_oa.seed_oa_token("rt-env", "hash-1", T0)
    written = await asyncio.gather(
        *(
            db.zalo_oa.save_oa_token(
                seeded.generation,
                access_token=f"at-{n}",
                access_expires_at=T1 + hours(25),
                refresh_token=f"rt-{n}",
                now=T1,
            )
            for n, db in enumerate([first, second] * ROUNDS)
        )
    )
    (winner,) = [pair for pair in written if pair is not None]
    assert await second.zalo_oa.get_oa_token() == winner
