"""What the survey's speed rests on: the question-set version, a contract every backend keeps
(it lets a process keep the active sets and see another process change them); and the SQLite
database, which gathers the writes of many chats into one transaction, each in its own savepoint,
and answers every caller only after the COMMIT that holds their write."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage.base import Storage
from storage.records import Rating, Unit
from storage.sqlite import SQLiteStorage
from storage.sqlite.db import Connection, Database

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
TREE = [
    Unit(code="HCM", name="TP. Hồ Chí Minh"),
    Unit(code="Q1", name="UBND Quận 1", parent_code="HCM"),
    Unit(code="Q1-BN", name="UBND Phường Bến Nghé", parent_code="Q1"),
]
SET_SOURCE = "id: ward\n"  # storage keeps a set's text as given; handlers parse it

BACKENDS: dict[str, Callable[[Path], Storage]] = {
    "sqlite": lambda folder: SQLiteStorage(folder / "contract.db"),
}


async def set_units(db: Storage, units: list[Unit], retired: tuple[str, ...] = ()) -> None:
    await db.directory.apply_directory(
        units=units, people=[], retired=retired, moves={}, now=T0, actor="test", summary=""
    )


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Callable[[Path], Storage]:
    return BACKENDS[request.param]


@pytest.fixture
async def db(backend: Callable[[Path], Storage], tmp_path: Path) -> AsyncIterator[Storage]:
    store = backend(tmp_path)
    await store.open()
    await set_units(store, TREE)
    yield store
    await store.close()


@pytest.fixture
async def other_process(backend: Callable[[Path], Storage], tmp_path: Path) -> AsyncIterator[Storage]:
    """The same database opened a second time, as the command line does beside the running bot."""
    store = backend(tmp_path)
    await store.open()
    yield store
    await store.close()


class TestQuestionSetsVersion:
    async def test_it_grows_with_every_import_activation_and_change_of_the_unit_tree(self, db):
        versions = [await db.question_sets.question_sets_version()]
        stored, _ = await db.question_sets.save_question_set("ward", SET_SOURCE, "f1", T0, "admin:test")
        versions.append(await db.question_sets.question_sets_version())
        await db.question_sets.activate_question_set(stored.id, T0, "admin:test")
        versions.append(await db.question_sets.question_sets_version())
        await set_units(db, [Unit(code="Q3", name="UBND Quận 3", parent_code="HCM")])
        versions.append(await db.question_sets.question_sets_version())
        await set_units(db, [], retired=("Q3",))
        versions.append(await db.question_sets.question_sets_version())
        assert versions == sorted(set(versions)), versions  # strictly growing

    async def test_surveys_and_dossiers_leave_it_alone(self, db):
        before = await db.question_sets.question_sets_version()
        dossier = await db.dossiers.add_dossier(
            code="HS-1", unit_code="Q1-BN", procedure="Đăng ký kết hôn", link_id="L-1", now=T0, returned_at=T0
        )
        survey = await db.surveys.start_survey(
            channel="telegram", chat_id="42", dossier_id=dossier.id, question_set="default",
            question_set_version=1, first_step="rating", now=T0,
        )  # fmt: skip
        await db.surveys.record_rating(
            survey, rating=Rating.SATISFIED, option_id="ok", next_step=None, now=T0
        )
        await db.chats.set_language("telegram", "42", "en")
        assert await db.question_sets.question_sets_version() == before

    async def test_the_chat_state_carries_it(self, db):
        state = await db.chats.get_chat_state("telegram", "42")
        assert state.question_sets_version == await db.question_sets.question_sets_version()
        await db.question_sets.save_question_set("ward", SET_SOURCE, "f1", T0, "admin:test")
        later = await db.chats.get_chat_state("telegram", "42")
        assert later.question_sets_version > state.question_sets_version
        assert later.question_sets_version == await db.question_sets.question_sets_version()

    async def test_another_process_changing_the_sets_is_seen_in_the_next_chat_read(self, db, other_process):
        seen = (await db.chats.get_chat_state("telegram", "42")).question_sets_version
        stored, _ = await other_process.question_sets.save_question_set("ward", SET_SOURCE, "f1", T0, "cli")
        after_import = (await db.chats.get_chat_state("telegram", "42")).question_sets_version
        await other_process.question_sets.activate_question_set(stored.id, T0, "cli")
        after_activation = (await db.chats.get_chat_state("telegram", "42")).question_sets_version
        await set_units(other_process, [Unit(code="Q3", name="UBND Quận 3", parent_code="HCM")])
        after_units = (await db.chats.get_chat_state("telegram", "42")).question_sets_version
        assert seen < after_import < after_activation < after_units


# The SQLite database's queue: many callers' units of work in one transaction.


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "batch.db")
    await database.open()
    await database.write(lambda db: db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, note TEXT)"))
    yield database
    await database.close()


def committed(database: Database) -> set[int]:
    """The note ids another connection sees: only what was committed."""
    with sqlite3.connect(database.path) as other:
        return {row[0] for row in other.execute("SELECT id FROM notes")}


def insert(note_id: int) -> Callable[[Connection], int]:
    def unit_of_work(db: Connection) -> int:
        db.execute("INSERT INTO notes (id, note) VALUES (?, 'x')", (note_id,))
        return note_id

    return unit_of_work


async def together(database: Database, *calls: Awaitable[object]) -> list[object]:
    """Runs the calls while the database's thread is held, so that they all wait for it at once
    and go in one batch; returns their results or exceptions."""
    hold = threading.Event()
    holding = asyncio.ensure_future(database.write(lambda db: hold.wait()))
    waiting = [asyncio.ensure_future(call) for call in calls]
    await asyncio.sleep(0)  # every call is queued
    hold.set()
    await holding
    return await asyncio.gather(*waiting, return_exceptions=True)


async def test_each_of_many_gathered_writes_is_committed_before_its_caller_goes_on(database):
    async def write_then_look(note_id: int) -> bool:
        await database.write(insert(note_id))
        return note_id in committed(database)

    assert all(await asyncio.gather(*(write_then_look(n) for n in range(60))))
    assert committed(database) == set(range(60))


async def test_a_unit_of_work_that_raises_is_rolled_back_alone(database):
    def half_then_fail(db: Connection) -> int:
        db.execute("INSERT INTO notes (id, note) VALUES (1000, 'half')")
        raise ValueError("refused")

    outcomes = await together(
        database,
        *(database.write(insert(n)) for n in range(10)),
        database.write(half_then_fail),
        database.write(insert(3)),  # a duplicate id: its own error, no one else's
        *(database.write(insert(n)) for n in range(10, 20)),
    )
    assert outcomes[:10] == list(range(10)) and outcomes[12:] == list(range(10, 20))
    assert isinstance(outcomes[10], ValueError) and isinstance(outcomes[11], sqlite3.IntegrityError)
    assert committed(database) == set(range(20))


async def test_a_unit_whose_error_ends_the_whole_transaction_fails_alone(database):
    def end_everything(db: Connection) -> None:
        db.execute("INSERT INTO notes (id, note) VALUES (1000, 'lost')")
        db.execute("ROLLBACK")  # as SQLite itself does on some errors (a full disk)
        raise sqlite3.OperationalError("database or disk is full")

    outcomes = await together(
        database,
        *(database.write(insert(n)) for n in range(5)),
        database.write(end_everything),
        *(database.write(insert(n)) for n in range(5, 10)),
    )
    assert isinstance(outcomes.pop(5), sqlite3.OperationalError)
    assert outcomes == list(range(10))
    assert committed(database) == set(range(10))


async def test_a_failed_commit_fails_only_the_unit_that_caused_it(database):
    await database.write(
        lambda db: db.execute(
            "CREATE TABLE links (note_id INTEGER REFERENCES notes(id) DEFERRABLE INITIALLY DEFERRED)"
        )
    )

    def dangling(db: Connection) -> None:
        db.execute("INSERT INTO links (note_id) VALUES (999)")  # checked only at COMMIT

    outcomes = await together(
        database,
        *(database.write(insert(n)) for n in range(5)),
        database.write(dangling),
        *(database.write(insert(n)) for n in range(5, 10)),
    )
    assert isinstance(outcomes.pop(5), sqlite3.IntegrityError)
    assert outcomes == list(range(10))
    assert committed(database) == set(range(10))


async def test_reads_gathered_with_writes_are_answered(database):
    await database.write(insert(1))
    outcomes = await together(
        database,
        database.read("SELECT id FROM notes WHERE id = 1"),
        database.write(insert(2)),
        database.read_one("SELECT COUNT(*) FROM notes WHERE id = 1"),
        database.read("SELECT nothing FROM nowhere"),
    )
    assert [tuple(r) for r in outcomes[0]] == [(1,)] and outcomes[1] == 2 and outcomes[2][0] == 1
    assert isinstance(outcomes[3], sqlite3.OperationalError)


async def test_a_caller_that_gives_up_holds_up_no_one(database):
    waiting = [asyncio.ensure_future(database.write(insert(n))) for n in range(10)]
    waiting[4].cancel()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert isinstance(results.pop(4), asyncio.CancelledError)
    assert results == [n for n in range(10) if n != 4]
    assert set(results) <= committed(database)


async def test_closing_lets_the_writes_under_way_finish(tmp_path: Path):
    database = Database(tmp_path / "closing.db")
    await database.open()
    await database.write(lambda db: db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, note TEXT)"))
    writes = [asyncio.ensure_future(database.write(insert(n))) for n in range(20)]
    await asyncio.sleep(0)  # the writes are queued
    await database.close()
    assert await asyncio.gather(*writes) == list(range(20))
    assert committed(database) == set(range(20))
    with pytest.raises(RuntimeError, match="not open"):
        await database.write(insert(99))
