"""Alarm-management KPIs (ISA-18.2 / EEMUA 191) over a period: load, peaks, floods, stale alarms,
bad actors. Counted from each alert's history, so an alarm that returns six times is six
activations (as the flood detector counts them), and one raised before the period and still active
at its end counts as stale.

Also the one computation of lamp 完好率 (:func:`lamp_intact`), used by the estate overview and the
daily rollups alike, and the activation spans (:func:`active_spans`) that lift availability and
camera online time are measured from."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.model import Action, Alert

TEN_MIN = timedelta(minutes=10)
STALE_AFTER = timedelta(hours=24)


#: What makes an alarm active: its first raise and each return after it cleared.
ACTIVATIONS = frozenset({Action.RAISE, Action.REACTIVATE})
#: What ends an activation.
DEACTIVATIONS = frozenset({Action.CLEAR, Action.CLOSE})
BAD_ACTORS = 10


@dataclass(frozen=True)
class AlarmKpis:
    #: Activations in the period (a raise, or a return after clearing): what an operator sees
    #: arrive, as the flood detector counts them; not alert records.
    alarms: int
    per_10_min: float
    peak_10_min: int
    flood_time_pct: float
    chattering: int
    #: Alarms active at the end of the period (or now) for more than 24 h, whenever raised.
    stale: int
    priority_mix_pct: dict[str, float]
    #: The top ten sources by activations: estate, device (or subject), rule, activations.
    bad_actors: list[dict[str, object]]


def alarm_kpis(
    alerts: Sequence[Alert],
    floods: Sequence[tuple[datetime, datetime | None]],
    start: datetime,
    stop: datetime,
    now: datetime,
) -> AlarmKpis:
    """``alerts``: every alert that may have been active in [start, stop) — raised before
    ``stop`` and not closed before ``start`` (``AlertStore.overlapping``) — with its history;
    ``floods`` as (started, ended or None)."""
    activations = sorted(
        ((h.at, a) for a in alerts for h in a.history if h.action in ACTIVATIONS and start <= h.at < stop),
        key=lambda pair: pair[0],
    )
    times = [at for at, _ in activations]
    span = max((stop - start) / TEN_MIN, 1e-9)
    mix = Counter(a.severity.value for _, a in activations)
    total = sum(mix.values())
    actors = Counter((a.estate, a.device or a.subject or "", a.rule) for _, a in activations)
    end = min(stop, now)
    return AlarmKpis(
        alarms=len(times),
        per_10_min=round(len(times) / span, 3),
        peak_10_min=_peak(times),
        flood_time_pct=round(
            100 * _flood_seconds(floods, start, stop, now) / (stop - start).total_seconds(), 3
        ),
        chattering=sum(
            1
            for a in alerts
            if any(h.action is Action.CHATTERING and start <= h.at < stop for h in a.history)
        ),
        stale=sum(
            1 for a in alerts if (since := active_since(a, end)) is not None and end - since > STALE_AFTER
        ),
        priority_mix_pct={s: round(100 * n / total, 1) for s, n in mix.items()} if total else {},
        bad_actors=[
            {"estate": e, "source": source, "rule": rule, "activations": n}
            for (e, source, rule), n in sorted(actors.items(), key=lambda item: (-item[1], item[0]))[
                :BAD_ACTORS
            ]
        ],
    )


@dataclass(frozen=True)
class LampIntact:
    """Lamp 完好率: lamps known to work / all lamps. A lamp whose controller is silent is
    ``unknown``: not counted as working (a silent lamp may well be dark), nor as failed."""

    total: int
    failed: int
    unknown: int
    target: float

    @property
    def working(self) -> int:
        return self.total - self.failed - self.unknown

    @property
    def rate(self) -> float | None:
        return round(self.working / self.total, 4) if self.total else None

    def to_json(self) -> dict[str, object]:
        return {**vars(self), "working": self.working, "intact_rate": self.rate}


#: Lamps' 完好率 ≥ 95 %: the estate service standard and the municipal lighting rules.
LAMP_TARGET = 0.95


def lamp_intact(lamps: Iterable[str], failed: Iterable[str], silent: Iterable[str]) -> LampIntact:
    """``lamps``: ids of the lamps (lights with a parent circuit); ``failed``: those with a lamp-out
    alarm active; ``silent``: those not heard from (offline or never seen). A failed lamp that is
    also silent counts as failed: its last word was a failure."""
    ids = set(lamps)
    down = ids & set(failed)
    unknown = (ids & set(silent)) - down
    return LampIntact(len(ids), len(down), len(unknown), LAMP_TARGET)


def active_spans(alert: Alert, start: datetime, stop: datetime) -> list[tuple[datetime, datetime]]:
    """The alert's activations (raise or return → clear or close), clipped to [start, stop)."""
    spans: list[tuple[datetime, datetime]] = []
    since: datetime | None = None
    for entry in sorted(alert.history, key=lambda h: h.at):
        if entry.action in ACTIVATIONS:
            since = since or entry.at
        elif entry.action in DEACTIVATIONS and since is not None:
            spans.append((since, entry.at))
            since = None
    if since is not None:
        spans.append((since, stop))
    return [
        (max(a, start), min(b, stop))
        for a, b in spans
        if b > start and a < stop and min(b, stop) > max(a, start)
    ]


def merge(spans: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Overlapping or touching spans joined, in time order."""
    out: list[tuple[datetime, datetime]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def active_since(alert: Alert, at: datetime) -> datetime | None:
    """When the activation under way at ``at`` began, from the history; None if not active then."""
    since: datetime | None = None
    for entry in sorted(alert.history, key=lambda h: h.at):
        if entry.at > at:
            break
        if entry.action in ACTIVATIONS:
            since = since or entry.at
        elif entry.action in DEACTIVATIONS:
            since = None
    return since


def _peak(times: Sequence[datetime]) -> int:
    """Most alarms in any 10-minute window (two pointers over sorted times)."""
    best, lo = 0, 0
    for hi, at in enumerate(times):
        while at - times[lo] >= TEN_MIN:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _flood_seconds(
    floods: Sequence[tuple[datetime, datetime | None]], start: datetime, stop: datetime, now: datetime
) -> float:
    seconds = 0.0
    for began, ended in floods:
        lo, hi = max(began, start), min(ended or now, stop)
        seconds += max((hi - lo).total_seconds(), 0.0)
    return seconds
