"""Acceptance 2: through real mosquitto, a message of each kind is stored with the right measurement,
tags and typed fields — in InfluxDB (1.6.7 behind the /api/v2/write shim, read back with InfluxQL)
and through the SQLite sink."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devices.loader import load_inventory
from gateway.service import Gateway, build_gateway
from gateway.sinks.sql import SqlSink
from tests.support.gateway import SPEC_EXAMPLE, Publisher, gateway_settings
from tests.support.servers import InfluxV2Target, MosquittoServer, wait_until

T0_MS = 1_790_000_000_000  # fixed device timestamps, well inside the accepted window below

# (topic suffix, payload, measurement, tags, fields with their InfluxDB types)
MESSAGES: list[tuple[str, dict[str, Any], str, dict[str, str], dict[str, tuple[Any, str]]]] = [
    (
        "lift/L1/telemetry",
        {
            "floor": 3,
            "direction": "up",
            "door": "closed",
            "door_zone": False,
            "passenger": True,
            "mode": "normal",
            "speed_m_s": 1.5,
            "power": "normal",
            "vendor_debug": "x",
        },
        "lift",
        {"building": "B1", "device": "L1"},
        {
            "floor": (3, "integer"),
            "direction": ("up", "string"),
            "door": ("closed", "string"),
            "door_zone": (False, "boolean"),
            "passenger": (True, "boolean"),
            "mode": ("normal", "string"),
            "speed_m_s": (1.5, "float"),
            "power": ("normal", "string"),
        },
    ),
    (
        "water_tank/T1/telemetry",
        {"level_pct": 80.5, "chlorine_mg_l": 0.4, "turbidity_ntu": 0.25, "ph": 7.2},
        "water_tank",
        {"building": "B1", "device": "T1"},
        {
            "level_pct": (80.5, "float"),
            "chlorine_mg_l": (0.4, "float"),
            "turbidity_ntu": (0.25, "float"),
            "ph": (7.2, "float"),
        },
    ),
    (
        "access/D1/event",
        {"type": "denied", "card": "C-0042"},
        "access",
        {"building": "B1", "device": "D1"},
        {"event": ("denied", "string"), "card": ("C-0042", "string")},
    ),
    (
        "light/LP1/telemetry",
        {"on": True, "lamp_ok": True, "power_w": 30.5},
        "light",
        {"building": "B2", "device": "LP1"},
        {"on": (True, "boolean"), "lamp_ok": (True, "boolean"), "power_w": (30.5, "float")},
    ),
    (
        "cctv/CAM1/heartbeat",
        {"recording": True, "retention_days": 30.0, "disk_ok": True},
        "cctv",
        {"building": "B1", "device": "CAM1"},
        {"recording": (True, "boolean"), "retention_days": (30.0, "float"), "disk_ok": (True, "boolean")},
    ),
    (
        "patrol/H1/event",
        {"type": "scan", "checkpoint": "CP1", "guards": ["G1", "G2"]},
        "patrol",
        {"device": "H1"},
        {"event": ("scan", "string"), "checkpoint": ("CP1", "string"), "guards": ("G1,G2", "string")},
    ),
]


@pytest.fixture
def publisher(mosquitto: MosquittoServer) -> Iterator[Publisher]:
    pub = Publisher(mosquitto.host, mosquitto.port)
    yield pub
    pub.close()


def _run_messages(gateway: Gateway, publisher: Publisher) -> None:
    gateway.start()
    try:
        assert gateway.mqtt.wait_connected(10)
        for i, (suffix, payload, *_rest) in enumerate(MESSAGES):
            publisher.send(f"estate/sunrise/{suffix}", {**payload, "ts": T0_MS + i})
        publisher.wait_all_acked()
        wait_until(lambda: gateway.sink.stats.points_written >= len(MESSAGES), timeout=20)
    finally:
        gateway.stop()


def test_each_kind_lands_in_influxdb_typed(
    tmp_path: Path, mosquitto: MosquittoServer, publisher: Publisher, influx_v2: InfluxV2Target
) -> None:
    settings = gateway_settings(tmp_path, mosquitto.url, influx_v2, max_past_s=10 * 365 * 86_400)
    _run_messages(build_gateway(settings, load_inventory(SPEC_EXAMPLE)), publisher)

    for i, (_suffix, _payload, measurement, tags, fields) in enumerate(MESSAGES):
        rows = influx_v2.query(f'SELECT * FROM "{measurement}"')
        assert len(rows) == 1, rows
        row = rows[0]
        assert row["time"] == (T0_MS + i) * 1_000_000
        assert row["estate"] == "sunrise"
        for tag, value in tags.items():
            assert row[tag] == value
        assert {k: row[k] for k in fields} == {k: v for k, (v, _t) in fields.items()}
        assert "vendor_debug" not in row  # unknown device fields stay out of storage
        types = {
            r["fieldKey"]: r["fieldType"] for r in influx_v2.query(f'SHOW FIELD KEYS FROM "{measurement}"')
        }
        assert types == {k: t for k, (_v, t) in fields.items()}


def test_each_kind_lands_in_sqlite_typed(
    tmp_path: Path, mosquitto: MosquittoServer, publisher: Publisher
) -> None:
    gateway = build_gateway(
        gateway_settings(tmp_path, mosquitto.url, max_past_s=10 * 365 * 86_400), load_inventory(SPEC_EXAMPLE)
    )
    assert isinstance(gateway.sink, SqlSink)
    _run_messages(gateway, publisher)
    python_types = {"integer": int, "float": float, "boolean": bool, "string": str}
    for i, (suffix, _payload, measurement, tags, fields) in enumerate(MESSAGES):
        device = suffix.split("/")[1]
        points = gateway.sink.query("sunrise", device)
        assert len(points) == 1
        point = points[0]
        assert (point.measurement, point.time_ns) == (measurement, (T0_MS + i) * 1_000_000)
        assert point.building == tags.get("building", "")
        assert point.fields == {k: v for k, (v, _t) in fields.items()}
        for name, (_v, influx_type) in fields.items():
            assert type(point.fields[name]) is python_types[influx_type], name
