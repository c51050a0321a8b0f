"""Shared API fixtures: a real gateway object (SQLite, never connected to a broker) behind the
FastAPI app, tokens for each role, and a manual clock."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from alerts.model import Alert
from api.app import create_app
from api.auth import Principal, Role, TokenBook
from devices.clock import ManualClock
from devices.loader import load_inventory
from gateway.mqtt import Inbound
from gateway.service import Gateway, build_gateway
from gateway.settings import Settings
from tests.support.gateway import SPEC_EXAMPLE

TOKENS = {
    "admin": Principal("admin", Role.ADMIN),
    "operator": Principal("operator", Role.OPERATOR),
    "manager": Principal("manager", Role.MANAGER),
    "other-estate": Principal("far", Role.OPERATOR, estates=frozenset({"elsewhere"})),
    "crew": Principal("crew", Role.CREW, crew="lift-team"),
    "simulator": Principal("simulator", Role.SIMULATOR),
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def gateway(tmp_path: Path, clock: ManualClock) -> Iterator[Gateway]:
    # The thread receiver: its hand-off queue is where these tests put messages (gateway.mqtt.put).
    settings = Settings(
        mqtt_url="mqtt://127.0.0.1:9", data_dir=tmp_path, instance="api-test", mqtt_receiver="thread"
    )
    gw = build_gateway(settings, load_inventory(SPEC_EXAMPLE), clock=clock)
    # The alarm core on its own thread, as Gateway.start runs it (alerts/owner.py): every action
    # and batch of these tests goes through it, and the test's thread may not touch its state.
    # Without the MQTT loop or the ticker: the tests tick (``tick``) and feed (``feed``) it.
    owner = gw.core.owner
    owner.start()
    owner.call(gw.alarms.start)
    owner.call(gw.dispatcher.start)
    yield gw
    owner.stop()


@pytest.fixture
def client(gateway: Gateway) -> Iterator[TestClient]:
    book = TokenBook()
    for token, principal in TOKENS.items():
        book.add(token, principal)
    with TestClient(create_app(gateway, book, manage_lifecycle=False)) as test_client:
        yield test_client


def feed(gateway: Gateway, *messages: tuple[str, dict[str, object] | bytes]) -> None:
    """Messages through the real pipeline (decode, state, alarms, storage), as if from MQTT."""
    for i, (topic, payload) in enumerate(messages):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        gateway.mqtt.put(Inbound(topic, body, gateway.now_ns(), i + 1, 0))
    gateway.pipeline.run_once()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def tick(gateway: Gateway) -> None:
    """The alarm core's tick, on its thread (as the ticker sends it)."""
    gateway.core.owner.call(gateway.alarms.tick)


def open_alerts(gateway: Gateway) -> list[Alert]:
    """The open alerts as the book holds them now (read on the core's thread)."""
    return gateway.core.owner.call(gateway.alarms.book.open_alerts)


def hold_core(gateway: Gateway) -> threading.Event:
    """Keep the alarm core's thread busy (a long batch) until the returned event is set."""
    release, started = threading.Event(), threading.Event()

    def long_batch() -> None:
        started.set()
        release.wait(10)

    assert gateway.core.owner.post(long_batch)
    assert started.wait(5)
    return release
