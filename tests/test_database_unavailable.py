"""A database that cannot be opened or written: every command says so in one line and exits (issue
10, item 10), and the running bot answers politely, keeps going and recovers (item 11)."""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from bot import app
from bot.app import build_handlers, seed_directory
from handlers.throttled_log import ThrottledLog
from storage.base import DatabaseUnavailable
from storage.records import Rating
from storage.sqlite import SQLiteStorage
from storage.sqlite.db import Database
from tests.conftest import UNITS, Citizen, add_dossier, texts

SCRIPT = Path(sys.executable).parent / "feedback-bot"
COMMANDS = [
    ["run"],
    ["dossier", "add", "HS-1", "--unit", "Q1", "--procedure", "Đăng ký khai sinh"],
    ["dossier", "list"],
    ["digest"],
    ["outbox"],
    ["answers"],
]


def feedback_bot(folder: Path, database: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command in a process of its own: a hang would be a timeout here, not a test that
    waits forever."""
    config = folder / "config.yaml"
    config.write_text(
        yaml.safe_dump({"database": database, "secret": "s3cret-for-tests", "units": UNITS}), encoding="utf-8"
    )
    return subprocess.run(
        [str(SCRIPT), "--config", str(config), *args],
        env={**os.environ, "TELEGRAM_BOT_TOKEN": "123:ABC", "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=folder,
    )


def assert_one_line(done: subprocess.CompletedProcess[str], cause: str, path: Path) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last == f"feedback-bot: cannot open the database {path}: {cause}"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_corrupt_database_stops_every_command_with_one_line(tmp_path: Path, command: list[str]):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "feedback.db").write_bytes(random.Random(10).randbytes(8192))
    done = feedback_bot(tmp_path, "data/feedback.db", *command)
    assert_one_line(done, "file is not a database", tmp_path / "data" / "feedback.db")


@pytest.mark.parametrize("command", [["run"], ["dossier", "list"]], ids=lambda c: c[0])
def test_a_database_whose_folder_is_a_file_stops_with_one_line(tmp_path: Path, command: list[str]):
    # As root, permission bits stop nothing; a path through a regular file fails for everyone.
    (tmp_path / "data").write_text("not a folder", encoding="utf-8")
    done = feedback_bot(tmp_path, "data/feedback.db", *command)
    assert_one_line(done, f"{tmp_path / 'data'} is a file, not a folder", tmp_path / "data" / "feedback.db")


async def test_a_failed_open_raises_database_unavailable_and_leaves_no_thread(tmp_path: Path):
    import threading

    path = tmp_path / "feedback.db"
    path.write_bytes(b"\x00garbage" * 1000)
    before = set(threading.enumerate())
    store = SQLiteStorage(path)
    with pytest.raises(DatabaseUnavailable, match="file is not a database"):
        await store.open()
    # aiosqlite's thread is not a daemon: one left running keeps the process from exiting.
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    for thread in left:
        thread.join(5)
    assert not [t for t in left if t.is_alive()]


# Item 11 offline: the database refuses writes while the bot runs, then takes them again.

NOT_SAVED = "Xin lỗi, hệ thống chưa lưu được ý kiến của Ông/Bà. Xin vui lòng thử lại sau ít phút."


class DiskFullDatabase(Database):
    """A SQLite database whose disk fills up while `full` is set: each write fails inside its
    transaction as SQLite's own SQLITE_FULL does, and is rolled back."""

    full = False

    async def write(self, unit_of_work):  # type: ignore[no-untyped-def]
        def fail_when_full(db):  # type: ignore[no-untyped-def]
            result = unit_of_work(db)
            if self.full:
                error = sqlite3.OperationalError("database or disk is full")
                error.sqlite_errorcode = sqlite3.SQLITE_FULL  # as the sqlite3 module sets it
                raise error
            return result

        return await super().write(fail_when_full)


async def readonly(store: SQLiteStorage, on: bool) -> None:
    """SQLite's own read-only refusal (SQLITE_READONLY), switched on and off on the live
    connection: a read-only file the way root cannot be stopped by chmod."""
    assert store.db._db is not None
    await store.db._db.execute_fetchall(f"PRAGMA query_only = {'ON' if on else 'OFF'}")


async def test_a_read_only_database_gets_a_polite_reply_and_recovers_by_itself(
    config, store, dispatcher, caplog
):
    dossier, token = await add_dossier(config, store)
    alice = Citizen(dispatcher)
    question = await alice.command("start", token)
    await readonly(store, True)
    caplog.set_level(logging.ERROR, logger="handlers.dispatch")
    for _ in range(5):  # the same button of the question, pressed again
        alice.last = question
        assert texts(await alice.press("Hài lòng")) == NOT_SAVED
    assert await store.surveys.get_answer(dossier.id) is None
    lines = [r.getMessage() for r in caplog.records if r.name == "handlers.dispatch"]
    assert len(lines) == 1 and "readonly" in lines[0] and "not saved" in lines[0]

    await readonly(store, False)  # the disk can be written again: no restart
    alice.last = question
    replies = await alice.press("Hài lòng")
    assert NOT_SAVED not in texts(replies)
    answer = await store.surveys.get_answer(dossier.id)
    assert answer is not None and answer.rating == Rating.SATISFIED


async def test_a_full_disk_gets_a_polite_reply_in_the_chats_language_and_recovers(config, tmp_path):
    store = SQLiteStorage(tmp_path / "full.db")
    store.db.__class__ = DiskFullDatabase  # the one connection every repository of the store shares
    disk = store.db
    assert isinstance(disk, DiskFullDatabase)
    await store.open()
    try:
        await seed_directory(store, config)
        dispatcher = build_handlers(config, store).dispatcher
        dossier, token = await add_dossier(config, store)
        bob = Citizen(dispatcher, chat_id="2002", language_hint="en")
        question = await bob.command("start", token)
        disk.full = True
        replies = await bob.press("Satisfied")
        assert (
            texts(replies)
            == "Sorry, the system could not save your message. Please try again in a few minutes."
        )
        assert await store.surveys.get_answer(dossier.id) is None
        disk.full = False
        bob.last = question
        await bob.press("Satisfied")
        assert (await store.surveys.get_answer(dossier.id)) is not None
    finally:
        await store.close()


def test_a_repeated_failure_is_logged_once_a_minute_with_the_count_left_out(caplog):
    now = [0.0]
    throttled = ThrottledLog(logging.getLogger("tests.throttled"), every=60, clock=lambda: now[0])
    caplog.set_level(logging.ERROR, logger="tests.throttled")
    written = []
    for second in range(0, 150):
        now[0] = float(second)
        written.append(throttled.error("disk full: %s", "feedback.db"))
    assert [i for i, w in enumerate(written) if w] == [0, 60, 120]
    assert [r.getMessage() for r in caplog.records] == [
        "disk full: feedback.db",
        "disk full: feedback.db (59 more like it not logged in the last 60 s)",
        "disk full: feedback.db (59 more like it not logged in the last 60 s)",
    ]


async def test_scheduled_rounds_failing_alike_are_logged_once_a_minute(handlers, caplog, monkeypatch):
    class FailingInvitations:
        async def hand_over(self, *_: object) -> None:
            raise DatabaseUnavailable("cannot write to the database feedback.db: database or disk is full")

    handlers = dataclasses.replace(handlers, invitations=FailingInvitations())
    monkeypatch.setitem(app.JOB_FAILURES, "outbox", ThrottledLog(app.log, clock=lambda: 5.0))
    caplog.set_level(logging.ERROR, logger="bot.app")
    for _ in range(20):
        await app.deliver_outbox(handlers, {}, timedelta(days=1))
    assert len([r for r in caplog.records if "outbox failed" in r.getMessage()]) == 1
