"""``GET /api/stream``: server-sent events of alert and work-order changes in the caller's scope
and the gateway's own alarms (type ``gateway``, gateway.stages; not for crews),
resumable with ``Last-Event-ID`` (a reconnecting browser sends it by itself). A crew token gets
its own crew's work orders (including one taken away from it), and no alerts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from alerts.stream import EventHub, StreamEvent
from api.auth import CurrentPrincipal, Principal, Role
from api.deps import GatewayDep

router = APIRouter(prefix="/api", tags=["stream"])
KEEPALIVE_S = 15.0
#: Which event types each role receives.
_TYPES = {
    Role.OPERATOR: {"alert", "workorder"},
    Role.MANAGER: {"alert", "workorder"},
    Role.ADMIN: {"alert", "workorder"},
    Role.SIMULATOR: {"alert", "workorder"},
    Role.CREW: {"workorder"},
}


def _visible(principal: Principal, event: StreamEvent) -> bool:
    if event.type == "reset":
        return True
    if event.type == "gateway":  # the gateway's own alarm (gateway.stages) concerns every estate
        return principal.role is not Role.CREW
    if event.type not in _TYPES[principal.role] or not principal.sees(event.estate):
        return False
    return principal.role is not Role.CREW or principal.crew in event.data.get("crews", ())


def _frame(event: StreamEvent) -> str:
    return f"id: {event.id}\nevent: {event.type}\ndata: {json.dumps(event.data, ensure_ascii=False)}\n\n"


async def _events(hub: EventHub, principal: Principal, request: Request, last_id: str) -> AsyncIterator[str]:
    # The id at once, with no data: a client that drops before any event can still resume.
    yield f"retry: 2000\nid: {last_id}\n\n"
    while not hub.closed and not await request.is_disconnected():
        events, last_id = await asyncio.to_thread(hub.wait, last_id, KEEPALIVE_S)
        frames = [_frame(e) for e in events if _visible(principal, e)]
        if hub.closed and not frames:
            return  # shutting down: the response ends and the client reconnects elsewhere or later
        # A keep-alive also tells the client the id it has reached (events it may not see included).
        yield "".join(frames) if frames else f": keep-alive\nid: {last_id}\n\n"


@router.get("/stream", summary="Server-sent events: alert and work-order changes in the caller's scope")
def stream(
    request: Request,
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    last_event_id: str | None = Header(None, alias="Last-Event-ID"),
) -> StreamingResponse:
    # A new client's position is taken now, as it connects: nothing after this is missed.
    start = last_event_id or gateway.events.position()
    return StreamingResponse(
        _events(gateway.events, principal, request, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
