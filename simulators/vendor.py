"""Simulated vendor devices: a device whose inventory entry names a built-in profile says what its
canonical twin would, in its vendor's own payloads (:mod:`profiles.encode`), on its ``raw`` topic
or its profile's own topic — so a scenario runs an NVR speaking ISAPI or a DTU forwarding Modbus.

What each says (the gateway's profiles read it back to the same readings, docs/contract.md §3.6):

- ``hikvision-isapi``: its keepalive is ``videoloss`` inactive (``videoloss`` active while
  recording is lost); ``video_loss`` / ``disk_failure`` events are ``videoloss`` / ``diskerror``
  active; a disk healthy again is ``diskerror`` inactive.
- ``dahua-event``: ``Heartbeat``, ``VideoLoss`` / ``StorageFailure`` Start, and Stop when they end.
- ``modbus-rtu``: its reports are read-holding-registers responses through its register map (a
  register map carries no events: those are not sent). Vendor devices send no ``status``.

A device with a user-defined profile is simulated in canonical JSON (its own shape is the
installer's to describe).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from devices.inventory import DeviceConfig, Estate
from profiles.config import VENDOR_ID, Builtin, UserProfile, builtin_of
from profiles.encode import dahua_line, hikvision_xml, modbus_response


class VendorVoice:
    """How one simulated vendor device speaks; keeps what a transition needs (was the disk bad)."""

    def __init__(self, topic: str, builtin: Builtin, config: DeviceConfig) -> None:
        self.topic, self.builtin, self.config = topic, builtin, config
        self._recording, self._disk_ok = True, True

    def event(self, type_: str, at: datetime) -> bytes | None:
        if self.builtin is Builtin.HIKVISION_ISAPI:
            name = {"video_loss": "videoloss", "disk_failure": "diskerror"}.get(type_)
            return None if name is None else hikvision_xml(name, "active", at)
        if self.builtin is Builtin.DAHUA_EVENT:
            code = {"video_loss": "VideoLoss", "disk_failure": "StorageFailure"}.get(type_)
            return None if code is None else dahua_line(code, "Start").encode()
        return None

    def report(self, values: Mapping[str, Any], at: datetime) -> bytes | None:
        recording, disk_ok = values.get("recording", True), values.get("disk_ok", True)
        back = (recording and not self._recording, disk_ok and not self._disk_ok)
        self._recording, self._disk_ok = bool(recording), bool(disk_ok)
        if self.builtin is Builtin.HIKVISION_ISAPI:
            if back[1]:  # one alert a payload: the disk healthy again this time, the keepalive next
                return hikvision_xml("diskerror", "inactive", at)
            return hikvision_xml("videoloss", "inactive" if recording else "active", at)
        if self.builtin is Builtin.DAHUA_EVENT:
            lines = ["Heartbeat"]
            lines += [dahua_line("VideoLoss", "Stop")] if back[0] else []
            lines += [dahua_line("StorageFailure", "Stop")] if back[1] else []
            return "\r\n".join(lines).encode()
        if self.config.modbus is None:
            return None
        return modbus_response(self.config.modbus, {k: v for k, v in values.items() if _number(v)})


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def voice_for(estate: Estate, config: DeviceConfig, profiles: Sequence[UserProfile]) -> VendorVoice | None:
    """The device's vendor voice, or None: it speaks canonical JSON."""
    if config.profile is None:
        return None
    builtin = builtin_of(config.profile, profiles)
    if builtin is None:
        return None
    own = next((p for p in profiles if p.name == config.profile), None)
    if own is not None and own.topic is not None and config.vendor_id is not None:
        topic = own.topic.replace(VENDOR_ID, config.vendor_id)
    else:
        topic = f"estate/{estate.id}/{config.kind.value}/{config.id}/raw"
    return VendorVoice(topic, builtin, config)
