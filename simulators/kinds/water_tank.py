"""A secondary-water tank: drawn down by the building (more by day), refilled by its pump from
about 60 % to about 88 %, chlorine decaying between doses and topped up by the dosing pump before
it reaches 0.3 mg/L; turbidity and pH wander within their normal ranges. Reports every heartbeat.

Every reading differs from the one before, as a live analyser's does: a value repeated for two
hours is what the flat-line rule looks for, and that is the ``analyser_stuck`` fault.
"""

from __future__ import annotations

import math
from datetime import datetime

from devices.base import Kind
from simulators.kinds.base import DeviceSim, Effect, Fields, Params, Setup, uniform

#: Chlorine the dosing pump brings the tank to, and the level below which it doses again.
DOSE, REDOSE = (0.70, 0.80), 0.34
DECAY_PER_H = 0.06
FILL_PCT_PER_H = 40.0


def _draw_pct_per_h(hour: int) -> float:
    return 12.0 if 6 <= hour < 23 else 3.0


EFFECTS: dict[str, Effect] = {
    "chlorine_low": Effect(values=uniform("chlorine_mg_l", 0.02, 0.045)),
    "chlorine_marginal": Effect(values=uniform("chlorine_mg_l", 0.10, 0.18)),
    "chlorine_high": Effect(values=uniform("chlorine_mg_l", 2.2, 2.8)),
    "turbidity_high": Effect(values=uniform("turbidity_ntu", 1.5, 3.0)),
    "ph_low": Effect(values=uniform("ph", 6.0, 6.3, 2)),
    "ph_high": Effect(values=uniform("ph", 8.8, 9.2, 2)),
    "level_low": Effect(values=uniform("level_pct", 5.0, 9.0, 1)),
    "level_high": Effect(values=uniform("level_pct", 96.0, 99.0, 1)),
    "hatch_open": Effect(events=(("hatch_open", {}),), cleared=(("hatch_closed", {}),)),
    "flooding": Effect(events=(("flooding", {}),)),
    "pump_fault": Effect(events=(("pump_fault", {}),)),
}


class WaterTankSim(DeviceSim):
    kind = Kind.WATER_TANK
    effects = EFFECTS
    custom_faults = frozenset({"analyser_stuck"})

    def __init__(self, setup: Setup) -> None:
        super().__init__(setup)
        rng = self.rng
        self.level = rng.uniform(62.0, 86.0)
        self.filling = False
        self.chlorine = rng.uniform(0.45, 0.75)
        self.turbidity = rng.uniform(0.15, 0.4)
        self.ph = rng.uniform(7.1, 7.5)
        self.pressure = rng.uniform(0.28, 0.36)
        self.temperature = rng.uniform(14.0, 18.0)
        self.stuck: float | None = None
        self._last: Fields = {}
        self._updated = setup.start

    def values(self, at: datetime) -> Fields:
        self._evolve(at)
        values: Fields = {
            "level_pct": round(self.level, 1),
            "chlorine_mg_l": round(self.chlorine, 3),
            "turbidity_ntu": round(self.turbidity, 3),
            "ph": round(self.ph, 2),
            "pressure_mpa": round(self.pressure, 3),
            "temperature_c": round(self.temperature, 1),
        }
        for name in ("chlorine_mg_l", "turbidity_ntu"):
            if values[name] == self._last.get(name):  # a live analyser never repeats itself exactly
                values[name] = round(values[name] + 0.001, 3)
        if self.stuck is not None:
            values["chlorine_mg_l"] = self.stuck
        self._last = values
        return dict(values)

    def _evolve(self, at: datetime) -> None:
        hours = max(0.0, (at - self._updated).total_seconds() / 3600)
        self._updated = at
        rng = self.rng
        hour = at.astimezone(self.estate.tz).hour
        self.level -= _draw_pct_per_h(hour) * hours * rng.uniform(0.7, 1.3)
        if self.filling:
            self.level += FILL_PCT_PER_H * hours
            # fresh water is chlorinated: the tank's chlorine moves towards the dose
            self.chlorine += (0.75 - self.chlorine) * min(1.0, hours)
        self.filling = (self.filling and self.level < 88.0) or self.level < 60.0
        self.level = min(89.5, max(56.0, self.level))
        self.chlorine *= math.exp(-DECAY_PER_H * hours)
        if self.chlorine < REDOSE:
            self.chlorine = rng.uniform(*DOSE)
        self.chlorine = min(0.79, max(0.31, self.chlorine + rng.uniform(-0.004, 0.004)))
        self.turbidity = min(0.45, max(0.12, self.turbidity + rng.uniform(-0.02, 0.02)))
        self.ph = min(7.55, max(7.05, self.ph + rng.uniform(-0.02, 0.02)))
        self.pressure = min(0.38, max(0.27, self.pressure + rng.uniform(-0.005, 0.005)))
        self.temperature = min(20.0, max(12.0, self.temperature + rng.uniform(-0.1, 0.1)))

    def on_fault(self, fault: str, params: Params, at: datetime) -> None:
        if fault == "analyser_stuck":
            self.stuck = float(self._last.get("chlorine_mg_l", round(self.chlorine, 3)))
            self.report(at)

    def on_clear(self, fault: str, at: datetime) -> None:
        if fault == "analyser_stuck":
            self.stuck = None
