"""The Zalo OA webhook's route on the HTTP app: the raw body and the signature header go to the
webhook (bot/channels/zalo_oa/webhook.py), which checks the signature before anything else; its
status is the answer. Outside /api/v1/, so no API key is asked (bot/http/guards.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from bot.channels.zalo_oa.webhook import SIGNATURE_HEADER, ZaloOAWebhook

BODIES = {200: b'{"error":0}', 400: b'{"error":-1}', 403: b'{"error":-403}', 503: b'{"error":-503}'}


def zalo_oa_routes(webhook: ZaloOAWebhook) -> APIRouter:
    router = APIRouter()

    @router.post(webhook.path, include_in_schema=False)
    async def zalo_oa_webhook(request: Request) -> Response:
        """An event from Zalo, answered at once (a follower's message is answered after)."""
        body = await request.body()
        status = await webhook.receive(
            body, request.headers.get(SIGNATURE_HEADER), request.client.host if request.client else None
        )
        return Response(BODIES.get(status, b"{}"), status_code=status, media_type="application/json")

    return router
