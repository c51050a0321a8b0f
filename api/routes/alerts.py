"""Alerts (docs/contract.md §5, §8): list, detail with history, acknowledge, shelve, unshelve; maintenance
windows; KPIs (alarms, patrols, repairs: 维修及时率)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field, model_validator

from alerts.kpis import alarm_kpis
from alerts.model import Alert, AlertState
from alerts.store import MaintenanceWindow
from api.auth import CurrentPrincipal, Principal, Role, check_estate, require_roles
from api.deps import GatewayDep
from api.errors import ACT_ON_ONE, errors
from api.params import AlertId, Instant, period
from devices.base import Severity
from dispatch.kpis import repair_kpis

router = APIRouter(prefix="/api", tags=["alerts"])
_READ = require_roles(Role.OPERATOR, Role.MANAGER, Role.SIMULATOR)
_ACT = require_roles(Role.OPERATOR)


class AckBody(BaseModel):
    note: str = Field("", max_length=2000)


class ShelveBody(BaseModel):
    minutes: float = Field(
        gt=0,
        le=480,
        allow_inf_nan=False,
        strict=True,  # a number, not "5"
        description="At most one shift (8 h) in all, counting a shelving this one extends",
    )
    reason: str = Field(min_length=1, max_length=2000)


class UnshelveBody(BaseModel):
    note: str = Field("", max_length=2000)


class WindowBody(BaseModel):
    estate: str
    building: str | None = None
    device: str | None = None
    start: Instant
    end: Instant
    reason: str = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _ordered(self) -> WindowBody:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


def _visible(gateway: GatewayDep, principal: Principal, alert_id: int) -> Alert:
    alert = gateway.alarms.book.find(alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id}")
    check_estate(principal, alert.estate)
    return alert


@router.get("/alerts", dependencies=[_READ], summary="Alerts in the caller's scope, newest first")
def list_alerts(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    estate: str | None = None,
    state: AlertState | None = None,
    severity: Severity | None = None,
    since: Instant | None = Query(None, description="Raised at or after (ISO 8601 with offset)"),
    limit: int = Query(500, ge=1, le=5000),
) -> list[dict[str, Any]]:
    if estate is not None:
        check_estate(principal, estate)
    found = gateway.alarms.book.store.query(
        estate,
        state.value if state else None,
        severity.value if severity else None,
        since,
        principal.estates or None,
        limit,
    )
    return [a.to_json() for a in found]


@router.get(
    "/alerts/{alert_id}", dependencies=[_READ], responses=errors(404), summary="One alert with its history"
)
def get_alert(alert_id: AlertId, gateway: GatewayDep, principal: CurrentPrincipal) -> dict[str, Any]:
    body = _visible(gateway, principal, alert_id).to_json(with_history=True)
    # Who was told of it, on which channel, when, and the result (oldest first, as its history).
    told = gateway.notifier.deliveries(estates=None, alert=alert_id, limit=500) if gateway.notifier else []
    return body | {"notifications": [d.public() for d in reversed(told)]}


@router.post("/alerts/{alert_id}/ack", dependencies=[_ACT], responses=ACT_ON_ONE, summary="Acknowledge")
def ack(
    alert_id: AlertId, gateway: GatewayDep, principal: CurrentPrincipal, body: AckBody | None = None
) -> dict[str, Any]:
    _visible(gateway, principal, alert_id)
    alert = gateway.alarms.book.ack(alert_id, principal.name, (body or AckBody()).note)
    gateway.alarms.book.flush()
    return alert.to_json(with_history=True)


@router.post(
    "/alerts/{alert_id}/shelve",
    dependencies=[_ACT],
    responses=ACT_ON_ONE,
    summary="Shelve for a bounded time",
)
def shelve(
    alert_id: AlertId, body: ShelveBody, gateway: GatewayDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    _visible(gateway, principal, alert_id)
    alert = gateway.alarms.book.shelve(alert_id, principal.name, body.minutes, body.reason)
    gateway.alarms.book.flush()
    return alert.to_json(with_history=True)


@router.post(
    "/alerts/{alert_id}/unshelve", dependencies=[_ACT], responses=ACT_ON_ONE, summary="Return a shelved alert"
)
def unshelve(
    alert_id: AlertId, gateway: GatewayDep, principal: CurrentPrincipal, body: UnshelveBody | None = None
) -> dict[str, Any]:
    _visible(gateway, principal, alert_id)
    alert = gateway.alarms.book.unshelve(alert_id, principal.name, (body or UnshelveBody()).note)
    gateway.alarms.book.flush()
    return alert.to_json(with_history=True)


@router.post(
    "/maintenance-windows",
    dependencies=[_ACT],
    status_code=201,
    responses=errors(400),
    summary="Suppress a device, building or estate's alerts for a while",
)
def add_window(body: WindowBody, gateway: GatewayDep, principal: CurrentPrincipal) -> dict[str, Any]:
    check_estate(principal, body.estate)
    estate = gateway.inventory.estate(body.estate)
    if estate is None:
        raise HTTPException(422, f"unknown estate {body.estate!r}")
    if body.device is not None and estate.device(body.device) is None:
        raise HTTPException(422, f"no device {body.device!r} in estate {body.estate!r}")
    if body.building is not None and body.building not in estate.buildings:
        raise HTTPException(422, f"no building {body.building!r} in estate {body.estate!r}")
    window = gateway.alarms.add_window(
        MaintenanceWindow(
            0, body.estate, body.building, body.device, body.start, body.end, body.reason, principal.name
        )
    )
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in vars(window).items()}


@router.get("/kpis", dependencies=[require_roles(Role.OPERATOR, Role.MANAGER)], summary="KPIs over a period")
def kpis(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    estate: str | None = None,
    start: datetime | None = Query(None, description="Default: 24 h before stop"),
    stop: datetime | None = Query(None, description="Default: now; at most 400 days after start"),
) -> dict[str, Any]:
    if estate is not None:
        check_estate(principal, estate)
    now = gateway.clock.now()
    start, stop = period(start, stop, now)
    store = gateway.alarms.book.store
    # Every alert that may have been active in the period, raised inside it or before (a stale
    # alarm raised 30 h ago is one), with its history: activations are counted from it.
    found = store.overlapping(estate, start, stop, estates=principal.estates or None)
    result = alarm_kpis(found, store.floods(estate, start, stop), start, stop, now)
    orders = gateway.dispatcher.store.query(
        estate, estates=principal.estates or None, created_from=start, created_to=stop, limit=1_000_000
    )
    return {
        "estate": estate,
        "start": start.isoformat(),
        "stop": stop.isoformat(),
        "alarms": vars(result),
        "patrols": _patrol_compliance(gateway, principal, estate, start, stop),
        "repairs": vars(repair_kpis(orders, start, stop)),
    }


def _patrol_compliance(
    gateway: GatewayDep, principal: Principal, estate: str | None, start: datetime, stop: datetime
) -> dict[str, dict[str, float | None]]:
    """Per estate, per local day in the period: share of closed rounds done (on time or late), %."""
    engine = gateway.alarms
    out: dict[str, dict[str, float | None]] = {}
    for estate_id, tracker in list(engine.patrols.items()):
        found = gateway.inventory.estate(estate_id)
        if found is None or (estate and estate_id != estate) or not principal.sees(estate_id):
            continue
        day, last = start.astimezone(found.tz).date(), stop.astimezone(found.tz).date()
        days: dict[str, float | None] = {}
        while day <= last:
            with engine.book.lock:  # a day at a time: the rules never wait for a long period
                share = tracker.compliance(day)
            days[day.isoformat()] = None if share is None else round(100 * share, 1)
            day += timedelta(days=1)
        out[estate_id] = days
    return out
