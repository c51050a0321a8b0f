"""``GET /api/patrols?estate=&date=``: the day's guard-tour rounds with their scans and status, and
the day's compliance — the daily patrol record the service standard asks for. Read from the
patrol record in SQL (alerts/patrol_records.py, kept ``patrol_keep_days``), never from the alarm
engine's trackers: a report neither waits for the alarms nor holds them up."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse

from alerts.patrol_records import day_report
from api.auth import CurrentPrincipal, Role, check_estate, require_roles
from api.deps import GatewayDep
from api.errors import errors
from api.params import Day

router = APIRouter(prefix="/api", tags=["patrols"], responses=errors(404))


@router.get(
    "/patrols",
    dependencies=[require_roles(Role.OPERATOR, Role.MANAGER, Role.SIMULATOR)],
    summary="Patrol rounds of a day (local date of the estate; default: today)",
)
def patrols(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    estate: str | None = None,
    day: Day | None = Query(None, alias="date", description="YYYY-MM-DD, the estate's local date"),
) -> list[dict[str, Any]]:
    if estate is not None:
        check_estate(principal, estate)
        if gateway.inventory.estate(estate) is None:
            raise HTTPException(404, f"no estate {estate!r}")
    if gateway.reports is None:
        raise HTTPException(503, "the patrol record is not available on this gateway")
    records = gateway.reports.patrols
    watching = _watched_since(gateway)
    now = gateway.clock.now()
    out = []
    for found in gateway.inventory.estates:
        if not found.patrols or (estate is not None and found.id != estate) or not principal.sees(found.id):
            continue
        local_day = day if day is not None else now.astimezone(found.tz).date()
        scans = records.scans(found.id, local_day, local_day)
        verdicts = records.verdicts([found.id], local_day, local_day)
        share, rounds = day_report(
            found.patrols, found.tz, local_day, scans, verdicts, now, watching.get(found.id)
        )
        out.append(
            {"estate": found.id, "date": local_day.isoformat(), "compliance_pct": share, "rounds": rounds}
        )
    return out


def _watched_since(gateway: GatewayDep) -> dict[str, datetime]:
    """When each estate's tracker started watching, from its stored state (not the tracker)."""
    if gateway.reports is None:
        return {}
    out = {}
    for estate, snapshot in gateway.reports.alerts.patrol_snapshots().items():
        try:
            out[estate] = datetime.fromisoformat(snapshot["since"])
        except (KeyError, TypeError, ValueError):
            continue  # unreadable: every open round counts as watched
    return out


def _row(report: dict[str, Any]) -> str:
    scans = "<br>".join(
        escape(f"{s['at']} {s['checkpoint']} {','.join(s['guards'])}") for s in report["scans"]
    )
    cells = (report["id"], report["start"], report["status"])
    return (
        "<tr>"
        + "".join(f"<td>{escape(str(c))}</td>" for c in cells)
        + (f"<td>{scans}</td><td>{escape(', '.join(report['findings']))}</td></tr>")
    )


_PAGE = """<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<title>巡更记录 Patrol record {estate} {day}</title>
<style>body{{font-family:sans-serif}} table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:4px}}</style>
<h1>{name} 巡更记录 / Patrol record — {day}</h1>
<p>完成率 Compliance: {compliance} %</p>
<table><tr><th>轮次 Round</th><th>开始 Start (UTC)</th><th>状态 Status</th>
<th>打卡 Scans</th><th>问题 Findings</th></tr>
{rows}</table>
<p>值班员签字 Signature: ____________</p></html>"""


@router.get(
    "/patrols/report",
    dependencies=[require_roles(Role.OPERATOR, Role.MANAGER)],
    response_class=HTMLResponse,
    summary="The day's patrol record as a printable page (zh-CN / English)",
)
def patrol_report(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    estate: str,
    day: Day | None = Query(None, alias="date"),
) -> HTMLResponse:
    records = patrols(gateway, principal, estate, day)
    found = gateway.inventory.estate(estate)
    if not records or found is None:
        raise HTTPException(404, f"estate {estate!r} has no patrol plans")
    record = records[0]
    compliance = record["compliance_pct"]
    page = _PAGE.format(
        estate=escape(estate),
        day=record["date"],
        name=escape(found.name),
        compliance="—" if compliance is None else compliance,
        rows="".join(_row(r) for r in record["rounds"]),
    )
    return HTMLResponse(page)
