"""``POST /api/ingest/{estate}/{device}`` with a typed fake of the gateway: who may push, the body's
bound, and 202 only once the payload is queued (the fake's broker says whether it took it)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Principal, Role, TokenBook
from devices.inventory import Inventory
from gateway.service import Gateway
from tests.profiles.helpers import INVENTORY

DEVICE_TOKEN = "nvr2-own-push-token-0001"
SIM, OTHER_SIM, OPERATOR = "simulator-token-000001", "simulator-token-000002", "operator-token-0000001"


class FakeGateway:
    """What the route uses of the gateway: the inventory, and publishing a raw payload."""

    def __init__(self) -> None:
        data = {**INVENTORY, "estates": [dict(INVENTORY["estates"][0])]}
        devices = [dict(d) for d in data["estates"][0]["devices"]]
        devices[1]["ingest_token_sha256"] = hashlib.sha256(DEVICE_TOKEN.encode()).hexdigest()
        data["estates"][0]["devices"] = devices
        self.inventory = Inventory.model_validate(data)
        self.broker_takes = True
        self.pushed: list[tuple[str, bytes]] = []

    def push_raw(self, topic: str, payload: bytes, timeout_s: float) -> bool:
        if self.broker_takes:
            self.pushed.append((topic, payload))
        return self.broker_takes


@pytest.fixture
def fake() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def client(fake: FakeGateway) -> Iterator[TestClient]:
    tokens = TokenBook()
    tokens.add(SIM, Principal("sim", Role.SIMULATOR))
    tokens.add(OTHER_SIM, Principal("sim-elsewhere", Role.SIMULATOR, frozenset({"lakeside"})))
    tokens.add(OPERATOR, Principal("op", Role.OPERATOR))
    with TestClient(create_app(cast(Gateway, fake), tokens, manage_lifecycle=False)) as test_client:
        yield test_client


URL = "/api/ingest/sunrise/NVR2"
LINE = b"Code=StorageFailure;action=Start;index=0"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_devices_own_token_in_the_query_string_queues_it(client: TestClient, fake: FakeGateway) -> None:
    answer = client.post(URL, params={"token": DEVICE_TOKEN}, content=LINE)
    assert answer.status_code == 202
    assert answer.json() == {"topic": "estate/sunrise/cctv/NVR2/raw", "bytes": len(LINE)}
    assert fake.pushed == [("estate/sunrise/cctv/NVR2/raw", LINE)]


def test_a_simulator_token_queues_it_binary_and_all(client: TestClient, fake: FakeGateway) -> None:
    frame = bytes(range(256))
    assert client.post("/api/ingest/sunrise/T1", headers=bearer(SIM), content=frame).status_code == 202
    assert fake.pushed == [("estate/sunrise/water_tank/T1/raw", frame)]


def test_not_queued_is_503_and_never_202(client: TestClient, fake: FakeGateway) -> None:
    fake.broker_takes = False
    answer = client.post(URL, headers=bearer(SIM), content=LINE)
    assert answer.status_code == 503 and "send it again" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("path", "headers", "params", "body", "status", "words"),
    [
        (URL, {}, {}, LINE, 401, "token is required"),
        (URL, {}, {"token": "wrong-token-wrong-token"}, LINE, 401, "unknown token"),
        (URL, {}, {"token": "short"}, LINE, 422, "at least 16"),
        (URL, bearer(OPERATOR), {}, LINE, 403, "may not push"),
        (URL, bearer(OTHER_SIM), {}, LINE, 403, "outside this token's scope"),
        (
            "/api/ingest/sunrise/NVR1",
            {},
            {"token": DEVICE_TOKEN},
            LINE,
            401,
            "unknown token",
        ),  # another device's
        ("/api/ingest/sunrise/NOPE", bearer(SIM), {}, LINE, 404, "no device"),
        ("/api/ingest/sunrise/CAM1", bearer(SIM), {}, LINE, 404, "has no profile"),
        ("/api/ingest/sun%20rise/NVR2", bearer(SIM), {}, LINE, 422, "pattern"),
        (URL, bearer(SIM), {}, b"", 400, "empty body"),
        (URL, bearer(SIM), {}, b"x" * (64 * 1024 + 1), 413, "over 65536"),
    ],
)
def test_refusals_queue_nothing(
    client: TestClient,
    fake: FakeGateway,
    path: str,
    headers: dict[str, str],
    params: dict[str, str],
    body: bytes,
    status: int,
    words: str,
) -> None:
    answer = client.post(path, headers=headers, params=params, content=body)
    assert answer.status_code == status, answer.text
    assert words in str(answer.json()["detail"])
    assert fake.pushed == []


def test_a_chunked_body_is_bounded_while_it_is_read(client: TestClient, fake: FakeGateway) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(70):
            yield b"x" * 1024

    answer = client.post(URL, headers=bearer(SIM), content=chunks())
    assert answer.status_code == 413
    assert fake.pushed == []


def test_the_openapi_declares_the_answers() -> None:
    schema: dict[str, Any] = create_app(
        cast(Gateway, object()), TokenBook(), manage_lifecycle=False
    ).openapi()
    answers = schema["paths"]["/api/ingest/{estate}/{device}"]["post"]["responses"]
    assert {"202", "400", "401", "403", "404", "413", "422", "503"} <= set(answers)


class FakeMqtt:
    """The broker side of ``Gateway.push_raw``: connected or not, acknowledging or not."""

    def __init__(self, connected: bool, acknowledges: bool) -> None:
        self.connected, self.acknowledges = connected, acknowledges
        self.published: list[tuple[str, bytes, int]] = []

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self.published.append((topic, payload, qos))

    def sync(self, timeout_s: float) -> bool:
        return self.acknowledges


@pytest.mark.parametrize(
    ("connected", "acknowledges", "queued", "published"),
    [(True, True, True, 1), (True, False, False, 1), (False, True, False, 0)],
)
def test_push_raw_is_true_only_once_the_broker_acknowledged(
    connected: bool, acknowledges: bool, queued: bool, published: int
) -> None:
    mqtt = FakeMqtt(connected, acknowledges)
    stand_in = cast(Gateway, type("G", (), {"mqtt": mqtt})())
    assert Gateway.push_raw(stand_in, "estate/sunrise/cctv/NVR2/raw", LINE, 1.0) is queued
    assert mqtt.published == [("estate/sunrise/cctv/NVR2/raw", LINE, 1)] * published
