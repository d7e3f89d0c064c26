"""The HTTP app over a fake Intake service: each route's statuses, the key check, pacing, body
limits, the one error shape and the OpenAPI document (the server on a real socket:
tests/test_http_server.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bot.config import ApiConfig
from bot.http.app import build_http_app
from storage.base import DatabaseUnavailable
from tests.http_fake import REVOKED, FakeIntake

BODY = {
    "unit": "Q1",
    "procedure": "Đăng ký khai sinh",
    "received_at": "2026-11-20T08:30:00+07:00",
    "due_at": "20261127170000",
    "citizen_name": "Nguyễn Thị Lan",
}
KEY = {"Authorization": "Bearer key-q1"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def intake() -> FakeIntake:
    return FakeIntake()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def client(app: FastAPI, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://intake", headers=headers
    )


@pytest.fixture
async def api(intake: FakeIntake, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    async with client(build_http_app(intake, ApiConfig(), clock=clock), KEY) as made:
        yield made


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The one error shape, with this status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "detail"} and isinstance(body["error"], str) and body["error"]
    assert all(set(p) == {"loc", "msg"} for p in body["detail"])
    return body


def called(intake: FakeIntake) -> list[str]:
    return [name for name, _ in intake.calls if name != "authenticate"]


class TestRoutes:
    async def test_a_dossier_put_is_created_then_updated(self, api, intake):
        first = await api.put("/api/v1/dossiers/HS-001", json=BODY)
        assert first.status_code == 201
        view = first.json()
        assert (view["code"], view["unit"], view["citizen_name"]) == ("HS-001", "Q1", "Nguyễn Thị Lan")
        assert "Nguyễn Thị Lan".encode() in first.content  # UTF-8, not \\u escapes
        again = await api.put("/api/v1/dossiers/HS-001", json=BODY)
        assert again.status_code == 200 and again.json() == first.json()
        (_, (caller, code, body)), *_ = [c for c in intake.calls if c[0] == "put_dossier"]
        assert caller.key_name == "motcua-q1" and code == "HS-001" and body.due_at == "20261127170000"

    async def test_an_event_is_recorded_once(self, api, intake):
        await api.put("/api/v1/dossiers/HS-001", json=BODY)
        event = {"type": "returned", "at": "2026-11-26T09:00:00+07:00"}
        first = await api.post("/api/v1/dossiers/HS-001/events", json=event)
        assert first.status_code == 201 and [e["type"] for e in first.json()["history"]] == ["returned"]
        again = await api.post("/api/v1/dossiers/HS-001/events", json=event)
        assert again.status_code == 200 and again.json() == first.json()

    async def test_a_dossier_is_read_back(self, api):
        await api.put("/api/v1/dossiers/HS-001", json=BODY)
        response = await api.get("/api/v1/dossiers/HS-001")
        assert response.status_code == 200 and response.json()["code"] == "HS-001"

    async def test_answers_pass_their_parameters_on(self, api, intake):
        response = await api.get("/api/v1/answers")
        assert response.status_code == 200
        page = response.json()
        assert [(a["dossier_code"], a["rating"]) for a in page["answers"]] == [("HS-1", "satisfied")]
        assert (page["next_cursor"], page["has_more"]) == ("c1", False)
        params = {"since": "20261125000000", "unit": "Q1-BN", "cursor": "c1", "limit": "1000"}
        assert (await api.get("/api/v1/answers", params=params)).status_code == 200
        answers = [args for name, args in intake.calls if name == "answers"]
        assert [a[1:] for a in answers] == [(None, None, None, 100), ("20261125000000", "Q1-BN", "c1", 1000)]

    @pytest.mark.parametrize("limit", ["0", "1001", "many"])
    async def test_a_limit_out_of_range_is_422_naming_it(self, api, intake, limit):
        body = error_of(await api.get("/api/v1/answers", params={"limit": limit}), 422)
        assert [p["loc"] for p in body["detail"]] == [["limit"]]  # named as the service names fields
        assert called(intake) == []

    async def test_a_batch_goes_to_the_batch_despite_the_colon(self, api, intake):
        items = [{"code": f"HS-B{n}", **BODY} for n in range(3)]
        response = await api.post("/api/v1/dossiers:batch", json={"dossiers": items})
        result = response.json()
        assert response.status_code == 200 and (result["created"], result["updated"]) == (3, 0)
        assert [d["code"] for d in result["dossiers"]] == ["HS-B0", "HS-B1", "HS-B2"]
        assert called(intake) == ["put_batch"]

    async def test_the_batch_path_is_no_dossier_code_and_a_code_may_hold_a_colon(self, api, intake):
        error_of(await api.put("/api/v1/dossiers:batch", json=BODY), 405)
        error_of(await api.get("/api/v1/dossiers:batch"), 405)
        assert called(intake) == []
        assert (await api.put("/api/v1/dossiers/HS:batch", json=BODY)).status_code == 201
        assert [args[1] for name, args in intake.calls if name == "put_dossier"] == ["HS:batch"]

    async def test_health_needs_no_key_and_says_503_when_the_database_does_not_answer(self, intake):
        async with client(build_http_app(intake, ApiConfig())) as anonymous:
            ok = await anonymous.get("/api/health")
            assert ok.status_code == 200 and ok.json() == {"status": "ok"}
            intake.up = False
            down = await anonymous.get("/api/health")
            error_of(down, 503)
            assert int(down.headers["retry-after"]) >= 1


class TestRefusals:
    async def test_outside_the_keys_units_is_403_with_the_services_words(self, api):
        body = error_of(await api.put("/api/v1/dossiers/HS-Q3", json={**BODY, "unit": "Q3"}), 403)
        assert body["error"] == "unit Q3 is outside this key's units" and body["detail"] == []
        await api.put("/api/v1/dossiers/HS-001", json=BODY)
        other = {"Authorization": "Bearer key-q3"}
        error_of(await api.get("/api/v1/dossiers/HS-001", headers=other), 403)
        event = {"type": "returned", "at": "20261126090000"}
        error_of(await api.post("/api/v1/dossiers/HS-001/events", json=event, headers=other), 403)

    async def test_an_unknown_dossier_is_404(self, api):
        body = error_of(await api.get("/api/v1/dossiers/HS-NONE"), 404)
        assert "HS-NONE" in body["error"]
        event = {"type": "returned", "at": "20261126090000"}
        error_of(await api.post("/api/v1/dossiers/HS-NONE/events", json=event), 404)

    async def test_an_unknown_path_is_404_in_the_same_shape(self, api):
        error_of(await api.get("/api/v1/nothing-here"), 404)
        error_of(await api.get("/elsewhere"), 404)

    async def test_the_services_refusal_is_422_naming_the_field(self, api):
        body = error_of(await api.put("/api/v1/dossiers/HS-1", json={**BODY, "due_at": "1999"}), 422)
        (problem,) = body["detail"]
        assert problem == {"loc": ["due_at"], "msg": "the appointment is before the dossier was received"}
        body = error_of(await api.get("/api/v1/answers", params={"cursor": "bad"}), 422)
        assert [p["loc"] for p in body["detail"]] == [["cursor"]]

    async def test_a_refused_batch_names_the_item_by_index(self, api):
        items = [{"code": "HS-B0", **BODY}, {"code": "HS-B1", **BODY, "due_at": "soon"}]
        body = error_of(await api.post("/api/v1/dossiers:batch", json={"dossiers": items}), 422)
        assert body["detail"] == [{"loc": ["dossiers", 1, "due_at"], "msg": "dossier HS-B1: not a time"}]

    @pytest.mark.parametrize(
        ("body", "locs"),
        [
            ({**BODY, "unit": 7}, [["unit"]]),
            ({"unit": "Q1"}, [["procedure"], ["received_at"], ["due_at"]]),
            ([BODY], [[]]),
            ("HS-1", [[]]),
        ],
    )
    async def test_a_wrong_type_or_a_missing_field_is_422_naming_it(self, api, intake, body, locs):
        problems = error_of(await api.put("/api/v1/dossiers/HS-1", json=body), 422)["detail"]
        assert [p["loc"] for p in problems] == locs
        assert called(intake) == []

    async def test_a_batch_that_is_no_list_is_422(self, api, intake):
        problems = error_of(await api.post("/api/v1/dossiers:batch", json={"dossiers": "all"}), 422)["detail"]
        assert [p["loc"] for p in problems] == [["dossiers"]]
        assert called(intake) == []

    @pytest.mark.parametrize(
        "content",
        [
            b"{not json",
            b"",
            b'{"unit": "Q1", "procedure": "\xff\xfe"}',  # not UTF-8
            json.dumps(BODY, ensure_ascii=False).encode("utf-16"),  # JSON, but not in UTF-8
            json.dumps(BODY, ensure_ascii=False).encode("cp1258", "replace"),  # Windows' Vietnamese
            b'{"unit": "Q1", "procedure": NaN}',  # Python's json only
            b'{"dossiers": [{"code": "HS-1", "unit": -Infinity}]}',
        ],
    )
    async def test_a_body_that_is_not_json_in_utf8_is_422(self, api, intake, content):
        response = await api.put(
            "/api/v1/dossiers/HS-1", content=content, headers={"Content-Type": "application/json"}
        )
        (problem,) = error_of(response, 422)["detail"]
        assert problem["loc"] == [] and ("JSON" in problem["msg"] or "body" in problem["msg"])
        assert called(intake) == []

    @pytest.mark.parametrize(
        ("content_type", "content", "msg"),
        [
            ("application/json", b"null", "the body must be a JSON object"),
            ("application/json", b"[]", "the body must be a JSON object"),
            (None, json.dumps(BODY).encode(), "send the body as JSON, with the header Content-Type: "),
            ("application/x-www-form-urlencoded", b"unit=Q1", "send the body as JSON"),
            ("text/plain", json.dumps(BODY).encode(), "send the body as JSON"),
        ],
    )  # fmt: skip
    async def test_a_body_that_is_no_json_object_is_422_saying_what_to_send(
        self, api, intake, content_type, content, msg
    ):
        headers = {"Content-Type": content_type} if content_type else {}
        response = await api.put("/api/v1/dossiers/HS-1", content=content, headers=headers)
        (problem,) = error_of(response, 422)["detail"]
        assert problem["loc"] == [] and problem["msg"].startswith(msg)

    async def test_json_by_another_name_is_json(self, api):
        for content_type in ("application/json; charset=utf-8", "application/vnd.motcua+json"):
            response = await api.put(
                "/api/v1/dossiers/HS-1", content=json.dumps(BODY), headers={"Content-Type": content_type}
            )
            assert response.status_code in (200, 201), response.text


class TestKeys:
    @pytest.mark.parametrize(
        "header",
        [None, "", "Bearer", "Bearer ", "Basic a2V5LXExOg==", "Token key-q1", "Bearer key-q1 key-q3",
         "Bearer key-unknown", f"Bearer {REVOKED}"],
    )  # fmt: skip
    async def test_no_key_a_malformed_one_or_a_wrong_one_is_401(self, intake, header):
        headers = {"Authorization": header} if header is not None else {}
        async with client(build_http_app(intake, ApiConfig()), headers) as caller:
            for response in (
                await caller.get("/api/v1/dossiers/HS-1"),
                await caller.put("/api/v1/dossiers/HS-1", content=b"{not json"),  # refused before parsing
                await caller.post("/api/v1/dossiers:batch", json={"dossiers": []}),
                await caller.get("/api/v1/answers"),
                await caller.get("/api/v1/no-such-thing"),
            ):
                error_of(response, 401)
                assert response.headers["www-authenticate"].startswith("Bearer")
        assert called(intake) == []

    async def test_the_scheme_is_read_in_any_case(self, intake):
        async with client(build_http_app(intake, ApiConfig()), {"Authorization": "bearer key-q1"}) as caller:
            assert (await caller.get("/api/v1/answers")).status_code == 200

    async def test_the_key_is_checked_before_the_body_is_read(self, intake):
        async def body() -> AsyncIterator[bytes]:
            raise AssertionError("the body was read")
            yield b""

        async with client(build_http_app(intake, ApiConfig())) as anonymous:
            error_of(await anonymous.put("/api/v1/dossiers/HS-1", content=body()), 401)


class TestPacing:
    async def test_a_key_past_its_burst_waits_and_recovers(self, intake, clock):
        app = build_http_app(intake, ApiConfig(rate_per_second=2, burst=3), clock=clock)
        async with client(app, KEY) as caller:
            assert [(await caller.get("/api/v1/answers")).status_code for _ in range(3)] == [200] * 3
            refused = await caller.get("/api/v1/answers")
            error_of(refused, 429)
            assert refused.headers["retry-after"] == "1"
            other = await caller.get("/api/v1/answers", headers={"Authorization": "Bearer key-q3"})
            assert other.status_code == 200  # each key has its own bucket
            clock.now += 0.5  # one token back
            assert (await caller.get("/api/v1/answers")).status_code == 200
            assert (await caller.get("/api/v1/answers")).status_code == 429
            clock.now += 10  # the bucket fills up to its burst, no more
            assert [(await caller.get("/api/v1/answers")).status_code for _ in range(4)] == [200] * 3 + [429]
        assert len([n for n in called(intake) if n == "answers"]) == 3 + 1 + 1 + 3

    async def test_retry_after_is_whole_seconds_to_the_next_token(self, intake, clock):
        app = build_http_app(intake, ApiConfig(rate_per_second=0.1, burst=1), clock=clock)
        async with client(app, KEY) as caller:
            assert (await caller.get("/api/v1/answers")).status_code == 200
            clock.now += 2.5
            assert error_of(await caller.get("/api/v1/answers"), 429) and True
            clock.now += 0.1
            refused = await caller.get("/api/v1/answers")
            assert refused.headers["retry-after"] == "8"  # 10 s a token, 2.6 s gone

    async def test_a_wrong_key_takes_nothing_from_a_bucket(self, intake, clock):
        app = build_http_app(intake, ApiConfig(rate_per_second=1, burst=1), clock=clock)
        async with client(app) as caller:
            for _ in range(3):
                error_of(await caller.get("/api/v1/answers", headers={"Authorization": "Bearer nope"}), 401)
            assert (await caller.get("/api/v1/answers", headers=KEY)).status_code == 200


class TestBodyLimit:
    async def test_a_declared_length_over_the_limit_is_413_before_reading(self, intake):
        app = build_http_app(intake, ApiConfig(max_body_bytes=2000), clock=Clock())
        async with client(app, KEY) as caller:
            big = {**BODY, "citizen_name": "A" * 2000}
            response = await caller.put("/api/v1/dossiers/HS-1", json=big)
            assert "2,000" in error_of(response, 413)["error"]
            assert response.headers["connection"] == "close"
            assert (await caller.put("/api/v1/dossiers/HS-1", json=BODY)).status_code == 201
        assert called(intake) == ["put_dossier"]

    async def test_a_streamed_body_is_cut_off_once_it_passes_the_limit(self, intake):
        sent: list[int] = []

        async def chunks() -> AsyncIterator[bytes]:
            for n in range(100):
                sent.append(n)
                yield b" " * 500

        app = build_http_app(intake, ApiConfig(max_body_bytes=2000), clock=Clock())
        async with client(app, KEY) as caller:
            response = await caller.post("/api/v1/dossiers:batch", content=chunks())
            error_of(response, 413)
            assert "content-length" not in response.request.headers  # chunked
        assert len(sent) <= 5  # 2,500 bytes read of 50,000
        assert called(intake) == []

    async def test_a_streamed_body_within_the_limit_is_read(self, intake):
        async def chunks() -> AsyncIterator[bytes]:
            text = json.dumps(BODY).encode()
            for n in range(0, len(text), 10):
                yield text[n : n + 10]

        app = build_http_app(intake, ApiConfig(max_body_bytes=2000), clock=Clock())
        async with client(app, {**KEY, "Content-Type": "application/json"}) as caller:
            assert (await caller.put("/api/v1/dossiers/HS-1", content=chunks())).status_code == 201


class TestFailures:
    async def test_an_unavailable_database_is_503_with_retry_after(self, api, intake):
        intake.failure = DatabaseUnavailable("data/feedback.db: disk I/O error")
        response = await api.put("/api/v1/dossiers/HS-1", json=BODY)
        body = error_of(response, 503)
        assert int(response.headers["retry-after"]) >= 1 and "feedback.db" not in body["error"]
        intake.failure, intake.key_failure = None, DatabaseUnavailable("data/feedback.db: locked")
        error_of(await api.get("/api/v1/answers"), 503)

    async def test_any_other_error_is_500_logged_with_the_path_and_never_the_key(self, api, intake, caplog):
        intake.failure = RuntimeError("boom")
        with caplog.at_level(logging.ERROR):
            response = await api.get("/api/v1/dossiers/HS-77")
        body = error_of(response, 500)
        assert "boom" not in body["error"]
        assert "/api/v1/dossiers/HS-77" in caplog.text and "boom" in caplog.text
        assert "key-q1" not in caplog.text

    async def test_a_500_leaves_the_app_serving(self, api, intake):
        intake.failure = RuntimeError("boom")
        error_of(await api.get("/api/v1/dossiers/HS-77"), 500)
        intake.failure = None
        assert (await api.put("/api/v1/dossiers/HS-77", json=BODY)).status_code == 201


class TestDocumentation:
    async def test_the_openapi_document_describes_every_route_its_key_and_its_errors(self, api):
        response = await api.get("/api/openapi.json", headers={"Authorization": ""})
        assert response.status_code == 200
        spec = response.json()
        assert spec["info"]["title"] and spec["info"]["version"]
        assert "yyyyMMddHHmmss" in spec["info"]["description"]
        assert {path: set(methods) for path, methods in spec["paths"].items()} == {
            "/api/v1/dossiers/{code}": {"put", "get"},
            "/api/v1/dossiers/{code}/events": {"post"},
            "/api/v1/dossiers:batch": {"post"},
            "/api/v1/answers": {"get"},
            "/api/health": {"get"},
        }
        put = spec["paths"]["/api/v1/dossiers/{code}"]["put"]
        assert {"200", "201", "401", "403", "413", "422", "429", "503"} <= set(put["responses"])
        assert put["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
        assert put["security"] == [{"HTTPBearer": []}]
        assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
        assert "security" not in spec["paths"]["/api/health"]["get"]
        assert {t["name"] for t in spec["tags"]} == {"dossiers", "answers", "health"}
        operations = [op["operationId"] for methods in spec["paths"].values() for op in methods.values()]
        assert sorted(operations) == [
            "add_event",
            "get_dossier",
            "health",
            "list_answers",
            "put_batch",
            "put_dossier",
        ]

    async def test_the_docs_pages_answer_without_a_key(self, intake):
        async with client(build_http_app(intake, ApiConfig())) as anonymous:
            for page in ("/api/docs", "/api/redoc"):
                response = await anonymous.get(page)
                assert response.status_code == 200 and "/api/openapi.json" in response.text
