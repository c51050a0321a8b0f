"""The equipment ledger (设备台账, docs/contract.md §8): assets, their plans and records, planned orders.

``GET /api/assets?estate=&kind=`` and ``GET /api/assets/{id}?estate=`` (records, plans, next dues);
``POST /api/assets/{id}/records`` and ``POST /api/maintenance/orders/{order}/record`` (a crew
resolves a planned order with its record); ``PUT|GET /api/assets/records/{record}/photo``;
``GET /api/maintenance/orders`` (planned orders only: the breakdown board is /api/workorders);
CSV (UTF-8 with a BOM, so Excel reads the Chinese): ``/api/assets.csv`` and
``/api/assets/records.csv?year=``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from api.auth import CurrentPrincipal, Principal, Role, check_estate, require_roles
from api.deps import GatewayDep
from api.errors import errors
from api.params import MAX_ID, MAX_PAGE, Day, OrderId
from api.spreadsheet import csv_text
from assets.desk import LedgerError, LedgerNotFound, MaintenanceDesk, next_dues
from assets.ledger import Asset
from assets.photos import MAX_PHOTO_BYTES, PHOTO_TYPES, PhotoError, PhotoStore
from devices.base import IdStr
from devices.ledger import AssetKind
from dispatch.model import OrderKind, OrderState
from gateway.service import Gateway

router = APIRouter(prefix="/api", tags=["assets"], responses=errors(404))
_READ = require_roles(Role.OPERATOR, Role.MANAGER, Role.CREW)
_RECORD = require_roles(Role.OPERATOR, Role.CREW)
RecordId = Annotated[int, Path(ge=1, le=MAX_ID, description="Record id")]
Reading = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]


class RecordBody(BaseModel):
    plan: str | None = Field(None, max_length=64, description="The plan it fulfils, e.g. lift.maintenance")
    task: str = Field("", max_length=200, description="What was done (default: the plan's task)")
    done_on: Day | None = Field(
        None, description="Local date it was done (default: today); not in the future, not before 2000"
    )
    readings: dict[Annotated[str, Field(max_length=64)], Reading] = Field(
        default_factory=dict, max_length=20, description="Readings taken, e.g. chlorine_mg_l, turbidity_ntu"
    )
    note: str = Field("", max_length=2000)


class OrderRecordBody(BaseModel):
    task: str = Field("", max_length=200)
    done_on: Day | None = None
    readings: dict[Annotated[str, Field(max_length=64)], Reading] = Field(default_factory=dict, max_length=20)
    note: str = Field("", max_length=2000)


def _desk(gateway: Gateway) -> MaintenanceDesk:
    if gateway.ledger is None:
        raise HTTPException(status.HTTP_501_NOT_IMPLEMENTED, "this gateway keeps no equipment ledger")
    return gateway.ledger


def _find(desk: MaintenanceDesk, principal: Principal, asset_id: str, estate: str | None) -> Asset:
    found = [a for a in desk.assets.values() if a.id == asset_id and (estate is None or a.estate == estate)]
    found = [a for a in found if principal.sees(a.estate)]
    if not found:
        raise HTTPException(404, f"no asset {asset_id!r}" + (f" in estate {estate!r}" if estate else ""))
    if len(found) > 1:
        raise HTTPException(422, f"asset id {asset_id!r} is in several estates: say which (estate=)")
    return found[0]


def _assets(
    desk: MaintenanceDesk, principal: Principal, estate: str | None, kind: AssetKind | None
) -> list[Asset]:
    if estate is not None:
        check_estate(principal, estate)
    return [
        a
        for a in desk.assets.values()
        if (estate is None or a.estate == estate)
        and (kind is None or a.kind is kind)
        and principal.sees(a.estate)
    ]


@router.get("/assets", dependencies=[_READ], summary="The equipment ledger: assets with their next due date")
def list_assets(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    estate: IdStr | None = None,
    kind: AssetKind | None = None,
    limit: int = Query(MAX_PAGE, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=10**9),
) -> list[dict[str, Any]]:
    desk = _desk(gateway)
    states = gateway.core.plan_states()
    dues = next_dues(states)
    overdue = {(s.estate, s.asset) for s in states if s.overdue}
    out = []
    for asset in _assets(desk, principal, estate, kind)[offset : offset + limit]:
        due = dues.get(asset.key)
        out.append(
            asset.to_json() | {"next_due": due.isoformat() if due else None, "overdue": asset.key in overdue}
        )
    return out


def _csv(rows: list[list[Any]], filename: str) -> Response:
    return Response(
        csv_text(rows).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


_LEDGER_HEAD = [
    "小区 estate",
    "编号 id",
    "类别 kind",
    "名称 name",
    "楼栋 building",
    "位置 location",
    "厂家 maker",
    "型号 model",
    "安装日期 installed",
    "产权 owner",
    "责任人 responsible",
    "证书 certificates",
    "下次到期 next due",
]


_CSV: dict[int | str, dict[str, Any]] = {
    200: {"description": "CSV, UTF-8 with a BOM", "content": {"text/csv": {"schema": {"type": "string"}}}}
}


@router.get(
    "/assets.csv",
    dependencies=[_READ],
    response_class=Response,
    responses=_CSV,
    summary="The ledger as CSV (UTF-8 with BOM)",
)
def ledger_csv(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    estate: IdStr | None = None,
    kind: AssetKind | None = None,
) -> Response:
    desk = _desk(gateway)
    dues = next_dues(gateway.core.plan_states())
    rows: list[list[Any]] = [_LEDGER_HEAD]
    for a in _assets(desk, principal, estate, kind):
        certs = "; ".join(f"{c.kind} {c.number} → {c.expires}" for c in a.certificates)
        due = dues.get(a.key)
        rows.append(
            [
                a.estate,
                a.id,
                a.kind.value,
                a.name or "",
                a.building or "",
                a.location or "",
                a.maker or "",
                a.model or "",
                a.installed or "",
                a.owner or "",
                a.responsible or "",
                certs,
                due or "",
            ]
        )
    return _csv(rows, f"ledger-{estate or 'all'}.csv")


_RECORD_HEAD = [
    "小区 estate",
    "设备 asset",
    "计划 plan",
    "内容 task",
    "完成日期 done on",
    "执行人 by",
    "来源 source",
    "工单 work order",
    "读数 readings",
    "备注 note",
    "下次到期 next due",
]


@router.get(
    "/assets/records.csv",
    dependencies=[_READ],
    response_class=Response,
    responses=_CSV,
    summary="A year's maintenance records as CSV",
)
def records_csv(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    year: int = Query(ge=2000, le=2099, description="Calendar year of done_on"),
    estate: IdStr | None = None,
) -> Response:
    desk = _desk(gateway)
    if estate is not None:
        check_estate(principal, estate)
    found = desk.store.records(estate, start=date(year, 1, 1), stop=date(year + 1, 1, 1), limit=100_000)
    rows: list[list[Any]] = [_RECORD_HEAD]
    for r in sorted((r for r in found if principal.sees(r.estate)), key=lambda r: (r.done_on, r.id)):
        readings = "; ".join(f"{k}={v:g}" for k, v in sorted(r.readings.items()))
        rows.append(
            [
                r.estate,
                r.asset,
                r.plan or "",
                r.task,
                r.done_on,
                r.by,
                r.source,
                r.work_order or "",
                readings,
                r.note,
                r.next_due or "",
            ]
        )
    return _csv(rows, f"maintenance-records-{year}.csv")


@router.get("/maintenance/orders", dependencies=[_READ], summary="Planned (preventive) work orders")
def planned_orders(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    estate: IdStr | None = None,
    state: OrderState | None = None,
    crew: IdStr | None = None,
    limit: int = Query(500, ge=1, le=MAX_PAGE),
) -> list[dict[str, Any]]:
    if estate is not None:
        check_estate(principal, estate)
    if principal.role is Role.CREW:
        crew = principal.crew
    orders = gateway.core.orders.query(estate, state.value if state else None, crew, limit=MAX_PAGE)
    planned = [o for o in orders if o.kind is OrderKind.MAINTENANCE and principal.sees(o.estate)]
    return [o.to_json(with_history=False) for o in planned[:limit]]


@router.get("/assets/{asset_id}", dependencies=[_READ], summary="One asset: plans, next dues, records")
def get_asset(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    asset_id: IdStr,
    estate: IdStr | None = None,
    records: int = Query(200, ge=0, le=MAX_PAGE, description="How many of the latest records"),
) -> dict[str, Any]:
    desk = _desk(gateway)
    asset = _find(desk, principal, asset_id, estate)
    states = {
        s.plan: s for s in gateway.core.plan_states() if (s.estate, s.asset) == (asset.estate, asset.id)
    }
    plans = []
    for plan in asset.plans:
        state = states.get(plan.id)
        plans.append(
            {
                "id": plan.id,
                "task": plan.task,
                "task_en": plan.task_en,
                "every": str(plan.every),
                "lead": str(plan.lead),
                "trade": plan.trade.value,
                "overdue_severity": plan.overdue_severity.value,
                "readings": list(plan.readings),
                "standard": plan.standard,
            }
            | (state.to_json() if state else {})
        )
    found = desk.store.records(asset.estate, asset.id, limit=records) if records else []
    return asset.to_json() | {"plans": plans, "records": [r.to_json() for r in found]}


@router.post(
    "/assets/{asset_id}/records",
    dependencies=[_RECORD],
    status_code=201,
    responses=errors(400, 403, 422),
    summary="Record work done on an asset (closes its planned order, moves its plan on); a crew "
    "records only its trades' plans",
)
def add_record(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    asset_id: IdStr,
    body: RecordBody,
    estate: IdStr | None = None,
) -> dict[str, Any]:
    desk = _desk(gateway)
    asset = _find(desk, principal, asset_id, estate)
    plan = asset.plan(body.plan) if body.plan is not None else None
    if principal.role is Role.CREW and plan is not None:
        crew = next((c for c in gateway.inventory.crews if c.id == principal.crew), None)
        if crew is None or plan.trade not in crew.trades:
            # A lift's statutory visit is signed by the lift crew, not by whoever holds a crew token.
            raise HTTPException(403, f"{plan.id} is {plan.trade} work; your crew does not do it")
    try:
        return _record(gateway, principal, (asset.estate, asset.id, body.plan), body)
    except LedgerNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except LedgerError as exc:
        raise HTTPException(422, str(exc)) from None


@router.post(
    "/maintenance/orders/{order_id}/record",
    dependencies=[_RECORD],
    status_code=201,
    responses=errors(400, 403, 409, 422),
    summary="A crew resolves its planned order with the maintenance record",
)
def record_order(
    gateway: GatewayDep, principal: CurrentPrincipal, order_id: OrderId, body: OrderRecordBody
) -> dict[str, Any]:
    _desk(gateway)
    order = gateway.core.order(order_id)
    if order is None or not principal.sees(order.estate):
        raise HTTPException(404, f"no work order {order_id}")
    if principal.role is Role.CREW and order.crew != principal.crew:
        raise HTTPException(403, f"work order {order_id} is not your crew's")
    key = next((s.key for s in gateway.core.plan_states() if s.order == order_id), None)
    if key is None:
        raise HTTPException(409, f"work order {order_id} is not an open planned maintenance order")
    try:
        return _record(gateway, principal, key, body)
    except LedgerError as exc:
        raise HTTPException(422, str(exc)) from None


def _record(
    gateway: Gateway,
    principal: Principal,
    plan: tuple[str, str, str | None],
    body: RecordBody | OrderRecordBody,
) -> dict[str, Any]:
    """The record, made on the alarm core's thread (it moves the plan on, closes its order)."""
    estate, asset_id, plan_id = plan
    return gateway.core.ledger(
        lambda d: d.record(
            estate,
            asset_id,
            by=principal.name,
            plan_id=plan_id,
            task=body.task,
            done_on=body.done_on,
            readings=body.readings,
            note=body.note,
        ).to_json()
    )


