"""What every simulated device does: named timers on simulated time, messages built through the
``devices`` payload models, faults as data, and the faults every kind shares.

A device never reads a clock: the world runs its timers when simulated time reaches them, and
everything it publishes carries that time. Its randomness is its own ``random.Random``, so what
one device does never depends on how many others there are or in which order they run.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import count
from typing import Any, ClassVar

from devices.base import Channel, Kind
from devices.inventory import DeviceConfig, Estate, PatrolPlan
from devices.registry import REGISTRY
from profiles.config import UserProfile
from simulators.faults import FAULTS
from simulators.vendor import VendorVoice, voice_for

Params = Mapping[str, object]
Fields = dict[str, Any]
Action = Callable[[datetime], None]
#: How long after ``inject``/``clear`` the device reacts (it must be after ``now``).
REACTION = timedelta(milliseconds=100)
#: Bigger than the gateway's 64 KiB limit.
OVERSIZED_BYTES = 70_000


def encode(body: Fields, at: datetime) -> bytes:
    """A payload: ``body`` (checked against the kind's model by the caller) with ``ts``."""
    return json.dumps({**body, "ts": at.isoformat()}).encode()


@dataclass(frozen=True)
class Message:
    at: datetime  # simulated time it is published (UTC)
    topic: str
    payload: bytes  # JSON with "ts" = `at` (ISO 8601), except deliberately bad payloads
    retain: bool = False
    qos: int = 1


@dataclass(frozen=True)
class Effect:
    """A fault as data: the events sent when it starts and when it is cleared, and the values the
    device reports instead of its normal ones while the fault lasts."""

    events: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    cleared: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    values: Callable[[random.Random, Params], Fields] | None = None


def fixed(**values: Any) -> Callable[[random.Random, Params], Fields]:
    return lambda _rng, _params: dict(values)


def uniform(name: str, low: float, high: float, digits: int = 3) -> Callable[[random.Random, Params], Fields]:
    return lambda rng, _params: {name: round(rng.uniform(low, high), digits)}


@dataclass(frozen=True)
class Duty:
    """A patrol plan a handset's guards walk, and the guards (enough for its busiest window)."""

    plan: PatrolPlan
    guards: tuple[str, ...]


@dataclass(frozen=True)
class Setup:
    estate: Estate
    config: DeviceConfig
    rng: random.Random
    start: datetime
    children: tuple[DeviceConfig, ...] = ()
    duties: tuple[Duty, ...] = field(default=())
    #: The inventory's user-defined profiles (a vendor device's own topic may be in one).
    profiles: tuple[UserProfile, ...] = ()


class DeviceSim:
    """One simulated device. Subclasses give ``values`` (what a report says), ``period`` (how
    often it reports), ``effects`` and the hooks ``begin``, ``on_fault`` and ``on_clear``."""

    kind: ClassVar[Kind]
    effects: ClassVar[Mapping[str, Effect]] = {}
    report_channel: ClassVar[Channel] = Channel.TELEMETRY

    def __init__(self, setup: Setup) -> None:
        self.setup, self.rng = setup, setup.rng
        self.estate, self.config = setup.estate, setup.config
        self.topic = f"estate/{self.estate.id}/{self.config.kind.value}/{self.config.id}"
        self.active: dict[str, Params] = {}
        self.muted = False
        self._timers: dict[str, tuple[datetime, Action]] = {}
        self._out: list[Message] = []
        self._requests = count()
        self._topics = {channel: f"{self.topic}/{channel.value}" for channel in Channel}
        spec = REGISTRY[self.kind]
        self._report_model = spec.telemetry if self.report_channel is Channel.TELEMETRY else spec.heartbeat
        self._heartbeat = self.config.effective_heartbeat_s()
        #: A vendor device (a built-in profile) speaks its vendor's payloads (simulators.vendor).
        self.voice = voice_for(self.estate, self.config, setup.profiles)
        self.at("online", setup.start + timedelta(milliseconds=self.rng.randint(1, 2000)), self._online)

    # -- timers -----------------------------------------------------------------------------------
    def at(self, name: str, when: datetime, action: Action) -> None:
        """Run ``action`` at ``when`` (a timer of the same name is replaced)."""
        self._timers[name] = (when, action)

    def after(self, name: str, now: datetime, seconds: float, action: Action) -> None:
        self.at(name, now + timedelta(seconds=seconds), action)

    def cancel(self, *names: str) -> None:
        for name in names:
            self._timers.pop(name, None)

    def due(self) -> datetime | None:
        return min((when for when, _ in self._timers.values()), default=None)

    def run(self, now: datetime) -> list[Message]:
        """Run the timers due at ``now`` (by name: requested faults first) and return the messages."""
        for name in sorted(n for n, (when, _) in self._timers.items() if when <= now):
            entry = self._timers.get(name)
            if entry is not None and entry[0] <= now:  # an earlier action may have moved or cancelled it
                del self._timers[name]
                entry[1](now)
        out, self._out = self._out, []
        return out

    # -- publishing -------------------------------------------------------------------------------
    def publish(self, at: datetime, channel: Channel, payload: bytes, retain: bool = False) -> None:
        if self.muted:
            return
        if self.voice is not None:
            self._speak(self.voice, at, channel, payload)
            return
        self._out.append(Message(at, self._topics[channel], payload, retain))
        if channel is not Channel.STATUS:
            self._arm_report(at)  # any message is a sign of life: the next report is a period on

    def _speak(self, voice: VendorVoice, at: datetime, channel: Channel, payload: bytes) -> None:
        """A vendor device: the canonical message said its vendor's way (no status: it has none)."""
        if channel is Channel.STATUS:
            return
        try:
            body = json.loads(payload)
        except ValueError:
            return  # a deliberately broken payload (malformed, oversized): not in the vendor's voice
        event = channel is Channel.EVENT
        said = voice.event(str(body.get("type")), at) if event else voice.report(body, at)
        if said is not None:
            self._out.append(Message(at, voice.topic, said))
        self._arm_report(at)

    def status(self, at: datetime, value: str) -> None:
        self.publish(at, Channel.STATUS, value.encode(), retain=True)

    def event(self, at: datetime, type_: str, **fields: Any) -> None:
        model = REGISTRY[self.kind].events[type_]
        model.model_validate(fields)
        self.publish(at, Channel.EVENT, encode({"type": type_, **fields}, at))

    def report(self, at: datetime) -> None:
        values = self.reported(at)
        self._report_model.model_validate(values)  # what the gateway would accept, or an error here
        self.publish(at, self.report_channel, encode(values, at))

    def reported(self, at: datetime) -> Fields:
        """The device's values with what its lasting faults change."""
        values = self.values(at)
        for fault, params in self.active.items():
            effect = self.effects.get(fault)
            if effect is not None and effect.values is not None:
                values.update(effect.values(self.rng, params))
        return values

    def _arm_report(self, at: datetime) -> None:
        period = self.period()
        if period is not None:
            self.after("report", at, period, self._periodic)

    def _periodic(self, now: datetime) -> None:
        self.report(now)  # which arms the next one
        if self.muted:
            self._arm_report(now)  # the device keeps its rhythm for when it returns

    def _online(self, now: datetime) -> None:
        self.status(now, "online")
        self.begin(now)
        period = self.period()
        if period is not None:  # the first report soon, so the gateway knows the state early
            self.after("report", now, self.rng.uniform(1.0, min(period, 30.0)), self._periodic)

    # -- faults -----------------------------------------------------------------------------------
    def inject(self, fault: str, params: Params, now: datetime) -> None:
        self.check(fault, params)
        params = dict(params)
        self.at(
            f"{next(self._requests):09d}:inject", now + REACTION, lambda at: self._start(fault, params, at)
        )

    def clear(self, fault: str, now: datetime) -> None:
        self.at(f"{next(self._requests):09d}:clear", now + REACTION, lambda at: self._end(fault, at))

    def _start(self, fault: str, params: Params, at: datetime) -> None:
        if FAULTS[fault].lasting:
            self.active[fault] = params
        if fault in _GENERIC_START:
            _GENERIC_START[fault](self, at)
            return
        effect = self.effects.get(fault, Effect())
        for type_, fields in effect.events:
            self.event(at, type_, **fields)
        self.on_fault(fault, params, at)
        if effect.values is not None:
            self.report(at)

    def _end(self, fault: str, at: datetime) -> None:
        if self.active.pop(fault, None) is None:
            return  # not active (a one-off fault, or never injected): nothing to undo
        if fault in ("offline", "silent"):
            self.muted = "offline" in self.active or "silent" in self.active
            if fault == "offline":
                self.status(at, "online")
            self.report(at)
            return
        for type_, fields in self.effects.get(fault, Effect()).cleared:
            self.event(at, type_, **fields)
        self.on_clear(fault, at)
        self.report(at)

    def _offline(self, at: datetime) -> None:
        self.status(at, "offline")
        self.muted = True

    def _silent(self, _at: datetime) -> None:
        self.muted = True

    def _malformed(self, at: datetime) -> None:
        self.publish(at, Channel.TELEMETRY, f'{{"ts": "{at.isoformat()}", "value": '.encode())

    def _oversized(self, at: datetime) -> None:
        body = {"ts": at.isoformat(), "firmware_dump": "0" * OVERSIZED_BYTES}
        self.publish(at, Channel.TELEMETRY, json.dumps(body).encode())

    # -- for subclasses ---------------------------------------------------------------------------
    def values(self, at: datetime) -> Fields:
        """What a report says when nothing is wrong."""
        raise NotImplementedError

    def period(self) -> float | None:
        """Seconds between reports (None: none on a clock)."""
        return None if self._heartbeat is None else float(self._heartbeat)

    def begin(self, now: datetime) -> None:
        """Start the device's own behaviour, just after it came online."""

    def check(self, fault: str, params: Params) -> None:
        """Refuse (``ValueError``) parameters the fault cannot take on this device."""
        allowed = FAULTS[fault].params
        if unknown := sorted(set(params) - set(allowed)):
            known = ", ".join(allowed) or "none"
            raise ValueError(f"fault {fault!r} takes no parameter {', '.join(unknown)} (it takes: {known})")

    def on_fault(self, fault: str, params: Params, at: datetime) -> None:
        """A fault of this kind starts (after its effect's events)."""

    def on_clear(self, fault: str, at: datetime) -> None:
        """A lasting fault of this kind ends (after its effect's clearing events; a report follows)."""

    def supports(self, fault: str) -> bool:
        return fault in _GENERIC_START or fault in self.effects or fault in self.custom_faults

    #: Faults a subclass implements in ``on_fault`` rather than as an :class:`Effect`.
    custom_faults: ClassVar[frozenset[str]] = frozenset()


_GENERIC_START: dict[str, Callable[[DeviceSim, datetime], None]] = {
    "offline": DeviceSim._offline,
    "silent": DeviceSim._silent,
    "malformed": DeviceSim._malformed,
    "oversized": DeviceSim._oversized,
}
