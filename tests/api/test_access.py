"""Who may call what (docs/contract.md §8; issue 6, acceptance 1): every endpoint family, every role, the
estate scope. 401 without a token or with a bad one; 403 outside the role or the scope; otherwise
the call goes through (2xx, or the domain's own answer such as 409 — never 401/403)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.service import Gateway
from tests.api.conftest import auth, feed

ALL = frozenset({"admin", "operator", "manager", "crew", "simulator"})
OPS = frozenset({"admin", "operator"})
READERS = frozenset({"admin", "operator", "manager", "simulator"})
MANAGERS = frozenset({"admin", "operator", "manager"})
ORDER_READERS = frozenset({"admin", "operator", "manager", "simulator", "crew"})
STEPPERS = frozenset({"admin", "operator", "crew"})
DOOR = ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "door_open_failure"})
TRAPPED = ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "entrapment"})


@dataclass(frozen=True)
class Call:
    """One endpoint: how to make its target, the request, and the roles allowed."""

    name: str
    method: str
    path: Callable[[dict[str, Any]], str]
    allowed: frozenset[str]
    body: dict[str, Any] | None = None
    #: Whether an operator scoped to another estate is refused (403) rather than shown nothing.
    scoped: bool = True


def _targets(client: TestClient, gateway: Gateway) -> dict[str, Any]:
    """An alert for the lift crew's order (entrapment), a door alert without one."""
    feed(gateway, TRAPPED, DOOR)
    alerts = client.get("/api/alerts", headers=auth("admin")).json()
    [order] = client.get("/api/workorders", headers=auth("admin")).json()
    door = next(a for a in alerts if a["rule"] == "lift.door_failure")
    return {"alert": order["alert"], "door": door["id"], "order": order["id"]}


CALLS = [
    Call("estates", "GET", lambda t: "/api/estates", ALL, scoped=False),
    Call("estate summary", "GET", lambda t: "/api/estates/sunrise/summary", ALL),
    Call("devices", "GET", lambda t: "/api/devices?estate=sunrise", ALL),
    Call("device", "GET", lambda t: "/api/devices/sunrise/L1", ALL),
    Call("readings", "GET", lambda t: "/api/devices/sunrise/L1/readings", ALL),
    Call("alerts", "GET", lambda t: "/api/alerts?estate=sunrise", READERS),
    Call("alert", "GET", lambda t: f"/api/alerts/{t['alert']}", READERS),
    Call("ack", "POST", lambda t: f"/api/alerts/{t['alert']}/ack", OPS, {"note": "ok"}),
    Call("shelve", "POST", lambda t: f"/api/alerts/{t['alert']}/shelve", OPS, {"minutes": 5, "reason": "x"}),
    Call("unshelve", "POST", lambda t: f"/api/alerts/{t['alert']}/unshelve", OPS, {}),
    Call("dispatch", "POST", lambda t: f"/api/alerts/{t['door']}/dispatch", OPS, {}),
    Call(
        "maintenance window",
        "POST",
        lambda t: "/api/maintenance-windows",
        OPS,
        {
            "estate": "sunrise",
            "start": "2026-01-05T08:00:00+00:00",
            "end": "2026-01-05T09:00:00+00:00",
            "reason": "保养",
        },
    ),
    Call("kpis", "GET", lambda t: "/api/kpis?estate=sunrise", MANAGERS),
    Call("patrols", "GET", lambda t: "/api/patrols?estate=sunrise", READERS),
    Call("patrol report", "GET", lambda t: "/api/patrols/report?estate=sunrise", MANAGERS),
    Call("dead letters", "GET", lambda t: "/api/deadletters", READERS, scoped=False),
    Call("notifications", "GET", lambda t: "/api/notifications?estate=sunrise", MANAGERS),
    Call("test message", "POST", lambda t: "/api/notifications/channels/none/test", frozenset({"admin"}), {}),
    Call("crews", "GET", lambda t: "/api/crews?estate=sunrise", ORDER_READERS),
    Call("work orders", "GET", lambda t: "/api/workorders?estate=sunrise", ORDER_READERS),
    Call("work order", "GET", lambda t: f"/api/workorders/{t['order']}", ORDER_READERS),
    Call(
        "report",
        "POST",
        lambda t: "/api/workorders",
        MANAGERS,
        {"estate": "sunrise", "trade": "water", "title": "漏水"},
    ),
    Call("accept", "POST", lambda t: f"/api/workorders/{t['order']}/accept", STEPPERS, {}),
    Call("arrive", "POST", lambda t: f"/api/workorders/{t['order']}/arrive", STEPPERS, {}),
    Call("resolve", "POST", lambda t: f"/api/workorders/{t['order']}/resolve", STEPPERS, {}),
    Call("cancel", "POST", lambda t: f"/api/workorders/{t['order']}/cancel", MANAGERS, {"note": "重复"}),
    Call(
        "reassign",
        "POST",
        lambda t: f"/api/workorders/{t['order']}/reassign",
        MANAGERS,
        {"crew": "lift-team"},
    ),
]
ROLES = sorted(ALL)


def _call(client: TestClient, call: Call, targets: dict[str, Any], token: str | None) -> int:
    headers = auth(token) if token else {}
    response = client.request(call.method, call.path(targets), json=call.body, headers=headers)
    return response.status_code


@pytest.mark.parametrize("call", CALLS, ids=[c.name for c in CALLS])
def test_no_token_or_a_bad_one_is_401(client: TestClient, gateway: Gateway, call: Call) -> None:
    targets = _targets(client, gateway)
    assert _call(client, call, targets, None) == 401
    assert _call(client, call, targets, "not-a-token") == 401


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("call", CALLS, ids=[c.name for c in CALLS])
def test_each_role(client: TestClient, gateway: Gateway, call: Call, role: str) -> None:
    targets = _targets(client, gateway)
    code = _call(client, call, targets, role)
    if role in call.allowed:
        assert code not in (401, 403) and code < 500, f"{role} {call.name}: {code}"
    else:
        assert code == 403, f"{role} {call.name}: {code}"


@pytest.mark.parametrize("call", [c for c in CALLS if "operator" in c.allowed], ids=lambda c: c.name)
def test_estate_scope(client: TestClient, gateway: Gateway, call: Call) -> None:
    """An operator of another estate: refused on this estate's things; lists come back empty."""
    targets = _targets(client, gateway)
    response = client.request(call.method, call.path(targets), json=call.body, headers=auth("other-estate"))
    if call.scoped:
        assert response.status_code == 403, f"{call.name}: {response.status_code}"
    else:
        assert response.status_code == 200 and "sunrise" not in response.text


def test_health_and_metrics_need_no_token(client: TestClient) -> None:
    assert client.get("/health").status_code in (200, 503)  # the test gateway has no broker
    assert client.get("/metrics").status_code == 200


def test_the_stream_needs_a_token(client: TestClient) -> None:
    assert client.get("/api/stream").status_code == 401
    assert client.get("/api/stream", headers=auth("not-a-token")).status_code == 401
