"""``GET /api/notifications``: who was notified, on which channel, when, and the result (issue 23)."""

from __future__ import annotations

import queue
from datetime import datetime

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel

from api.auth import CurrentPrincipal, Role, check_estate, require_roles
from api.deps import GatewayDep
from api.errors import errors
from api.paging import PAGE_HEADERS, tell_page
from api.params import MAX_ID, MAX_PAGE, BeforeId

router = APIRouter(prefix="/api", tags=["notifications"])


class NotificationPublic(BaseModel):
    id: int
    channel: str
    event_id: str
    event: str
    estate: str
    alert_id: int | None
    order_id: int | None
    severity: str
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    result: str | None
    digest: str | None
    to: list[str]


@router.get(
    "/notifications",
    response_model=list[NotificationPublic],
    dependencies=[require_roles(Role.OPERATOR, Role.MANAGER)],
    responses={200: PAGE_HEADERS},
)
def list_notifications(
    request: Request,
    response: Response,
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    estate: str | None = Query(None, description="Only this estate"),
    alert: int | None = Query(None, ge=1, le=MAX_ID, description="Only this alarm's notifications"),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    before_id: BeforeId = None,
) -> list[NotificationPublic]:
    """Newest first, in the caller's estate scope; paged as the other lists: ``X-Total-Count``
    and a ``Link`` to the next page (``before_id``)."""
    if estate is not None:
        check_estate(principal, estate)
    notifier = gateway.notifier
    if notifier is None:
        tell_page(request, response, 0, None)
        return []
    estates = principal.estates or None
    found = notifier.deliveries(estates=estates, estate=estate, alert=alert, limit=limit, before_id=before_id)
    items = [NotificationPublic(**d.public()) for d in found]
    after: dict[str, str | int] | None = {"before_id": items[-1].id} if len(items) == limit else None
    tell_page(request, response, notifier.store.count(estates=estates, estate=estate, alert=alert), after)
    return items


class TestResult(BaseModel):
    channel: str
    ok: bool
    result: str


@router.post(
    "/notifications/channels/{channel}/test",
    response_model=TestResult,
    dependencies=[require_roles(Role.ADMIN)],
    responses=errors(404, 429, 504),
)
def send_test_message(gateway: GatewayDep, principal: CurrentPrincipal, channel: str) -> TestResult:
    """Send a test message on one channel now (through its rate limit); 404 for an unknown one."""
    notifier = gateway.notifier
    if notifier is None or channel not in notifier.workers:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no notification channel {channel!r}")
    try:
        result = notifier.request_test(channel, principal.name)
    except queue.Full:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, "test messages are waiting: try again"
        ) from None
    except TimeoutError:
        raise HTTPException(status.HTTP_504_GATEWAY_TIMEOUT, "the notifier did not answer in time") from None
    return TestResult(channel=channel, ok=result == "ok", result=result)
