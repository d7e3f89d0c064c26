"""An offline Telegram Bot API for python-telegram-bot: a BaseRequest that records every call and
answers with valid JSON, the way python-telegram-bot tests itself. Faults can be queued per method."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
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


FILE_CHUNK = 16 * 1024  # bytes the fake file server hands out at a time
TRUE_SIZE = -1  # getFile tells a file's true size


@dataclass
class Call:
    method: str
    params: dict[str, Any]


class FakeTelegram(BaseRequest):
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.faults: list[tuple[str, int, dict[str, Any]]] = []  # (method, http status, body)
        self._ids = itertools.count(100)
        self.files: dict[str, tuple[bytes, int | None]] = {}  # file id → (bytes served, size claimed)
        self.downloads: list[str] = []  # file ids whose download began
        self.bytes_served = 0  # bytes of files actually handed out, chunk by chunk

    def serve_file(self, file_id: str, data: bytes, claimed_size: int | None = TRUE_SIZE) -> None:
        """A file getFile finds; getFile says it has `claimed_size` bytes (a size may lie; None:
        getFile says no size)."""
        self.files[file_id] = (data, claimed_size)

    def file_transport(self, chunk: int = FILE_CHUNK) -> httpx.MockTransport:
        """The file server (`base_file_url`): serves each file in chunks, counting what went out."""

        async def download(request: httpx.Request) -> httpx.Response:
            file_id = request.url.path.rsplit("/", 1)[-1]
            if file_id not in self.files:
                return httpx.Response(404)
            self.downloads.append(file_id)
            return httpx.Response(200, stream=_Chunks(self, self.files[file_id][0], chunk))

        return httpx.MockTransport(download)

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
        if endpoint == "getFile":
            file_id = str(params["file_id"])
            if file_id not in self.files:
                return {"file_id": file_id, "file_unique_id": file_id}  # no file_path: cannot be fetched
            data, claimed = self.files[file_id]
            size = (
                {"file_size": len(data) if claimed == TRUE_SIZE else claimed} if claimed is not None else {}
            )
            return {"file_id": file_id, "file_unique_id": file_id, "file_path": file_id, **size}
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


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, fake: FakeTelegram, data: bytes, chunk: int) -> None:
        self.fake, self.data, self.chunk = fake, data, chunk

    async def __aiter__(self) -> Any:
        for start in range(0, len(self.data), self.chunk):
            piece = self.data[start : start + self.chunk]
            self.fake.bytes_served += len(piece)
            yield piece


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

    def document(self, user_id: int, file_id: str, name: str, size: int | None) -> dict[str, Any]:
        """A file sent as a document; `size` is what the update claims (None: not said)."""
        document: dict[str, Any] = {"file_id": file_id, "file_unique_id": file_id, "file_name": name}
        if size is not None:
            document["file_size"] = size
        return self.message(user_id, document=document)

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
