"""An inventory with a device of every profile, and a decode as the pipeline does it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from devices.base import Reading
from devices.clock import to_ns
from devices.inventory import Inventory
from gateway.ingest import Rejection, decode_vendor
from profiles.route import VendorRouter

#: Receive time of every sample: 2026-03-02 10:00 in Shanghai.
RECEIVED = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
RECEIVED_NS = to_ns(RECEIVED)
IMEI = "861234567890123"
MODBUS: dict[str, Any] = {
    "unit": 1,
    "registers": [
        {"field": "level_pct", "type": "uint16", "scale": 0.1},
        {"field": "chlorine_mg_l", "type": "uint16", "scale": 0.001},
        {"field": "temperature_c", "type": "int16", "scale": 0.1},
        {"field": "ph", "type": "float32", "word_order": "little"},
        {"field": "pressure_mpa", "type": "uint32", "scale": 0.000001},
    ],
}
LIFT_PROFILE: dict[str, Any] = {
    "name": "lift-gbt24476",
    "kind": "lift",
    "format": "json",
    "ts": "time",
    "telemetry": {
        "floor": {"path": "data.curFloor"},
        "door": {"path": "data.doorState", "map": {0: "closed", 1: "open"}},
        "speed_m_s": {"path": "data.speed", "convert": "cm/s->m/s"},
        "passenger": {"path": "data.hasPerson", "map": {0: False, 1: True}},
    },
    "events": [
        {"when": {"path": "data.alarm", "equals": 1}, "type": "fault", "fields": {"code": "entrapment"}},
        {"when": {"path": "data.alarm", "in": [7, 8]}, "type": "fault", "fields": {"code": "overspeed"}},
    ],
}
DOOR_PROFILE: dict[str, Any] = {
    "name": "door-xml",
    "kind": "access",
    "format": "xml",
    "telemetry": {"door": {"path": "Status.Door", "map": {"0": "closed", "1": "open"}}},
    "events": [
        {
            "when": {"path": "Event.Type", "equals": "denied"},
            "type": "denied",
            "read": {"card": {"path": "Event.Card"}},
        },
        {"when": {"path": 'Event."@kind"', "equals": "forced"}, "type": "forced"},
    ],
}
INVENTORY: dict[str, Any] = {
    "profiles": [
        {"name": "dtu-modbus", "builtin": "modbus-rtu", "topic": "dtu/{vendor_id}/up"},
        LIFT_PROFILE,
        DOOR_PROFILE,
    ],
    "estates": [
        {
            "id": "sunrise",
            "name": "朝阳小区",
            "buildings": ["B1"],
            "devices": [
                {"id": "NVR1", "kind": "cctv", "building": "B1", "profile": "hikvision-isapi"},
                {"id": "NVR2", "kind": "cctv", "building": "B1", "profile": "dahua-event"},
                {
                    "id": "T1",
                    "kind": "water_tank",
                    "building": "B1",
                    "profile": "modbus-rtu",
                    "modbus": MODBUS,
                },
                {
                    "id": "T2",
                    "kind": "water_tank",
                    "profile": "dtu-modbus",
                    "vendor_id": IMEI,
                    "modbus": MODBUS,
                },
                {"id": "L1", "kind": "lift", "building": "B1", "profile": "lift-gbt24476"},
                {"id": "D1", "kind": "access", "building": "B1", "profile": "door-xml"},
                {"id": "CAM1", "kind": "cctv", "building": "B1"},
            ],
        }
    ],
}
TOPICS = {
    "NVR1": "estate/sunrise/cctv/NVR1/raw",
    "NVR2": "estate/sunrise/cctv/NVR2/raw",
    "T1": "estate/sunrise/water_tank/T1/raw",
    "T2": f"dtu/{IMEI}/up",
    "L1": "estate/sunrise/lift/L1/raw",
    "D1": "estate/sunrise/access/D1/raw",
}


def router() -> VendorRouter:
    return VendorRouter(Inventory.model_validate(INVENTORY))


ROUTER = router()


def read(device: str, payload: bytes) -> list[Reading] | Rejection:
    result = decode_vendor(TOPICS[device], payload, RECEIVED_NS, ROUTER)
    assert result is not None
    return result


def readings(device: str, payload: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(channel, fields) of each reading; fails with the dead letter if it is one."""
    result = read(device, payload)
    assert not isinstance(result, Rejection), result
    return [(r.channel.value, dict(r.fields)) for r in result]


def refused(device: str, payload: bytes) -> Rejection:
    result = read(device, payload)
    assert isinstance(result, Rejection), result
    return result
