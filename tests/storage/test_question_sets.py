"""QuestionSetRepository: imported question sets, every version kept, at most one active per set."""

from __future__ import annotations

from storage.base import Storage
from tests.storage.conftest import T0, answer, hours


class TestQuestionSets:
    async def test_an_import_is_stored_as_the_sets_next_version(self, db: Storage):
        first, created = await db.question_sets.save_question_set("sipas", "v: 1", "f1", T0, "person:9")
        assert created and (first.set_id, first.version, first.source) == ("sipas", 1, "v: 1")
        assert (first.active, first.imported_at, first.imported_by) == (False, T0, "person:9")
        second, created = await db.question_sets.save_question_set("sipas", "v: 2", "f2", T0 + hours(1), "p")
        assert created and second.version == 2 and second.id != first.id
        other, created = await db.question_sets.save_question_set("short", "v: 1", "f1", T0, "p")
        assert created and other.version == 1  # versions count per set

    async def test_a_version_is_never_below_first_version(self, db: Storage):
        # a stored version never takes a label the caller keeps for itself (the shipped default v1)
        new, _ = await db.question_sets.save_question_set("default", "a", "f1", T0, "p", first_version=2)
        assert new.version == 2
        after, _ = await db.question_sets.save_question_set("default", "b", "f2", T0, "p", first_version=2)
        assert after.version == 3  # the next version is above both
        jump, _ = await db.question_sets.save_question_set("default", "c", "f3", T0, "p", first_version=7)
        assert jump.version == 7
        await db.question_sets.save_question_set("sipas", "a", "f1", T0, "p")
        later, _ = await db.question_sets.save_question_set("sipas", "b", "f2", T0, "p", first_version=2)
        assert later.version == 2
        same, created = await db.question_sets.save_question_set(
            "default", "a", "f1", T0, "p", first_version=9
        )
        assert not created and same == new

    async def test_the_same_content_again_is_the_same_version(self, db: Storage):
        first, _ = await db.question_sets.save_question_set("sipas", "a: 1", "f1", T0, "person:9")
        await db.question_sets.save_question_set("sipas", "b: 2", "f2", T0, "person:9")
        again, created = await db.question_sets.save_question_set(
            "sipas", "a: 1  # reformatted", "f1", T0 + hours(1), "person:8"
        )
        assert not created and again == first
        assert [q.version for q in await db.question_sets.list_question_sets()] == [1, 2]
        imports = [e for e in await db.audit.audit_since(None) if e.action == "question set imported"]
        assert [(e.actor, e.detail) for e in imports] == [("person:9", "sipas v1"), ("person:9", "sipas v2")]

    async def test_every_version_is_listed_with_its_answers(self, db: Storage):
        v1, _ = await db.question_sets.save_question_set("sipas", "a", "f1", T0, "p")
        v2, _ = await db.question_sets.save_question_set("sipas", "b", "f2", T0, "p")
        short, _ = await db.question_sets.save_question_set("short", "c", "f3", T0, "p")
        await answer(db, "HS-1", chat="1", question_set=("sipas", 1))
        await answer(db, "HS-2", chat="2", question_set=("sipas", 1))
        await answer(db, "HS-3", chat="3", question_set=("short", 1))
        await answer(db, "HS-4", chat="4", question_set=("default", 1))  # the shipped set: not stored
        listed = {(q.set_id, q.version): q.answers for q in await db.question_sets.list_question_sets()}
        assert listed == {("sipas", 1): 2, ("sipas", 2): 0, ("short", 1): 1}
        assert (await db.question_sets.get_question_set(v1.id)).answers == 2
        assert (await db.question_sets.find_question_set("sipas", 2)).answers == 0
        assert {v1.id, v2.id, short.id} == {q.id for q in await db.question_sets.list_question_sets()}

    async def test_a_version_is_found_by_row_or_by_set_and_version(self, db: Storage):
        stored, _ = await db.question_sets.save_question_set("sipas", "a", "f1", T0, "p")
        assert await db.question_sets.get_question_set(stored.id) == stored
        assert await db.question_sets.find_question_set("sipas", 1) == stored
        assert await db.question_sets.get_question_set(stored.id + 1000) is None
        assert await db.question_sets.find_question_set("sipas", 2) is None
        assert await db.question_sets.find_question_set("other", 1) is None

    async def test_none_is_active_until_activated(self, db: Storage):
        await db.question_sets.save_question_set("sipas", "a", "f1", T0, "p")
        assert await db.question_sets.active_question_sets() == []

    async def test_activating_a_version_switches_the_sets_other_version_off(self, db: Storage):
        v1, _ = await db.question_sets.save_question_set("sipas", "a", "f1", T0, "p")
        v2, _ = await db.question_sets.save_question_set("sipas", "b", "f2", T0, "p")
        short, _ = await db.question_sets.save_question_set("short", "c", "f3", T0, "p")
        await db.question_sets.activate_question_set(short.id, T0, "person:9")
        active = await db.question_sets.activate_question_set(v1.id, T0, "person:9")
        assert active.active and active.id == v1.id
        assert {q.id for q in await db.question_sets.active_question_sets()} == {v1.id, short.id}
        await db.question_sets.activate_question_set(v2.id, T0 + hours(1), "person:9")
        assert {q.id for q in await db.question_sets.active_question_sets()} == {v2.id, short.id}
        assert not (await db.question_sets.get_question_set(v1.id)).active
        # the other set's active version stays on
        assert (await db.question_sets.get_question_set(short.id)).active
        assert [
            (q.version, q.active) for q in await db.question_sets.list_question_sets() if q.set_id == "sipas"
        ] == [
            (1, False),
            (2, True),
        ]

    async def test_active_versions_are_read_without_counting_answers(self, db: Storage):
        v1, _ = await db.question_sets.save_question_set("sipas", "source text", "f1", T0, "p")
        await db.question_sets.activate_question_set(v1.id, T0, "p")
        await answer(db, question_set=("sipas", 1))
        (active,) = await db.question_sets.active_question_sets()
        assert (active.id, active.source, active.answers) == (v1.id, "source text", None)

    async def test_activations_are_audited_and_a_missing_version_is_none(self, db: Storage):
        v1, _ = await db.question_sets.save_question_set("sipas", "a", "f1", T0, "p")
        assert await db.question_sets.activate_question_set(v1.id + 1000, T0, "person:9") is None
        await db.question_sets.activate_question_set(v1.id, T0 + hours(1), "person:9")
        activations = [e for e in await db.audit.audit_since(None) if e.action == "question set activated"]
        assert [(e.at, e.actor, e.detail) for e in activations] == [(T0 + hours(1), "person:9", "sipas v1")]
