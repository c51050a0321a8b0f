"""Devices: list, detail, readings (docs/contract.md §8)."""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from api.auth import CurrentPrincipal, check_estate
from api.deps import GatewayDep
from api.errors import errors
from api.paging import PAGE_HEADERS, tell_page
from api.params import PageLimit, period
from devices.base import ID_PATTERN, FieldValue, Kind
from devices.clock import from_ns, to_ns
from gateway.history import HistoryError
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


#: ``after``: a device as ``estate/id``.
_DEVICE_KEY = rf"^{ID_PATTERN.pattern}/{ID_PATTERN.pattern}$"


@router.get(
    "",
    response_model=list[DevicePublic],
    responses={200: PAGE_HEADERS},
    summary="Devices in the caller's scope by estate and id, a page at a time",
)
def list_devices(
    request: Request,
    response: Response,
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    estate: str | None = None,
    kind: Kind | None = None,
    status: DeviceStatus | None = None,
    limit: PageLimit = 1000,
    after: str | None = Query(
        None,
        pattern=_DEVICE_KEY,
        description="The next page: devices after this `estate/id` (the Link header's)",
    ),
) -> list[DevicePublic]:
    """A page of at most ``limit`` devices (default 1,000: an estate's inventory in one answer, as
    the console and scripts always read it); ``X-Total-Count`` and a ``Link`` to the next page
    when there are more (20,000 made-up ids made a 3.6 MB answer of the unregistered list)."""
    if estate is not None:
        check_estate(principal, estate)
    now_ns = gateway.now_ns()
    states = gateway.registry.list(now_ns, estate=estate, kind=kind, status=status)
    mine = sorted((s for s in states if principal.sees(s.estate)), key=lambda s: (s.estate, s.id))
    start = 0 if after is None else bisect_right([(s.estate, s.id) for s in mine], tuple(after.split("/")))
    page = mine[start : start + limit]
    more = start + limit < len(mine)
    tell_page(request, response, len(mine), {"after": f"{page[-1].estate}/{page[-1].id}"} if more else None)
    return [_public(s, now_ns) for s in page]


def _device(gateway: GatewayDep, principal: CurrentPrincipal, estate: str, device: str) -> DeviceState:
    check_estate(principal, estate)
    state = gateway.registry.get(estate, device)
    if state is None:
        raise HTTPException(404, f"no device {device!r} in estate {estate!r}")
    return state


@router.get("/{estate}/{device}", response_model=DevicePublic, responses=errors(404))
def get_device(gateway: GatewayDep, principal: CurrentPrincipal, estate: str, device: str) -> DevicePublic:
    return _public(_device(gateway, principal, estate, device), gateway.now_ns())


@router.get(
    "/{estate}/{device}/readings", response_model=list[ReadingPublic], responses=errors(404, 501, 503)
)
def get_readings(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    estate: str,
    device: str,
    field: str | None = Query(None, max_length=64, description="Only this field"),
    start: datetime | None = Query(None, description="ISO 8601 with offset; default: 24 h before stop"),
    stop: datetime | None = Query(None, description="ISO 8601 with offset; default: now; ≤ 400 days"),
    every: str | None = Query(
        None,
        pattern=r"^[1-9]\d{0,6}(s|m|h|d)$",
        description="Downsample: one point per bucket (numbers averaged, others the last), e.g. 5m, 1h",
    ),
    limit: int = Query(1000, ge=1, le=10_000, description="Most points returned, oldest first"),
) -> list[ReadingPublic]:
    """The device's readings in ``[start, stop)`` from the store that holds them (the SQL database,
    or InfluxDB in InfluxQL over ``/query``); choose ``every`` so the period fits ``limit``."""
    state = _device(gateway, principal, estate, device)
    start, stop = period(start, stop, gateway.clock.now())
    if gateway.history is None:
        raise HTTPException(501, "this gateway keeps no reading history (no SQL or InfluxDB store)")
    every_ns = _SECONDS[every[-1]] * int(every[:-1]) * 1_000_000_000 if every is not None else None
    try:
        rows = gateway.history.readings(
            estate, state.kind, device, to_ns(start), to_ns(stop), every_ns=every_ns, field=field, limit=limit
        )
    except HistoryError as exc:
        raise HTTPException(503, f"the reading history is not available now: {exc}") from exc
    return [ReadingPublic(time=from_ns(t), fields=f) for t, f in rows]


_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
