"""One estate's KPIs for one local day, from the raw records: a pure function, so a rollup can be
recomputed for any past day and checked against a recomputation by hand.

Each KPI is stored as a numerator and a denominator (plus its percentage), so that a month, a
quarter, a street or a district sums them before dividing (reports/summary.py):

- **lamp 完好率** (end of day, :func:`alerts.kpis.lamp_intact`): lamps working / lamps; a lamp whose
  controller is silent is *unknown*, not working;
- **camera online rate**: camera-minutes online / camera-minutes (cameras: CCTV devices that are
  not an NVR); offline = the camera's ``cctv.offline`` alarm active;
- **lift availability**: minutes in service / minutes in the day, per lift and per estate; out of
  service = an alarm of :data:`OUT_OF_SERVICE` active (entrapments and out-of-service periods listed);
- **维修及时率**: work orders *decided* in the day (resolved in time, or a deadline missed, at the
  moment it was missed) that met every deadline / all decided; cancelled orders never count;
- **patrol compliance**: rounds *closed* in the day (a night round closes the next morning) that
  met their plan — every checkpoint, with the window's minimum guards at each — / rounds closed;
- **alarm KPIs** (ISA-18.2 / EEMUA 191): activations (a raise or a return), activations per
  10 minutes for the estate and for its *operator position* (the control-room desk that watches
  it: all its estates' activations), % of the day's fixed 10-minute periods in flood (> 10
  activations at the position), stale alarms (active > 24 h at the end of the day), chattering
  alarms, priority mix, top-10 bad actors.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from alerts.engine_core import LAMP_OUT_RULE
from alerts.kpis import ACTIVATIONS, TEN_MIN, active_since, active_spans, alarm_kpis, lamp_intact, merge
from alerts.model import Alert
from alerts.patrol_records import Verdict, compliance
from devices.base import Kind
from devices.inventory import Estate
from dispatch.model import OrderState, WorkOrder

#: Lift alarms during which the lift is out of service (GB/T 24476 faults that stop the car, and
#: modes no passenger may use). A silent terminal (``lift.offline``) is unknown, not a stoppage.
OUT_OF_SERVICE = frozenset(
    {
        "lift.entrapment",
        "lift.trapped_suspected",
        "lift.unintended_movement",
        "lift.overtravel",
        "lift.safety_circuit",
        "lift.stopped_outside_door_zone",
        "lift.stopped_empty",
        "lift.position_lost",
        "lift.power_loss",
        "lift.special_mode",
    }
)
ENTRAPMENT = frozenset({"lift.entrapment", "lift.trapped_suspected"})
CAMERA_OFFLINE = "cctv.offline"
LIGHT_OFFLINE = "light.offline"
#: ISA-18.2: more than 10 alarms in 10 minutes at one console is a flood.
FLOOD_ABOVE = 10
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Target:
    value: float
    #: ``min``: the figure must be at least ``value``; ``max``: at most.
    kind: str
    source: str

    def met(self, figure: float | None) -> bool | None:
        if figure is None:
            return None
        return figure >= self.value if self.kind == "min" else figure <= self.value

    def to_json(self) -> dict[str, Any]:
        return {"target": self.value, "kind": self.kind, "source": self.source}


#: Each KPI's target: the estate service standards and ISA-18.2 / EEMUA 191 (docs/contract.md §8.1).
TARGETS: Mapping[str, Target] = {
    "lamp_intact_pct": Target(95.0, "min", "estate service standard: lamps 完好率 ≥ 95 %"),
    "camera_online_pct": Target(95.0, "min", "CCTV: camera online rate ≥ 95 % (contract practice)"),
    "lift_availability_pct": Target(100.0, "min", "estate service standard: passenger lifts run 24 h a day"),
    "repair_timely_pct": Target(90.0, "min", "estate service standard: 维修及时率 ≥ 90 %"),
    "patrol_compliance_pct": Target(100.0, "min", "GA/T 644 / seed: every planned round, with its guards"),
    "position_per_10min": Target(1.0, "max", "EEMUA 191: ≤ 1 alarm per 10 min per operator"),
    "flood_pct": Target(1.0, "max", "ISA-18.2: < 1 % of 10-minute periods in flood"),
    "stale": Target(0.0, "max", "ISA-18.2: no alarm active > 24 h (practice: none)"),
    "chattering": Target(0.0, "max", "ISA-18.2: no chattering alarm (practice: none)"),
}


def targets_for(estate: Estate) -> dict[str, Target]:
    """The estate's targets: its inventory ``kpi_targets`` over the defaults (:data:`TARGETS`)."""
    own = f"estate {estate.id}: inventory kpi_targets"
    return {
        name: Target(estate.kpi_targets[name], t.kind, own) if name in estate.kpi_targets else t
        for name, t in TARGETS.items()
    }


