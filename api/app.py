"""The FastAPI application: ``create_app(gateway, tokens)``, a lifespan that starts and stops it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.auth import TokenBook
from api.routes import deadletters, devices, system
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
    app.include_router(devices.router)
    app.include_router(deadletters.router)
    return app
