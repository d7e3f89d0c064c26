"""Zalo's three hosts for an Official Account, over one httpx.AsyncClient:

- OAuth (`oauth_url`): POST /v4/oa/access_token, a refresh token for a new pair (header
  `secret_key` = the app secret; a refresh token works once);
- the OA Open API (`api_url`): customer-service messages (text, or a list template whose
  `oa.query.hide` buttons send their payload back as a message), user details, the OA itself;
- ZNS (`zns_url`): template messages to a phone number, the quota, the ratings given.

Answers are `{error, message, data}`: every non-zero `error` is a failure, raised as the
ZaloOAError subclass for its code. A network error, a 5xx or an answer that is not JSON is
Transient. Tokens go in headers and forms only, never in a URL, an exception or a log line."""

from __future__ import annotations

import json as json_module
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 20


class ZaloOAError(Exception):
    """Zalo answered `error` != 0 (or could not be asked: code 0)."""

    transient = False  # a passing fault: worth another try later

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code, self.message = code, message


class TokenInvalid(ZaloOAError):
    """-216: the access token is invalid or expired."""


class OutsideWindow(ZaloOAError):
    """-230: the user's last message is more than 48 hours old; only ZNS reaches them now."""


class Unfollowed(ZaloOAError):
    """-213: the user does not follow the OA (or blocked it)."""


class NoZaloAccount(ZaloOAError):
    """-118: no Zalo account on that phone number."""


class RateLimited(ZaloOAError):
    """-32: too many calls; wait and try again."""

    transient = True


class QuotaExhausted(ZaloOAError):
    """-1139: the day's ZNS quota is used up."""

    transient = True


class TemplateRejected(ZaloOAError):
    """-1124 (template unknown or not approved) or -1123 (a parameter missing or too long)."""


class BadPhone(ZaloOAError):
    """-108: the phone number is not 84 and 9 or 10 digits."""


class Transient(ZaloOAError):
    """Zalo could not be asked: network error, timeout, 5xx, an answer that is not JSON."""

    transient = True


class RefreshRejected(ZaloOAError):
    """OAuth refused the refresh (a refresh token used already or revoked, a wrong app secret)."""


class TokenUnavailable(ZaloOAError):
    """No usable access token now: none was ever given, or refreshing failed and waits for its
    next try (tokens.py). Passes once the token is fixed: senders try again later."""

    transient = True


ERRORS: dict[int, type[ZaloOAError]] = {
    -216: TokenInvalid,
    -230: OutsideWindow,
    -213: Unfollowed,
    -118: NoZaloAccount,
    -32: RateLimited,
    -1139: QuotaExhausted,
    -1124: TemplateRejected,
    -1123: TemplateRejected,
    -108: BadPhone,
}


def error_for(code: int, message: str) -> ZaloOAError:
    return ERRORS.get(code, ZaloOAError)(code, message)


@dataclass(frozen=True)
class TokenGrant:
    """What OAuth answered to a refresh: the new pair, the access token lasting `expires_in` s."""

    access_token: str
    refresh_token: str
    expires_in: int

    def __repr__(self) -> str:  # never the tokens, in a log line or a test failure
        return f"TokenGrant(expires_in={self.expires_in})"


@dataclass(frozen=True)
class ZnsSent:
    msg_id: str
    sent_time: str | None
    daily_quota: int | None
    remaining_quota: int | None


@dataclass(frozen=True)
class Quota:
    daily: int
    remaining: int


Host = Literal["api", "zns"]