def common_targets(estates: Iterable[Estate]) -> dict[str, Target]:
    """The targets of a set of estates (a region): an estate's own where every estate has the same,
    else the default."""
    out = dict(TARGETS)
    each = [targets_for(e) for e in estates]
    for name in TARGETS:
        values = {t[name].value for t in each}
        if len(values) == 1 and each[0][name] is not TARGETS[name]:
            out[name] = each[0][name]
    return out


def judged(row: Mapping[str, Any], targets: Mapping[str, Target]) -> dict[str, dict[str, Any]]:
    """Each target with its figure in ``row`` and whether it is met (None: no figure)."""
    return {
        name: {"value": row.get(name), **t.to_json(), "met": t.met(row.get(name))}
        for name, t in targets.items()
    }


@dataclass(frozen=True)
class DayInputs:
    """The raw records one estate-day is computed from."""

    estate: Estate
    day: date
    #: The estate's alerts that may have been active in the day (``AlertStore.overlapping``).
    alerts: Sequence[Alert]
    position: str
    #: Alerts of every estate of the position that may have been active in the day.
    position_alerts: Sequence[Alert]
    #: The estate's work orders that may have been decided in the day.
    orders: Sequence[WorkOrder]
    #: The estate's patrol rounds closed in the day.
    verdicts: Sequence[Verdict]


def day_bounds(estate: Estate, day: date) -> tuple[datetime, datetime]:
    """[local midnight, next local midnight) in UTC (23 or 25 h on a daylight-saving day)."""
    start = datetime.combine(day, time(0), tzinfo=estate.tz).astimezone(UTC)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=estate.tz).astimezone(UTC)


def pct(part: float, whole: float) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def minutes(spans: Iterable[tuple[datetime, datetime]]) -> float:
    return sum((b - a).total_seconds() for a, b in spans) / 60


def _active_at_end(alerts: Sequence[Alert], rule: str, stop: datetime) -> set[str]:
    return {a.device for a in alerts if a.rule == rule and a.device and active_since(a, stop - _TICK)}


def _spans_by_device(
    alerts: Sequence[Alert], rules: frozenset[str], start: datetime, stop: datetime
) -> dict[str, list[tuple[datetime, datetime, str]]]:
    out: dict[str, list[tuple[datetime, datetime, str]]] = {}
    for a in alerts:
        if a.rule in rules and a.device:
            out.setdefault(a.device, []).extend((b, e, a.rule) for b, e in active_spans(a, start, stop))
    return out


def lamps_row(inp: DayInputs, stop: datetime) -> dict[str, Any]:
    ids = [d.id for d in inp.estate.devices if d.kind is Kind.LIGHT and d.parent is not None]
    lamps = lamp_intact(
        ids, _active_at_end(inp.alerts, LAMP_OUT_RULE, stop), _active_at_end(inp.alerts, LIGHT_OFFLINE, stop)
    )
    return {
        "lamps_total": lamps.total,
        "lamps_working": lamps.working,
        "lamps_failed": lamps.failed,
        "lamps_unknown": lamps.unknown,
        "lamp_intact_pct": pct(lamps.working, lamps.total),
    }


def cameras_row(inp: DayInputs, start: datetime, stop: datetime) -> dict[str, Any]:
    parents = {d.parent for d in inp.estate.devices if d.parent is not None}
    cameras = [d.id for d in inp.estate.devices if d.kind is Kind.CCTV and d.id not in parents]
    day_min = (stop - start).total_seconds() / 60
    down = _spans_by_device(inp.alerts, frozenset({CAMERA_OFFLINE}), start, stop)
    offline = sum(minutes(merge((b, e) for b, e, _ in down.get(c, []))) for c in cameras)
    total = day_min * len(cameras)
    return {
        "camera_minutes": round(total, 3),
        "camera_online_minutes": round(total - offline, 3),
        "camera_online_pct": pct(total - offline, total),
    }


