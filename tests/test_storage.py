"""The repository contract. Every backend runs this same suite: add a backend to BACKENDS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from storage.base import AlreadyAnswered, DuplicateDossier, StaleStep, Storage, UnknownDossier, UnknownUnit
from storage.records import Contact, FollowUp, OutboxStatus, PersonEntry, Rating, Role, Unit
from storage.sqlite import SQLiteStorage, migrations

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
TG_2001 = Contact(channel="telegram", chat_id="2001")
ZALO_A = Contact(channel="zalo", chat_id="z-an")

BACKENDS: dict[str, Callable[[Path], Storage]] = {
    "sqlite": lambda folder: SQLiteStorage(folder / "contract.db"),
}


TREE = [
    Unit(code="HCM", name="TP. Hồ Chí Minh"),
    Unit(code="Q1", name="UBND Quận 1", parent_code="HCM"),
    Unit(code="Q1-BN", name="UBND Phường Bến Nghé", parent_code="Q1"),
    Unit(code="Q3", name="UBND Quận 3", parent_code="HCM"),
]


async def set_units(db: Storage, units: list[Unit], retired: tuple[str, ...] = ()) -> None:
    await db.directory.apply_directory(
        units=units, people=[], retired=retired, moves={}, now=T0, actor="test", summary=""
    )


async def save_people(db: Storage, people: list[PersonEntry]) -> None:
    from handlers.directory import same_people

    matched = same_people(people, await db.directory.all_people(inactive=True))
    await db.directory.apply_directory(
        units=[], people=matched, retired=(), moves={}, now=T0, actor="test", summary=""
    )


@pytest.fixture(params=sorted(BACKENDS))
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    backend = BACKENDS[request.param](tmp_path)
    await backend.open()
    await set_units(backend, TREE)
    yield backend
    await backend.close()


async def _dossier(db: Storage, code: str = "HS-1", unit: str = "Q1-BN", returned: bool = True):
    return await db.dossiers.add_dossier(
        code=code,
        unit_code=unit,
        procedure="Đăng ký kết hôn",
        link_id=f"L-{code}",
        now=T0,
        received_on=date(2026, 11, 1),
        due_on=date(2026, 11, 10),
        returned_at=T0 if returned else None,
    )


async def _survey(db: Storage, dossier_id: int, chat: str = "42"):
    return await db.surveys.start_survey(
        channel="telegram",
        chat_id=chat,
        dossier_id=dossier_id,
        question_set="default",
        question_set_version=1,
        first_step="rating",
        now=T0,
    )


class TestRepositoryContract:
    async def test_units_are_saved_updated_and_retired(self, db: Storage):
        renamed = [*TREE[:3], Unit(code="Q3", name="UBND Quận Ba", parent_code="HCM")]
        await set_units(db, renamed)
        assert await db.directory.get_unit("Q3") == Unit(code="Q3", name="UBND Quận Ba", parent_code="HCM")
        assert [u.code for u in await db.directory.list_units()] == ["HCM", "Q1", "Q1-BN", "Q3"]
        assert await db.directory.get_unit("nope") is None
        await set_units(db, TREE[:3], retired=("Q3",))
        assert [u.code for u in await db.directory.list_units()] == ["HCM", "Q1", "Q1-BN"]
        assert [u.code for u in await db.directory.list_units(retired=True)] == ["HCM", "Q1", "Q1-BN", "Q3"]
        assert (await db.directory.get_unit("Q3")).retired_at == T0

    async def test_dossier_round_trip_and_lookups(self, db: Storage):
        dossier = await _dossier(db)
        assert dossier.code == "HS-1" and dossier.due_on == date(2026, 11, 10) and dossier.returned_at == T0
        assert await db.dossiers.get_dossier("HS-1") == dossier
        assert await db.dossiers.get_dossier_by_id(dossier.id) == dossier
        assert await db.dossiers.get_dossier_by_link("L-HS-1") == dossier
        assert await db.dossiers.get_dossier_by_link("L-none") is None

    async def test_duplicate_dossier_and_unknown_unit_are_refused(self, db: Storage):
        await _dossier(db)
        with pytest.raises(DuplicateDossier):
            await _dossier(db)
        with pytest.raises(UnknownUnit):
            await _dossier(db, code="HS-2", unit="Q99")
        with pytest.raises(UnknownDossier):
            await db.dossiers.mark_returned("HS-404", T0)

    async def test_return_queues_an_invitation_for_each_waiting_chat_once(self, db: Storage):
        dossier = await _dossier(db, returned=False)
        await db.dossiers.link_chat(dossier.id, "telegram", "42", T0)
        await db.dossiers.link_chat(dossier.id, "telegram", "42", T0)
        await db.dossiers.link_chat(dossier.id, "zalo", "z1", T0)
        assert await db.outbox.pending_invitations() == []
        returned = await db.dossiers.mark_returned("HS-1", T0 + timedelta(days=1))
        assert returned.returned_at == T0 + timedelta(days=1)
        await db.dossiers.mark_returned("HS-1", T0 + timedelta(days=1))  # recorded twice: still one each
        pending = await db.outbox.pending_invitations()
        assert sorted((i.channel, i.chat_id) for i in pending) == [("telegram", "42"), ("zalo", "z1")]
        # read a page at a time: the page after the first invitation holds the second
        first, second = pending
        assert await db.outbox.pending_invitations(limit=1) == [first]
        assert await db.outbox.pending_invitations(limit=1, after_id=first.id) == [second]
        assert await db.outbox.pending_invitations(after_id=second.id) == []

    async def test_a_link_made_after_the_return_queues_its_invitation(self, db: Storage):
        dossier = await _dossier(db, returned=True)
        await db.dossiers.link_chat(dossier.id, "telegram", "42", T0)
        (invitation,) = await db.outbox.pending_invitations()
        assert invitation.status == OutboxStatus.PENDING and invitation.attempts == 0

    async def test_invitation_outcomes_are_recorded(self, db: Storage):
        dossier = await _dossier(db, returned=True)
        await db.dossiers.link_chat(dossier.id, "telegram", "42", T0)
        (invitation,) = await db.outbox.pending_invitations()
        assert await db.outbox.retry_invitation(invitation.id, "timeout") == 1
        assert await db.outbox.retry_invitation(invitation.id, "timeout") == 2
        (still,) = await db.outbox.pending_invitations()
        assert still.attempts == 2 and still.error == "timeout"
        await db.outbox.finish_invitation(invitation.id, OutboxStatus.SENT, T0)
        assert await db.outbox.pending_invitations() == []

    async def test_chat_language_and_reachability(self, db: Storage):
        assert (await db.chats.get_chat_state("telegram", "42")).language is None
        await db.chats.set_language("telegram", "42", "en")
        await db.chats.mark_unreachable("telegram", "42", T0)
        await db.chats.mark_unreachable("telegram", "42", T0 + timedelta(hours=1))  # keeps the first time
        chat = await db.chats.get_chat_state("telegram", "42")
        assert chat.language == "en" and chat.unreachable_since == T0
        await db.chats.mark_reachable("telegram", "42")
        assert (await db.chats.get_chat_state("telegram", "42")).unreachable_since is None

    async def test_chat_state_reads_language_reachability_and_survey_at_once(self, db: Storage):
        empty = await db.chats.get_chat_state("telegram", "42")
        assert (empty.language, empty.unreachable_since, empty.survey) == (None, None, None)
        dossier = await _dossier(db)
        started = await _survey(db, dossier.id)
        assert started.rating is None and started.unit_name == "UBND Phường Bến Nghé"
        await db.chats.set_language("telegram", "42", "en")
        await db.surveys.record_rating(
            started, rating=Rating.NEUTRAL, option_id="neutral", next_step="problem", now=T0
        )
        state = await db.chats.get_chat_state("telegram", "42")
        assert state.language == "en" and state.survey is not None
        assert state.survey.step == "problem" and state.survey.rating == Rating.NEUTRAL
        assert state.survey == (await db.chats.get_chat_state("telegram", "42")).survey
        assert (await db.chats.get_chat_state("telegram", "43")).survey is None
        assert dossier.unit_name == "UBND Phường Bến Nghé" and not dossier.answered
        assert (await db.dossiers.get_dossier_by_link(dossier.link_id)).answered

    async def test_survey_steps_are_stored_with_the_answer(self, db: Storage):
        dossier = await _dossier(db)
        survey = await _survey(db, dossier.id)
        answer = await db.surveys.record_rating(
            survey, rating=Rating.UNSATISFIED, option_id="unsatisfied", next_step="problem", now=T0
        )
        assert answer.rating == Rating.UNSATISFIED and answer.completed_at is None
        survey = (await db.chats.get_chat_state("telegram", "42")).survey
        assert survey.step == "problem"
        answer = await db.surveys.record_follow_up(
            survey,
            FollowUp(question_id="problem", option_id="staff", factor="staff"),
            next_step="complaint",
            now=T0,
        )
        assert answer.follow_ups == [FollowUp(question_id="problem", option_id="staff", factor="staff")]
        survey = (await db.chats.get_chat_state("telegram", "42")).survey
        answer = await db.surveys.record_text(
            survey,
            "complaint",
            'Lời "trích dẫn" \' và ký tự đặc biệt; DROP TABLE',
            next_step=None,
            now=T0 + timedelta(minutes=2),
        )
        assert answer.texts == {"complaint": 'Lời "trích dẫn" \' và ký tự đặc biệt; DROP TABLE'}
        assert answer.completed_at == T0 + timedelta(minutes=2)
        assert (await db.chats.get_chat_state("telegram", "42")).survey.step is None
        assert await db.surveys.get_answer(dossier.id) == answer

    async def test_a_step_answered_twice_is_stale(self, db: Storage):
        dossier = await _dossier(db)
        survey = await _survey(db, dossier.id)
        await db.surveys.record_rating(
            survey, rating=Rating.SATISFIED, option_id="satisfied", next_step="comment", now=T0
        )
        with pytest.raises(StaleStep):
            await db.surveys.record_rating(
                survey, rating=Rating.NEUTRAL, option_id="neutral", next_step="x", now=T0
            )
        assert (await db.surveys.get_answer(dossier.id)).rating == Rating.SATISFIED

    async def test_one_answer_per_dossier_across_chats(self, db: Storage):
        dossier = await _dossier(db)
        first, second = await _survey(db, dossier.id, "1"), await _survey(db, dossier.id, "2")
        await db.surveys.record_rating(
            first, rating=Rating.SATISFIED, option_id="satisfied", next_step=None, now=T0
        )
        with pytest.raises(AlreadyAnswered):
            await db.surveys.record_rating(
                second, rating=Rating.NEUTRAL, option_id="neutral", next_step=None, now=T0
            )
        # the failed attempt rolled back: the second chat's survey did not move on
        assert (await db.chats.get_chat_state("telegram", "2")).survey.step == "rating"

    async def test_a_new_survey_in_a_chat_gets_a_new_id(self, db: Storage):
        one, two = await _dossier(db, "HS-1"), await _dossier(db, "HS-2")
        first = await _survey(db, one.id)
        second = await _survey(db, two.id)
        assert second.id != first.id and second.dossier_id == two.id
        with pytest.raises(StaleStep):
            await db.surveys.record_rating(
                first, rating=Rating.SATISFIED, option_id="s", next_step=None, now=T0
            )

    async def test_cool_down_looks_at_answer_times(self, db: Storage):
        dossier = await _dossier(db)
        survey = await _survey(db, dossier.id)
        await db.surveys.record_rating(
            survey, rating=Rating.SATISFIED, option_id="satisfied", next_step=None, now=T0
        )
        assert await db.surveys.answered_since("telegram", "42", T0 - timedelta(days=7))
        assert not await db.surveys.answered_since("telegram", "42", T0 + timedelta(seconds=1))
        assert not await db.surveys.answered_since("telegram", "43", T0 - timedelta(days=7))

    async def test_answers_are_listed_by_unit_subtree(self, db: Storage):
        for code, unit, chat in (("A", "Q1-BN", "1"), ("B", "Q1", "2"), ("C", "Q3", "3")):
            dossier = await _dossier(db, code=code, unit=unit)
            survey = await _survey(db, dossier.id, chat)
            await db.surveys.record_rating(
                survey, rating=Rating.NEUTRAL, option_id="neutral", next_step=None, now=T0
            )
        assert [r.dossier_code for r in await db.surveys.list_answers()] == ["A", "B", "C"]
        assert [r.dossier_code for r in await db.surveys.list_answers("Q1")] == ["A", "B"]
        assert [r.dossier_code for r in await db.surveys.list_answers("Q1-BN")] == ["A"]
        (row,) = await db.surveys.list_answers("Q3")
        assert row.unit_name == "UBND Quận 3" and row.procedure == "Đăng ký kết hôn"

    async def test_a_person_is_found_by_any_of_their_chats_and_written_to_where_they_last_wrote(
        self, db: Storage
    ):
        head = PersonEntry(unit_code="Q1", role=Role.HEAD, name="An", contacts=(TG_2001, ZALO_A))
        await save_people(db, [head])
        (by_telegram,) = await db.directory.people_at("telegram", "2001")
        (by_zalo,) = await db.directory.people_at("zalo", "z-an")
        assert by_telegram.id == by_zalo.id and by_telegram.contacts == (TG_2001, ZALO_A)
        assert (by_telegram.channel, by_telegram.chat_id) == (
            "telegram",
            "2001",
        )  # as listed, until they write
        state = await db.chats.get_chat_state("zalo", "z-an")
        assert state.is_person and state.person_channel is None
        assert not (await db.chats.get_chat_state("zalo", "someone")).is_person
        await db.directory.note_person_channel("zalo", "z-an")
        assert (await db.directory.get_person(by_zalo.id)).contacts == (ZALO_A, TG_2001)
        assert (await db.directory.unit_people("Q1"))[0].channel == "zalo"
        assert (await db.chats.get_chat_state("telegram", "2001")).person_channel == "zalo"

    async def test_adding_a_zalo_id_keeps_the_person_and_their_cases(self, db: Storage):
        await save_people(
            db, [PersonEntry(unit_code="Q1", role=Role.STAFF, name="Bình", contacts=(TG_2001,))]
        )
        (before,) = await db.directory.people_at("telegram", "2001")
        await save_people(
            db, [PersonEntry(unit_code="Q1", role=Role.STAFF, name="Bình", contacts=(ZALO_A, TG_2001))]
        )
        (after,) = await db.directory.people_at("zalo", "z-an")
        assert after.id == before.id and set(after.contacts) == {ZALO_A, TG_2001}
        # dropping Telegram: no longer reached there
        await save_people(db, [PersonEntry(unit_code="Q1", role=Role.STAFF, name="Bình", contacts=(ZALO_A,))])
        assert await db.directory.people_at("telegram", "2001") == []
        assert [p.id for p in await db.directory.people_at("zalo", "z-an")] == [before.id]

    async def test_a_menu_numbers_on_or_starts_again(self, db: Storage):
        first = await db.chats.extend_menu(
            "zalo", "z1", [("a", "A"), ("b", "B")], keep_since=None, limit=60, now=T0
        )
        assert first == 1 and (await db.chats.get_chat_state("zalo", "z1")).menu == (("a", "A"), ("b", "B"))
        # a notice soon after numbers on; an answer to the person starts again
        assert (
            await db.chats.extend_menu(
                "zalo", "z1", [("c", "C")], keep_since=T0 - timedelta(hours=12), limit=60, now=T0
            )
            == 3
        )
        assert [k for k, _ in (await db.chats.get_chat_state("zalo", "z1")).menu] == ["a", "b", "c"]
        assert await db.chats.extend_menu("zalo", "z1", [("d", "D")], keep_since=None, limit=60, now=T0) == 1
        # a notice a day later starts again too: nobody remembers yesterday's numbers
        later = T0 + timedelta(days=1)
        assert (
            await db.chats.extend_menu(
                "zalo", "z1", [("e", "E")], keep_since=later - timedelta(hours=12), limit=60, now=later
            )
            == 1
        )
        await db.chats.extend_menu("zalo", "z1", [], keep_since=None, limit=60, now=later)
        assert (await db.chats.get_chat_state("zalo", "z1")).menu == ()
        # the language and the rest of the chat are untouched
        await db.chats.set_language("zalo", "z1", "en")
        await db.chats.extend_menu("zalo", "z1", [("f", "F")], keep_since=None, limit=60, now=later)
        assert (await db.chats.get_chat_state("zalo", "z1")).language == "en"

    async def test_a_menu_never_grows_without_end(self, db: Storage):
        many = [(f"k{n}", f"L{n}") for n in range(40)]
        await db.chats.extend_menu("zalo", "z1", many, keep_since=None, limit=60, now=T0)
        assert (
            await db.chats.extend_menu(
                "zalo", "z1", many, keep_since=T0 - timedelta(hours=12), limit=60, now=T0
            )
            == 1
        )
        assert len((await db.chats.get_chat_state("zalo", "z1")).menu) == 40


async def test_migrations_are_numbered_and_applied_once(tmp_path: Path):
    numbers = [number for number, _ in migrations()]
    assert numbers == sorted(set(numbers)) and numbers[0] == 1
    path = tmp_path / "m.db"
    for _ in range(2):  # a second open applies nothing again
        db = SQLiteStorage(path)
        await db.open()
        await set_units(db, [Unit(code="X", name="X")])
        await db.close()
    import sqlite3

    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == numbers[-1]
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_people_stored_before_contacts_existed_keep_their_chat(tmp_path: Path):
    """A database from before migration 006 (one chat per person row) upgrades in place."""
    import sqlite3

    from storage.sqlite.db import _statements

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
