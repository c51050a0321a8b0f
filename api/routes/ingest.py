"""``POST /api/ingest/{estate}/{device}``: a vendor device pushes its own payload (a camera or NVR's
"alarm centre" URL, docs/contract.md §3.6).

Devices cannot set headers, so the token may come as ``?token=``: the device's own (its SHA-256 is
the inventory's ``ingest_token_sha256``) or a ``simulator`` token of the tokens file (estate-scoped).
The body (at most 64 KiB) is published QoS 1 on the device's ``raw`` topic and the answer is 202
only once the broker has acknowledged it: from there the pipeline takes it like any MQTT message
(profile, validation, dead letter naming the profile if it cannot be read). 503 when the broker
did not take it: nothing was queued, send it again.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from api.auth import Role, TokenBook
from api.deps import GatewayDep
from api.errors import errors
from devices.base import ID_PATTERN
from devices.inventory import DeviceConfig

router = APIRouter(prefix="/api", tags=["ingest"])

#: The largest body taken (the MQTT payload limit of docs/contract.md §3.2).
MAX_BODY_BYTES = 64 * 1024
#: How long the broker has to acknowledge the publish before the answer is 503.
QUEUE_TIMEOUT_S = 5.0

_bearer = HTTPBearer(auto_error=False, description="Or ?token= (devices cannot set headers)")
_Id = Annotated[str, Path(pattern=rf"^{ID_PATTERN.pattern}$", description="Estate or device id")]


class Queued(BaseModel):
    topic: str
    bytes: int


@router.post(
    "/ingest/{estate}/{device}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Queued,
    responses=errors(400, 404, 503) | {413: {**errors(400)[400], "description": "Body over 64 KiB"}},
)
async def ingest(
    request: Request,
    gateway: GatewayDep,
    estate: _Id,
    device: _Id,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    token: str | None = Query(None, min_length=16, max_length=256, description="The token, for devices"),
) -> Queued:
    """Queue a vendor device's pushed payload for its profile; 202 once the broker holds it."""
    given = credentials.credentials if credentials is not None else token
    config = gateway.inventory.device(estate, device)
    _authorise(request.app.state.tokens, given, estate, config)
    if config is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device!r} in estate {estate!r}")
    if config.profile is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"{device!r} has no profile: it publishes canonical JSON over MQTT"
        )
    body = await _body(request)
    topic = f"estate/{estate}/{config.kind.value}/{device}/raw"
    if not await run_in_threadpool(gateway.push_raw, topic, body, QUEUE_TIMEOUT_S):
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "not queued: the MQTT broker did not take it; send it again"
        )
    return Queued(topic=topic, bytes=len(body))


def _authorise(book: TokenBook, given: str | None, estate: str, config: DeviceConfig | None) -> None:
    if not given:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a token is required (bearer, or ?token=)",
            {"WWW-Authenticate": "Bearer"},
        )
    own = config.ingest_token_sha256 if config is not None else None
    digest = hashlib.sha256(given.encode()).hexdigest()
    if own is not None and hmac.compare_digest(own, digest):
        return  # the device's own token: role device, scoped to itself
    principal = book.find(given)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown token", {"WWW-Authenticate": "Bearer"})
    if principal.role is not Role.SIMULATOR:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {principal.role} may not push device payloads")
    if not principal.sees(estate):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"estate {estate!r} is outside this token's scope")


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {MAX_BODY_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    if not size:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "empty body: nothing to queue")
    return b"".join(chunks)
