"""A lift car going about its day: calls, doors, passengers, trips between floors; a technician's
visit every 14 days (inspection mode for up to 90 minutes, then a ``maintenance`` record).

Telemetry about every 5 s while the car moves and every 30 s while it waits, plus one at every
change (doors, passenger, start, stop), so no heartbeat is ever needed. Only a stopped car at a
landing has ``door_zone`` true, and a car never stops between floors unless a fault says so.

A fault stops the car where its :class:`Effect` says (a full motion state) until it is cleared;
the car then levels at a landing and goes back to work. Clearing a latched fault (unintended
movement, overtravel, overspeed) sends ``fault_cleared`` and a technician's ``maintenance``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from devices.base import Kind
from devices.kinds.lift import LiftFaultCode, Mode
from simulators.kinds.base import Action, DeviceSim, Effect, Fields, Params, Setup, fixed

FLOOR_HEIGHT_M = 3.0
MOVING_REPORT_S, IDLE_REPORT_S = 5.0, 30.0
TECHNICIANS = ("王师傅", "刘师傅", "陈师傅")
SERVICE_EVERY = timedelta(days=14)
LATCHED = frozenset(
    {
        LiftFaultCode.UNINTENDED_MOVEMENT,
        LiftFaultCode.DOOR_OPEN_WHILE_RUNNING,
        LiftFaultCode.OVERTRAVEL_TOP,
        LiftFaultCode.OVERTRAVEL_BOTTOM,
        LiftFaultCode.OVERSPEED,
    }
)
SPECIAL_MODES = frozenset({Mode.FIRE, Mode.FIREFIGHTER, Mode.EARTHQUAKE})


def car(*, zone: bool, door: str, passenger: bool, mode: str = "normal", power: str = "normal") -> Fields:
    """A stopped car's full motion state."""
    return {
        "direction": "stop",
        "speed_m_s": 0.0,
        "door_zone": zone,
        "door": door,
        "passenger": passenger,
        "mode": mode,
        "power": power,
    }


#: Where each fault code leaves the car: at a landing, unless the fault is about where it stopped.
_STOPPED: dict[str, Fields] = {
    "entrapment": car(zone=False, door="closed", passenger=True),
    "alarm_button": car(zone=True, door="closed", passenger=True),
    "unintended_movement": car(zone=True, door="open", passenger=False, mode="out_of_service"),
    "door_open_while_running": car(zone=True, door="open", passenger=False, mode="out_of_service"),
    "overtravel_top": car(zone=True, door="closed", passenger=False, mode="out_of_service"),
    "overtravel_bottom": car(zone=True, door="closed", passenger=False, mode="out_of_service"),
    "overspeed": car(zone=True, door="closed", passenger=False, mode="out_of_service"),
    "safety_circuit_open": car(zone=True, door="closed", passenger=False, mode="out_of_service"),
    "door_lock_circuit_open": car(zone=True, door="closed", passenger=False, mode="out_of_service"),
    "stopped_outside_door_zone": car(zone=False, door="closed", passenger=False),
    "door_open_failure": car(zone=True, door="closed", passenger=False),
    "door_close_failure": car(zone=True, door="open", passenger=False),
    "position_lost": car(zone=True, door="closed", passenger=False),
    "power_loss": car(zone=True, door="closed", passenger=False, power="outage"),
    "motor_runtime_limiter": car(zone=True, door="closed", passenger=False),
    "restart_prevented": car(zone=True, door="closed", passenger=False),
}


def _code_effect(code: str) -> Effect:
    cleared: tuple[tuple[str, dict[str, Any]], ...] = (("fault_cleared", {"code": code}),)
    return Effect(events=(("fault", {"code": code}),), cleared=cleared, values=fixed(**_STOPPED[code]))


