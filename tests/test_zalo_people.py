"""Heads and staff on Zalo, offline: the directory's Zalo ids, messages to the chat a person last
wrote from, and the complaint loop by typed numbers and short commands through the real Zalo
channel (its HTTP API faked with httpx's MockTransport), with the same access checks as buttons."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.app import Handlers, build_dispatcher
from bot.channels.zalo import ZaloChannel
from bot.config import Config
from handlers.admin import apply_directory, plan_directory
from handlers.cases import CaseAction, CaseButton, typed_case_button
from handlers.chat import Address, Delivery, Option, Reply
from handlers.dispatch import Dispatcher
from handlers.typed import number_replies, remember_shown, typed_choice
from storage.records import CaseState, NoticeTo
from storage.sqlite import SQLiteStorage
from tests.conftest import NOW, Citizen, add_dossier, make_config
from tests.fakes import RecordingSender
from tests.test_zalo_channel import FakeZalo

MORNING = datetime(2026, 11, 27, 0, 30, tzinfo=UTC)  # 07:30 local, the day after NOW
UNITS = [
    {
        "code": "Q1-BN",
        "name": "UBND Phường Bến Nghé",
        "head": {"name": "Lê Văn C", "telegram": 2101, "zalo": "z-head"},
        "staff": [{"name": "Phạm Thị D", "zalo": "z-staff"}, {"name": "Võ Văn E", "telegram": 2103}],
    },
]


@pytest.fixture
def config(tmp_path: Any) -> Config:
    """This module's directory and admin; conftest's store and dispatcher are built on it."""
    return make_config(tmp_path, units=UNITS, admins=[{"name": "Quản trị", "zalo": "z-admin"}])


class Loop:
    """The Zalo channel on a fake Zalo API, and Telegram as a recording sender."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.zalo = FakeZalo()
        self.channel = ZaloChannel(self.zalo.client(), dispatcher, dispatcher.chats)
        self.telegram = RecordingSender()
        self.senders = {"zalo": self.channel, "telegram": self.telegram}
        self.dispatcher = dispatcher

    async def type(self, user: str, message: str) -> str:
        """`user` types `message` on Zalo; what the bot answered, all messages joined."""
        before = len(self.zalo.sent)
        chat = {"id": user, "chat_type": "PRIVATE"}
        message_update = {"from": {"id": user}, "chat": chat, "text": message}
        await self.channel.answer_update({"event_name": "message.text.received", "message": message_update})
        return "\n---\n".join(m["text"] for m in self.zalo.sent[before:] if m["chat_id"] == user)

    def received(self, user: str) -> list[str]:
        return [m["text"] for m in self.zalo.sent if m["chat_id"] == user]


async def zalo_complaint(dispatcher: Dispatcher, config: Config, store: SQLiteStorage) -> int:
    _, token = await add_dossier(config, store)
    citizen = Citizen(dispatcher, chat_id="z-citizen", channel="zalo")
    await citizen.command("start", token)
    await citizen.press("Không hài lòng")
    await citizen.press("Lý do khác")
    await citizen.say("Cán bộ hẹn lên hẹn xuống")
    (case,) = await store.cases.list_cases(["Q1-BN"])
    return case.id


