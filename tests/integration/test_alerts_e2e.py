"""Alerts end to end over real mosquitto: no duplicates under a burst, alert JSON on
``estate/{estate}/alerts``, and a real SIGKILL with open alerts (acceptance 2 and 6 of issue 3)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from devices.loader import load_inventory
from gateway.service import build_gateway
from tests.support.gateway import (
    ADMIN_TOKEN,
    SPEC_EXAMPLE,
    GatewayProcess,
    LiveGateway,
    Publisher,
    gateway_settings,
)
from tests.support.listener import Listener
from tests.support.servers import MosquittoServer, wait_until

ENTRAPMENT = ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "entrapment"})


def test_1000_identical_faults_in_a_second_make_one_alert(tmp_path: Path, mosquitto: MosquittoServer) -> None:
    gateway = build_gateway(gateway_settings(tmp_path, mosquitto.url), load_inventory(SPEC_EXAMPLE))
    listener = Listener(mosquitto, "estate/+/alerts", "alert-listener")
    publisher = Publisher(mosquitto.host, mosquitto.port)
    gateway.start()
    try:
        assert gateway.mqtt.wait_connected(10)
        first_ms = time.time_ns() // 1_000_000 - 1_000
        topic, fault = ENTRAPMENT
        for i in range(1000):  # 1,000 faults of one lift, stamped 1 ms apart: all within one second
            publisher.send(topic, {**fault, "ts": first_ms + i})
        publisher.wait_all_acked()

        def stored() -> list[tuple[str, int]]:
            # The lift's alerts (not the estate's own info alarms, e.g. the calendar's coverage).
            return [(a.rule, a.count) for a in gateway.core.alerts.query("sunrise") if a.device is not None]

        wait_until(lambda: stored() == [("lift.entrapment", 1000)], timeout=30, message=lambda: str(stored()))

        def lifts() -> list[dict[str, Any]]:
            return [m for m in listener.snapshot() if m.get("device") is not None]

        wait_until(lambda: len(lifts()) >= 1, timeout=10)
        [alert] = [a for a in gateway.core.alerts.query("sunrise") if a.device is not None]
        published = lifts()
        # One message: raised with its work order, created at once (and with the repeats of its
        # batch, if any; batches of repeats only are not published).
        assert [(m["rule"], m["state"], m["action"]) for m in published] == [
            ("lift.entrapment", "active", "raise")
        ]
        assert [a for a in published[0]["actions"] if a != "repeat"] == ["raise", "dispatch"]
        assert published[0]["work_order"] == alert.work_order is not None
        assert published[0]["severity"] == "critical" and published[0]["message"]
    finally:
        gateway.stop()
        publisher.close()
        listener.close()


def test_sigkill_with_open_alerts_keeps_them_once_with_their_acks(live_gateway: LiveGateway) -> None:
    proc, publisher = live_gateway
    publisher.send(*ENTRAPMENT)
    publisher.send("estate/sunrise/water_tank/T1/event", {"type": "hatch_open"})
    publisher.wait_all_acked()
    wait_until(lambda: len(proc.api("/api/alerts")) == 2, timeout=15)
    hatch = next(a for a in proc.api("/api/alerts") if a["rule"] == "water.hatch_open")
    acked = proc.post(f"/api/alerts/{hatch['id']}/ack", note="保洁开门取样")
    assert acked["state"] == "acknowledged" and acked["history"][-1]["note"] == "保洁开门取样"
    before = {a["id"]: a for a in proc.api("/api/alerts")}

    proc.kill()
    proc.start()
    after = {a["id"]: a for a in proc.api("/api/alerts")}
    assert after.keys() == before.keys()  # the same alerts, none duplicated
    assert after[hatch["id"]]["acknowledged_by"] == "admin"
    assert after[hatch["id"]]["state"] == "acknowledged"

    publisher.send(*ENTRAPMENT)  # the same fault after the restart counts on the same alert
    publisher.wait_all_acked()
    trapped_id = next(i for i, a in before.items() if a["rule"] == "lift.entrapment")
    wait_until(lambda: proc.api(f"/api/alerts/{trapped_id}")["count"] == 2, timeout=15)
    assert len(proc.api("/api/alerts")) == 2


def _read_events(
    proc: GatewayProcess, last_id: str | None, want: int, ready: threading.Event | None = None
) -> list[tuple[str, str, dict[str, Any]]]:
    """Open the stream, read ``want`` events (id, type, data), then drop the connection;
    ``ready`` is set once the stream is open (its first line arrived)."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    if last_id:
        headers["Last-Event-ID"] = last_id
    got: list[tuple[str, str, dict[str, Any]]] = []
    fields: dict[str, str] = {}
    with httpx.stream("GET", f"{proc.url}/api/stream", headers=headers, timeout=30) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if ready is not None:
                ready.set()
            if line and not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
            elif not line and "data" in fields:
                got.append((fields["id"], fields["event"], json.loads(fields["data"])))
                fields = {}
                if len(got) == want:
                    break
    return got


