"""Estates (docs/contract.md §8): the list in the caller's scope, and one estate's overview for the console —
devices by kind and status, lamp 完好率, camera online rate, open alerts and work orders.

The overview reads the stores and the device registry, never the alarm engine's lock; its lamp
完好率 is :func:`alerts.kpis.lamp_intact`, the computation the daily rollups use too."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, HTTPException

from alerts.engine_core import LAMP_OUT_RULE
from alerts.kpis import lamp_intact
from api.auth import CurrentPrincipal, check_estate
from api.deps import GatewayDep
from api.errors import errors
from devices.base import Kind
from devices.inventory import Estate
from dispatch.model import LIVE_STATES

router = APIRouter(prefix="/api/estates", tags=["estates"])
#: Device statuses that say nothing of a lamp now: it is not known to work.
SILENT = frozenset({"offline", "unknown"})


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
    alerts = gateway.core.alerts.open_alerts(estate, with_history=False)
    lamps = lamp_intact(
        [d.id for d in found.devices if d.kind is Kind.LIGHT and d.parent is not None],
        [a.device for a in alerts if a.rule == LAMP_OUT_RULE and a.active and a.device],
        [device for device, value in status.items() if value in SILENT],
    )
    parents = {d.parent for d in found.devices if d.parent is not None}
    cameras = [d.id for d in found.devices if d.kind is Kind.CCTV and d.id not in parents]
    online = sum(1 for c in cameras if status.get(c) == "online")
    orders = [
        o for state in LIVE_STATES for o in gateway.core.orders.query(estate, state.value, limit=100_000)
    ]
    return {
        **_estate_json(found),
        "devices_by_kind": {
            kind: dict(counts) | {"total": sum(counts.values())} for kind, counts in by_kind.items()
        },
        "lamps": lamps.to_json(),
        "cameras": {"total": len(cameras), "online": online, "online_rate": _rate(online, len(cameras))},
        "alerts": {
            "open": len(alerts),
            "active": sum(1 for a in alerts if a.active),
            "unacknowledged": sum(1 for a in alerts if a.unacknowledged),  # as the list and the badge count
            "by_severity": dict(Counter(a.severity.value for a in alerts if a.active)),
            "flooding": gateway.core.flooding(estate),
        },
        "workorders": {
            "live": len(orders),
            "by_state": dict(Counter(o.state.value for o in orders)),
            "breached": sum(1 for o in orders if o.breached),
        },
    }
