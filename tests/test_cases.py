"""Complaint cases: opening, deadlines, the assign → resolve → confirm loop, access checks on
every button, notices, and the history of every change."""

from __future__ import annotations

import sqlite3
import unicodedata
from datetime import date

import pytest

from bot.app import Handlers, build_dispatcher
from handlers.calendar import add_working_days
from handlers.cases import CaseAction, CaseButton
from storage.records import CaseState, OutboxStatus
from tests.conftest import NOW, Citizen, add_dossier, labels, make_config, texts
from tests.fakes import RecordingSender

HOLIDAYS = frozenset({date(2026, 9, 2), date(2026, 4, 30), date(2026, 5, 1)})


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (date(2026, 11, 23), 3, date(2026, 11, 26)),  # Monday → Thursday
        (date(2026, 11, 27), 3, date(2026, 12, 2)),  # Friday → Wednesday: the weekend does not count
        (date(2026, 11, 28), 1, date(2026, 11, 30)),  # opened on a Saturday → Monday
        (date(2026, 9, 1), 3, date(2026, 9, 7)),  # 2/9 is a holiday: Tue → Mon
        (date(2026, 4, 29), 2, date(2026, 5, 5)),  # 30/4 and 1/5, then the weekend
    ],
)
def test_deadlines_skip_weekends_and_holidays(start, days, expected):
    assert add_working_days(start, days, HOLIDAYS) == expected


async def complain(
    dispatcher,
    config,
    store,
    code="HS-001",
    chat="1001",
    rating="Không hài lòng",
    words: str | None = "Cán bộ hẹn lên hẹn xuống",
    now=NOW,
):
    """A citizen answers the survey at `now`; returns them and the dossier."""
    dossier, token = await add_dossier(config, store, code)
    citizen = Citizen(dispatcher, chat_id=chat)
    citizen.now = now
    await citizen.command("start", token)
    await citizen.press(rating)
    await citizen.press("Lý do khác")
    if words is None:
        await citizen.press("Bỏ qua")
    else:
        await citizen.say(words)
    return citizen, dossier


async def only_case(store):
    (case,) = await store.cases.list_cases(["Q1-BN"], states=tuple(CaseState))
    return case


async def test_an_unsatisfied_answer_opens_a_case_with_a_deadline(config, store, dispatcher):
    _, dossier = await complain(dispatcher, config, store, words=None)
    case = await only_case(store)
    assert case.dossier_id == dossier.id and case.state == CaseState.NEW and case.unit_code == "Q1-BN"
    assert case.deadline == add_working_days(
        date(2026, 11, 26), 3, frozenset()
    )  # NOW is Thursday 10:00 local
    assert case.citizen_chat_id == "1001" and case.texts == {}
    assert [e.action for e in await store.cases.case_events(case.id)] == ["opened"]


async def test_the_case_opens_at_the_rating_tap_so_an_abandoned_survey_still_counts(
    config, store, dispatcher
):
    dossier, token = await add_dossier(config, store)
    citizen = Citizen(dispatcher)
    await citizen.command("start", token)
    await citizen.press("Không hài lòng")
    assert (await only_case(store)).dossier_id == dossier.id


async def test_a_written_complaint_opens_a_case_whatever_the_rating(config, store, dispatcher):
    await complain(dispatcher, config, store, rating="Bình thường", words="Phải chờ hai tiếng")
    case = await only_case(store)
    assert case.rating.value == "neutral" and case.texts == {"complaint": "Phải chờ hai tiếng"}


async def test_neutral_without_words_and_satisfied_comments_open_no_case(config, store, dispatcher):
    await complain(dispatcher, config, store, rating="Bình thường", words=None)
    _, token = await add_dossier(config, store, "HS-002")
    happy = Citizen(dispatcher, chat_id="1002")
    await happy.command("start", token)
    await happy.press("Hài lòng")
    await happy.say("Cán bộ rất nhiệt tình")
    assert await store.cases.list_cases(["Q1-BN"], states=tuple(CaseState)) == []


async def test_which_ratings_open_a_case_is_configurable(tmp_path, store):
    config = make_config(tmp_path, cases={"open_on": ["neutral", "unsatisfied"]})
    await complain(build_dispatcher(config, store), config, store, rating="Bình thường", words=None)
    assert (await only_case(store)).rating.value == "neutral"


