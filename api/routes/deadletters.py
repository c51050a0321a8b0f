"""``GET /api/deadletters``: rejected messages with their reason, newest first, a page at a time,
and counts."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from api.auth import CurrentPrincipal, Role, require_roles
from api.deps import GatewayDep
from api.paging import PAGE_HEADERS, tell_page
from api.params import BeforeId, PageLimit

router = APIRouter(prefix="/api", tags=["dead letters"])


class DeadLetterPublic(BaseModel):
    id: int
    received_at: datetime
    topic: str
    reason: str
    detail: str
    excerpt: str
    estate: str | None = Field(
        None, description="Its estate where known: the topic's, or the vendor device's a profile topic named"
    )


class DeadLetterPage(BaseModel):
    counts: dict[str, int]
    items: list[DeadLetterPublic]


@router.get(
    "/deadletters",
    response_model=DeadLetterPage,
    responses={200: PAGE_HEADERS},
    dependencies=[require_roles(Role.OPERATOR, Role.MANAGER, Role.SIMULATOR)],
)
def list_dead_letters(
    request: Request,
    response: Response,
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    reason: str | None = Query(None, description="Only this reason, e.g. malformed_json"),
    limit: PageLimit = 100,
    before_id: BeforeId = None,
) -> DeadLetterPage:
    """In the caller's estate scope, like every other list: a scoped token sees only its estates'
    dead letters (their topics', and their vendor devices' on a profile's own topic; nothing of
    another estate's, nor of none). Paged like the devices:
    ``X-Total-Count`` (of ``reason``, or of all) and a ``Link`` to the next page."""
    store, scope = gateway.dead_letters, principal.estates or None
    found = store.list(reason, limit + 1, before_id, scope)  # one more: is there a next page?
    items = [DeadLetterPublic(**vars(d)) for d in found[:limit]]
    counts = dict(store.counts(scope))
    total = counts.get(reason, 0) if reason else sum(counts.values())
    tell_page(request, response, total, {"before_id": items[-1].id} if len(found) > limit else None)
    return DeadLetterPage(counts=counts, items=items)
