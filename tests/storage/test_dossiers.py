"""DossierRepository: dossiers, the chats waiting for their survey, wrong survey codes typed."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from storage.base import DuplicateDossier, Storage, UnknownDossier, UnknownUnit
from storage.records import OutboxStatus
from tests.storage.conftest import T0, add_dossier, answer, hours


class TestDossiers:
    async def test_dossier_round_trip_and_lookups(self, db: Storage):
        dossier = await add_dossier(db)
        assert dossier.code == "HS-1" and dossier.due_on == date(2026, 11, 10) and dossier.returned_at == T0
        assert await db.dossiers.get_dossier("HS-1") == dossier
        assert await db.dossiers.get_dossier_by_id(dossier.id) == dossier
        assert await db.dossiers.get_dossier_by_link("L-HS-1") == dossier
        assert await db.dossiers.get_dossier_by_link("L-none") is None

    async def test_every_field_is_kept(self, db: Storage):
        dossier = await db.dossiers.add_dossier(
            code="HS-9",
            unit_code="Q3",
            procedure="Cấp giấy phép xây dựng",
            link_id="L9",
            now=T0,
            survey_code="482913",
        )
        assert (dossier.unit_code, dossier.unit_name, dossier.procedure) == (
            "Q3",
            "UBND Quận 3",
            "Cấp giấy phép xây dựng",
        )
        assert (dossier.received_on, dossier.due_on, dossier.returned_at) == (None, None, None)
        assert dossier.created_at == T0 and dossier.survey_code == "482913" and not dossier.answered

    async def test_missing_dossiers_are_none(self, db: Storage):
        dossier = await add_dossier(db, survey_code="111111")
        assert await db.dossiers.get_dossier("HS-404") is None
        assert await db.dossiers.get_dossier_by_id(dossier.id + 1000) is None
        assert await db.dossiers.get_dossier_by_survey_code("999999") is None

    async def test_a_dossier_is_found_by_its_survey_code(self, db: Storage):
        await add_dossier(db, "HS-1", survey_code="111111")
        other = await add_dossier(db, "HS-2", survey_code="222222")
        await add_dossier(db, "HS-3")  # a dossier without a code matches no code
        assert await db.dossiers.get_dossier_by_survey_code("222222") == other

    async def test_a_dossier_knows_it_was_answered(self, db: Storage):
        answered = await answer(db, "HS-1")
        assert (await db.dossiers.get_dossier("HS-1")).answered
        assert (await db.dossiers.get_dossier_by_id(answered.dossier_id)).answered
        assert not (await add_dossier(db, "HS-2")).answered

    async def test_duplicate_dossier_and_unknown_unit_are_refused(self, db: Storage):
        await add_dossier(db)
        with pytest.raises(DuplicateDossier):
            await add_dossier(db)
        with pytest.raises(UnknownUnit):
            await add_dossier(db, code="HS-2", unit="Q99")
        with pytest.raises(UnknownDossier):
            await db.dossiers.mark_returned("HS-404", T0)

    async def test_a_refused_dossier_changes_nothing(self, db: Storage):
        first = await add_dossier(db, "HS-1", "Q1-BN")
        with pytest.raises(DuplicateDossier):
            await db.dossiers.add_dossier(
                code="HS-1", unit_code="Q3", procedure="Khác", link_id="L-other", now=T0 + hours(1)
            )
        with pytest.raises(UnknownUnit):
            await add_dossier(db, "HS-2", "Q99")
        assert await db.dossiers.get_dossier("HS-1") == first
        assert await db.dossiers.get_dossier_by_link("L-other") is None
        assert await db.dossiers.get_dossier("HS-2") is None
        assert await db.dossiers.list_dossiers() == [first]

    async def test_dossiers_are_listed_newest_first(self, db: Storage):
        # recorded out of order: the listing follows when they were recorded, not the order of calls
        middle = await add_dossier(db, "HS-B", now=T0 + hours(1))
        oldest = await add_dossier(db, "HS-A", now=T0)
        newest = await add_dossier(db, "HS-C", now=T0 + hours(2))
        assert await db.dossiers.list_dossiers() == [newest, middle, oldest]

    async def test_dossiers_are_listed_by_unit(self, db: Storage):
        ward = await add_dossier(db, "HS-1", "Q1-BN", now=T0)
        district = await add_dossier(db, "HS-2", "Q1", now=T0 + hours(1))
        other = await add_dossier(db, "HS-3", "Q3", now=T0 + hours(2))
        assert await db.dossiers.list_dossiers(["Q3"]) == [other]
        # only the units named, not their wards
        assert await db.dossiers.list_dossiers(["Q1"]) == [district]
        assert await db.dossiers.list_dossiers(["Q1", "Q1-BN"]) == [district, ward]
        assert await db.dossiers.list_dossiers(["HCM"]) == []
        assert await db.dossiers.list_dossiers([]) == []
        assert await db.dossiers.list_dossiers(None) == [other, district, ward]

    async def test_dossiers_are_listed_a_page_at_a_time(self, db: Storage):
        made = [await add_dossier(db, f"HS-{n}", now=T0 + hours(n)) for n in range(5)]
        newest_first = made[::-1]
        assert await db.dossiers.list_dossiers(limit=2) == newest_first[:2]
        assert await db.dossiers.list_dossiers(limit=2, offset=2) == newest_first[2:4]
        assert await db.dossiers.list_dossiers(limit=2, offset=4) == newest_first[4:]
        assert await db.dossiers.list_dossiers(limit=2, offset=5) == []
        assert await db.dossiers.list_dossiers(["Q1-BN"], limit=1, offset=1) == [newest_first[1]]

    async def test_wrong_codes_are_counted_per_chat_since_a_time(self, db: Storage):
        assert await db.dossiers.count_wrong_codes("zalo", "z1", T0 - hours(1)) == 0
        for minutes in (0, 1, 2):
            await db.dossiers.record_wrong_code("zalo", "z1", T0 + timedelta(minutes=minutes))
        await db.dossiers.record_wrong_code("zalo", "z2", T0)
        await db.dossiers.record_wrong_code("telegram", "z1", T0)
        assert await db.dossiers.count_wrong_codes("zalo", "z1", T0 - hours(1)) == 3
        # `since` itself counts
        assert await db.dossiers.count_wrong_codes("zalo", "z1", T0 + timedelta(minutes=1)) == 2
        assert await db.dossiers.count_wrong_codes("zalo", "z1", T0 + timedelta(minutes=3)) == 0
        assert await db.dossiers.count_wrong_codes("zalo", "z2", T0 - hours(1)) == 1
        assert await db.dossiers.count_wrong_codes("telegram", "z1", T0 - hours(1)) == 1

    async def test_marking_returned_records_the_time(self, db: Storage):
        await add_dossier(db, returned=False)
        assert (await db.dossiers.get_dossier("HS-1")).returned_at is None
        returned = await db.dossiers.mark_returned("HS-1", T0 + hours(5))
        assert returned.returned_at == T0 + hours(5) and returned.code == "HS-1"
        assert await db.dossiers.get_dossier("HS-1") == returned
        # nobody opened the link: nobody to invite
        assert await db.outbox.pending_invitations() == []

    async def test_return_queues_an_invitation_for_each_waiting_chat_once(self, db: Storage):
        dossier = await add_dossier(db, returned=False)
        await db.dossiers.link_chat(dossier.id, "telegram", "42", T0)
        await db.dossiers.link_chat(dossier.id, "telegram", "42", T0)
        await db.dossiers.link_chat(dossier.id, "zalo", "z1", T0)
        assert await db.outbox.pending_invitations() == []
        returned = await db.dossiers.mark_returned("HS-1", T0 + timedelta(days=1))
        assert returned.returned_at == T0 + timedelta(days=1)
        await db.dossiers.mark_returned("HS-1", T0 + timedelta(days=1))  # recorded twice: still one each
        pending = await db.outbox.pending_invitations()
        assert sorted((i.channel, i.chat_id) for i in pending) == [("telegram", "42"), ("zalo", "z1")]
        assert {i.dossier_id for i in pending} == {dossier.id}
        # read a page at a time: the page after the first invitation holds the second
        first, second = pending
        assert await db.outbox.pending_invitations(limit=1) == [first]
        assert await db.outbox.pending_invitations(limit=1, after_id=first.id) == [second]
        assert await db.outbox.pending_invitations(after_id=second.id) == []

    async def test_a_link_made_after_the_return_queues_its_invitation(self, db: Storage):
        dossier = await add_dossier(db, returned=True)
        await db.dossiers.link_chat(dossier.id, "telegram", "42", T0)
        (invitation,) = await db.outbox.pending_invitations()
        assert invitation.status == OutboxStatus.PENDING and invitation.attempts == 0
        assert (invitation.dossier_id, invitation.channel, invitation.chat_id) == (
            dossier.id,
            "telegram",
            "42",
        )
        await db.dossiers.link_chat(dossier.id, "telegram", "42", T0 + hours(1))  # the link opened again
        assert await db.outbox.pending_invitations() == [invitation]

    @pytest.mark.parametrize("link_first", [True, False])
    async def test_a_link_racing_the_return_queues_exactly_one_invitation(
        self, db: Storage, link_first: bool
    ):
        dossier = await add_dossier(db, returned=False)
        link = db.dossiers.link_chat(dossier.id, "telegram", "42", T0)
        ret = db.dossiers.mark_returned("HS-1", T0)
        await asyncio.gather(*((link, ret) if link_first else (ret, link)))
        (invitation,) = await db.outbox.pending_invitations()
        assert (invitation.dossier_id, invitation.chat_id) == (dossier.id, "42")
        # whichever came second found the other's work done
        await db.dossiers.link_chat(dossier.id, "telegram", "42", T0)
        await db.dossiers.mark_returned("HS-1", T0)
        assert len(await db.outbox.pending_invitations()) == 1

    async def test_an_invitation_sent_is_not_queued_again(self, db: Storage):
        dossier = await add_dossier(db, returned=True)
        await db.dossiers.link_chat(dossier.id, "telegram", "42", T0)
        (invitation,) = await db.outbox.pending_invitations()
        await db.outbox.finish_invitation(invitation.id, OutboxStatus.SENT, T0)
        await db.dossiers.mark_returned("HS-1", T0 + hours(1))
        await db.dossiers.link_chat(dossier.id, "telegram", "42", T0 + hours(1))
        assert await db.outbox.pending_invitations() == []
