"""PrivacyRepository and the chat's notice and consent: a citizen's personal data read back for them
(their chat, dossiers, answers, cases with history, and nobody else's), erased on request (by chat,
by dossier, by phone) with ratings and factors kept and open cases closed, and found for erasure
once inactive past the retention period."""

from __future__ import annotations

from datetime import date

from storage.base import Storage
from storage.records import (
    CaseState,
    Consent,
    DossierEventFacts,
    DossierEventType,
    DossierFacts,
    FollowUp,
    NewDossier,
    NoticeTo,
    OutboxStatus,
    Rating,
)
from tests.storage.conftest import DEADLINE, T0, hours, start_survey

CHAT = "718293645"
PHONE = "84901234567"
NAME = "Nguyễn Thị Lan"
COMPLAINT = "Cán bộ hẹn lên hẹn xuống ba lần"


async def citizen_with_a_complaint(db: Storage, code: str = "HS-P", chat: str = CHAT) -> int:
    """A dossier with a name and phone, opened from a chat, answered unsatisfied with a complaint,
    whose case was assigned and messaged about; returns the dossier's id."""
    facts = DossierFacts(
        code=code, unit_code="Q1-BN", procedure="Đăng ký kết hôn", received_on=date(2026, 11, 1),
        due_on=date(2026, 11, 10), citizen_name=NAME, phone=PHONE,
    )  # fmt: skip
    (put,) = await db.dossiers.put_dossiers(
        [(facts, NewDossier(link_id=f"L-{code}", survey_code=f"S-{code}"))], actor="api:motcua", now=T0
    )
    dossier_id = put.dossier.id
    await db.dossiers.link_chat(dossier_id, "telegram", chat, T0)
    await db.dossiers.add_dossier_event(
        code, DossierEventFacts(type=DossierEventType.RETURNED, at=T0), actor="test", now=T0
    )
    survey = await start_survey(db, dossier_id, chat)
    rated = await db.surveys.record_rating(
        survey, rating=Rating.UNSATISFIED, option_id="bad", next_step="why", now=T0, case_deadline=DEADLINE
    )
    survey = (await db.chats.get_chat_state("telegram", chat)).survey
    assert survey is not None and rated.dossier_id == dossier_id
    follow = FollowUp(question_id="why", option_id="slow", factor="access")
    await db.surveys.record_follow_up(survey, follow, next_step="words", now=T0)
    survey = (await db.chats.get_chat_state("telegram", chat)).survey
    assert survey is not None
    await db.surveys.record_text(survey, "words", COMPLAINT, next_step=None, now=T0)
    (case,) = [
        c for c in await db.cases.list_cases(["Q1-BN"], states=list(CaseState)) if c.dossier_id == dossier_id
    ]
    await db.cases.change_case(
        case.id, from_states=[CaseState.NEW], to_state=CaseState.NEW, actor="citizen", action="replied",
        note=f"Tôi là {NAME}, số {PHONE}", now=T0 + hours(1),
        notices=[NoticeTo(kind="message", channel="telegram", chat_id=chat)],
    )  # fmt: skip
    return dossier_id


class TestNoticeAndConsent:
    async def test_the_notice_is_noted_once(self, db: Storage):
        assert (await db.chats.get_chat_state("telegram", CHAT)).notice_at is None
        assert await db.chats.note_notice("telegram", CHAT, T0)
        assert not await db.chats.note_notice("telegram", CHAT, T0 + hours(1))
        assert (await db.chats.get_chat_state("telegram", CHAT)).notice_at == T0

    async def test_consent_is_kept_and_the_latest_counts(self, db: Storage):
        await db.chats.set_language("telegram", CHAT, "en")
        await db.chats.set_consent("telegram", CHAT, Consent.REFUSED, T0)
        state = await db.chats.get_chat_state("telegram", CHAT)
        assert (state.consent, state.language) == (Consent.REFUSED, "en")
        await db.chats.set_consent("telegram", CHAT, Consent.GIVEN, T0 + hours(1))
        assert (await db.chats.get_chat_state("telegram", CHAT)).consent == Consent.GIVEN
        data = await db.privacy.personal_data("telegram", CHAT)
        assert (data.consent, data.consent_at, data.language) == (Consent.GIVEN, T0 + hours(1), "en")


