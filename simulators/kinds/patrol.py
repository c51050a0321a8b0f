"""Guards' patrol handsets: every round of every plan of the estate is walked on the plan's
schedule, so the gateway's patrol tracker finds each one completed on time.

Rounds and due times come from :mod:`alerts.patrol_plan`, the very code that judges them (pure,
no I/O: the one place simulators look beyond ``devices``, so the two can never disagree). A round
is walked in one go, in route order: the first scan a few minutes after its start (the tracker
wants one within 15), then a checkpoint every few minutes, each before its due time. Each plan
has its own team, with as many guards as its busiest window needs (``min_guards``), drawn in turn
from the estate's ``guards`` (made-up ids ``G1``… when it lists none: any id goes then); plans
are dealt to the estate's handsets in turn. A handset also reports its battery now and then.
"""

from __future__ import annotations

from bisect import insort
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from alerts.patrol_plan import PlannedRound, rounds_for_day
from devices.base import Kind
from devices.inventory import Estate
from simulators.kinds.base import DeviceSim, Duty, Fields, Params, Setup

PLAN_AHEAD = timedelta(days=1)
UNREGISTERED_CHECKPOINT = "CP-UNREGISTERED"


@dataclass(frozen=True, order=True)
class PlannedScan:
    at: datetime
    round_id: str
    index: int  # place on the route
    checkpoint: str
    guards: tuple[str, ...]


def assign_duties(estate: Estate) -> dict[str, tuple[Duty, ...]]:
    """Handset id → the plans its guards walk, with their team."""
    handsets = [d.id for d in estate.devices if d.kind is Kind.PATROL]
    if not handsets or not estate.patrols:
        return {}
    needs = [max(w.min_guards for w in plan.windows) for plan in estate.patrols]
    guards = [g.id for g in estate.guards] or [f"G{n}" for n in range(1, sum(needs) + 1)]
    out: dict[str, list[Duty]] = defaultdict(list)
    cursor = 0
    for i, (plan, need) in enumerate(zip(estate.patrols, needs, strict=True)):
        team = tuple(dict.fromkeys(guards[(cursor + j) % len(guards)] for j in range(need)))
        cursor += need
        out[handsets[i % len(handsets)]].append(Duty(plan, team))
    return {handset: tuple(duties) for handset, duties in out.items()}


