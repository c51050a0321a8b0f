"""A simple simulator of every device in an inventory, enough for the demo.

Each device first publishes a retained ``online`` status, then reports on its own period with
plausible values. All devices share one MQTT connection here, so there is no per-device last
will (the full simulator, issue 7, gives each device its own). Payloads are built through the
``devices`` payload models, so whatever is sent is something the gateway accepts.
"""

from __future__ import annotations

import heapq
import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devices.base import Channel, Kind
from devices.clock import Clock, SystemClock
from devices.inventory import DeviceConfig, Estate, Inventory
from devices.registry import REGISTRY

Values = Callable[[random.Random, datetime], tuple[Channel, dict[str, Any]]]


def _lift(rng: random.Random, _now: datetime) -> tuple[Channel, dict[str, Any]]:
    moving = rng.random() < 0.4
    return Channel.TELEMETRY, {
        "floor": rng.randint(1, 18),
        "direction": rng.choice(["up", "down"]) if moving else "stop",
        "door": "closed" if moving or rng.random() < 0.7 else "open",
        "door_zone": not moving,
        "passenger": rng.random() < 0.5,
        "mode": "normal",
        "speed_m_s": round(rng.uniform(1.0, 1.75), 2) if moving else 0.0,
        "power": "normal",
    }


def _water_tank(rng: random.Random, _now: datetime) -> tuple[Channel, dict[str, Any]]:
    return Channel.TELEMETRY, {
        "level_pct": round(rng.uniform(55, 90), 1),
        "chlorine_mg_l": round(rng.uniform(0.3, 0.8), 3),
        "turbidity_ntu": round(rng.uniform(0.1, 0.5), 3),
        "ph": round(rng.uniform(7.0, 7.6), 2),
        "pressure_mpa": round(rng.uniform(0.25, 0.4), 3),
        "temperature_c": round(rng.uniform(12, 20), 1),
    }


def _access(rng: random.Random, _now: datetime) -> tuple[Channel, dict[str, Any]]:
    return Channel.TELEMETRY, {"door": "closed", "locked": True}


def _light(rng: random.Random, now: datetime) -> tuple[Channel, dict[str, Any]]:
    hour = now.hour
    lit = hour >= 18 or hour < 6
    return Channel.TELEMETRY, {
        "on": lit,
        "lamp_ok": True,
        "power_w": round(rng.uniform(28, 32), 1) if lit else 0.0,
        "lux": round(rng.uniform(5, 30), 1) if lit else round(rng.uniform(500, 20000), 0),
    }


def _cctv(rng: random.Random, _now: datetime) -> tuple[Channel, dict[str, Any]]:
    return Channel.HEARTBEAT, {"recording": True, "retention_days": 30.0, "disk_ok": True}


def _patrol(rng: random.Random, _now: datetime) -> tuple[Channel, dict[str, Any]]:
    return Channel.TELEMETRY, {"battery_pct": round(rng.uniform(40, 100), 0)}


VALUES: dict[Kind, Values] = {
    Kind.LIFT: _lift,
    Kind.WATER_TANK: _water_tank,
    Kind.ACCESS: _access,
    Kind.LIGHT: _light,
    Kind.CCTV: _cctv,
    Kind.PATROL: _patrol,
}


@dataclass(frozen=True)
class Incident:
    """A scripted event for the demo: ``at_s`` after start, on the first device of ``kind``
    (with a parent, if ``child``), so a new user sees alarms raised and cleared."""

    at_s: float
    kind: Kind
    event: str
    fields: tuple[tuple[str, str], ...] = ()
    child: bool = False


DEMO_INCIDENTS: tuple[Incident, ...] = (
    Incident(20, Kind.LIGHT, "lamp_failure", child=True),
    Incident(35, Kind.LIFT, "fault", (("code", "door_open_failure"),)),
    *(Incident(50 + i, Kind.ACCESS, "denied", (("card", "C-4471"),)) for i in range(5)),
    Incident(70, Kind.WATER_TANK, "hatch_open"),
    Incident(95, Kind.LIFT, "fault_cleared", (("code", "door_open_failure"),)),
    Incident(130, Kind.WATER_TANK, "hatch_closed"),
)


