"""The faults a simulated device can be given (``World.inject``), as data for scenario writers.

Each :class:`FaultSpec` names the device kinds it applies to and the alarm rules it is expected
to raise with the default rules (``alerts/catalogue.py``, ``alerts/patrol_plan.py``, and the
equipment ledger's ``maintenance.overdue`` for a skipped visit): on the
device itself, or — for patrol faults — on the rounds its guards walk. ``also`` lists rules it may
raise elsewhere as a consequence (a lamp out lowers the estate's 完好率; cameras behind a failed
switch each go offline). ``within_s`` is how long after injection the rules are due at the latest
when the device reports on its default period (None: it depends on the device's heartbeat or on
the patrol plan, see the description); on a patrol handset, what acts on rounds shows when the
next round starts. The behaviour itself lives in ``simulators/kinds/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from devices.base import Kind

L, W, A, LT, V, P = Kind.LIFT, Kind.WATER_TANK, Kind.ACCESS, Kind.LIGHT, Kind.CCTV, Kind.PATROL
#: Rule-id prefixes of each kind (the catalogue says ``water.`` for tank rules).
RULE_PREFIXES: Mapping[Kind, tuple[str, ...]] = {
    L: ("lift.",),
    W: ("water.", "water_tank."),
    A: ("access.",),
    LT: ("light.",),
    V: ("cctv.",),
    P: ("patrol.",),
}
#: The equipment ledger's alarms, on an asset of any kind (assets/model.py).
LEDGER_PREFIXES = ("maintenance.",)
MIN, HOUR, DAY = 60.0, 3600.0, 86_400.0


@dataclass(frozen=True)
class FaultSpec:
    name: str
    kinds: tuple[Kind, ...]
    rules: tuple[str, ...]
    description: str
    #: Parameter name → what it means (anything else is refused).
    params: Mapping[str, str] = field(default_factory=dict)
    #: Rules it may raise on other devices or estate-wide, as a consequence.
    also: tuple[str, ...] = ()
    #: Lasts until cleared (False: a one-off event; clearing it does nothing).
    lasting: bool = True
    within_s: float | None = 60.0
    #: The gateway's dead-letter reason for a deliberately bad message (no rule raised).
    dead_letter: str | None = None
    #: Only for devices with children in the inventory (a circuit's lamps, an NVR's cameras).
    needs_children: bool = False
    #: An estate-wide fault (no device, ``kinds`` empty): every device of the estate suffers this
    #: device fault from the same moment, and is rid of it when the estate's fault is cleared.
    estate_wide: str | None = None

    def rules_for(self, kind: Kind) -> tuple[str, ...]:
        """The expected rules on a device of ``kind`` (a generic fault names every kind's rule)."""
        return tuple(r for r in self.rules if r.startswith((*RULE_PREFIXES[kind], *LEDGER_PREFIXES)))


_LIFT = [
    FaultSpec(
        "entrapment",
        (L,),
        ("lift.entrapment", "lift.trapped_suspected"),
        "fault entrapment: car stuck between floors, doors closed, passenger inside",
    ),
    FaultSpec(
        "alarm_button", (L,), ("lift.entrapment",), "fault alarm_button: passenger at a landing, doors shut"
    ),
    FaultSpec(
        "unintended_movement",
        (L,),
        ("lift.unintended_movement",),
        "fault unintended_movement (latched: clearing sends fault_cleared and a technician's maintenance)",
    ),
    FaultSpec(
        "door_open_while_running",
        (L,),
        ("lift.unintended_movement",),
        "fault door_open_while_running (latched, cleared by maintenance)",
    ),
    FaultSpec(
        "overtravel_top", (L,), ("lift.overtravel",), "fault overtravel_top at the top floor (latched)"
    ),
    FaultSpec(
        "overtravel_bottom", (L,), ("lift.overtravel",), "fault overtravel_bottom at floor 1 (latched)"
    ),
    FaultSpec(
        "overspeed", (L,), ("lift.overtravel",), "fault overspeed, car held by the safety gear (latched)"
    ),
    FaultSpec(
        "safety_circuit_open", (L,), ("lift.safety_circuit",), "fault safety_circuit_open, car out of service"
    ),
    FaultSpec("door_lock_circuit_open", (L,), ("lift.safety_circuit",), "fault door_lock_circuit_open"),
    FaultSpec(
        "stopped_outside_door_zone",
        (L,),
        ("lift.stopped_outside_door_zone", "lift.stopped_empty"),
        "fault stopped_outside_door_zone; the empty car stays there",
        within_s=2 * MIN,
    ),
    FaultSpec("door_open_failure", (L,), ("lift.door_failure",), "fault door_open_failure, doors stay shut"),
    FaultSpec(
        "door_close_failure", (L,), ("lift.door_failure",), "fault door_close_failure, doors stay open"
    ),
    FaultSpec("position_lost", (L,), ("lift.position_lost",), "fault position_lost, car stopped"),
    FaultSpec(
        "motor_runtime_limiter",
        (L,),
        ("lift.runtime_limiter",),
        "fault motor_runtime_limiter (GB/T 24476 code 06), car stopped",
    ),
    FaultSpec(
        "restart_prevented",
        (L,),
        ("lift.restart_prevented",),
        "fault restart_prevented (GB/T 24476 code 08), car stopped",
    ),
    FaultSpec(
        "emergency_power", (L,), ("lift.emergency_power",), "no event: mode emergency_power, car at a landing"
    ),
    FaultSpec(
        "out_of_service",
        (L,),
        ("lift.out_of_service",),
        "no event: mode out_of_service with no fault that explains it; the alarm needs 10 min of it",
        within_s=10 * MIN + 2 * MIN,
    ),
    FaultSpec("power_loss", (L,), ("lift.power_loss",), "fault power_loss and power: outage in telemetry"),
    FaultSpec(
        "trapped",
        (L,),
        ("lift.trapped_suspected",),
        "no event: stopped outside the door zone, doors closed, passenger inside (≥ 30 s)",
    ),
    FaultSpec(
        "stopped_empty",
        (L,),
        ("lift.stopped_empty",),
        "no event: empty car stopped outside the door zone (≥ 60 s)",
        within_s=2 * MIN,
    ),
    FaultSpec(
        "fire_mode",
        (L,),
        ("lift.special_mode",),
        "fire return: car at floor 1, doors open, mode fire",
        params={"mode": "fire (default), firefighter or earthquake"},
    ),
    FaultSpec(
        "inspection_mode",
        (L,),
        ("lift.inspection_long",),
        "mode inspection, car parked; the alarm needs > 4 h of it",
        within_s=4 * HOUR + 2 * MIN,
    ),
    FaultSpec(
        "maintenance_skipped",
        (L,),
        ("maintenance.overdue",),
        "no maintenance visits (normally one every 14 days): the ledger's plan is overdue from the "
        "midnight after its 15th day",
        within_s=16 * DAY + 2 * HOUR,
    ),
]


_QUALITY_DELAY = 15 * MIN + 10 * MIN  # the rules' 15 min on-delay plus two 5-min reports
_WATER = [
    FaultSpec(
        "chlorine_low",
        (W,),
        ("water.chlorine_low", "water.chlorine_prealarm"),
        "free chlorine 0.02–0.045 mg/L",
        within_s=_QUALITY_DELAY,
    ),
    FaultSpec("chlorine_marginal", (W,), ("water.chlorine_prealarm",), "free chlorine 0.10–0.18 mg/L"),
    FaultSpec("chlorine_high", (W,), ("water.chlorine_high",), "free chlorine 2.2–2.8 mg/L"),
    FaultSpec("turbidity_high", (W,), ("water.turbidity",), "turbidity 1.5–3 NTU", within_s=_QUALITY_DELAY),
    FaultSpec("ph_low", (W,), ("water.ph_low",), "pH 6.0–6.3", within_s=_QUALITY_DELAY),
    FaultSpec("ph_high", (W,), ("water.ph_high",), "pH 8.8–9.2", within_s=_QUALITY_DELAY),
    FaultSpec("level_low", (W,), ("water.level_low",), "level 5–9 % (supply cut)"),
    FaultSpec("level_high", (W,), ("water.level_high",), "level 96–99 % (fill valve stuck, overflow)"),
    FaultSpec("hatch_open", (W,), ("water.hatch_open",), "hatch_open event; clearing sends hatch_closed"),
    FaultSpec(
        "flooding", (W,), ("water.flooding",), "flooding event (latched: a person clears it)", lasting=False
    ),
    FaultSpec("pump_fault", (W,), ("water.pump_fault",), "pump_fault event (latched)", lasting=False),
    FaultSpec(
        "analyser_stuck",
        (W,),
        ("water.analyser_flatline",),
        "the chlorine analyser repeats one value (alarm after 2 h unchanged)",
        within_s=2 * HOUR + 10 * MIN,
    ),
]


_ACCESS = [
    FaultSpec(
        "forced",
        (A,),
        ("access.forced", "access.held_open"),
        "forced event, the door stays open until cleared (then it closes and locks)",
        within_s=2 * MIN,
    ),
    FaultSpec(
        "held_open", (A,), ("access.held_open",), "granted, then the door is wedged open", within_s=2 * MIN
    ),
    FaultSpec(
        "denied_burst",
        (A,),
        ("access.denied_burst",),
        "`count` denied cards a few seconds apart, no grant between (≥ 5 raise the alarm)",
        params={"count": "denied attempts (default 5)"},
        lasting=False,
    ),
    FaultSpec("tamper", (A,), ("access.tamper",), "tamper event (latched)", lasting=False),
    FaultSpec(
        "fire_release",
        (A,),
        ("access.fire_locked",),
        "fire_release event but the lock stays engaged; clearing releases it for 31 min",
    ),
]

_LIGHT = [
    FaultSpec(
        "lamp_failure",
        (LT,),
        ("light.lamp_out",),
        "lamp_failure event and lamp_ok false; clearing sends lamp_restored",
        also=("light.circuit_lamps", "light.intact_rate"),
    ),
    FaultSpec("leakage", (LT,), ("light.leakage",), "leakage event (latched)", lasting=False),
    FaultSpec(
        "on_in_daylight",
        (LT,),
        ("light.on_in_daylight",),
        "stays on by day (alarm after 30 min of local daytime, 06:00–18:00)",
        within_s=40 * MIN,
    ),
    FaultSpec(
        "circuit_failure",
        (LT,),
        ("light.circuit_lamps", "light.lamp_out"),
        "a circuit and every lamp on it report lamp_failure and lamp_ok false",
        also=("light.lamp_out", "light.intact_rate"),
        needs_children=True,
    ),
]

_CCTV = [
    FaultSpec(
        "video_loss",
        (V,),
        ("cctv.video_loss", "cctv.recording_stopped"),
        "video_loss event, then heartbeats with recording false",
    ),
    FaultSpec(
        "disk_failure", (V,), ("cctv.disk_failure",), "disk_failure event, then heartbeats with disk_ok false"
    ),
    FaultSpec("recording_loss", (V,), ("cctv.recording_stopped",), "heartbeats with recording false"),
    FaultSpec("retention_short", (V,), ("cctv.retention",), "heartbeats with retention_days 12"),
    FaultSpec(
        "network_failure",
        (V,),
        ("cctv.group_offline",),
        "the switch behind an NVR fails: `count` of its cameras fall silent (default all)",
        params={"count": "cameras that fall silent (default all)"},
        also=("cctv.offline",),
        within_s=5 * MIN,
        needs_children=True,
    ),
]

_PATROL = [
    FaultSpec(
        "sos", (P,), ("patrol.sos",), "an SOS from the handset with its guards", lasting=False, within_s=5.0
    ),
    FaultSpec(
        "skip_checkpoint",
        (P,),
        ("patrol.checkpoint_missed", "patrol.round_incomplete"),
        "rounds walked with the handset leave out one checkpoint (missed at due + grace, "
        "incomplete when the round's slot ends)",
        params={"checkpoint": "the checkpoint left out (default the first of the handset's first route)"},
        within_s=None,
    ),
    FaultSpec(
        "skip_round",
        (P,),
        ("patrol.round_not_started",),
        "rounds of the handset that have not begun are not walked (alarm 15 min after their start)",
        within_s=None,
    ),
    FaultSpec(
        "lone_guard",
        (P,),
        ("patrol.too_few_guards",),
        "one guard walks rounds that need two (night windows with min_guards 2)",
        within_s=None,
    ),
    FaultSpec(
        "out_of_order",
        (P,),
        ("patrol.out_of_order",),
        "the next rounds begin at the route's second checkpoint, then go back to the first",
        within_s=None,
    ),
    FaultSpec(
        "unknown_checkpoint",
        (P,),
        (),
        "one scan of a checkpoint missing from the inventory",
        lasting=False,
        dead_letter="unknown_reference",
    ),
]

ALL_KINDS = tuple(Kind)
#: A device that falls silent: offline by its heartbeat; a handset's guards' scans are lost.
SILENCE_RULES = (
    "lift.offline",
    "water_tank.offline",
    "access.offline",
    "light.offline",
    "cctv.offline",
    "patrol.round_not_started",
)
_ANY = [
    FaultSpec(
        "offline",
        ALL_KINDS,
        SILENCE_RULES,
        "retained offline status, then silence until cleared (then online again); a handset's "
        "guards' scans are lost, so a round starting meanwhile is not started",
        within_s=5.0,
        # A silent lamp is unknown, not working (issue 24): the estate's 完好率 may fall below 95 %.
        also=("light.intact_rate",),
    ),
    FaultSpec(
        "silent",
        ALL_KINDS,
        SILENCE_RULES,
        "stops publishing (offline after 3 × its heartbeat); clearing resumes",
        within_s=None,
        # A silent lamp is unknown, not working (issue 24): the estate's 完好率 may fall below 95 %.
        also=("light.intact_rate",),
    ),
    FaultSpec(
        "malformed",
        ALL_KINDS,
        (),
        "one telemetry payload that is not valid JSON",
        lasting=False,
        dead_letter="malformed_json",
    ),
    FaultSpec(
        "oversized",
        ALL_KINDS,
        (),
        "one telemetry payload larger than 64 KiB",
        lasting=False,
        dead_letter="oversized",
    ),
]

_ESTATE = [
    FaultSpec(
        "uplink_down",
        (),
        ("estate.feed_lost",),
        "the estate's uplink is down (a step without a device): every device silent, its messages "
        "lost, until cleared; the estate's timers wait, one estate.feed_lost after 3 min without a "
        "message, no device alarm",
        within_s=4 * MIN,
        estate_wide="silent",
    ),
]

FAULTS: dict[str, FaultSpec] = {
    f.name: f for f in (*_LIFT, *_WATER, *_ACCESS, *_LIGHT, *_CCTV, *_PATROL, *_ANY, *_ESTATE)
}


def faults_for(kind: Kind) -> list[str]:
    """The faults a device of ``kind`` can be given (estate-wide ones are not a device's)."""
    return sorted(name for name, spec in FAULTS.items() if kind in spec.kinds)
