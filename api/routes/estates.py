"""Estates (docs/contract.md §8): the list in the caller's scope, and one estate's overview for the console —
devices by kind and status, lamp 完好率, camera online rate, open alerts and work orders."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, HTTPException

from alerts.engine_core import LAMP_OUT_RULE
from api.auth import CurrentPrincipal, check_estate
from api.deps import GatewayDep
from api.errors import errors
from devices.base import Kind
from devices.inventory import Estate

router = APIRouter(prefix="/api/estates", tags=["estates"])
#: Lamps' 完好率 ≥ 95 %: the estate service standard and the municipal lighting rules (docs/rules.md).
LAMP_TARGET = 0.95


def _estate_json(estate: Estate) -> dict[str, Any]:
    return {
        "id": estate.id,
        "name": estate.name,
        "region": estate.region,
        "timezone": estate.timezone,
        "buildings": list(estate.buildings),
        "devices": len(estate.devices),
    }


@router.get("", summary="Estates in the caller's scope")
def list_estates(gateway: GatewayDep, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    return [_estate_json(e) for e in gateway.inventory.estates if principal.sees(e.id)]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@router.get(
    "/{estate}/summary",
    responses=errors(404),
    summary="One estate at a glance: devices, lamps, cameras, alerts, orders",
)
def summary(estate: str, gateway: GatewayDep, principal: CurrentPrincipal) -> dict[str, Any]:
    check_estate(principal, estate)
    found = gateway.inventory.estate(estate)
    if found is None:
        raise HTTPException(404, f"no estate {estate!r}")
    now_ns = gateway.now_ns()
    states = gateway.registry.list(now_ns, estate=estate)
    by_kind: dict[str, Counter[str]] = {k.value: Counter() for k in Kind}
    status = {}
    for state in states:
        value = state.status(now_ns).value
        by_kind[state.kind.value][value] += 1
        status[state.id] = value
    alerts = [a for a in gateway.alarms.book.open_alerts() if a.estate == estate]
    lamps = [d.id for d in found.devices if d.kind is Kind.LIGHT and d.parent is not None]
    failed = len({a.device for a in alerts if a.rule == LAMP_OUT_RULE and a.active} & set(lamps))
    parents = {d.parent for d in found.devices if d.parent is not None}
    cameras = [d.id for d in found.devices if d.kind is Kind.CCTV and d.id not in parents]
    online = sum(1 for c in cameras if status.get(c) == "online")
    with gateway.alarms.book.lock:
        orders = [o for o in gateway.dispatcher.live.values() if o.estate == estate]
    return {
        **_estate_json(found),
        "devices_by_kind": {
            kind: dict(counts) | {"total": sum(counts.values())} for kind, counts in by_kind.items()
        },
        "lamps": {
            "total": len(lamps),
            "failed": failed,
            "intact_rate": _rate(len(lamps) - failed, len(lamps)),
            "target": LAMP_TARGET,
        },
        "cameras": {"total": len(cameras), "online": online, "online_rate": _rate(online, len(cameras))},
        "alerts": {
            "open": len(alerts),
            "active": sum(1 for a in alerts if a.active),
            "unacknowledged": sum(1 for a in alerts if a.unacknowledged),  # as the list and the badge count
            "by_severity": dict(Counter(a.severity.value for a in alerts if a.active)),
            "flooding": estate in gateway.alarms.book.flooding,
        },
        "workorders": {
            "live": len(orders),
            "by_state": dict(Counter(o.state.value for o in orders)),
            "breached": sum(1 for o in orders if o.breached),
        },
    }
