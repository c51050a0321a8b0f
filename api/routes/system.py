"""``GET /health`` (no auth: each dependency's state) and ``GET /metrics`` (Prometheus text)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import GatewayDep

router = APIRouter(tags=["system"])


@router.get(
    "/health",
    summary="State of the broker, database, readings store and spool",
    responses={503: {"description": "Something is failing: the same body, with `ok` false"}},
)
def health(gateway: GatewayDep) -> JSONResponse:
    body: dict[str, Any] = gateway.health()
    return JSONResponse(body, status_code=200 if body["ok"] else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(gateway: GatewayDep) -> Response:
    return Response(gateway.metrics.render(), media_type=CONTENT_TYPE_LATEST)