def lifts_row(inp: DayInputs, start: datetime, stop: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    lifts = [d.id for d in inp.estate.devices if d.kind is Kind.LIFT]
    day_min = (stop - start).total_seconds() / 60
    down = _spans_by_device(inp.alerts, OUT_OF_SERVICE, start, stop)
    per_lift: dict[str, dict[str, Any]] = {}
    periods: list[dict[str, str]] = []
    entrapments: list[dict[str, str]] = []
    served = 0.0
    for lift in lifts:
        spans = down.get(lift, [])
        out = minutes(merge((b, e) for b, e, _ in spans))
        served += day_min - out
        per_lift[lift] = {
            "minutes": round(day_min, 3),
            "in_service_minutes": round(day_min - out, 3),
            "availability_pct": pct(day_min - out, day_min),
        }
        for b, e, rule in sorted(spans):
            periods.append({"lift": lift, "rule": rule, "from": b.isoformat(), "to": e.isoformat()})
        # One entrapment however many of its alarms were raised (a fault code and the suspicion).
        trapped = [(b, e) for b, e, rule in spans if rule in ENTRAPMENT]
        for b, e in merge(trapped):
            rules = sorted({r for sb, se, r in spans if r in ENTRAPMENT and sb < e and se > b})
            entrapments.append(
                {"lift": lift, "rule": ",".join(rules), "from": b.isoformat(), "to": e.isoformat()}
            )
    total = day_min * len(lifts)
    row = {
        "lift_minutes": round(total, 3),
        "lift_service_minutes": round(served, 3),
        "lift_availability_pct": pct(served, total),
        "entrapments": len(entrapments),
    }
    return row, {"lifts": per_lift, "out_of_service": periods, "entrapments": entrapments}


def decided_at(order: WorkOrder) -> datetime | None:
    """When the order's timeliness became known: the first deadline it missed, else its resolution."""
    missed = [due for step in order.breached if (due := order.due(step)) is not None]
    if missed:
        return min(missed)
    return order.resolved_at if order.state in (OrderState.RESOLVED, OrderState.CLOSED) else None


def repairs_row(inp: DayInputs, start: datetime, stop: datetime) -> dict[str, Any]:
    decided = [
        o
        for o in inp.orders
        if o.state is not OrderState.CANCELLED and (at := decided_at(o)) is not None and start <= at < stop
    ]
    on_time = sum(1 for o in decided if not o.breached)
    return {
        "repairs_decided": len(decided),
        "repairs_on_time": on_time,
        "repair_timely_pct": pct(on_time, len(decided)),
    }


def patrols_row(inp: DayInputs) -> dict[str, Any]:
    done, closed = compliance(inp.verdicts)
    return {"rounds_closed": closed, "rounds_done": done, "patrol_compliance_pct": pct(done, closed)}


def _activations(alerts: Sequence[Alert], start: datetime, stop: datetime) -> list[datetime]:
    return sorted(h.at for a in alerts for h in a.history if h.action in ACTIVATIONS and start <= h.at < stop)


def alarms_row(inp: DayInputs, start: datetime, stop: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    periods = math.ceil((stop - start) / TEN_MIN)
    estate_acts = _activations(inp.alerts, start, stop)
    position_acts = _activations(inp.position_alerts, start, stop)
    buckets = Counter(int((at - start) / TEN_MIN) for at in position_acts)
    flooded = sum(1 for n in buckets.values() if n > FLOOD_ABOVE)
    kpis = alarm_kpis(inp.alerts, (), start, stop, stop)
    row = {
        "activations": len(estate_acts),
        "alarms_per_10min": round(len(estate_acts) / periods, 4),
        "position_activations": len(position_acts),
        "position_per_10min": round(len(position_acts) / periods, 4),
        "periods": periods,
        "flood_periods": flooded,
        "flood_pct": pct(flooded, periods),
        "stale": kpis.stale,
        "chattering": kpis.chattering,
    }
    detail = {
        "peak_10_min": kpis.peak_10_min,
        "priority_mix_pct": kpis.priority_mix_pct,
        "bad_actors": kpis.bad_actors,
    }
    return row, detail


def estate_day(inp: DayInputs) -> dict[str, Any]:
    """The rollup row of one estate-day: flat figures (for sums and for Grafana) and ``detail``."""
    start, stop = day_bounds(inp.estate, inp.day)
    lifts, lift_detail = lifts_row(inp, start, stop)
    alarms, alarm_detail = alarms_row(inp, start, stop)
    return {
        "estate": inp.estate.id,
        "day": inp.day,
        "region": inp.estate.region,
        "position": inp.position,
        **lamps_row(inp, stop),
        **cameras_row(inp, start, stop),
        **lifts,
        **repairs_row(inp, start, stop),
        **patrols_row(inp),
        **alarms,
        "detail": {
            **lift_detail,
            **alarm_detail,
            # The targets the day was judged by (the inventory's may change later).
            "targets": {name: t.value for name, t in targets_for(inp.estate).items()},
        },
    }
