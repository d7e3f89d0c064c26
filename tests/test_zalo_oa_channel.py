"""The OA chat channel offline (a fake Zalo over httpx.MockTransport, the real dispatcher and
database): a follower takes the survey by typed numbers, each event once, follow and unfollow,
delivery receipts, and Zalo's refusals (-230, -213, -32, 5xx) as deliveries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.channels.zalo_oa.channel import CHANNEL, ZaloOAChannel
from bot.channels.zalo_oa.webhook import OAEvent, ZaloOAWebhook, parse_event
from handlers.chat import Delivery, Option, Reply
from storage.zalo_oa_records import ZnsStatus
from tests.conftest import NOW
from tests.zalo_oa_fake import Clock, FakeZaloOA

T = "1764205200000"


class OA:
    """The channel over a fake Zalo, and the follower events a test sends it."""

    def __init__(self, channel: ZaloOAChannel, zalo: FakeZaloOA) -> None:
        self.channel, self.zalo = channel, zalo
        self.n = 0

    async def take(self, data: dict[str, Any]) -> None:
        event: OAEvent = parse_event(data, b"")
        await self.channel.take(event)
        while self.channel._handling:  # the answers run in the background
            await asyncio.gather(*self.channel._handling)

    async def text(self, user: str, text: str, msg_id: str | None = None) -> None:
        self.n += 1
        message = {"text": text, "msg_id": msg_id or f"m{self.n}"}
        await self.take({"event_name": "user_send_text", "timestamp": T, "sender": {"id": user},
                         "recipient": {"id": "oa1"}, "message": message})  # fmt: skip

    def texts(self, user: str) -> list[str]:
        return [m["message"]["text"] for m in self.zalo.sent if m["recipient"]["user_id"] == user]


@pytest.fixture
async def oa(store, dispatcher) -> AsyncIterator[OA]:
    clock = Clock()
    zalo = FakeZaloOA(clock)
    client, keeper = zalo.client(store.zalo_oa, zalo.refresh_token)
    webhook = ZaloOAWebhook("4291", "k3y", "/zalo-oa/webhook")
    channel = ZaloOAChannel(client, keeper, webhook, dispatcher, store.chats, store.zalo_oa, store.outbox,
                            clock=clock)  # fmt: skip
    await keeper.start()
    assert webhook.handle == channel.take
    yield OA(channel, zalo)
    await channel.stop()
    assert webhook.handle is None


async def test_a_follower_takes_the_survey_by_typing_numbers(oa, store):
    dossier = await store.dossiers.add_dossier(
        code="HS-OA", unit_code="Q1-BN", procedure="Đăng ký khai sinh", link_id="loa", now=NOW,
        returned_at=NOW, survey_code="ABCDE-FGHJK",
    )  # fmt: skip
    for typed in ("abcde fghjk", "khong hai long", "3", "Cán bộ không nghe máy"):
        await oa.text("u1", typed)
    texts = oa.texts("u1")
    assert "1. Hài lòng\n2. Bình thường\n3. Không hài lòng" in texts[0] and "gõ số thứ tự" in texts[0]
    assert "6. Lý do khác" in texts[1]
    assert "Thủ trưởng UBND Phường Bến Nghé" in texts[-1]
    answer = await store.surveys.get_answer(dossier.id)
    assert answer.channel == CHANNEL and answer.chat_id == "u1" and answer.follow_ups[0].option_id == "staff"
    assert answer.texts == {"complaint": "Cán bộ không nghe máy"}


async def test_an_event_sent_twice_is_answered_once_and_is_the_last_received(oa, store):
    await oa.text("u2", "/help", msg_id="same")
    await oa.text("u2", "/help", msg_id="same")
    assert len(oa.texts("u2")) == 1
    last = await store.zalo_oa.last_webhook_event()
    assert last is not None and (last.event_key, last.event_name) == ("user_send_text:same", "user_send_text")


async def test_a_sticker_gets_a_polite_reply(oa):
    await oa.take({"event_name": "user_send_sticker", "timestamp": T, "sender": {"id": "u3"},
                   "recipient": {"id": "oa1"}, "message": {"msg_id": "s1", "attachments": []}})  # fmt: skip
    assert "Xin lỗi, bot chỉ nhận tin nhắn chữ" in oa.texts("u3")[0]


async def test_a_new_follower_is_greeted_and_an_unfollow_marks_the_chat(oa, store):
    await oa.take({"event_name": "unfollow", "timestamp": T, "follower": {"id": "u4"}})
    assert (await store.chats.get_chat_state(CHANNEL, "u4")).unreachable_since is not None
    await oa.take({"event_name": "follow", "timestamp": "1764205300000", "follower": {"id": "u4"}})
    assert (await store.chats.get_chat_state(CHANNEL, "u4")).unreachable_since is None
    assert "mã khảo sát" in oa.texts("u4")[0]


async def test_a_delivery_receipt_is_recorded_against_its_message(oa, store):
    await store.zalo_oa.add_zns_message(purpose="rating", dossier_id=None, template_id="412345",
                                        tracking_id="tr1", phone="84901234567", now=NOW)  # fmt: skip
    await store.zalo_oa.mark_zns_sent("tr1", "zm1", NOW)
    receipt = {"event_name": "user_received_message", "timestamp": T,
               "message": {"msg_id": "zm1", "delivery_time": T, "tracking_id": "tr1"}}  # fmt: skip
    await oa.take(receipt)
    found = await store.zalo_oa.zns_message("tr1")
    assert found is not None and found.status == ZnsStatus.DELIVERED
    assert found.delivered_at is not None and int(found.delivered_at.timestamp() * 1000) == int(T)
    await oa.take({**receipt, "message": {"msg_id": "not-ours", "delivery_time": T}})  # logged, ignored


async def test_a_rating_goes_to_whoever_takes_ratings(oa, caplog):
    rating = {"msg_id": "zm9", "rate": 2, "feedbacks": ["Chờ đợi lâu"], "note": "Trễ hẹn"}
    feedback = {"event_name": "user_feedback", "timestamp": T, "message": rating}
    caplog.set_level(logging.INFO)
    await oa.take(feedback)
    assert "not taken as answers yet" in caplog.text
    got = []

    async def take_rating(event: Any) -> None:
        got.append(event)

    oa.channel.on_feedback = take_rating
    await oa.take({**feedback, "message": {**feedback["message"], "msg_id": "zm10"}})
    assert [e.message.rate for e in got] == [2]


async def test_zalo_refusals_become_deliveries(oa, store):
    zalo = oa.zalo
    assert await oa.channel.send("u5", Reply("Xin chào", (Option("k", "Một"),))) == Delivery.SENT
    assert oa.texts("u5") == ["Xin chào\n\n1. Một"]
    zalo.faults.append((-230, "User has not interacted with the OA in the last 48 hours"))
    assert await oa.channel.send("u5", Reply("Thư xin lỗi")) == Delivery.REFUSED
    assert (await store.chats.get_chat_state(CHANNEL, "u5")).unreachable_since is None
    zalo.faults.append((-213, "User has not followed the OA"))
    assert await oa.channel.send("u6", Reply("Xin chào")) == Delivery.UNREACHABLE
    assert (await store.chats.get_chat_state(CHANNEL, "u6")).unreachable_since is not None
    zalo.faults += [(-32, "Exceeded rate limit")] * 2
    assert await oa.channel.send("u7", Reply("Xin chào")) == Delivery.SENT
    assert oa.channel.clock.slept == [1.0, 2.0]
    zalo.faults += [(-32, "Exceeded rate limit")] * 100
    assert await oa.channel.send("u7", Reply("Xin chào")) == Delivery.FAILED  # past SEND_PATIENCE
    zalo.faults.clear()
    zalo.faults.append((502, ""))
    assert await oa.channel.send("u8", Reply("Xin chào")) == Delivery.FAILED
    zalo.faults.append((-201, "message is invalid"))
    assert await oa.channel.send("u8", Reply("Xin chào")) == Delivery.REFUSED


async def test_an_answer_that_does_not_get_through_is_kept_for_the_outbox(oa, store):
    oa.zalo.faults.append((-230, "User has not interacted with the OA in the last 48 hours"))
    await oa.text("u9", "/help")
    (kept,) = await store.outbox.undelivered_replies()
    assert (kept.channel, kept.chat_id) == (CHANNEL, "u9") and "48-hour" in kept.error


async def test_long_texts_are_cut_at_2000_units(oa):
    long = ("Đoạn văn dài. " * 400).strip()
    assert await oa.channel.send("u10", Reply(long)) == Delivery.SENT
    pieces = oa.texts("u10")
    assert len(pieces) == 3 and all(len(p) <= 2000 for p in pieces) and " ".join(pieces) == long