class TestAccess:
    async def test_a_citizen_sees_their_own_data_and_nobody_else_s(self, db: Storage):
        await citizen_with_a_complaint(db)
        await citizen_with_a_complaint(db, "HS-OTHER", chat="99887766")
        data = await db.privacy.personal_data("telegram", CHAT)
        assert [(d.code, d.procedure, d.unit_name) for d in data.dossiers] == [
            ("HS-P", "Đăng ký kết hôn", "UBND Phường Bến Nghé")
        ]
        (answer,) = data.answers
        assert (answer.dossier_code, answer.rating, answer.texts) == (
            "HS-P",
            Rating.UNSATISFIED,
            {"words": COMPLAINT},
        )
        assert answer.follow_ups == [FollowUp(question_id="why", option_id="slow", factor="access")]
        (case,) = data.cases
        assert (case.dossier_code, case.state, case.deadline) == ("HS-P", CaseState.NEW, DEADLINE)
        assert [(e.action, e.note) for e in case.events] == [
            ("opened", None),
            ("replied", f"Tôi là {NAME}, số {PHONE}"),
        ]
        assert "HS-OTHER" not in data.model_dump_json()

    async def test_an_unknown_chat_has_nothing(self, db: Storage):
        data = await db.privacy.personal_data("zalo", "nobody")
        assert (data.dossiers, data.answers, data.cases, data.language) == ([], [], [], None)


class TestErasure:
    async def test_forgetting_a_chat_keeps_the_rating_and_closes_the_case(self, db: Storage):
        dossier_id = await citizen_with_a_complaint(db)
        forgotten = await db.privacy.forget_chat(
            "telegram", CHAT, actor="citizen", now=T0 + hours(2), note="Người dân rút phản ánh"
        )
        assert (forgotten.dossiers, forgotten.answers, forgotten.chats) == (1, 1, 1)
        answer = await db.surveys.get_answer(dossier_id)
        assert answer is not None
        assert (answer.rating, answer.chat_id, answer.texts) == (Rating.UNSATISFIED, "", {})
        assert answer.follow_ups == [FollowUp(question_id="why", option_id="slow", factor="access")]
        dossier = await db.dossiers.get_dossier_by_id(dossier_id)
        assert dossier is not None and (dossier.citizen_name, dossier.phone) == (None, None)
        (case,) = await db.cases.list_cases(["Q1-BN"], states=list(CaseState))
        assert forgotten.closed_cases == [case.id] and case.state == CaseState.CLOSED
        assert case.resolution == "Người dân rút phản ánh"
        events = await db.cases.case_events(case.id)
        assert [(e.action, e.note) for e in events][-1] == ("withdrawn", "Người dân rút phản ánh")
        assert all(e.note is None for e in events[:-1])
        assert not any(n.status == OutboxStatus.PENDING for n in await db.outbox.pending_notices())
        state = await db.chats.get_chat_state("telegram", CHAT)
        assert (state.survey, state.notice_at) == (None, None)
        data = await db.privacy.personal_data("telegram", CHAT)
        assert (data.dossiers, data.answers, data.cases) == ([], [], [])
        (entry,) = [e for e in await db.audit.audit_since(None) if e.action == "personal data erased"]
        assert (
            entry.actor == "citizen" and entry.detail == "1 dossiers, 1 answers, 1 chats, 1 open cases closed"
        )

    async def test_another_citizen_is_left_as_they_were(self, db: Storage):
        await citizen_with_a_complaint(db)
        other = await citizen_with_a_complaint(db, "HS-OTHER", chat="99887766")
        await db.privacy.forget_chat("telegram", CHAT, actor="citizen", now=T0, note="withdrew")
        answer = await db.surveys.get_answer(other)
        assert answer is not None and answer.chat_id == "99887766" and answer.texts == {"words": COMPLAINT}
        assert (await db.privacy.personal_data("telegram", "99887766")).answers != []

    async def test_dossiers_are_found_by_phone_and_forgotten_by_id(self, db: Storage):
        dossier_id = await citizen_with_a_complaint(db)
        assert await db.privacy.dossiers_of_phone(PHONE) == [dossier_id]
        assert await db.privacy.dossiers_of_phone("84900000000") == []
        forgotten = await db.privacy.forget_dossiers([dossier_id], actor="admin:cli", now=T0, note="erased")
        assert (forgotten.dossiers, forgotten.answers) == (1, 1)
        assert await db.privacy.dossiers_of_phone(PHONE) == []
        assert (await db.privacy.personal_data("telegram", CHAT)).answers == []

    async def test_forgetting_nothing_changes_nothing(self, db: Storage):
        forgotten = await db.privacy.forget_dossiers([], actor="admin:cli", now=T0, note="erased")
        assert forgotten.dossiers == 0 and forgotten.closed_cases == []