async def test_the_whole_loop_with_notices(config, store, dispatcher, handlers: Handlers):
    citizen, _ = await complain(dispatcher, config, store)
    case = await only_case(store)
    head, staff = Citizen(dispatcher, chat_id="2101"), Citizen(dispatcher, chat_id="2102")
    sender = RecordingSender()

    replies = await head.press_key(CaseButton(case.id, CaseAction.ASSIGN))
    assert labels(replies) == ["Phạm Thị D", "Võ Văn E"]
    replies = await head.press("Phạm Thị D")
    assert "Đã giao phản ánh" in texts(replies)
    await handlers.notices.send({"telegram": sender}, NOW)
    sent = {chat: reply for chat, reply in sender.sent}
    assert "Hẹn lên hẹn xuống".lower() in sent["2102"].text.lower() and labels([sent["2102"]]) == [
        "Nhắn người dân",
        "Đã xử lý xong",
    ]
    assert "đã được giao cho cán bộ Phạm Thị D" in sent["1001"].text
    assert (await store.cases.get_case(case.id)).state == CaseState.ASSIGNED

    staff.last = [sent["2102"]]
    replies = await staff.press("Đã xử lý xong")
    assert "Xin nhập ngắn gọn" in texts(replies)
    replies = await staff.say("Đã gọi điện xin lỗi và trả kết quả tận nhà.")
    assert "Đã ghi nhận" in texts(replies)
    sender.sent.clear()
    await handlers.notices.send({"telegram": sender}, NOW)
    ((chat, resolved),) = sender.sent
    assert (
        chat == "1001" and "Đã gọi điện xin lỗi" in resolved.text and "UBND Phường Bến Nghé" in resolved.text
    )
    assert labels([resolved]) == ["Đã được giải quyết", "Chưa được giải quyết"]

    citizen.last = [resolved]
    replies = await citizen.press("Chưa được giải quyết")
    assert "mở lại" in texts(replies)
    assert (await store.cases.get_case(case.id)).state == CaseState.REOPENED
    sender.sent.clear()
    await handlers.notices.send({"telegram": sender}, NOW)
    ((chat, reopened),) = sender.sent
    assert chat == "2101" and "CHƯA được giải quyết" in reopened.text and labels([reopened]) == ["Giao xử lý"]

    events = await store.cases.case_events(case.id)
    assert [(e.action, e.actor) for e in events] == [
        ("opened", "citizen"),
        ("assigned", "person:" + str((await store.directory.people_at("telegram", "2101"))[0].id)),
        ("resolved", f"person:{case_id_person(events)}"),
        ("reopened", "citizen"),
    ]
    assert events[2].note == "Đã gọi điện xin lỗi và trả kết quả tận nhà."


def case_id_person(events):
    return events[2].actor.split(":")[1]


async def test_resolved_then_confirmed_closes_the_case(config, store, dispatcher):
    citizen, _ = await complain(dispatcher, config, store)
    case = await only_case(store)
    staff_id = (await store.directory.people_at("telegram", "2102"))[0].id
    await Citizen(dispatcher, chat_id="2101").press_key(CaseButton(case.id, CaseAction.ASSIGN_TO, staff_id))
    staff = Citizen(dispatcher, chat_id="2102")
    await staff.press_key(CaseButton(case.id, CaseAction.RESOLVE))
    await staff.say("Đã giải quyết")
    replies = await citizen.press_key(CaseButton(case.id, CaseAction.CONFIRM))
    assert "đã được đóng" in texts(replies)
    assert (await store.cases.get_case(case.id)).state == CaseState.CLOSED
    # pressed again, or "not resolved" after closing: nothing changes
    again = texts(await citizen.press_key(CaseButton(case.id, CaseAction.REOPEN)))
    assert "không còn hiệu lực" in again and f"#{case.id}" not in again  # a number they never saw
    assert (await store.cases.get_case(case.id)).state == CaseState.CLOSED


