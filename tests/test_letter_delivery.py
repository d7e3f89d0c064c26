"""Apology letters through the outbox: an `extended` event's letter goes once to each chat that
opened the dossier's link, in the chat's language; else the `apology` ZNS template to the dossier's
phone (without a ZNS channel, or a phone without Zalo, recorded as not delivered and the letter
listed for the desk; a used-up quota waits for the next day); a blocked chat is given up, a passing failure
retried; the citizen's answer remembers that the dossier was late and that the letter came."""

from __future__ import annotations

from datetime import timedelta

from bot.app import Handlers
from handlers.chat import Delivery
from handlers.letter_outbox import LetterDeliveries
from handlers.outbox import FIRST_RETRY
from handlers.templates import TemplateDelivery, TemplatePurpose, TemplateResult
from storage.records import DossierEventFacts, DossierEventType, DossierFacts, LetterStatus, NewDossier
from tests.conftest import NOW, Citizen
from tests.fakes import RecordingSender, RecordingTemplates

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


def with_templates(handlers: Handlers, templates: RecordingTemplates) -> LetterDeliveries:
    letters = handlers.letters
    letters.templates = templates
    return letters


async def test_without_a_chat_the_letter_goes_by_zns_with_its_fields(config, store, handlers: Handlers):
    made = await dossier(config, store, phone="84901234567")
    await extend(store)
    templates = RecordingTemplates()
    letters = with_templates(handlers, templates)
    assert (await letters.send({}, NOW)).sent == 1
    ((purpose, phone, fields, tracking),) = templates.sent
    assert (purpose, phone) == (TemplatePurpose.APOLOGY, "84901234567")
    assert fields == {
        "citizen_name": "Nguyễn Thị Lan", "code": "HS-9", "procedure": "Đăng ký khai sinh",
        "unit_name": "UBND Phường Bến Nghé", "received_date": "21/11/2026", "due_date": "27/11/2026",
        "new_due_date": "02/12/2026", "reason": REASON,
    }  # fmt: skip
    assert "84901234567" not in tracking and "HS-9" not in tracking
    (letter,) = await store.letters.letters_of_dossier(made.id)
    assert [d.status for d in letter.deliveries] == [LetterStatus.SENT]
    assert await store.letters.list_letters(to_print=True) == []
    assert (await letters.send({}, NOW + timedelta(hours=1))).sent == 0  # once


async def test_a_phone_without_zalo_or_no_apology_template_leaves_it_to_print(config, store, handlers):
    await dossier(config, store, "HS-1", phone="84901234567")
    await extend(store, "HS-1")
    templates = RecordingTemplates(outcomes={"84901234567": TemplateResult(TemplateDelivery.NO_ACCOUNT)})
    letters = with_templates(handlers, templates)
    assert (await letters.send({}, NOW)).skipped == 1
    await dossier(config, store, "HS-2", phone="84907654321")
    await extend(store, "HS-2")
    letters.templates = RecordingTemplates(purposes=(TemplatePurpose.RATING,))
    assert (await letters.send({}, NOW)).skipped == 1
    printed = await store.letters.list_letters(to_print=True)
    assert [(p.dossier_code, p.deliveries[0].error) for p in printed] == [
        ("HS-1", "no Zalo account on this phone"),
        ("HS-2", "no apology template configured (zalo_oa.templates.apology)"),
    ]


async def test_a_used_up_quota_waits_for_the_next_day_and_a_failure_is_retried(config, store, handlers):
    await dossier(config, store, "HS-Q", phone="84901111111")
    await dossier(config, store, "HS-F", phone="84902222222")
    await extend(store, "HS-Q")
    await extend(store, "HS-F")
    templates = RecordingTemplates(outcomes={
        "84901111111": TemplateResult(TemplateDelivery.QUOTA, error="-1139"),
        "84902222222": TemplateResult(TemplateDelivery.FAILED, error="-32 rate limit"),
    })  # fmt: skip
    letters = with_templates(handlers, templates)
    assert (await letters.send({}, NOW)).retrying == 2
    waiting = {d.chat_id: d for d in await store.letters.pending_letter_deliveries()}
    midnight = (NOW + timedelta(days=1)).astimezone(config.zone).replace(hour=0, minute=5)
    assert waiting["84901111111"].next_attempt_at == midnight
    assert waiting["84902222222"].next_attempt_at == NOW + FIRST_RETRY
    templates.outcomes.clear()
    assert (await letters.send({}, NOW + FIRST_RETRY)).sent == 1
    assert (await letters.send({}, midnight)).sent == 1
    assert [phone for _, phone, _, _ in templates.sent] == ["84902222222", "84901111111"]


async def test_a_refused_template_is_given_up_and_listed_to_print(config, store, handlers):
    await dossier(config, store, phone="84901234567")
    await extend(store)
    refused = TemplateResult(TemplateDelivery.REFUSED, error="-1123 parameter ly_do too long")
    letters = with_templates(handlers, RecordingTemplates(outcomes={"84901234567": refused}))
    assert (await letters.send({}, NOW)).failed == 1
    (printed,) = await store.letters.list_letters(to_print=True)
    assert printed.deliveries[0].error == "the template was refused: -1123 parameter ly_do too long"
