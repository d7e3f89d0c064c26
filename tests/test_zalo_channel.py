"""The Zalo channel offline: its client against httpx's MockTransport (polling with 408s, 403,
429, splitting), and the channel running the survey by typed numbers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from bot.channels.zalo import ZaloChannel, ZaloClient
from handlers.chat import Delivery, Option, Reply
from storage.records import Rating
from tests.conftest import NOW


class FakeZalo:
    """A Zalo Bot API: queued updates, recorded calls, faults to switch on."""

    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.faults: list[tuple[int, int, str]] = []  # (http status, error code, description)

    def handle(self, request: httpx.Request) -> httpx.Response:
        method = request.url.path.rsplit("/", 1)[-1]
        body = json.loads(request.content or b"{}")
        if method == "getMe":
            return httpx.Response(200, json={"ok": True, "result": {"id": "1", "account_name": "bot.Test"}})
        if method == "getUpdates":
            if self.updates:
                return httpx.Response(200, json={"ok": True, "result": self.updates.pop(0)})
            return httpx.Response(
                200, json={"ok": False, "error_code": 408, "description": "Request Timeout"}
            )
        if self.faults:
            status, code, description = self.faults.pop(0)
            return httpx.Response(status, json={"ok": False, "error_code": code, "description": description})
        if len(body.get("text", "").encode("utf-16-le")) // 2 > 2000:  # as the emulator counts (JavaScript)
            return httpx.Response(400, json={"ok": False, "error_code": 400, "description": "too long"})
        self.sent.append(body)
        return httpx.Response(200, json={"ok": True, "result": {"message_id": "m", "date": 0}})

    def client(self) -> ZaloClient:
        return ZaloClient("https://zalo.test/bot", "1:abc", transport=httpx.MockTransport(self.handle))

    def text_from(self, user: str, text: str) -> None:
        self.updates.append(
            {
                "event_name": "message.text.received",
                "message": {
                    "from": {"id": user, "display_name": "Dân", "is_bot": False},
                    "chat": {"id": user, "chat_type": "PRIVATE"},
                    "text": text,
                    "message_id": "x",
                    "date": 0,
                },
            }
        )


async def test_polling_treats_408_as_nothing_new():
    zalo = FakeZalo()
    client = zalo.client()
    assert await client.next_update(wait=0) is None
    zalo.text_from("u1", "xin chào")
    update = await client.next_update(wait=0)
    assert update is not None and update["message"]["text"] == "xin chào"
    await client.close()


async def test_a_citizen_answers_by_typing_numbers(config, store, dispatcher):
    zalo = FakeZalo()
    channel = ZaloChannel(zalo.client(), dispatcher, dispatcher.chats)
    dossier = await store.dossiers.add_dossier(
        code="HS-Z",
        unit_code="Q1-BN",
        procedure="Đăng ký khai sinh",
        link_id="lz",
        now=NOW,
        returned_at=NOW,
        survey_code="ABCDE-FGHJK",
    )
    for typed in ("abcde fghjk", "khong hai long", "3", "Cán bộ không nghe máy"):
        zalo.text_from("u1", typed)
        await channel.answer_update((await channel.client.next_update(wait=0)) or {})
    texts = [m["text"] for m in zalo.sent]
    assert "1. Hài lòng\n2. Bình thường\n3. Không hài lòng" in texts[0] and "gõ số thứ tự" in texts[0]
    assert "6. Lý do khác" in texts[1]
    assert "Thủ trưởng UBND Phường Bến Nghé" in texts[-1]
    answer = await store.surveys.get_answer(dossier.id)
    assert answer.channel == "zalo" and answer.follow_ups[0].option_id == "staff"
    assert answer.texts == {"complaint": "Cán bộ không nghe máy"}
    await channel.stop()


async def test_stickers_get_a_polite_reply(dispatcher):
    zalo = FakeZalo()
    channel = ZaloChannel(zalo.client(), dispatcher, dispatcher.chats)
    await channel.answer_update({"event_name": "message.sticker.received", "message": {
        "from": {"id": "u2"}, "chat": {"id": "u2", "chat_type": "PRIVATE"}, "sticker": "s"}})  # fmt: skip
    assert "Xin lỗi, bot chỉ nhận tin nhắn chữ" in zalo.sent[0]["text"]
    await channel.stop()


async def test_blocked_flooded_and_long_messages(store, dispatcher):
    zalo = FakeZalo()
    channel = ZaloChannel(zalo.client(), dispatcher, dispatcher.chats)
    zalo.faults.append((403, 403, "Forbidden: user has blocked the bot"))
    assert await channel.send("u3", Reply("Xin chào")) == Delivery.UNREACHABLE
    assert (await store.chats.get_chat_state("zalo", "u3")).unreachable_since is not None
    zalo.faults += [(429, 429, "Too Many Requests: retry after 0")] * 2
    assert await channel.send("u4", Reply("Xin chào", (Option("k", "Một"),))) == Delivery.SENT
    assert zalo.sent[-1] == {"chat_id": "u4", "text": "Xin chào\n\n1. Một"}
    long = ("Đoạn văn dài. " * 400).strip()
    assert await channel.send("u5", Reply(long)) == Delivery.SENT
    pieces = [m["text"] for m in zalo.sent if m["chat_id"] == "u5"]
    assert len(pieces) == 3 and all(len(p) <= 2000 for p in pieces) and " ".join(pieces) == long
    zalo.faults.append((500, 500, "Internal error"))
    assert await channel.send("u6", Reply("x")) == Delivery.FAILED
    await channel.stop()


async def test_webhook_mode_checks_the_secret(config, store, dispatcher, unused_tcp_port):
    from bot.channels.zalo import Webhook

    zalo = FakeZalo()
    url = f"http://127.0.0.1:{unused_tcp_port}/zalo/hook"
    channel = ZaloChannel(
        zalo.client(),
        dispatcher,
        dispatcher.chats,
        Webhook(url=url, secret="s3cret-token", port=unused_tcp_port),
    )
    await channel.start()
    update = {"event_name": "message.text.received", "message": {
        "from": {"id": "w1"}, "chat": {"id": "w1", "chat_type": "PRIVATE"}, "text": "/help"}}  # fmt: skip
    try:
        async with httpx.AsyncClient() as http:
            refused = await http.post(url, json=update, headers={"X-Bot-Api-Secret-Token": "wrong-secret"})
            missing = await http.post(url, json=update)
            accepted = await http.post(url, json=update, headers={"X-Bot-Api-Secret-Token": "s3cret-token"})
        assert (refused.status_code, missing.status_code, accepted.status_code) == (403, 403, 200)
        for _ in range(100):
            if any(m.get("chat_id") == "w1" for m in zalo.sent):
                break
            await asyncio.sleep(0.02)
        helps = [m for m in zalo.sent if m.get("chat_id") == "w1"]
        assert len(helps) == 1 and "/language" in helps[0]["text"]  # only the request with the secret
        assert {"url": url, "secret_token": "s3cret-token"} in zalo.sent  # setWebhook registered it
    finally:
        await channel.stop()


def waiting_client(zalo: FakeZalo, slow_chat: str = "", gate: asyncio.Event | None = None) -> ZaloClient:
    """A client of the fake whose polls, with nothing new, wait a moment as Zalo's long polls do;
    messages to `slow_chat` wait for `gate`."""

    async def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/getUpdates") and not zalo.updates:
            await asyncio.sleep(0.01)
        if gate is not None and json.loads(request.content or b"{}").get("chat_id") == slow_chat:
            await gate.wait()
        return zalo.handle(request)

    return ZaloClient("https://zalo.test/bot", "1:abc", transport=httpx.MockTransport(handle))


async def test_polling_answers_one_chat_in_order_and_others_beside_it(config, store, dispatcher):
    """A chat whose replies are slow (a flood wait, say) does not hold up another chat, and a
    chat's quick answers are taken in the order typed."""
    zalo = FakeZalo()
    gate = asyncio.Event()  # the slow chat's messages wait until the fast chat is answered
    client = waiting_client(zalo, slow_chat="slow", gate=gate)
    channel = ZaloChannel(client, dispatcher, dispatcher.chats)
    code = "ABCDE-FGHJK"
    await store.dossiers.add_dossier(
        code="HS-ORDER", unit_code="Q1-BN", procedure="Đăng ký khai sinh", link_id="lo", now=NOW,
        returned_at=NOW, survey_code=code,
    )  # fmt: skip
    for typed in (code, "3", "6"):
        zalo.text_from("slow", typed)
    zalo.text_from("fast", "/help")
    await channel.start()
    await channel.start_polling()  # the only process: it polls
    try:
        for _ in range(200):
            if any(m.get("chat_id") == "fast" for m in zalo.sent):
                break
            await asyncio.sleep(0.01)
        assert [m.get("chat_id") for m in zalo.sent if "text" in m] == ["fast"]  # answered while "slow" waits
        gate.set()
        for _ in range(200):
            if len([m for m in zalo.sent if m.get("chat_id") == "slow"]) >= 3:
                break
            await asyncio.sleep(0.01)
    finally:
        await channel.stop()
    slow = [m["text"] for m in zalo.sent if m.get("chat_id") == "slow"]
    assert "3. Không hài lòng" in slow[0] and "6. Lý do khác" in slow[1] and "mô tả" in slow[2]


