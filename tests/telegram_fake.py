"""An offline Telegram Bot API for python-telegram-bot: a BaseRequest that records every call and
answers with valid JSON, the way python-telegram-bot tests itself. Faults can be queued per method."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

from telegram.request import BaseRequest, RequestData

BOT = {
    "id": 666,
    "is_bot": True,
    "first_name": "Feedback Bot",
    "username": "TestNameBot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


@dataclass
class Call:
    method: str
    params: dict[str, Any]


class FakeTelegram(BaseRequest):
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.faults: list[tuple[str, int, dict[str, Any]]] = []  # (method, http status, body)
        self._ids = itertools.count(100)

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        """Nothing to connect."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    def fail_next(self, method: str, status: int, description: str, retry_after: int | None = None) -> None:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        self.faults.append((method, status, body))

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        for n, (fault_method, status, body) in enumerate(self.faults):
            if fault_method == endpoint:
                del self.faults[n]
                self.calls.append(Call(endpoint + "!" + str(status), params))
                return status, json.dumps(body).encode()
        self.calls.append(Call(endpoint, params))
        return 200, json.dumps({"ok": True, "result": self._result(endpoint, params)}).encode()

    def _result(self, endpoint: str, params: dict[str, Any]) -> Any:
        if endpoint == "getMe":
            return BOT
        if endpoint == "getUpdates":
            return []
        if endpoint == "sendMessage":
            return {
                "message_id": next(self._ids),
                "date": int(time.time()),
                "from": BOT,
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "text": params["text"],
                **({"reply_markup": params["reply_markup"]} if "reply_markup" in params else {}),
            }
        return True

    def sent(self, chat_id: int | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.method == "sendMessage" and (chat_id is None or int(c.params["chat_id"]) == chat_id)
        ]


class Updates:
    """Update payloads as Telegram sends them, for Update.de_json."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    @staticmethod
    def user(user_id: int, language: str = "vi") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": "Dân", "language_code": language}

    @staticmethod
    def chat(chat_id: int, kind: str = "private") -> dict[str, Any]:
        return {"id": chat_id, "type": kind, "first_name": "Dân"}

    def message(
        self,
        user_id: int,
        text: str | None = None,
        *,
        command: bool = False,
        language: str = "vi",
        chat: dict[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": chat or self.chat(user_id),
            "from": self.user(user_id, language),
            **extra,
        }
        if text is not None:
            message["text"] = text
        if command and text:
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split(" ")[0])}]
        return {"update_id": next(self._ids), "message": message}

    def press(self, user_id: int, data: str, message_id: int = 100) -> dict[str, Any]:
        return {
            "update_id": next(self._ids),
            "callback_query": {
                "id": f"cb{next(self._ids)}",
                "from": self.user(user_id),
                "chat_instance": str(user_id),
                "data": data,
                "message": {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": self.chat(user_id),
                    "from": BOT,
                    "text": "…",
                },
            },
        }
