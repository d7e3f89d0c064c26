"""The staff member assigned writes to the citizen through the bot and the citizen's reply comes
back: both recorded in the case's history, neither side shown the other's chat id."""

from __future__ import annotations

import yaml

from bot.app import Handlers, build_handlers
from handlers.cases import CaseAction, CaseButton
from storage.records import CaseState
from tests.conftest import Citizen, make_config, texts
from tests.fakes import RecordingSender
from tests.test_cases import complain, only_case


async def assigned(handlers: Handlers, config, store):
    citizen, _ = await complain(handlers.dispatcher, config, store)
    case = await only_case(store)
    staff_id = (await store.directory.people_at("telegram", "2102"))[0].id
    await Citizen(handlers.dispatcher, chat_id="2101").press_key(
        CaseButton(case.id, CaseAction.ASSIGN_TO, staff_id)
    )
    await handlers.notices.send({"telegram": RecordingSender()}, citizen.now)
    return citizen, Citizen(handlers.dispatcher, chat_id="2102"), case


async def test_a_message_goes_to_the_citizen_and_the_reply_comes_back(config, store, handlers: Handlers):
    citizen, staff, case = await assigned(handlers, config, store)
    asked = texts(await staff.press_key(CaseButton(case.id, CaseAction.MESSAGE)))
    assert f"tin nhắn gửi người dân về phản ánh #{case.id}" in asked
    assert "Đã chuyển tin nhắn đến người dân" in texts(
        await staff.say("Chào anh, mai anh qua lấy lại giấy nhé")
    )

    sender = RecordingSender()
    await handlers.notices.send({"telegram": sender}, citizen.now)
    ((chat, message),) = sender.sent
    assert chat == "1001"
    assert "Cán bộ Phạm Thị D (UBND Phường Bến Nghé) nhắn" in message.text
    assert "“Chào anh, mai anh qua lấy lại giấy nhé”" in message.text and "2102" not in message.text

    citizen.last = [message]
    assert "nhập nội dung trả lời" in texts(await citizen.press("Trả lời"))
    assert "Đã chuyển câu trả lời" in texts(await citizen.say("Vâng, 9 giờ sáng tôi qua"))
    sender = RecordingSender()
    await handlers.notices.send({"telegram": sender}, citizen.now)
    ((chat, reply),) = sender.sent
    assert chat == "2102" and "“Vâng, 9 giờ sáng tôi qua”" in reply.text and "1001" not in reply.text
    assert [o.label for o in reply.options] == ["Nhắn người dân", "Đã xử lý xong"]  # to write again

    events = [(e.actor, e.action, e.note) for e in await store.cases.case_events(case.id)]
    assert ("citizen", "citizen replied", "Vâng, 9 giờ sáng tôi qua") in events
    assert any(
        a == "messaged citizen" and n == "Chào anh, mai anh qua lấy lại giấy nhé" for _, a, n in events
    )


async def test_only_the_assignee_messages_and_only_the_citizen_replies(config, store, handlers: Handlers):
    _, _, case = await assigned(handlers, config, store)
    for who in ("2101", "2103", "1001"):  # the head, another staff member, the citizen
        assert "không có quyền" in texts(
            await Citizen(handlers.dispatcher, chat_id=who).press_key(CaseButton(case.id, CaseAction.MESSAGE))
        )
    for who in ("2102", "6666"):
        assert "không có quyền" in texts(
            await Citizen(handlers.dispatcher, chat_id=who).press_key(CaseButton(case.id, CaseAction.REPLY))
        )
    assert [e.action for e in await store.cases.case_events(case.id)] == ["opened", "assigned"]


async def test_an_over_long_message_is_asked_again_and_a_command_cancels(config, store, handlers: Handlers):
    _, staff, case = await assigned(handlers, config, store)
    await staff.press_key(CaseButton(case.id, CaseAction.MESSAGE))
    assert "quá dài" in texts(await staff.say("x" * 1001))
    await staff.command("mycases")  # moving on: the next words are not taken for a message
    await staff.say("xin chào")
    assert [e.action for e in await store.cases.case_events(case.id)] == ["opened", "assigned"]


