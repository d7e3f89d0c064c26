"""DirectoryRepository: the unit tree, its heads and staff, and directory files proposed by admins.
Who counts as the same person is the handlers' rule (handlers/directory.py); storage keeps the
person an entry names by `person_id` and adds the others."""

from __future__ import annotations

from storage.base import Storage
from storage.records import CaseState, Role, Unit
from tests.storage.conftest import (
    T0,
    TG_2001,
    TG_2002,
    TREE,
    ZALO_A,
    entry,
    hours,
    open_case,
    same,
    set_people,
    set_units,
)


class TestUnits:
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

    async def test_units_are_listed_by_code_whatever_the_order_given(self, db: Storage):
        await set_units(db, [Unit(code="A0", name="Sở Nội vụ", parent_code="HCM")])
        assert [u.code for u in await db.directory.list_units()] == ["A0", "HCM", "Q1", "Q1-BN", "Q3"]
        assert await db.directory.list_units() == sorted(
            await db.directory.list_units(), key=lambda u: u.code
        )

    async def test_a_unit_moves_under_another_parent(self, db: Storage):
        await set_units(db, [Unit(code="Q1-BN", name="UBND Phường Bến Nghé", parent_code="Q3")])
        assert (await db.directory.get_unit("Q1-BN")).parent_code == "Q3"

    async def test_a_retired_unit_listed_again_returns_to_the_tree(self, db: Storage):
        await set_units(db, [], retired=("Q3",))
        await set_units(db, [Unit(code="Q3", name="UBND Quận 3", parent_code="HCM")], now=T0 + hours(1))
        back = await db.directory.get_unit("Q3")
        assert back.retired_at is None and back.parent_code == "HCM"
        assert "Q3" in [u.code for u in await db.directory.list_units()]

    async def test_a_retired_units_open_cases_move_with_their_history(self, db: Storage):
        moving = await open_case(db, "HS-1", "Q1-BN", chat="1")
        closed = await open_case(db, "HS-2", "Q1-BN", chat="2")
        await db.cases.change_case(
            closed.id,
            from_states=[CaseState.NEW],
            to_state=CaseState.CLOSED,
            actor="person:1",
            action="closed",
            now=T0,
        )
        await set_units(db, TREE[:2], retired=("Q1-BN",), moves={"Q1-BN": "Q1"}, now=T0 + hours(1))
        moved = await db.cases.get_case(moving.id)
        assert moved.unit_code == "Q1" and moved.state == CaseState.NEW and moved.updated_at == T0 + hours(1)
        (last,) = (await db.cases.case_events(moving.id))[-1:]
        assert (last.action, last.at, last.actor) == ("moved", T0 + hours(1), "test")
        assert "Q1-BN" in (last.note or "") and "Q1" in (last.note or "")
        # a closed case stays where it was handled
        assert (await db.cases.get_case(closed.id)).unit_code == "Q1-BN"
        assert [e.action for e in await db.cases.case_events(closed.id)] == ["opened", "closed"]

    async def test_a_retired_unit_without_a_move_keeps_its_cases(self, db: Storage):
        case = await open_case(db, "HS-1", "Q3")
        await set_units(db, TREE[:3], retired=("Q3",))
        assert (await db.cases.get_case(case.id)).unit_code == "Q3"


