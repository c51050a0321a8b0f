"""Guard tour handsets (电子巡更, GA/T 644): checkpoint scans and SOS.

A handset reports when a guard uses it, not on a clock, so it has no default heartbeat.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from devices.base import EmptyPayload, IdStr, Kind, KindSpec, Payload, Trade


class PatrolEvent(StrEnum):
    SCAN = "scan"
    SOS = "sos"


class PatrolTelemetry(Payload):
    battery_pct: float | None = Field(None, ge=0, le=100, description="Handset battery, %")


#: Every guard present at the handset: night rounds count the guards of each scan.
Guards = Annotated[list[IdStr], Field(min_length=1, max_length=16, description="Guard ids present")]


class PatrolScan(Payload):
    checkpoint: IdStr = Field(description="Checkpoint id from the estate's inventory")
    guards: Guards


class PatrolSos(Payload):
    guards: Guards


SPEC = KindSpec(
    kind=Kind.PATROL,
    trade=Trade.SECURITY,
    telemetry=PatrolTelemetry,
    events={PatrolEvent.SCAN: PatrolScan, PatrolEvent.SOS: PatrolSos},
    heartbeat=EmptyPayload,
    default_heartbeat_s=None,
    description="Guard's patrol handset: checkpoint scans with the guards present, SOS",
)