async def test_where_there_are_no_buttons_the_staff_member_types_a_short_command(
    config, store, handlers: Handlers
):
    _, staff, case = await assigned(handlers, config, store)
    assert f"tin nhắn gửi người dân về phản ánh #{case.id}" in texts(await staff.say(f"nhắn {case.id}"))


async def test_the_contact_time_comes_from_the_config(tmp_path, store):
    config = make_config(tmp_path, cases={"contact_hours": 24})
    handlers = build_handlers(config, store)
    citizen, _ = await complain(handlers.dispatcher, config, store)
    case = await only_case(store)
    staff_id = (await store.directory.people_at("telegram", "2102"))[0].id
    await Citizen(handlers.dispatcher, chat_id="2101").press_key(
        CaseButton(case.id, CaseAction.ASSIGN_TO, staff_id)
    )
    sender = RecordingSender()
    await handlers.notices.send({"telegram": sender}, citizen.now)
    (to_staff,) = [r for chat, r in sender.sent if chat == "2102"]
    assert "trong vòng 24 giờ" in to_staff.text


async def test_a_reply_read_before_a_reassignment_does_not_undo_it(config, store, handlers: Handlers):
    citizen, _, case = await assigned(handlers, config, store)
    seen = case.model_copy(update={"state": CaseState.REOPENED})  # as read just before the head acted
    chat = await store.chats.get_chat_state("telegram", citizen.address.chat_id)
    replies = await handlers.dispatcher.cases.relay_to_staff(chat, seen, "Vâng", "vi", citizen.now)
    assert "không còn hiệu lực" in texts(replies)
    assert (await store.cases.get_case(case.id)).state == CaseState.ASSIGNED


async def test_a_reply_whose_staff_member_left_reaches_the_head(config, store, handlers: Handlers):
    from handlers.admin import apply_directory, plan_directory
    from tests.conftest import UNITS

    citizen, _, case = await assigned(handlers, config, store)
    ward = {**UNITS[0]["children"][0], "staff": [{"name": "Võ Văn E", "telegram": 2103}]}
    without_d = yaml.safe_dump({"units": [{**UNITS[0], "children": [ward]}, UNITS[1]]}, allow_unicode=True)
    change = await plan_directory(store.directory, store.digests, without_d, "d.yaml", citizen.now.date())
    await apply_directory(store.directory, change, citizen.now, "test")
    await citizen.press_key(CaseButton(case.id, CaseAction.REPLY))
    await citizen.say("Tôi vẫn chưa nhận được giấy")
    sender = RecordingSender()
    await handlers.notices.send({"telegram": sender}, citizen.now)
    assert [chat for chat, _ in sender.sent] == ["2101"]  # the head, not the removed staff member


async def test_a_survey_code_typed_while_a_reply_is_awaited_opens_the_survey(
    config, store, handlers: Handlers
):
    from handlers.links import new_survey_code

    citizen, _, case = await assigned(handlers, config, store)
    await citizen.press_key(CaseButton(case.id, CaseAction.REPLY))
    code = new_survey_code()
    await store.dossiers.add_dossier(
        code="HS-NEW", unit_code="Q1-BN", procedure="Cấp phép", link_id="L-new", now=citizen.now,
        returned_at=citizen.now, survey_code=code,
    )  # fmt: skip
    replies = await citizen.say(code)
    assert "Cấp phép" in texts(replies)  # the new dossier's survey, not a reply to the staff member
    assert (await store.chats.get_chat_state("telegram", citizen.address.chat_id)).awaiting is None
    assert [e.action for e in await store.cases.case_events(case.id)] == ["opened", "assigned"]
