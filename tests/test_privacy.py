"""Personal data in the chat (issue 15), offline: the privacy notice on the first answer to any
citizen's chat (never to heads and staff), explicit consent asked before anything is kept (a
refusal keeps nothing but itself), /mydata with exactly the citizen's own data (a JSON file on
Telegram, typed «dulieu» on Zalo), /forget after a confirmation (the case closed as withdrawn and
shown so in the head's /cases), the retention job with an injected clock, and the audit."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from handlers.privacy import ConsentAnswer, ForgetMe, erase_expired
from storage.records import CaseState, Consent
from tests.conftest import NOW, Citizen, add_dossier, labels, make_config, texts
from tests.test_cases import complain, only_case
from tests.test_digest_at_risk import opened
from tests.test_survey_codes import coded_dossier

NOTICE = "🔒 Về dữ liệu cá nhân"


@pytest.mark.parametrize("channel", ["telegram", "zalo", "zalo_oa", "console"])
async def test_the_first_answer_to_a_citizen_carries_the_notice_once(dispatcher, channel):
    citizen = Citizen(dispatcher, "c-1", channel=channel)
    first = texts(await citizen.command("start"))
    assert NOTICE in first and "730 ngày" in first
    typed = "«dulieu»" in first
    assert typed == (channel != "telegram")  # where there are no slash commands, what to type
    assert NOTICE not in texts(await citizen.command("help"))


async def test_heads_and_staff_get_no_citizen_notice(dispatcher):
    assert NOTICE not in texts(await Citizen(dispatcher, "2101").command("help"))


async def test_the_controller_and_retention_come_from_the_config(tmp_path):
    config = make_config(tmp_path, privacy={"controller": "UBND Quận 1", "retention_days": 365})
    async with opened(config) as (_, handlers):
        said = texts(await Citizen(handlers.dispatcher, "c-9").command("privacy"))
        assert "UBND Quận 1 xử lý đánh giá" in said and "365 ngày" in said


async def test_mydata_shows_the_citizen_s_own_data_and_a_json_file(config, store, dispatcher):
    citizen, _ = await complain(dispatcher, config, store, chat="1001")
    await complain(dispatcher, config, store, code="HS-OTHER", chat="1002", words="Người khác")
    replies = await citizen.command("mydata")
    (reply,) = replies
    assert (
        "HS-001" in reply.text and "Cán bộ hẹn lên hẹn xuống" in reply.text and "HS-OTHER" not in reply.text
    )
    assert reply.attachment is not None and reply.attachment.name.endswith(".json")
    data = json.loads(reply.attachment.content)
    assert [d["code"] for d in data["dossiers"]] == ["HS-001"]
    assert data["answers"][0]["texts"] and data["cases"][0]["dossier_code"] == "HS-001"
    assert "Người khác" not in reply.attachment.content.decode()
    (entry,) = [e for e in await store.audit.audit_since(None) if e.action == "personal data shown"]
    assert entry.actor == "citizen" and "1001" not in (entry.detail or "")


async def test_on_zalo_the_citizen_types_dulieu_and_gets_no_file(config, store, dispatcher):
    _, token = await add_dossier(config, store, "HS-Z")
    citizen = Citizen(dispatcher, "z-1", channel="zalo")
    await citizen.command("start", token)
    (reply,) = await citizen.say("dulieu")
    assert "HS-Z" in reply.text and reply.attachment is None


async def test_forget_asks_first_then_erases_and_closes_the_case(config, store, dispatcher):
    citizen, dossier = await complain(dispatcher, config, store, chat="1001")
    asked = await citizen.command("forget")
    assert labels(asked) == ["Xóa dữ liệu của tôi", "Không xóa"]
    assert "được giữ nguyên" in texts(await citizen.press_key(ForgetMe("no")))
    assert (await store.surveys.get_answer(dossier.id)).texts  # type: ignore[union-attr]
    done = texts(await citizen.press_key(ForgetMe("yes")))
    assert "Đã xóa dữ liệu cá nhân" in done and "phản ánh đang xử lý đã đóng: 1" in done
    answer = await store.surveys.get_answer(dossier.id)
    assert answer is not None and answer.texts == {} and answer.chat_id == ""
    case = await only_case(store)
    assert case.state == CaseState.CLOSED
    head = texts(await Citizen(dispatcher, "2101").command("cases"))
    assert f"đóng do người dân rút và yêu cầu xóa dữ liệu: #{case.id}" in head
    # Pressed again: nothing left to erase, it says so, and nothing more is audited.
    assert "không còn lưu dữ liệu cá nhân" in texts(await citizen.press_key(ForgetMe("yes")))
    erasures = [e for e in await store.audit.audit_since(None) if e.action == "personal data erased"]
    assert len(erasures) == 1


async def test_explicit_consent_refused_keeps_nothing_but_the_refusal(tmp_path):
    config = make_config(tmp_path, privacy={"consent": "explicit"})
    async with opened(config) as (store, handlers):
        dispatcher = handlers.dispatcher
        dossier, token = await add_dossier(config, store, "HS-C")
        citizen = Citizen(dispatcher, "1001")
        asked = await citizen.command("start", token)
        assert NOTICE in texts(asked) and labels(asked) == ["Đồng ý", "Không đồng ý"]
        assert (await store.chats.get_chat_state("telegram", "1001")).survey is None  # nothing begun
        assert "không lưu gì" in texts(await citizen.press_key(ConsentAnswer("no")))
        state = await store.chats.get_chat_state("telegram", "1001")
        assert (state.consent, state.survey, state.awaiting) == (Consent.REFUSED, None, None)
        assert await store.dossiers.linked_chat_count(dossier.id) == 0
        assert (await store.privacy.personal_data("telegram", "1001")).dossiers == []
        # Changing their mind: the link again, and agreeing, starts the survey.
        await citizen.command("start", token)
        agreed = await citizen.press_key(ConsentAnswer("yes"))
        assert "Không hài lòng" in labels(agreed)
        assert (await store.chats.get_chat_state("telegram", "1001")).consent == Consent.GIVEN
        assert NOTICE not in texts(await citizen.command("help"))
        # A consent button pressed with nothing asked is stale.
        assert "không còn hiệu lực" in texts(await citizen.press_key(ConsentAnswer("yes")))


async def test_retention_erases_what_is_older_than_its_period(config, store, dispatcher):
    _, dossier = await complain(dispatcher, config, store, chat="1001")
    case = await only_case(store)
    await store.cases.change_case(
        case.id, from_states=[case.state], to_state=CaseState.CLOSED, actor="test", action="closed", now=NOW
    )
    assert await erase_expired(store.privacy, 730, NOW + timedelta(days=729)) == 0
    assert await erase_expired(store.privacy, 730, NOW + timedelta(days=731)) == 1
    answer = await store.surveys.get_answer(dossier.id)
    assert answer is not None and answer.texts == {} and answer.rating.value == "unsatisfied"
    assert await erase_expired(store.privacy, 730, NOW + timedelta(days=800)) == 0  # once


async def test_a_code_typed_again_while_consent_is_asked_keeps_the_question(tmp_path):
    config = make_config(tmp_path, privacy={"consent": "explicit"})
    async with opened(config) as (store, handlers):
        dispatcher = handlers.dispatcher
        _, code = await coded_dossier(config, store)
        citizen = Citizen(dispatcher, "z-77", channel="zalo")
        assert labels(await citizen.say(code)) == ["Đồng ý", "Không đồng ý"]
        assert labels(await citizen.say(code)) == ["Đồng ý", "Không đồng ý"]  # typed again
        assert "Không hài lòng" in labels(await citizen.say("1"))  # "1. Đồng ý" still answers it
