"""KPIs (docs/contract.md §8): over any period (``/kpis``), the daily rollups (``/kpis/daily``), month
and quarter summaries of an estate or a region of the tree (``/kpis/summary``), and recomputing past
days (``POST /kpis/rollups``, admin).

Every read here goes to the SQL stores (alerts with their history, work orders, the patrol record,
``kpi_daily``): none waits for the alarm core's thread (alerts/owner.py), so no KPI request,
however long, holds up an alarm (issue 20). Periods are bounded: at most 400 days, start before
stop, a 422 otherwise.

What is left to share is the CPU (and Python's GIL): ten 400-day requests at
once, each building thousands of alerts, delayed alarms by 1.5 s (measured). So the heavy KPI work
runs :data:`AT_ONCE` request at a time; the others wait their turn without using the CPU (a 503
after :data:`WAIT_S`), and the alarms keep their share (docs/benchmarks.md).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field, model_validator

from alerts.kpis import alarm_kpis
from alerts.patrol_records import compliance
from api.auth import CurrentPrincipal, Principal, Role, check_estate, require_roles
from api.deps import GatewayDep
from api.errors import errors
from api.params import MAX_PERIOD, Day, period
from dispatch.kpis import repair_kpis
from reports.daily import TARGETS, Target, common_targets, judged, targets_for
from reports.rollup import Rollups
from reports.summary import Period, estates_under, find_region, period_days, region_tree, summarise

router = APIRouter(prefix="/api", tags=["kpis"])
_READ = require_roles(Role.OPERATOR, Role.MANAGER)
#: Heavy KPI computations running at once in this process, and how long a request waits for a turn.
AT_ONCE = 1
WAIT_S = 120.0
_turns = threading.BoundedSemaphore(AT_ONCE)


@contextmanager
def _turn() -> Iterator[None]:
    if not _turns.acquire(timeout=WAIT_S):
        raise HTTPException(503, "too many KPI requests at once: try again shortly")
    try:
        yield
    finally:
        _turns.release()


def _reports(gateway: GatewayDep) -> Rollups:
    if gateway.reports is None:
        raise HTTPException(503, "KPI reports are not available on this gateway")
    return gateway.reports


def _visible(gateway: GatewayDep, principal: Principal, estate: str | None) -> list[str]:
    """The estates a request covers: the one named (checked), else every estate the caller sees."""
    if estate is not None:
        check_estate(principal, estate)
        if gateway.inventory.estate(estate) is None:
            raise HTTPException(404, f"no estate {estate!r}")
        return [estate]
    return [e.id for e in gateway.inventory.estates if principal.sees(e.id)]


def _days(start: date | None, stop: date | None, today: date, default: int = 30) -> tuple[date, date]:
    """[start, stop) in local days: stop defaults to today (so yesterday is the last day), start to
    ``default`` days before stop; start < stop and at most 400 days, else a 422."""
    stop = stop or today
    start = start or stop - timedelta(days=default)
    if start >= stop:
        raise HTTPException(422, "start must be before stop")
    if (stop - start).days > MAX_PERIOD.days:
        raise HTTPException(422, f"a period is at most {MAX_PERIOD.days} days: ask for it in parts")
    return start, stop


@router.get("/kpis", dependencies=[_READ], responses=errors(404), summary="KPIs over a period")
def kpis(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    estate: str | None = None,
    start: datetime | None = Query(None, description="Default: 24 h before stop"),
    stop: datetime | None = Query(None, description="Default: now; at most 400 days after start"),
) -> dict[str, Any]:
    estates = _visible(gateway, principal, estate)
    reports = _reports(gateway)
    now = gateway.clock.now()
    start, stop = period(start, stop, now)
    with _turn():
        return _kpis(gateway, reports, estates, estate, start, stop, now)


def _kpis(
    gateway: GatewayDep,
    reports: Rollups,
    estates: list[str],
    estate: str | None,
    start: datetime,
    stop: datetime,
    now: datetime,
) -> dict[str, Any]:
    # Every alert that may have been active in the period, raised inside it or before (a stale
    # alarm raised 30 h ago is one), with its history: activations are counted from it.
    scope = frozenset(estates)
    found = reports.alerts.overlapping(estate, start, stop, estates=scope)
    result = alarm_kpis(found, reports.alerts.floods(estate, start, stop), start, stop, now)
    orders = reports.orders.query(estate, estates=scope, created_from=start, created_to=stop, limit=1_000_000)
    return {
        "estate": estate,
        "start": start.isoformat(),
        "stop": stop.isoformat(),
        "alarms": vars(result),
        "patrols": _patrol_compliance(gateway, reports, estates, start, stop),
        "repairs": vars(repair_kpis(orders, start, stop)),
    }


def _patrol_compliance(
    gateway: GatewayDep, reports: Rollups, estates: list[str], start: datetime, stop: datetime
) -> dict[str, dict[str, float | None]]:
    """Per estate with patrol plans, per local day in the period: % of closed rounds that met their
    plan (from the patrol record: one query, no lock)."""
    out: dict[str, dict[str, float | None]] = {}
    for estate_id in estates:
        found = gateway.inventory.estate(estate_id)
        if found is None or not found.patrols:
            continue
        first, last = start.astimezone(found.tz).date(), stop.astimezone(found.tz).date()
        verdicts = reports.patrols.verdicts([estate_id], first, last)
        days: dict[str, float | None] = {}
        day = first
        while day <= last:
            done, closed = compliance([v for v in verdicts if v.day == day])
            days[day.isoformat()] = round(100 * done / closed, 1) if closed else None
            day += timedelta(days=1)
        out[estate_id] = days
    return out


def _row_json(row: dict[str, Any], targets: dict[str, Target]) -> dict[str, Any]:
    """A stored day, with its figures judged against the targets it was computed with (its estate's
    present ones for a day stored before targets were kept with it)."""
    kept = row["detail"].get("targets") if isinstance(row["detail"], dict) else None
    if isinstance(kept, dict):
        targets = {
            name: t
            if kept.get(name) in (None, t.value)
            else Target(float(kept[name]), t.kind, "when computed")
            for name, t in targets.items()
        }
    return {
        **row,
        "day": row["day"].isoformat(),
        "computed_at": row["computed_at"].isoformat() if row["computed_at"] else None,
        "targets": {
            name: {k: v for k, v in j.items() if k != "value"} for name, j in judged(row, targets).items()
        },
    }


def _today(gateway: GatewayDep, estates: list[str]) -> date:
    """Today in the estates' local time (the latest of their dates: the first day not yet ended)."""
    now = gateway.clock.now()
    zones = [e.tz for e in gateway.inventory.estates if e.id in estates]
    return max((now.astimezone(tz).date() for tz in zones), default=now.date())


