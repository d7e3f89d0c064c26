"""At-risk dossiers in the unit head's digest, and extending one from the chat: the head's button
(or "gia han 12" typed) asks for the reason and the new day, then records the `extended` event as
the intake API does, with its apology letter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta

from bot.app import Handlers, build_handlers, seed_directory
from bot.config import Config
from handlers.chat import Delivery
from handlers.dossier_facts import event_facts
from handlers.extensions import DelegateExtension, ExtendDossier, typed_day, typed_extend_button
from storage.records import DossierEventType
from storage.sqlite import SQLiteStorage
from tests.conftest import NOW, Citizen, labels, make_config, texts
from tests.fakes import RecordingSender
from tests.test_digest import MORNING, to

# NOW is Thursday 26/11/2026 10:00 local; MORNING is Friday 27/11 07:30 local, whose next working
# day is Monday 30/11.
MONDAY = date(2026, 11, 30)


async def due_dossier(store: SQLiteStorage, code: str, due_on: date, *, unit: str = "Q1-BN", returned=False):
    return await store.dossiers.add_dossier(
        code=code,
        unit_code=unit,
        procedure="Cấp giấy phép xây dựng",
        link_id=f"link-{code}",
        now=NOW - timedelta(days=10),
        due_on=due_on,
        returned_at=NOW - timedelta(hours=1) if returned else None,
    )


async def extend_by_api(
    store: SQLiteStorage,
    code: str,
    config,
    at: str = "2026-11-26T09:00:00+07:00",
    reason: str = "Chờ ý kiến cơ quan liên quan",
) -> None:
    facts = event_facts(
        {"type": "extended", "at": at, "reason": reason, "new_due_at": "2026-12-04T17:00:00+07:00"},
        config.zone,
    )
    await store.dossiers.add_dossier_event(code, facts, actor="api:test", now=NOW)


async def test_the_digest_lists_dossiers_due_next_working_day(config, store, handlers: Handlers):
    monday = await due_dossier(store, "HS-MON", MONDAY)
    await due_dossier(store, "HS-TUE", date(2026, 12, 1))  # two working days away: not yet
    await due_dossier(store, "HS-RET", MONDAY, returned=True)
    await due_dossier(store, "HS-EXT", MONDAY)
    await extend_by_api(store, "HS-EXT", config)
    sender = RecordingSender()
    run = await handlers.digests.send({"telegram": sender}, MORNING, show=5)
    assert run.sent == 1  # Q1-BN: not empty, though it has no complaint
    replies = to(sender, "2101")
    everything = texts(replies)
    assert "Hồ sơ sắp đến hạn trả mà chưa gia hạn" in everything
    assert "HS-MON · Cấp giấy phép xây dựng · hẹn trả 30/11/2026" in everything
    assert "HS-TUE" not in everything and "HS-RET" not in everything and "HS-EXT" not in everything
    assert labels(replies) == ["Gia hạn, gửi thư xin lỗi", "Giao cán bộ gia hạn"]
    extend, delegate = [o for r in replies for o in r.options]
    assert extend.key == ExtendDossier(monday.id).pack()
    assert extend.typed == f"Để gia hạn, gõ: gia han {monday.id}"
    assert delegate.key == DelegateExtension(monday.id).pack()
    assert delegate.typed == f"Để giao cán bộ gia hạn, gõ: giao gia han {monday.id}"


@asynccontextmanager
async def opened(config: Config) -> AsyncIterator[tuple[SQLiteStorage, Handlers]]:
    store = SQLiteStorage(config.database)
    await store.open()
    try:
        await seed_directory(store, config)
        yield store, build_handlers(config, store)
    finally:
        await store.close()


async def test_a_holiday_on_the_next_working_day_moves_the_watch_on(tmp_path):
    async with opened(make_config(tmp_path, cases={"holidays": ["2026-11-30"]})) as (store, handlers):
        await due_dossier(store, "HS-TUE", date(2026, 12, 1))
        sender = RecordingSender()
        await handlers.digests.send({"telegram": sender}, MORNING, show=5)
        assert "HS-TUE" in texts(to(sender, "2101"))


async def test_many_at_risk_dossiers_show_a_few_and_count_the_rest(store, handlers: Handlers):
    for n in range(7):
        await due_dossier(store, f"HS-{n}", MONDAY)
    sender = RecordingSender()
    await handlers.digests.send({"telegram": sender}, MORNING, show=5)
    replies = to(sender, "2101")
    assert len(labels(replies)) == 10  # five shown, each with Extend and Hand to a staff member
    hidden = (await store.letters.open_dossiers_due(None, due_after=None, due_until=MONDAY))[5:]
    assert f"Còn 2 hồ sơ sắp đến hạn khác (số {hidden[0].id}, {hidden[1].id})" in texts(replies)


async def test_the_head_extends_a_dossier_with_a_reason_and_a_new_day(store, dispatcher):
    dossier = await due_dossier(store, "HS-MON", MONDAY)
    head = Citizen(dispatcher, "2101")
    asked = await head.press_key(ExtendDossier(dossier.id))
    assert "xin nhập lý do" in texts(asked)
    assert "ngày/tháng/năm" in texts(await head.say("Chờ kết quả thẩm định của Sở Xây dựng"))
    refused = await head.say("mai nhé")
    assert "phải là một ngày sau hôm nay" in texts(refused) and "/12/2026" in texts(refused)
    assert "phải là một ngày sau hôm nay" in texts(await head.say("26/11/2026"))  # today is no later day
    assert "31/02/2026" not in texts(await head.say("31/02/2026"))
    done = await head.say("04/12/2026")
    assert "Đã gia hạn hồ sơ HS-MON đến 17:00 ngày 04/12/2026" in texts(done)
    extended = [
        e for e in await store.dossiers.list_dossier_events(dossier.id) if e.type == DossierEventType.EXTENDED
    ]
    assert len(extended) == 1
    (event,) = extended
    assert event.reason == "Chờ kết quả thẩm định của Sở Xây dựng"
    assert event.new_due_at == datetime(2026, 12, 4, 10, 0, tzinfo=UTC)  # 17:00 local
    (letter,) = await store.letters.letters_of_dossier(dossier.id)
    assert letter.reason == event.reason
    assert "để bộ phận một cửa in" in texts(done)  # the citizen has no chat: the desk prints it
    # Pressed again, or typed: nothing is recorded twice.
    assert "đã được gia hạn" in texts(await head.press_key(ExtendDossier(dossier.id)))
    assert "đã được gia hạn" in texts(await head.say(f"gia hạn {dossier.id}"))
    assert len(await store.letters.letters_of_dossier(dossier.id)) == 1


async def test_the_head_above_may_extend_others_are_refused(store, dispatcher):
    dossier = await due_dossier(store, "HS-MON", MONDAY)
    for chat_id in ("2102", "3001", "1001"):  # staff of the ward, another district's head, a citizen
        person = Citizen(dispatcher, chat_id)
        assert "không có quyền" in texts(await person.press_key(ExtendDossier(dossier.id)))
    district_head = Citizen(dispatcher, "2001")
    assert "xin nhập lý do" in texts(await district_head.press_key(ExtendDossier(dossier.id)))


async def test_a_returned_dossier_is_not_extended(store, dispatcher):
    dossier = await due_dossier(store, "HS-RET", MONDAY, returned=True)
    head = Citizen(dispatcher, "2101")
    assert "đã trả kết quả" in texts(await head.press_key(ExtendDossier(dossier.id)))


async def test_on_zalo_the_head_types_the_command_and_may_cancel(tmp_path):
    units = [
        {
            "code": "Q1-BN",
            "name": "UBND Phường Bến Nghé",
            "head": {"name": "Lê Văn C", "zalo": "z-head"},
            "staff": [{"name": "Phạm Thị D", "zalo": "z-staff"}],
        }
    ]
    async with opened(make_config(tmp_path, units=units)) as (store, handlers):
        dossier = await due_dossier(store, "HS-MON", MONDAY)
        head = Citizen(handlers.dispatcher, "z-head", channel="zalo")
        assert "xin nhập lý do" in texts(await head.say(f"Gia hạn {dossier.id}"))
        assert "Đã hủy" in texts(await head.command("cancel"))
        assert "Ông/Bà" in texts(await head.say("Thiếu hồ sơ địa chính"))  # no longer awaited
        assert await store.letters.letters_of_dossier(dossier.id) == []
        assert "xin nhập lý do" in texts(await head.say(f"giahan {dossier.id}"))
        await head.say("Thiếu hồ sơ địa chính")
        assert "Đã gia hạn hồ sơ HS-MON" in texts(await head.say("2026-12-03"))
        staff = Citizen(handlers.dispatcher, "z-staff", channel="zalo")
        assert "không có quyền" in texts(await staff.say(f"extend {dossier.id}"))


def test_typed_commands_and_days():
    assert typed_extend_button("gia hạn 345") == ExtendDossier(345)
    assert typed_extend_button("GIAHAN #345") == ExtendDossier(345)
    assert typed_extend_button("/extend 345") == ExtendDossier(345)
    assert typed_extend_button("gia hạn") is None and typed_extend_button("giao 345") is None
    assert typed_extend_button("ủy quyền 345") == DelegateExtension(345)
    assert typed_extend_button("delegate #345") == DelegateExtension(345)
    assert typed_day("4/12/2026") == date(2026, 12, 4) and typed_day("2026-12-04") == date(2026, 12, 4)
    assert typed_day("31/02/2026") is None and typed_day("tomorrow") is None


async def test_a_button_of_another_flow_ends_the_extension_being_written(config, store, dispatcher):
    dossier = await due_dossier(store, "HS-MON", MONDAY)
    head = Citizen(dispatcher, "2101")
    await head.press_key(ExtendDossier(dossier.id))
    await head.say("Chờ thẩm định")
    await head.command("cases")  # a command ends it too; here a button of the case flow follows
    await head.press_key(ExtendDossier(dossier.id))
    await head.press_key("cases.page.0")
    assert (await store.chats.get_chat_state("telegram", "2101")).awaiting is None
    await head.say("04/12/2026")
    assert await store.letters.letters_of_dossier(dossier.id) == []


async def staff_id(store: SQLiteStorage, name: str) -> int:
    return next(p.id for p in await store.directory.all_people() if p.name == name)


async def test_the_head_hands_the_extension_to_a_staff_member(store, handlers: Handlers):
    dossier = await due_dossier(store, "HS-MON", MONDAY)
    dispatcher = handlers.dispatcher
    head = Citizen(dispatcher, "2101")
    offered = await head.press_key(DelegateExtension(dossier.id))
    assert "Giao cán bộ nào ghi lý do và ngày hẹn mới của hồ sơ HS-MON?" in texts(offered)
    assert labels(offered) == ["Phạm Thị D", "Võ Văn E"]
    staff = Citizen(dispatcher, "2102")
    assert "không có quyền" in texts(await staff.press_key(DelegateExtension(dossier.id)))  # heads only
    assert "không có quyền" in texts(await staff.press_key(ExtendDossier(dossier.id)))  # not handed yet
    binh = await staff_id(store, "Phạm Thị D")
    assert "không còn hiệu lực" in texts(await head.press_key(DelegateExtension(dossier.id, 987654)))
    done = await head.press_key(DelegateExtension(dossier.id, binh))
    assert "Đã giao Phạm Thị D gia hạn hồ sơ HS-MON" in texts(done)

    sender = RecordingSender()
    assert await handlers.alerts.send({"telegram": sender}, NOW) == 1
    told = to(sender, "2102")
    assert "Thủ trưởng đơn vị giao Ông/Bà gia hạn hồ sơ HS-MON" in texts(told)
    assert [o.key for r in told for o in r.options] == [ExtendDossier(dossier.id).pack()]
    assert await handlers.alerts.send({"telegram": sender}, NOW) == 0  # told once
    assert len(to(sender, "2102")) == 1

    other = Citizen(dispatcher, "2103")  # the other staff member was not handed it
    assert "không có quyền" in texts(await other.press_key(ExtendDossier(dossier.id)))
    assert "xin nhập lý do" in texts(await staff.press_key(ExtendDossier(dossier.id)))
    await staff.say("Chờ kết quả đo đạc")
    assert "Đã gia hạn hồ sơ HS-MON" in texts(await staff.say("04/12/2026"))
    (event,) = [
        e for e in await store.dossiers.list_dossier_events(dossier.id) if e.type == DossierEventType.EXTENDED
    ]
    assert event.recorded_by == f"person:{binh}"
    audit = [e for e in await store.audit.audit_since(None) if e.action == "extension delegated"]
    assert [e.detail for e in audit] == [f"HS-MON to person:{binh}"]


async def test_an_extension_cannot_be_handed_to_staff_of_another_unit(tmp_path):
    units = [
        {"code": "Q1-BN", "name": "UBND Phường Bến Nghé", "head": {"name": "Lê Văn C", "telegram": 2101}},
        {
            "code": "Q3",
            "name": "UBND Quận 3",
            "head": {"name": "Đỗ Thị F", "telegram": 3001},
            "staff": [{"name": "Trần Văn G", "telegram": 3002}],
        },
    ]
    async with opened(make_config(tmp_path, units=units)) as (store, handlers):
        dossier = await due_dossier(store, "HS-MON", MONDAY)
        head = Citizen(handlers.dispatcher, "2101")
        assert "chưa có cán bộ nào" in texts(await head.press_key(DelegateExtension(dossier.id)))
        outsider = await staff_id(store, "Trần Văn G")
        assert "không còn hiệu lực" in texts(await head.press_key(DelegateExtension(dossier.id, outsider)))
        assert await store.letters.waiting_alerts(NOW, lease=timedelta(minutes=5)) == []


async def test_a_second_extension_is_told_to_the_head_and_the_head_above(config, store, handlers: Handlers):
    await due_dossier(store, "HS-MON", MONDAY)
    await extend_by_api(store, "HS-MON", config)
    sender = RecordingSender()
    assert await handlers.alerts.send({"telegram": sender}, NOW) == 0  # once is the rule kept
    await extend_by_api(store, "HS-MON", config, at="2026-11-26T11:00:00+07:00", reason="Chờ bổ sung lần 2")
    assert await handlers.alerts.send({"telegram": sender}, NOW) == 2
    for head in ("2101", "2001"):
        told = texts(to(sender, head))
        assert "Bến Nghé: hồ sơ HS-MON · Cấp giấy phép xây dựng vừa được gia hạn thêm lần nữa" in told
        assert "lý do: Chờ bổ sung lần 2; hẹn mới 04/12/2026" in told
    assert to(sender, "3001") == []
    assert await handlers.alerts.send({"telegram": sender}, NOW) == 0


async def test_a_second_extension_reaches_the_head_above_when_the_head_is_blocked(config, store, handlers):
    await due_dossier(store, "HS-MON", MONDAY)
    await extend_by_api(store, "HS-MON", config)
    await extend_by_api(store, "HS-MON", config, at="2026-11-26T11:00:00+07:00")
    sender = RecordingSender(outcomes={"2101": Delivery.UNREACHABLE})
    assert await handlers.alerts.send({"telegram": sender}, NOW) == 2
    (told,) = to(sender, "2001")  # the ward's alert comes to the district's head, who is told once
    assert told.text.startswith("Tin này dành cho Thủ trưởng UBND Phường Bến Nghé")
    assert "HS-MON" in told.text
    assert await handlers.alerts.send({"telegram": sender}, NOW) == 0


async def test_the_digest_counts_letters_sent_late_and_missing(config, store, handlers: Handlers):
    await due_dossier(store, "HS-MON", MONDAY)  # at risk
    await due_dossier(store, "HS-ONTIME", MONDAY)
    await extend_by_api(store, "HS-ONTIME", config)  # on 26/11 for 30/11: on time
    await due_dossier(store, "HS-LATELETTER", date(2026, 11, 26))
    await extend_by_api(store, "HS-LATELETTER", config)  # on 26/11 for 26/11: late
    old = await due_dossier(store, "HS-OLD", date(2026, 11, 20))  # late, open, no letter
    await due_dossier(store, "HS-RL", date(2026, 11, 20), returned=True)  # returned late on 26/11, no letter
    await due_dossier(store, "HS-Q3", date(2026, 11, 20), unit="Q3")
    sender = RecordingSender()
    await handlers.digests.send({"telegram": sender}, MORNING, show=5)
    ward = texts(to(sender, "2101"))
    assert "Thư xin lỗi ngày 26/11/2026: 2 thư (muộn 1)\nHồ sơ trễ hẹn chưa có thư xin lỗi: 2" in ward
    assert "Hồ sơ đến hạn ngày làm việc tới: 1" in ward
    assert "Hồ sơ đã trễ hẹn mà chưa có thư xin lỗi" in ward and "HS-OLD" in ward
    missing_keys = [o.key for r in to(sender, "2101") if "HS-OLD" in r.text for o in r.options]
    assert missing_keys == [ExtendDossier(old.id).pack(), DelegateExtension(old.id).pack()]
    district = texts(to(sender, "2001"))
    assert (
        "Đơn vị cấp dưới có hồ sơ trễ hẹn chưa có thư xin lỗi:\n• UBND Phường Bến Nghé: 2 hồ sơ" in district
    )
    assert "HS-OLD" not in district and "Thư xin lỗi ngày" not in district
    assert "Hồ sơ trễ hẹn chưa có thư xin lỗi: 1" in texts(to(sender, "3001"))


async def test_the_digest_counts_second_extensions(config, store, handlers: Handlers):
    await due_dossier(store, "HS-MON", MONDAY)
    await extend_by_api(store, "HS-MON", config)
    await extend_by_api(store, "HS-MON", config, at="2026-11-26T11:00:00+07:00")
    sender = RecordingSender()
    await handlers.digests.send({"telegram": sender}, MORNING, show=5)
    assert "2 thư (muộn 0)" in texts(to(sender, "2101"))
    assert "Gia hạn lần hai: 1" in texts(to(sender, "2101"))


async def test_a_dossier_due_today_is_neither_at_risk_nor_late(store, handlers: Handlers):
    await due_dossier(store, "HS-TODAY", date(2026, 11, 27))  # MORNING's own day
    sender = RecordingSender()
    await handlers.digests.send({"telegram": sender}, MORNING, show=5)
    assert "HS-TODAY" not in texts(to(sender, "2101"))


async def test_a_unit_two_levels_up_counts_its_wards_missing_letters(tmp_path):
    units = [
        {
            "code": "HCM", "name": "UBND TP. Hồ Chí Minh", "head": {"name": "Chủ tịch", "telegram": 1},
            "children": [
                {
                    "code": "Q1", "name": "UBND Quận 1", "head": {"name": "Nguyễn Văn A", "telegram": 2001},
                    "children": [
                        {"code": "Q1-BN", "name": "UBND Phường Bến Nghé",
                         "head": {"name": "C", "telegram": 2101}},
                    ],
                }
            ],
        }
    ]  # fmt: skip
    async with opened(make_config(tmp_path, units=units)) as (store, handlers):
        await due_dossier(store, "HS-OLD", date(2026, 11, 20))
        sender = RecordingSender()
        await handlers.digests.send({"telegram": sender}, MORNING, show=5, only=["HCM"])
        assert "• UBND Quận 1: 1 hồ sơ" in texts(to(sender, "1"))  # its child's subtree: the ward's
