"""New complaints reach the head as they open (batched when several open together), once; and a
head of a unit above sees the open cases of the units under them in /cases."""

from __future__ import annotations

from datetime import timedelta

from bot.app import Handlers, build_handlers
from handlers.chat import Delivery
from storage.records import CaseState
from tests.conftest import NOW, Citizen, add_dossier, make_config, texts
from tests.fakes import RecordingSender
from tests.test_cases import complain


def to(sender: RecordingSender, chat: str) -> list[str]:
    return [reply.text for who, reply in sender.sent if who == chat]


async def test_a_new_case_reaches_the_head_once_it_stops_arriving(config, store, handlers: Handlers):
    await complain(handlers.dispatcher, config, store, now=NOW)
    sender = RecordingSender()
    assert await handlers.new_cases.send({"telegram": sender}, NOW + timedelta(seconds=30)) == 0
    assert sender.sent == []  # others may follow: it waits for a quiet moment
    assert await handlers.new_cases.send({"telegram": sender}, NOW + timedelta(minutes=3)) == 1
    header, card = to(sender, "2101")
    assert "UBND Phường Bến Nghé: 1 phản ánh mới" in header and "HS-001" in card
    assert [o.label for _, r in sender.sent for o in r.options] == ["Giao xử lý"]
    assert await handlers.new_cases.send({"telegram": sender}, NOW + timedelta(minutes=9)) == 0
    assert len(sender.sent) == 2  # told once


async def test_cases_opening_together_go_as_one_message(config, store, handlers: Handlers):
    for n in range(3):
        await complain(
            handlers.dispatcher, config, store, f"HS-{n}", str(1000 + n), now=NOW + timedelta(minutes=n)
        )
    sender = RecordingSender()
    assert await handlers.new_cases.send({"telegram": sender}, NOW + timedelta(minutes=3)) == 0
    assert await handlers.new_cases.send({"telegram": sender}, NOW + timedelta(minutes=5)) == 3
    assert "3 phản ánh mới" in to(sender, "2101")[0] and len(to(sender, "2101")) == 4


async def test_a_steady_stream_still_goes_within_the_longest_wait(config, store, handlers: Handlers):
    sender = RecordingSender()
    for n in range(16):
        moment = NOW + timedelta(minutes=n)
        await complain(handlers.dispatcher, config, store, f"HS-{n}", str(1000 + n), now=moment)
        await handlers.new_cases.send({"telegram": sender}, moment)
    assert "16 phản ánh mới" in to(sender, "2101")[0]  # the first waited 15 minutes, no longer
    assert "Còn 11 phản ánh mới khác" in to(sender, "2101")[-1]  # 5 shown with buttons


async def test_an_unreachable_head_means_the_head_above_is_told(config, store, handlers: Handlers):
    await complain(handlers.dispatcher, config, store)
    sender = RecordingSender(outcomes={"2101": Delivery.UNREACHABLE})
    await handlers.new_cases.send({"telegram": sender}, NOW + timedelta(hours=1))
    assert "không liên lạc được với Thủ trưởng UBND Phường Bến Nghé" in to(sender, "2001")[0]


async def test_new_case_notices_can_be_turned_off(tmp_path, store):
    config = make_config(tmp_path, cases={"new_case_notice": {"enabled": False}})
    handlers = build_handlers(config, store)
    await complain(handlers.dispatcher, config, store)
    sender = RecordingSender()
    assert await handlers.new_cases.send({"telegram": sender}, NOW + timedelta(hours=1)) == 0
    assert sender.sent == []


async def test_a_resolved_case_is_not_announced_late(config, store, handlers: Handlers):
    await complain(handlers.dispatcher, config, store)
    (case,) = await store.cases.list_cases(["Q1-BN"])
    await store.cases.change_case(
        case.id,
        from_states=(CaseState.NEW,),
        to_state=CaseState.CLOSED,
        actor="test",
        action="closed",
        now=NOW,
    )
    assert await handlers.new_cases.send({"telegram": RecordingSender()}, NOW + timedelta(hours=1)) == 0


async def test_the_head_above_lists_the_open_cases_of_the_units_below(config, store, dispatcher):
    await complain(dispatcher, config, store)
    district = texts(await Citizen(dispatcher, chat_id="2001").command("cases"))  # head of Q1
    assert "HS-001" in district and "Phản ánh đang mở: 1–1 trên 1" in district
    other = texts(await Citizen(dispatcher, chat_id="3001").command("cases"))  # head of Q3, a sibling
    assert "Không có phản ánh nào đang mở" in other


async def test_a_case_waits_for_the_citizen_to_finish_writing(config, store, handlers: Handlers):
    _, token = await add_dossier(config, store)
    citizen = Citizen(handlers.dispatcher)
    await citizen.command("start", token)
    await citizen.press("Không hài lòng")  # the case opens at this tap
    sender = RecordingSender()
    assert await handlers.new_cases.send({"telegram": sender}, NOW + timedelta(minutes=5)) == 0
    await citizen.press("Lý do khác")
    await citizen.say("Phải đi lại ba lần")
    assert await handlers.new_cases.send({"telegram": sender}, NOW + timedelta(minutes=8)) == 1
    assert "Phải đi lại ba lần" in to(sender, "2101")[1]


async def test_an_abandoned_survey_still_reaches_the_head_within_the_longest_wait(config, store, handlers):
    _, token = await add_dossier(config, store)
    citizen = Citizen(handlers.dispatcher)
    await citizen.command("start", token)
    await citizen.press("Không hài lòng")
    assert await handlers.new_cases.send({"telegram": RecordingSender()}, NOW + timedelta(minutes=16)) == 1
