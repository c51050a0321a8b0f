"""The FastAPI application: ``create_app(gateway, tokens)``, a lifespan that starts and stops it."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from alerts.book import AlertClosed, AlertError, AlertNotFound
from alerts.owner import OwnerBusy
from alerts.rules import RuleOverrideError
from api.auth import TokenBook
from api.errors import document
from api.routes import (
    alerts,
    assets,
    deadletters,
    devices,
    estates,
    handovers,
    ingest,
    journal,
    kpis,
    me,
    notifications,
    pages,
    patrols,
    stream,
    system,
    workorders,
)
from dispatch.desk import OrderConflict, OrderError, OrderNotFound
from gateway.service import Gateway


def create_app(gateway: Gateway, tokens: TokenBook, *, manage_lifecycle: bool = True) -> FastAPI:
    """``manage_lifecycle``: start the gateway with the app and stop it after (False when the
    caller owns the gateway, e.g. tests that share one)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            gateway.start()
        try:
            yield
        finally:
            if manage_lifecycle:
                gateway.stop()

    app = FastAPI(
        title="Estate monitoring gateway",
        version="0.1.0",
        summary="Devices, readings, alarms and work orders of residential estates",
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    app.state.tokens = tokens
    app.include_router(system.router)
    app.include_router(estates.router)
    app.include_router(devices.router)
    app.include_router(deadletters.router)
    app.include_router(alerts.router)
    app.include_router(kpis.router)
    app.include_router(stream.router)
    app.include_router(patrols.router)
    app.include_router(workorders.router)
    app.include_router(assets.router)
    app.include_router(notifications.router)
    app.include_router(ingest.router)
    app.include_router(me.router)
    app.include_router(journal.router)
    app.include_router(handovers.router)
    pages.mount(app)
    _map_errors(app)
    document(app)
    return app


#: Domain errors → HTTP, in one place.
_STATUS: list[tuple[type[Exception], int]] = [
    (AlertNotFound, status.HTTP_404_NOT_FOUND),
    (AlertClosed, status.HTTP_409_CONFLICT),
    (AlertError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (RuleOverrideError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (OrderNotFound, status.HTTP_404_NOT_FOUND),
    (OrderConflict, status.HTTP_409_CONFLICT),
    (OrderError, status.HTTP_422_UNPROCESSABLE_CONTENT),
]


def _map_errors(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(OwnerBusy, _busy)
    for error, code in _STATUS:

        async def handler(_request: Request, exc: Exception, code: int = code) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, status_code=code)

        app.add_exception_handler(error, handler)


async def _busy(_request: Request, exc: Exception) -> JSONResponse:
    """The alarm core did not take the action in time (alerts/owner.py): nothing was lost, the
    operator tries again."""
    return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "1"})


async def _invalid(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, made JSON-safe: an input such as NaN or Infinity is shown as text (the
    default answer failed to serialise it and became a 500)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse(
        {"detail": jsonable_encoder(errors, custom_encoder={float: _finite})},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


def _finite(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)