class TestPeople:
    async def test_people_are_added_and_found(self, db: Storage):
        head, staff = await set_people(
            db,
            [entry("Q1", Role.HEAD, "Nguyễn Văn A", TG_2001), entry("Q1", Role.STAFF, "Trần Thị B", TG_2002)],
        )
        assert (head.unit_code, head.role, head.name, head.contacts, head.active) == (
            "Q1",
            Role.HEAD,
            "Nguyễn Văn A",
            (TG_2001,),
            True,
        )
        assert head.id != staff.id and staff.role == Role.STAFF
        assert await db.directory.get_person(head.id) == head
        assert await db.directory.get_person(staff.id + head.id + 1000) is None
        assert await db.directory.people_at("telegram", "2002") == [staff]
        assert await db.directory.people_at("telegram", "9999") == []

    async def test_a_person_is_found_by_any_of_their_chats_and_written_to_where_they_last_wrote(
        self, db: Storage
    ):
        await set_people(db, [entry("Q1", Role.HEAD, "An", TG_2001, ZALO_A)])
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

    async def test_the_channel_last_written_from_is_tried_first_until_they_write_elsewhere(self, db: Storage):
        (person,) = await set_people(db, [entry("Q1", Role.HEAD, "An", TG_2001, ZALO_A)])
        await db.directory.note_person_channel("zalo", "z-an")
        await db.directory.note_person_channel("telegram", "2001")
        assert (await db.directory.get_person(person.id)).contacts == (TG_2001, ZALO_A)
        # an address nobody is reached at changes nobody
        await db.directory.note_person_channel("zalo", "someone-else")
        assert (await db.directory.get_person(person.id)).contacts == (TG_2001, ZALO_A)

    async def test_every_active_role_of_an_address_is_found(self, db: Storage):
        await set_people(
            db,
            [entry("Q1", Role.HEAD, "An", TG_2001), entry("Q1-BN", Role.STAFF, "An", TG_2001, ZALO_A)],
        )
        roles = await db.directory.people_at("telegram", "2001")
        assert sorted((p.unit_code, p.role) for p in roles) == [("Q1", Role.HEAD), ("Q1-BN", Role.STAFF)]
        assert [(p.unit_code, p.role) for p in await db.directory.people_at("zalo", "z-an")] == [
            ("Q1-BN", Role.STAFF)
        ]

    async def test_a_units_people_are_its_own_active_ones(self, db: Storage):
        await set_people(
            db,
            [
                entry("Q1", Role.HEAD, "An", TG_2001),
                entry("Q1", Role.STAFF, "Bình", TG_2002),
                entry("Q1-BN", Role.STAFF, "Chi", ZALO_A),
            ],
        )
        assert sorted(p.name for p in await db.directory.unit_people("Q1")) == ["An", "Bình"]
        assert [p.name for p in await db.directory.unit_people("Q1-BN")] == ["Chi"]
        assert await db.directory.unit_people("Q3") == []
        await set_people(db, [entry("Q1", Role.HEAD, "An", TG_2001)])
        assert [p.name for p in await db.directory.unit_people("Q1")] == ["An"]

    async def test_people_no_longer_listed_are_kept_inactive(self, db: Storage):
        an, binh = await set_people(
            db, [entry("Q1", Role.HEAD, "An", TG_2001), entry("Q1", Role.STAFF, "Bình", TG_2002)]
        )
        assert await set_people(db, [same(an)]) == [an]
        assert await db.directory.all_people() == [an]
        everyone = await db.directory.all_people(inactive=True)
        assert sorted((p.id, p.active) for p in everyone) == [(an.id, True), (binh.id, False)]
        # kept for the history of the cases they handled, but reached no more
        assert (await db.directory.get_person(binh.id)).active is False
        assert await db.directory.people_at("telegram", "2002") == []

    async def test_a_person_named_by_id_keeps_their_id_and_cases(self, db: Storage):
        (binh,) = await set_people(db, [entry("Q1-BN", Role.STAFF, "Bình", TG_2001)])
        case = await open_case(db)
        await db.cases.change_case(
            case.id,
            from_states=[CaseState.NEW],
            to_state=CaseState.ASSIGNED,
            actor="person:1",
            action="assigned",
            now=T0,
            assignee_id=binh.id,
        )
        renamed = entry("Q1-BN", Role.STAFF, "Lê Thị Bình", ZALO_A, TG_2001, person_id=binh.id)
        (after,) = await set_people(db, [renamed])
        assert after.id == binh.id and after.name == "Lê Thị Bình" and after.contacts == (ZALO_A, TG_2001)
        assigned = await db.cases.get_case(case.id)
        assert (assigned.assignee_id, assigned.assignee_name) == (binh.id, "Lê Thị Bình")
        assert [c.id for c in await db.cases.list_cases(["Q1-BN"], assignee_id=binh.id)] == [case.id]

    async def test_a_chat_dropped_from_a_person_no_longer_reaches_them(self, db: Storage):
        (binh,) = await set_people(db, [entry("Q1", Role.STAFF, "Bình", TG_2001)])
        (after,) = await set_people(db, [entry("Q1", Role.STAFF, "Bình", ZALO_A, TG_2001, person_id=binh.id)])
        assert after.id == binh.id and set(after.contacts) == {ZALO_A, TG_2001}
        await set_people(db, [entry("Q1", Role.STAFF, "Bình", ZALO_A, person_id=binh.id)])
        assert await db.directory.people_at("telegram", "2001") == []
        assert [p.id for p in await db.directory.people_at("zalo", "z-an")] == [binh.id]

    async def test_a_person_removed_and_named_again_by_id_is_active_again(self, db: Storage):
        (binh,) = await set_people(db, [entry("Q1", Role.STAFF, "Bình", TG_2001)])
        await set_people(db, [])
        assert await db.directory.all_people() == []
        (back,) = await set_people(db, [entry("Q1", Role.STAFF, "Bình", TG_2001, person_id=binh.id)])
        assert back.id == binh.id and back.active
        assert [p.id for p in await db.directory.all_people(inactive=True)] == [binh.id]

    async def test_an_entry_without_an_id_is_a_new_person(self, db: Storage):
        (first,) = await set_people(db, [entry("Q1", Role.STAFF, "Bình", TG_2001)])
        (other,) = await set_people(db, [entry("Q1", Role.STAFF, "Chi", TG_2002)])
        assert other.id != first.id and other.name == "Chi"
        assert {p.id for p in await db.directory.all_people(inactive=True)} == {first.id, other.id}

    async def test_an_entry_without_an_id_is_added_even_on_a_chat_someone_was_first_stored_with(
        self, db: Storage
    ):
        # Bình was first stored with Telegram 2001 and now keeps only Zalo; an entry of the same unit
        # and role on Telegram 2001 that the planner did not match is someone else, added beside her.
        (binh,) = await set_people(db, [entry("Q1", Role.STAFF, "Bình", TG_2001, ZALO_A)])
        await set_people(db, [entry("Q1", Role.STAFF, "Bình", ZALO_A, person_id=binh.id)])
        for listed in (
            [
                entry("Q1", Role.STAFF, "Bình", ZALO_A, person_id=binh.id),
                entry("Q1", Role.STAFF, "Chi", TG_2001),
            ],
            [
                entry("Q1", Role.STAFF, "Chi", TG_2001),
                entry("Q1", Role.STAFF, "Bình", ZALO_A, person_id=binh.id),
            ],
        ):
            await set_people(db, listed)
            (kept,) = await db.directory.people_at("zalo", "z-an")
            (added,) = await db.directory.people_at("telegram", "2001")
            assert (kept.id, kept.name, kept.contacts) == (binh.id, "Bình", (ZALO_A,))
            assert added.id != binh.id and (added.name, added.contacts) == ("Chi", (TG_2001,))

    async def test_a_directory_is_applied_and_audited_in_one_step(self, db: Storage):
        await db.directory.apply_directory(
            units=[*TREE, Unit(code="Q1-SG", name="UBND Phường Sài Gòn", parent_code="Q1")],
            people=[entry("Q1-SG", Role.HEAD, "Phạm Thị D", TG_2001)],
            retired=[],
            moves={},
            now=T0 + hours(1),
            actor="person:9",
            summary="units +1",
        )
        (head,) = await db.directory.unit_people("Q1-SG")
        assert head.name == "Phạm Thị D"
        assert [(e.at, e.actor, e.action, e.detail) for e in await db.audit.audit_since(T0 + hours(1))] == [
            (T0 + hours(1), "person:9", "directory applied", "units +1")
        ]


