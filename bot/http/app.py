"""The HTTP API as one FastAPI app: the intake API the one-stop software calls (/api/v1/), health,
and the documentation for integrators (/api/docs, /api/openapi.json).

Routes only parse, call the Intake service (handlers/intake.py) and map its answer or refusal to a
status; keys, pacing and body size are checked before them (bot/http/guards.py), and every error
has one shape (bot/http/errors.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Coroutine
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response, Security
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException

from bot.channels.zalo_oa.webhook import ZaloOAWebhook
from bot.config import ApiConfig
from bot.health import Readiness
from bot.http.errors import INVALID, ErrorBody, Problem, add_error_handlers, error_response
from bot.http.guards import (
    CALLER,
    UNAVAILABLE_RETRY_SECONDS,
    ApiKeys,
    BodyLimit,
    Failures,
    TokenBuckets,
)
from bot.http.health import monitoring_routes
from bot.http.telegram import telegram_routes
from bot.http.zalo_oa import zalo_oa_routes
from bot.metrics import Metrics
from handlers.intake import (
    MAX_BATCH,
    MAX_PAGE,
    AnswersPage,
    ApiCaller,
    BatchBody,
    BatchResult,
    DossierBody,
    DossierView,
    EventBody,
    Intake,
    IntakeRefused,
    NotFound,
    OutsideScope,
)
from storage.base import DatabaseUnavailable

if TYPE_CHECKING:  # the webhook's type only: `feedback-bot api` need not load python-telegram-bot
    from bot.channels.telegram import TelegramWebhook

DESCRIPTION = """
The one-stop software (*hệ thống một cửa điện tử*) tells the feedback bot about dossiers (*hồ sơ*)
as they are received and as they change, and reads back what citizens answered.

**Keys.** Every call under `/api/v1/` carries `Authorization: Bearer <key>`, a key the bot's admin
makes with `feedback-bot apikey create`. A key reaches the dossiers of its units and of every unit
under them. A missing, malformed, unknown or revoked key gets **401**; a dossier or unit outside the
key's units gets **403**.

**Times.** A moment (`received_at`, `due_at`, `at`, `new_due_at`, `since`) is ISO 8601 with an
offset, `2026-11-27T08:30:00+07:00`, or the one-stop software's `yyyyMMddHHmmss`,
`20261127083000`, read in the bot's configured time zone (Asia/Ho_Chi_Minh, UTC+7, unless
configured otherwise). A day (`until`) is `YYYY-MM-DD`. Times come back in ISO 8601, in the
configured time zone with its offset.

**Idempotence.** Every write may be sent again safely. `PUT` of a dossier creates it (**201**) or
makes it what is sent (**200**; the same body twice changes nothing). An event is recorded once per
type and time: sent again it answers **200** and changes nothing. A batch is all or nothing: one
wrong item refuses the whole batch (**422**, naming the item by its index) and nothing is stored.

**Limits.** Each key may send {rate:g} requests a second on average and {burst} at once; more get
**429** with `Retry-After` (seconds). A body over {max_body_bytes:,} bytes gets **413**. A batch
holds at most {max_batch:,} dossiers; a page of answers at most {max_page:,}.

**Errors** all have one shape: `{{"error": "...", "detail": [{{"loc": [...], "msg": "..."}}]}}`.
For **422** `detail` names each wrong field, `loc` being a path into the JSON body (`["due_at"]`,
`["dossiers", 3, "due_at"]`) or the name of a part of the URL (`["limit"]`, `["code"]`); otherwise
it is empty. **503** (with
`Retry-After`) means the database cannot be reached just now: send the same request later.
"""

TAGS = [
    {"name": "dossiers", "description": "Record dossiers, report what happens to them, read one back."},
    {
        "name": "answers",
        "description": "What citizens answered, oldest first, a page at a time: never "
        "a chat id, a name or a phone number.",
    },
    {"name": "health", "description": "For monitoring; needs no key."},
]

ERRORS: dict[int, str] = {
    401: "No key, a malformed header, or a key unknown or revoked",
    403: "The dossier or unit is outside the key's units",
    404: "No such dossier",
    413: "The body is over the size limit",
    422: "A field is wrong: `detail` names each",
    429: "Too many requests with this key: wait `Retry-After` seconds",
    503: "The database cannot be reached just now: retry after `Retry-After` seconds",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
AUTHENTICATE = {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of a route: always 401, 422, 429 and 503, and these."""
    documented: dict[int | str, dict[str, Any]] = {}
    for status in sorted({401, 422, 429, 503, *statuses}):
        headers = RETRY_AFTER if status in (429, 503) else AUTHENTICATE if status == 401 else None
        documented[status] = {
            "model": ErrorBody,
            "description": ERRORS[status],
            **({"headers": headers} if headers else {}),
        }
    return documented


