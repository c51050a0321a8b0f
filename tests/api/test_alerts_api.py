"""The alert endpoints: roles and scope, operator actions over HTTP, maintenance windows, KPIs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from devices.clock import ManualClock
from gateway.service import Gateway
from tests.api.conftest import auth, feed, tick

TRAPPED = ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "entrapment"})


def trapped_id(client: TestClient, gateway: Gateway) -> int:
    feed(gateway, TRAPPED)
    [alert] = client.get("/api/alerts", headers=auth("operator")).json()
    return int(alert["id"])


@pytest.mark.parametrize(
    ("token", "code"), [("operator", 200), ("manager", 200), ("admin", 200), ("crew", 403)]
)
def test_who_may_read_alerts(client: TestClient, gateway: Gateway, token: str, code: int) -> None:
    feed(gateway, TRAPPED)
    assert client.get("/api/alerts", headers=auth(token)).status_code == code
    assert client.get("/api/alerts").status_code == 401


@pytest.mark.parametrize(
    ("token", "code"), [("operator", 200), ("admin", 200), ("manager", 403), ("crew", 403)]
)
def test_who_may_acknowledge(client: TestClient, gateway: Gateway, token: str, code: int) -> None:
    alert_id = trapped_id(client, gateway)
    assert client.post(f"/api/alerts/{alert_id}/ack", headers=auth(token)).status_code == code


def test_estate_scope_hides_other_estates_alerts(client: TestClient, gateway: Gateway) -> None:
    alert_id = trapped_id(client, gateway)
    assert client.get("/api/alerts", headers=auth("other-estate")).json() == []
    assert client.get(f"/api/alerts/{alert_id}", headers=auth("other-estate")).status_code == 403
    assert client.post(f"/api/alerts/{alert_id}/ack", headers=auth("other-estate")).status_code == 403


def test_alerts_of_one_device_or_one_rule(client: TestClient, gateway: Gateway) -> None:
    door = ("estate/sunrise/access/D1/event", {"type": "forced"})
    feed(gateway, TRAPPED, door)
    everything = client.get("/api/alerts", headers=auth("operator")).json()
    assert {a["device"] for a in everything} >= {"L1", "D1"}
    lift = client.get("/api/alerts", params={"device": "L1"}, headers=auth("operator")).json()
    assert lift and {a["device"] for a in lift} == {"L1"}
    forced = client.get("/api/alerts", params={"rule": "access.forced"}, headers=auth("operator")).json()
    assert [(a["device"], a["rule"]) for a in forced] == [("D1", "access.forced")]
    none = client.get(
        "/api/alerts", params={"device": "D1", "rule": "lift.entrapment"}, headers=auth("operator")
    )
    assert none.status_code == 200 and none.json() == []
    long = client.get("/api/alerts", params={"device": "x" * 65}, headers=auth("operator"))
    assert long.status_code == 422


def test_ack_shelve_unshelve_over_http(client: TestClient, gateway: Gateway) -> None:
    alert_id = trapped_id(client, gateway)
    op = auth("operator")
    body = client.post(f"/api/alerts/{alert_id}/ack", json={"note": "已派人"}, headers=op).json()
    assert (body["state"], body["acknowledged_by"]) == ("acknowledged", "operator")
    shelved = client.post(
        f"/api/alerts/{alert_id}/shelve", json={"minutes": 30, "reason": "救援中"}, headers=op
    )
    assert shelved.json()["state"] == "shelved"
    too_long = client.post(f"/api/alerts/{alert_id}/shelve", json={"minutes": 600, "reason": "x"}, headers=op)
    assert too_long.status_code == 422
    no_reason = client.post(f"/api/alerts/{alert_id}/shelve", json={"minutes": 5, "reason": ""}, headers=op)
    assert no_reason.status_code == 422
    back = client.post(f"/api/alerts/{alert_id}/unshelve", headers=op).json()
    assert back["state"] == "acknowledged"
    # The trapped lift was dispatched at once (its rule's policy), before anyone acknowledged it.
    assert [h["action"] for h in back["history"]] == ["raise", "dispatch", "ack", "shelve", "unshelve"]
    assert back["history"][2]["note"] == "已派人"
    listed = client.get(
        "/api/alerts", params={"state": "acknowledged", "severity": "critical"}, headers=op
    ).json()
    assert [a["id"] for a in listed] == [alert_id]
    assert client.get("/api/alerts", params={"state": "sleeping"}, headers=op).status_code == 422


def test_closed_and_unknown_alerts(client: TestClient, gateway: Gateway) -> None:
    alert_id = trapped_id(client, gateway)
    op = auth("operator")
    client.post(f"/api/alerts/{alert_id}/ack", headers=op)
    feed(gateway, ("estate/sunrise/lift/L1/event", {"type": "fault_cleared", "code": "entrapment"}))
    assert client.get(f"/api/alerts/{alert_id}", headers=op).json()["state"] == "closed"
    assert client.post(f"/api/alerts/{alert_id}/ack", headers=op).status_code == 409
    assert client.get("/api/alerts/99999", headers=op).status_code == 404


def test_maintenance_window_over_http(client: TestClient, gateway: Gateway, clock: ManualClock) -> None:
    op = auth("operator")
    now = clock.now()
    window = {
        "estate": "sunrise",
        "device": "L1",
        "start": now.isoformat(),
        "end": (now + timedelta(hours=2)).isoformat(),
        "reason": "月度维保",
    }
    created = client.post("/api/maintenance-windows", json=window, headers=op)
    assert created.status_code == 201
    assert created.json()["device"] == "L1" and created.json()["created_by"] == "operator"
    alert_id = trapped_id(client, gateway)
    assert client.get(f"/api/alerts/{alert_id}", headers=op).json()["state"] == "suppressed"
    bad = [
        {**window, "end": (now - timedelta(hours=1)).isoformat()},
        {**window, "device": "L404"},
        {**window, "start": "2026-01-05T08:00:00"},  # no offset
        {**window, "estate": "nowhere"},
    ]
    codes = [client.post("/api/maintenance-windows", json=b, headers=op).status_code for b in bad]
    assert codes == [422, 422, 422, 422]
    scoped = client.post("/api/maintenance-windows", json=window, headers=auth("other-estate"))
    assert scoped.status_code == 403  # outside the token's estates


def test_kpis(client: TestClient, gateway: Gateway, clock: ManualClock) -> None:
    feed(
        gateway,
        TRAPPED,
        ("estate/sunrise/water_tank/T1/event", {"type": "hatch_open"}),
        ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "door_open_failure"}),
    )
    clock.advance(timedelta(minutes=5))
    body = client.get("/api/kpis", params={"estate": "sunrise"}, headers=auth("manager")).json()
    alarms = body["alarms"]
    assert alarms["alarms"] == 3 and alarms["peak_10_min"] == 3
    assert alarms["priority_mix_pct"] == {"critical": 33.3, "major": 33.3, "minor": 33.3}
    assert alarms["flood_time_pct"] == 0.0
    assert client.get("/api/kpis", headers=auth("crew")).status_code == 403


def test_patrol_day_report_kpi_and_printable_page(
    client: TestClient, gateway: Gateway, clock: ManualClock
) -> None:
    # 16:00 Shanghai: scan CP1 and CP2 of the night's first round (18:00–21:00) with two guards.
    clock.advance(timedelta(hours=2, minutes=30))
    for cp in ("CP1", "CP2"):
        feed(
            gateway,
            ("estate/sunrise/patrol/H1/event", {"type": "scan", "checkpoint": cp, "guards": ["G1", "G2"]}),
        )
        clock.advance(timedelta(minutes=20))
    clock.advance(timedelta(hours=11, minutes=5))  # 06:15 next morning: the night window has closed
    tick(gateway)
    op = auth("operator")
    [day] = client.get("/api/patrols", params={"estate": "sunrise", "date": "2026-01-05"}, headers=op).json()
    night_one = next(r for r in day["rounds"] if r["id"] == "grounds/2026-01-05/night/1")
    assert night_one["status"] == "completed"
    assert [s["checkpoint"] for s in night_one["scans"]] == ["CP1", "CP2"]
    kpis = client.get("/api/kpis", params={"estate": "sunrise"}, headers=auth("manager")).json()
    # Watched since 16:00: the night's 4 rounds count, round 1 done and rounds 2–4 missed.
    assert kpis["patrols"]["sunrise"]["2026-01-05"] == day["compliance_pct"] == 25.0
    page = client.get("/api/patrols/report", params={"estate": "sunrise", "date": "2026-01-05"}, headers=op)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert (
        "巡更记录" in page.text and "Patrol record" in page.text and "grounds/2026-01-05/night/1" in page.text
    )
    assert client.get("/api/patrols", headers=auth("crew")).status_code == 403


def test_each_shelve_and_unshelve_is_in_the_history_with_who_and_how_long(
    client: TestClient, gateway: Gateway, clock: ManualClock
) -> None:
    """Issue 21: shelving is audited, and capped at one shift in all, not per call."""
    alert_id = trapped_id(client, gateway)
    op = auth("operator")
    client.post(f"/api/alerts/{alert_id}/shelve", json={"minutes": 300, "reason": "等待配件"}, headers=op)
    clock.advance(timedelta(hours=4))
    refused = client.post(
        f"/api/alerts/{alert_id}/shelve", json={"minutes": 300, "reason": "again"}, headers=op
    )
    assert refused.status_code == 422  # 4 h + 5 h would pass the 8 h of a shift
    client.post(f"/api/alerts/{alert_id}/shelve", json={"minutes": 240, "reason": "still"}, headers=op)
    client.post(f"/api/alerts/{alert_id}/unshelve", json={"note": "看过了"}, headers=auth("admin"))
    history = client.get(f"/api/alerts/{alert_id}", headers=op).json()["history"]
    audit = [(h["action"], h["by"], h["note"]) for h in history if "shelve" in h["action"]]
    assert audit == [
        ("shelve", "operator", "300 min: 等待配件"),
        ("shelve", "operator", "240 min: still"),
        ("unshelve", "admin", "看过了"),
    ]