class PatrolSim(DeviceSim):
    kind = Kind.PATROL
    custom_faults = frozenset(
        {"sos", "skip_checkpoint", "skip_round", "lone_guard", "out_of_order", "unknown_checkpoint"}
    )

    def __init__(self, setup: Setup) -> None:
        super().__init__(setup)
        self.battery = self.rng.uniform(60.0, 100.0)
        self.scans: list[PlannedScan] = []
        self._planned: set[str] = set()  # round ids already planned
        self.begun: set[str] = set()
        self.skipped: set[str] = set()

    def period(self) -> None:
        return None

    def values(self, at: datetime) -> Fields:
        return {"battery_pct": round(self.battery, 0)}

    def begin(self, now: datetime) -> None:
        self._plan(now)
        self.after("battery", now, self.rng.uniform(60, 1800), self._battery)

    def _battery(self, now: datetime) -> None:
        self.battery -= self.rng.uniform(1.0, 2.5)
        if self.battery < 20.0:
            self.battery = 100.0  # back on the charger at the guard room
        self.report(now)
        self.after("battery", now, self.rng.uniform(20, 40) * 60, self._battery)

    # -- planning and walking --------------------------------------------------------------------
    def _plan(self, now: datetime) -> None:
        horizon = now + PLAN_AHEAD
        tz = self.estate.tz
        first, last = (now.astimezone(tz).date() - timedelta(days=1)), horizon.astimezone(tz).date()
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        for duty in self.setup.duties:
            for rnd in (r for day in days for r in rounds_for_day(duty.plan, tz, day)):
                if rnd.end > now and rnd.start < horizon and rnd.id not in self._planned:
                    self._planned.add(rnd.id)
                    for scan in self._walk(rnd, duty):
                        if scan.at > now:
                            insort(self.scans, scan)
        self.after("plan", now, (PLAN_AHEAD / 2).total_seconds(), self._plan)
        self._arm()

    def _walk(self, rnd: PlannedRound, duty: Duty) -> list[PlannedScan]:
        guards = duty.guards[: max(1, rnd.min_guards)]
        when = rnd.start + timedelta(seconds=self.rng.uniform(60, 360))
        out: list[PlannedScan] = []
        for k, (checkpoint, due) in enumerate(rnd.due):
            if k:
                when += timedelta(seconds=self.rng.uniform(120, 360))
            when = min(when, due - timedelta(seconds=self.rng.uniform(30, 120)))
            if out and when <= out[-1].at:
                when = out[-1].at + timedelta(seconds=10)
            out.append(PlannedScan(when, rnd.id, k, checkpoint, guards))
        return out

    def _arm(self) -> None:
        if self.scans:
            self.at("scan", self.scans[0].at, self._scan)

    def _scan(self, now: datetime) -> None:
        while self.scans and self.scans[0].at <= now:
            self._walked(self.scans.pop(0), now)
        self._arm()

    def _walked(self, scan: PlannedScan, now: datetime) -> None:
        if scan.round_id in self.skipped:
            return
        if scan.round_id not in self.begun:
            if "skip_round" in self.active:
                self.skipped.add(scan.round_id)
                return
            self.begun.add(scan.round_id)
            if "out_of_order" in self.active:
                scan = self._swap(scan, now)
        if scan.checkpoint == self.active.get("skip_checkpoint", {}).get("checkpoint"):
            return
        guards = scan.guards[:1] if "lone_guard" in self.active else scan.guards
        self.event(now, "scan", checkpoint=scan.checkpoint, guards=list(guards))

    def _swap(self, scan: PlannedScan, now: datetime) -> PlannedScan:
        """Begin at the route's second checkpoint and go back to the first a minute later."""
        second = next((s for s in self.scans if s.round_id == scan.round_id and s.index == 1), None)
        if second is None:
            return scan
        self.scans.remove(second)
        insort(self.scans, replace(second, at=now + timedelta(seconds=60), checkpoint=scan.checkpoint))
        return replace(scan, checkpoint=second.checkpoint)

    # -- faults ----------------------------------------------------------------------------------
    def _routes(self) -> list[str]:
        return [cp for duty in self.setup.duties for cp in duty.plan.route]

    def _guards(self) -> list[str]:
        guards = [g for duty in self.setup.duties for g in duty.guards]
        return guards[:1] or [g.id for g in self.estate.guards[:1]] or ["G1"]

    def check(self, fault: str, params: Params) -> None:
        super().check(fault, params)
        walking = {"skip_checkpoint", "skip_round", "lone_guard", "out_of_order"}
        if fault in walking and not self.setup.duties:
            raise ValueError(f"fault {fault!r}: handset {self.config.id} walks no patrol plan")
        checkpoint = params.get("checkpoint")
        if fault == "skip_checkpoint" and checkpoint is not None and checkpoint not in self._routes():
            routes = ", ".join(dict.fromkeys(self._routes()))
            raise ValueError(
                f"skip_checkpoint: {checkpoint!r} is not on a route of {self.config.id} ({routes})"
            )

    def on_fault(self, fault: str, params: Params, at: datetime) -> None:
        if fault == "skip_checkpoint" and "checkpoint" not in params:
            self.active[fault] = {"checkpoint": self._routes()[0]}
        elif fault == "sos":
            self.event(at, "sos", guards=self._guards())
        elif fault == "unknown_checkpoint":
            self.event(at, "scan", checkpoint=UNREGISTERED_CHECKPOINT, guards=self._guards())
