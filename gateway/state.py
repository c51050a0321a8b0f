"""Device state: latest values, last seen, and online/offline/unknown/unregistered (docs/contract.md §8).

Every message of a device is a sign of life. A device is offline when its last word was the
retained ``offline`` status (its last will) or when it has been silent for 3 × its heartbeat.
Devices that publish but are not in the inventory are kept and listed as ``unregistered``, up to
``max_unregistered`` per estate (made-up ids must not grow the table without bound: past the cap
a new one is refused and its message dead-lettered as ``unregistered_overflow``), and forgotten
once silent for a while (:meth:`DeviceRegistry.forget_unregistered`, run by the housekeeping).
Written by the pipeline thread, read by the API: a lock guards the table.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from devices.base import Channel, FieldValue, Kind, Reading
from devices.inventory import Inventory
from gateway.ingest import KnownDevice

STALE_HEARTBEATS = 3


class DeviceStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    UNKNOWN = "unknown"
    UNREGISTERED = "unregistered"


@dataclass(slots=True)
class DeviceState:
    estate: str
    id: str
    kind: Kind
    building: str
    parent: str | None
    heartbeat_s: int | None
    registered: bool
    last_seen_ns: int | None = None
    latest_ns: int = 0
    said_offline: bool = False
    latest: dict[str, FieldValue] = field(default_factory=dict)

    def status(self, now_ns: int) -> DeviceStatus:
        if not self.registered:
            return DeviceStatus.UNREGISTERED
        if self.last_seen_ns is None:
            return DeviceStatus.UNKNOWN
        if self.said_offline:
            return DeviceStatus.OFFLINE
        if self.heartbeat_s is not None:
            silent_ns = now_ns - self.last_seen_ns
            if silent_ns > STALE_HEARTBEATS * self.heartbeat_s * 1_000_000_000:
                return DeviceStatus.OFFLINE
        return DeviceStatus.ONLINE

    def observe(self, reading: Reading, received_ns: int) -> None:
        self.last_seen_ns = received_ns
        self.said_offline = reading.channel is Channel.STATUS and reading.fields.get("status") == "offline"
        # Telemetry and heartbeat fields are the device's values; an older (replayed) reading
        # does not overwrite a newer one.
        if reading.channel in (Channel.TELEMETRY, Channel.HEARTBEAT) and reading.time_ns >= self.latest_ns:
            self.latest.update(reading.fields)
            self.latest_ns = reading.time_ns


#: Unregistered devices tracked per estate by default (``ESTATE_UNREGISTERED_MAX``).
MAX_UNREGISTERED = 1_000


class DeviceRegistry:
    def __init__(
        self, inventory: Inventory | None = None, *, max_unregistered: int = MAX_UNREGISTERED
    ) -> None:
        self._lock = threading.Lock()
        self._devices: dict[tuple[str, str], DeviceState] = {}
        self.max_unregistered = max_unregistered
        #: Unregistered devices tracked, per estate.
        self._unregistered: Counter[str] = Counter()
        if inventory is not None:
            for estate in inventory.estates:
                for dev in estate.devices:
                    self._devices[(estate.id, dev.id)] = DeviceState(
                        estate=estate.id,
                        id=dev.id,
                        kind=dev.kind,
                        building=dev.building or "",
                        parent=dev.parent,
                        heartbeat_s=dev.effective_heartbeat_s(),
                        registered=True,
                    )

    def lookup(self, estate: str, device: str) -> KnownDevice | None:
        """The decoder's view of the inventory (registered devices only)."""
        state = self._devices.get((estate, device))
        return state if state is not None and state.registered else None

    def observe(self, reading: Reading, received_ns: int) -> bool:
        """Apply a reading; False when it is of a new unregistered device and its estate already
        has ``max_unregistered`` of them (nothing is tracked then)."""
        key = (reading.estate, reading.device)
        with self._lock:
            state = self._devices.get(key)
            if state is None:
                if self._unregistered[reading.estate] >= self.max_unregistered:
                    return False
                state = DeviceState(reading.estate, reading.device, reading.kind, "", None, None, False)
                self._devices[key] = state
                self._unregistered[reading.estate] += 1
            state.observe(reading, received_ns)
        return True

    def forget_unregistered(self, silent_since_ns: int, chunk: int = 1_000) -> int:
        """Forget unregistered devices not heard since ``silent_since_ns``; how many. The lock is
        taken per ``chunk`` of devices, so the pipeline never waits on a long sweep."""
        with self._lock:
            keys = [k for k, d in self._devices.items() if not d.registered]
        forgotten = 0
        for start in range(0, len(keys), chunk):
            with self._lock:
                for key in keys[start : start + chunk]:
                    state = self._devices.get(key)
                    if state is None or state.registered:
                        continue
                    if state.last_seen_ns is None or state.last_seen_ns < silent_since_ns:
                        del self._devices[key]
                        self._unregistered[key[0]] -= 1
                        forgotten += 1
        return forgotten

    def unregistered_count(self, estate: str) -> int:
        return self._unregistered[estate]

    def latest(self, estate: str, device: str) -> dict[str, FieldValue]:
        """A copy of the device's latest values (what the alarm rules look at)."""
        with self._lock:
            state = self._devices.get((estate, device))
            return dict(state.latest) if state is not None else {}

    def get(self, estate: str, device: str) -> DeviceState | None:
        with self._lock:
            return self._devices.get((estate, device))

    def list(
        self,
        now_ns: int,
        estate: str | None = None,
        kind: Kind | None = None,
        status: DeviceStatus | None = None,
    ) -> list[DeviceState]:
        with self._lock:
            candidates = list(self._devices.values())
        return [
            d
            for d in candidates
            if (estate is None or d.estate == estate)
            and (kind is None or d.kind is kind)
            and (status is None or d.status(now_ns) is status)
        ]

    def __len__(self) -> int:
        return len(self._devices)
