"""``GET /api/journal``: the control room's log of a period — alarms that cleared or closed in it and
work orders that closed or were cancelled in it — as JSON, or as CSV that Excel opens with its
Chinese intact (UTF-8 with a byte-order mark).

The period is at most 400 days (api.params.period) and the answer at most ``limit`` rows of each.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from alerts.model import Alert
from api.auth import CurrentPrincipal, Role, check_estate, require_roles
from api.deps import GatewayDep
from api.params import Instant, period
from api.spreadsheet import csv_text
from dispatch.model import WorkOrder

router = APIRouter(prefix="/api", tags=["journal"])
_READ = require_roles(Role.OPERATOR, Role.MANAGER)


class Format(StrEnum):
    JSON = "json"
    CSV = "csv"


class Lang(StrEnum):
    ZH = "zh-CN"
    EN = "en"


#: CSV columns: the row's field and its heading in each language.
COLUMNS: list[tuple[str, str, str]] = [
    ("type", "类型", "Type"),
    ("id", "编号", "Id"),
    ("estate", "小区", "Estate"),
    ("building", "楼栋", "Building"),
    ("device", "设备", "Device"),
    ("severity", "级别", "Severity"),
    ("state", "状态", "State"),
    ("text", "内容", "Text"),
    ("started", "发生/创建", "Raised or created"),
    ("cleared", "恢复", "Cleared"),
    ("closed", "关闭", "Closed"),
    ("by", "确认人/班组", "Acknowledged by or crew"),
    ("link", "关联", "Linked"),
]


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def _alert_row(a: Alert, lang: Lang) -> dict[str, Any]:
    return {
        "type": "alert",
        "id": a.id,
        "estate": a.estate,
        "building": a.building,
        "device": a.device,
        "severity": a.severity.value,
        "state": a.state.value,
        "text": a.message_en if lang is Lang.EN else a.message,
        "started": _iso(a.raised_at),
        "cleared": _iso(a.cleared_at),
        "closed": _iso(a.closed_at),
        "by": a.acknowledged_by,
        "link": a.work_order,
        "rule": a.rule,
    }


def _order_row(o: WorkOrder, lang: Lang) -> dict[str, Any]:
    english = (o.description or o.title) if o.alert is not None else o.title
    return {
        "type": "workorder",
        "id": o.id,
        "estate": o.estate,
        "building": o.building,
        "device": o.device,
        "severity": o.severity.value,
        "state": o.state.value,
        "text": english if lang is Lang.EN else o.title,
        "started": _iso(o.created_at),
        "cleared": _iso(o.resolved_at),
        "closed": _iso(o.closed_at),
        "by": o.crew,
        "link": o.alert,
        "rule": o.rule,
    }


def _in(when: datetime | None, start: datetime, stop: datetime) -> bool:
    return when is not None and start <= when < stop


def _matches(row: dict[str, Any], q: str) -> bool:
    return not q or q.lower() in " ".join(str(v) for v in row.values() if v is not None).lower()


def _csv(rows: list[dict[str, Any]], lang: Lang) -> str:
    head = [en if lang is Lang.EN else zh for _, zh, en in COLUMNS]
    return csv_text([head, *([row[key] for key, _, _ in COLUMNS] for row in rows)])


@router.get(
    "/journal",
    dependencies=[_READ],
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    summary="Alarms cleared or closed and orders finished in a period (JSON, or CSV with format=csv)",
)
def journal(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    estate: str | None = Query(None, max_length=64),
    start: Instant | None = Query(None, description="Default: 24 h before stop"),
    stop: Instant | None = Query(None, description="Default: now; at most 400 days after start"),
    q: str = Query("", max_length=200, description="Only rows containing this text"),
    format: Format = Format.JSON,
    lang: Lang = Query(Lang.ZH, description="The language of the text and of the CSV headings"),
    limit: int = Query(2000, ge=1, le=10_000, description="Most alarms, and most orders, returned"),
) -> Any:
    if estate is not None:
        check_estate(principal, estate)
    start, stop = period(start, stop, gateway.clock.now() + timedelta(seconds=1))  # stop is exclusive
    scope = principal.estates or None
    alerts = gateway.core.alerts.overlapping(estate, start, stop, estates=scope, limit=limit * 4)
    done = [a for a in alerts if _in(a.cleared_at, start, stop) or _in(a.closed_at, start, stop)]
    orders = gateway.core.orders.query(estate, estates=scope, created_to=stop, limit=limit * 4)
    finished = [o for o in orders if _in(o.closed_at, start, stop)]
    rows = [_alert_row(a, lang) for a in done[:limit]] + [_order_row(o, lang) for o in finished[:limit]]
    rows = [r for r in rows if _matches(r, q)]
    rows.sort(key=lambda r: r["closed"] or r["cleared"] or r["started"], reverse=True)
    if format is Format.CSV:
        name = f"journal-{start:%Y%m%d}-{stop:%Y%m%d}.csv"
        return Response(
            _csv(rows, lang),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return {"start": start.isoformat(), "stop": stop.isoformat(), "rows": rows}
