"""Acceptance 6 (in-process half): an engine dropped without any shutdown, as after SIGKILL, and a new
one on the same database: no duplicate alert, acknowledgements kept, timers resume from the stored
deadlines. The subprocess half (a real SIGKILL) is in tests/integration/test_alerts_e2e.py."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from alerts.model import Action, AlertState
from tests.alerts.harness import Harness


def restarted(old: Harness, tmp_path: Path) -> Harness:
    """A new engine, book and store on the old one's database file, at the old one's time."""
    new = Harness(tmp_path, inventory=old.inventory)
    new.clock.set(old.clock.now())
    return new


def test_restart_keeps_alerts_acks_and_timers(tmp_path: Path) -> None:
    first = Harness(tmp_path)
    first.event("L1", "fault", code="entrapment")  # critical: escalates 60 s after raise
    first.event("T1", "hatch_open")
    hatch = first.alert("T1", "water.hatch_open")
    assert hatch is not None
    first.book.ack(hatch.id, "值班员李", "保洁开门")
    first.book.flush()
    first.send("T1", chlorine_mg_l=0.03)  # low chlorine: on-delay of 15 min starts now
    first.advance(40, step=20)
    first.send("T1", chlorine_mg_l=0.02)
    trapped_id = first.alert("L1", "lift.entrapment").id  # type: ignore[union-attr]
    # SIGKILL: nothing is stopped or flushed beyond what each batch already stored.

    second = restarted(first, tmp_path)
    keys = [a.key for a in second.book.open_alerts()]
    assert sorted(keys) == [  # each once: no duplicates
        "sunrise/L1/lift.entrapment",
        "sunrise/T1/water.chlorine_prealarm",
        "sunrise/T1/water.hatch_open",
    ]
    hatch2 = second.alert("T1", "water.hatch_open")
    assert (
        hatch2 is not None
        and hatch2.state is AlertState.ACKNOWLEDGED
        and hatch2.acknowledged_by == "值班员李"
    )
    trapped = second.alert("L1", "lift.entrapment")
    assert trapped is not None and trapped.id == trapped_id and not trapped.escalated

    second.advance(21, step=1)  # 61 s after the raise: the stored escalation deadline passes
    assert trapped.escalated
    assert [e.action for e in trapped.history].count(Action.ESCALATE) == 1

    # The chlorine on-delay started at t0, 61 s before now; it runs out 15 min after that stored start.
    second.advance(15 * 60 - 61 - 2, step=30)
    assert second.alert("T1", "water.chlorine_low") is None
    second.advance(3, step=1)
    low = second.alert("T1", "water.chlorine_low")
    assert low is not None
    started = first.clock.now() - timedelta(seconds=40)
    assert timedelta(minutes=15) <= low.raised_at - started <= timedelta(minutes=15, seconds=1)

    # The same fault again after the restart counts on the same alert.
    second.event("L1", "fault", code="entrapment")
    assert (
        trapped.count == 2 and len([a for a in second.book.open_alerts() if a.rule == "lift.entrapment"]) == 1
    )


def test_shelved_alert_returns_on_time_after_restart(tmp_path: Path) -> None:
    first = Harness(tmp_path)
    first.event("D1", "forced")
    forced = first.alert("D1", "access.forced")
    assert forced is not None
    first.book.shelve(forced.id, "op", 10, "保安已到场")
    first.book.flush()
    second = restarted(first, tmp_path)
    again = second.alert("D1", "access.forced")
    assert again is not None and again.state is AlertState.SHELVED
    second.advance(601, step=60)
    assert again.state is AlertState.ACTIVE
