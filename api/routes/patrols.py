"""``GET /api/patrols?estate=&date=``: the day's guard-tour rounds with their scans and status, and
the day's compliance — the daily patrol record the service standard asks for."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, HTTPException, Query

from api.auth import CurrentPrincipal, Role, check_estate, require_roles
from api.deps import GatewayDep

router = APIRouter(prefix="/api", tags=["patrols"])


@router.get(
    "/patrols",
    dependencies=[require_roles(Role.OPERATOR, Role.MANAGER, Role.SIMULATOR)],
    summary="Patrol rounds of a day (local date of the estate; default: today)",
)
def patrols(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    estate: str | None = None,
    day: date | None = Query(None, alias="date", description="YYYY-MM-DD, the estate's local date"),
) -> list[dict[str, Any]]:
    if estate is not None:
        check_estate(principal, estate)
        if gateway.inventory.estate(estate) is None:
            raise HTTPException(404, f"no estate {estate!r}")
    engine = gateway.alarms
    out = []
    with engine.book.lock:  # the tracker is changed by the pipeline and the ticker under this lock
        for estate_id, tracker in engine.patrols.items():
            if (estate is not None and estate_id != estate) or not principal.sees(estate_id):
                continue
            found = gateway.inventory.estate(estate_id)
            if found is None:
                continue
            local_day = day if day is not None else gateway.clock.now().astimezone(found.tz).date()
            compliance = tracker.compliance(local_day)
            out.append(
                {
                    "estate": estate_id,
                    "date": local_day.isoformat(),
                    "compliance_pct": None if compliance is None else round(100 * compliance, 1),
                    "rounds": tracker.rounds_report(local_day),
                }
            )
    return out