class StrictJsonRequest(Request):
    """A request whose body is JSON as RFC 8259 says: UTF-8 (Python's json would also guess UTF-16
    and UTF-32) and no NaN or Infinity (which Python's json reads as numbers). Anything else is a
    JSON error, which FastAPI answers with 422."""

    async def json(self) -> Any:
        body = await self.body()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise json.JSONDecodeError(
                "the body is not UTF-8", body.decode("utf-8", "replace"), exc.start
            ) from exc

        def refuse(constant: str) -> Any:
            raise json.JSONDecodeError(f"{constant} is not a JSON number", text, max(0, text.find(constant)))

        return json.loads(text, parse_constant=refuse)


class StrictJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_strictly(request: Request) -> Response:
            return await handle(StrictJsonRequest(request.scope, request.receive))

        return handle_strictly


bearer = HTTPBearer(auto_error=False, description="An API key made with `feedback-bot apikey create`")


async def api_caller(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> ApiCaller:
    """The caller whose key bot.http.guards.ApiKeys accepted (the bearer scheme is declared for
    the documentation's "Authorize"). Async, as every dependency here: FastAPI runs a plain
    function in a worker thread, a thread hop per request."""
    caller = request.scope.get(CALLER)
    if not isinstance(caller, ApiCaller):
        raise HTTPException(401, "no API key", headers={"WWW-Authenticate": "Bearer"})
    return caller


Caller = Annotated[ApiCaller, Depends(api_caller)]
Code = Annotated[
    str, Path(description="The dossier's code in the one-stop software (mã hồ sơ), as on the receipt")
]


class DossierCode(Convertor[str]):
    """A dossier code in a path: any characters, "/" and control characters included, so that a
    code with "/" is reached and one with a newline is refused by the rules (422), not by the
    router (404)."""

    regex = r"[\s\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("code", DossierCode())


def intake_routes(intake: Intake) -> APIRouter:
    """/api/v1/: the routes the one-stop software calls."""
    router = APIRouter(prefix="/api/v1", route_class=StrictJsonRoute)

    # {code:code}: a code may hold "/" (HS/2026/001), sent as it is or as %2F (see DossierCode).
    @router.put(
        "/dossiers/{code:code}",
        tags=["dossiers"],
        summary="Record a dossier, or update it",
        response_description="The dossier as recorded now (unchanged: the same body was sent before)",
        responses={
            201: {"model": DossierView, "description": "Recorded for the first time"},
            **errors(403, 413),
        },
    )
    async def put_dossier(code: Code, body: DossierBody, caller: Caller, response: Response) -> DossierView:
        """Creates the dossier (201) or makes it what is sent (200). The answer carries its survey
        link, for the QR code printed on the receipt, and its survey code."""
        view, created = await intake.put_dossier(caller, code, body)
        response.status_code = 201 if created else 200
        return view

    @router.post(
        "/dossiers:batch",
        tags=["dossiers"],
        summary=f"Record or update up to {MAX_BATCH:,} dossiers at once",
        response_model=BatchResult,
        responses=errors(403, 413),
    )
    async def put_batch(body: BatchBody, caller: Caller) -> Response:
        """All or nothing: each item is a dossier as in a single PUT, with its `code`. One wrong
        item refuses the batch, naming it as `["dossiers", index, field]`."""
        # Serialised here, in one call: FastAPI would check the result against BatchResult again,
        # item by item, and then write it (the same JSON; the document shows the same schema).
        result = await intake.put_batch(caller, body)
        return Response(result.model_dump_json(), media_type="application/json")

    @router.post(
        "/dossiers/{code:code}/events",
        tags=["dossiers"],
        summary="Report what happened to a dossier",
        response_description="Recorded before (the same type and time): nothing changed",
        responses={201: {"model": DossierView, "description": "Recorded now"}, **errors(403, 404, 413)},
    )
    async def add_event(code: Code, body: EventBody, caller: Caller, response: Response) -> DossierView:
        """Adds the event to the dossier's history (201), once per type and time (again: 200).
        `returned` invites the citizens waiting for the survey."""
        view, recorded = await intake.add_event(caller, code, body)
        response.status_code = 201 if recorded else 200
        return view

    @router.get("/dossiers/{code:code}", tags=["dossiers"], summary="A dossier", responses=errors(403, 404))
    async def get_dossier(code: Code, caller: Caller) -> DossierView:
        """The dossier with its history and its answer."""
        return await intake.get_dossier(caller, code)

    @router.get("/answers", tags=["answers"], summary="Answers, a page at a time", responses=errors(403))
    async def list_answers(
        caller: Caller,
        since: Annotated[str | None, Query(description="Only answers given at or after this moment")] = None,
        unit: Annotated[str | None, Query(description="Only this unit's and its units' answers")] = None,
        cursor: Annotated[str | None, Query(description="`next_cursor` of the page before")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Answers a page")] = 100,
    ) -> AnswersPage:
        """Answers in the key's scope, in the order they last changed. Keep the last `next_cursor`:
        the next call with it returns the answers given or changed since. An answer comes again when
        it changes (its follow-up answered, `completed`): keep the latest one per `dossier_code`."""
        return await intake.answers(caller, since=since, unit=unit, cursor=cursor, limit=limit)

    return router


class Health(BaseModel):
    status: Literal["ok"]


def health_routes(intake: Intake) -> APIRouter:
    router = APIRouter(prefix="/api")

    @router.get(
        "/health",
        tags=["health"],
        summary="Whether the API can serve",
        responses={
            200: {"model": Health, "description": "The database answers"},
            503: {"model": ErrorBody, "description": ERRORS[503], "headers": RETRY_AFTER},
        },
    )
    async def health() -> Response:
        """200 `{"status": "ok"}` while the database answers; 503 otherwise."""
        if await intake.healthy():
            return healthy_answer()
        return error_response(
            503, "the database does not answer", headers={"Retry-After": str(UNAVAILABLE_RETRY_SECONDS)}
        )

    return router


def intake_readiness(intake: Intake) -> Readiness:
    """Readiness as far as the intake service sees: its database, no channel."""

    async def ping() -> None:
        if not await intake.healthy():
            raise DatabaseUnavailable("the database does not answer")

    return Readiness(ping)


def healthy_answer() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


async def refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IntakeRefused)
    return error_response(422, INVALID, [Problem(loc=list(p.loc), msg=p.message) for p in exc.problems])


async def forbidden(request: Request, exc: Exception) -> Response:
    return error_response(403, str(exc) or "outside this key's units")


async def not_found(request: Request, exc: Exception) -> Response:
    return error_response(404, str(exc) or "no such dossier")


def build_http_app(
    intake: Intake,
    settings: ApiConfig,
    *,
    clock: Callable[[], float] = time.monotonic,
    zalo_oa: ZaloOAWebhook | None = None,
    telegram: TelegramWebhook | None = None,
    readiness: Readiness | None = None,
    metrics: Metrics | None = None,
) -> FastAPI:
    """The app serving `intake` (and the Zalo OA's and Telegram's webhooks, given them); `clock`
    paces the keys (monotonic seconds). /readyz reports `readiness` (none: the database as
    /api/health sees it, no channel); /metrics serves `metrics` (none: a fresh set, with no storage
    gauges)."""
    app = FastAPI(
        title="Feedback bot: intake API",
        summary="Dossiers in from the one-stop software, citizens' answers out",
        description=DESCRIPTION.format(
            rate=settings.rate_per_second,
            burst=settings.burst,
            max_body_bytes=settings.max_body_bytes,
            max_batch=MAX_BATCH,
            max_page=MAX_PAGE,
        ),
        version=package_version(),
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url="/api/redoc",
        swagger_ui_oauth2_redirect_url=None,
        openapi_tags=TAGS,
        # operationId: the route function's name (put_dossier), for clients generated from the document
        generate_unique_id_function=lambda route: route.name,
    )
    add_error_handlers(app)
    app.add_exception_handler(IntakeRefused, refused)
    app.add_exception_handler(OutsideScope, forbidden)
    app.add_exception_handler(NotFound, not_found)
    app.include_router(intake_routes(intake))
    app.include_router(health_routes(intake))
    app.include_router(monitoring_routes(readiness or intake_readiness(intake), metrics or Metrics()))
    if zalo_oa is not None:  # the Zalo OA webhook (bot/http/zalo_oa.py), outside /api/v1/'s keys
        app.include_router(zalo_oa_routes(zalo_oa))
    if telegram is not None:  # the Telegram webhook (bot/http/telegram.py), likewise
        app.include_router(telegram_routes(telegram))
    # The last added runs first: failures around everything, then the key, then the body's size.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    buckets = TokenBuckets(settings.rate_per_second, settings.burst, clock)
    app.add_middleware(ApiKeys, authenticate=intake.authenticate, buckets=buckets)
    app.add_middleware(Failures)
    return app


def package_version() -> str:
    try:
        return version("feedback-bot")
    except PackageNotFoundError:
        return "0"
