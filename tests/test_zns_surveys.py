"""Surveys by ZNS, offline with a fake template sender: a dossier returned with a phone and no chat
is asked by the `rating` template (its tracking id naming the invitation, never the phone or the
code); the stars, chips
and note that come back become the answer on channel `zns`; an unsatisfied rating opens a case, and
its resolution goes back to the phone by the `resolution` template."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.app import Handlers
from handlers.cases import CaseAction, CaseButton
from handlers.chat import Delivery
from handlers.outbox import LEASE
from handlers.template_ratings import RatingOutcome, RatingScale, TemplateRating
from handlers.templates import TemplateDelivery, TemplatePurpose, TemplateResult
from storage.records import (
    CaseState,
    DossierEventFacts,
    DossierEventType,
    DossierFacts,
    FollowUp,
    NewDossier,
    OutboxStatus,
    Rating,
)
from tests.conftest import NOW, Citizen, texts
from tests.fakes import RecordingSender, RecordingTemplates

PHONE = "84901234567"
COOLDOWN = timedelta(days=7)


async def returned(store, code="HS-Z", phone: str | None = PHONE, *, at=NOW, link=None):
    facts = DossierFacts(
        code=code, unit_code="Q1-BN", procedure="Cấp giấy phép xây dựng", citizen_name="Trần Văn Hùng",
        received_on=NOW.date() - timedelta(days=10), due_on=NOW.date() + timedelta(days=1), phone=phone,
    )  # fmt: skip
    (put,) = await store.dossiers.put_dossiers(
        [(facts, NewDossier(link_id=link or f"L-{code}", survey_code=f"S-{code}"))], actor="test", now=at
    )
    event = DossierEventFacts(type=DossierEventType.RETURNED, at=at)
    await store.dossiers.add_dossier_event(code, event, actor="test", now=at)
    return put.dossier


@pytest.fixture
def zns(handlers: Handlers) -> RecordingTemplates:
    templates = RecordingTemplates()
    handlers.invitations.templates = templates
    handlers.notices.templates = templates
    handlers.letters.templates = templates
    return templates


async def test_a_returned_dossier_with_a_phone_is_asked_by_the_rating_template(store, handlers, zns):
    dossier = await returned(store, link="k7QmZ2xv")
    run = await handlers.invitations.send({}, NOW, COOLDOWN)
    assert run.sent == 1
    ((purpose, phone, fields, tracking),) = zns.sent
    (invitation,) = await store.outbox.list_invitations([OutboxStatus.SENT])
    assert (purpose, phone, tracking) == (TemplatePurpose.RATING, PHONE, f"invitation-{invitation.id}")
    assert fields["citizen_name"] == "Trần Văn Hùng" and fields["code"] == "HS-Z"
    assert fields["procedure"] == "Cấp giấy phép xây dựng" and fields["unit_name"] == "UBND Phường Bến Nghé"
    assert (fields["received_date"], fields["due_date"]) == ("16/11/2026", "27/11/2026")
    assert invitation.dossier_id == dossier.id
    assert (await handlers.invitations.send({}, NOW + timedelta(hours=1), COOLDOWN)).sent == 0


async def test_a_phone_asked_lately_or_answered_is_not_asked_again(store, handlers, zns):
    await returned(store, "HS-1")
    await handlers.invitations.send({}, NOW, COOLDOWN)
    await returned(store, "HS-2", at=NOW + timedelta(days=2))
    run = await handlers.invitations.send({}, NOW + timedelta(days=2), COOLDOWN)
    assert (run.sent, run.skipped) == (0, 1)
    (skipped,) = await store.outbox.list_invitations([OutboxStatus.SKIPPED])
    assert skipped.error == "cool-down"
    await returned(store, "HS-3", at=NOW + timedelta(days=8))
    assert (await handlers.invitations.send({}, NOW + timedelta(days=8), COOLDOWN)).sent == 1


async def test_without_a_rating_template_the_invitation_is_skipped_and_says_why(store, handlers, zns):
    zns.purposes = (TemplatePurpose.APOLOGY,)
    await returned(store)
    assert (await handlers.invitations.send({}, NOW, COOLDOWN)).skipped == 1
    (skipped,) = await store.outbox.list_invitations([OutboxStatus.SKIPPED])
    assert skipped.error == "no rating template configured (zalo_oa.templates.rating)"


async def test_a_low_quota_holds_invitations_and_a_phone_without_zalo_is_given_up(store, handlers, zns):
    await returned(store, "HS-1")
    zns.saving = True
    assert (await handlers.invitations.send({}, NOW, COOLDOWN)).waiting == 1
    zns.saving = False
    zns.outcomes[PHONE] = TemplateResult(TemplateDelivery.NO_ACCOUNT)
    assert (await handlers.invitations.send({}, NOW, COOLDOWN)).unreachable == 1
    (given_up,) = await store.outbox.list_invitations([OutboxStatus.UNREACHABLE])
    assert given_up.error == "no Zalo account on this phone"


async def test_two_stars_with_a_chip_and_a_note_are_an_unsatisfied_answer_and_a_case(store, handlers):
    dossier = await returned(store)
    handlers.ratings.scale = RatingScale(handlers.ratings.scale.levels, {"Chờ đợi lâu": "access"})
    rating = TemplateRating(
        dossier_id=dossier.id, stars=2, chips=("Chờ đợi lâu", "Khác"), note="Trả kết quả trễ hẹn",
        message_id="m-1", rated_at=NOW + timedelta(minutes=5),
    )  # fmt: skip
    assert await handlers.ratings.record(rating, NOW + timedelta(minutes=6)) == RatingOutcome.RECORDED
    answer = await store.surveys.get_answer(dossier.id)
    assert answer is not None
    assert (answer.channel, answer.chat_id, answer.rating, answer.rating_option) == (
        "zns", PHONE, Rating.UNSATISFIED, "stars_2",
    )  # fmt: skip
    assert answer.follow_ups == [
        FollowUp(question_id="chips", option_id="Chờ đợi lâu", factor="access"),
        FollowUp(question_id="chips", option_id="Khác", factor=None),
    ]
    assert answer.texts == {"note": "Trả kết quả trễ hẹn"}
    assert answer.answered_at == NOW + timedelta(minutes=5)
    (case,) = await store.cases.list_cases(["Q1-BN"], states=tuple(CaseState))
    assert (case.dossier_id, case.citizen_channel, case.citizen_chat_id) == (dossier.id, "zns", PHONE)
    again = TemplateRating(dossier_id=dossier.id, stars=5, message_id="m-1")
    assert await handlers.ratings.record(again, NOW + timedelta(hours=1)) == RatingOutcome.ALREADY_ANSWERED
    assert (await store.surveys.get_answer(dossier.id)) == answer


@pytest.mark.parametrize(
    ("stars", "level", "note", "opens"),
    [
        (5, Rating.SATISFIED, "Cán bộ nhiệt tình", False),  # a thank-you is no complaint
        (4, Rating.SATISFIED, "", False),
        (3, Rating.NEUTRAL, "", False),
        (3, Rating.NEUTRAL, "Phải đi lại hai lần", True),
        (1, Rating.UNSATISFIED, "", True),
    ],
)
async def test_stars_map_to_the_three_levels(store, handlers, stars, level, note, opens):
    dossier = await returned(store)
    rating = TemplateRating(dossier_id=dossier.id, stars=stars, note=note)
    assert await handlers.ratings.record(rating, NOW) == RatingOutcome.RECORDED
    assert (await store.surveys.get_answer(dossier.id)).rating == level  # type: ignore[union-attr]
    assert bool(await store.cases.list_cases(["Q1-BN"], states=tuple(CaseState))) == opens


async def test_a_rating_for_no_dossier_or_out_of_range_is_ignored(store, handlers):
    dossier = await returned(store)
    assert await handlers.ratings.record(TemplateRating(98765, 1), NOW) == RatingOutcome.UNKNOWN_DOSSIER
    for stars in (0, 6, -1):
        bad = TemplateRating(dossier.id, stars)
        assert await handlers.ratings.record(bad, NOW) == RatingOutcome.NOT_A_RATING
    no_phone = await returned(store, "HS-NP", phone=None)
    assert await handlers.ratings.record(TemplateRating(no_phone.id, 2), NOW) == RatingOutcome.NO_PHONE
    assert await store.surveys.get_answer(dossier.id) is None


async def test_a_long_note_is_kept_to_the_length_of_a_typed_answer(store, handlers):
    dossier = await returned(store)
    rating = TemplateRating(dossier_id=dossier.id, stars=1, note="x" * 5000)
    await handlers.ratings.record(rating, NOW)
    assert len((await store.surveys.get_answer(dossier.id)).texts["note"]) == 2000  # type: ignore[union-attr]


async def test_the_resolution_goes_back_to_the_phone_by_zns(store, handlers, zns):
    dossier = await returned(store)
    await handlers.ratings.record(TemplateRating(dossier.id, 1, note="Sai tên trên giấy phép"), NOW)
    (case,) = await store.cases.list_cases(["Q1-BN"], states=tuple(CaseState))
    staff_id = (await store.directory.people_at("telegram", "2102"))[0].id
    dispatcher = handlers.dispatcher
    await Citizen(dispatcher, chat_id="2101").press_key(CaseButton(case.id, CaseAction.ASSIGN_TO, staff_id))
    staff = Citizen(dispatcher, chat_id="2102")
    refused = texts(await staff.press_key(CaseButton(case.id, CaseAction.MESSAGE)))
    assert "không nhắn tin cho họ qua bot được" in refused
    await staff.press_key(CaseButton(case.id, CaseAction.RESOLVE))
    await staff.say("Đã cấp lại giấy phép đúng tên")
    run = await handlers.notices.send({}, NOW + timedelta(hours=1))
    assert run.sent == 1  # the resolution; the notice that it was assigned does not go by ZNS
    ((purpose, phone, fields, tracking),) = zns.sent
    assert (purpose, phone) == (TemplatePurpose.RESOLUTION, PHONE) and tracking.startswith("notice-")
    assert fields["resolution_note"] == "Đã cấp lại giấy phép đúng tên" and fields["case_id"] == str(case.id)
    assert fields["code"] == "HS-Z"
    skipped = await store.outbox.list_notices([OutboxStatus.SKIPPED])
    assert [(n.kind, n.error) for n in skipped] == [("assigned", "only the resolution goes by ZNS")]


async def test_a_chat_that_opened_the_link_since_is_asked_instead_of_the_phone(store, handlers, zns):
    dossier = await returned(store)
    await store.dossiers.link_chat(dossier.id, "telegram", "1001", NOW)  # scanned after the return
    run = await handlers.invitations.send({}, NOW, COOLDOWN)
    assert zns.sent == [] and run.skipped == 1
    (skipped,) = await store.outbox.list_invitations([OutboxStatus.SKIPPED])
    assert skipped.error == "a chat of the citizen is asked instead"


async def test_a_citizen_who_asked_not_to_be_contacted_gets_no_zns(store, handlers, zns):
    facts = DossierFacts(
        code="HS-NONE", unit_code="Q1-BN", procedure="Chứng thực", phone=PHONE, channel_hint="none"
    )
    made = NewDossier(link_id="L-N", survey_code="S-N")
    await store.dossiers.put_dossiers([(facts, made)], actor="t", now=NOW)
    event = DossierEventFacts(type=DossierEventType.RETURNED, at=NOW)
    await store.dossiers.add_dossier_event("HS-NONE", event, actor="test", now=NOW)
    assert await store.outbox.pending_invitations() == []


async def test_a_letter_or_resolution_the_chat_cannot_take_goes_to_the_phone(store, handlers, zns):
    """Outside the OA's 48-hour window (the chat refuses) or blocked: what matters goes by ZNS."""
    facts = DossierFacts(code="HS-W", unit_code="Q1-BN", procedure="Chứng thực", phone=PHONE)
    (put,) = await store.dossiers.put_dossiers(
        [(facts, NewDossier(link_id="L-W", survey_code="S-W"))], actor="t", now=NOW
    )
    await store.dossiers.link_chat(put.dossier.id, "zalo_oa", "oa-user", NOW)
    extended = DossierEventFacts(
        type=DossierEventType.EXTENDED, at=NOW, reason="Chờ thẩm định", new_due_at=NOW + timedelta(days=5)
    )
    await store.dossiers.add_dossier_event("HS-W", extended, actor="test", now=NOW)
    window_closed = RecordingSender(outcomes={"oa-user": Delivery.REFUSED})
    assert (await handlers.letters.send({"zalo_oa": window_closed}, NOW)).sent == 1
    ((purpose, phone, fields, _),) = zns.sent
    assert (purpose, phone, fields["reason"]) == (TemplatePurpose.APOLOGY, PHONE, "Chờ thẩm định")

    blocked = await returned(store, "HS-B")
    await store.dossiers.link_chat(blocked.id, "telegram", "1001", NOW)
    survey = await store.surveys.start_survey(
        channel="telegram", chat_id="1001", dossier_id=blocked.id, question_set="default",
        question_set_version=1, first_step="rating", now=NOW,
    )  # fmt: skip
    await store.surveys.record_rating(
        survey, rating=Rating.UNSATISFIED, option_id="bad", next_step=None, now=NOW, case_deadline=NOW.date()
    )
    await store.chats.mark_unreachable("telegram", "1001", NOW)  # then blocked the bot
    (case,) = await store.cases.list_cases(["Q1-BN"], states=tuple(CaseState))
    staff_id = (await store.directory.people_at("telegram", "2102"))[0].id
    dispatcher = handlers.dispatcher
    await Citizen(dispatcher, chat_id="2101").press_key(CaseButton(case.id, CaseAction.ASSIGN_TO, staff_id))
    staff = Citizen(dispatcher, chat_id="2102")
    await staff.press_key(CaseButton(case.id, CaseAction.RESOLVE))
    await staff.say("Đã sửa tên")
    await handlers.notices.send({"telegram": RecordingSender()}, NOW + timedelta(hours=1))
    assert [(p, f.get("resolution_note")) for p, _, f, _ in zns.sent[1:]] == [
        (TemplatePurpose.RESOLUTION, "Đã sửa tên")
    ]


