"""Access control doors (GB 50396): door and lock state, credential and alarm events."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from devices.base import EmptyPayload, Kind, KindSpec, Payload, Trade


class Door(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class AccessEvent(StrEnum):
    GRANTED = "granted"
    DENIED = "denied"
    FORCED = "forced"
    TAMPER = "tamper"
    FIRE_RELEASE = "fire_release"


class AccessTelemetry(Payload):
    door: Door | None = Field(None, strict=False, description="Door leaf state")
    locked: bool | None = Field(None, description="Lock engaged")


class AccessDenied(Payload):
    card: str | None = Field(None, min_length=1, max_length=64, description="Credential that was refused")


SPEC = KindSpec(
    kind=Kind.ACCESS,
    trade=Trade.LOW_VOLTAGE,
    telemetry=AccessTelemetry,
    events={
        AccessEvent.GRANTED: EmptyPayload,
        AccessEvent.DENIED: AccessDenied,
        AccessEvent.FORCED: EmptyPayload,
        AccessEvent.TAMPER: EmptyPayload,
        AccessEvent.FIRE_RELEASE: EmptyPayload,
    },
    default_heartbeat_s=300,
    description="Access-controlled door: door and lock state, granted/denied/forced/tamper events",
)
