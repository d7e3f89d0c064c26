"""OutboxRepository: survey invitations and case notices waiting for the running bot, read a page at
a time in the order recorded, claimed for a lease before sending, retried from a later time until
finished, never pending again once finished; and answers the platform did not accept."""

from __future__ import annotations

import pytest

from storage.base import Storage
from storage.records import (
    CaseState,
    DossierEventFacts,
    DossierEventType,
    DossierFacts,
    Invitation,
    NewDossier,
    NoticeTo,
    OutboxStatus,
)
from tests.storage.conftest import T0, add_dossier, hours, open_case


async def invite(db: Storage, *chats: str) -> list[Invitation]:
    """An invitation for each chat, in that order, to a returned dossier's survey."""
    dossier = await add_dossier(db, f"HS-{'-'.join(chats)}")
    for chat in chats:
        await db.dossiers.link_chat(dossier.id, "telegram", chat, T0)
    return [i for i in await db.outbox.pending_invitations(limit=1000) if i.dossier_id == dossier.id]


async def notify(db: Storage, *chats: str) -> None:
    """A notice to each chat, in that order, about a new case."""
    case = await open_case(db, f"HS-{'-'.join(chats)}", chat=f"c-{'-'.join(chats)}")
    await db.cases.change_case(
        case.id,
        from_states=[CaseState.NEW],
        to_state=CaseState.NEW,
        actor="test",
        action="noticed",
        now=T0,
        notices=[NoticeTo(kind="case_new", channel="telegram", chat_id=chat) for chat in chats],
    )