async def test_a_low_quota_holds_invitations_while_letters_still_go(store, handlers, zns):
    await returned(store, "HS-INV")
    facts = DossierFacts(code="HS-LET", unit_code="Q1-BN", procedure="Chứng thực", phone="84907654321")
    await store.dossiers.put_dossiers(
        [(facts, NewDossier(link_id="L-LET", survey_code="S-LET"))], actor="t", now=NOW
    )
    extended = DossierEventFacts(
        type=DossierEventType.EXTENDED, at=NOW, reason="Chờ thẩm định", new_due_at=NOW + timedelta(days=5)
    )
    await store.dossiers.add_dossier_event("HS-LET", extended, actor="test", now=NOW)
    zns.saving = True
    assert (await handlers.invitations.send({}, NOW, COOLDOWN)).waiting == 1
    assert (await handlers.letters.send({}, NOW)).sent == 1
    assert [purpose for purpose, *_ in zns.sent] == [TemplatePurpose.APOLOGY]
    zns.saving = False  # the next day: the invitation goes
    assert (await handlers.invitations.send({}, NOW + timedelta(days=1), COOLDOWN)).sent == 1


async def test_with_explicit_consent_no_rating_goes_by_zns(tmp_path):
    from tests.conftest import make_config
    from tests.test_digest_at_risk import opened

    config = make_config(tmp_path, privacy={"consent": "explicit"})
    async with opened(config) as (store, handlers):
        templates = RecordingTemplates()
        handlers.invitations.templates = templates
        await returned(store)
        assert (await handlers.invitations.send({}, NOW, COOLDOWN)).skipped == 1
        assert templates.sent == []
        (skipped,) = await store.outbox.list_invitations([OutboxStatus.SKIPPED])
        assert "explicit consent" in (skipped.error or "")


