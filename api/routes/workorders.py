"""Work orders (docs/contract.md §7, §8): list and detail, manual reports, dispatching an alert, the crew's
steps (accept, arrive, resolve), cancel and reassign.

Crew tokens see and act on their own crew's orders only; operators act for anyone (a crew that
phones in), and every change records who did it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from api.auth import CurrentPrincipal, Principal, Role, check_estate, require_roles
from api.deps import GatewayDep
from api.errors import ACT_ON_ONE, errors
from api.params import AlertId, OrderId
from devices.base import IdStr, Severity, Trade
from dispatch.deadlines import CATEGORIES
from dispatch.model import OrderState, WorkOrder
from dispatch.routing import on_duty

router = APIRouter(prefix="/api", tags=["work orders"])
_READ = require_roles(Role.OPERATOR, Role.MANAGER, Role.CREW, Role.SIMULATOR)
_STEP = require_roles(Role.OPERATOR, Role.CREW)
_MANAGE = require_roles(Role.OPERATOR, Role.MANAGER)


class NoteBody(BaseModel):
    note: str = Field("", max_length=2000)


class CancelBody(BaseModel):
    note: str = Field(min_length=1, max_length=2000, description="Why it is cancelled")


class ReassignBody(BaseModel):
    crew: IdStr
    note: str = Field("", max_length=2000)


class DispatchBody(BaseModel):
    crew: IdStr | None = Field(None, description="Default: the on-duty crew of the trade")


class ReportBody(BaseModel):
    estate: IdStr
    title: str = Field(min_length=1, max_length=200, description="What is wrong, e.g. 3 栋 2 单元楼道灯不亮")
    description: str = Field("", max_length=4000)
    trade: Trade | None = Field(None, description="Default: the trade of the device's kind")
    device: IdStr | None = None
    building: IdStr | None = None
    severity: Severity = Severity.MINOR
    category: str | None = Field(
        None, description=f"Selects SLA policies; defaults know {', '.join(CATEGORIES)}", max_length=64
    )
    crew: IdStr | None = Field(None, description="Default: the on-duty crew of the trade")


def _visible(gateway: GatewayDep, principal: Principal, order_id: int) -> WorkOrder:
    order = gateway.core.order(order_id)
    if order is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no work order {order_id}")
    check_estate(principal, order.estate)
    if principal.role is Role.CREW and order.crew != principal.crew:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"work order {order_id} is not with crew {principal.crew}"
        )
    return order


@router.get(
    "/crews", dependencies=[_READ], summary="Crews serving the caller's estates, and who is on duty now"
)
def list_crews(
    gateway: GatewayDep, principal: CurrentPrincipal, estate: str | None = None
) -> list[dict[str, Any]]:
    if estate is not None:
        check_estate(principal, estate)
    now = gateway.clock.now()
    out = []
    for crew in gateway.inventory.crews:
        served = [e for e in crew.estates if principal.sees(e) and (estate is None or e == estate)]
        if not served or (principal.role is Role.CREW and crew.id != principal.crew):
            continue
        zone = gateway.inventory.estate(served[0])
        local = now.astimezone(zone.tz) if zone is not None else now
        out.append(
            {
                "id": crew.id,
                "name": crew.name,
                "name_en": crew.name_en,
                "trades": [t.value for t in crew.trades],
                "estates": served,
                "members": list(crew.members),
                "on_duty": on_duty(crew, local),
            }
        )
    return out


@router.get(
    "/patrols/plans",
    dependencies=[require_roles(Role.OPERATOR, Role.MANAGER, Role.SIMULATOR)],
    tags=["patrols"],
    summary="The patrol plans of the caller's estates with their display names (zh-CN, English)",
)
def list_patrol_plans(gateway: GatewayDep, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    return [
        {"estate": e.id, "id": p.id, "name": p.name, "name_en": p.name_en, "route": list(p.route)}
        for e in gateway.inventory.estates
        if principal.sees(e.id)
        for p in e.patrols
    ]


@router.get("/workorders", dependencies=[_READ], summary="Work orders in the caller's scope, newest first")
def list_orders(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    estate: str | None = None,
    state: OrderState | None = None,
    crew: str | None = None,
    limit: int = Query(500, ge=1, le=5000),
    with_history: bool = Query(False, description="Each order's history too (the crew page shows the notes)"),
) -> list[dict[str, Any]]:
    if estate is not None:
        check_estate(principal, estate)
    if principal.role is Role.CREW:
        if crew is not None and crew != principal.crew:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"a {principal.crew} token sees its own orders only"
            )
        crew = principal.crew
    found = gateway.core.orders.query(
        estate,
        state.value if state else None,
        crew,
        principal.estates or None,
        limit=limit,
    )
    return [o.to_json(with_history=with_history) for o in found]


@router.get(
    "/workorders/{order_id}",
    dependencies=[_READ],
    responses=errors(404),
    summary="One work order with its history",
)
def get_order(order_id: OrderId, gateway: GatewayDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return _visible(gateway, principal, order_id).to_json()


@router.post(
    "/workorders",
    dependencies=[_MANAGE],
    status_code=201,
    responses=errors(400),
    summary="A manual report (报修)",
)
def report(body: ReportBody, gateway: GatewayDep, principal: CurrentPrincipal) -> dict[str, Any]:
    check_estate(principal, body.estate)
    return gateway.core.report(by=principal.name, **body.model_dump())


@router.post(
    "/workorders/{order_id}/accept",
    dependencies=[_STEP],
    responses=ACT_ON_ONE,
    summary="The crew takes the order",
)
def accept(
    order_id: OrderId, gateway: GatewayDep, principal: CurrentPrincipal, body: NoteBody | None = None
) -> dict[str, Any]:
    _visible(gateway, principal, order_id)
    return gateway.core.step("accept", order_id, principal.name, (body or NoteBody()).note)


@router.post(
    "/workorders/{order_id}/arrive", dependencies=[_STEP], responses=ACT_ON_ONE, summary="The crew is on site"
)
def arrive(
    order_id: OrderId, gateway: GatewayDep, principal: CurrentPrincipal, body: NoteBody | None = None
) -> dict[str, Any]:
    _visible(gateway, principal, order_id)
    return gateway.core.step("arrive", order_id, principal.name, (body or NoteBody()).note)


@router.post(
    "/workorders/{order_id}/resolve",
    dependencies=[_STEP],
    responses=ACT_ON_ONE,
    summary="Repaired (a device order closes when its telemetry confirms recovery)",
)
def resolve(
    order_id: OrderId, gateway: GatewayDep, principal: CurrentPrincipal, body: NoteBody | None = None
) -> dict[str, Any]:
    _visible(gateway, principal, order_id)
    return gateway.core.step("resolve", order_id, principal.name, (body or NoteBody()).note)


@router.post(
    "/workorders/{order_id}/cancel",
    dependencies=[_MANAGE],
    responses=ACT_ON_ONE,
    summary="Cancel, with a reason",
)
def cancel(
    order_id: OrderId, body: CancelBody, gateway: GatewayDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    _visible(gateway, principal, order_id)
    return gateway.core.step("cancel", order_id, principal.name, body.note)


@router.post(
    "/workorders/{order_id}/reassign",
    dependencies=[_MANAGE],
    responses=ACT_ON_ONE,
    summary="Give it to another crew",
)
def reassign(
    order_id: OrderId, body: ReassignBody, gateway: GatewayDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    _visible(gateway, principal, order_id)
    return gateway.core.reassign(order_id, body.crew, principal.name, body.note)


@router.post(
    "/alerts/{alert_id}/dispatch",
    dependencies=[require_roles(Role.OPERATOR)],
    responses=ACT_ON_ONE,
    status_code=201,
    summary="Send an alert to a crew as a work order",
)
def dispatch_alert(
    alert_id: AlertId, gateway: GatewayDep, principal: CurrentPrincipal, body: DispatchBody | None = None
) -> dict[str, Any]:
    alert = gateway.core.alert(alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id}")
    check_estate(principal, alert.estate)
    return gateway.core.dispatch_alert(alert_id, principal.name, (body or DispatchBody()).crew)