async def test_malformed_updates_are_ignored_and_polling_goes_on(dispatcher):
    zalo = FakeZalo()
    zalo.updates += [
        {"event_name": "message.text.received", "message": "not an object"},
        {"event_name": "message.text.received", "message": {"chat": ["x"], "from": 5, "text": "hi"}},
        {"message": {"chat": {"id": "g1", "chat_type": "GROUP"}, "text": "/help"}},  # groups: ignored
    ]
    zalo.text_from("after", "/help")
    channel = ZaloChannel(waiting_client(zalo), dispatcher, dispatcher.chats)
    await channel.start()
    await channel.start_polling()
    try:
        for _ in range(200):
            if any(m.get("chat_id") == "after" for m in zalo.sent):
                break
            await asyncio.sleep(0.01)
    finally:
        await channel.stop()
    assert [m.get("chat_id") for m in zalo.sent if "text" in m] == ["after"]


async def test_a_webhook_body_that_is_not_an_update_is_refused(dispatcher, unused_tcp_port):
    from bot.channels.zalo import Webhook

    url = f"http://127.0.0.1:{unused_tcp_port}/hook"
    channel = ZaloChannel(
        FakeZalo().client(),
        dispatcher,
        dispatcher.chats,
        Webhook(url=url, secret="s3cret-token", port=unused_tcp_port),
    )
    await channel.start()
    try:
        async with httpx.AsyncClient() as http:
            headers = {"X-Bot-Api-Secret-Token": "s3cret-token"}
            as_list = await http.post(url, json=[1, 2], headers=headers)
            not_json = await http.post(url, content=b"{oops", headers=headers)
        assert (as_list.status_code, not_json.status_code) == (400, 400)
    finally:
        await channel.stop()


