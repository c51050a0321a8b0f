"""The API the console of issue 25 reads, with its refusals: thresholds for charts, the journal
(JSON and CSV), shelving in whole minutes, a cancelled order's alarm free to dispatch again, the
overdue-order alarm refused for dispatch, the event stream ending at shutdown, and handovers on a
gateway without them or signed by two at once."""

from __future__ import annotations

import csv
import io
import threading
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from alerts.handovers import Handover, HandoverBook, HandoverError
from alerts.stream import EventHub
from devices.clock import ManualClock
from gateway.service import Gateway
from tests.api.conftest import auth, feed, tick

DOOR = ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "door_open_failure"})
DOOR_CLEARED = ("estate/sunrise/lift/L1/event", {"type": "fault_cleared", "code": "door_open_failure"})


def test_thresholds_are_the_rules_numeric_limits(client: TestClient) -> None:
    url = "/api/thresholds?estate=sunrise&kind=water_tank&device=T1"  # T1: chlorine-disinfected
    found = client.get(url, headers=auth("operator")).json()
    chlorine = sorted((t["op"], t["value"], t["rule"]) for t in found if t["field"] == "chlorine_mg_l")
    assert chlorine == [
        ("<", 0.05, "water.chlorine_low"),
        ("<", 0.2, "water.chlorine_prealarm"),
        (">", 2.0, "water.chlorine_high"),
    ]
    every = client.get("/api/thresholds?estate=sunrise&kind=water_tank", headers=auth("operator")).json()
    assert {t["rule"] for t in found} < {t["rule"] for t in every}  # the chloramine rule is not T1's
    assert client.get("/api/thresholds?estate=nowhere&kind=lift", headers=auth("admin")).status_code == 404
    assert (
        client.get("/api/thresholds?estate=sunrise&kind=lift&device=X9", headers=auth("admin")).status_code
        == 404
    )
    assert client.get("/api/thresholds?estate=sunrise&kind=boat", headers=auth("admin")).status_code == 422
    assert (
        client.get("/api/thresholds?estate=sunrise&kind=lift", headers=auth("other-estate")).status_code
        == 403
    )
    assert client.get("/api/thresholds?estate=sunrise&kind=lift", headers=auth("crew")).status_code == 403


def test_the_journal_as_json_and_as_csv_in_english(client: TestClient, gateway: Gateway) -> None:
    feed(gateway, DOOR, DOOR_CLEARED)
    [alert] = client.get("/api/alerts", headers=auth("operator")).json()
    client.post(f"/api/alerts/{alert['id']}/ack", json={}, headers=auth("operator"))
    rows = client.get("/api/journal", headers=auth("manager")).json()["rows"]
    assert [(r["type"], r["id"], r["state"]) for r in rows] == [("alert", alert["id"], "closed")]
    assert client.get("/api/journal?q=nothing-like-it", headers=auth("manager")).json()["rows"] == []
    answer = client.get("/api/journal?format=csv&lang=en", headers=auth("operator"))
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.content.startswith(b"\xef\xbb\xbf")
    [row] = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert (row["Type"], row["Device"], row["Acknowledged by or crew"]) == ("alert", "L1", "operator")
    assert row["Text"].startswith("Lift L1")
    bad = client.get(
        "/api/journal?start=2026-01-02T00:00:00Z&stop=2026-01-01T00:00:00Z", headers=auth("operator")
    )
    assert bad.status_code == 422
    assert client.get("/api/journal?limit=0", headers=auth("operator")).status_code == 422
    assert client.get("/api/journal", headers=auth("crew")).status_code == 403


@pytest.mark.parametrize("minutes", [2.5, 0, 481, "30"])
def test_shelving_takes_whole_minutes_within_a_shift(
    client: TestClient, gateway: Gateway, minutes: object
) -> None:
    feed(gateway, DOOR)
    [alert] = client.get("/api/alerts", headers=auth("operator")).json()
    url = f"/api/alerts/{alert['id']}/shelve"
    assert (
        client.post(url, json={"minutes": minutes, "reason": "x"}, headers=auth("operator")).status_code
        == 422
    )
    assert client.get(f"/api/alerts/{alert['id']}", headers=auth("operator")).json()["state"] == "active"


def test_a_cancelled_order_leaves_its_alarm_free_to_dispatch_again(
    client: TestClient, gateway: Gateway
) -> None:
    feed(gateway, DOOR)
    [alert] = client.get("/api/alerts", headers=auth("operator")).json()
    first = client.post(f"/api/alerts/{alert['id']}/dispatch", headers=auth("operator")).json()
    client.post(f"/api/workorders/{first['id']}/cancel", json={"note": "重复"}, headers=auth("operator"))
    after = client.get(f"/api/alerts/{alert['id']}", headers=auth("operator")).json()
    assert after["work_order"] is None
    assert (
        after["history"][-1]["note"]
        == f"工单 {first['id']} 已撤销 / work order {first['id']} cancelled; 重复"
    )
    second = client.post(f"/api/alerts/{alert['id']}/dispatch", headers=auth("operator"))
    assert second.status_code == 201 and second.json()["id"] != first["id"]


def test_the_overdue_order_alarm_is_not_dispatched(
    client: TestClient, gateway: Gateway, clock: ManualClock
) -> None:
    feed(gateway, ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "entrapment"}))
    [order] = client.get("/api/workorders", headers=auth("operator")).json()
    clock.advance(timedelta(hours=2))
    tick(gateway)
    breaches = [
        a
        for a in client.get("/api/alerts", headers=auth("operator")).json()
        if a["rule"] == "workorder.overdue"
    ]
    assert breaches and all(b["subject"].startswith(f"WO{order['id']}/") for b in breaches)
    refused = client.post(f"/api/alerts/{breaches[0]['id']}/dispatch", headers=auth("operator"))
    assert refused.status_code == 409 and f"WO{order['id']}" in refused.json()["detail"]


def test_closing_the_hub_wakes_waiting_streams_at_once() -> None:
    hub = EventHub()
    start = hub.position()
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(hub.wait(start, timeout=30)))
    waiter.start()
    hub.close()
    waiter.join(timeout=5)
    assert not waiter.is_alive() and got == [([], start)]
    assert hub.wait(start, timeout=30) == ([], start)  # no wait after closing either


def test_the_stream_ends_when_the_gateway_stops(client: TestClient, gateway: Gateway) -> None:
    gateway.events.close()
    with client.stream("GET", "/api/stream", headers=auth("operator")) as response:
        body = b"".join(response.iter_bytes())  # ends: it would wait 15 s per keep-alive otherwise
    assert body.startswith(b"retry: 2000")


def test_handovers_on_a_gateway_without_them(client: TestClient, gateway: Gateway) -> None:
    gateway.handovers = None
    assert client.get("/api/handovers", headers=auth("operator")).status_code == 501
    assert client.post("/api/handovers", json={}, headers=auth("operator")).status_code == 501


def test_a_handover_signed_by_two_at_once_is_signed_by_one(gateway: Gateway) -> None:
    book = gateway.handovers
    assert book is not None
    written = book.write("小李", [], "", {})

    class Stale(HandoverBook):
        """Reads the handover as it was before the other signature landed."""

        def get(self, handover_id: int) -> Handover | None:
            return written

    book.sign(written.id, "小王", "")
    stale = Stale(book.engine, book.book, book.inventory, book.clock)
    with pytest.raises(HandoverError, match="signed already"):
        stale.sign(written.id, "小张", "")
    stored = book.get(written.id)
    assert stored is not None and stored.signed_by == "小王"