async def test_every_button_checks_who_pressed_it(config, store, dispatcher):
    citizen, _ = await complain(dispatcher, config, store)
    case = await only_case(store)
    staff_id = (await store.directory.people_at("telegram", "2102"))[0].id
    q1_staff_id = (await store.directory.people_at("telegram", "2002"))[0].id
    refused = "không có quyền"
    for who in ("2102", "3001", "1001", "9999"):  # staff, another district's head, the citizen, a stranger
        assert refused in texts(
            await Citizen(dispatcher, chat_id=who).press_key(CaseButton(case.id, CaseAction.ASSIGN))
        )
        assert refused in texts(
            await Citizen(dispatcher, chat_id=who).press_key(
                CaseButton(case.id, CaseAction.ASSIGN_TO, staff_id)
            )
        )
    assert (await store.cases.get_case(case.id)).state == CaseState.NEW
    # the head of the district above may assign; only to staff of the case's own unit
    q1_head = Citizen(dispatcher, chat_id="2001")
    assert "không còn hiệu lực" in texts(
        await q1_head.press_key(CaseButton(case.id, CaseAction.ASSIGN_TO, q1_staff_id))
    )
    assert "Đã giao" in texts(await q1_head.press_key(CaseButton(case.id, CaseAction.ASSIGN_TO, staff_id)))
    # only the assigned staff member resolves
    for who in ("2103", "2101", "1001"):
        assert refused in texts(
            await Citizen(dispatcher, chat_id=who).press_key(CaseButton(case.id, CaseAction.RESOLVE))
        )
    # only the citizen confirms, and only a resolved case
    assert "không còn hiệu lực" in texts(await citizen.press_key(CaseButton(case.id, CaseAction.CONFIRM)))
    staff = Citizen(dispatcher, chat_id="2102")
    await staff.press_key(CaseButton(case.id, CaseAction.RESOLVE))
    await staff.say("Xong")
    for who in ("2101", "2102", "1002"):
        assert refused in texts(
            await Citizen(dispatcher, chat_id=who).press_key(CaseButton(case.id, CaseAction.CONFIRM))
        )
    assert (await store.cases.get_case(case.id)).state == CaseState.RESOLVED


async def test_stale_and_forged_case_buttons_change_nothing(config, store, dispatcher):
    await complain(dispatcher, config, store)
    case = await only_case(store)
    head = Citizen(dispatcher, chat_id="2101")
    for key in ("c999.assign", f"c{case.id}.frobnicate", f"c{case.id}.to.abc", f"c{case.id}.to.99999"):
        assert "không còn hiệu lực" in texts(await head.press_key(key)), key
    assert (await store.cases.get_case(case.id)).state == CaseState.NEW


async def test_reassigning_moves_the_case_and_tells_the_new_staff_member(config, store, dispatcher):
    await complain(dispatcher, config, store)
    case = await only_case(store)
    head = Citizen(dispatcher, chat_id="2101")
    d, e = [(await store.directory.people_at("telegram", c))[0].id for c in ("2102", "2103")]
    await head.press_key(CaseButton(case.id, CaseAction.ASSIGN_TO, d))
    replies = await head.press_key(CaseButton(case.id, CaseAction.ASSIGN))
    assert labels(replies) == ["Phạm Thị D", "Võ Văn E"]
    await head.press_key(CaseButton(case.id, CaseAction.ASSIGN_TO, e))
    assert (await store.cases.get_case(case.id)).assignee_name == "Võ Văn E"
    assert "không có quyền" in texts(
        await Citizen(dispatcher, chat_id="2102").press_key(CaseButton(case.id, CaseAction.RESOLVE))
    )


async def test_an_over_long_or_empty_resolution_note_is_asked_again(config, store, dispatcher):
    await complain(dispatcher, config, store)
    case = await only_case(store)
    staff_id = (await store.directory.people_at("telegram", "2102"))[0].id
    await Citizen(dispatcher, chat_id="2101").press_key(CaseButton(case.id, CaseAction.ASSIGN_TO, staff_id))
    staff = Citizen(dispatcher, chat_id="2102")
    await staff.press_key(CaseButton(case.id, CaseAction.RESOLVE))
    assert "quá dài" in texts(await staff.say("x" * 1001))
    assert "Xin nhập ngắn gọn" in texts(await staff.say("   "))
    assert (await store.cases.get_case(case.id)).state == CaseState.ASSIGNED
    assert "Đã ghi nhận" in texts(await staff.say("Đã liên hệ người dân"))


