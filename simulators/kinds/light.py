"""Lamps and lighting circuits: on from dusk to dawn (local 18:00–06:00, the split the alarm rules
call daytime), each photocell a little late by its own fixed lag; a report at every switch and
every heartbeat. A circuit (a light with lamps hanging off it) reports the power of its lamps.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from devices.base import Kind
from simulators.kinds.base import DeviceSim, Effect, Fields, Params, Setup, fixed

DUSK, DAWN = time(18, 0), time(6, 0)
#: A photocell switches up to this long after dusk or dawn (its own fixed lag).
MAX_LAG_S = 90.0

EFFECTS: dict[str, Effect] = {
    "lamp_failure": Effect(
        events=(("lamp_failure", {}),),
        cleared=(("lamp_restored", {}),),
        values=fixed(lamp_ok=False, power_w=0.0),
    ),
    "leakage": Effect(events=(("leakage", {}),)),
    "circuit_failure": Effect(
        events=(("lamp_failure", {}),),
        cleared=(("lamp_restored", {}),),
        values=fixed(on=False, lamp_ok=False, power_w=0.0),
    ),
}


def daylight_lux(hour: int) -> float:
    """Overcast-day illuminance by local hour (a lamp's sensor in the shade): dark outside 06–18."""
    return float(round(max(2.0, 12_000 - 1_800 * abs(hour - 12) ** 1.5))) if 6 <= hour < 18 else 2.0


def is_night(local: datetime) -> bool:
    return not DAWN <= local.time() < DUSK


class LightSim(DeviceSim):
    kind = Kind.LIGHT
    effects = EFFECTS
    custom_faults = frozenset({"on_in_daylight"})

    def __init__(self, setup: Setup) -> None:
        super().__init__(setup)
        self.lamps = len(setup.children)  # a circuit's lamps; 0 for a lamp
        self.lag = timedelta(seconds=self.rng.uniform(0.0, MAX_LAG_S))
        self.watts = self.rng.choice((18.0, 24.0, 30.0))
        self.lux = round(self.rng.uniform(8.0, 30.0), 1)
        self.lit = self._night(setup.start)

    def _night(self, at: datetime) -> bool:
        return is_night((at - self.lag).astimezone(self.estate.tz))

    def values(self, at: datetime) -> Fields:
        on = self.lit or "on_in_daylight" in self.active
        values: Fields = {
            "on": on,
            "lamp_ok": True,
            "power_w": max(1, self.lamps) * self.watts if on else 0.0,
        }
        if not self.lamps:  # a lamp's own light sensor: its lamp by night, the sky by day
            local = at.astimezone(self.estate.tz)
            values["lux"] = self.lux if on else daylight_lux(local.hour)
        return values

    def begin(self, now: datetime) -> None:
        self.lit = self._night(now)
        self.at("switch", self._next_switch(now), self._switch)

    def _next_switch(self, now: datetime) -> datetime:
        local = (now - self.lag).astimezone(self.estate.tz)
        day = local.date()
        candidates = (
            datetime.combine(day + timedelta(days=d), t, tzinfo=self.estate.tz)
            for d in (0, 1)
            for t in (DAWN, DUSK)
        )
        return (min(c for c in candidates if c > local) + self.lag).astimezone(UTC)

    def _switch(self, now: datetime) -> None:
        self.lit = self._night(now)
        self.report(now)
        self.at("switch", self._next_switch(now), self._switch)

    def on_fault(self, fault: str, params: Params, at: datetime) -> None:
        if fault == "on_in_daylight":
            self.report(at)