class TestInvitations:
    async def test_invitation_outcomes_are_recorded(self, db: Storage):
        dossier = await add_dossier(db, returned=True)
        await db.dossiers.link_chat(dossier.id, "telegram", "42", T0)
        (invitation,) = await db.outbox.pending_invitations()
        assert await db.outbox.retry_invitation(invitation.id, "timeout") == 1
        assert await db.outbox.retry_invitation(invitation.id, "timeout", T0 + hours(1)) == 2
        (still,) = await db.outbox.pending_invitations()
        assert (still.attempts, still.error, still.next_attempt_at) == (2, "timeout", T0 + hours(1))
        await db.outbox.finish_invitation(invitation.id, OutboxStatus.SENT, T0)
        assert await db.outbox.pending_invitations() == []

    async def test_a_new_invitation_is_pending_with_no_attempt(self, db: Storage):
        (invitation,) = await invite(db, "42")
        assert (invitation.status, invitation.attempts, invitation.created_at) == (
            OutboxStatus.PENDING,
            0,
            T0,
        )
        assert (invitation.sent_at, invitation.error, invitation.next_attempt_at) == (None, None, None)

    async def test_invitations_are_read_in_the_order_recorded_a_page_at_a_time(self, db: Storage):
        recorded = await invite(db, "1", "2") + await invite(db, "3") + await invite(db, "4", "5")
        assert [i.chat_id for i in recorded] == ["1", "2", "3", "4", "5"]
        assert await db.outbox.pending_invitations() == recorded
        assert await db.outbox.pending_invitations(limit=2) == recorded[:2]
        assert await db.outbox.pending_invitations(limit=2, after_id=recorded[1].id) == recorded[2:4]
        assert await db.outbox.pending_invitations(limit=2, after_id=recorded[3].id) == recorded[4:]
        assert await db.outbox.pending_invitations(after_id=recorded[4].id) == []

    @pytest.mark.parametrize("status", [s for s in OutboxStatus if s != OutboxStatus.PENDING])
    async def test_a_finished_invitation_is_pending_no_more(self, db: Storage, status: OutboxStatus):
        first, second = await invite(db, "1", "2")
        await db.outbox.finish_invitation(first.id, status, T0 + hours(1), error="Forbidden: blocked")
        assert await db.outbox.pending_invitations() == [second]

    async def test_a_retry_counts_for_its_invitation_only(self, db: Storage):
        first, second = await invite(db, "1", "2")
        assert await db.outbox.retry_invitation(second.id, "429") == 1
        assert await db.outbox.retry_invitation(second.id, "502") == 2
        again_first, again_second = await db.outbox.pending_invitations()
        assert again_first == first
        assert (again_second.attempts, again_second.error, again_second.status) == (
            2,
            "502",
            OutboxStatus.PENDING,
        )

    async def test_a_due_invitation_is_claimed_once_until_its_lease_ends(self, db: Storage):
        (invitation,) = await invite(db, "1")
        assert await db.outbox.claim_invitation(invitation.id, T0, T0 + hours(1))
        # claimed: no other sender takes it, and it shows as not due before the lease's end
        assert not await db.outbox.claim_invitation(invitation.id, T0, T0 + hours(1))
        assert not await db.outbox.claim_invitation(invitation.id, T0 + hours(0.5), T0 + hours(2))
        (claimed,) = await db.outbox.pending_invitations()
        assert (claimed.status, claimed.attempts, claimed.next_attempt_at) == (
            OutboxStatus.PENDING,
            0,
            T0 + hours(1),
        )
        # its sender died holding it: once the lease ends, it is taken over
        assert await db.outbox.claim_invitation(invitation.id, T0 + hours(1), T0 + hours(2))

    async def test_a_retried_invitation_is_claimed_only_from_its_next_attempt(self, db: Storage):
        (invitation,) = await invite(db, "1")
        assert await db.outbox.claim_invitation(invitation.id, T0, T0 + hours(1))
        await db.outbox.retry_invitation(invitation.id, "502 Bad Gateway", T0 + hours(3))
        assert not await db.outbox.claim_invitation(invitation.id, T0 + hours(2), T0 + hours(4))
        assert await db.outbox.claim_invitation(invitation.id, T0 + hours(3), T0 + hours(4))

    async def test_a_finished_invitation_cannot_be_claimed(self, db: Storage):
        (invitation,) = await invite(db, "1")
        assert await db.outbox.claim_invitation(invitation.id, T0, T0 + hours(1))
        await db.outbox.finish_invitation(invitation.id, OutboxStatus.SENT, T0)
        assert not await db.outbox.claim_invitation(invitation.id, T0 + hours(5), T0 + hours(6))
        (sent,) = await db.outbox.list_invitations([OutboxStatus.SENT])
        assert (sent.sent_at, sent.next_attempt_at) == (T0, None)

    async def test_invitations_are_listed_by_state_in_the_order_recorded(self, db: Storage):
        first, second, third = await invite(db, "1", "2", "3")
        await db.outbox.finish_invitation(first.id, OutboxStatus.UNREACHABLE, T0, "blocked")
        await db.outbox.finish_invitation(third.id, OutboxStatus.FAILED, T0, "Bad Request")
        given_up = await db.outbox.list_invitations([OutboxStatus.UNREACHABLE, OutboxStatus.FAILED])
        assert [(i.id, i.status, i.error) for i in given_up] == [
            (first.id, OutboxStatus.UNREACHABLE, "blocked"),
            (third.id, OutboxStatus.FAILED, "Bad Request"),
        ]
        assert await db.outbox.list_invitations([OutboxStatus.PENDING]) == [second]
        latest = await db.outbox.list_invitations(list(OutboxStatus), limit=2)  # the latest, oldest first
        assert [i.id for i in latest] == [second.id, third.id]
        assert await db.outbox.list_invitations([OutboxStatus.SKIPPED]) == []