async def test_options_are_numbered_on_across_a_batch_and_typed_commands_are_shown_as_lines(store):
    replies = [
        Reply("Chọn:", (Option("a", "Một"), Option("b", "Hai")), "Gõ số."),
        Reply("Phản ánh #7", (Option("c7", "Giao xử lý", typed="👉 gõ «giao 7»"),)),
        Reply("Trang:", (Option("p", "Trang sau"),), "Gõ số."),
    ]
    address = Address("zalo", "u")
    shown = await number_replies(store.chats, address, replies, conversation=True, now=NOW)
    assert shown.texts[0] == "Chọn:\n\n1. Một\n2. Hai"  # the hint only once, after the last numbered options
    assert shown.texts[1] == "Phản ánh #7\n\n👉 gõ «giao 7»"
    assert shown.texts[2] == "Trang:\n\n3. Trang sau\n\nGõ số."
    assert (await store.chats.get_chat_state("zalo", "u")).menu == ()  # not yet sent: not yet shown
    await remember_shown(store.chats, shown, len(shown.texts), NOW)
    assert (await store.chats.get_chat_state("zalo", "u")).menu == (
        ("a", "Một"),
        ("b", "Hai"),
        ("p", "Trang sau"),
    )
    # a notice soon after numbers on; the next answer to the person starts at 1 again
    notice = await number_replies(store.chats, address, [replies[2]], conversation=False, now=NOW)
    assert notice.texts == ["Trang:\n\n4. Trang sau\n\nGõ số."]
    await remember_shown(store.chats, notice, 1, NOW)
    assert [key for key, _ in (await store.chats.get_chat_state("zalo", "u")).menu] == ["a", "b", "p", "p"]
    answer = await number_replies(store.chats, address, [Reply("Cảm ơn")], conversation=True, now=NOW)
    await remember_shown(store.chats, answer, 1, NOW)
    assert answer.texts == ["Cảm ơn"] and (await store.chats.get_chat_state("zalo", "u")).menu == ()


async def test_options_numbered_while_another_message_was_numbered_are_not_remembered(store):
    address = Address("zalo", "u")
    await remember_shown(
        store.chats,
        await number_replies(
            store.chats, address, [Reply("A", (Option("a", "A"),))], conversation=True, now=NOW
        ),
        1,
        NOW,
    )
    notice = await number_replies(
        store.chats, address, [Reply("N", (Option("n", "N"),))], conversation=False, now=NOW
    )
    assert notice.texts == ["N\n\n2. N"]
    # meanwhile an answer to the person replaced the menu with three options
    answer = await number_replies(
        store.chats, address, [Reply("B", tuple(Option(k, k) for k in "xyz"))], conversation=True, now=NOW
    )
    await remember_shown(store.chats, answer, 1, NOW)
    await remember_shown(store.chats, notice, 1, NOW)  # "2" was shown for N, but 2 is now "y"
    assert [key for key, _ in (await store.chats.get_chat_state("zalo", "u")).menu] == ["x", "y", "z"]


def test_a_typed_choice_is_a_number_shown_or_words_no_other_option_has():
    menu = [("s1", "Hài lòng"), ("s2", "Không hài lòng"), ("c1", "Giao xử lý"), ("c2", "Giao xử lý")]
    assert typed_choice(menu, " 2. ") == "s2"
    assert typed_choice(menu, "KHONG hai  long") == "s2"
    assert typed_choice(menu, "giao xu ly") is None  # two options say so: a number is needed
    assert typed_choice(menu, "5") is None and typed_choice(menu, "0") is None
    assert typed_choice([], "1") is None


@settings(max_examples=300)
@given(typed=st.text(max_size=40))
def test_any_typed_text_is_a_choice_or_nothing_never_an_error(typed: str):
    menu = [("a", "Một"), ("b", "Hai")]
    assert typed_choice(menu, typed) in {"a", "b", None}
    assert typed_case_button(typed) is None or isinstance(typed_case_button(typed), CaseButton)
    assert typed_choice(menu, "²") is None and typed_case_button("giao ²") is None  # digits int() refuses


async def test_anyone_can_ask_for_their_id_to_be_added_to_the_directory(dispatcher):
    loop = Loop(dispatcher)
    assert "Mã người dùng Zalo của Ông/Bà: z-new-staff" in await loop.type("z-new-staff", "/id")
    assert "(zalo: z-new-staff)" in await loop.type("z-new-staff", "/myid")


