"""The staff member assigned writes to the citizen through the bot and the citizen's reply comes
back: both recorded in the case's history, neither side shown the other's chat id."""

from __future__ import annotations

from bot.app import Handlers, build_handlers
from handlers.cases import CaseAction, CaseButton
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
