"""Shift handover (交接班, alerts/handovers.py): ``GET /api/handovers`` lists a period's handovers,
``POST /api/handovers`` writes one (the gateway adds what stands open now), ``GET
/api/handovers/{id}`` reads one and ``POST /api/handovers/{id}/sign`` is the incoming operator's
signature."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel, Field

from alerts.handovers import Handover, HandoverBook, HandoverError, HandoverNotFound
from alerts.model import AlertState
from api.auth import CurrentPrincipal, Principal, Role, check_estate, require_roles
from api.deps import GatewayDep
from api.errors import errors
from api.params import MAX_ID, Instant, period
from dispatch.model import OrderState

router = APIRouter(prefix="/api", tags=["handovers"])
_READ = require_roles(Role.OPERATOR, Role.MANAGER)
_WRITE = require_roles(Role.OPERATOR)
HandoverId = Annotated[int, Path(ge=1, le=MAX_ID)]
#: The most of each list a handover keeps (a flood must not make it unreadable or unbounded).
MOST = 200


class WriteBody(BaseModel):
    notes: str = Field("", max_length=8000, description="What the next shift must know, in words")
    estates: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=100, description="The estates handed over; empty: all in scope"
    )


class SignBody(BaseModel):
    note: str = Field("", max_length=2000)


def _book(gateway: GatewayDep) -> HandoverBook:
    if gateway.handovers is None:
        raise HTTPException(status.HTTP_501_NOT_IMPLEMENTED, "this gateway keeps no handovers")
    return gateway.handovers


def _snapshot(gateway: GatewayDep, principal: Principal, estates: list[str]) -> dict[str, Any]:
    """What the next shift takes over, as it stands: open and shelved alarms, overdue orders and
    the patrol exceptions (open patrol alarms)."""
    wanted = (lambda e: e in estates) if estates else principal.sees
    alerts = [a for a in gateway.core.alerts.open_alerts(with_history=False) if wanted(a.estate)]
    orders = [o for o in gateway.core.orders.live() if wanted(o.estate)]
    alerts.sort(key=lambda a: a.id)
    shown = [AlertState.ACTIVE, AlertState.ACKNOWLEDGED, AlertState.CLEARED]

    def brief(a: Any) -> dict[str, Any]:
        keep = ("id", "estate", "device", "rule", "severity", "state", "message", "message_en", "raised_at")
        return {k: v for k, v in a.to_json().items() if k in keep} | {
            "shelved_until": a.to_json()["shelved_until"]
        }

    overdue = [o for o in orders if o.breached and o.state not in (OrderState.CLOSED, OrderState.CANCELLED)]
    return {
        "open_alarms": [brief(a) for a in alerts if a.state in shown and not a.rule.startswith("patrol.")][
            :MOST
        ],
        "shelved_alarms": [brief(a) for a in alerts if a.state is AlertState.SHELVED][:MOST],
        "patrol_exceptions": [brief(a) for a in alerts if a.rule.startswith("patrol.")][:MOST],
        "overdue_orders": [
            {k: v for k, v in o.to_json(with_history=False).items() if k in _ORDER_KEYS}
            for o in sorted(overdue, key=lambda o: o.id)
        ][:MOST],
    }


_ORDER_KEYS = (
    "id",
    "estate",
    "device",
    "title",
    "title_en",
    "crew",
    "state",
    "severity",
    "breached",
    "deadlines",
)


def _visible(handover: Handover, principal: Principal) -> bool:
    return not principal.estates or not handover.estates or bool(set(handover.estates) & principal.estates)


@router.get("/handovers", dependencies=[_READ], summary="Shift handovers written in a period, newest first")
def list_handovers(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    start: Instant | None = Query(None, description="Default: 7 days before stop"),
    stop: Instant | None = Query(None, description="Default: now; at most 400 days after start"),
    limit: int = Query(100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    # "Now" includes a handover written this very second: the period's stop is exclusive.
    start, stop = period(start, stop, gateway.clock.now() + timedelta(seconds=1), default=timedelta(days=7))
    found = _book(gateway).query(start, stop, limit)
    return [h.to_json() for h in found if _visible(h, principal)]


@router.post(
    "/handovers",
    dependencies=[_WRITE],
    status_code=201,
    responses=errors(400),
    summary="Write a handover (the outgoing operator); the gateway adds what stands open now",
)
def write_handover(body: WriteBody, gateway: GatewayDep, principal: CurrentPrincipal) -> dict[str, Any]:
    book = _book(gateway)
    for estate in body.estates:
        check_estate(principal, estate)
        if gateway.inventory.estate(estate) is None:
            raise HTTPException(422, f"unknown estate {estate!r}")
    estates = sorted(set(body.estates)) or sorted(principal.estates)
    snapshot = _snapshot(gateway, principal, estates)
    return book.write(principal.name, estates, body.notes, snapshot).to_json()


@router.get("/handovers/{handover_id}", dependencies=[_READ], responses=errors(404), summary="One handover")
def get_handover(handover_id: HandoverId, gateway: GatewayDep, principal: CurrentPrincipal) -> dict[str, Any]:
    found = _book(gateway).get(handover_id)
    if found is None or not _visible(found, principal):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no handover {handover_id}")
    return found.to_json()


@router.post(
    "/handovers/{handover_id}/sign",
    dependencies=[_WRITE],
    responses=errors(400, 404, 409),
    summary="Sign a handover off (the incoming operator, not its writer)",
)
def sign_handover(
    handover_id: HandoverId, gateway: GatewayDep, principal: CurrentPrincipal, body: SignBody | None = None
) -> dict[str, Any]:
    book = _book(gateway)
    found = book.get(handover_id)
    if found is None or not _visible(found, principal):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no handover {handover_id}")
    try:
        return book.sign(handover_id, principal.name, (body or SignBody()).note).to_json()
    except HandoverNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except HandoverError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
