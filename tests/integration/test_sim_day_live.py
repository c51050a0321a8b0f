"""Acceptance (issue 7): ``estate-sim run`` of the sample estate for one simulated day, against a
running ``estate-gateway run`` on real mosquitto, gives every planned patrol round completed, lamps
switched on at dusk and off at dawn once each, and no alarm at all.

Both processes run on simulated time, in lock-step: the gateway with ``ESTATE_CLOCK_TOPIC`` from
05:30 local time on a Monday, the simulator with ``--gateway`` (it starts at the gateway's now and
drives its clock with a clock message every simulated second, unpaced: a window of simulated time
at a time, as fast as the gateway settles them). Neither side's pauses nor speed can change what
the gateway decides. 25 simulated hours (05:30 → 06:30 the next day, so the night's last round
ends inside the run). The alert list is read every 30 wall seconds, so a false alarm fails the
test when it happens, not at the end.

The same day without pacing, through an in-process engine, is ``tests/simulators/test_world_day.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices.base import Kind
from devices.loader import load_inventory
from tests.support.gateway import REPO, GatewayProcess
from tests.support.servers import MosquittoServer, wait_until

SUNRISE = REPO / "devices" / "samples" / "sunrise.yaml"
DAY = datetime(2026, 1, 5).date()  # a Monday
SPEED = 60
HOURS = 25


class LampLog:
    """Every lamp and circuit's on/off changes as published on MQTT, with the payload's ts."""

    def __init__(self, mosquitto: MosquittoServer) -> None:
        self.changes: dict[str, list[tuple[bool, datetime]]] = defaultdict(list)
        self._lock, self._subscribed = threading.Lock(), threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="day-lamp-log")
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(mosquitto.host, mosquitto.port)
        self._client.subscribe("estate/+/light/+/telemetry", qos=1)
        self._client.loop_start()
        assert self._subscribed.wait(10)

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        device = msg.topic.split("/")[3]
        with self._lock:
            seen = self.changes[device]
            if not seen or seen[-1][0] != body["on"]:
                seen.append((body["on"], datetime.fromisoformat(body["ts"])))

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def device_alerts(gateway: GatewayProcess) -> list[dict[str, Any]]:
    """The open alerts but the shift-handover one: nobody plays the control room in the simulated
    day, so no handover is signed and that info alarm is due; no device, round or order alarm is."""
    return [a for a in gateway.api("/api/alerts", limit=50) if a["rule"] != "console.handover_missing"]


@pytest.mark.slow
@pytest.mark.live
@pytest.mark.timeout(HOURS * 3600 / SPEED + 600)
def test_a_simulated_day_against_a_live_gateway(tmp_path: Path, mosquitto: MosquittoServer) -> None:
    estate = load_inventory(SUNRISE).estates[0]
    tz = estate.tz

    def at(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(DAY + timedelta(days=day), time(hour, minute), tzinfo=tz).astimezone(UTC)

    gateway = GatewayProcess(
        tmp_path / "gw",
        {
            "ESTATE_MQTT_URL": mosquitto.url,
            "ESTATE_INVENTORY": str(SUNRISE),
            "ESTATE_CLOCK_SPEED": str(SPEED),
            "ESTATE_CLOCK_START": at(0, 5, 30).isoformat(),
            "ESTATE_CLOCK_TOPIC": "estate-sim/clock/day",
        },
    )
    lamps = LampLog(mosquitto)
    gateway.start()
    sim_log = tmp_path / "sim.log"
    try:
        with open(sim_log, "wb") as log:
            args = ["--broker", mosquitto.url, "--inventory", str(SUNRISE), "--gateway", gateway.url]
            sim = subprocess.Popen(
                [sys.executable, "-m", "simulators.cli", "run", *args, "--duration", str(HOURS * 3600)],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                while True:
                    try:  # waiting on the simulator, looking at the alerts every 30 s meanwhile
                        code = sim.wait(timeout=30)
                        break
                    except subprocess.TimeoutExpired:
                        alerts = device_alerts(gateway)
                        assert not alerts, [(a["device"], a["rule"], a["raised_at"]) for a in alerts]
            finally:
                if sim.poll() is None:
                    sim.kill()
        output = sim_log.read_text()
        assert code == 0, output[-3000:]
        assert f"driving the clock of the gateway {gateway.url}" in output
        wait_until(
            lambda: datetime.fromisoformat(gateway.api("/health")["clock"]["settled"]) >= at(1, 6, 30),
            timeout=120,
            message="the gateway did not reach the end of the simulated day",
        )
        alerts = device_alerts(gateway)
        assert not alerts, [(a["device"], a["rule"], a["raised_at"]) for a in alerts]
        (record,) = gateway.api("/api/patrols", estate=estate.id, date=DAY.isoformat())
    finally:
        gateway.kill()
        lamps.close()

    # Patrols: every round of the day (3 + 4 of the grounds, 2 of the equipment rooms 配电室/排污泵, 2 per
    # building) completed, watched, on time.
    rounds = record["rounds"]
    assert len(rounds) == 7 + 2 + 6 * 2
    assert {r["status"] for r in rounds} == {"completed"} and all(r["watched"] for r in rounds)
    assert all(cp["on_time"] for r in rounds for cp in r["checkpoints"])
    assert record["compliance_pct"] == 100.0
    night = [r for r in rounds if r["window"] == "night"]
    assert night and all(len(cp["guards"]) >= 2 for r in night for cp in r["checkpoints"])
    # Lamps and circuits: lit at the start (night), off at dawn, on at dusk, off at the next dawn.
    assert set(lamps.changes) == {d.id for d in estate.devices if d.kind is Kind.LIGHT}
    for device, changes in lamps.changes.items():
        assert [on for on, _ in changes] == [True, False, True, False], (device, changes)
        _, dawn, dusk, next_dawn = (when for _, when in changes)
        assert at(0, 6) <= dawn < at(0, 6, 2) and at(0, 18) <= dusk < at(0, 18, 2), device
        assert at(1, 6) <= next_dawn < at(1, 6, 2), device
