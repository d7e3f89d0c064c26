"""Every error the HTTP API answers, in one JSON shape whatever raised it (our checks, FastAPI's
validation, Starlette's routing): `{"error": "...", "detail": [{"loc": [...], "msg": "..."}]}`.
`detail` names each wrong field for a 422 and is empty otherwise."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

INVALID = "the request is invalid: see detail"


class Problem(BaseModel):
    loc: list[str | int] = Field(
        description='Where: a path into the JSON body (["due_at"], ["dossiers", 3, "due_at"]), or the '
        'name of a part of the URL (["limit"], ["code"]); [] for the body as a whole'
    )
    msg: str


class ErrorBody(BaseModel):
    """What every error answers."""

    error: str = Field(description="What went wrong, in a sentence")
    detail: list[Problem] = Field(default_factory=list, description="Each wrong field (422); else empty")


def error_response(
    status: int,
    error: str,
    detail: Iterable[Problem] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": error, "detail": [p.model_dump() for p in detail]}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


NOT_AN_OBJECT = {"model_attributes_type", "model_type", "dict_type"}


def validation_problems(errors: Sequence[Any], *, sent_json: bool = True) -> list[Problem]:
    """FastAPI's (pydantic's) validation errors as problems. Their locations lose the leading
    "body", "query" or "path", so that they read like the service's own: ("dossiers", 3, "due_at"),
    ("limit",). `sent_json`: the request said its body is JSON (one said to be anything else is
    not read)."""
    problems = []
    for found in errors:
        loc = list(found.get("loc", ()))
        kind = found.get("type")
        msg = str(found.get("msg", "invalid"))
        if kind == "json_invalid":
            loc, msg = [], f"the body is not JSON in UTF-8: {found.get('ctx', {}).get('error', msg)}"
        elif loc[:1] in (["query"], ["path"]):
            loc = loc[1:]
        elif loc[:1] == ["body"]:
            loc = loc[1:]
            if not loc and kind == "missing":
                msg = "a JSON body is required"
            elif not loc and kind in NOT_AN_OBJECT:
                msg = "the body must be a JSON object" if sent_json else SEND_JSON
        problems.append(Problem(loc=loc, msg=msg))
    return problems


SEND_JSON = "send the body as JSON, with the header Content-Type: application/json"


def says_json(content_type: str | None) -> bool:
    kind = (content_type or "").partition(";")[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no such route, method not allowed) and HTTPExceptions raised on the
    way (a body over the limit while it is read)."""
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status == 404:
        error = "no such endpoint: the API is described at /api/docs"
    elif isinstance(exc.detail, str) and exc.detail != HTTPStatus(status).phrase:
        error = exc.detail
    else:
        error = HTTPStatus(status).phrase.lower()
    return error_response(status, error, headers=exc.headers)


async def invalid_request(request: Request, exc: Exception) -> Response:
    """A body that is not JSON, a field of the wrong type, a query parameter out of range."""
    assert isinstance(exc, RequestValidationError)
    sent_json = says_json(request.headers.get("content-type"))
    return error_response(422, INVALID, validation_problems(exc.errors(), sent_json=sent_json))


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
