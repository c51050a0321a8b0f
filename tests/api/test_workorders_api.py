"""The work-order endpoints: roles, crew and estate scope, reports, dispatching, the crew's steps,
repair KPIs and which stream events each token receives."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from alerts.stream import StreamEvent
from api.auth import Principal, Role
from api.routes.stream import _visible
from devices.clock import ManualClock
from gateway.service import Gateway
from tests.api.conftest import TOKENS, auth, feed, tick

TRAPPED = ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "entrapment"})
DOOR = ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "door_open_failure"})
REPORT = {"estate": "sunrise", "trade": "water", "title": "B1 地下室漏水", "category": "emergency"}


def trapped_order(client: TestClient, gateway: Gateway) -> dict[str, Any]:
    feed(gateway, TRAPPED)
    [order] = client.get("/api/workorders", headers=auth("operator")).json()
    return order


def water_order(client: TestClient) -> dict[str, Any]:
    response = client.post("/api/workorders", json=REPORT, headers=auth("operator"))
    assert response.status_code == 201, response.text
    return response.json()


def test_an_entrapment_is_an_order_for_the_lift_crew(client: TestClient, gateway: Gateway) -> None:
    order = trapped_order(client, gateway)
    assert (order["crew"], order["trade"], order["state"], order["severity"]) == (
        "lift-team",
        "lift",
        "assigned",
        "critical",
    )
    alert = client.get(f"/api/alerts/{order['alert']}", headers=auth("operator")).json()
    assert alert["work_order"] == order["id"]
    detail = client.get(f"/api/workorders/{order['id']}", headers=auth("crew")).json()
    assert [h["action"] for h in detail["history"]] == ["create", "assign"]


@pytest.mark.parametrize(
    ("token", "code"),
    [("operator", 200), ("manager", 200), ("admin", 200), ("crew", 200), ("other-estate", 403)],
)
def test_who_may_read_an_order(client: TestClient, gateway: Gateway, token: str, code: int) -> None:
    order = trapped_order(client, gateway)
    assert client.get(f"/api/workorders/{order['id']}", headers=auth(token)).status_code == code
    assert client.get(f"/api/workorders/{order['id']}").status_code == 401
    assert client.get("/api/workorders", headers=auth("nonsense")).status_code == 401


def test_a_crew_sees_its_own_orders_only(client: TestClient, gateway: Gateway) -> None:
    lift = trapped_order(client, gateway)
    water = water_order(client)
    listed = client.get("/api/workorders", headers=auth("crew")).json()
    assert [o["id"] for o in listed] == [lift["id"]]
    assert client.get(f"/api/workorders/{water['id']}", headers=auth("crew")).status_code == 403
    assert (
        client.get("/api/workorders", params={"crew": "water-team"}, headers=auth("crew")).status_code == 403
    )
    assert client.post(f"/api/workorders/{water['id']}/accept", headers=auth("crew")).status_code == 403
    everything = client.get("/api/workorders", headers=auth("operator")).json()
    assert {o["id"] for o in everything} == {lift["id"], water["id"]}
    assert client.get("/api/workorders", headers=auth("other-estate")).json() == []


@pytest.mark.parametrize(
    ("token", "code"),
    [("operator", 201), ("manager", 201), ("admin", 201), ("crew", 403), ("other-estate", 403)],
)
def test_who_may_report(client: TestClient, token: str, code: int) -> None:
    assert client.post("/api/workorders", json=REPORT, headers=auth(token)).status_code == code
    assert client.post("/api/workorders", json=REPORT).status_code == 401


def test_a_report_names_a_device_or_a_trade(client: TestClient) -> None:
    op = auth("operator")
    by_device = client.post(
        "/api/workorders", json={"estate": "sunrise", "device": "LP1", "title": "灯不亮"}, headers=op
    ).json()
    assert (by_device["trade"], by_device["building"], by_device["crew"]) == (
        "electrical",
        "B2",
        "electric-team",
    )
    for body, needle in [
        ({"estate": "sunrise", "title": "x"}, "trade"),
        ({"estate": "sunrise", "device": "NOPE", "title": "x"}, "no device 'NOPE'"),
        ({"estate": "nowhere", "trade": "lift", "title": "x"}, "no estate 'nowhere'"),
        ({"estate": "sunrise", "trade": "plumbing", "title": "x"}, "trade"),
        ({"estate": "sunrise", "trade": "lift", "title": ""}, "title"),
        ({"estate": "sunrise", "trade": "lift", "title": "x", "crew": "ghosts"}, "no crew 'ghosts'"),
    ]:
        response = client.post("/api/workorders", json=body, headers=op)
        assert response.status_code in (403, 422) and needle in response.text, (body, response.text)


def test_the_crew_steps_through_an_order_over_http(
    client: TestClient, gateway: Gateway, clock: ManualClock
) -> None:
    order = trapped_order(client, gateway)
    crew, oid = auth("crew"), order["id"]
    assert client.post(f"/api/workorders/{oid}/arrive", headers=crew).status_code == 409
    clock.advance(timedelta(minutes=2))
    accepted = client.post(f"/api/workorders/{oid}/accept", json={"note": "马上到"}, headers=crew).json()
    assert accepted["state"] == "accepted" and accepted["history"][-1]["by"] == "crew"
    assert client.post(f"/api/workorders/{oid}/arrive", headers=crew).json()["state"] == "on_site"
    resolved = client.post(f"/api/workorders/{oid}/resolve", json={"note": "已放人"}, headers=crew).json()
    assert resolved["state"] == "resolved"  # the lift has not reported recovery yet
    feed(gateway, ("estate/sunrise/lift/L1/event", {"type": "fault_cleared", "code": "entrapment"}))
    assert client.get(f"/api/workorders/{oid}", headers=crew).json()["state"] == "closed"
    assert client.post(f"/api/workorders/{oid}/accept", headers=crew).status_code == 409
    assert client.post("/api/workorders/999/accept", headers=auth("operator")).status_code == 404


def test_operators_dispatch_alerts(client: TestClient, gateway: Gateway) -> None:
    feed(gateway, DOOR)
    [alert] = client.get("/api/alerts", headers=auth("operator")).json()
    assert alert["work_order"] is None  # a minor door fault waits for an operator
    url = f"/api/alerts/{alert['id']}/dispatch"
    assert client.post(url, headers=auth("crew")).status_code == 403
    assert client.post(url, headers=auth("other-estate")).status_code == 403
    assert client.post(url, json={"crew": "ghosts"}, headers=auth("operator")).status_code == 422
    made = client.post(url, json={"crew": "lift-team"}, headers=auth("operator"))
    assert made.status_code == 201 and made.json()["source"] == "operator"
    assert client.post(url, headers=auth("operator")).status_code == 409
    assert client.post("/api/alerts/424242/dispatch", headers=auth("operator")).status_code == 404


def test_cancel_and_reassign_need_an_operator_or_manager(client: TestClient) -> None:
    order = water_order(client)
    oid = order["id"]
    body = {"crew": "security-team", "note": "周师傅休假"}
    assert client.post(f"/api/workorders/{oid}/reassign", json=body, headers=auth("crew")).status_code == 403
    moved = client.post(f"/api/workorders/{oid}/reassign", json=body, headers=auth("manager")).json()
    assert moved["crew"] == "security-team"
    assert (
        client.post(f"/api/workorders/{oid}/cancel", json={"note": ""}, headers=auth("operator")).status_code
        == 422
    )
    done = client.post(
        f"/api/workorders/{oid}/cancel", json={"note": "重复"}, headers=auth("operator")
    ).json()
    assert done["state"] == "cancelled"


def test_kpis_include_repair_timeliness(client: TestClient, gateway: Gateway, clock: ManualClock) -> None:
    on_time, late = water_order(client), water_order(client)
    op = auth("operator")
    for step in ("accept", "arrive", "resolve"):
        client.post(f"/api/workorders/{on_time['id']}/{step}", headers=op)
    clock.advance(timedelta(minutes=11))
    tick(gateway)  # the other order's 10-minute accept clock has run out
    repairs = client.get("/api/kpis", headers=op).json()["repairs"]
    assert (repairs["decided"], repairs["on_time"], repairs["late"], repairs["timeliness"]) == (2, 1, 1, 0.5)
    assert repairs["target"] == 0.9 and repairs["breaches"] == {"accept": 1}
    assert late["id"] != on_time["id"]


def _event(kind: str, crews: list[str], estate: str = "sunrise") -> StreamEvent:
    return StreamEvent("b-1", kind, estate, {"crews": crews})


def test_stream_scope_by_role_and_crew() -> None:
    crew, operator = TOKENS["crew"], TOKENS["operator"]
    assert _visible(crew, _event("workorder", ["lift-team"]))
    assert _visible(crew, _event("workorder", ["lift-team", "lift-backup"]))  # taken away: it hears
    assert not _visible(crew, _event("workorder", ["water-team"]))
    assert not _visible(crew, _event("alert", []))
    assert _visible(operator, _event("workorder", ["water-team"]))
    assert _visible(operator, _event("alert", []))
    far = Principal("far", Role.OPERATOR, estates=frozenset({"elsewhere"}))
    assert not _visible(far, _event("workorder", ["lift-team"]))
    assert _visible(crew, StreamEvent("b-2", "reset", "", {}))
