"""Two bot processes' jobs on one PostgreSQL database, run at the same time as the scheduler runs them
in each: every invitation, notice and digest reaches its chat once, none is lost; and what one
process keeps in memory follows what the other writes.

Each process is its own storage (a pool of connections) and its own handlers (its own courier), as
`feedback-bot run` builds them; the chat platform is one, shared, and slow enough that the two
processes' rounds overlap."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import Handlers, build_handlers, seed_directory
from bot.config import Config
from handlers.cases import CaseAction, CaseButton
from handlers.chat import Delivery, Reply
from storage.postgresql import PostgreSQLStorage
from storage.records import CaseState, OutboxStatus
from tests.conftest import NOW, Citizen, add_dossier, make_config
from tests.fakes import RecordingSender
from tests.test_cases import complain
from tests.test_digest_delivery import MORNING
from tests.test_outbox_delivery import WEEK, waiting_citizen
from tests.test_question_sets import WARD_SET, imported

CITIZENS = 8


class SlowPlatform(RecordingSender):
    """One platform both processes send to; each send takes a moment, so their rounds overlap."""

    async def send(self, chat_id: str, *replies: Reply) -> Delivery:
        await asyncio.sleep(0.005)
        return await super().send(chat_id, *replies)


@dataclass
class Processes:
    config: Config
    first: Handlers
    second: Handlers
    store: PostgreSQLStorage  # the first's, for the test to look at

    @property
    def both(self) -> tuple[Handlers, Handlers]:
        return self.first, self.second


@pytest.fixture
async def processes(tmp_path: Path, postgresql_migrated_url: str) -> AsyncIterator[Processes]:
    config = make_config(tmp_path, database=postgresql_migrated_url)
    stores = [PostgreSQLStorage(postgresql_migrated_url, pool_size=4) for _ in range(2)]
    for store in stores:
        await store.open()
    await seed_directory(stores[0], config)
    yield Processes(config, build_handlers(config, stores[0]), build_handlers(config, stores[1]), stores[0])
    for store in stores:
        await store.close()


def sends_to(platform: RecordingSender) -> Counter[str]:
    return Counter(chat for chat, _ in platform.sent)


async def test_each_invitation_goes_once_when_both_processes_send_at_once(processes: Processes):
    chats = [str(1001 + n) for n in range(CITIZENS)]
    for n, chat in enumerate(chats):
        await waiting_citizen(
            processes.config, processes.store, processes.first.dispatcher, f"HS-{n:03d}", chat
        )
    platform = SlowPlatform()
    for minute in range(3):  # the scheduler's rounds, in both processes at once
        now = NOW + timedelta(minutes=minute)
        await asyncio.gather(*(p.invitations.send({"telegram": platform}, now, WEEK) for p in processes.both))
    assert sends_to(platform) == Counter(chats)
    assert await processes.store.outbox.pending_invitations() == []


async def test_each_notice_goes_once_when_both_processes_send_at_once(processes: Processes):
    for n in range(CITIZENS):
        await complain(
            processes.first.dispatcher, processes.config, processes.store, f"HS-{n:03d}", str(1001 + n)
        )
    head = Citizen(processes.first.dispatcher, chat_id="2101")
    for case in await processes.store.cases.list_cases(["Q1-BN"], states=list(CaseState)):
        await head.press_key(CaseButton(case.id, CaseAction.ASSIGN))  # the citizen and the staff told
        await head.press("Phạm Thị D")
    waiting = await processes.store.outbox.pending_notices()
    assert len(waiting) == 2 * CITIZENS
    platform = SlowPlatform()
    for minute in range(3):
        now = NOW + timedelta(minutes=minute)
        await asyncio.gather(*(p.notices.send({"telegram": platform}, now) for p in processes.both))
    assert len(platform.sent) == len(waiting)  # one message each: none twice, none lost
    sent = await processes.store.outbox.list_notices([OutboxStatus.SENT])
    assert sorted(n.id for n in sent) == sorted(n.id for n in waiting)


async def test_each_digest_goes_once_when_both_processes_send_at_once(processes: Processes):
    for n in range(CITIZENS):
        await complain(
            processes.first.dispatcher, processes.config, processes.store, f"HS-{n:03d}", str(1001 + n)
        )
    platform = SlowPlatform()
    runs = await asyncio.gather(
        *(p.digests.send({"telegram": platform}, MORNING, show=5) for p in processes.both)
    )
    again = await asyncio.gather(
        *(
            p.digests.send({"telegram": platform}, MORNING + timedelta(hours=1), show=5)
            for p in processes.both
        )
    )
    assert sum(r.sent for r in runs) >= 1 and sum(r.sent for r in again) == 0
    digests = [reply for chat, reply in platform.sent if "Báo cáo ngày 27/11/2026" in reply.text]
    assert len(digests) == sum(r.sent for r in runs)  # each unit's digest once, from one process


async def test_a_question_set_the_other_process_activates_is_asked_at_once(processes: Processes):
    """Each process keeps the active sets and the unit tree in memory, checked against the version
    the database grows with every change, so the other process's import is seen by the next survey."""
    first_sets, second_sets = (p.dispatcher.survey.sets for p in processes.both)
    dossier, _ = await add_dossier(processes.config, processes.store, "HS-001")
    assert (await first_sets.for_dossier(dossier)).id == "default"  # kept in the first's memory
    await imported(second_sets, WARD_SET)  # an admin's file, taken by the other process
    assert (await first_sets.for_dossier(dossier)).id == "ward-five-level"
