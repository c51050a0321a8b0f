"""Cameras and NVRs: a GB/T 28181 keepalive every heartbeat saying recording is on, the disk is
healthy and how many days of recordings are kept (30 to 90, the estate's retention rule).

``network_failure`` on an NVR is the switch behind it failing: the world silences its cameras.
"""

from __future__ import annotations

from datetime import datetime

from devices.base import Channel, Kind
from simulators.kinds.base import DeviceSim, Effect, Fields, Params, Setup, fixed

EFFECTS: dict[str, Effect] = {
    "video_loss": Effect(events=(("video_loss", {}),), values=fixed(recording=False)),
    "disk_failure": Effect(events=(("disk_failure", {}),), values=fixed(disk_ok=False)),
    "recording_loss": Effect(values=fixed(recording=False)),
    "retention_short": Effect(values=fixed(retention_days=12.0)),
    "network_failure": Effect(),  # the world silences the cameras; the NVR itself carries on
}


class CctvSim(DeviceSim):
    kind = Kind.CCTV
    effects = EFFECTS
    report_channel = Channel.HEARTBEAT

    def __init__(self, setup: Setup) -> None:
        super().__init__(setup)
        self.retention = float(self.rng.choice((30, 31, 45, 60, 90)))

    def check(self, fault: str, params: Params) -> None:
        super().check(fault, params)
        count = params.get("count", 1)
        if fault == "network_failure" and not (type(count) is int and count >= 1):
            raise ValueError(f"network_failure: count must be a whole number of cameras, not {count!r}")

    def values(self, at: datetime) -> Fields:
        return {"recording": True, "retention_days": self.retention, "disk_ok": True}
