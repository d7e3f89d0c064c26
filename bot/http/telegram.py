"""The Telegram webhook's route on the HTTP app: the secret header and the raw body go to the
webhook (bot/channels/telegram.py), which checks the secret before anything else; its status is
the answer. Outside /api/v1/, so no API key is asked (bot/http/guards.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response

if TYPE_CHECKING:  # the type only: `feedback-bot api` need not load python-telegram-bot
    from bot.channels.telegram import TelegramWebhook

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def telegram_routes(webhook: TelegramWebhook) -> APIRouter:
    router = APIRouter()

    @router.post(webhook.path, include_in_schema=False)
    async def telegram_webhook(request: Request) -> Response:
        """An update from Telegram, answered at once (the citizen is answered after)."""
        given = request.headers.get(SECRET_HEADER)
        body = await request.body() if given is not None else b""
        status = await webhook.receive(body, given, request.client.host if request.client else None)
        headers = {"Retry-After": "1"} if status == 503 else None
        return Response(status_code=status, headers=headers)

    return router