EFFECTS: dict[str, Effect] = {code: _code_effect(code) for code in _STOPPED}
EFFECTS |= {
    "trapped": Effect(values=fixed(**car(zone=False, door="closed", passenger=True))),
    "stopped_empty": Effect(values=fixed(**car(zone=False, door="closed", passenger=False))),
    "fire_mode": Effect(
        values=lambda _rng, p: {
            "floor": 1,
            **car(zone=True, door="open", passenger=False, mode=str(p.get("mode", "fire"))),
        }
    ),
    "emergency_power": Effect(
        values=fixed(**car(zone=True, door="closed", passenger=False, mode="emergency_power"))
    ),
    "out_of_service": Effect(
        values=fixed(**car(zone=True, door="closed", passenger=False, mode="out_of_service"))
    ),
    "inspection_mode": Effect(
        values=fixed(**car(zone=True, door="closed", passenger=False, mode="inspection"))
    ),
}


def demand_gap_s(hour: int) -> float:
    """Mean seconds between calls at a local hour: rush hours, daytime, evening, night."""
    if hour in (7, 8, 17, 18, 19):
        return 60.0
    if 9 <= hour < 17:
        return 180.0
    if 20 <= hour < 23:
        return 240.0
    return 1200.0


class LiftSim(DeviceSim):
    kind = Kind.LIFT
    effects = EFFECTS
    custom_faults = frozenset({"maintenance_skipped"})

    def __init__(self, setup: Setup) -> None:
        super().__init__(setup)
        self.top = 18
        self.rated = self.rng.choice((1.5, 1.75, 2.0))
        self.floor = self.rng.randint(1, self.top)
        self.state: Fields = {"floor": self.floor, **car(zone=True, door="closed", passenger=False)}
        self.moving = False
        self.waiting = False  # idle between calls: the only time a technician may take the car
        self.servicing = False
        self._trip: tuple[datetime, int, int, float] | None = None  # departed, from, to, seconds

    # -- reporting -------------------------------------------------------------------------------
    def values(self, at: datetime) -> Fields:
        if self._trip is not None:
            self.state["floor"] = self._floor_at(at)
        return dict(self.state)

    def period(self) -> float:
        return MOVING_REPORT_S if self.moving else IDLE_REPORT_S

    def _set(self, at: datetime, **changes: Any) -> None:
        self.state.update(changes)
        self.report(at)

    # -- the working day -------------------------------------------------------------------------
    def begin(self, now: datetime) -> None:
        self._idle(now)
        day = self.rng.uniform(0, SERVICE_EVERY.days - 1)
        self._schedule_service(now + timedelta(days=day), not_before=now)

    def _frozen(self) -> bool:
        return self.servicing or any(f in EFFECTS for f in self.active)

    def _idle(self, now: datetime) -> None:
        hour = now.astimezone(self.estate.tz).hour
        gap = max(5.0, self.rng.expovariate(1.0 / demand_gap_s(hour)))
        self.waiting = True
        self.after("step", now, gap, self._call)

    def _call(self, now: datetime) -> None:
        """Someone calls the car: mostly from the lobby going up, else from a floor going down."""
        self.waiting = False
        lobby = self.rng.random() < 0.5
        origin = 1 if lobby else self.rng.randint(2, self.top)
        destination = self.rng.randint(2, self.top) if lobby else (1 if self.rng.random() < 0.8 else origin)
        if destination == origin:
            destination = self.top if origin == 1 else 1
        if origin == self.floor:
            self._board(now, destination)
        else:
            self._travel(now, origin, lambda at: self._board(at, destination))

    def _board(self, now: datetime, destination: int) -> None:
        if self.state["door"] != "open":
            self._set(now, door="open")
        self.after("step", now, self.rng.uniform(3, 8), lambda at: self._close(at, destination))

    def _close(self, now: datetime, destination: int) -> None:
        self._set(now, passenger=True, door="closed")
        self.after("step", now, 1.5, lambda at: self._travel(at, destination, self._alight))

    def _travel(self, now: datetime, to: int, then: Action) -> None:
        seconds = 3.0 + abs(to - self.floor) * FLOOR_HEIGHT_M / self.rated
        self._trip = (now, self.floor, to, seconds)
        self.moving = True
        self._set(now, direction="up" if to > self.floor else "down", door_zone=False, speed_m_s=self.rated)
        self.after("step", now, seconds, lambda at: self._arrive(at, then))

    def _floor_at(self, at: datetime) -> int:
        assert self._trip is not None
        departed, start, to, seconds = self._trip
        share = min(1.0, max(0.0, (at - departed).total_seconds() / seconds))
        return (
            start + math.floor((to - start) * share)
            if to > start
            else start - math.floor((start - to) * share)
        )

    def _arrive(self, now: datetime, then: Action) -> None:
        """The car levels at the landing and its doors open (one report)."""
        assert self._trip is not None
        self.floor = self._trip[2]
        self._trip, self.moving = None, False
        self._set(now, floor=self.floor, direction="stop", speed_m_s=0.0, door_zone=True, door="open")
        then(now)

    def _alight(self, now: datetime) -> None:
        self.after("step", now, self.rng.uniform(3, 6), self._leave)

    def _leave(self, now: datetime) -> None:
        self._set(now, passenger=False)
        self.after("step", now, self.rng.uniform(3, 6), self._shut)

    def _shut(self, now: datetime) -> None:
        self._set(now, door="closed")
        self._idle(now)

    # -- the technician's visit ------------------------------------------------------------------
    def _schedule_service(self, day: datetime, not_before: datetime | None = None) -> None:
        """Book the visit between 09:00 and 16:00 of ``day``; a time already past (the first visit,
        booked for today) moves to the same time tomorrow: a timer in the past would have the
        car live through the past hours at once, its messages stamped back then."""
        local = day.astimezone(self.estate.tz)
        nine = local.replace(hour=9, minute=0, second=0, microsecond=0)
        when = nine + timedelta(seconds=self.rng.uniform(0, 7 * 3600))
        if not_before is not None and when <= not_before:
            when += timedelta(days=1)
        self.at("service", when.astimezone(UTC), self._service)

    def _service(self, now: datetime) -> None:
        if self._frozen() or not self.waiting:
            self.after("service", now, 120.0, self._service)  # after this trip, or another day
            return
        if "maintenance_skipped" not in self.active:
            self.servicing, self.waiting = True, False
            self.cancel("step")
            self._set(now, mode="inspection")
            self.after("step", now, self.rng.uniform(30, 90) * 60, self._serviced)
        self._schedule_service(now + SERVICE_EVERY)

    def _serviced(self, now: datetime) -> None:
        self.servicing = False
        self.event(now, "maintenance", technician=self.rng.choice(TECHNICIANS))
        self._set(now, mode="normal")
        self._idle(now)

    # -- faults ----------------------------------------------------------------------------------
    def check(self, fault: str, params: Params) -> None:
        super().check(fault, params)
        mode = params.get("mode", "fire")
        if fault == "fire_mode" and mode not in SPECIAL_MODES:
            raise ValueError(
                f"fire_mode: mode must be one of {', '.join(sorted(SPECIAL_MODES))}, not {mode!r}"
            )

    def on_fault(self, fault: str, params: Params, at: datetime) -> None:
        if fault not in EFFECTS:
            return
        self.cancel("step")
        self.servicing = self.waiting = False
        if self._trip is not None:
            self.state["floor"] = self._floor_at(at)
        self._trip, self.moving = None, False
        self.state.update(self.reported(at))
        self.state.update(floor=self._fault_floor(fault, int(self.state["floor"])))

    def _fault_floor(self, fault: str, floor: int) -> int:
        return {"overtravel_top": self.top, "overtravel_bottom": 1, "fire_mode": 1}.get(fault, floor)

    def on_clear(self, fault: str, at: datetime) -> None:
        if fault == "maintenance_skipped":  # the overdue visit is booked at once
            self.after("service", at, 600.0, self._service)
            return
        if fault in LATCHED:
            self.event(at, "maintenance", technician=self.rng.choice(TECHNICIANS))
        if self._frozen():
            return
        self.floor = int(self.state["floor"])
        self.state = {"floor": self.floor, **car(zone=True, door="closed", passenger=False)}
        self._idle(at)
