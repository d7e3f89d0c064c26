"""The daily digest: content, who gets it, once per unit and day, catch-up, and the limits."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime

from bot.app import Handlers, digest_due_today
from handlers.chat import Delivery
from storage.records import CaseState
from tests.conftest import NOW, labels, make_config
from tests.fakes import RecordingSender
from tests.test_cases import complain

DAY_AFTER = date(2026, 11, 27)  # NOW is 26/11 10:00 local
MORNING = datetime(2026, 11, 27, 0, 30, tzinfo=UTC)  # 07:30 local


def to(sender: RecordingSender, chat_id: str) -> list:
    return [reply for chat, reply in sender.sent if chat == chat_id]


async def test_the_head_gets_figures_new_complaints_with_buttons(
    config, store, dispatcher, handlers: Handlers
):
    await complain(dispatcher, config, store, "HS-001", "1001")
    await complain(dispatcher, config, store, "HS-002", "1002", rating="Bình thường", words=None)
    sender = RecordingSender()
    run = await handlers.digests.send({"telegram": sender}, MORNING, show=5)
    assert (run.sent, run.empty) == (1, 2)  # Q1-BN; Q1 and Q3 have nothing to report
    header, complaint = to(sender, "2101")
    assert "Báo cáo ngày 27/11/2026 · UBND Phường Bến Nghé" in header.text
    assert (
        "Ý kiến ngày 26/11/2026: 2 lượt — hài lòng 0 (0,0%), bình thường 1 (50,0%), không hài lòng 1 (50,0%)"
        in header.text
    )
    assert "Phản ánh mới: 1 · Đang mở: 1 · Quá hạn: 0" in header.text
    assert "HS-001" in complaint.text and "Cán bộ hẹn lên hẹn xuống" in complaint.text
    assert "Lý do khác" in complaint.text  # the follow-up answer in words, not its id
    assert labels([complaint]) == ["Giao xử lý"]
    assert to(sender, "2001") == [] and to(sender, "3001") == []


async def test_each_unit_and_day_goes_once_even_across_restarts(
    config, store, dispatcher, handlers: Handlers
):
    await complain(dispatcher, config, store)
    sender = RecordingSender()
    await handlers.digests.send({"telegram": sender}, MORNING, show=5)
    again = await handlers.digests.send({"telegram": sender}, MORNING, show=5)
    assert (again.sent, again.already, again.empty) == (0, 1, 2)
    assert len(to(sender, "2101")) == 2


async def test_the_next_digest_lists_only_complaints_since_the_previous_one(
    config, store, dispatcher, handlers: Handlers
):
    await complain(dispatcher, config, store, "HS-001", "1001")
    await handlers.digests.send({"telegram": RecordingSender()}, MORNING, show=5)
    await complain(dispatcher, config, store, "HS-002", "1002", now=datetime(2026, 11, 27, 3, 0, tzinfo=UTC))
    sender = RecordingSender()
    next_morning = datetime(2026, 11, 28, 0, 30, tzinfo=UTC)
    await handlers.digests.send({"telegram": sender}, next_morning, show=5)
    header, *complaints = to(sender, "2101")
    assert "Phản ánh mới: 1 · Đang mở: 2" in header.text
    assert [("HS-002" in c.text) for c in complaints] == [True]


async def test_overdue_cases_show_and_escalate_to_the_parent_head(
    config, store, dispatcher, handlers: Handlers
):
    await complain(dispatcher, config, store)
    (case,) = await store.cases.list_cases(["Q1-BN"])
    assert case.deadline == date(2026, 12, 1)
    sender = RecordingSender()
    overdue_morning = datetime(2026, 12, 2, 0, 30, tzinfo=UTC)
    await handlers.digests.send({"telegram": sender}, overdue_morning, show=5)
    ward, _new_complaint = to(sender, "2101")
    assert "Quá hạn: 1" in ward.text and "Quá hạn:\n• #" in ward.text and "hạn 01/12/2026" in ward.text
    (district,) = to(sender, "2001")
    assert "Quá hạn ở đơn vị cấp dưới: 1" in district.text and "HS-001" in district.text


async def test_a_unit_with_nothing_new_open_or_overdue_sends_nothing(
    config, store, dispatcher, handlers: Handlers
):
    sender = RecordingSender()
    run = await handlers.digests.send({"telegram": sender}, MORNING, show=5)
    assert run.sent == 0 and run.empty == 3 and sender.sent == []


async def test_a_closed_case_is_not_open_any_more(config, store, dispatcher, handlers: Handlers):
    await complain(dispatcher, config, store)
    (case,) = await store.cases.list_cases(["Q1-BN"])
    await store.cases.change_case(
        case.id,
        from_states=(CaseState.NEW,),
        to_state=CaseState.CLOSED,
        actor="test",
        action="closed",
        now=NOW,
    )
    sender = RecordingSender()
    await handlers.digests.send({"telegram": sender}, MORNING, show=5)
    assert "Phản ánh mới: 1 · Đang mở: 0" in to(sender, "2101")[0].text


async def test_many_complaints_show_the_first_ones_and_count_the_rest(
    config, store, dispatcher, handlers: Handlers
):
    for n in range(8):
        await complain(dispatcher, config, store, f"HS-{n:03}", str(1000 + n))
    sender = RecordingSender()
    await handlers.digests.send({"telegram": sender}, MORNING, show=3)
    _header, *complaints, more = to(sender, "2101")
    assert len(complaints) == 3 and all(labels([c]) == ["Giao xử lý"] for c in complaints)
    assert "Còn 5 phản ánh mới khác" in more.text and "/cases" in more.text


async def test_a_head_who_blocked_the_bot_has_the_digest_go_to_the_head_above(
    config, store, dispatcher, handlers: Handlers
):
    await complain(dispatcher, config, store)
    sender = RecordingSender(outcomes={"2101": Delivery.UNREACHABLE})
    run = await handlers.digests.send({"telegram": sender}, MORNING, show=5)
    assert run.sent == 1
    header = to(sender, "2001")[0]
    assert "không liên lạc được với Thủ trưởng UBND Phường Bến Nghé" in header.text
    assert "Báo cáo ngày 27/11/2026 · UBND Phường Bến Nghé" in header.text
    assert (await store.chats.get_chat_state("telegram", "2101")).unreachable_since == MORNING


async def test_a_digest_reaching_no_head_is_recorded(tmp_path):
    from bot.app import build_handlers, opened_storage

    config = make_config(
        tmp_path,
        database=str(tmp_path / "headless.db"),
        units=[
            {
                "code": "Q1",
                "name": "UBND Quận 1",
                "children": [{"code": "Q1-BN", "name": "UBND Phường Bến Nghé"}],
            }
        ],
    )
    async with opened_storage(config) as store:
        handlers = build_handlers(config, store)
        await complain(handlers.dispatcher, config, store)
        run = await handlers.digests.send({"telegram": RecordingSender()}, MORNING, show=5)
    assert run.unreachable == 1


async def test_the_digest_comes_in_the_heads_language(config, store, dispatcher, handlers: Handlers):
    await complain(dispatcher, config, store)
    await store.chats.set_language("telegram", "2101", "en")
    sender = RecordingSender()
    await handlers.digests.send({"telegram": sender}, MORNING, show=5)
    header, complaint = to(sender, "2101")
    assert header.text.startswith("Digest for 27/11/2026") and labels([complaint]) == ["Assign"]
    assert "Something else" in complaint.text


def test_a_start_after_the_digest_time_catches_up(tmp_path):
    config = make_config(tmp_path, digest={"time": "07:30"})
    assert not digest_due_today(config, datetime(2026, 11, 27, 0, 29, tzinfo=UTC))  # 07:29 local
    assert digest_due_today(config, datetime(2026, 11, 27, 0, 30, tzinfo=UTC))
    assert digest_due_today(config, datetime(2026, 11, 27, 9, 0, tzinfo=UTC))  # 16:00 local


async def test_a_day_that_had_nothing_to_report_sends_when_something_comes(
    config, store, dispatcher, handlers: Handlers
):
    sender = RecordingSender()
    assert (await handlers.digests.send({"telegram": sender}, MORNING, show=5)).empty == 3
    await complain(dispatcher, config, store, now=datetime(2026, 11, 27, 2, 0, tzinfo=UTC))
    later = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    assert (await handlers.digests.send({"telegram": sender}, later, show=5)).sent == 1
    assert "Phản ánh mới: 1" in to(sender, "2101")[0].text


async def test_one_unit_and_another_day_can_be_asked_for(config, store, dispatcher, handlers: Handlers):
    await complain(dispatcher, config, store)
    sender = RecordingSender()
    run = await handlers.digests.send(
        {"telegram": sender}, MORNING, show=5, only=["Q1-BN"], day=date(2026, 12, 2)
    )
    assert (run.sent, run.empty, run.already) == (1, 0, 0)
    assert (
        "Báo cáo ngày 02/12/2026" in to(sender, "2101")[0].text and "Quá hạn: 1" in to(sender, "2101")[0].text
    )


async def test_a_long_digest_is_split_into_whole_messages(config, store, dispatcher, handlers: Handlers):
    from handlers.chat import split_text
    from handlers.digest import render_digest

    for n in range(30):
        await complain(dispatcher, config, store, f"HS-{n:03}", str(1000 + n))
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE dossiers SET procedure = ? ", ("Cấp giấy chứng nhận quyền sử dụng đất " * 8,))
    (digest,) = await handlers.digests.build(date(2026, 12, 2), 5, only=["Q1-BN"])
    header = render_digest(dispatcher.cases, digest, "vi", None)[0].text
    assert len(header) > 4096 and "… (+10)" in header  # 20 overdue listed, 10 counted
    pieces = split_text(header, 4096)
    assert len(pieces) > 1 and all(len(p) <= 4096 for p in pieces)
    assert all(
        line.startswith(("•", "Báo cáo", "Ý kiến", "Phản ánh", "Quá hạn", "…", ""))
        for p in pieces
        for line in p.splitlines()
    )
