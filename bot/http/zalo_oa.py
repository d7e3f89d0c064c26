"""The Zalo OA webhook's route on the HTTP app: the raw body and the signature header go to the
webhook (bot/channels/zalo_oa/webhook.py), which checks the signature before anything else; its
status is the answer. Outside /api/v1/, so no API key is asked (bot/http/guards.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from bot.channels.zalo_oa.webhook import SIGNATURE_HEADER, ZaloOAWebhook


def zalo_oa_routes(webhook: ZaloOAWebhook) -> APIRouter:
    router = APIRouter()

    @router.post(webhook.path, include_in_schema=False)
    async def zalo_oa_webhook(request: Request) -> Response:
        """An event from Zalo, answered at once (a follower's message is answered after)."""
        body = await request.body()
        status = await webhook.receive(
            body, request.headers.get(SIGNATURE_HEADER), request.client.host if request.client else None
        )
        answer = b'{"ok":true}' if status == 200 else b'{"ok":false}'
        return Response(answer, status_code=status, media_type="application/json")

    return router
