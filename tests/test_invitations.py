"""The outbox: a dossier returned while its citizen waits gets one invitation, whatever happens."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from bot.app import Handlers
from handlers.chat import Delivery
from handlers.outbox import FIRST_RETRY
from storage.records import OutboxStatus
from tests.conftest import NOW, Citizen, add_dossier, labels, texts
from tests.fakes import RecordingSender

WEEK = timedelta(days=7)


async def _waiting(config, store, dispatcher, code="HS-001", chat="1001"):
    dossier, token = await add_dossier(config, store, code, returned=False)
    await Citizen(dispatcher, chat_id=chat).command("start", token)
    await store.dossiers.mark_returned(code, NOW)
    return dossier


async def _statuses(store):
    with sqlite3.connect(store.path) as db:
        rows = db.execute("SELECT chat_id, status, attempts FROM invitations").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


async def test_a_returned_dossier_invites_the_waiting_chat_once(
    config, store, dispatcher, handlers: Handlers
):
    await _waiting(config, store, dispatcher)
    sender = RecordingSender()
    result = await handlers.invitations.send({"telegram": sender}, NOW, WEEK)
    assert result.sent == 1
    ((chat_id, reply),) = sender.sent
    assert chat_id == "1001" and "Đăng ký khai sinh" in reply.text
    assert [o.label for o in reply.options] == ["Hài lòng", "Bình thường", "Không hài lòng"]
    await handlers.invitations.send({"telegram": sender}, NOW, WEEK)
    assert len(sender.sent) == 1
    assert (await _statuses(store))["1001"] == ("sent", 0)
    # the invitation's buttons work
    citizen = Citizen(dispatcher)
    citizen.last = [reply]
    assert "Lý do khác" in labels(await citizen.press("Không hài lòng"))


async def test_a_blocked_chat_is_marked_unreachable_and_not_retried(
    config, store, dispatcher, handlers: Handlers
):
    await _waiting(config, store, dispatcher)
    sender = RecordingSender(outcomes={"1001": Delivery.UNREACHABLE})
    result = await handlers.invitations.send({"telegram": sender}, NOW, WEEK)
    assert result.unreachable == 1
    assert (await store.chats.get_chat_state("telegram", "1001")).unreachable_since == NOW
    assert await store.outbox.pending_invitations() == []


async def test_a_chat_already_known_unreachable_is_not_tried(config, store, dispatcher, handlers: Handlers):
    await _waiting(config, store, dispatcher)
    await store.chats.mark_unreachable("telegram", "1001", NOW)
    sender = RecordingSender()
    assert (await handlers.invitations.send({"telegram": sender}, NOW, WEEK)).unreachable == 1
    assert sender.sent == []


async def test_a_passing_failure_is_retried_from_a_later_time(config, store, dispatcher, handlers: Handlers):
    await _waiting(config, store, dispatcher)
    sender = RecordingSender(outcomes={"1001": Delivery.FAILED})
    result = await handlers.invitations.send({"telegram": sender}, NOW, WEEK)
    assert result.retrying == 1 and (await _statuses(store))["1001"] == ("pending", 1)
    sender.outcomes.clear()
    assert (await handlers.invitations.send({"telegram": sender}, NOW + FIRST_RETRY, WEEK)).sent == 1


async def test_cool_down_skips_a_chat_that_answered_recently(config, store, dispatcher, handlers: Handlers):
    _, token = await add_dossier(config, store, "HS-000")
    alice = Citizen(dispatcher)
    await alice.command("start", token)
    await alice.press("Hài lòng")
    await alice.press("Bỏ qua")
    await _waiting(config, store, dispatcher, "HS-001")
    sender = RecordingSender()
    assert (await handlers.invitations.send({"telegram": sender}, NOW, WEEK)).skipped == 1
    assert sender.sent == []


async def test_an_invitation_waits_while_the_chat_is_mid_survey(
    config, store, dispatcher, handlers: Handlers
):
    _, token = await add_dossier(config, store, "HS-000")
    alice = Citizen(dispatcher)
    await alice.command("start", token)  # in the middle of HS-000's survey
    await _waiting(config, store, dispatcher, "HS-001")
    sender = RecordingSender()
    assert (await handlers.invitations.send({"telegram": sender}, NOW, timedelta(0))).waiting == 1
    later = NOW + timedelta(days=1)  # the first survey was abandoned
    assert (await handlers.invitations.send({"telegram": sender}, later, timedelta(0))).sent == 1


async def test_an_invitation_for_a_channel_not_running_waits(config, store, dispatcher, handlers: Handlers):
    await _waiting(config, store, dispatcher)
    assert (await handlers.invitations.send({}, NOW, WEEK)).waiting == 1
    assert len(await store.outbox.pending_invitations()) == 1


async def test_a_dossier_answered_from_another_chat_is_not_invited_again(
    config, store, dispatcher, handlers: Handlers
):
    dossier, token = await add_dossier(config, store, returned=False)
    await Citizen(dispatcher, chat_id="1001").command("start", token)
    await store.dossiers.mark_returned(dossier.code, NOW)
    bob = Citizen(dispatcher, chat_id="1002")
    await bob.command("start", token)
    await bob.press("Hài lòng")
    sender = RecordingSender()
    assert (await handlers.invitations.send({"telegram": sender}, NOW, WEEK)).skipped == 1
    assert (await _statuses(store))["1001"][0] == OutboxStatus.SKIPPED.value


async def test_an_invitation_sent_again_after_a_crash_leaves_both_copies_working(
    config, store, dispatcher, handlers: Handlers
):
    """kill -9 between sending an invitation and recording it sends it again on restart: whichever
    copy the citizen presses is the same survey."""
    await _waiting(config, store, dispatcher)
    sender = RecordingSender()
    await handlers.invitations.send({"telegram": sender}, NOW, WEEK)
    with sqlite3.connect(store.path) as db:  # as if the process died before recording it
        db.execute("UPDATE invitations SET status = 'pending', sent_at = NULL")
    await handlers.invitations.send({"telegram": sender}, NOW, WEEK)
    (_, first), (_, second) = sender.sent
    assert [o.key for o in first.options] == [o.key for o in second.options]
    citizen = Citizen(dispatcher)
    citizen.last = [first]
    assert "chưa hài lòng" in texts(await citizen.press("Không hài lòng"))
    citizen.last = [second]  # the other copy, pressed later: the survey goes on where it stands
    assert "không còn hiệu lực" in texts(await citizen.press("Hài lòng"))
