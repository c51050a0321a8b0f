"""Guard-tour tracking for one estate (docs/contract.md §6, GA/T 644): scans, SOS and time → patrol signals.

Pure and clock-injected: no I/O, no threads, no alert book. The engine hands it each patrol reading
(:meth:`PatrolTracker.on_reading`) and each tick (:meth:`PatrolTracker.tick`) and turns the returned
:class:`PatrolSignal` s into alerts (raise, or clear when ``clear``); ``patrol.unknown`` signals
describe bad input, for a dead letter. Plans and judging rules are in :mod:`alerts.patrol_plan`.

**Matching a scan to a round.** Among the open rounds of the plans whose route has the checkpoint
(open from ``early_start`` before a round's start until it closes), the most recent start wins in:
1. a started round that still lacks the checkpoint (the guard is finishing it, perhaps late);
2. the round whose slot holds the scan time, lacking the checkpoint;
3. the next round, starting within ``early_start``;
4. else it repeats a checkpoint of the latest started round: counted once, though its guards count.
A scan outside every round of those plans is not recorded.

**How long an alert lasts.** A round's alert is active while a scan could still put the round right,
and clears when one does (a checkpoint reached late, a second guard, a late start). When the round
closes (its window's end + grace) its verdict is final and its still-active findings clear, with the
verdict in the message: a finished round is a fact that cannot return to normal, so its alerts wait,
cleared, for an acknowledgement (ISA-18.2 "returned to normal, unacknowledged") and close on it
rather than staying open for ever. A finding first seen at the close is raised and cleared at once.

**Watching.** Rounds that began before ``since`` (when the tracker started watching, kept across
restarts by :meth:`snapshot`/:meth:`restore`) are never judged: their early scans may be unknown.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alerts.patrol_plan import (
    MESSAGES,
    ROUND,
    SEVERITY,
    STATUS_ZH,
    Finding,
    FindingKey,
    PatrolPolicy,
    PatrolRule,
    PlannedRound,
    RoundStatus,
    Scan,
    judge,
    round_report,
    rounds_for_day,
    status,
    utc,
)
from devices.base import Reading, Severity
from devices.clock import from_ns
from devices.inventory import Checkpoint, Estate, Guard, PatrolPlan
from devices.kinds.patrol import PatrolEvent

SNAPSHOT_VERSION = 1
#: A round may stay open 48 h (a 24-hour window plus up to 24 h grace): the tracker keeps, judges
#: and snapshots the rounds of today and the two days before.
KEEP_DAYS = 2
DONE = frozenset({RoundStatus.COMPLETED, RoundStatus.LATE})

RESOLVED = ("已补正", "put right")
SUPERSEDED = ("并入本轮未完成报警", "now part of the round-incomplete alert")


@dataclass(frozen=True)
class PatrolSignal:
    """One thing for the alert book: raise (or, with ``clear``, clear) the alert of ``key``."""

    rule: PatrolRule
    severity: Severity
    #: ``{plan}/{day}/{window}/{number}/{rule}[/{checkpoint}]`` for a round: one alert per round and
    #: rule (per checkpoint for a missed one); ``{handset}/{rule}`` for SOS and unknown ids.
    key: str
    message: str
    message_en: str
    at: datetime
    clear: bool = False
    handset: str | None = None
    plan: str | None = None
    round_id: str | None = None
    checkpoint: str | None = None
    building: str | None = None


@dataclass
class _Record:
    """What the tracker knows of one round: its scans, the findings raised and not cleared, the end."""

    scans: list[Scan] = field(default_factory=list)
    raised: dict[FindingKey, Finding] = field(default_factory=dict)
    final: bool = False

    def to_json(self) -> dict[str, Any]:
        scans, raised = [s.to_json() for s in self.scans], [f.to_json() for f in self.raised.values()]
        return {"final": self.final, "raised": raised, "scans": scans}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _Record:
        raised = [Finding.from_json(f) for f in data["raised"]]
        scans = sorted((Scan.from_json(s) for s in data["scans"]), key=_at)
        return cls(scans, {f.key: f for f in raised}, bool(data["final"]))


class PatrolTracker:
    """One estate's patrols: rounds planned, scans recorded, findings raised. Not thread-safe: only
    the alarm engine calls it; readers use the record in SQL (alerts/patrol_records.py)."""

    def __init__(
        self,
        plans: Sequence[PatrolPlan],
        checkpoints: Sequence[Checkpoint],
        tz: ZoneInfo,
        *,
        since: datetime,
        guards: Sequence[Guard] = (),
        policy: PatrolPolicy | None = None,
    ) -> None:
        self.tz, self.policy = tz, policy or PatrolPolicy()
        self._plans = tuple(plans)
        self._checkpoints = {c.id: c for c in checkpoints}
        self._guards = frozenset(g.id for g in guards)  # empty: the estate lists no guards, any id goes
        self._since = self._now = utc(since)
        self._kept_from = date.min  # rounds of days before this were forgotten (none yet)
        self._records: dict[str, _Record] = {}
        self._days: dict[date, list[PlannedRound]] = {}
        #: What was recorded since the journal was last written (alerts/patrol_records.py): the
        #: record kept for months, while this tracker keeps two days.
        self._new_scans: list[tuple[PlannedRound, Scan]] = []
        self._new_verdicts: list[tuple[PlannedRound, RoundStatus]] = []

    @classmethod
    def for_estate(
        cls, estate: Estate, *, since: datetime, policy: PatrolPolicy | None = None
    ) -> PatrolTracker:
        return cls(
            estate.patrols, estate.checkpoints, estate.tz, since=since, guards=estate.guards, policy=policy
        )

    # -- input ------------------------------------------------------------------------------------
    def on_reading(self, reading: Reading) -> list[PatrolSignal]:
        """A handset's reading: ``scan`` and ``sos`` events count; anything else says nothing here."""
        handlers: Mapping[str, Callable[[Reading], list[PatrolSignal]]] = {
            PatrolEvent.SCAN: self._on_scan,
            PatrolEvent.SOS: lambda r: [self.sos(r.device, _guard_ids(r), from_ns(r.time_ns))],
        }
        handler = handlers.get(reading.event or "")
        return handler(reading) if handler else []

    def _on_scan(self, reading: Reading) -> list[PatrolSignal]:
        checkpoint = str(reading.fields.get("checkpoint", ""))
        return self.scan(reading.device, checkpoint, _guard_ids(reading), from_ns(reading.time_ns))

    def scan(self, handset: str, checkpoint: str, guards: Sequence[str], at: datetime) -> list[PatrolSignal]:
        """Record a scan in the round it belongs to; what it changes comes back at once."""
        at = utc(at)
        out = self._unknown(handset, checkpoint, guards, at)
        rnd = self._match(checkpoint, at) if checkpoint in self._checkpoints else None
        if rnd is None:
            return out
        known = tuple(g for g in dict.fromkeys(guards) if self._known_guard(g))
        recorded = Scan(at, checkpoint, known, handset)
        insort(self._records.setdefault(rnd.id, _Record()).scans, recorded, key=_at)
        self._new_scans.append((rnd, recorded))
        # A scan delivered late (a handset out of coverage) is judged as of now, not as of its time.
        return out + self._reconcile(rnd, max(at, self._now))

    def sos(self, handset: str, guards: Sequence[str], at: datetime) -> PatrolSignal:
        """Critical at once; unregistered guard ids do not hold back a call for help."""
        values = {"handset": handset, "guards": ", ".join(guards) or "?"}
        return _signal(PatrolRule.SOS, f"{handset}/{PatrolRule.SOS}", values, utc(at), handset=handset)

    def tick(self, now: datetime) -> list[PatrolSignal]:
        """Judge what the passing of time made due; cheap enough for every engine tick (~50 µs)."""
        self._now = max(self._now, utc(now))
        out = [
            s
            for rnd in self._near(self._now)
            if rnd.start <= self._now
            for s in self._reconcile(rnd, self._now)
        ]
        self._prune()
        return out

    # -- matching and judging -------------------------------------------------------------------
    def _match(self, checkpoint: str, at: datetime) -> PlannedRound | None:
        candidates = [
            r
            for r in self._near(at)
            if checkpoint in r.route and r.start - self.policy.early_start <= at <= r.closes
        ]

        def started(r: PlannedRound) -> bool:
            return bool(self._scans(r))

        def lacks(r: PlannedRound) -> bool:
            return all(s.checkpoint != checkpoint for s in self._scans(r))

        preferences: tuple[Callable[[PlannedRound], bool], ...] = (
            lambda r: started(r) and lacks(r),
            lambda r: r.start <= at < r.end and lacks(r),
            lambda r: at < r.start and lacks(r),
            started,
        )
        for prefer in preferences:
            if hits := [r for r in candidates if prefer(r)]:
                return max(hits, key=lambda r: r.start)
        return None

    def _reconcile(self, rnd: PlannedRound, now: datetime) -> list[PatrolSignal]:
        """Raise what newly holds, clear what no longer does; at the close, clear the rest for good."""
        if not self._watched(rnd):
            return []
        record = self._records.setdefault(rnd.id, _Record())
        if record.final:
            return []
        found = {f.key: f for f in judge(rnd, record.scans, now, self.policy)}
        out = [self._round_signal(rnd, f, now) for k, f in found.items() if k not in record.raised]
        gone = [f for k, f in record.raised.items() if k not in found]
        out += [self._round_signal(rnd, f, now, _why_gone(f, found)) for f in gone]
        record.raised = found
        if now > rnd.closes:
            verdict = status(rnd, record.scans, now)
            self._new_verdicts.append((rnd, verdict))
            note = (f"本轮已结束：{STATUS_ZH[verdict]}", f"round closed: {verdict}")
            out += [self._round_signal(rnd, f, now, note) for f in found.values()]
            record.raised, record.final = {}, True
        return out

    def _unknown(
        self, handset: str, checkpoint: str, guards: Sequence[str], at: datetime
    ) -> list[PatrolSignal]:
        strangers = [g for g in guards if not self._known_guard(g)]
        zh, en = [], []
        if checkpoint not in self._checkpoints:
            zh.append(f"巡更点{checkpoint}")
            en.append(f"checkpoint {checkpoint}")
        if strangers:
            zh.append(f"巡更员{'、'.join(strangers)}")
            en.append(f"guard {', '.join(strangers)}")
        if not zh:
            return []
        values = {"handset": handset, "what_zh": "，".join(zh), "what": "; ".join(en)}
        return [_signal(PatrolRule.UNKNOWN, f"{handset}/{PatrolRule.UNKNOWN}", values, at, handset=handset)]

    def _known_guard(self, guard: str) -> bool:
        return not self._guards or guard in self._guards

    def _round_signal(
        self, rnd: PlannedRound, finding: Finding, at: datetime, cleared: tuple[str, str] | None = None
    ) -> PatrolSignal:
        cp = finding.checkpoint
        values = {**self._round_values(rnd), **finding.detail}
        if cp is not None:
            values |= {"checkpoint": cp, "due": self._local(dict(rnd.due)[cp])}
        key = "/".join([rnd.id, finding.rule, *([cp] if cp else [])])
        building = self._checkpoints[cp].building if cp in self._checkpoints else None
        return _signal(
            finding.rule,
            key,
            values,
            at,
            cleared,
            plan=rnd.plan,
            round_id=rnd.id,
            checkpoint=cp,
            building=building,
        )

    def _round_values(self, rnd: PlannedRound) -> dict[str, str]:
        times = {"start": self._local(rnd.start), "end": self._local(rnd.end)}
        names = {"plan": rnd.plan, "window": rnd.window, "number": str(rnd.number), **times}
        grace = str(int(rnd.grace.total_seconds() // 60))
        return {
            **names,
            "grace": grace,
            "round": ROUND[0].format(**names),
            "round_en": ROUND[1].format(**names),
        }

    def _local(self, when: datetime) -> str:
        return when.astimezone(self.tz).strftime("%H:%M")

    # -- rounds held ----------------------------------------------------------------------------
    def rounds(self, day: date) -> list[PlannedRound]:
        """Every plan's rounds of local ``day`` (windows starting that day), by start time."""
        if day in self._days:
            return self._days[day]
        rounds = sorted(
            (r for p in self._plans for r in rounds_for_day(p, self.tz, day)), key=lambda r: r.start
        )
        if self._today() - timedelta(days=KEEP_DAYS) <= day <= self._today() + timedelta(days=1):
            self._days[day] = rounds  # only days the tracker works on, not every date a report asks for
        return rounds

    def _today(self) -> date:
        return self._now.astimezone(self.tz).date()

    def _near(self, at: datetime) -> list[PlannedRound]:
        """Rounds that may be open at ``at``: of today, the days before it can reach, and tomorrow."""
        today = at.astimezone(self.tz).date()
        return [r for n in range(-KEEP_DAYS, 2) for r in self.rounds(today + timedelta(days=n))]

    def _scans(self, rnd: PlannedRound) -> list[Scan]:
        record = self._records.get(rnd.id)
        return record.scans if record else []

    def _watched(self, rnd: PlannedRound) -> bool:
        return rnd.start >= self._since and rnd.day >= self._kept_from

    def _prune(self) -> None:
        self._kept_from = max(self._kept_from, self._today() - timedelta(days=KEEP_DAYS))
        self._records = {k: v for k, v in self._records.items() if _day_of(k) >= self._kept_from}
        self._days = {d: rounds for d, rounds in self._days.items() if d >= self._kept_from}

    # -- persistence ----------------------------------------------------------------------------
    def journal(self) -> tuple[list[tuple[PlannedRound, Scan]], list[tuple[PlannedRound, RoundStatus]]]:
        """Scans recorded and rounds closed since :meth:`journal_written` was last told."""
        return list(self._new_scans), list(self._new_verdicts)

    def journal_written(self, scans: int, verdicts: int) -> None:
        """The first ``scans`` and ``verdicts`` of the journal are stored: forget them (a failed
        write keeps them for the next)."""
        del self._new_scans[:scans], self._new_verdicts[:verdicts]

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state: the scans, raised findings and verdicts of the rounds held (see KEEP_DAYS)."""
        rounds = [
            {"id": rid, **rec.to_json()}
            for rid, rec in self._records.items()
            if rec.final or rec.scans or rec.raised
        ]
        times = {"since": self._since.isoformat(), "now": self._now.isoformat()}
        return {
            "version": SNAPSHOT_VERSION,
            **times,
            "kept_from": self._kept_from.isoformat(),
            "rounds": rounds,
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Continue from ``snapshot`` (taken by a tracker of the same estate); rounds of plans since
        removed are dropped. A snapshot this code cannot read raises ``ValueError`` and changes nothing."""
        try:
            if snapshot["version"] != SNAPSHOT_VERSION:
                raise ValueError(f"version {snapshot['version']!r}, expected {SNAPSHOT_VERSION}")
            since, now = (utc(datetime.fromisoformat(snapshot[k])) for k in ("since", "now"))
            kept_from = date.fromisoformat(snapshot["kept_from"])
            items = [item for item in snapshot["rounds"] if self._find(item["id"]) is not None]
            records = {str(item["id"]): _Record.from_json(item) for item in items}
        except (KeyError, IndexError, AttributeError, TypeError, ValueError) as exc:
            raise ValueError(f"unreadable patrol snapshot: {exc}") from exc
        self._since, self._now, self._kept_from = since, max(self._now, now), kept_from
        self._records, self._days = records, {}

    def _find(self, round_id: str) -> PlannedRound | None:
        return next((r for r in self.rounds(_day_of(round_id)) if r.id == round_id), None)

    # -- reports --------------------------------------------------------------------------------
    def rounds_report(self, day: date) -> list[dict[str, Any]]:
        """GET /api/patrols?estate=&date=: the rounds of local ``day`` as of the last tick.

        ``watched`` is false for rounds begun before the tracker watched or older than it keeps:
        their scans may be missing, so their status must not be taken for a verdict.
        """
        return [
            round_report(rnd, self._scans(rnd), self._now, self.policy, watched=self._watched(rnd))
            for rnd in self.rounds(day)
        ]

    def compliance(self, day: date) -> float | None:
        """Share of the day's closed, watched rounds completed (on time or late); None if none closed."""
        closed = [r for r in self.rounds(day) if self._watched(r) and self._now > r.closes]
        if not closed:
            return None
        return sum(status(r, self._scans(r), self._now) in DONE for r in closed) / len(closed)


# -- helpers ------------------------------------------------------------------------------------------


def _signal(
    rule: PatrolRule,
    key: str,
    values: Mapping[str, str],
    at: datetime,
    cleared: tuple[str, str] | None = None,
    **about: str | None,
) -> PatrolSignal:
    zh, en = (template.format_map(values) for template in MESSAGES[rule])
    if cleared is not None:
        zh, en = f"{zh}（已解除：{cleared[0]}）", f"{en} (cleared: {cleared[1]})"
    return PatrolSignal(rule, SEVERITY[rule], key, zh, en, at, cleared is not None, **about)


def _why_gone(finding: Finding, found: Mapping[FindingKey, Finding]) -> tuple[str, str]:
    """A missed checkpoint's alert also goes when the round's time is up and one alarm takes over."""
    if finding.rule is PatrolRule.CHECKPOINT_MISSED and (PatrolRule.ROUND_INCOMPLETE, None) in found:
        return SUPERSEDED
    return RESOLVED


def _guard_ids(reading: Reading) -> tuple[str, ...]:
    """The reading stores the payload's guard list joined with commas (ids cannot hold one)."""
    value = reading.fields.get("guards")
    return tuple(g for g in value.split(",") if g) if isinstance(value, str) else ()


def _at(scan: Scan) -> datetime:
    return scan.at


def _day_of(round_id: str) -> date:
    return date.fromisoformat(round_id.split("/", 2)[1])
