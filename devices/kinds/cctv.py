"""CCTV cameras and NVRs (GB/T 28181 keepalive): recording state and storage health.

A camera's status rides on its heartbeat, the GB/T 28181 keepalive (docs/contract.md §3.3). The
same model is accepted on ``telemetry`` so a device that reports its status there is stored, not
dead-lettered. Every field is optional: a bare camera keepalive carries none.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from devices.base import EmptyPayload, Kind, KindSpec, Payload, Trade


class CctvEvent(StrEnum):
    VIDEO_LOSS = "video_loss"
    DISK_FAILURE = "disk_failure"


class CctvStatus(Payload):
    recording: bool | None = Field(None, description="Recording is running")
    retention_days: float | None = Field(
        None, ge=0, le=3650, description="Days of recordings kept with working playback"
    )
    disk_ok: bool | None = Field(None, description="Storage healthy")


SPEC = KindSpec(
    kind=Kind.CCTV,
    trade=Trade.LOW_VOLTAGE,
    telemetry=CctvStatus,
    events=dict.fromkeys(CctvEvent, EmptyPayload),
    heartbeat=CctvStatus,
    default_heartbeat_s=60,
    description="Camera or NVR: recording, retention and disk health; video loss and disk failure",
)