class TestRetention:
    async def test_dossiers_inactive_past_the_cut_off_are_found_once(self, db: Storage):
        answered = await citizen_with_a_complaint(db)
        facts = DossierFacts(code="HS-QUIET", unit_code="Q1-BN", procedure="Chứng thực", citizen_name=NAME)
        (quiet,) = await db.dossiers.put_dossiers(
            [(facts, NewDossier(link_id="L-Q", survey_code="S-Q"))], actor="test", now=T0
        )
        assert await db.privacy.inactive_dossiers(T0) == []
        # The complaint's case is still open: its dossier is active whatever its age.
        assert await db.privacy.inactive_dossiers(T0 + hours(24 * 800)) == [quiet.dossier.id]
        (case,) = await db.cases.list_cases(["Q1-BN"], states=list(CaseState))
        await db.cases.change_case(
            case.id, from_states=[CaseState.NEW], to_state=CaseState.CLOSED, actor="test", action="closed",
            now=T0 + hours(3),
        )  # fmt: skip
        assert await db.privacy.inactive_dossiers(T0 + hours(3)) == [quiet.dossier.id]
        later = T0 + hours(24 * 800)
        assert await db.privacy.inactive_dossiers(later) == [answered, quiet.dossier.id]
        assert await db.privacy.inactive_dossiers(later, limit=1) == [answered]
        await db.privacy.forget_dossiers([answered, quiet.dossier.id], actor="retention", now=later, note="x")
        assert await db.privacy.inactive_dossiers(later) == []


class TestRefusal:
    async def test_a_refusal_takes_away_the_chat_s_links_survey_and_invitations(self, db: Storage):
        facts = DossierFacts(code="HS-R", unit_code="Q1-BN", procedure="Chứng thực")
        (put,) = await db.dossiers.put_dossiers(
            [(facts, NewDossier(link_id="L-R", survey_code="S-R"))], actor="test", now=T0
        )
        await db.dossiers.link_chat(put.dossier.id, "telegram", CHAT, T0)
        await db.chats.set_awaiting("telegram", CHAT, "consent:1")
        await db.dossiers.add_dossier_event(
            "HS-R", DossierEventFacts(type=DossierEventType.RETURNED, at=T0), actor="test", now=T0
        )
        await start_survey(db, put.dossier.id, CHAT)
        await db.chats.set_consent("telegram", CHAT, Consent.REFUSED, T0)
        state = await db.chats.get_chat_state("telegram", CHAT)
        assert (state.consent, state.survey, state.awaiting) == (Consent.REFUSED, None, None)
        assert await db.outbox.pending_invitations() == []
        assert (await db.privacy.personal_data("telegram", CHAT)).dossiers == []


class TestAccessAudit:
    async def test_an_access_is_recorded_in_the_audit(self, db: Storage):
        await db.audit.record_access("citizen", "personal data shown", "telegram chat", T0)
        (entry,) = [e for e in await db.audit.audit_since(T0) if e.action == "personal data shown"]
        assert (entry.actor, entry.action, entry.detail, entry.at) == (
            "citizen", "personal data shown", "telegram chat", T0,
        )  # fmt: skip


class TestAfterErasure:
    async def test_an_erased_dossier_takes_no_name_or_phone_again(self, db: Storage):
        dossier_id = await citizen_with_a_complaint(db)
        await db.privacy.forget_dossiers([dossier_id], actor="admin", now=T0, note="x")
        facts = DossierFacts(
            code="HS-P", unit_code="Q1-BN", procedure="Đăng ký kết hôn", received_on=date(2026, 11, 1),
            due_on=date(2026, 11, 12), citizen_name=NAME, phone=PHONE,
        )  # fmt: skip
        await db.dossiers.put_dossiers(
            [(facts, NewDossier(link_id="L-other", survey_code="S-other"))], actor="api:motcua", now=T0
        )
        dossier = await db.dossiers.get_dossier_by_id(dossier_id)
        assert dossier is not None and (dossier.citizen_name, dossier.phone) == (None, None)
        assert dossier.due_on == date(2026, 11, 12) and dossier.erased_at == T0  # other facts still change

    async def test_a_chat_that_only_opened_a_dossier_forgets_only_itself(self, db: Storage):
        dossier_id = await citizen_with_a_complaint(db)
        await db.dossiers.link_chat(dossier_id, "telegram", "55667788", T0)  # someone else with the code
        forgotten = await db.privacy.forget_chat("telegram", "55667788", actor="citizen", now=T0, note="x")
        assert (forgotten.dossiers, forgotten.answers, forgotten.closed_cases) == (0, 0, [])
        dossier = await db.dossiers.get_dossier_by_id(dossier_id)
        assert dossier is not None and dossier.phone == PHONE
        assert (await db.privacy.personal_data("telegram", CHAT)).answers != []
        assert (await db.privacy.personal_data("telegram", "55667788")).dossiers == []

    async def test_an_admin_erasure_takes_the_chats_left_with_nothing(self, db: Storage):
        dossier_id = await citizen_with_a_complaint(db)
        await db.dossiers.record_wrong_code("telegram", CHAT, T0)
        await db.privacy.forget_dossiers([dossier_id], actor="admin", now=T0, note="x")
        state = await db.chats.get_chat_state("telegram", CHAT)
        assert (state.notice_at, state.language, state.survey) == (None, None, None)
        assert await db.dossiers.count_wrong_codes("telegram", CHAT, T0 - hours(1)) == 0
