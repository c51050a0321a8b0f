"""Alerts (docs/contract.md §5, §8): list, detail with history, acknowledge, shelve, unshelve; maintenance
windows. KPIs are in api/routes/kpis.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field, model_validator

from alerts.model import Alert, AlertState
from alerts.rules import ConditionRule
from alerts.store import MaintenanceWindow
from api.auth import CurrentPrincipal, Principal, Role, check_estate, require_roles
from api.deps import GatewayDep
from api.errors import ACT_ON_ONE, errors
from api.params import AlertId, Instant
from devices.base import Kind, Severity

router = APIRouter(prefix="/api", tags=["alerts"])
_READ = require_roles(Role.OPERATOR, Role.MANAGER, Role.SIMULATOR)
_ACT = require_roles(Role.OPERATOR)


class AckBody(BaseModel):
    note: str = Field("", max_length=2000)


class ShelveBody(BaseModel):
    minutes: int = Field(
        ge=1,
        le=480,
        strict=True,  # a whole number, not "5" or 2.5
        description="Whole minutes, 1 to 480: at most one shift (8 h) in all, counting a shelving "
        "this one extends",
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
    alert = gateway.core.alert(alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id}")
    check_estate(principal, alert.estate)
    return alert


@router.get("/alerts", dependencies=[_READ], summary="Alerts in the caller's scope, newest first")
def list_alerts(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    estate: str | None = Query(None, max_length=64),
    state: AlertState | None = None,
    severity: Severity | None = None,
    since: Instant | None = Query(None, description="Raised at or after (ISO 8601 with offset)"),
    device: str | None = Query(None, max_length=64, description="Only this device's (its id)"),
    rule: str | None = Query(None, max_length=64, description="Only this rule's, e.g. maintenance.overdue"),
    limit: int = Query(500, ge=1, le=5000),
) -> list[dict[str, Any]]:
    if estate is not None:
        check_estate(principal, estate)
    found = gateway.core.alerts.query(
        estate,
        state.value if state else None,
        severity.value if severity else None,
        since,
        principal.estates or None,
        limit,
        device=device,
        rule=rule,
    )
    return [a.to_json() for a in found]


@router.get(
    "/thresholds",
    dependencies=[_READ],
    responses=errors(404),
    summary="The numeric limits the estate's rules watch on a device kind (for charts)",
)
def thresholds(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    estate: str = Query(max_length=64),
    kind: Kind = Query(description="Device kind"),
    device: str | None = Query(None, max_length=64, description="Only the rules that watch this device"),
) -> list[dict[str, Any]]:
    """Each predicate ``field op number`` of the estate's enabled condition rules on ``kind``, after
    the estate's overrides: where a chart draws its threshold lines. With ``device``, only the rules
    the engine applies to it (a tank's disinfectant selects its chlorine rules)."""
    check_estate(principal, estate)
    rules = gateway.core.rules(estate)
    found = gateway.inventory.estate(estate)
    if rules is None or found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no estate {estate!r}")
    config = found.device(device) if device is not None else None
    if device is not None and config is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device!r} in estate {estate!r}")
    out = []
    for rule in rules.device.get(kind.value, []):
        if not isinstance(rule, ConditionRule) or not rule.enabled:
            continue
        if config is not None and rule.disinfectant not in (None, config.disinfectant_used):
            continue  # as the engine judges it (alerts/engine.py)
        for p in rule.when:
            numeric = isinstance(p.value, int | float) and not isinstance(p.value, bool)
            if numeric and p.op in ("<", "<=", ">", ">="):
                out.append(
                    {
                        "rule": rule.id,
                        "field": p.field,
                        "op": p.op,
                        "value": p.value,
                        "severity": rule.severity.value,
                        "message": rule.message,
                        "message_en": rule.message_en,
                    }
                )
    return out


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
    return gateway.core.ack(alert_id, principal.name, (body or AckBody()).note)


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
    return gateway.core.shelve(alert_id, principal.name, body.minutes, body.reason)


@router.post(
    "/alerts/{alert_id}/unshelve", dependencies=[_ACT], responses=ACT_ON_ONE, summary="Return a shelved alert"
)
def unshelve(
    alert_id: AlertId, gateway: GatewayDep, principal: CurrentPrincipal, body: UnshelveBody | None = None
) -> dict[str, Any]:
    _visible(gateway, principal, alert_id)
    return gateway.core.unshelve(alert_id, principal.name, (body or UnshelveBody()).note)


@router.get(
    "/maintenance-windows",
    dependencies=[_READ],
    summary="Maintenance windows not yet over (current and planned), in the caller's scope",
)
def list_windows(
    gateway: GatewayDep, principal: CurrentPrincipal, estate: str | None = Query(None, max_length=64)
) -> list[dict[str, Any]]:
    if estate is not None:
        check_estate(principal, estate)
    found = gateway.core.alerts.windows(gateway.clock.now())
    return [
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in vars(w).items()}
        for w in sorted(found, key=lambda w: (w.start, w.id))
        if principal.sees(w.estate) and (estate is None or w.estate == estate)
    ]


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
    window = gateway.core.add_window(
        MaintenanceWindow(
            0, body.estate, body.building, body.device, body.start, body.end, body.reason, principal.name
        )
    )
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in vars(window).items()}