async def test_an_emoji_complaint_is_stored_whole_and_a_message_holding_it_is_delivered(
    config, store, dispatcher
):
    zalo = FakeZalo()
    channel = ZaloChannel(zalo.client(), dispatcher, dispatcher.chats)
    dossier = await store.dossiers.add_dossier(
        code="HS-E", unit_code="Q1-BN", procedure="Đăng ký khai sinh", link_id="le", now=NOW,
        returned_at=NOW, survey_code="ABCDE-FGHJK",
    )  # fmt: skip
    angry = "😡" * 1500  # 1,500 characters a person sees, 3,000 UTF-16 units
    for typed in ("ABCDE-FGHJK", "3", "6", angry):
        zalo.text_from("u1", typed)
        await channel.answer_update((await channel.client.next_update(wait=0)) or {})
    assert (await store.surveys.get_answer(dossier.id)).texts == {"complaint": angry}
    notice = f"Phản ánh #1 tại UBND Phường Bến Nghé: «{angry}»"
    assert await channel.send("head", Reply(notice, (Option("c1.assign", "Giao xử lý"),))) == Delivery.SENT
    pieces = [m["text"] for m in zalo.sent if m["chat_id"] == "head"]
    assert len(pieces) == 2 and all(len(p.encode("utf-16-le")) // 2 <= 2000 for p in pieces)
    assert "".join(pieces).startswith(notice) and pieces[-1].endswith("1. Giao xử lý")
    await channel.stop()


async def test_a_complaint_over_the_limit_is_refused_politely_not_lost(config, store, dispatcher):
    zalo = FakeZalo()
    channel = ZaloChannel(zalo.client(), dispatcher, dispatcher.chats)
    zalo.text_from("u1", "😡" * 2001)
    await channel.answer_update((await channel.client.next_update(wait=0)) or {})
    assert "Nội dung quá dài (2001 ký tự)" in zalo.sent[-1]["text"]
    await channel.stop()


# Numbered options count as shown only once Zalo accepted the message that shows them.


async def test_options_of_a_reply_that_was_not_sent_are_not_taken_for_a_typed_number(
    config, store, dispatcher
):
    zalo = FakeZalo()
    channel = ZaloChannel(zalo.client(), dispatcher, dispatcher.chats)
    dossier = await store.dossiers.add_dossier(
        code="HS-M", unit_code="Q1-BN", procedure="Đăng ký khai sinh", link_id="lm", now=NOW,
        returned_at=NOW, survey_code="ABCDE-FGHJK",
    )  # fmt: skip

    async def types(text: str) -> list[str]:
        before = len(zalo.sent)
        zalo.text_from("u1", text)
        await channel.answer_update((await channel.client.next_update(wait=0)) or {})
        return [m["text"] for m in zalo.sent[before:]]

    zalo.faults.append((500, 500, "Internal error"))  # the rating question never reaches the citizen
    assert await types("ABCDE-FGHJK") == []
    assert (await store.chats.get_chat_state("zalo", "u1")).menu == ()
    shown = await types("3")  # a "3" for a question never seen answers nothing: the question comes
    assert await store.surveys.get_answer(dossier.id) is None
    assert "3. Không hài lòng" in shown[-1]
    assert "6. Lý do khác" in (await types("3"))[-1]  # now seen: 3 is "Không hài lòng"
    assert (await store.surveys.get_answer(dossier.id)).rating == Rating.UNSATISFIED

    zalo.faults.append((500, 500, "Internal error"))  # the follow-up question's answer is lost too
    menu = (await store.chats.get_chat_state("zalo", "u1")).menu
    assert await types("2") == []
    assert (await store.chats.get_chat_state("zalo", "u1")).menu == menu  # the menu the citizen saw
    shown = await types("1")  # "1" of the question the citizen still sees: that one was answered
    answer = await store.surveys.get_answer(dossier.id)
    assert [f.option_id for f in answer.follow_ups] == ["procedure"] and answer.texts == {}
    assert "không còn hiệu lực" in shown[0] and "Bỏ qua" in shown[-1]  # and the question it waits on
    await channel.stop()


async def test_a_notice_that_was_not_sent_leaves_the_menu_as_it_was(store, dispatcher):
    zalo = FakeZalo()
    channel = ZaloChannel(zalo.client(), dispatcher, dispatcher.chats)
    assert await channel.send("u7", Reply("Chọn:", (Option("a", "Một"), Option("b", "Hai")))) == Delivery.SENT
    zalo.faults.append((500, 500, "Internal error"))
    assert await channel.send("u7", Reply("Thêm:", (Option("c", "Ba"),))) == Delivery.FAILED
    assert (await store.chats.get_chat_state("zalo", "u7")).menu == (("a", "Một"), ("b", "Hai"))
    assert await channel.send("u7", Reply("Thêm:", (Option("c", "Ba"),))) == Delivery.SENT
    assert zalo.sent[-1]["text"] == "Thêm:\n\n3. Ba"
    assert [key for key, _ in (await store.chats.get_chat_state("zalo", "u7")).menu] == ["a", "b", "c"]
    await channel.stop()


async def test_of_a_batch_only_the_options_of_messages_sent_are_remembered(store, dispatcher):
    zalo = FakeZalo()
    channel = ZaloChannel(zalo.client(), dispatcher, dispatcher.chats)
    first, second = Reply("Một:", (Option("a", "A"),)), Reply("Hai:", (Option("b", "B"),))
    original = zalo.handle

    def fail_second(request):  # the first message goes, the second is refused
        if b"Hai:" in request.content:
            return httpx.Response(500, json={"ok": False, "error_code": 500, "description": "Internal error"})
        return original(request)

    channel.client = ZaloClient("https://zalo.test/bot", "1:abc", transport=httpx.MockTransport(fail_second))
    assert await channel.send("u8", first, second) == Delivery.FAILED
    assert (await store.chats.get_chat_state("zalo", "u8")).menu == (("a", "A"),)
    await channel.stop()


async def test_only_the_elected_process_polls_and_polling_stops_when_it_is_deposed(dispatcher):
    zalo = FakeZalo()
    methods: list[str] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        methods.append(request.url.path.rsplit("/", 1)[-1])
        if methods[-1] == "getUpdates" and not zalo.updates:
            await asyncio.sleep(0.01)
        return zalo.handle(request)

    client = ZaloClient("https://zalo.test/bot", "1:abc", transport=httpx.MockTransport(handle))
    channel = ZaloChannel(client, dispatcher, dispatcher.chats)
    await channel.start()
    try:
        assert await channel.send("u1", Reply("Thông báo")) == Delivery.SENT  # a follower sends
        await asyncio.sleep(0.05)
        assert "getUpdates" not in methods and "deleteWebhook" not in methods and not channel.polling

        zalo.text_from("u2", "/help")
        await channel.start_polling()  # elected
        for _ in range(200):
            if any(m.get("chat_id") == "u2" for m in zalo.sent):
                break
            await asyncio.sleep(0.01)
        assert any(m.get("chat_id") == "u2" for m in zalo.sent) and channel.polling
        assert methods.index("deleteWebhook") < methods.index("getUpdates")

        await channel.stop_polling()  # deposed
        polls = methods.count("getUpdates")
        await asyncio.sleep(0.05)
        assert methods.count("getUpdates") == polls and not channel.polling
        assert await channel.send("u1", Reply("Vẫn gửi được")) == Delivery.SENT

        await channel.start_polling()  # elected again
        for _ in range(200):
            if methods.count("getUpdates") > polls:
                break
            await asyncio.sleep(0.01)
        assert methods.count("getUpdates") > polls
    finally:
        await channel.stop()
    assert not channel.polling
