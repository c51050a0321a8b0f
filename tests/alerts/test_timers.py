"""The alarm core's one timer abstraction (alerts/timers.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.timers import Timers

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def test_what_is_due_comes_out_earliest_first_ties_in_the_order_set() -> None:
    timers: Timers[datetime, str] = Timers()
    timers.at(T0 + timedelta(minutes=5), "major")
    timers.at(T0 + timedelta(minutes=1), "critical")
    timers.at(T0 + timedelta(minutes=1), "critical-2")
    timers.at(T0 + timedelta(minutes=30), "minor")
    assert [key for _, key in timers.due(T0 + timedelta(minutes=5))] == ["critical", "critical-2", "major"]
    assert len(timers) == 1 and list(timers.due(T0 + timedelta(minutes=29))) == []
    assert list(timers.due(T0 + timedelta(hours=1))) == [(T0 + timedelta(minutes=30), "minor")]


def test_an_entry_set_while_taking_comes_out_in_the_same_pass_when_due() -> None:
    timers: Timers[int, str] = Timers()
    timers.at(10, "first")
    taken = []
    for _, key in timers.due(20):
        taken.append(key)
        if key == "first":
            timers.at(15, "re-armed")  # due by now: taken in this pass
            timers.at(25, "later")  # not yet
    assert taken == ["first", "re-armed"] and len(timers) == 1
