"""``GET /api/deadletters``: rejected messages with their reason, newest first, and counts."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.auth import CurrentPrincipal, Role, require_roles
from api.deps import GatewayDep
from api.params import BeforeId

router = APIRouter(prefix="/api", tags=["dead letters"])


class DeadLetterPublic(BaseModel):
    id: int
    received_at: datetime
    topic: str
    reason: str
    detail: str
    excerpt: str


class DeadLetterPage(BaseModel):
    counts: dict[str, int]
    items: list[DeadLetterPublic]


@router.get(
    "/deadletters",
    response_model=DeadLetterPage,
    dependencies=[require_roles(Role.OPERATOR, Role.MANAGER, Role.SIMULATOR)],
)
def list_dead_letters(
    gateway: GatewayDep,
    principal: CurrentPrincipal,
    reason: str | None = Query(None, description="Only this reason, e.g. malformed_json"),
    limit: int = Query(100, ge=1, le=1000),
    before_id: BeforeId = None,
) -> DeadLetterPage:
    """In the caller's estate scope, like every other list: a scoped token sees only its estates'
    topics (nothing of another estate's, nor of a topic that names none)."""
    store, scope = gateway.dead_letters, principal.estates or None
    items = [DeadLetterPublic(**vars(d)) for d in store.list(reason, limit, before_id, scope)]
    return DeadLetterPage(counts=dict(store.counts(scope)), items=items)