def _photos(gateway: Gateway) -> PhotoStore:
    return PhotoStore(gateway.settings.data_dir / "photos")


@router.put(
    "/assets/records/{record_id}/photo",
    dependencies=[_RECORD],
    responses=errors(422, 503)
    | {
        413: {"description": f"The photo is larger than {MAX_PHOTO_BYTES} bytes"},
        415: {"description": "Not image/jpeg, image/png or image/webp"},
    },
    summary="Attach a photo (JPEG, PNG or WebP, ≤ 5 MB) to a record: the raw image as the body",
)
async def put_photo(
    gateway: GatewayDep, principal: CurrentPrincipal, record_id: RecordId, request: Request
) -> dict[str, Any]:
    desk = _desk(gateway)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in PHOTO_TYPES:
        raise HTTPException(
            415, f"send image/jpeg, image/png or image/webp, not {content_type or 'nothing'!r}"
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_PHOTO_BYTES:
        raise HTTPException(413, f"a photo is at most {MAX_PHOTO_BYTES} bytes")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_PHOTO_BYTES:
            raise HTTPException(413, f"a photo is at most {MAX_PHOTO_BYTES} bytes")
    if not data:
        raise HTTPException(422, "the body is empty: send the image")
    record = desk.store.record(record_id)
    if record is None or not principal.sees(record.estate):
        raise HTTPException(404, f"no record {record_id}")
    try:
        name = _photos(gateway).save(record_id, bytes(data), content_type)
    except PhotoError as exc:
        raise HTTPException(503, str(exc)) from None
    desk.store.set_photo(record_id, name)
    record.photo = name
    return record.to_json()


@router.get("/assets/records/{record_id}/photo", dependencies=[_READ], summary="A record's photo")
def get_photo(gateway: GatewayDep, principal: CurrentPrincipal, record_id: RecordId) -> FileResponse:
    desk = _desk(gateway)
    record = desk.store.record(record_id)
    if record is None or not principal.sees(record.estate) or record.photo is None:
        raise HTTPException(404, f"no photo for record {record_id}")
    path = _photos(gateway).path(record.photo)
    if not path.is_file():
        raise HTTPException(404, f"the photo of record {record_id} is missing on disk")
    return FileResponse(path)
