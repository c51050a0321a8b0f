"""Guard-tour rounds (电子巡更, docs/contract.md §6, GA/T 644): planning and judging, pure functions of time.

**Planning.** A window's rounds share it evenly: with ``slot = window length / rounds``, round ``i``
(from 0) runs ``[start + i·slot, start + (i+1)·slot)``, and checkpoint ``k`` (from 0) of a route of
``n`` is due at ``round start + (k+1)·slot/n``: a guard walking at an even pace meets every due
time, and the last checkpoint is due exactly when the round's slot ends. Window bounds are local
wall-clock times in the estate's zone; a window whose end is not after its start (18:00–06:00) ends
on the next local day, and the rounds "of a day" are those whose window *starts* on that local day.
The slot is split in absolute time, so on a daylight-saving day every round keeps an equal share.
All times are timezone-aware UTC.

**Judging.** :func:`judge` says which findings hold for a round at an instant, given its scans:
- not started: no scan ``start_within`` after its start (one alarm, not one per checkpoint);
- checkpoint missed: not scanned by its due time + grace, while the round's slot (+ grace) lasts;
- round incomplete: checkpoints unscanned after the slot's end + grace (one alarm naming them all
  replaces the per-checkpoint ones; the last checkpoint, due at the slot's end, goes straight here);
- too few guards: fewer distinct guards at a checkpoint than ``min_guards``, over all its scans;
- out of order: a checkpoint first reached after one that comes later on the route (a warning).
The tracker turns the difference between two judgements into raise and clear signals; judging a
level rather than reacting to edges means a missed tick, a late-delivered scan or a restart can
neither lose nor repeat a finding. An instant equal to a deadline is still in time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from devices.base import Severity
from devices.inventory import PatrolPlan, PatrolWindow


class RoundStatus(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    LATE = "late"
    #: Every checkpoint scanned, but by fewer guards than the window's minimum at one of them (a
    #: night round walked alone): the plan was not met.
    SHORT_HANDED = "short_handed"
    INCOMPLETE = "incomplete"
    MISSED = "missed"


class PatrolRule(StrEnum):
    CHECKPOINT_MISSED = "patrol.checkpoint_missed"
    ROUND_NOT_STARTED = "patrol.round_not_started"
    ROUND_INCOMPLETE = "patrol.round_incomplete"
    TOO_FEW_GUARDS = "patrol.too_few_guards"
    OUT_OF_ORDER = "patrol.out_of_order"
    UNKNOWN = "patrol.unknown"
    SOS = "patrol.sos"


#: Rules as data (as alerts.catalogue): each rule's severity and (zh-CN, English) messages.
SEVERITY: Mapping[PatrolRule, Severity] = {
    PatrolRule.CHECKPOINT_MISSED: Severity.MINOR,
    PatrolRule.ROUND_NOT_STARTED: Severity.MAJOR,
    PatrolRule.ROUND_INCOMPLETE: Severity.MINOR,
    PatrolRule.TOO_FEW_GUARDS: Severity.MAJOR,
    PatrolRule.OUT_OF_ORDER: Severity.INFO,
    PatrolRule.UNKNOWN: Severity.INFO,
    PatrolRule.SOS: Severity.CRITICAL,
}
#: (zh-CN, English). ``{round}``/``{round_en}`` name the round with its local times.
ROUND = (
    "巡更{plan} {window}第{number}轮（{start}–{end}）",
    "Patrol {plan} {window} round {number} ({start}–{end})",
)
MESSAGES: Mapping[PatrolRule, tuple[str, str]] = {
    PatrolRule.CHECKPOINT_MISSED: (
        "{round}：巡更点{checkpoint}未按时到达（应于{due}前，宽限{grace}分钟）",
        "{round_en}: checkpoint {checkpoint} not reached by {due} (+{grace} min grace)",
    ),
    PatrolRule.ROUND_NOT_STARTED: ("{round}未按时开始", "{round_en} not started"),
    PatrolRule.ROUND_INCOMPLETE: (
        "{round}未完成：漏巡{missing}",
        "{round_en} incomplete: {missing} not scanned",
    ),
    PatrolRule.TOO_FEW_GUARDS: (
        "{round}人数不足：{checkpoints}仅{fewest}人，应至少{min_guards}人同行",
        "{round_en}: too few guards at {checkpoints} ({fewest}; at least {min_guards} together)",
    ),
    PatrolRule.OUT_OF_ORDER: (
        "{round}未按路线顺序：{checkpoint}在{after}之后巡查",
        "{round_en} out of route order: {checkpoint} scanned after {after}",
    ),
    PatrolRule.UNKNOWN: (
        "巡更机{handset}上报未登记的{what_zh}",
        "Patrol handset {handset} reported unregistered {what}",
    ),
    PatrolRule.SOS: (
        "巡更机{handset}紧急求助（SOS）：{guards}",
        "SOS from patrol handset {handset}: {guards}",
    ),
}

STATUS_ZH: Mapping[RoundStatus, str] = {
    RoundStatus.SCHEDULED: "未开始",
    RoundStatus.IN_PROGRESS: "进行中",
    RoundStatus.COMPLETED: "已完成",
    RoundStatus.LATE: "迟到完成",
    RoundStatus.SHORT_HANDED: "人数不足",
    RoundStatus.INCOMPLETE: "未完成",
    RoundStatus.MISSED: "漏巡",
}


@dataclass(frozen=True)
class PatrolPolicy:
    """The guard-tour figures (GA/T 644; docs/rules.md §7) that are not in the plan (grace is the
    plan's ``grace_min``)."""

    #: A round with no scan this long after its start raises ``patrol.round_not_started``.
    start_within: timedelta = timedelta(minutes=15)
    #: A scan this long before a round's start may begin it (a guard setting off a little early).
    early_start: timedelta = timedelta(minutes=15)
    #: Guards at a checkpoint are counted this long after its first scan: two guards with a handset
    #: each scan a few seconds apart, and the second must not find an alarm already raised.
    guard_settle: timedelta = timedelta(minutes=2)


@dataclass(frozen=True)
class PlannedRound:
    plan: str
    window: str
    day: date  # local day on which the round's window starts
    index: int  # from 0 within the window
    start: datetime
    end: datetime  # end of the round's slot
    window_end: datetime
    due: tuple[tuple[str, datetime], ...]  # (checkpoint, due time) in route order
    min_guards: int
    grace: timedelta

    @property
    def id(self) -> str:
        return f"{self.plan}/{self.day.isoformat()}/{self.window}/{self.number}"

    @property
    def number(self) -> int:
        """1-based, as people count rounds (第 1 轮)."""
        return self.index + 1

    @property
    def route(self) -> tuple[str, ...]:
        return tuple(checkpoint for checkpoint, _ in self.due)

    @property
    def overdue(self) -> datetime:
        """After this the round's own time is up: it is judged as a whole (complete or not)."""
        return self.end + self.grace

    @property
    def closes(self) -> datetime:
        """After this no scan can change the round any more: its verdict is final.

        Until its window ends (plus grace, so the window's last checkpoint keeps its grace too) a
        round still accepts late scans: a checkpoint reached late makes the round late, not incomplete.
        """
        return self.window_end + self.grace

    def deadline(self, checkpoint: str) -> datetime:
        return dict(self.due)[checkpoint] + self.grace


@dataclass(frozen=True)
class Scan:
    at: datetime
    checkpoint: str
    guards: tuple[str, ...]  # known guards only: an unregistered id must not make up a pair
    handset: str

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "checkpoint": self.checkpoint,
            "guards": list(self.guards),
            "handset": self.handset,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scan:
        at = utc(datetime.fromisoformat(data["at"]))
        return cls(at, str(data["checkpoint"]), tuple(map(str, data["guards"])), str(data["handset"]))


FindingKey = tuple[PatrolRule, str | None]


@dataclass(frozen=True)
class Finding:
    """Something wrong with a round; ``detail`` (ids, counts, times) fills in its messages."""

    rule: PatrolRule
    checkpoint: str | None = None
    detail: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> FindingKey:
        return self.rule, self.checkpoint

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule.value, "checkpoint": self.checkpoint, "detail": dict(self.detail)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finding:
        detail = {str(k): str(v) for k, v in data["detail"].items()}
        return cls(PatrolRule(data["rule"]), data["checkpoint"], detail)


def utc(when: datetime) -> datetime:
    """``when`` in UTC; a naive time would silently take the server's zone, so it is refused."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{when!r} has no time zone")
    return when.astimezone(UTC)


# -- planning ---------------------------------------------------------------------------------------


def _at(day: date, clock: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)


def _window_rounds(plan: PatrolPlan, window: PatrolWindow, tz: ZoneInfo, day: date) -> Iterator[PlannedRound]:
    start = _at(day, window.start, tz)
    end = _at(day + timedelta(days=window.end <= window.start), window.end, tz)
    bounds = [start + (end - start) * i / window.rounds for i in range(window.rounds + 1)]
    route = tuple(dict.fromkeys(plan.route))  # a checkpoint listed twice is due once, at its first place
    for i in range(window.rounds):
        slot = bounds[i + 1] - bounds[i]
        due = tuple((cp, bounds[i] + slot * (k + 1) / len(route)) for k, cp in enumerate(route))
        yield PlannedRound(
            plan.id,
            window.name,
            day,
            i,
            bounds[i],
            bounds[i + 1],
            end,
            due,
            window.min_guards,
            timedelta(minutes=plan.grace_min),
        )


def rounds_for_day(plan: PatrolPlan, tz: ZoneInfo, day: date) -> list[PlannedRound]:
    """The rounds of every window of ``plan`` that starts on local ``day``, by start time."""
    rounds = (r for window in plan.windows for r in _window_rounds(plan, window, tz, day))
    return sorted(rounds, key=lambda r: (r.start, r.window))


def rounds_between(plan: PatrolPlan, tz: ZoneInfo, start: datetime, end: datetime) -> list[PlannedRound]:
    """Rounds whose slot overlaps ``[start, end)``, including those of windows begun the day before."""
    start, end = utc(start), utc(end)
    first, last = start.astimezone(tz).date() - timedelta(days=1), end.astimezone(tz).date()
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [r for day in days for r in rounds_for_day(plan, tz, day) if r.start < end and r.end > start]


# -- judging ----------------------------------------------------------------------------------------


def first_scans(rnd: PlannedRound, scans: Sequence[Scan]) -> dict[str, Scan]:
    """The earliest scan of each checkpoint of the route: a repeat counts once."""
    firsts: dict[str, Scan] = {}
    for scan in sorted(scans, key=lambda s: s.at):
        if scan.checkpoint in rnd.route:
            firsts.setdefault(scan.checkpoint, scan)
    return firsts


def guards_at(scans: Sequence[Scan]) -> dict[str, set[str]]:
    """Guards seen at each checkpoint over all its scans (each guard may carry a handset)."""
    seen: dict[str, set[str]] = {}
    for scan in scans:
        seen.setdefault(scan.checkpoint, set()).update(scan.guards)
    return seen


def status(rnd: PlannedRound, scans: Sequence[Scan], now: datetime) -> RoundStatus:
    firsts = first_scans(rnd, scans)
    if len(firsts) == len(rnd.route):
        seen = guards_at(scans)
        if any(len(seen.get(cp, ())) < rnd.min_guards for cp in rnd.route):
            return RoundStatus.SHORT_HANDED
        on_time = all(scan.at <= rnd.deadline(cp) for cp, scan in firsts.items())
        return RoundStatus.COMPLETED if on_time else RoundStatus.LATE
    if not firsts:
        # A round unstarted when its slot ends can never start: later scans go to the next round.
        return RoundStatus.MISSED if now >= rnd.end else RoundStatus.SCHEDULED
    return RoundStatus.INCOMPLETE if now > rnd.overdue else RoundStatus.IN_PROGRESS


def judge(rnd: PlannedRound, scans: Sequence[Scan], at: datetime, policy: PatrolPolicy) -> list[Finding]:
    """What is wrong with ``rnd`` at ``at``. An unstarted round raises one alarm, not one per checkpoint."""
    firsts = first_scans(rnd, scans)
    if not firsts:
        late = at > rnd.start + policy.start_within
        return [Finding(PatrolRule.ROUND_NOT_STARTED)] if late else []
    return [*_timing(rnd, firsts, at), *_guards(rnd, scans, firsts, at, policy), *_order(rnd, firsts)]


def _timing(rnd: PlannedRound, firsts: Mapping[str, Scan], at: datetime) -> list[Finding]:
    missing = [cp for cp in rnd.route if cp not in firsts]
    if at > rnd.overdue:
        # The round's time is up: one alarm naming what is missing replaces one per checkpoint.
        return (
            [Finding(PatrolRule.ROUND_INCOMPLETE, None, {"missing": ", ".join(missing)})] if missing else []
        )
    return [Finding(PatrolRule.CHECKPOINT_MISSED, cp) for cp in missing if at > rnd.deadline(cp)]


def _guards(
    rnd: PlannedRound, scans: Sequence[Scan], firsts: Mapping[str, Scan], at: datetime, policy: PatrolPolicy
) -> list[Finding]:
    seen = guards_at(scans)
    settled = [cp for cp, scan in firsts.items() if at > scan.at + policy.guard_settle or at > rnd.overdue]
    short = [cp for cp in settled if len(seen[cp]) < rnd.min_guards]
    if not short:
        return []
    fewest = min(len(seen[cp]) for cp in short)
    detail = {"checkpoints": ", ".join(short), "fewest": str(fewest), "min_guards": str(rnd.min_guards)}
    return [Finding(PatrolRule.TOO_FEW_GUARDS, None, detail)]


def _order(rnd: PlannedRound, firsts: Mapping[str, Scan]) -> list[Finding]:
    """Out of order: a checkpoint first reached after one that comes later on the route."""
    place = {cp: k for k, cp in enumerate(rnd.route)}
    furthest = -1
    for scan in sorted(firsts.values(), key=lambda s: s.at):
        k = place[scan.checkpoint]
        if k < furthest:
            # One per round: the first inversion says enough, and a later one must not re-raise.
            detail = {"checkpoint": scan.checkpoint, "after": rnd.route[furthest]}
            return [Finding(PatrolRule.OUT_OF_ORDER, None, detail)]
        furthest = k
    return []


def round_report(
    rnd: PlannedRound, scans: Sequence[Scan], now: datetime, policy: PatrolPolicy, *, watched: bool
) -> dict[str, Any]:
    """One round as GET /api/patrols shows it: plan, times, status, checkpoints, scans, findings."""
    firsts, seen = first_scans(rnd, scans), guards_at(scans)
    checkpoints = [
        {
            "checkpoint": cp,
            "due": due.isoformat(),
            "scanned_at": firsts[cp].at.isoformat() if cp in firsts else None,
            "on_time": firsts[cp].at <= rnd.deadline(cp) if cp in firsts else None,
            "guards": sorted(seen.get(cp, ())),
        }
        for cp, due in rnd.due
    ]
    return {
        "id": rnd.id,
        "plan": rnd.plan,
        "window": rnd.window,
        "index": rnd.index,
        "start": rnd.start.isoformat(),
        "end": rnd.end.isoformat(),
        "min_guards": rnd.min_guards,
        "grace_min": int(rnd.grace.total_seconds() // 60),
        "status": status(rnd, scans, now).value,
        "watched": watched,
        "checkpoints": checkpoints,
        "scans": [scan.to_json() for scan in scans],
        "findings": [f.rule.value for f in judge(rnd, scans, now, policy)] if watched else [],
    }
