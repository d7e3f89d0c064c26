"""SQLite only: numbered migrations, upgrading a database made by an older version, the database
folder and SQLite's foreign keys. These are about the SQLite backend's files and pragmas, not the
repository contract, so they use SQLiteStorage directly instead of the `db` fixture; another
backend brings its own."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage.records import DigestStatus, Unit
from storage.sqlite import SQLiteStorage, migrations
from storage.sqlite.db import _statements
from tests.storage.conftest import T0, TG_2001, set_units


async def test_migrations_are_numbered_and_applied_once(tmp_path: Path):
    numbers = [number for number, _ in migrations()]
    assert numbers == sorted(set(numbers)) and numbers[0] == 1
    path = tmp_path / "m.db"
    for _ in range(2):  # a second open applies nothing again
        db = SQLiteStorage(path)
        await db.open()
        await set_units(db, [Unit(code="X", name="X")])
        await db.close()

    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == numbers[-1]
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_people_stored_before_contacts_existed_keep_their_chat(tmp_path: Path):
    """A database from before migration 006 (one chat per person row) upgrades in place."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path, isolation_level=None) as raw:
        for number, script in migrations():
            if number < 6:
                for statement in _statements(script):
                    raw.execute(statement)
        raw.execute("PRAGMA user_version = 5")
        raw.execute("INSERT INTO units (code, name) VALUES ('Q1', 'UBND Quận 1')")
        raw.execute(
            "INSERT INTO people (unit_code, role, name, channel, chat_id)"
            " VALUES ('Q1', 'head', 'An', 'telegram', '2001')"
        )
    db = SQLiteStorage(path)
    await db.open()
    try:
        (head,) = await db.directory.people_at("telegram", "2001")
        assert head.name == "An" and head.contacts == (TG_2001,)
        assert (await db.chats.get_chat_state("telegram", "2001")).is_person
    finally:
        await db.close()


async def test_the_database_folder_is_created(tmp_path: Path):
    db = SQLiteStorage(tmp_path / "new" / "folder" / "feedback.db")
    await db.open()
    await db.close()
    assert (tmp_path / "new" / "folder" / "feedback.db").exists()


async def test_foreign_keys_are_enforced(tmp_path: Path):
    db = SQLiteStorage(tmp_path / "fk.db")
    await db.open()
    try:
        with pytest.raises(Exception, match="FOREIGN KEY"):
            await db.dossiers.link_chat(12345, "telegram", "1", T0)
    finally:
        await db.close()


async def test_items_given_up_by_the_old_five_attempts_rule_are_pending_again(tmp_path: Path):
    """Migration 010: invitations and notices the old rule gave up after five passing failures go
    out again; one refused for good stays given up; digests keep what they recorded."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path, isolation_level=None) as raw:
        for number, script in migrations():
            if number < 10:
                for statement in _statements(script):
                    raw.execute(statement)
        raw.execute("PRAGMA user_version = 9")
        raw.execute("INSERT INTO units (code, name) VALUES ('Q1', 'UBND Quận 1')")
        raw.execute(
            "INSERT INTO dossiers (id, code, unit_code, procedure, link_id, created_at)"
            " VALUES (1, 'HS-1', 'Q1', 'Khai sinh', 'L1', '2026-11-20T02:00:00+00:00')"
        )
        raw.executemany(
            "INSERT INTO invitations (dossier_id, channel, chat_id, status, attempts, created_at, sent_at,"
            " error) VALUES (1, 'telegram', ?, ?, ?, '2026-11-20T02:00:00+00:00', ?, ?)",
            [
                ("1", "failed", 5, "2026-11-20T02:01:00+00:00", "failed 5 times"),
                ("2", "unreachable", 0, "2026-11-20T02:01:00+00:00", "chat blocked the bot"),
            ],
        )
        raw.execute(
            "INSERT INTO digests (unit_code, day, status, recipient, claimed_at, sent_at)"
            " VALUES ('Q1', '2026-11-20', 'sent', 'person:1', '2026-11-20T00:30:00+00:00',"
            " '2026-11-20T00:30:05+00:00')"
        )
    db = SQLiteStorage(path)
    await db.open()
    try:
        (revived,) = await db.outbox.pending_invitations()
        assert (revived.chat_id, revived.attempts, revived.sent_at, revived.next_attempt_at) == (
            "1",
            5,
            None,
            None,
        )
        (kept,) = await db.digests.list_digests(list(DigestStatus))
        assert (kept.unit_code, kept.status, kept.recipient, kept.attempts) == (
            "Q1",
            DigestStatus.SENT,
            "person:1",
            0,
        )
    finally:
        await db.close()
