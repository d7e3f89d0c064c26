"""The OA webhook: the signature checked before anything (right, wrong, missing, a body replayed
with another timestamp), every event type read into its record, and the route on the HTTP app:
no API key asked, 403 with a WARNING line and nothing stored for a forged call."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.channels.zalo_oa.webhook import (
    Follow,
    OAEvent,
    UnknownEvent,
    UserFeedback,
    UserReceivedMessage,
    UserSendSticker,
    UserSendText,
    ZaloOAWebhook,
    parse_event,
    signature,
)
from bot.config import ApiConfig
from bot.http.app import build_http_app
from tests.http_fake import FakeIntake

APP_ID, KEY, PATH = "4291", "oa-k3y", "/zalo-oa/webhook"
T = "1764205200000"

EVENTS: dict[str, dict[str, Any]] = {
    "user_send_text": {"app_id": APP_ID, "user_id_by_app": "app_u1", "event_name": "user_send_text",
                       "timestamp": T, "sender": {"id": "u1"}, "recipient": {"id": "oa1"},
                       "message": {"text": "xin chào", "msg_id": "m1"}},
    "user_send_sticker": {"app_id": APP_ID, "event_name": "user_send_sticker", "timestamp": T,
                          "sender": {"id": "u1"}, "recipient": {"id": "oa1"},
                          "message": {"msg_id": "m2",
                                      "attachments": [{"type": "sticker", "payload": {"id": "s"}}]}},
    "follow": {"app_id": APP_ID, "oa_id": "oa1", "user_id_by_app": "app_u1", "event_name": "follow",
               "source": "oa_profile", "follower": {"id": "u1"}, "timestamp": T},
    "unfollow": {"app_id": APP_ID, "oa_id": "oa1", "event_name": "unfollow", "follower": {"id": "u1"},
                 "timestamp": T},
    "user_received_message": {"app_id": APP_ID, "oa_id": "oa1", "event_name": "user_received_message",
                              "sender": {"id": "oa1"}, "recipient": {"id": "u1"},
                              "message": {"msg_id": "zm1", "delivery_time": T, "tracking_id": "tr1"},
                              "timestamp": T},
    "user_feedback": {"app_id": APP_ID, "oa_id": "oa1", "event_name": "user_feedback", "timestamp": T,
                      "message": {"note": "Trả kết quả trễ hẹn", "rate": 2, "submit_time": T,
                                  "msg_id": "zm1", "feedbacks": ["Chờ đợi lâu"], "tracking_id": "tr1",
                                  "template_id": "412345"}},
}  # fmt: skip


def signed(event: dict[str, Any], key: str = KEY) -> tuple[bytes, str]:
    body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    return body, "mac=" + signature(APP_ID, body, str(event["timestamp"]), key)


class Taken:
    def __init__(self) -> None:
        self.events: list[OAEvent] = []

    async def __call__(self, event: OAEvent) -> None:
        self.events.append(event)


@pytest.fixture
def taken() -> Taken:
    return Taken()


@pytest.fixture
def webhook(taken: Taken) -> ZaloOAWebhook:
    hook = ZaloOAWebhook(APP_ID, KEY, PATH)
    hook.handle = taken
    return hook


def test_the_signature_is_what_the_emulator_signs():
    # zalo_oa.js: sha256(`${appId}${body}${event.timestamp}${oaSecretKey}`), hex
    import hashlib

    body = b'{"timestamp":"1"}'
    assert signature("4291", body, "1", "k3y") == hashlib.sha256(b'4291{"timestamp":"1"}1k3y').hexdigest()


async def test_a_right_signature_is_taken(webhook, taken):
    body, mac = signed(EVENTS["user_send_text"])
    assert await webhook.receive(body, mac, "10.0.0.1") == 200
    assert [type(e) for e in taken.events] == [UserSendText]


@pytest.mark.parametrize(
    "forge",
    [
        lambda body, mac: (body, None),  # missing
        lambda body, mac: (body, ""),
        lambda body, mac: (body, mac.removeprefix("mac=")),  # without mac=
        lambda body, mac: (body, "mac=" + "0" * 64),  # wrong
        lambda body, mac: (body.replace(b"xin ch", b"XIN CH"), mac),  # the body changed
        lambda body, mac: (body.replace(T.encode(), b"1764205299999"), mac),  # replayed, another timestamp
        lambda body, mac: (b"not json", mac),
    ],
)
async def test_a_forged_call_gets_403_a_warning_and_nothing_else(webhook, taken, caplog, forge):
    body, mac = forge(*signed(EVENTS["user_send_text"]))
    caplog.set_level(logging.WARNING)
    assert await webhook.receive(body, mac, "10.0.0.9") == 403
    assert taken.events == []
    (line,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "refused a request from 10.0.0.9" in line.getMessage() and "xin" not in line.getMessage().lower()


async def test_a_signature_with_another_key_is_refused(webhook, taken):
    body, mac = signed(EVENTS["follow"], key="not-the-key")
    assert await webhook.receive(body, mac, None) == 403 and taken.events == []


async def test_every_event_type_is_read_into_its_record(webhook, taken):
    for event in EVENTS.values():
        assert await webhook.receive(*signed(event), None) == 200
    text, sticker, follow, unfollow, receipt, feedback = taken.events
    assert isinstance(text, UserSendText) and (text.sender.id, text.message.text) == ("u1", "xin chào")
    assert text.key == "user_send_text:m1"
    assert isinstance(sticker, UserSendSticker) and sticker.key == "user_send_sticker:m2"
    assert isinstance(follow, Follow) and follow.follower.id == "u1" and follow.key == f"follow:u1:{T}"
    assert isinstance(unfollow, Follow) and unfollow.key == f"unfollow:u1:{T}"
    assert isinstance(receipt, UserReceivedMessage) and receipt.message.tracking_id == "tr1"
    assert receipt.key == "user_received_message:zm1"
    assert isinstance(feedback, UserFeedback) and feedback.key == "user_feedback:zm1"
    assert (feedback.message.rate, feedback.message.feedbacks, feedback.message.note) == (
        2, ["Chờ đợi lâu"], "Trả kết quả trễ hẹn")  # fmt: skip
    assert (feedback.message.tracking_id, feedback.message.template_id) == ("tr1", "412345")


async def test_an_unknown_event_is_taken_as_such_and_answered_200(webhook, taken):
    event = {"app_id": APP_ID, "event_name": "user_send_gif", "timestamp": T, "message": {"msg_id": "g"}}
    assert await webhook.receive(*signed(event), None) == 200
    (unknown,) = taken.events
    assert isinstance(unknown, UnknownEvent) and unknown.event_name == "user_send_gif"
    assert unknown.key.startswith("user_send_gif:") and len(unknown.key) > len("user_send_gif:")


async def test_a_known_event_with_wrong_fields_is_400_and_not_taken(webhook, taken, caplog):
    event = {**EVENTS["user_feedback"], "message": {**EVENTS["user_feedback"]["message"], "rate": 9}}
    caplog.set_level(logging.WARNING)
    assert await webhook.receive(*signed(event), None) == 400 and taken.events == []
    assert "message.rate" in caplog.text and "Trả kết quả" not in caplog.text


def test_numbers_are_taken_for_ids_and_times():
    event = {**EVENTS["follow"], "timestamp": 1764205200000, "follower": {"id": 12345}}
    parsed = parse_event(event, b"")
    assert isinstance(parsed, Follow) and parsed.follower.id == "12345" and parsed.timestamp == T


async def test_before_the_channel_is_ready_events_get_503(taken):
    hook = ZaloOAWebhook(APP_ID, KEY, PATH)
    assert await hook.receive(*signed(EVENTS["follow"]), None) == 503


@pytest.fixture
async def http(webhook) -> AsyncIterator[httpx.AsyncClient]:
    app = build_http_app(FakeIntake(), ApiConfig(), zalo_oa=webhook)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as client:
        yield client


async def test_the_route_needs_no_api_key_and_answers_what_the_webhook_says(http, taken, caplog):
    body, mac = signed(EVENTS["user_send_text"])
    answered = await http.post(PATH, content=body, headers={"X-ZEvent-Signature": mac})
    assert answered.status_code == 200 and len(taken.events) == 1
    caplog.set_level(logging.WARNING)
    forged = await http.post(PATH, content=body, headers={"X-ZEvent-Signature": "mac=" + "1" * 64})
    assert forged.status_code == 403 and len(taken.events) == 1
    assert "zalo_oa webhook: refused" in caplog.text
    assert (await http.get("/api/v1/answers")).status_code == 401  # the intake API still asks its key
    assert "/zalo-oa" not in json.dumps((await http.get("/api/openapi.json")).json())


async def test_without_the_oa_there_is_no_webhook_route():
    app = build_http_app(FakeIntake(), ApiConfig())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as client:
        assert (await client.post(PATH, content=b"{}")).status_code == 404


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
EVENT_FIELDS = st.fixed_dictionaries(
    {"event_name": st.sampled_from([*EVENTS, "other", ""]) | st.text(max_size=10), "timestamp": st.just(T)},
    optional={key: JSON for key in ("sender", "recipient", "message", "follower", "app_id", "oa_id")},
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=EVENT_FIELDS)
async def test_any_signed_body_is_answered_and_never_raises(event):
    taken = Taken()
    hook = ZaloOAWebhook(APP_ID, KEY, PATH)
    hook.handle = taken
    status = await hook.receive(*signed(event), None)
    assert status in (200, 400)
    assert len(taken.events) == (1 if status == 200 else 0)
