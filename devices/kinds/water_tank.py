"""Secondary water supply tanks (二次供水): level and water quality analysers, hatch and pump room.

Limits that raise alarms (GB 5749-2022) are rule defaults, not payload ranges: the ranges here only
refuse readings no analyser can produce.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from devices.base import EmptyPayload, Kind, KindSpec, Payload, Trade


class Disinfectant(StrEnum):
    """How a supply is disinfected (GB 5749-2022 Table A.1): free chlorine, limit 2 mg/L, or
    chloramine, whose residual is total chlorine, limit 3 mg/L. Set per tank in the inventory."""

    CHLORINE = "chlorine"
    CHLORAMINE = "chloramine"


class WaterTankEvent(StrEnum):
    HATCH_OPEN = "hatch_open"
    HATCH_CLOSED = "hatch_closed"
    PUMP_FAULT = "pump_fault"
    FLOODING = "flooding"
    CLEANED = "cleaned"
    SAMPLED = "sampled"


class WaterTankTelemetry(Payload):
    level_pct: float | None = Field(None, ge=0, le=100, description="Tank level, % of capacity")
    chlorine_mg_l: float | None = Field(
        None,
        ge=0,
        le=20,
        description="Residual chlorine (余氯), mg/L: free chlorine, or total chlorine where the tank is "
        "chloramine-disinfected (inventory `disinfectant`)",
    )
    turbidity_ntu: float | None = Field(None, ge=0, le=1000, description="Turbidity, NTU")
    ph: float | None = Field(None, ge=0, le=14, description="pH")
    pressure_mpa: float | None = Field(None, ge=0, le=5, description="Outlet pressure, MPa")
    temperature_c: float | None = Field(None, ge=-50, le=100, description="Water temperature, °C")


SPEC = KindSpec(
    kind=Kind.WATER_TANK,
    trade=Trade.WATER,
    telemetry=WaterTankTelemetry,
    events=dict.fromkeys(WaterTankEvent, EmptyPayload),
    default_heartbeat_s=300,
    description="Secondary water supply tank: level, chlorine, turbidity, pH; hatch and pump room",
)
