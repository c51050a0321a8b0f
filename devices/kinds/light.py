"""Lighting: circuit controllers and the lamps behind them (``parent`` in the inventory)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from devices.base import EmptyPayload, Kind, KindSpec, Payload, Trade


class LightEvent(StrEnum):
    LAMP_FAILURE = "lamp_failure"
    LAMP_RESTORED = "lamp_restored"
    LEAKAGE = "leakage"


class LightTelemetry(Payload):
    on: bool | None = Field(None, description="Switched on")
    lamp_ok: bool | None = Field(None, description="Lamp (or every lamp of the circuit) working")
    power_w: float | None = Field(None, ge=0, le=100_000, description="Electrical power drawn, W")
    lux: float | None = Field(None, ge=0, le=200_000, description="Illuminance measured, lx")


SPEC = KindSpec(
    kind=Kind.LIGHT,
    trade=Trade.ELECTRICAL,
    telemetry=LightTelemetry,
    events=dict.fromkeys(LightEvent, EmptyPayload),
    default_heartbeat_s=300,
    description="Lighting circuit controller or lamp: on/off, lamp state, power, illuminance",
)
