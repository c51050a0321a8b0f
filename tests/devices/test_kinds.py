"""Contract tests over every registered device kind: a new kind is covered once it has samples here."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pytest
from annotated_types import Ge, Le
from pydantic import BaseModel, ValidationError

from devices.base import Kind, Payload, Trade
from devices.kinds.lift import LiftFaultCode
from devices.registry import REGISTRY, spec

#: A realistic telemetry payload per kind, with every declared field.
TELEMETRY: dict[Kind, dict[str, Any]] = {
    Kind.LIFT: {
        "floor": 12,
        "direction": "up",
        "door": "closed",
        "door_zone": False,
        "passenger": True,
        "mode": "normal",
        "speed_m_s": 1.75,
        "power": "normal",
    },
    Kind.WATER_TANK: {
        "level_pct": 72.5,
        "chlorine_mg_l": 0.32,
        "turbidity_ntu": 0.4,
        "ph": 7.2,
        "pressure_mpa": 0.35,
        "temperature_c": 18.5,
    },
    Kind.ACCESS: {"door": "closed", "locked": True},
    Kind.LIGHT: {"on": True, "lamp_ok": True, "power_w": 1320.0, "lux": 18.5},
    Kind.CCTV: {"recording": True, "retention_days": 31.5, "disk_ok": True},
    Kind.PATROL: {"battery_pct": 86.0},
}

#: A realistic payload of every event type of every kind (the event's own fields only).
EVENTS: dict[Kind, dict[str, dict[str, Any]]] = {
    Kind.LIFT: {
        "fault": {"code": "entrapment"},
        "fault_cleared": {"code": "entrapment"},
        "maintenance": {"technician": "王师傅"},
    },
    Kind.WATER_TANK: {
        name: {} for name in ("hatch_open", "hatch_closed", "pump_fault", "flooding", "cleaned", "sampled")
    },
    Kind.ACCESS: {
        "granted": {},
        "denied": {"card": "0012345678"},
        "forced": {},
        "tamper": {},
        "fire_release": {},
    },
    Kind.LIGHT: {"lamp_failure": {}, "lamp_restored": {}, "leakage": {}},
    Kind.CCTV: {"video_loss": {}, "disk_failure": {}},
    Kind.PATROL: {"scan": {"checkpoint": "CP1", "guards": ["G1", "G2"]}, "sos": {"guards": ["G1"]}},
}

HEARTBEATS: dict[Kind, dict[str, Any]] = {
    Kind.CCTV: {"recording": True, "retention_days": 30, "disk_ok": True}
}

TRADES = {
    Kind.LIFT: Trade.LIFT,
    Kind.WATER_TANK: Trade.WATER,
    Kind.LIGHT: Trade.ELECTRICAL,
    Kind.ACCESS: Trade.LOW_VOLTAGE,
    Kind.CCTV: Trade.LOW_VOLTAGE,
    Kind.PATROL: Trade.SECURITY,
}
DEFAULT_HEARTBEATS = {
    Kind.LIFT: 60,
    Kind.CCTV: 60,
    Kind.ACCESS: 300,
    Kind.WATER_TANK: 300,
    Kind.LIGHT: 300,
    Kind.PATROL: None,
}

PLAIN = (bool, int, float, str)
KINDS = list(REGISTRY)


def _fields(kind: Kind) -> list[tuple[Kind, str]]:
    return [(kind, name) for name in spec(kind).telemetry.model_fields]


def _bounds(kind: Kind) -> list[tuple[Kind, str, float]]:
    """(kind, field, a value just outside a declared bound) for every ranged telemetry field."""
    out: list[tuple[Kind, str, float]] = []
    for name, info in spec(kind).telemetry.model_fields.items():
        for rule in info.metadata:
            if isinstance(rule, Ge):
                out.append((kind, name, rule.ge - 1))  # type: ignore[operator]
            if isinstance(rule, Le):
                out.append((kind, name, rule.le + 1))  # type: ignore[operator]
    return out


ALL_FIELDS = [pair for kind in KINDS for pair in _fields(kind)]
NUMERIC_FIELDS = [
    (kind, name)
    for kind, name in ALL_FIELDS
    if spec(kind).telemetry.model_fields[name].annotation in (int | None, float | None)
]
OUT_OF_RANGE = [triple for kind in KINDS for triple in _bounds(kind)]
EVENT_CASES = [(kind, event) for kind in KINDS for event in EVENTS[kind]]


def _assert_plain(stored: Mapping[str, object]) -> None:
    # Exact types: a StrEnum or numpy scalar would change the stored field's type in InfluxDB.
    assert all(type(value) in PLAIN for value in stored.values()), stored


def test_every_kind_is_registered_with_its_trade_and_heartbeat() -> None:
    assert set(REGISTRY) == set(Kind)
    assert {kind: s.kind for kind, s in REGISTRY.items()} == {kind: kind for kind in Kind}
    assert {kind: s.trade for kind, s in REGISTRY.items()} == TRADES
    assert {kind: s.default_heartbeat_s for kind, s in REGISTRY.items()} == DEFAULT_HEARTBEATS
    assert set(TELEMETRY) == set(EVENTS) == set(REGISTRY)


@pytest.mark.parametrize("kind", KINDS)
def test_samples_cover_every_field_and_event(kind: Kind) -> None:
    assert set(TELEMETRY[kind]) == set(spec(kind).telemetry.model_fields)
    assert set(EVENTS[kind]) == set(spec(kind).events)


@pytest.mark.parametrize("kind", KINDS)
def test_every_payload_field_is_described(kind: Kind) -> None:
    kind_spec = spec(kind)
    models: list[type[BaseModel]] = [kind_spec.telemetry, kind_spec.heartbeat, *kind_spec.events.values()]
    undescribed = [
        f"{m.__name__}.{n}" for m in models for n, f in m.model_fields.items() if not f.description
    ]
    assert undescribed == []


@pytest.mark.parametrize("kind", KINDS)
def test_realistic_telemetry_is_stored_as_plain_scalars(kind: Kind) -> None:
    payload = spec(kind).telemetry.model_validate(TELEMETRY[kind])
    stored = payload.stored_fields()
    assert stored == TELEMETRY[kind]
    _assert_plain(stored)


@pytest.mark.parametrize("kind", KINDS)
def test_partial_telemetry_stores_only_what_was_sent(kind: Kind) -> None:
    assert spec(kind).telemetry.model_validate({}).stored_fields() == {}
    first = next(iter(TELEMETRY[kind].items()))
    assert spec(kind).telemetry.model_validate(dict([first])).stored_fields() == dict([first])


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_fields_are_ignored(kind: Kind) -> None:
    payload = spec(kind).telemetry.model_validate({**TELEMETRY[kind], "firmware": "v2.1", "rssi": -71})
    assert payload.stored_fields() == TELEMETRY[kind]


@pytest.mark.parametrize(("kind", "field"), NUMERIC_FIELDS, ids=str)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "NaN", "Infinity"])
def test_nan_and_infinity_are_refused(kind: Kind, field: str, bad: object) -> None:
    with pytest.raises(ValidationError):
        spec(kind).telemetry.model_validate({field: bad})


@pytest.mark.parametrize(("kind", "field", "value"), OUT_OF_RANGE, ids=str)
def test_out_of_range_is_refused(kind: Kind, field: str, value: float) -> None:
    with pytest.raises(ValidationError) as caught:
        spec(kind).telemetry.model_validate({field: value})
    [error] = caught.value.errors()
    assert (error["loc"], error["type"]) in {((field,), "greater_than_equal"), ((field,), "less_than_equal")}


def test_ranges_cover_the_numeric_fields() -> None:
    ranged = {(kind, field) for kind, field, _ in OUT_OF_RANGE}
    assert set(NUMERIC_FIELDS) <= ranged


@pytest.mark.parametrize(("kind", "field"), ALL_FIELDS, ids=str)
@pytest.mark.parametrize("bad", [{"value": 1}, [1, 2], "not-a-valid-value"])
def test_wrong_types_are_refused(kind: Kind, field: str, bad: object) -> None:
    with pytest.raises(ValidationError):
        spec(kind).telemetry.model_validate({field: bad})


@pytest.mark.parametrize(("kind", "field"), NUMERIC_FIELDS, ids=str)
def test_numeric_fields_keep_their_type(kind: Kind, field: str) -> None:
    declared = spec(kind).telemetry.model_fields[field].annotation
    stored = spec(kind).telemetry.model_validate({field: 1}).stored_fields()[field]
    assert type(stored) is (float if declared == float | None else int)


@pytest.mark.parametrize("kind", KINDS)
def test_heartbeat_validates(kind: Kind) -> None:
    sample = HEARTBEATS.get(kind, {})
    stored = spec(kind).heartbeat.model_validate(sample).stored_fields()
    assert stored == {name: value for name, value in sample.items() if value is not None}
    _assert_plain(stored)


@pytest.mark.parametrize(("kind", "event"), EVENT_CASES, ids=str)
def test_every_event_type_validates(kind: Kind, event: str) -> None:
    stored = spec(kind).events[event].model_validate(EVENTS[kind][event]).stored_fields()
    _assert_plain(stored)
    assert set(stored) == set(EVENTS[kind][event])


def test_scan_stores_guards_joined() -> None:
    scan = spec(Kind.PATROL).events["scan"].model_validate({"checkpoint": "CP1", "guards": ["G1", "G2"]})
    assert scan.stored_fields() == {"checkpoint": "CP1", "guards": "G1,G2"}


def test_lift_fault_codes_are_those_of_the_standards() -> None:
    assert [code.value for code in LiftFaultCode] == [
        "entrapment",
        "alarm_button",
        "unintended_movement",
        "door_open_while_running",
        "overtravel_top",
        "overtravel_bottom",
        "overspeed",
        "safety_circuit_open",
        "door_lock_circuit_open",
        "stopped_outside_door_zone",
        "door_open_failure",
        "door_close_failure",
        "position_lost",
        "power_loss",
        "motor_runtime_limiter",  # GB/T 24476 code 06
        "restart_prevented",  # GB/T 24476 code 08
    ]


def test_enum_values_are_stored_as_plain_strings() -> None:
    fault = spec(Kind.LIFT).events["fault"].model_validate({"code": "overspeed"})
    assert fault.stored_fields() == {"code": "overspeed"}
    assert type(fault.stored_fields()["code"]) is str


@pytest.mark.parametrize(
    ("kind", "event", "payload"),
    [
        (Kind.LIFT, "fault", {}),
        (Kind.LIFT, "fault", {"code": "stuck"}),
        (Kind.LIFT, "fault_cleared", {}),
        (Kind.LIFT, "maintenance", {}),
        (Kind.LIFT, "maintenance", {"technician": ""}),
        (Kind.PATROL, "scan", {"guards": ["G1"]}),
        (Kind.PATROL, "scan", {"checkpoint": "CP 1/#", "guards": ["G1"]}),
        (Kind.PATROL, "scan", {"checkpoint": "CP1", "guards": []}),
        (Kind.PATROL, "scan", {"checkpoint": "CP1", "guards": ["G+1"]}),
        (Kind.PATROL, "sos", {}),
        (Kind.ACCESS, "denied", {"card": ""}),
    ],
)
def test_event_fields_are_checked(kind: Kind, event: str, payload: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        spec(kind).events[event].model_validate(payload)


def test_denied_card_is_optional() -> None:
    assert spec(Kind.ACCESS).events["denied"].model_validate({}).stored_fields() == {}


def test_payloads_are_immutable() -> None:
    payload: Payload = spec(Kind.LIFT).telemetry.model_validate({"floor": 3})
    with pytest.raises(ValidationError):
        payload.floor = 4  # type: ignore[attr-defined]


def test_a_model_with_lists_or_unstored_fields_is_not_stored_as_it_is() -> None:
    """``stored_fields`` takes a shortcut for models whose fields are all stored as they are."""

    class Plain(Payload):
        level: float | None = None
        ok: bool | None = None

    class Tagged(Payload):
        tags: tuple[str, ...] | None = None
        level: float | None = None

    class Private(Payload):
        not_stored = frozenset({"serial"})
        serial: str | None = None
        level: float | None = None

    assert Plain.stored_as_is
    assert Plain.model_validate({"level": 1.5}).stored_fields() == {"level": 1.5}
    assert not Tagged.stored_as_is
    assert Tagged.model_validate({"tags": ("a", "b"), "level": 2.0}).stored_fields() == {
        "tags": "a,b",
        "level": 2.0,
    }
    assert not Private.stored_as_is
    assert Private.model_validate({"serial": "S1", "level": 3.0}).stored_fields() == {"level": 3.0}
