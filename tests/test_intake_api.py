"""The intake API end to end in-process: the FastAPI app over the real Intake rules and a real
SQLite database, called through httpx's ASGI transport. Every endpoint, scope rule, error and the
idempotence the one-stop software relies on."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import links_for
from bot.config import ApiConfig, Config
from bot.http.app import build_http_app
from handlers.intake import Intake, hash_api_key
from storage.records import FollowUp, OutboxStatus, Rating
from storage.sqlite import SQLiteStorage

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
Q1_KEY = "fbk_test-key-for-q1"
HCM_KEY = "fbk_test-key-for-q1-and-q3"
BODY = {
    "unit": "Q1-BN",
    "procedure": "Đăng ký khai sinh",
    "received_at": "2026-11-20T08:30:00+07:00",
    "due_at": "20261127170000",
    "citizen_name": "Nguyễn Thị Lan",
    "phone": "0901 234 567",
}


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def api(config: Config, store: SQLiteStorage, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    for name, key, units in (("motcua-q1", Q1_KEY, ["Q1"]), ("motcua-city", HCM_KEY, ["Q1", "Q3"])):
        await store.api_keys.create_api_key(name, hash_api_key(key), units, actor="test", now=NOW)
    intake = Intake(
        store.dossiers, store.surveys, store.directory, store.api_keys, links_for(config), config.zone,
        clock=clock,
    )  # fmt: skip
    app = build_http_app(intake, ApiConfig(rate_per_second=10_000, burst=10_000))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://intake", headers={"Authorization": f"Bearer {Q1_KEY}"}
    ) as client:
        yield client


def city(client: httpx.AsyncClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {HCM_KEY}"}


async def audit_count(store: SQLiteStorage) -> int:
    return len(await store.audit.audit_since(None))


class TestPut:
    async def test_created_then_the_same_body_changes_nothing(self, api, store):
        first = await api.put("/api/v1/dossiers/HS-001", json=BODY)
        assert first.status_code == 201, first.text
        view = first.json()
        assert (
            view["code"] == "HS-001"
            and view["unit"] == "Q1-BN"
            and view["unit_name"] == "UBND Phường Bến Nghé"
        )
        assert view["received_at"] == "2026-11-20T08:30:00+07:00"
        assert view["due_at"] == "2026-11-27T17:00:00+07:00"  # the one-stop format, in the config's zone
        assert view["phone"] == "+84901234567" and view["citizen_name"] == "Nguyễn Thị Lan"
        assert view["state"] == "recorded" and view["history"] == [] and view["answer"] is None
        assert view["survey_link"].startswith("https://t.me/TestNameBot?start=")
        assert view["survey_code"]
        trail = await audit_count(store)

        again = await api.put("/api/v1/dossiers/HS-001", json=BODY)
        assert again.status_code == 200 and again.json() == view
        assert await audit_count(store) == trail  # nothing written

    async def test_a_change_is_stored_and_audited_under_the_keys_name(self, api, store):
        await api.put("/api/v1/dossiers/HS-001", json=BODY)
        changed = await api.put(
            "/api/v1/dossiers/HS-001", json={**BODY, "due_at": "2026-11-28T17:00:00+07:00"}
        )
        assert changed.status_code == 200
        assert changed.json()["due_at"] == "2026-11-28T17:00:00+07:00"
        stored = await store.dossiers.get_dossier("HS-001")
        assert stored is not None and stored.due_on is not None and stored.due_on.isoformat() == "2026-11-28"
        entries = [e for e in await store.audit.audit_since(None) if e.actor == "api:motcua-q1"]
        assert [e.action for e in entries] == ["dossier created", "dossier updated"]

    @pytest.mark.parametrize("phone", ["0901234567", "+84 90 123 4567", "84901234567", "090-123-4567"])
    async def test_every_vietnamese_form_of_a_phone_is_stored_normalised(self, api, store, phone):
        response = await api.put("/api/v1/dossiers/HS-P", json={**BODY, "phone": phone})
        assert response.status_code == 201 and response.json()["phone"] == "+84901234567"
        stored = await store.dossiers.get_dossier("HS-P")
        assert stored is not None and stored.phone == "84901234567"

    async def test_a_unit_under_the_keys_unit_is_in_scope_another_is_not(self, api, store):
        assert (await api.put("/api/v1/dossiers/HS-Q1", json={**BODY, "unit": "Q1"})).status_code == 201
        outside = await api.put("/api/v1/dossiers/HS-Q3", json={**BODY, "unit": "Q3"})
        assert outside.status_code == 403 and "Q3" in outside.text
        assert await store.dossiers.get_dossier("HS-Q3") is None

    async def test_a_dossier_of_another_unit_is_neither_read_nor_moved(self, api, store):
        assert (await api.put("/api/v1/dossiers/HS-Q3", json={**BODY, "unit": "Q3"},
                              headers=city(api))).status_code == 201  # fmt: skip
        assert (await api.get("/api/v1/dossiers/HS-Q3")).status_code == 403
        moved = await api.put("/api/v1/dossiers/HS-Q3", json=BODY)  # into Q1-BN, which the key holds
        assert moved.status_code == 403
        stored = await store.dossiers.get_dossier("HS-Q3")
        assert stored is not None and stored.unit_code == "Q3"
        event = {"type": "returned", "at": "2026-11-26T09:00:00+07:00"}
        assert (await api.post("/api/v1/dossiers/HS-Q3/events", json=event)).status_code == 403

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"unit": "NOPE"}, "unit"),
            ({"received_at": "2026-11-20"}, "received_at"),
            ({"received_at": "2026-11-20T08:30:00"}, "received_at"),  # no offset
            ({"due_at": "20261332170000"}, "due_at"),
            ({"due_at": "2026-11-19T08:00:00+07:00"}, "due_at"),  # before it was received
            ({"phone": "12345"}, "phone"),
            ({"procedure": ""}, "procedure"),
            ({"colour": "red"}, "colour"),
            ({"unit": 7}, "unit"),
        ],
    )
    async def test_bad_input_is_refused_naming_the_field_and_stores_nothing(self, api, store, change, field):
        trail = await audit_count(store)
        response = await api.put("/api/v1/dossiers/HS-BAD", json={**BODY, **change})
        assert response.status_code == 422, response.text
        assert field in json.dumps(response.json()["detail"])
        assert await store.dossiers.get_dossier("HS-BAD") is None and await audit_count(store) == trail

    async def test_missing_fields_are_named(self, api):
        response = await api.put("/api/v1/dossiers/HS-BAD", json={"unit": "Q1-BN"})
        assert response.status_code == 422
        named = json.dumps(response.json()["detail"])
        assert "procedure" in named and "received_at" in named and "due_at" in named

    @pytest.mark.parametrize("code", ["X" * 65, "HS%07BELL", "HS%0A2", "HS%E2%80%8B1"])
    async def test_a_code_too_long_or_with_control_characters_is_refused(self, api, store, code):
        response = await api.put(f"/api/v1/dossiers/{code}", json=BODY)
        assert response.status_code == 422 and "code" in json.dumps(response.json()["detail"])
        assert await store.dossiers.list_dossiers() == []

    async def test_a_body_over_a_megabyte_is_refused_before_it_is_read(self, api, store):
        response = await api.put("/api/v1/dossiers/HS-BIG", json={**BODY, "citizen_name": "A" * 1_100_000})
        assert response.status_code == 413
        assert await store.dossiers.get_dossier("HS-BIG") is None

    async def test_a_body_that_is_not_json_is_refused(self, api):
        response = await api.put(
            "/api/v1/dossiers/HS-1", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422


class TestKeys:
    @pytest.mark.parametrize(
        "header", [None, "Bearer", "Bearer fbk_wrong", "Basic Zm9vOmJhcg==", f"Token {Q1_KEY}"]
    )
    async def test_no_key_or_a_wrong_one_is_401(self, api, header):
        headers = {"Authorization": header} if header is not None else {}
        client = httpx.AsyncClient(transport=api._transport, base_url="http://intake", headers=headers)
        async with client:
            response = await client.get("/api/v1/dossiers/HS-1")
        assert response.status_code == 401 and response.headers.get("www-authenticate", "").startswith(
            "Bearer"
        )

    async def test_a_revoked_key_is_refused_at_once(self, api, store):
        assert (await api.put("/api/v1/dossiers/HS-001", json=BODY)).status_code == 201
        await store.api_keys.revoke_api_key("motcua-q1", actor="test", now=NOW)
        assert (await api.get("/api/v1/dossiers/HS-001")).status_code == 401

    async def test_use_is_recorded(self, api, store):
        await api.get("/api/v1/dossiers/HS-404")
        (key,) = [k for k in await store.api_keys.list_api_keys() if k.name == "motcua-q1"]
        assert key.last_used_at == NOW

    async def test_health_needs_no_key(self, api, store):
        client = httpx.AsyncClient(transport=api._transport, base_url="http://intake")
        async with client:
            assert (await client.get("/api/health")).status_code == 200
            await store.close()
            assert (await client.get("/api/health")).status_code == 503

    async def test_the_openapi_document_lists_every_endpoint(self, api):
        spec = (await api.get("/api/openapi.json")).json()
        paths = spec["paths"]
        assert {"put"} <= set(paths["/api/v1/dossiers/{code}"]) and "get" in paths["/api/v1/dossiers/{code}"]
        assert "post" in paths["/api/v1/dossiers/{code}/events"]
        assert "post" in paths["/api/v1/dossiers:batch"]
        assert "get" in paths["/api/v1/answers"] and "get" in paths["/api/health"]
        assert (await api.get("/api/docs")).status_code == 200


class TestEvents:
    async def test_history_in_order_and_a_repeated_event_recorded_once(self, api, store):
        await api.put("/api/v1/dossiers/HS-001", json=BODY)
        supplement = {"type": "supplement_requested", "at": "2026-11-21T10:00:00+07:00",
                      "reason": "Thiếu bản sao CCCD", "until": "2026-11-24"}  # fmt: skip
        received = {"type": "supplement_received", "at": "20261122090000"}
        first = await api.post("/api/v1/dossiers/HS-001/events", json=received)  # out of order
        assert first.status_code == 201
        assert (await api.post("/api/v1/dossiers/HS-001/events", json=supplement)).status_code == 201
        again = await api.post("/api/v1/dossiers/HS-001/events", json=received)
        assert again.status_code == 200
        view = again.json()
        assert [e["type"] for e in view["history"]] == ["supplement_requested", "supplement_received"]
        assert (
            view["history"][0]["reason"] == "Thiếu bản sao CCCD"
            and view["history"][0]["until"] == "2026-11-24"
        )
        assert view["state"] == "supplement_received"

    async def test_returned_queues_the_invitation_of_a_chat_that_scanned_the_link(self, api, store):
        view = (await api.put("/api/v1/dossiers/HS-001", json=BODY)).json()
        dossier = await store.dossiers.get_dossier("HS-001")
        assert dossier is not None
        await store.dossiers.link_chat(dossier.id, "telegram", "5001", NOW)
        assert await store.outbox.pending_invitations() == []
        returned = {"type": "returned", "at": "2026-11-26T09:00:00+07:00"}
        response = await api.post("/api/v1/dossiers/HS-001/events", json=returned)
        assert response.status_code == 201 and response.json()["state"] == "returned"
        assert response.json()["returned_at"] == "2026-11-26T09:00:00+07:00"
        (invitation,) = await store.outbox.pending_invitations()
        assert invitation.chat_id == "5001" and invitation.status is OutboxStatus.PENDING
        assert view["survey_link"] == response.json()["survey_link"]
        assert (await api.post("/api/v1/dossiers/HS-001/events", json=returned)).status_code == 200
        assert len(await store.outbox.pending_invitations()) == 1

    @pytest.mark.parametrize(
        ("event", "field"),
        [
            ({"type": "lost", "at": "2026-11-26T09:00:00+07:00"}, "type"),
            ({"type": "returned"}, "at"),
            ({"type": "returned", "at": "2026-11-29T09:00:00+07:00"}, "at"),  # in the future
            ({"type": "extended", "at": "2026-11-26T09:00:00+07:00", "reason": "Chờ xác minh"}, "new_due_at"),
            ({"type": "extended", "at": "2026-11-26T09:00:00+07:00",
              "new_due_at": "2026-12-03T17:00:00+07:00"}, "reason"),
        ],
    )  # fmt: skip
    async def test_a_wrong_event_is_refused_and_nothing_changes(self, api, store, event, field):
        await api.put("/api/v1/dossiers/HS-001", json=BODY)
        response = await api.post("/api/v1/dossiers/HS-001/events", json=event)
        assert response.status_code == 422 and field in json.dumps(response.json()["detail"])
        dossier = await store.dossiers.get_dossier("HS-001")
        assert dossier is not None and dossier.state is None and dossier.returned_at is None

    async def test_an_event_for_an_unknown_dossier_is_404(self, api):
        event = {"type": "returned", "at": "2026-11-26T09:00:00+07:00"}
        assert (await api.post("/api/v1/dossiers/HS-NONE/events", json=event)).status_code == 404
        assert (await api.get("/api/v1/dossiers/HS-NONE")).status_code == 404


async def answered(store: SQLiteStorage, api: httpx.AsyncClient, code: str, rating: Rating, *,
                   unit: str = "Q1-BN", chat: str = "5001", at: datetime = NOW) -> None:  # fmt: skip
    headers = city(api)
    assert (
        await api.put(f"/api/v1/dossiers/{code}", json={**BODY, "unit": unit}, headers=headers)
    ).is_success
    dossier = await store.dossiers.get_dossier(code)
    assert dossier is not None
    survey = await store.surveys.start_survey(
        channel="telegram", chat_id=chat, dossier_id=dossier.id, question_set="default",
        question_set_version=1, first_step="rating", now=at,
    )  # fmt: skip
    await store.surveys.record_rating(survey, rating=rating, option_id=rating.value, next_step=None, now=at)


class TestAnswers:
    async def test_the_dossier_shows_its_answer_and_never_a_chat_id(self, api, store):
        await answered(store, api, "HS-A", Rating.NEUTRAL, chat="777123456")
        response = await api.get("/api/v1/dossiers/HS-A")
        assert response.status_code == 200
        answer = response.json()["answer"]
        assert answer["rating"] == "neutral" and answer["channel"] == "telegram" and answer["completed"]
        assert "777123456" not in response.text and "chat" not in response.text

    async def test_pages_oldest_first_with_an_opaque_cursor(self, api, store):
        for n in range(5):
            await answered(
                store, api, f"HS-{n}", Rating.SATISFIED, chat=f"90{n}", at=NOW + timedelta(minutes=n)
            )
        await answered(store, api, "HS-Q3", Rating.UNSATISFIED, unit="Q3", chat="999")
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await api.get("/api/v1/answers", params=params)).json()
            seen += [a["dossier_code"] for a in page["answers"]]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
        assert seen == [f"HS-{n}" for n in range(5)]  # Q3's answer is outside the key's scope
        later = (await api.get("/api/v1/answers", params={"cursor": cursor})).json()
        assert later["answers"] == [] and later["next_cursor"] == cursor  # poll again from here
        item = (await api.get("/api/v1/answers", params={"limit": 1})).json()["answers"][0]
        assert set(item) == {"dossier_code", "unit", "procedure", "rating", "factors", "channel",
                             "answered_at", "completed"}  # fmt: skip

    async def test_an_answer_comes_again_once_its_follow_up_is_given(self, api, store):
        put = await api.put("/api/v1/dossiers/HS-F", json=BODY)
        assert put.status_code == 201
        dossier = await store.dossiers.get_dossier("HS-F")
        assert dossier is not None
        survey = await store.surveys.start_survey(
            channel="telegram", chat_id="5001", dossier_id=dossier.id, question_set="default",
            question_set_version=1, first_step="rating", now=NOW,
        )  # fmt: skip
        await store.surveys.record_rating(
            survey, rating=Rating.UNSATISFIED, option_id="unsatisfied", next_step="problem", now=NOW
        )
        first = (await api.get("/api/v1/answers")).json()
        assert [(a["factors"], a["completed"]) for a in first["answers"]] == [([], False)]
        survey = (await store.chats.get_chat_state("telegram", "5001")).survey
        assert survey is not None
        await store.surveys.record_follow_up(
            survey, FollowUp(question_id="problem", option_id="time", factor="time"), next_step=None, now=NOW
        )
        again = (await api.get("/api/v1/answers", params={"cursor": first["next_cursor"]})).json()
        assert [(a["dossier_code"], a["factors"], a["completed"]) for a in again["answers"]] == [
            ("HS-F", ["time"], True)
        ]

    async def test_since_and_unit_narrow_the_answers(self, api, store):
        await answered(store, api, "HS-OLD", Rating.SATISFIED, chat="1", at=NOW - timedelta(days=3))
        await answered(store, api, "HS-NEW", Rating.SATISFIED, chat="2", unit="Q1")
        since = (await api.get("/api/v1/answers", params={"since": "2026-11-25T00:00:00+07:00"})).json()
        assert [a["dossier_code"] for a in since["answers"]] == ["HS-NEW"]
        ward = (await api.get("/api/v1/answers", params={"unit": "Q1-BN"})).json()
        assert [a["dossier_code"] for a in ward["answers"]] == ["HS-OLD"]
        assert (await api.get("/api/v1/answers", params={"unit": "Q3"})).status_code == 403
        assert (await api.get("/api/v1/answers", params={"cursor": "bm90LWEtY3Vyc29y"})).status_code == 422
        assert (await api.get("/api/v1/answers", params={"since": "yesterday"})).status_code == 422


async def test_a_code_with_slashes_is_reached_as_written_or_escaped(api, store):
    assert (await api.put("/api/v1/dossiers/HS/2026/001", json=BODY)).status_code == 201
    assert (await api.get("/api/v1/dossiers/HS%2F2026%2F001")).json()["code"] == "HS/2026/001"
    event = {"type": "returned", "at": "2026-11-26T09:00:00+07:00"}
    returned = await api.post("/api/v1/dossiers/HS/2026/001/events", json=event)
    assert returned.status_code == 201 and returned.json()["state"] == "returned"
    assert (await api.put("/api/v1/dossiers/HS/2026/001/events", json=BODY)).status_code == 422


class TestBatch:
    async def test_all_are_stored_in_one_go(self, api, store):
        items = [{"code": f"HS-B{n}", **BODY} for n in range(3)]
        response = await api.post("/api/v1/dossiers:batch", json={"dossiers": items})
        assert response.status_code == 200, response.text
        result = response.json()
        assert (result["created"], result["updated"], result["unchanged"]) == (3, 0, 0)
        assert [d["code"] for d in result["dossiers"]] == ["HS-B0", "HS-B1", "HS-B2"]
        assert all(d["survey_link"].startswith("https://t.me/") for d in result["dossiers"])
        again = (await api.post("/api/v1/dossiers:batch", json={"dossiers": items})).json()
        assert (again["created"], again["unchanged"]) == (0, 3)

    async def test_one_bad_item_refuses_the_batch_naming_it_by_index_and_code(self, api, store):
        items = [
            {"code": "HS-B0", **BODY},
            {"code": "HS-B1", **BODY, "due_at": "soon"},
            {"code": "HS-B2", **BODY},
        ]
        response = await api.post("/api/v1/dossiers:batch", json={"dossiers": items})
        assert response.status_code == 422
        (problem,) = response.json()["detail"]
        assert problem["loc"][:2] == ["dossiers", 1] and "due_at" in problem["loc"]
        assert "HS-B1" in json.dumps(problem)
        assert await store.dossiers.list_dossiers() == []

    async def test_an_unknown_unit_is_named_with_the_item_and_its_code(self, api, store):
        items = [{"code": "HS-B0", **BODY}, {"code": "HS-B1", **BODY, "unit": "NOPE"}]
        response = await api.post("/api/v1/dossiers:batch", json={"dossiers": items})
        assert response.status_code == 422
        (problem,) = response.json()["detail"]
        assert problem["loc"] == ["dossiers", 1, "unit"] and "HS-B1" in problem["msg"]
        assert await store.dossiers.list_dossiers() == []

    async def test_an_item_outside_the_scope_refuses_the_batch(self, api, store):
        items = [{"code": "HS-B0", **BODY}, {"code": "HS-B1", **BODY, "unit": "Q3"}]
        assert (await api.post("/api/v1/dossiers:batch", json={"dossiers": items})).status_code == 403
        assert await store.dossiers.list_dossiers() == []

    async def test_over_a_thousand_is_refused(self, api, store):
        items = [{"code": f"HS-{n}", **BODY} for n in range(1001)]
        response = await api.post("/api/v1/dossiers:batch", json={"dossiers": items})
        assert response.status_code == 422 and "1000" in response.text


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    ["unit", "procedure", "received_at", "due_at", "citizen_name", "phone", "channel_hint"]
)
VALUES = st.one_of(
    JSON,
    st.sampled_from(["Q1-BN", "Q3", "20261120083000", "2026-11-20T08:30:00+07:00", "0901234567", "telegram"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    code=st.text(min_size=1, max_size=70).filter(lambda c: "/" not in c and c not in {".", ".."}),
    body=st.dictionaries(FIELDS, VALUES, max_size=7) | JSON,
)
async def test_no_body_ever_gets_a_500_or_half_writes(api, store, code, body: Any):
    before = len(await store.dossiers.list_dossiers())
    trail = await audit_count(store)
    response = await api.put(f"/api/v1/dossiers/{quote(code, safe='')}", json=body)
    assert response.status_code in {200, 201, 403, 404, 422}, response.text
    if response.status_code >= 400:
        assert len(await store.dossiers.list_dossiers()) == before and await audit_count(store) == trail
    batch = await api.post("/api/v1/dossiers:batch", json={"dossiers": [body, {"code": code, **BODY}]})
    assert batch.status_code in {200, 403, 422}, batch.text