class TestNotices:
    async def test_notices_are_read_with_what_and_whom_in_the_order_recorded(self, db: Storage):
        await notify(db, "1", "2")
        await notify(db, "3")
        notices = await db.outbox.pending_notices()
        assert [n.chat_id for n in notices] == ["1", "2", "3"]
        assert all(
            (n.kind, n.channel, n.status, n.attempts, n.person_id)
            == ("case_new", "telegram", OutboxStatus.PENDING, 0, None)
            for n in notices
        )
        assert notices[0].case_id == notices[1].case_id != notices[2].case_id
        assert [n.id for n in notices] == sorted(n.id for n in notices)

    async def test_notices_are_read_a_page_at_a_time(self, db: Storage):
        await notify(db, "1", "2", "3", "4", "5")
        recorded = await db.outbox.pending_notices()
        assert await db.outbox.pending_notices(limit=2) == recorded[:2]
        assert await db.outbox.pending_notices(limit=2, after_id=recorded[1].id) == recorded[2:4]
        assert await db.outbox.pending_notices(limit=2, after_id=recorded[3].id) == recorded[4:]
        assert await db.outbox.pending_notices(after_id=recorded[4].id) == []

    async def test_a_notice_is_retried_then_finished(self, db: Storage):
        await notify(db, "1", "2")
        first, second = await db.outbox.pending_notices()
        assert await db.outbox.retry_notice(first.id, "timeout") == 1
        assert await db.outbox.retry_notice(first.id, "502 Bad Gateway", T0 + hours(2)) == 2
        still, untouched = await db.outbox.pending_notices()
        assert (still.id, still.attempts, still.status) == (first.id, 2, OutboxStatus.PENDING)
        assert (still.error, still.next_attempt_at) == ("502 Bad Gateway", T0 + hours(2))
        assert untouched == second
        await db.outbox.finish_notice(first.id, OutboxStatus.SENT, T0 + hours(1))
        assert await db.outbox.pending_notices() == [second]

    @pytest.mark.parametrize("status", [s for s in OutboxStatus if s != OutboxStatus.PENDING])
    async def test_a_finished_notice_is_pending_no_more(self, db: Storage, status: OutboxStatus):
        await notify(db, "1", "2")
        first, second = await db.outbox.pending_notices()
        await db.outbox.finish_notice(first.id, status, T0 + hours(1), error="Forbidden: blocked")
        assert await db.outbox.pending_notices() == [second]

    async def test_invitations_and_notices_are_apart(self, db: Storage):
        (invitation,) = await invite(db, "1")
        await notify(db, "2")
        (notice,) = await db.outbox.pending_notices()
        await db.outbox.finish_notice(notice.id, OutboxStatus.SENT, T0)
        assert await db.outbox.pending_invitations() == [invitation]
        await db.outbox.finish_invitation(invitation.id, OutboxStatus.SENT, T0)
        assert await db.outbox.pending_notices() == []

    async def test_a_notice_carries_the_note_of_the_change_that_queued_it(self, db: Storage):
        case = await open_case(db)
        to_citizen = NoticeTo(kind="case_message", channel="telegram", chat_id="42")
        await db.cases.change_case(
            case.id, from_states=[CaseState.NEW], to_state=CaseState.NEW, actor="person:2", action="message",
            now=T0, note="Xin gọi lại số 0909", notices=[to_citizen],
        )  # fmt: skip
        await db.cases.change_case(
            case.id, from_states=[CaseState.NEW], to_state=CaseState.ASSIGNED, actor="person:1",
            action="assigned", now=T0, notices=[to_citizen],
        )  # fmt: skip
        assert [n.note for n in await db.outbox.pending_notices()] == ["Xin gọi lại số 0909", None]

    async def test_a_notice_is_claimed_once_until_its_lease_ends_or_its_retry_time(self, db: Storage):
        await notify(db, "1")
        (notice,) = await db.outbox.pending_notices()
        assert await db.outbox.claim_notice(notice.id, T0, T0 + hours(1))
        assert not await db.outbox.claim_notice(notice.id, T0, T0 + hours(1))
        assert await db.outbox.claim_notice(notice.id, T0 + hours(1), T0 + hours(2))  # taken over
        await db.outbox.retry_notice(notice.id, "timeout", T0 + hours(4))
        assert not await db.outbox.claim_notice(notice.id, T0 + hours(3), T0 + hours(5))
        assert await db.outbox.claim_notice(notice.id, T0 + hours(4), T0 + hours(5))
        await db.outbox.finish_notice(notice.id, OutboxStatus.SENT, T0 + hours(4))
        assert not await db.outbox.claim_notice(notice.id, T0 + hours(9), T0 + hours(10))

    async def test_notices_are_listed_by_state_unit_and_when_they_were_given_up(self, db: Storage):
        await notify(db, "1", "2")  # a case of Q1-BN
        case = await open_case(db, "HS-Q3", "Q3", chat="c-q3")
        await db.cases.change_case(
            case.id, from_states=[CaseState.NEW], to_state=CaseState.NEW, actor="test", action="noticed",
            now=T0, notices=[NoticeTo(kind="resolved", channel="telegram", chat_id="3")],
        )  # fmt: skip
        first, second, third = await db.outbox.pending_notices()
        assert (first.unit_code, third.unit_code) == ("Q1-BN", "Q3")
        assert first.created_at == T0 and first.sent_at is None and first.error is None
        await db.outbox.finish_notice(first.id, OutboxStatus.UNREACHABLE, T0 + hours(1), "blocked")
        await db.outbox.finish_notice(third.id, OutboxStatus.FAILED, T0 + hours(3), "Bad Request")
        given_up = [OutboxStatus.UNREACHABLE, OutboxStatus.FAILED]
        assert [n.id for n in await db.outbox.list_notices(given_up)] == [first.id, third.id]
        (blocked,) = await db.outbox.list_notices(given_up, unit_codes=["Q1-BN", "Q1"])
        assert (blocked.id, blocked.status, blocked.error, blocked.sent_at) == (
            first.id,
            OutboxStatus.UNREACHABLE,
            "blocked",
            T0 + hours(1),
        )
        assert [n.id for n in await db.outbox.list_notices(given_up, finished_since=T0 + hours(2))] == [
            third.id
        ]
        assert await db.outbox.list_notices(given_up, unit_codes=[]) == []
        assert await db.outbox.list_notices([OutboxStatus.PENDING], finished_since=T0) == []
        assert [n.id for n in await db.outbox.list_notices([OutboxStatus.PENDING])] == [second.id]
        assert [n.id for n in await db.outbox.list_notices(list(OutboxStatus), limit=1)] == [third.id]