class TestProposals:
    async def test_a_proposal_is_kept_until_applied(self, db: Storage):
        proposal = await db.directory.propose_directory("units: []\n", T0, "person:9")
        assert (proposal.source, proposal.proposed_at, proposal.proposed_by, proposal.applied_at) == (
            "units: []\n",
            T0,
            "person:9",
            None,
        )
        assert await db.directory.get_directory_proposal(proposal.id) == proposal
        assert await db.directory.get_directory_proposal(proposal.id + 1000) is None
        other = await db.directory.propose_directory("units: [x]\n", T0, "person:9")
        assert other.id != proposal.id

    async def test_a_proposal_is_applied_once(self, db: Storage):
        proposal = await db.directory.propose_directory("...", T0, "person:9")
        renamed = [*TREE[:3], Unit(code="Q3", name="UBND Quận Ba", parent_code="HCM")]
        people = [entry("Q3", Role.HEAD, "Đỗ Thị F", TG_2001)]
        applied_at = T0 + hours(1)
        first = await db.directory.apply_directory(
            units=renamed, people=people, retired=[], moves={}, now=applied_at, actor="person:9",
            summary="Q3 renamed", proposal_id=proposal.id,
        )  # fmt: skip
        assert first is True
        assert (await db.directory.get_directory_proposal(proposal.id)).applied_at == applied_at
        # pressed again (or by a second admin): nothing changes a second time
        again = await db.directory.apply_directory(
            units=TREE, people=[], retired=["Q1-BN"], moves={}, now=applied_at + hours(1), actor="person:8",
            summary="again", proposal_id=proposal.id,
        )  # fmt: skip
        assert again is False
        assert (await db.directory.get_unit("Q3")).name == "UBND Quận Ba"
        assert (await db.directory.get_unit("Q1-BN")).retired_at is None
        assert [p.name for p in await db.directory.all_people()] == ["Đỗ Thị F"]
        assert (await db.directory.get_directory_proposal(proposal.id)).applied_at == applied_at
        assert [e.detail for e in await db.audit.audit_since(applied_at)] == ["Q3 renamed"]