async def test_a_resolution_note_is_measured_as_the_staff_member_sees_it(config, store, dispatcher):
    await complain(dispatcher, config, store)
    case = await only_case(store)
    staff_id = (await store.directory.people_at("telegram", "2102"))[0].id
    await Citizen(dispatcher, chat_id="2101").press_key(CaseButton(case.id, CaseAction.ASSIGN_TO, staff_id))
    staff = Citizen(dispatcher, chat_id="2102")
    await staff.press_key(CaseButton(case.id, CaseAction.RESOLVE))
    note = unicodedata.normalize("NFD", "Đã gọi điện, hẹn ngày trả. " * 37)  # 999 as seen, 1,258 characters
    assert "quá dài (1001 ký tự)" in texts(await staff.say("😡" * 1001))
    assert "Đã ghi nhận" in texts(await staff.say(note))


async def test_a_notice_to_a_blocked_chat_is_recorded_not_retried(
    config, store, dispatcher, handlers: Handlers
):
    from handlers.chat import Delivery

    await complain(dispatcher, config, store)
    case = await only_case(store)
    staff_id = (await store.directory.people_at("telegram", "2102"))[0].id
    await Citizen(dispatcher, chat_id="2101").press_key(CaseButton(case.id, CaseAction.ASSIGN_TO, staff_id))
    sender = RecordingSender(outcomes={"2102": Delivery.UNREACHABLE})
    result = await handlers.notices.send({"telegram": sender}, NOW)
    assert (result.sent, result.unreachable) == (1, 1)
    assert (await store.chats.get_chat_state("telegram", "2102")).unreachable_since == NOW
    assert await store.outbox.pending_notices() == []
    with sqlite3.connect(store.path) as db:
        outcomes = dict(db.execute("SELECT chat_id, status FROM notices").fetchall())
    assert outcomes == {"2102": OutboxStatus.UNREACHABLE.value, "1001": OutboxStatus.SENT.value}


async def test_cases_and_mycases_list_page_by_page(config, store, dispatcher):
    for n in range(7):
        await complain(dispatcher, config, store, code=f"HS-{n:03}", chat=str(1000 + n))
    head = Citizen(dispatcher, chat_id="2101")
    first = await head.command("cases")
    assert first[0].text == "Phản ánh đang mở: 1–5 trên 7."
    assert len(first) == 7 and labels(first)[-1] == "Trang sau ›" and first[-1].text == "Còn 2 phản ánh nữa."
    second = await head.press("Trang sau ›")
    assert second[0].text == "Phản ánh đang mở: 6–7 trên 7." and len(second) == 3
    staff = Citizen(dispatcher, chat_id="2102")
    assert "không có phản ánh" in texts(await staff.command("mycases"))
    staff_id = (await store.directory.people_at("telegram", "2102"))[0].id
    cases = await store.cases.list_cases(["Q1-BN"])
    await head.press_key(CaseButton(cases[0].id, CaseAction.ASSIGN_TO, staff_id))
    mine = await staff.command("mycases")
    assert len(mine) == 1 and labels(mine) == ["Nhắn người dân", "Đã xử lý xong"]
    assert "dành cho thủ trưởng và cán bộ" in texts(
        await Citizen(dispatcher, chat_id="5555").command("cases")
    )


async def test_the_config_seeds_the_directory_only_on_first_start(tmp_path, store, caplog):
    from bot.app import seed_directory

    assert [p.name for p in await store.directory.unit_people("Q1-BN")] == [
        "Lê Văn C",
        "Phạm Thị D",
        "Võ Văn E",
    ]
    smaller = make_config(tmp_path, units=[{"code": "Q1", "name": "UBND Quận Một"}])
    await seed_directory(store, smaller)
    assert [p.name for p in await store.directory.unit_people("Q1-BN")] == [
        "Lê Văn C",
        "Phạm Thị D",
        "Võ Văn E",
    ]
    assert "the database, which wins" in caplog.text


async def test_case_actions_are_in_the_audit_trail(config, store, dispatcher):
    await complain(dispatcher, config, store)
    case = await only_case(store)
    staff_id = (await store.directory.people_at("telegram", "2102"))[0].id
    await Citizen(dispatcher, chat_id="2101").press_key(CaseButton(case.id, CaseAction.ASSIGN_TO, staff_id))
    trail = [(e.action, e.detail) for e in await store.audit.audit_since(None)]
    assert [entry for entry in trail if entry[0].startswith("case")] == [
        ("case opened", f"#{case.id}"),
        ("case assigned", f"#{case.id}: Phạm Thị D"),
    ]
    assert ("directory applied", "seeded from the config: 3 units") in trail