def _targets(gateway: GatewayDep, estates: list[str]) -> dict[str, Target]:
    return common_targets(e for e in gateway.inventory.estates if e.id in estates)


@router.get(
    "/kpis/daily",
    dependencies=[_READ],
    responses=errors(404),
    summary="Daily KPI rollups of the estates in scope (local days, at most 400)",
)
def daily(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    estate: str | None = None,
    start: Day | None = Query(None, description="First local day, YYYY-MM-DD (default: 30 days before stop)"),
    stop: Day | None = Query(None, description="Day after the last, YYYY-MM-DD (default: today)"),
) -> dict[str, Any]:
    estates = _visible(gateway, principal, estate)
    first, stop_day = _days(start, stop, _today(gateway, estates))
    rows = _reports(gateway).daily(estates, first, stop_day - timedelta(days=1))
    own = {e.id: targets_for(e) for e in gateway.inventory.estates if e.id in estates}
    return {
        "start": first.isoformat(),
        "stop": stop_day.isoformat(),
        "targets": {name: t.to_json() for name, t in _targets(gateway, estates).items()},
        "days": [_row_json(r, own.get(r["estate"], dict(TARGETS))) for r in rows],
    }


@router.get(
    "/kpis/summary",
    dependencies=[_READ],
    responses=errors(404, 422),
    summary="A month or quarter of KPIs: one estate, a region rolled up (street, district), or all",
)
def summary(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    estate: str | None = None,
    region: str | None = None,
    period_: Period = Query(Period.MONTH, alias="period", description="month or quarter"),
    start: Day | None = Query(None, description="A day in the month or quarter (default: today)"),
) -> dict[str, Any]:
    if estate is not None and region is not None:
        raise HTTPException(422, "give estate or region, not both")
    reports = _reports(gateway)
    scope = [estate] if estate is not None else [e.id for e in gateway.inventory.estates]
    first, last = period_days(period_, start or _today(gateway, scope))
    head = {
        "period": period_.value,
        "start": first.isoformat(),
        "stop": (last + timedelta(days=1)).isoformat(),
    }
    if region is None:
        estates = _visible(gateway, principal, estate)
        rows = reports.daily(estates, first, last)
        return head | {"estate": estate, "estates": estates, **summarise(rows, _targets(gateway, estates))}
    node = find_region(gateway.inventory, region)
    if node is None:
        raise HTTPException(404, f"no region {region!r}")
    visible = {e for e in estates_under(gateway.inventory, node) if principal.sees(e)}
    rows = reports.daily(sorted(visible), first, last)
    return head | region_tree(gateway.inventory, node, rows, visible)


class RollupBody(BaseModel):
    estate: str | None = Field(None, description="One estate; none: every estate")
    start: Day = Field(description="First local day to recompute")
    stop: Day = Field(description="Day after the last")

    @model_validator(mode="after")
    def _bounded(self) -> RollupBody:
        if self.start >= self.stop:
            raise ValueError("start must be before stop")
        if (self.stop - self.start).days > MAX_PERIOD.days:
            raise ValueError(f"at most {MAX_PERIOD.days} days at a time")
        return self


@router.post(
    "/kpis/rollups",
    dependencies=[require_roles(Role.ADMIN)],
    responses=errors(400, 404),
    summary="Recompute the daily rollups of past days (admin)",
)
def recompute(body: RollupBody, gateway: GatewayDep, principal: CurrentPrincipal) -> dict[str, Any]:
    estates = _visible(gateway, principal, body.estate)
    with _turn():
        done = _reports(gateway).recompute(estates, body.start, body.stop - timedelta(days=1))
    return {"estates": estates, "start": body.start.isoformat(), "stop": body.stop.isoformat(), "days": done}