def test_stream_resumes_without_losing_or_repeating(live_gateway: LiveGateway) -> None:
    proc, publisher = live_gateway
    first: list[tuple[str, str, dict[str, Any]]] = []
    ready = threading.Event()
    reader = threading.Thread(target=lambda: first.extend(_read_events(proc, None, 1, ready)))
    reader.start()
    assert ready.wait(10)  # the stream is open: a new client starts from this moment
    publisher.send(*ENTRAPMENT)
    reader.join(timeout=30)
    [(last_id, kind, data)] = first
    assert (kind, data["rule"], data["action"]) == ("alert", "lift.entrapment", "raise")

    # Disconnected: two more changes happen.
    publisher.send("estate/sunrise/water_tank/T1/event", {"type": "hatch_open"})
    # Closed once the opening was handled, so the two are not one batch (whose order differs).
    wait_until(lambda: len(proc.api("/api/workorders")) == 2, timeout=15)
    publisher.send("estate/sunrise/water_tank/T1/event", {"type": "hatch_closed"})
    publisher.wait_all_acked()
    wait_until(lambda: len(proc.api("/api/alerts", state="cleared")) == 1, timeout=15)
    resumed = _read_events(proc, last_id, 6)
    # Both rules send a crew: each alert is raised with its work order (one event), then the
    # order's creation and assignment follow.
    assert [(kind, d["rule"], d["action"]) for _, kind, d in resumed] == [
        ("workorder", "lift.entrapment", "create"),
        ("workorder", "lift.entrapment", "assign"),
        ("alert", "water.hatch_open", "raise"),
        ("workorder", "water.hatch_open", "create"),
        ("workorder", "water.hatch_open", "assign"),
        ("alert", "water.hatch_open", "clear"),
    ]
    assert data["actions"] == resumed[2][2]["actions"] == ["raise", "dispatch"]
    assert len({i for i, _, _ in resumed} | {last_id}) == 7  # nothing repeated


def test_sos_becomes_a_critical_alert_within_a_second(live_gateway: LiveGateway) -> None:
    proc, publisher = live_gateway
    sent = datetime.now(UTC)
    publisher.send("estate/sunrise/patrol/H1/event", {"type": "sos", "guards": ["G1"]})
    wait_until(lambda: proc.api("/api/alerts", severity="critical"), timeout=10)
    [sos] = proc.api("/api/alerts", severity="critical")
    assert (sos["rule"], sos["device"], sos["kind"], sos["state"]) == (
        "patrol.sos",
        "H1",
        "patrol",
        "active",
    )
    latency = (datetime.fromisoformat(sos["raised_at"]) - sent).total_seconds()
    print(f"SOS latency {latency * 1000:.0f} ms")
    assert latency < 1.0, f"SOS raised {latency:.3f} s after it was published"
    [day] = proc.api("/api/patrols", estate="sunrise")
    assert day["estate"] == "sunrise" and {r["window"] for r in day["rounds"]} == {"day", "night"}
    assert len(day["rounds"]) == 7  # grounds: 3 by day, 4 by night (docs/contract.md §4 example)


def test_a_client_dropped_before_any_event_resumes_from_its_first_id(live_gateway: LiveGateway) -> None:
    proc, publisher = live_gateway
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.stream("GET", f"{proc.url}/api/stream", headers=headers, timeout=30) as response:
        first_id = next(line for line in response.iter_lines() if line.startswith("id: "))[4:]
    publisher.send(*ENTRAPMENT)  # while nobody is connected
    publisher.wait_all_acked()
    resumed = _read_events(proc, first_id, 1)
    assert [(kind, data["rule"], data["action"]) for _, kind, data in resumed] == [
        ("alert", "lift.entrapment", "raise")
    ]