def test_the_directory_takes_zalo_ids_beside_or_instead_of_telegram(tmp_path: Any):
    from bot.config import ConfigError, load_config

    bad = tmp_path / "bad.yaml"
    bad.write_text("units:\n  - {code: A, name: Phường A, head: {name: Không Liên Lạc}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="give a telegram or a zalo user id"):
        load_config(bad)
    good = tmp_path / "good.yaml"
    good.write_text(
        "units:\n  - {code: A, name: Phường A, head: {name: An, zalo: 1234567890}}\n", encoding="utf-8"
    )
    (unit,) = load_config(good).units
    assert unit.head is not None and unit.head.zalo == "1234567890"  # YAML's number read as the id it is
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        "units:\n  - {code: A, name: Phường A, head: {name: An, zalo: 'a b'}}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="zalo"):
        load_config(wrong)


async def test_the_whole_loop_on_zalo_by_typing(config, store, dispatcher, handlers: Handlers):
    case_id = await zalo_complaint(dispatcher, config, store)
    loop = Loop(dispatcher)

    # The head has Telegram and Zalo; having written on Zalo last, the digest comes there.
    assert "/cases" in await loop.type("z-head", "/help")
    run = await handlers.digests.send(loop.senders, MORNING, show=5)
    assert run.sent == 1 and loop.telegram.sent == []
    header, complaint = loop.received("z-head")[-2:]
    assert "Báo cáo ngày 27/11/2026 · UBND Phường Bến Nghé" in header
    assert "Cán bộ hẹn lên hẹn xuống" in complaint and f"gõ «giao {case_id}»" in complaint

    # Assign by the short command, then the staff member's number.
    answer = await loop.type("z-head", f"giao {case_id}")
    assert "1. Phạm Thị D\n2. Võ Văn E" in answer and "gõ số thứ tự" in answer
    answer = await loop.type("z-head", "có lẽ chị D")  # neither a number nor a name
    assert "chưa hiểu" in answer and "1. Phạm Thị D" in answer
    assert "Đã giao phản ánh" in await loop.type("z-head", "1")
    assert (await store.cases.get_case(case_id)).state == CaseState.ASSIGNED

    # Notices: the staff member (Zalo only) and the citizen (on Zalo) hear of it.
    await handlers.notices.send(loop.senders, NOW)
    (to_staff,) = loop.received("z-staff")
    assert "Ông/Bà được giao xử lý phản ánh sau" in to_staff and f"gõ «xong {case_id}»" in to_staff
    assert "đã được giao cho cán bộ Phạm Thị D" in loop.received("z-citizen")[-1]

    # The staff member resolves with the short command and a note.
    assert "Xin nhập ngắn gọn" in await loop.type("z-staff", f"Xong {case_id}")
    assert "Đã ghi nhận" in await loop.type("z-staff", "1")  # a note may be anything, even "1"
    assert (await store.cases.get_case(case_id)).resolution == "1"

    # The citizen is told and answers by number; the head hears it was not resolved.
    await handlers.notices.send(loop.senders, NOW)
    resolved = loop.received("z-citizen")[-1]
    assert "1. Đã được giải quyết\n2. Chưa được giải quyết" in resolved
    assert "mở lại" in await loop.type("z-citizen", "2")
    await handlers.notices.send(loop.senders, NOW)
    reopened = loop.received("z-head")[-1]
    assert "CHƯA được giải quyết" in reopened and f"gõ «giao {case_id}»" in reopened
    assert (await store.cases.get_case(case_id)).state == CaseState.REOPENED


async def test_typed_commands_check_who_types_them(config, store, dispatcher):
    case_id = await zalo_complaint(dispatcher, config, store)
    loop = Loop(dispatcher)
    assert "không có quyền" in await loop.type("z-staff", f"giao {case_id}")
    assert "không có quyền" in await loop.type("z-staff", f"/giao {case_id}")
    # for anyone not in the directory these are just words: no short command, no case touched
    assert "không có phiếu khảo sát nào đang mở" in await loop.type("z-stranger", f"giao {case_id}")
    assert "không hiểu lệnh" in await loop.type("z-citizen", f"/giao {case_id}")
    await loop.type("z-head", f"giao {case_id}")
    await loop.type("z-head", "2")  # to Võ Văn E
    for who in ("z-staff", "z-head"):
        assert "không có quyền" in await loop.type(who, f"xong {case_id}")
    await loop.type("z-citizen", f"xong {case_id}")
    assert (await store.chats.get_chat_state("zalo", "z-citizen")).awaiting is None
    assert "không còn hiệu lực" in await loop.type("z-head", "giao 999")
    case = await store.cases.get_case(case_id)
    assert case.state == CaseState.ASSIGNED and case.assignee_name == "Võ Văn E"


async def test_a_person_is_written_to_on_their_other_chat_when_one_is_blocked(
    config, store, dispatcher, handlers: Handlers
):
    await zalo_complaint(dispatcher, config, store)
    loop = Loop(dispatcher)
    loop.telegram.outcomes["2101"] = Delivery.UNREACHABLE
    run = await handlers.digests.send(loop.senders, MORNING, show=5)
    assert run.sent == 1 and len(loop.received("z-head")) == 2  # Telegram first (as listed), then Zalo
    assert (await store.chats.get_chat_state("telegram", "2101")).unreachable_since is not None


async def test_a_digest_waits_for_no_channel_the_head_lacks(config, store, dispatcher, handlers: Handlers):
    await zalo_complaint(dispatcher, config, store)
    telegram_only = RecordingSender()
    await handlers.digests.send({"telegram": telegram_only}, MORNING, show=5)
    assert [chat for chat, _ in telegram_only.sent] == ["2101", "2101"]


async def test_a_notice_to_a_zalo_only_person_waits_until_zalo_runs(
    config, store, dispatcher, handlers: Handlers
):
    case_id = await zalo_complaint(dispatcher, config, store)
    head = Citizen(dispatcher, chat_id="2101")
    await head.press_key(CaseButton(case_id, CaseAction.ASSIGN))
    await head.press("Phạm Thị D")
    telegram_only = RecordingSender()
    first = await handlers.notices.send({"telegram": telegram_only}, NOW)
    assert first.waiting == 2 and telegram_only.sent == []  # the staff member and the citizen are on Zalo
    loop = Loop(dispatcher)
    second = await handlers.notices.send(loop.senders, NOW)
    assert second.sent == 2 and len(loop.received("z-staff")) == 1


async def test_adding_a_zalo_id_is_shown_as_a_change_not_a_new_person(config, store, dispatcher):
    units = [dict(UNITS[0], staff=[{"name": "Phạm Thị D", "zalo": "z-staff"},
                                    {"name": "Võ Văn E", "telegram": 2103, "zalo": "z-e"}])]  # fmt: skip
    source = yaml.safe_dump({"units": units}, allow_unicode=True)
    change = await plan_directory(store.directory, store.digests, source, "d.yaml", NOW.date())
    assert change.people_added == [] and change.people_removed == []
    assert change.lines("vi") == ["~ Võ Văn E: telegram 2103 → telegram 2103, zalo z-e"]
    await apply_directory(store.directory, change, NOW, "test")
    (person,) = await store.directory.people_at("zalo", "z-e")
    assert person.name == "Võ Văn E" and [
        p.id for p in await store.directory.people_at("telegram", "2103")
    ] == [person.id]


async def test_a_second_bot_process_sees_the_numbers_the_first_showed(config, store, dispatcher):
    """The menu is stored: a digest sent by `feedback-bot digest` is answered in the running bot."""
    case_id = await zalo_complaint(dispatcher, config, store)
    await Loop(dispatcher).type("z-head", f"giao {case_id}")
    other_store = SQLiteStorage(config.database)  # another process on the same database
    await other_store.open()
    try:
        assert "Đã giao phản ánh" in await Loop(build_dispatcher(config, other_store)).type("z-head", "1")
    finally:
        await other_store.close()


async def test_an_admin_on_zalo_lists_and_activates_question_sets_by_typing(config, store, dispatcher):
    await zalo_complaint(dispatcher, config, store)  # the default set is stored with its first survey
    source = (Path(__file__).parents[1] / "handlers" / "question_sets" / "default.yaml").read_text("utf-8")
    changed = source.replace("Khảo sát mức độ hài lòng", "Khảo sát mức độ hài lòng (bản 2)", 1)
    stored, _ = await dispatcher.survey.sets.import_set(changed, "second.yaml", NOW, "test")
    loop = Loop(dispatcher)
    assert "chỉ dành cho quản trị" in await loop.type("z-citizen", "/questions")
    listing = await loop.type("z-admin", "/questions")
    assert f"1. Kích hoạt #{stored.id}" in listing and "gõ số thứ tự" in listing
    assert "Đã kích hoạt" in await loop.type("z-admin", "1")
    assert [s.id for s in await store.question_sets.active_question_sets()] == [stored.id]


async def test_english_speakers_type_the_english_commands(config, store, dispatcher, handlers: Handlers):
    case_id = await zalo_complaint(dispatcher, config, store)
    loop = Loop(dispatcher)
    await loop.type("z-head", "/language en")
    await handlers.digests.send(loop.senders, MORNING, show=5)
    assert f"type «assign {case_id}»" in loop.received("z-head")[-1]
    assert "1. Phạm Thị D" in await loop.type("z-head", f"Assign #{case_id}")
    assert "is assigned to Phạm Thị D" in await loop.type("z-head", "pham thi d")  # the name, typed loosely
    await loop.type("z-staff", "/language en")
    await handlers.notices.send(loop.senders, NOW)
    assert f"type «done {case_id}»" in loop.received("z-staff")[-1]
    assert "Please write briefly" in await loop.type("z-staff", f"done {case_id}")


async def test_notices_waiting_for_a_channel_never_hold_back_the_others(
    config, store, dispatcher, handlers: Handlers
):
    import sqlite3

    case_id = await zalo_complaint(dispatcher, config, store)
    with sqlite3.connect(config.database) as db:  # many notices to Zalo chats, recorded first
        db.executemany(
            "INSERT INTO notices (case_id, kind, channel, chat_id, created_at)"
            " VALUES (?, 'assigned', 'zalo', ?, ?)",
            [(case_id, f"z-{n}", NOW.isoformat()) for n in range(150)],
        )
    head = Citizen(dispatcher, chat_id="2101")
    await head.press_key(CaseButton(case_id, CaseAction.ASSIGN))
    await head.press("Võ Văn E")  # on Telegram only
    telegram_only = RecordingSender()
    run = await handlers.notices.send({"telegram": telegram_only}, NOW)
    assert run.sent == 1 and run.waiting == 151  # the citizen's notice and the 150 wait for Zalo
    assert [chat for chat, _ in telegram_only.sent] == ["2103"]


async def test_a_notice_blocked_on_one_chat_waits_for_the_persons_other_channel(
    config, store, dispatcher, handlers: Handlers
):
    case_id = await zalo_complaint(dispatcher, config, store)
    (head,) = [p for p in await store.directory.unit_people("Q1-BN") if p.role.value == "head"]
    await store.cases.change_case(
        case_id, from_states=(CaseState.NEW,), to_state=CaseState.REOPENED, actor="test", action="reopened",
        now=NOW, notices=(NoticeTo(kind="reopened", channel="telegram", chat_id="2101", person_id=head.id),),
    )  # fmt: skip
    blocked = RecordingSender(outcomes={"2101": Delivery.UNREACHABLE})
    first = await handlers.notices.send({"telegram": blocked}, NOW)
    assert first.waiting == 1 and first.unreachable == 0  # Zalo is not running here: it waits for it
    loop = Loop(dispatcher)
    second = await handlers.notices.send(loop.senders, NOW)
    assert second.sent == 1 and "CHƯA được giải quyết" in loop.received("z-head")[-1]
    assert loop.telegram.sent == []  # the blocked Telegram chat is not tried again


def test_typed_words_match_without_punctuation_and_by_a_unique_start():
    menu = [
        ("f1", "Thái độ, hướng dẫn của cán bộ"),
        ("f2", "Thời gian giải quyết"),
        ("s1", "Hài lòng"),
        ("s2", "Không hài lòng"),
    ]
    assert typed_choice(menu, "thai do huong dan cua can bo") == "f1"  # no comma typed
    assert typed_choice(menu, "Thái độ, hướng dẫn của cán bộ!") == "f1"
    assert typed_choice(menu, "thai do") == "f1"  # the start of one option's words
    assert typed_choice(menu, "thoi gi") == "f2"  # the last word cut short
    assert typed_choice(menu, "khong") == "s2"
    assert typed_choice(menu, "th") is None  # both start so; and too short to be a choice
    assert typed_choice(menu, "hai") is None  # "hai" is also "two": a start this short chooses nothing
    assert typed_choice(menu, "hài lòng") == "s1"  # whole words win over a start ("không hài lòng" ≠)
    assert typed_choice(menu, "-1") is None and typed_choice(menu, "...") is None
