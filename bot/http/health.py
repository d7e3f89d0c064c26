"""For the operator's monitoring, outside the intake API's keys and its document: GET /healthz
(the process answers), GET /readyz (the database answers and every chat channel runs) and
GET /metrics (Prometheus' text format). See bot/health.py and bot/metrics.py."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from bot.health import Readiness
from bot.metrics import CONTENT_TYPE, Metrics


def monitoring_routes(readiness: Readiness, metrics: Metrics) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def liveness() -> Response:
        """200 while the event loop answers; asks nothing of the database."""
        return Response(b'{"status":"ok"}', media_type="application/json")

    @router.get("/readyz")
    async def readiness_check() -> Response:
        """200 when the database answers and every channel runs; 503 naming what is not ready."""
        report = await readiness.check()
        return JSONResponse(report.body(), status_code=200 if report.ready else 503)

    @router.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(await metrics.exposition(), media_type=CONTENT_TYPE)

    return router