def build_event(kind: Kind, event: str, fields: dict[str, Any], ts: datetime) -> bytes:
    """An event payload, its fields validated through the kind's event model."""
    model = REGISTRY[kind].events[event]
    body = {"type": event, **model.model_validate(fields).model_dump(mode="json", exclude_none=True)}
    body["ts"] = ts.isoformat()
    return json.dumps(body, ensure_ascii=False).encode()


def build_payload(kind: Kind, channel: Channel, values: dict[str, Any], ts: datetime) -> bytes:
    """Validate ``values`` through the kind's model and serialise it with ``ts``."""
    spec = REGISTRY[kind]
    model = spec.telemetry if channel is Channel.TELEMETRY else spec.heartbeat
    body = model.model_validate(values).model_dump(mode="json", exclude_none=True)
    body["ts"] = ts.isoformat()
    return json.dumps(body, ensure_ascii=False).encode()


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    estate: Estate
    device: DeviceConfig


class SimpleSimulator:
    """Publishes every device of an inventory on its period (default: its heartbeat, ≤ 30 s)."""

    def __init__(
        self,
        inventory: Inventory,
        broker_url_host: str,
        port: int,
        *,
        seed: int = 1,
        clock: Clock | None = None,
        max_period_s: float = 30.0,
        incidents: tuple[Incident, ...] = (),
    ) -> None:
        self._incidents = incidents
        self._inventory = inventory
        self._host, self._port = broker_url_host, port
        self._rng = random.Random(seed)
        self._clock = clock or SystemClock()
        self._max_period_s = max_period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simple-simulator", daemon=True)
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"estate-sim-{seed}")
        self.sent = 0

    def period_s(self, device: DeviceConfig) -> float:
        heartbeat = device.effective_heartbeat_s()
        return float(min(heartbeat or self._max_period_s, self._max_period_s))

    def start(self) -> None:
        self._client.connect(self._host, self._port)
        self._client.loop_start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._client.disconnect()
        self._client.loop_stop()

    def _run(self) -> None:
        queue: list[_Due] = []
        start = self._clock.now().timestamp()
        seq = 0
        for estate in self._inventory.estates:
            for device in estate.devices:
                topic = f"estate/{estate.id}/{device.kind}/{device.id}/status"
                self._client.publish(topic, b"online", qos=1, retain=True)
                # Spread first reports over the first few seconds so all kinds show at once.
                heapq.heappush(queue, _Due(start + self._rng.uniform(0, 3), seq, estate, device))
                seq += 1
        incidents = sorted(self._incidents, key=lambda i: i.at_s)
        while queue and not self._stop.is_set():
            due = heapq.heappop(queue)
            if self._stop.wait(max(0.0, due.at - self._clock.now().timestamp())):
                return
            while incidents and start + incidents[0].at_s <= due.at:
                self._incident(incidents.pop(0))
            self._publish(due.estate, due.device)
            seq += 1
            heapq.heappush(queue, _Due(due.at + self.period_s(due.device), seq, due.estate, due.device))

    def _incident(self, incident: Incident) -> None:
        estate = self._inventory.estates[0]
        device = next(
            (d for d in estate.devices if d.kind == incident.kind and (d.parent or not incident.child)), None
        )
        if device is None:
            return
        payload = build_event(incident.kind, incident.event, dict(incident.fields), self._clock.now())
        self._client.publish(f"estate/{estate.id}/{device.kind}/{device.id}/event", payload, qos=1)
        self.sent += 1

    def _publish(self, estate: Estate, device: DeviceConfig) -> None:
        now = self._clock.now()
        local = now.astimezone(ZoneInfo(estate.timezone))
        channel, values = VALUES[device.kind](self._rng, local)
        payload = build_payload(device.kind, channel, values, now)
        topic = f"estate/{estate.id}/{device.kind}/{device.id}/{channel}"
        self._client.publish(topic, payload, qos=1)
        self.sent += 1