class TestUndeliveredReplies:
    async def test_undelivered_replies_are_kept_in_the_order_recorded(self, db: Storage):
        await db.outbox.record_undelivered_reply("telegram", "1", T0, "flood control for 900 s")
        await db.outbox.record_undelivered_reply("zalo", "z-2", T0 + hours(2), "500 Internal error")
        replies = await db.outbox.undelivered_replies()
        assert [(r.channel, r.chat_id, r.at, r.error) for r in replies] == [
            ("telegram", "1", T0, "flood control for 900 s"),
            ("zalo", "z-2", T0 + hours(2), "500 Internal error"),
        ]
        assert replies[0].id < replies[1].id
        assert [r.chat_id for r in await db.outbox.undelivered_replies(since=T0 + hours(1))] == ["z-2"]
        assert [r.chat_id for r in await db.outbox.undelivered_replies(limit=1)] == ["z-2"]  # the latest


class TestZnsInvitations:
    async def test_a_returned_dossier_with_a_phone_and_no_chat_is_invited_by_zns(self, db: Storage):
        facts = DossierFacts(
            code="HS-Z", unit_code="Q1-BN", procedure="Đăng ký kết hôn", received_on=T0.date(),
            due_on=T0.date(), phone="84901234567",
        )  # fmt: skip
        (put,) = await db.dossiers.put_dossiers(
            [(facts, NewDossier(link_id="L-Z", survey_code="S-Z"))], actor="test", now=T0
        )
        await db.dossiers.add_dossier_event(
            "HS-Z", DossierEventFacts(type=DossierEventType.RETURNED, at=T0), actor="test", now=T0
        )
        (invitation,) = await db.outbox.pending_invitations()
        assert (invitation.dossier_id, invitation.channel, invitation.chat_id) == (
            put.dossier.id, "zns", "84901234567",
        )  # fmt: skip

    async def test_a_linked_chat_is_invited_instead_of_the_phone(self, db: Storage):
        facts = DossierFacts(code="HS-C", unit_code="Q1-BN", procedure="Đăng ký kết hôn", phone="84901234567")
        (put,) = await db.dossiers.put_dossiers(
            [(facts, NewDossier(link_id="L-C", survey_code="S-C"))], actor="test", now=T0
        )
        await db.dossiers.link_chat(put.dossier.id, "telegram", "42", T0)
        await db.dossiers.add_dossier_event(
            "HS-C", DossierEventFacts(type=DossierEventType.RETURNED, at=T0), actor="test", now=T0
        )
        assert [(i.channel, i.chat_id) for i in await db.outbox.pending_invitations()] == [("telegram", "42")]

    async def test_a_dossier_without_phone_or_chat_invites_nobody(self, db: Storage):
        await add_dossier(db, returned=True)
        assert await db.outbox.pending_invitations() == []

    async def test_invited_since_counts_invitations_sent_to_the_chat(self, db: Storage):
        (first,) = await invite(db, "42")
        (other,) = await invite(db, "43")
        assert not await db.outbox.invited_since("telegram", "42", T0)
        await db.outbox.finish_invitation(first.id, OutboxStatus.SENT, T0 + hours(1))
        await db.outbox.finish_invitation(other.id, OutboxStatus.SKIPPED, T0 + hours(1))
        assert await db.outbox.invited_since("telegram", "42", T0 + hours(1))
        assert not await db.outbox.invited_since("telegram", "42", T0 + hours(2))
        assert not await db.outbox.invited_since("telegram", "43", T0)  # skipped is not asked
        assert not await db.outbox.invited_since("zalo", "42", T0)
