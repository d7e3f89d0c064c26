"""The survey's shortcuts kept honest: the active question sets and the unit tree are kept in the
process, yet a set imported or activated, or a unit moved, by another process (the command line)
is asked at the next start; and with many chats answering at once, each answer is committed
before its citizen is answered."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import Update

from bot.channels.telegram import TelegramChannel
from bot.config import Config
from handlers.question_sets import QuestionSets
from storage.records import PersonEntry, Unit
from storage.sqlite import SQLiteStorage
from tests.conftest import NOW, Citizen, add_dossier, labels
from tests.telegram_fake import FakeTelegram, Updates
from tests.test_question_sets import WARD_SET, variant

FIVE_LEVELS = ["Rất hài lòng", "Hài lòng", "Bình thường", "Không hài lòng", "Rất không hài lòng"]
THREE_LEVELS = ["Hài lòng", "Bình thường", "Không hài lòng"]


@pytest.fixture
async def other_process(config: Config) -> AsyncIterator[SQLiteStorage]:
    """The same database opened beside the running bot, as `feedback-bot questions import` does."""
    store = SQLiteStorage(config.database)
    await store.open()
    yield store
    await store.close()


def sets_of(store: SQLiteStorage, dispatcher: Any) -> QuestionSets:
    return QuestionSets(store.question_sets, store.directory, dispatcher.survey.sets.default)


async def started(config, store, dispatcher, code: str, chat: str, unit: str = "Q1-BN") -> list[str]:
    """The rating options a citizen is offered on opening a new dossier's link."""
    _, token = await add_dossier(config, store, code, unit=unit)
    return labels(await Citizen(dispatcher, chat_id=chat).command("start", token))


async def test_a_set_imported_and_activated_by_another_process_is_asked_at_the_next_start(
    config, store, dispatcher, other_process
):
    assert await started(config, store, dispatcher, "HS-1", "1001") == THREE_LEVELS  # the sets are kept
    elsewhere = sets_of(other_process, dispatcher)
    stored, _ = await elsewhere.import_set(WARD_SET, "ward.yaml", NOW, "cli")
    assert await started(config, store, dispatcher, "HS-2", "1002") == THREE_LEVELS  # imported, not active
    await other_process.question_sets.activate_question_set(stored.id, NOW, "cli")
    assert await started(config, store, dispatcher, "HS-3", "1003") == FIVE_LEVELS
    newer, _ = await elsewhere.import_set(variant(WARD_SET, scope={"units": ["Q3"]}), "ward.yaml", NOW, "cli")
    await other_process.question_sets.activate_question_set(newer.id, NOW, "cli")  # version 1 stops
    assert await started(config, store, dispatcher, "HS-4", "1004") == THREE_LEVELS
    assert await started(config, store, dispatcher, "HS-5", "1005", unit="Q3") == FIVE_LEVELS


async def test_a_unit_moved_by_another_process_takes_the_sets_scoped_above_it(
    config, store, dispatcher, other_process
):
    district = variant(WARD_SET, id="district", scope={"units": ["Q3"]})
    stored, _ = await sets_of(store, dispatcher).import_set(district, "q3.yaml", NOW, "admin")
    await store.question_sets.activate_question_set(stored.id, NOW, "admin")
    assert await started(config, store, dispatcher, "HS-1", "1001") == THREE_LEVELS  # Q1-BN is under Q1
    await other_process.directory.apply_directory(
        units=[Unit(code="Q1-BN", name="UBND Phường Bến Nghé", parent_code="Q3")],
        people=await _active_people(other_process),
        retired=[],
        moves={},
        now=NOW,
        actor="cli",
        summary="Q1-BN moves under Q3",
    )
    assert await started(config, store, dispatcher, "HS-2", "1002") == FIVE_LEVELS


async def _active_people(store: SQLiteStorage) -> list[PersonEntry]:
    """The directory's people as they are, to apply a change of units alone."""
    return [
        PersonEntry(unit_code=p.unit_code, role=p.role, name=p.name, contacts=p.contacts, person_id=p.id)
        for p in await store.directory.all_people()
    ]


async def test_an_invitation_asks_the_set_another_process_activated(config, store, handlers, other_process):
    dispatcher = handlers.dispatcher
    assert await started(config, store, dispatcher, "HS-1", "1001") == THREE_LEVELS
    stored, _ = await sets_of(other_process, dispatcher).import_set(WARD_SET, "ward.yaml", NOW, "cli")
    await other_process.question_sets.activate_question_set(stored.id, NOW, "cli")
    dossier, _ = await add_dossier(config, store, "HS-2")
    reply = await handlers.invitations.flow.begin(
        Citizen(dispatcher, chat_id="1002").address, dossier, "vi", NOW
    )
    assert [o.label for o in reply.options] == FIVE_LEVELS


