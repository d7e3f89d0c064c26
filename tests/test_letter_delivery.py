"""Apology letters through the outbox: an `extended` event's letter goes once to each chat that
opened the dossier's link, in the chat's language; a ZNS delivery is recorded as not delivered (no
ZNS channel yet) and the letter listed for the desk; a blocked chat is given up, a passing failure
retried; the citizen's answer remembers that the dossier was late and that the letter came."""

from __future__ import annotations

from datetime import timedelta

from bot.app import Handlers
from handlers.chat import Delivery
from handlers.outbox import FIRST_RETRY
from storage.records import DossierEventFacts, DossierEventType, DossierFacts, LetterStatus, NewDossier
from tests.conftest import NOW, Citizen
from tests.fakes import RecordingSender

REASON = "Chờ ý kiến của Sở Tài nguyên và Môi trường"
NEW_DUE = NOW + timedelta(days=6)  # 2026-12-02, 10:00 in Vietnam


async def dossier(config, store, code="HS-9", *, phone=None, due_days=1):
    facts = DossierFacts(
        code=code, unit_code="Q1-BN", procedure="Đăng ký khai sinh",
        received_on=NOW.date() - timedelta(days=5), due_on=NOW.date() + timedelta(days=due_days),
        citizen_name="Nguyễn Thị Lan", phone=phone,
    )  # fmt: skip
    (result,) = await store.dossiers.put_dossiers(
        [(facts, NewDossier(link_id=f"L-{code}", survey_code=f"S-{code}"))], actor="test", now=NOW
    )
    return result.dossier


async def extend(store, code="HS-9", at=NOW):
    event = DossierEventFacts(type=DossierEventType.EXTENDED, at=at, reason=REASON, new_due_at=NEW_DUE)
    return await store.dossiers.add_dossier_event(code, event, actor="test", now=at)


async def test_the_letter_goes_once_to_the_linked_chat_in_vietnamese(config, store, handlers: Handlers):
    made = await dossier(config, store)
    await store.dossiers.link_chat(made.id, "telegram", "1001", NOW)
    await extend(store)
    await extend(store)  # reported again: nothing new
    sender = RecordingSender()
    round_ = await handlers.letters.send({"telegram": sender}, NOW)
    assert round_.sent == 1
    ((chat_id, reply),) = sender.sent
    assert chat_id == "1001"
    assert "HS-9" in reply.text and REASON in reply.text and "02/12/2026" in reply.text
    assert "Nguyễn Thị Lan" in reply.text and "Lê Văn C" in reply.text  # signed by the ward's head
    assert (await handlers.letters.send({"telegram": sender}, NOW + timedelta(hours=1))).sent == 0
    (letter,) = await store.letters.letters_of_dossier(made.id)
    assert letter.delivered and [d.status for d in letter.deliveries] == [LetterStatus.SENT]


async def test_the_letter_is_in_the_chat_s_language(config, store, handlers: Handlers):
    made = await dossier(config, store)
    await store.dossiers.link_chat(made.id, "telegram", "1001", NOW)
    await store.chats.set_language("telegram", "1001", "en")
    await extend(store)
    sender = RecordingSender()
    await handlers.letters.send({"telegram": sender}, NOW)
    ((_, reply),) = sender.sent
    assert REASON in reply.text and "apolog" in reply.text.lower()


async def test_zns_is_not_delivered_yet_and_the_letter_is_to_print(config, store, handlers: Handlers):
    made = await dossier(config, store, phone="84901234567")
    await extend(store)
    sender = RecordingSender()
    round_ = await handlers.letters.send({"telegram": sender}, NOW)
    assert round_.skipped == 1 and sender.sent == []
    (letter,) = await store.letters.letters_of_dossier(made.id)
    ((status, error),) = [(d.status, d.error) for d in letter.deliveries]
    assert (status, error) == (LetterStatus.NOT_DELIVERED, "no ZNS channel configured")
    assert [printed.id for printed in await store.letters.list_letters(to_print=True)] == [letter.id]


async def test_a_blocked_chat_is_given_up_and_a_passing_failure_retried(config, store, handlers: Handlers):
    blocked = await dossier(config, store, "HS-B")
    await store.dossiers.link_chat(blocked.id, "telegram", "1001", NOW)
    failing = await dossier(config, store, "HS-F")
    await store.dossiers.link_chat(failing.id, "telegram", "1002", NOW)
    await extend(store, "HS-B")
    await extend(store, "HS-F")
    sender = RecordingSender(outcomes={"1001": Delivery.UNREACHABLE, "1002": Delivery.FAILED})
    round_ = await handlers.letters.send({"telegram": sender}, NOW)
    assert (round_.unreachable, round_.retrying) == (1, 1)
    assert (await store.chats.get_chat_state("telegram", "1001")).unreachable_since == NOW
    (waiting,) = await store.letters.pending_letter_deliveries()
    assert (waiting.chat_id, waiting.attempts) == ("1002", 1)
    sender.outcomes.clear()
    assert (await handlers.letters.send({"telegram": sender}, NOW + FIRST_RETRY / 2)).sent == 0
    assert (await handlers.letters.send({"telegram": sender}, NOW + FIRST_RETRY)).sent == 1
    assert [c for c, _ in sender.sent] == ["1002"]


async def test_a_channel_not_running_leaves_the_letter_pending(config, store, handlers: Handlers):
    made = await dossier(config, store)
    await store.dossiers.link_chat(made.id, "zalo", "z-1", NOW)
    await extend(store)
    assert (await handlers.letters.send({"telegram": RecordingSender()}, NOW)).waiting == 1
    assert len(await store.letters.pending_letter_deliveries()) == 1


async def test_a_late_dossier_s_answer_remembers_the_letter(config, store, dispatcher, handlers: Handlers):
    made = await dossier(config, store, due_days=-2)
    await store.dossiers.link_chat(made.id, "telegram", "1001", NOW)
    await extend(store, at=NOW - timedelta(days=3))
    await handlers.letters.send({"telegram": RecordingSender()}, NOW)
    await store.dossiers.mark_returned("HS-9", NOW)
    invitation = RecordingSender()
    await handlers.invitations.send({"telegram": invitation}, NOW, timedelta(days=7))
    citizen = Citizen(dispatcher)
    citizen.last = [reply for _, reply in invitation.sent]
    await citizen.press("Hài lòng")
    answer = await store.surveys.get_answer(made.id)
    assert answer is not None and (answer.dossier_late, answer.letter_sent) == (True, True)
