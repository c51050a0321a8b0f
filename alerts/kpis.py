"""Alarm-management KPIs (ISA-18.2 / EEMUA 191) over a period: load, peaks, floods, bad actors."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.model import Action, Alert

TEN_MIN = timedelta(minutes=10)
STALE_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class AlarmKpis:
    alarms: int
    per_10_min: float
    peak_10_min: int
    flood_time_pct: float
    chattering: int
    stale: int
    priority_mix_pct: dict[str, float]


def alarm_kpis(
    alerts: Sequence[Alert],
    floods: Sequence[tuple[datetime, datetime | None]],
    start: datetime,
    stop: datetime,
    now: datetime,
) -> AlarmKpis:
    """``alerts`` raised in [start, stop) (with history); ``floods`` as (started, ended or None)."""
    raised = sorted(a.raised_at for a in alerts if start <= a.raised_at < stop)
    span = max((stop - start) / TEN_MIN, 1e-9)
    mix = Counter(a.severity.value for a in alerts if start <= a.raised_at < stop)
    total = sum(mix.values())
    return AlarmKpis(
        alarms=len(raised),
        per_10_min=round(len(raised) / span, 3),
        peak_10_min=_peak(raised),
        flood_time_pct=round(
            100 * _flood_seconds(floods, start, stop, now) / (stop - start).total_seconds(), 3
        ),
        chattering=sum(1 for a in alerts if any(h.action is Action.CHATTERING for h in a.history)),
        stale=sum(1 for a in alerts if a.is_open and a.active and now - a.raised_at > STALE_AFTER),
        priority_mix_pct={s: round(100 * n / total, 1) for s, n in mix.items()} if total else {},
    )


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