class ZaloOAHttp:
    """The HTTP calls, each with the access token it is given. `transport` lets tests put
    httpx.MockTransport here."""

    def __init__(
        self,
        api_url: str,
        oauth_url: str,
        zns_url: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.urls: dict[str, str] = {
            "api": api_url.rstrip("/"),
            "oauth": oauth_url.rstrip("/"),
            "zns": zns_url.rstrip("/"),
        }
        self._http = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(TIMEOUT_SECONDS))

    async def _json(self, request: Awaitable[httpx.Response], what: str) -> dict[str, Any]:
        try:
            response = await request
        except httpx.HTTPError as exc:
            raise Transient(0, f"{what}: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise Transient(0, f"{what}: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError as exc:
            raise Transient(0, f"{what}: HTTP {response.status_code}, the answer is not JSON") from exc
        if not isinstance(data, dict):
            raise Transient(0, f"{what}: HTTP {response.status_code}, the answer is not a JSON object")
        return data

    async def refresh(self, app_id: str, app_secret: str, refresh_token: str) -> TokenGrant:
        """A new pair for `refresh_token`, which Zalo then never takes again."""
        data = await self._json(
            self._http.post(
                f"{self.urls['oauth']}/v4/oa/access_token",
                data={"app_id": app_id, "grant_type": "refresh_token", "refresh_token": refresh_token},
                headers={"secret_key": app_secret},
            ),
            "OAuth refresh",
        )
        error = _code(data.get("error"))
        access, refresh, expires = data.get("access_token"), data.get("refresh_token"), data.get("expires_in")
        if error or not isinstance(access, str) or not isinstance(refresh, str) or not access or not refresh:
            description = data.get("error_description") or data.get("error_name") or data.get("message") or ""
            raise RefreshRejected(error, str(description) or "no token pair in the answer")
        try:
            seconds = int(expires) if expires is not None else 90000
        except (TypeError, ValueError):
            seconds = 90000  # Zalo's documented 25 hours
        return TokenGrant(access, refresh, seconds)

    async def call(
        self,
        host: Host,
        method: Literal["GET", "POST"],
        path: str,
        access_token: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """The `data` of a successful answer; raises the ZaloOAError of a failed one."""
        data = await self._json(
            self._http.request(
                method,
                f"{self.urls[host]}{path}",
                json=json,
                params=params,
                headers={"access_token": access_token},
            ),
            f"{method} {path}",
        )
        error = _code(data.get("error"))
        if error:
            raise error_for(error, str(data.get("message") or ""))
        return data.get("data")

    async def close(self) -> None:
        await self._http.aclose()


def _code(value: object) -> int:
    """Zalo's `error`, as a number (it comes as one, or as text); absent: 0."""
    if value is None or isinstance(value, bool):
        return 0
    try:
        return int(str(value))
    except ValueError:
        return -1


class AccessTokens(Protocol):
    """What the client asks of the token keeper (tokens.TokenKeeper)."""

    async def access_token(self) -> str: ...

    async def renew(self, used: str) -> str: ...


class ZaloOAClient:
    """The OA's calls with its current access token: on -216 the token is renewed once (by the
    keeper, which refreshes only if nobody did meanwhile) and the call made once more."""

    def __init__(self, http: ZaloOAHttp, tokens: AccessTokens) -> None:
        self.http = http
        self.tokens = tokens

    async def _call(self, host: Host, method: Literal["GET", "POST"], path: str, **kwargs: Any) -> Any:
        token = await self.tokens.access_token()
        try:
            return await self.http.call(host, method, path, token, **kwargs)
        except TokenInvalid:
            log.info("zalo_oa: the access token was refused (-216); renewing it and trying once more")
            token = await self.tokens.renew(token)
            return await self.http.call(host, method, path, token, **kwargs)

    async def send_text(self, user_id: str, text: str) -> str:
        """A customer-service text (1 to 2,000 characters); the message id."""
        data = await self._call(
            "api",
            "POST",
            "/v3.0/oa/message/cs",
            json={"recipient": {"user_id": user_id}, "message": {"text": text}},
        )
        return str((data or {}).get("message_id", ""))

    async def send_list(self, user_id: str, title: str, buttons: Sequence[tuple[str, str]]) -> str:
        """A list template with `oa.query.hide` buttons (title, payload): a press sends the payload
        back as the user's message, unseen in the chat."""
        message = {
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "list",
                    "elements": [{"title": title}],
                    "buttons": [{"title": t, "type": "oa.query.hide", "payload": p} for t, p in buttons],
                },
            }
        }
        data = await self._call(
            "api", "POST", "/v3.0/oa/message/cs", json={"recipient": {"user_id": user_id}, "message": message}
        )
        return str((data or {}).get("message_id", ""))

    async def user_detail(self, user_id: str) -> dict[str, Any]:
        data = await self._call(
            "api", "GET", "/v3.0/oa/user/detail", params={"data": json_module.dumps({"user_id": user_id})}
        )
        return dict(data or {})

    async def get_oa(self) -> dict[str, Any]:
        return dict(await self._call("api", "GET", "/v2.0/oa/getoa") or {})

    async def send_template(
        self, phone: str, template_id: str, template_data: dict[str, str], tracking_id: str
    ) -> ZnsSent:
        """A ZNS template message to `phone` (84 and 9 or 10 digits)."""
        data = await self._call(
            "zns",
            "POST",
            "/message/template",
            json={
                "phone": phone,
                "template_id": template_id,
                "template_data": template_data,
                "tracking_id": tracking_id,
            },
        )
        data = dict(data or {})
        given = data.get("quota")
        quota: dict[str, Any] = given if isinstance(given, dict) else {}
        return ZnsSent(
            msg_id=str(data.get("msg_id", "")),
            sent_time=str(data["sent_time"]) if data.get("sent_time") is not None else None,
            daily_quota=_number(quota.get("dailyQuota")),
            remaining_quota=_number(quota.get("remainingQuota")),
        )

    async def quota(self) -> Quota:
        data = dict(await self._call("zns", "GET", "/message/quota") or {})
        daily, remaining = _number(data.get("dailyQuota")), _number(data.get("remainingQuota"))
        if daily is None or remaining is None:
            raise Transient(0, "GET /message/quota: no dailyQuota and remainingQuota in the answer")
        return Quota(daily, remaining)

    async def ratings(
        self, template_id: str, from_time: int, to_time: int, offset: int = 0, limit: int = 100
    ) -> dict[str, Any]:
        """The ratings given through a rating template between the times (ms): {total, data}."""
        params = {
            "template_id": template_id,
            "from_time": from_time,
            "to_time": to_time,
            "offset": offset,
            "limit": limit,
        }
        return dict(await self._call("zns", "GET", "/rating/get", params=params) or {})

    async def close(self) -> None:
        await self.http.close()


def _number(value: object) -> int | None:
    try:
        return int(str(value)) if value is not None and not isinstance(value, bool) else None
    except ValueError:
        return None
