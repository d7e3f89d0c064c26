"""SQLite only: numbered migrations, upgrading a database made by an older version, the database
folder and SQLite's foreign keys. These are about the SQLite backend's files and pragmas, not the
repository contract, so they use SQLiteStorage directly instead of the `db` fixture; another
backend brings its own."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest

from storage.records import (
    DigestStatus,
    DossierEventFacts,
    DossierEventType,
    DossierFacts,
    NewDossier,
    PutOutcome,
    Unit,
)
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


async def test_dossiers_recorded_before_the_intake_api_keep_everything(tmp_path: Path):
    """Migration 011: a dossier, its answer and its waiting invitation stay as they were; the
    dossier has no facts from the one-stop software yet, no state, and can be put and given events."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path, isolation_level=None) as raw:
        for number, script in migrations():
            if number < 11:
                for statement in _statements(script):
                    raw.execute(statement)
        raw.execute("PRAGMA user_version = 10")
        raw.execute("INSERT INTO units (code, name) VALUES ('Q1', 'UBND Quận 1')")
        raw.execute(
            "INSERT INTO dossiers (id, code, unit_code, procedure, received_on, due_on, returned_at, link_id,"
            " created_at, survey_code) VALUES (1, 'HS-1', 'Q1', 'Khai sinh', '2026-11-01', '2026-11-10',"
            " '2026-11-20T02:00:00+00:00', 'L1', '2026-11-01T02:00:00+00:00', 'ABCD-EFGH-JKLM')"
        )
        raw.execute(
            "INSERT INTO answers (dossier_id, channel, chat_id, question_set, question_set_version, rating,"
            " rating_option, follow_ups, answered_at, completed_at)"
            " VALUES (1, 'telegram', '42', 'default', 1, 'unsatisfied', 'u', ?, ?, ?)",
            (
                '[{"question_id": "q", "option_id": "o", "factor": "staff"}]',
                "2026-11-20T03:00:00+00:00",
                "2026-11-20T03:01:00+00:00",
            ),
        )
        raw.execute(
            "INSERT INTO invitations (dossier_id, channel, chat_id, created_at)"
            " VALUES (1, 'telegram', '42', '2026-11-20T02:00:00+00:00')"
        )
    db = SQLiteStorage(path)
    await db.open()
    try:
        dossier = await db.dossiers.get_dossier("HS-1")
        assert (dossier.procedure, dossier.due_on, dossier.returned_at, dossier.survey_code) == (
            "Khai sinh",
            date(2026, 11, 10),
            T0,
            "ABCD-EFGH-JKLM",
        )
        assert dossier.answered and dossier.state is None and dossier.updated_at is None
        assert (dossier.received_at, dossier.due_at, dossier.citizen_name, dossier.phone) == (None,) * 4
        (exported,) = await db.dossiers.export_answers(None)
        assert (exported.dossier_code, exported.factors, exported.completed) == ("HS-1", ["staff"], True)
        (invitation,) = await db.outbox.pending_invitations()
        assert invitation.chat_id == "42"
        facts = DossierFacts(
            code="HS-1", unit_code="Q1", procedure="Khai sinh", received_on=date(2026, 11, 1),
            due_on=date(2026, 11, 10), phone="84901234567",
        )  # fmt: skip
        (put,) = await db.dossiers.put_dossiers(
            [(facts, NewDossier(link_id="L-new", survey_code="S-new"))], actor="api:one-stop", now=T0
        )
        assert put.outcome == PutOutcome.UPDATED and put.dossier.link_id == "L1"
        event = DossierEventFacts(type=DossierEventType.RETURNED, at=T0 + timedelta(hours=1))
        returned = await db.dossiers.add_dossier_event("HS-1", event, actor="api:one-stop", now=T0)
        assert returned.dossier.returned_at == T0 and returned.dossier.state == DossierEventType.RETURNED
        assert await db.api_keys.list_api_keys() == []
    finally:
        await db.close()


async def test_answers_given_before_letters_do_not_know_lateness(tmp_path: Path):
    """Migration 012: an answer stays, with its lateness not known; a dossier recorded before gets
    its letter when extended."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path, isolation_level=None) as raw:
        for number, script in migrations():
            if number < 12:
                for statement in _statements(script):
                    raw.execute(statement)
        raw.execute("PRAGMA user_version = 11")
        raw.execute("INSERT INTO units (code, name) VALUES ('Q1', 'UBND Quận 1')")
        for n in (1, 2):
            raw.execute(
                "INSERT INTO dossiers (id, code, unit_code, procedure, due_on, link_id, created_at)"
                " VALUES (?, ?, 'Q1', 'Khai sinh', '2026-11-10', ?, '2026-11-01T02:00:00+00:00')",
                (n, f"HS-{n}", f"L{n}"),
            )
        raw.execute(
            "INSERT INTO answers (dossier_id, channel, chat_id, question_set, question_set_version, rating,"
            " rating_option, answered_at) VALUES (1, 'telegram', '42', 'default', 1, 'neutral', 'n',"
            " '2026-11-20T03:00:00+00:00')"
        )
        raw.execute(
            "INSERT INTO dossier_chats (dossier_id, channel, chat_id, linked_at)"
            " VALUES (2, 'telegram', '43', '2026-11-01T02:00:00+00:00')"
        )
    db = SQLiteStorage(path)
    await db.open()
    try:
        answer = await db.surveys.get_answer(1)
        assert answer is not None and (answer.dossier_late, answer.letter_sent) == (None, None)
        event = DossierEventFacts(
            type=DossierEventType.EXTENDED, at=T0, reason="Chờ", new_due_at=T0 + timedelta(days=3)
        )
        letter = (await db.dossiers.add_dossier_event("HS-2", event, actor="test", now=T0)).letter
        assert letter is not None and letter.due_on == date(2026, 11, 10)
        assert [(d.channel, d.chat_id) for d in letter.deliveries] == [("telegram", "43")]
    finally:
        await db.close()
