"""The HTTP API over a real gateway object (SQLite, never connected to a broker): messages are fed
to its pipeline directly, time comes from a manual clock."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from devices.clock import ManualClock
from gateway.service import Gateway
from tests.api.conftest import auth, feed


@pytest.mark.parametrize(
    "path",
    ["/api/devices", "/api/devices/sunrise/L1", "/api/deadletters", "/api/devices/sunrise/L1/readings"],
)
def test_401_without_or_with_a_bad_token(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers=auth("nope")).status_code == 401
    assert client.get(path, headers={"Authorization": "Basic b3A6b3A="}).status_code == 401
    assert client.get(path, headers=auth("admin")).status_code == 200


def test_health_and_metrics_need_no_token(client: TestClient) -> None:
    health = client.get("/health")
    assert health.status_code == 503  # never connected to a broker: not healthy, and it says why
    body = health.json()
    assert body["broker"]["ok"] is False
    assert body["database"]["ok"] is True
    assert body["readings"] == {"ok": True, "sink": "sql", "detail": "sqlite"}
    assert body["spool"] == {"ok": True, "batches": 0, "points": 0}
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert 'estate_dead_letters_total{reason="malformed_json"} 0.0' in metrics.text
    assert "estate_queue_depth 0.0" in metrics.text


@pytest.mark.parametrize("dead", ["database", "file"])
def test_health_answers_with_facts_while_the_database_is_away(
    client: TestClient, gateway: Gateway, monkeypatch: pytest.MonkeyPatch, dead: str
) -> None:
    """Its backlog count cannot be read: /health is a 503 naming why, never a 500 (the outage is
    when monitoring needs the facts). ``file``: an SQLite file gone unreadable mid-run."""

    def away(*_: object) -> int:
        raise OperationalError("SELECT count(*) …", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(gateway.relay.outbox, "backlog", away)
    if dead == "database":
        monkeypatch.setattr("gateway.service.ping", lambda _engine: "OperationalError: connection refused")
    health = client.get("/health")
    assert health.status_code == 503
    body = health.json()
    assert body["outbox"]["ok"] is False and "cannot be read: OperationalError" in body["outbox"]["detail"]
    assert body["database"]["ok"] is (dead != "database")


def test_device_json_has_the_spec_fields(client: TestClient, gateway: Gateway) -> None:
    feed(gateway, ("estate/sunrise/cctv/CAM1/heartbeat", {"recording": True, "disk_ok": True}))
    body = client.get("/api/devices/sunrise/CAM1", headers=auth("operator")).json()
    assert body == {
        "estate": "sunrise",
        "id": "CAM1",
        "kind": "cctv",
        "building": "B1",
        "parent": "NVR1",
        "status": "online",
        "last_seen": gateway.clock.now().isoformat().replace("+00:00", "Z"),
        "latest": {"recording": True, "disk_ok": True},
    }


def test_device_list_filters(client: TestClient, gateway: Gateway, clock: ManualClock) -> None:
    feed(
        gateway,
        ("estate/sunrise/lift/L1/telemetry", {"floor": 1}),
        ("estate/sunrise/light/LP1/telemetry", {"on": False}),
    )
    clock.advance(timedelta(minutes=4))  # L1's heartbeat is 60 s: silent for > 3 beats
    get = lambda **q: client.get("/api/devices", params=q, headers=auth("operator")).json()  # noqa: E731
    assert len(get()) == 8
    assert [d["id"] for d in get(kind="lift")] == ["L1"]
    assert [d["id"] for d in get(status="offline")] == ["L1"]
    assert {d["id"] for d in get(status="online")} == {"LP1"}  # no heartbeat declared: not stale
    assert len(get(status="unknown")) == 6
    assert client.get("/api/devices", params={"kind": "toaster"}, headers=auth("operator")).status_code == 422


def test_estate_scope(client: TestClient, gateway: Gateway) -> None:
    feed(gateway, ("estate/sunrise/lift/L1/telemetry", {"floor": 1}))
    assert client.get("/api/devices", headers=auth("other-estate")).json() == []
    assert client.get("/api/devices?estate=sunrise", headers=auth("other-estate")).status_code == 403
    assert client.get("/api/devices/sunrise/L1", headers=auth("other-estate")).status_code == 403
    assert client.get("/api/devices/sunrise/NOPE", headers=auth("operator")).status_code == 404


def test_dead_letters_listed_with_counts_and_role(client: TestClient, gateway: Gateway) -> None:
    feed(
        gateway,
        ("estate/sunrise/lift/L1/telemetry", b"{oops"),
        ("estate/sunrise/lift/L1/telemetry", {"floor": "x"}),
        ("estate/sunrise/lift/L1/telemetry", {"floor": "y"}),
    )
    page = client.get("/api/deadletters", headers=auth("operator")).json()
    assert page["counts"] == {"malformed_json": 1, "wrong_type": 2}
    assert [i["reason"] for i in page["items"]] == ["wrong_type", "wrong_type", "malformed_json"]
    only = client.get("/api/deadletters?reason=malformed_json&limit=5", headers=auth("operator")).json()
    assert [i["excerpt"] for i in only["items"]] == ["{oops"]
    assert client.get("/api/deadletters", headers=auth("crew")).status_code == 403


def test_readings_history(client: TestClient, gateway: Gateway, clock: ManualClock) -> None:
    start = clock.now()
    for level in (70.0, 71.5, 73.0):
        feed(gateway, ("estate/sunrise/water_tank/T1/telemetry", {"level_pct": level, "ph": 7.2}))
        clock.advance(timedelta(minutes=5))
    url = "/api/devices/sunrise/T1/readings"
    rows = client.get(url, params={"field": "level_pct"}, headers=auth("operator")).json()
    assert [r["fields"] for r in rows] == [{"level_pct": 70.0}, {"level_pct": 71.5}, {"level_pct": 73.0}]
    later = (start + timedelta(minutes=4)).isoformat()
    rows = client.get(url, params={"start": later}, headers=auth("operator")).json()
    assert [r["fields"]["level_pct"] for r in rows] == [71.5, 73.0]
    naive = client.get(url, params={"start": "2026-01-05T08:00:00"}, headers=auth("operator"))
    assert naive.status_code == 422
    assert "offset" in naive.json()["detail"]


def test_readings_downsampled_with_every(client: TestClient, gateway: Gateway, clock: ManualClock) -> None:
    # ManualClock starts at 08:00:00 UTC: readings at :00, :05, :10, :15 → 10-minute buckets 08:00, 08:10.
    for level in (70.0, 72.0, 74.0, 75.0):
        feed(gateway, ("estate/sunrise/water_tank/T1/telemetry", {"level_pct": level, "ph": 7.2}))
        clock.advance(timedelta(minutes=5))
    url = "/api/devices/sunrise/T1/readings"
    rows = client.get(url, params={"field": "level_pct", "every": "10m"}, headers=auth("operator")).json()
    assert [(r["time"][11:16], r["fields"]) for r in rows] == [
        ("08:00", {"level_pct": 71.0}),
        ("08:10", {"level_pct": 74.5}),
    ]
    assert client.get(url, params={"every": "10 minutes"}, headers=auth("operator")).status_code == 422


def test_estate_summary_counts_lamps_cameras_alarms_and_orders(client: TestClient, gateway: Gateway) -> None:
    feed(
        gateway,
        ("estate/sunrise/light/LP1/event", {"type": "lamp_failure"}),
        ("estate/sunrise/cctv/CAM1/heartbeat", {"recording": True}),
        ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "entrapment"}),
    )
    body = client.get("/api/estates/sunrise/summary", headers=auth("operator")).json()
    assert body["lamps"] == {
        "total": 1,
        "failed": 1,
        "unknown": 0,
        "working": 0,
        "intact_rate": 0.0,
        "target": 0.95,
    }
    assert body["cameras"] == {"total": 1, "online": 1, "online_rate": 1.0}  # NVR1 is no camera
    active = [a for a in client.get("/api/alerts", headers=auth("operator")).json() if a["active"]]
    assert {"light.lamp_out", "lift.entrapment"} <= {a["rule"] for a in active}
    assert body["alerts"]["active"] == len(active)
    assert body["alerts"]["by_severity"] == dict(Counter(a["severity"] for a in active))
    assert body["workorders"] == {"live": 1, "by_state": {"assigned": 1}, "breached": 0}
    assert client.get("/api/estates/nowhere/summary", headers=auth("operator")).status_code == 404


def test_the_summary_counts_unacknowledged_as_the_list_does(client: TestClient, gateway: Gateway) -> None:
    """One definition (issue 25, defect 1): a cleared alarm nobody acknowledged still waits."""
    feed(
        gateway,
        ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "door_open_failure"}),
        ("estate/sunrise/lift/L1/event", {"type": "fault_cleared", "code": "door_open_failure"}),
        ("estate/sunrise/light/LP1/event", {"type": "lamp_failure"}),
    )
    listed = client.get("/api/alerts", headers=auth("operator")).json()
    waiting = [a for a in listed if a["unacknowledged"]]
    assert any(not a["active"] for a in waiting)  # the cleared door fault is among them
    body = client.get("/api/estates/sunrise/summary", headers=auth("operator")).json()
    assert body["alerts"]["unacknowledged"] == len(waiting)
