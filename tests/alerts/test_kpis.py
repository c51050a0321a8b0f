"""Alarm KPIs with hand-computed expectations, including the cases that were once wrong
(issue 24): stale alarms raised before the period, activations rather than records, bad actors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerts.kpis import active_since, alarm_kpis
from alerts.model import Action, Alert, HistoryEntry
from alerts.store import AlertStore
from devices.base import Severity
from gateway.db import make_engine

T0 = datetime(2026, 12, 1, tzinfo=UTC)
H = timedelta(hours=1)


def _alert(
    id_: int,
    device: str,
    rule: str,
    events: list[tuple[timedelta, Action]],
    severity: Severity = Severity.MAJOR,
) -> Alert:
    history = [HistoryEntry(T0 + offset, "system", action) for offset, action in events]
    return Alert(
        id_,
        "sunrise",
        None,
        device,
        "lift",
        rule,
        severity,
        "m",
        "m",
        raised_at=T0 + events[0][0],
        history=history,
    )


def test_an_alarm_active_for_30_hours_is_stale_though_raised_before_the_period() -> None:
    old = _alert(1, "L1", "lift.fault", [(-30 * H, Action.RAISE)])
    recent = _alert(2, "L2", "lift.fault", [(-2 * H, Action.RAISE)])
    cleared = _alert(3, "L3", "lift.fault", [(-40 * H, Action.RAISE), (-1 * H, Action.CLEAR)])
    kpis = alarm_kpis([old, recent, cleared], [], T0 - 24 * H, T0, T0)
    assert kpis.stale == 1  # once 0: only alerts raised inside the default 24 h were looked at
    assert kpis.alarms == 1  # recent's raise is the only activation inside the period


def test_six_activations_of_one_alarm_count_six_and_name_the_bad_actor() -> None:
    events = [(timedelta(minutes=0), Action.RAISE)]
    for k in range(1, 6):
        events += [
            (timedelta(minutes=10 * k - 5), Action.CLEAR),
            (timedelta(minutes=10 * k), Action.REACTIVATE),
        ]
    chatty = _alert(1, "L1", "lift.door_failure", [*events, (timedelta(minutes=51), Action.CHATTERING)])
    once = _alert(2, "T1", "water.low", [(timedelta(minutes=3), Action.RAISE)], Severity.CRITICAL)
    repeat = _alert(
        3, "T2", "water.low", [(timedelta(minutes=4), Action.RAISE), (timedelta(minutes=5), Action.REPEAT)]
    )
    kpis = alarm_kpis([chatty, once, repeat], [], T0, T0 + H, T0 + H)
    assert kpis.alarms == 8  # 6 + 1 + 1 (a repeat while active is not a new activation)
    assert kpis.per_10_min == round(8 / 6, 3)
    assert kpis.peak_10_min == 3  # 00:00, 00:03, 00:04 (00:10 is outside [00:00, 00:10))
    assert kpis.chattering == 1
    assert kpis.priority_mix_pct == {"major": 87.5, "critical": 12.5}
    assert kpis.bad_actors[0] == {
        "estate": "sunrise",
        "source": "L1",
        "rule": "lift.door_failure",
        "activations": 6,
    }
    assert [a["source"] for a in kpis.bad_actors] == ["L1", "T1", "T2"]


def test_at_most_ten_bad_actors() -> None:
    alerts = [_alert(i, f"D{i:02}", "x", [(timedelta(minutes=i), Action.RAISE)]) for i in range(15)]
    assert len(alarm_kpis(alerts, [], T0, T0 + H, T0 + H).bad_actors) == 10


def test_active_since_follows_the_history() -> None:
    alert = _alert(1, "L1", "r", [(0 * H, Action.RAISE), (2 * H, Action.CLEAR), (3 * H, Action.REACTIVATE)])
    assert active_since(alert, T0 + H) == T0
    assert active_since(alert, T0 + 2 * H + timedelta(minutes=1)) is None
    assert active_since(alert, T0 + 5 * H) == T0 + 3 * H
    assert active_since(alert, T0 - H) is None


def test_the_store_finds_every_alert_that_overlaps_the_period(tmp_path: Path) -> None:
    store = AlertStore(make_engine(f"sqlite:///{tmp_path / 'a.db'}"))
    before_open = _alert(0, "L1", "a", [(-30 * H, Action.RAISE)])
    before_closed = _alert(0, "L2", "b", [(-30 * H, Action.RAISE)])
    before_closed.closed_at = T0 - 25 * H
    closed_inside = _alert(0, "L3", "c", [(-30 * H, Action.RAISE)])
    closed_inside.closed_at = T0 - H
    after = _alert(0, "L4", "d", [(H, Action.RAISE)])
    for alert in (before_open, before_closed, closed_inside, after):
        alert.id = store.next_id()
        store.save([alert], [(alert.id, h) for h in alert.history], {})
    found = store.overlapping("sunrise", T0 - 24 * H, T0)
    assert sorted(a.device or "" for a in found) == ["L1", "L3"]
    assert all(a.history for a in found)