async def test_the_quota_is_looked_at_again_before_each_invitation(store, handlers, zns):
    for n in range(4):
        await returned(store, f"HS-Q{n}", phone=f"8490000000{n}")

    class LowAfterTwo(RecordingTemplates):
        def saving_quota(self) -> bool:
            return len(self.sent) >= 2

    low = LowAfterTwo()
    handlers.invitations.templates = low
    run = await handlers.invitations.send({}, NOW, COOLDOWN)
    assert (run.sent, run.waiting) == (2, 2)  # one round handed over all four; two waited


async def test_a_phones_invitation_waits_behind_one_another_process_is_sending(store, handlers, zns):
    """Two dossiers of one phone returned together: while another process sends the first, this
    one does not send the second (the cool-down is judged once the first went)."""
    await returned(store, "HS-1")
    await returned(store, "HS-2")
    first, second = await store.outbox.pending_invitations()
    assert await store.outbox.claim_invitation(first.id, NOW, NOW + LEASE)  # the other process's
    run = await handlers.invitations.send({}, NOW + timedelta(minutes=1), COOLDOWN)
    assert (run.sent, run.waiting) == (0, 2) and zns.sent == []
    await store.outbox.finish_invitation(first.id, OutboxStatus.SENT, NOW + timedelta(minutes=1))
    run = await handlers.invitations.send({}, NOW + timedelta(minutes=2), COOLDOWN)
    assert (run.sent, run.skipped) == (0, 1)
    (skipped,) = await store.outbox.list_invitations([OutboxStatus.SKIPPED])
    assert (skipped.id, skipped.error) == (second.id, "cool-down")
