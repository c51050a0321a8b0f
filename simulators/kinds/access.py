"""An access-controlled door: people badge in now and then (gates often, service rooms seldom,
more by day), the door opens for a few seconds and locks again on closing. Now and then a card
is refused and its holder tries the right one a moment later, so denials never pile up.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from devices.base import Kind
from simulators.kinds.base import DeviceSim, Effect, Fields, Params, Setup, fixed

#: Mean seconds between visitors by day and by night, for each sort of door.
TRAFFIC = {"gate": (90.0, 900.0), "unit": (300.0, 2400.0), "service": (4 * 3600.0, 48 * 3600.0)}
DENIED_SHARE = 0.03
#: After a fire release the doors stay unlocked this long (the fire-locked rule watches 30 min).
RELEASED = timedelta(minutes=31)

EFFECTS: dict[str, Effect] = {
    "forced": Effect(events=(("forced", {}),), values=fixed(door="open", locked=False)),
    "held_open": Effect(events=(("granted", {}),), values=fixed(door="open", locked=False)),
    "tamper": Effect(events=(("tamper", {}),)),
    "fire_release": Effect(events=(("fire_release", {}),), values=fixed(door="closed", locked=True)),
}


def door_sort(config_id: str, location: str) -> str:
    if "GATE" in config_id.upper() or "通道" in location or ("大门" in location and "单元" not in location):
        return "gate"
    if any(word in config_id.upper() for word in ("PUMP", "POWER")) or "房" in location:
        return "service"
    return "unit"


class AccessSim(DeviceSim):
    kind = Kind.ACCESS
    effects = EFFECTS
    custom_faults = frozenset({"denied_burst"})

    def __init__(self, setup: Setup) -> None:
        super().__init__(setup)
        self.door, self.locked = "closed", True
        self.sort = door_sort(self.config.id, self.config.location or "")
        self.quiet_until = self.setup.start
        self.released_until = self.setup.start

    def values(self, at: datetime) -> Fields:
        released = at < self.released_until
        return {"door": self.door, "locked": self.locked and not released}

    def begin(self, now: datetime) -> None:
        self._next_visit(now)

    def _next_visit(self, now: datetime) -> None:
        hour = now.astimezone(self.estate.tz).hour
        day, night = TRAFFIC[self.sort]
        mean = day if 7 <= hour < 22 else night
        self.after("visit", now, max(10.0, self.rng.expovariate(1.0 / mean)), self._visit)

    def _undisturbed(self, now: datetime) -> bool:
        busy = any(f in EFFECTS for f in self.active)
        return not busy and now >= self.quiet_until and now >= self.released_until

    def _visit(self, now: datetime) -> None:
        if not self._undisturbed(now):
            self._next_visit(now)
        elif self.rng.random() < DENIED_SHARE:
            self.event(now, "denied", card=f"C-{self.rng.randint(1000, 9999)}")
            self.after("visit", now, self.rng.uniform(2, 4), self._grant)
        else:
            self._grant(now)

    def _grant(self, now: datetime) -> None:
        if now < self.quiet_until:  # a denied burst under way: this holder gave up
            self._next_visit(now)
            return
        self.event(now, "granted")
        self.after("door", now, 1.0, self._open)

    def _open(self, now: datetime) -> None:
        self.door, self.locked = "open", False
        self.report(now)
        self.after("door", now, self.rng.uniform(3, 12), self._close)

    def _close(self, now: datetime) -> None:
        self.door, self.locked = "closed", True
        self.report(now)
        self._next_visit(now)

    # -- faults ----------------------------------------------------------------------------------
    def on_fault(self, fault: str, params: Params, at: datetime) -> None:
        if fault != "denied_burst":
            return
        attempts = params.get("count", 5)
        assert isinstance(attempts, int)  # check() said so
        when = at
        for i in range(attempts):
            self.at(f"denied:{i:03d}", when, partial(self._denied, f"C-{self.rng.randint(1000, 9999)}"))
            when += timedelta(seconds=self.rng.uniform(3, 8))
        self.quiet_until = when + timedelta(seconds=60)  # nobody badges in meanwhile (a grant resets it)

    def _denied(self, card: str, at: datetime) -> None:
        self.event(at, "denied", card=card)

    def check(self, fault: str, params: Params) -> None:
        super().check(fault, params)
        attempts = params.get("count", 5)
        if fault == "denied_burst" and not (type(attempts) is int and 1 <= attempts <= 100):
            raise ValueError(f"denied_burst: count must be a whole number from 1 to 100, not {attempts!r}")

    def on_clear(self, fault: str, at: datetime) -> None:
        if fault == "fire_release":
            self.released_until = at + RELEASED
        if fault in ("forced", "held_open"):
            self.door, self.locked = "closed", True
