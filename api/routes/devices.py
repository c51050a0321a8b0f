"""Devices: list, detail, readings (SPEC §8)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from api.auth import CurrentPrincipal, check_estate
from api.deps import GatewayDep
from api.params import period
from devices.base import FieldValue, Kind
from devices.clock import from_ns, to_ns
from gateway.sinks.sql import SqlSink
from gateway.state import DeviceState, DeviceStatus

router = APIRouter(prefix="/api/devices", tags=["devices"])


class DevicePublic(BaseModel):
    estate: str
    id: str
    kind: Kind
    building: str | None
    parent: str | None
    status: DeviceStatus
    last_seen: datetime | None
    latest: dict[str, FieldValue] = Field(description="Field → last value")


class ReadingPublic(BaseModel):
    time: datetime
    fields: dict[str, FieldValue]


def _public(state: DeviceState, now_ns: int) -> DevicePublic:
    return DevicePublic(
        estate=state.estate,
        id=state.id,
        kind=state.kind,
        building=state.building or None,
        parent=state.parent,
        status=state.status(now_ns),
        last_seen=from_ns(state.last_seen_ns) if state.last_seen_ns is not None else None,
        latest=dict(state.latest),
    )


@router.get("", response_model=list[DevicePublic], summary="Devices in the caller's scope")
def list_devices(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    estate: str | None = None,
    kind: Kind | None = None,
    status: DeviceStatus | None = None,
) -> list[DevicePublic]:
    if estate is not None:
        check_estate(principal, estate)
    now_ns = gateway.now_ns()
    states = gateway.registry.list(now_ns, estate=estate, kind=kind, status=status)
    return [_public(s, now_ns) for s in states if principal.sees(s.estate)]


def _device(gateway: GatewayDep, principal: CurrentPrincipal, estate: str, device: str) -> DeviceState:
    check_estate(principal, estate)
    state = gateway.registry.get(estate, device)
    if state is None:
        raise HTTPException(404, f"no device {device!r} in estate {estate!r}")
    return state


@router.get("/{estate}/{device}", response_model=DevicePublic)
def get_device(gateway: GatewayDep, principal: CurrentPrincipal, estate: str, device: str) -> DevicePublic:
    return _public(_device(gateway, principal, estate, device), gateway.now_ns())


@router.get("/{estate}/{device}/readings", response_model=list[ReadingPublic])
def get_readings(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    estate: str,
    device: str,
    field: str | None = Query(None, description="Only this field"),
    start: datetime | None = Query(None, description="ISO 8601 with offset; default: 24 h before stop"),
    stop: datetime | None = Query(None, description="ISO 8601 with offset; default: now; ≤ 400 days"),
    every: str | None = Query(
        None, pattern=r"^[1-9]\d*(s|m|h|d)$", description="Downsample: mean per bucket, e.g. 5m, 1h"
    ),
    limit: int = Query(1000, ge=1, le=10_000),
) -> list[ReadingPublic]:
    _device(gateway, principal, estate, device)
    start, stop = period(start, stop, gateway.clock.now())
    sink = gateway.sink
    if not isinstance(sink, SqlSink):
        raise HTTPException(
            501, "reading history is served from the SQL store; with InfluxDB, query it directly"
        )
    points = sink.query(estate, device, to_ns(start), to_ns(stop), limit)
    rows = [
        (p.time_ns, {field: p.fields[field]} if field else dict(p.fields))
        for p in points
        if field is None or field in p.fields
    ]
    if every is not None:
        rows = downsample(rows, _SECONDS[every[-1]] * int(every[:-1]) * 1_000_000_000)
    return [ReadingPublic(time=from_ns(t), fields=f) for t, f in rows]


_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def downsample(
    rows: list[tuple[int, dict[str, FieldValue]]], bucket_ns: int
) -> list[tuple[int, dict[str, FieldValue]]]:
    """One row per time bucket (stamped at its start): numbers averaged, other values the last."""
    buckets: dict[int, dict[str, list[FieldValue]]] = {}
    for time_ns, fields in rows:
        bucket = buckets.setdefault(time_ns - time_ns % bucket_ns, {})
        for name, value in fields.items():
            bucket.setdefault(name, []).append(value)
    out: list[tuple[int, dict[str, FieldValue]]] = []
    for start, values in sorted(buckets.items()):
        merged: dict[str, FieldValue] = {}
        for name, seen in values.items():
            numbers = [v for v in seen if isinstance(v, int | float) and not isinstance(v, bool)]
            merged[name] = round(sum(numbers) / len(numbers), 6) if len(numbers) == len(seen) else seen[-1]
        out.append((start, merged))
    return out