async def test_the_active_sets_are_read_again_only_after_a_change(config, store, dispatcher, monkeypatch):
    reads = []
    active = store.question_sets.active_question_sets

    async def counted() -> Any:
        reads.append(1)
        return await active()

    monkeypatch.setattr(store.question_sets, "active_question_sets", counted)
    for n in range(3):
        await started(config, store, dispatcher, f"HS-{n}", f"100{n}")
    assert len(reads) == 1
    stored, _ = await dispatcher.survey.sets.import_set(WARD_SET, "ward.yaml", NOW, "admin")
    await store.question_sets.activate_question_set(stored.id, NOW, "admin")
    assert await started(config, store, dispatcher, "HS-9", "1009") == FIVE_LEVELS
    assert len(reads) == 2


async def test_chats_starting_together_after_a_change_share_one_read_of_the_sets(
    config, store, dispatcher, other_process, monkeypatch
):
    assert await started(config, store, dispatcher, "HS-0", "1000") == THREE_LEVELS
    stored, _ = await sets_of(other_process, dispatcher).import_set(WARD_SET, "ward.yaml", NOW, "cli")
    await other_process.question_sets.activate_question_set(stored.id, NOW, "cli")
    reads = []
    active = store.question_sets.active_question_sets

    async def counted() -> Any:
        reads.append(1)
        return await active()

    monkeypatch.setattr(store.question_sets, "active_question_sets", counted)
    tokens = [(await add_dossier(config, store, f"HS-{n}"))[1] for n in range(1, 21)]
    offered = await asyncio.gather(
        *(Citizen(dispatcher, chat_id=str(2000 + n)).command("start", t) for n, t in enumerate(tokens))
    )
    assert all(labels(replies) == FIVE_LEVELS for replies in offered)
    assert len(reads) == 1


class CheckingTelegram(FakeTelegram):
    """Records, at every message sent, what the database has committed for that chat's answer,
    read through a connection of its own."""

    def __init__(self, database: str) -> None:
        super().__init__()
        self.database = database
        self.seen: dict[int, list[tuple[str, tuple[Any, ...] | None]]] = {}

    async def do_request(self, url: str, method: str, request_data: Any = None, **kwargs: Any) -> Any:
        if url.endswith("/sendMessage") and request_data is not None:
            chat = int(request_data.parameters["chat_id"])
            with sqlite3.connect(self.database) as db:
                row = db.execute(
                    "SELECT rating, follow_ups, texts FROM answers WHERE channel = ? AND chat_id = ?",
                    ("telegram", str(chat)),
                ).fetchone()
            self.seen.setdefault(chat, []).append((str(request_data.parameters["text"]), row))
        return await super().do_request(url, method, request_data, **kwargs)


async def test_with_many_chats_at_once_every_answer_is_committed_before_its_reply(config, store, handlers):
    fake = CheckingTelegram(str(config.database))
    channel = TelegramChannel(config.telegram, handlers.dispatcher, store.chats, request=fake, paced=False)
    updates = Updates()
    chats = list(range(5001, 5041))
    tokens = {chat: (await add_dossier(config, store, f"HS-{chat}"))[1] for chat in chats}

    async def everyone(payloads: list[dict[str, Any]]) -> None:
        batch = [Update.de_json(p, channel.application.bot) for p in payloads]
        processor = channel.application.update_processor
        await asyncio.gather(
            *(processor.process_update(u, channel.application.process_update(u)) for u in batch)
        )

    def last_buttons(chat: int) -> dict[str, str]:
        markup = fake.sent(chat)[-1].params.get("reply_markup") or {}
        return {b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row}

    async with channel.application:
        await everyone([updates.message(chat, f"/start {tokens[chat]}", command=True) for chat in chats])
        await everyone([updates.press(chat, last_buttons(chat)["Không hài lòng"]) for chat in chats])
        await everyone(
            [updates.press(chat, last_buttons(chat)["Thủ tục, giấy tờ phức tạp"]) for chat in chats]
        )
        await everyone([updates.message(chat, f"Ý kiến số {chat}") for chat in chats])

    for chat in chats:
        greeting, follow_up, text_question, thanks = fake.seen[chat]
        assert greeting[1] is None
        assert follow_up[1] is not None and follow_up[1][0] == "unsatisfied"
        assert text_question[1] is not None and "procedure" in text_question[1][1]
        assert thanks[1] is not None and f"Ý kiến số {chat}" in thanks[1][2]
