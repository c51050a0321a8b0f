"""The alert lifecycle on a manual clock: one alert per key, ack, shelve, maintenance windows,
chattering, escalation, flood, topology suppression, and the exact alert JSON (docs/contract.md §5)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from alerts.book import AlertClosed, AlertError
from alerts.kpis import alarm_kpis
from alerts.model import Action, Alert, AlertState
from alerts.store import MaintenanceWindow
from tests.alerts.harness import Harness

KEY_FIELDS = {
    "id",
    "key",
    "estate",
    "building",
    "device",
    "kind",
    "rule",
    "severity",
    "state",
    "active",
    "acknowledged",
    "count",
    "message",
    "message_en",
    "raised_at",
    "cleared_at",
    "acknowledged_at",
    "acknowledged_by",
    "work_order",
    "unacknowledged",
    "closed_at",
    "shelved_until",
    "shelve_reason",
    "subject",
}


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def entrapment(h: Harness) -> None:
    h.event("L1", "fault", code="entrapment")


def test_one_open_alert_per_key_counts_repeats(h: Harness) -> None:
    for _ in range(7):
        entrapment(h)
    [alert] = h.book.open_alerts()
    assert (alert.key, alert.count, alert.state) == ("sunrise/L1/lift.entrapment", 7, AlertState.ACTIVE)
    assert h.recorder.actions() == [Action.RAISE] + [Action.REPEAT] * 6
    assert [e.action for e in alert.history] == [Action.RAISE]  # repeats count, they do not flood history


def test_alert_json_is_exactly_the_spec(h: Harness) -> None:
    entrapment(h)
    alert = h.alert("L1", "lift.entrapment")
    assert alert is not None
    body = alert.to_json()
    assert set(body) == KEY_FIELDS
    assert set(alert.to_json(with_history=True)) == KEY_FIELDS | {"history"}
    assert body["key"] == "sunrise/L1/lift.entrapment"
    assert (body["estate"], body["building"], body["device"], body["kind"]) == ("sunrise", "B1", "L1", "lift")
    assert (body["severity"], body["state"], body["active"], body["acknowledged"]) == (
        "critical",
        "active",
        True,
        False,
    )
    assert re.search(r"[\u4e00-\u9fff]", body["message"])  # Chinese
    assert body["message_en"].isascii() and "trapped" in body["message_en"]
    assert body["raised_at"].endswith("+00:00")
    assert body["cleared_at"] is None and body["work_order"] is None
    history = alert.to_json(with_history=True)["history"]
    assert history == [{"at": body["raised_at"], "by": "system", "action": "raise", "note": ""}]


def test_ack_then_clear_closes_and_a_new_fault_opens_a_new_alert(h: Harness) -> None:
    entrapment(h)
    first = h.alert("L1", "lift.entrapment")
    assert first is not None
    h.book.ack(first.id, "值班员张", "已通知维保")
    assert first.state is AlertState.ACKNOWLEDGED
    assert (first.acknowledged_by, first.history[-1].note) == ("值班员张", "已通知维保")
    h.event("L1", "fault_cleared", code="entrapment")
    assert first.state is AlertState.CLOSED
    assert h.alert("L1", "lift.entrapment") is None
    with pytest.raises(AlertClosed):
        h.book.ack(first.id, "x")
    entrapment(h)
    second = h.alert("L1", "lift.entrapment")
    assert second is not None and second.id != first.id and second.count == 1


def test_clear_then_ack_closes_and_reactivation_keeps_the_same_alert(h: Harness) -> None:
    h.event("L1", "fault", code="door_open_failure")
    alert = h.alert("L1", "lift.door_failure")
    assert alert is not None
    h.event("L1", "fault_cleared", code="door_open_failure")
    assert alert.state is AlertState.CLEARED and alert.cleared_at is not None
    h.event("L1", "fault", code="door_open_failure")  # back before anyone acknowledged
    assert alert.state is AlertState.ACTIVE and alert.count == 2 and alert.cleared_at is None
    h.event("L1", "fault_cleared", code="door_open_failure")
    h.book.ack(alert.id, "op")
    assert alert.state is AlertState.CLOSED


def test_shelve_expires_and_unshelve(h: Harness) -> None:
    entrapment(h)
    alert = h.alert("L1", "lift.entrapment")
    assert alert is not None
    h.book.shelve(alert.id, "op", 30, "技师已在现场")
    assert alert.state is AlertState.SHELVED
    h.advance(29 * 60, step=60)
    assert alert.state is AlertState.SHELVED
    h.advance(61, step=61)
    assert alert.state is AlertState.ACTIVE  # shelving is bounded: it came back by itself
    assert alert.history[-1].action is Action.UNSHELVE and "expired" in alert.history[-1].note
    h.book.shelve(alert.id, "op", 10, "again")
    h.book.unshelve(alert.id, "op", "done")
    assert alert.state is AlertState.ACTIVE
    with pytest.raises(AlertError, match="one shift"):
        h.book.shelve(alert.id, "op", 9 * 60, "too long")
    with pytest.raises(AlertError, match="reason"):
        h.book.shelve(alert.id, "op", 5, "  ")


def door_fault_in_a_maintenance_window(h: Harness) -> Alert:
    """Building B1 in an hour's maintenance window (年检), and a lift door fault in it."""
    now = h.clock.now()
    h.engine.add_window(
        MaintenanceWindow(0, "sunrise", "B1", None, now, now + timedelta(hours=1), "年检", "op")
    )
    h.event("L1", "fault", code="door_close_failure")
    alert = h.alert("L1", "lift.door_failure")
    assert alert is not None
    assert alert.state is AlertState.SUPPRESSED and "年检" in (alert.suppressed_by or "")
    return alert


def test_maintenance_window_suppresses_then_lets_go(h: Harness) -> None:
    alert = door_fault_in_a_maintenance_window(h)
    h.advance(3600, step=300)
    assert alert.state is AlertState.ACTIVE  # the condition is still there after the window


def test_an_alert_back_to_normal_while_suppressed_closes_unseen_and_a_new_fault_is_new(h: Harness) -> None:
    hidden = door_fault_in_a_maintenance_window(h)
    h.event("L1", "fault_cleared", code="door_close_failure")
    assert h.alert("L1", "lift.door_failure") is None  # nobody was asked to act: nothing to acknowledge
    stored = h.store.get(hidden.id)
    assert stored is not None and stored.state is AlertState.CLOSED and not stored.acknowledged
    assert [e.action for e in stored.history][-2:] == [Action.CLEAR, Action.CLOSE]
    h.advance(3600, step=300)  # the window is over: the same fault again is a new alarm, shown
    h.event("L1", "fault", code="door_close_failure")
    again = h.alert("L1", "lift.door_failure")
    assert again is not None and again.id != hidden.id and again.state is AlertState.ACTIVE


def chatter(h: Harness) -> Alert:
    for _ in range(3):  # three activations within a minute
        h.event("L1", "fault", code="door_open_failure")
        h.event("L1", "fault_cleared", code="door_open_failure")
        h.advance(5, keep_alive=[])
    alert = h.alert("L1", "lift.door_failure")
    assert alert is not None and alert.chattering
    assert Action.CHATTERING in [e.action for e in alert.history]
    return alert


def reactivations(alert: Alert) -> int:
    return sum(1 for e in alert.history if e.action is Action.REACTIVATE)


def test_chattering_adds_an_on_delay_a_blip_does_not_bring_it_back(h: Harness) -> None:
    # ISA-18.2: chattering → mark and add an on-delay (not an off-delay that kept it lit).
    alert = chatter(h)
    before = reactivations(alert)
    assert alert.state is not AlertState.ACTIVE  # the clear is not delayed: it shows the truth
    h.event("L1", "fault", code="door_open_failure")
    assert not alert.active  # held: the cause has not lasted the on-delay yet
    h.advance(30, keep_alive=[])
    h.event("L1", "fault_cleared", code="door_open_failure")  # gone within the on-delay
    h.advance(120, keep_alive=None)
    assert not alert.active and reactivations(alert) == before


def test_a_chattering_alert_whose_cause_lasts_the_on_delay_comes_back(h: Harness) -> None:
    alert = chatter(h)
    before, count = reactivations(alert), alert.count
    h.event("L1", "fault", code="door_open_failure")
    h.advance(59, keep_alive=None)
    assert not alert.active
    h.advance(2, keep_alive=None)
    assert alert.active and reactivations(alert) == before + 1 and alert.count == count + 1


def test_the_on_delay_is_a_per_estate_figure(h: Harness) -> None:
    own = replace(h.book.policy, chatter_on_delay=timedelta(seconds=300))
    h.book.policy = replace(h.book.policy, estates={"sunrise": own})
    alert = chatter(h)
    h.event("L1", "fault", code="door_open_failure")
    h.advance(120, keep_alive=None)
    assert not alert.active  # the default 60 s would have brought it back
    h.advance(200, keep_alive=None)
    assert alert.active


@pytest.mark.parametrize(
    ("code", "rule", "after_s"),
    [
        ("entrapment", "lift.entrapment", 60),
        ("position_lost", "lift.position_lost", 300),
        ("door_open_failure", "lift.door_failure", 1800),
    ],
)
def test_escalation_when_unacknowledged(h: Harness, code: str, rule: str, after_s: int) -> None:
    h.event("L1", "fault", code=code)
    alert = h.alert("L1", rule)
    assert alert is not None
    h.advance(after_s - 1, step=min(after_s - 1, 30))
    assert not alert.escalated
    h.advance(2, step=2)
    assert alert.escalated
    h.advance(after_s * 3, step=60)
    assert [e.action for e in alert.history].count(Action.ESCALATE) == 1  # once


def test_acknowledged_in_time_does_not_escalate(h: Harness) -> None:
    entrapment(h)
    alert = h.alert("L1", "lift.entrapment")
    assert alert is not None
    h.advance(30, step=10)
    h.book.ack(alert.id, "op")
    h.advance(120, step=10)
    assert not alert.escalated


FLOOD_FAULTS = [
    ("L1", "fault", {"code": "door_open_failure"}),
    ("L1", "fault", {"code": "position_lost"}),
    ("L1", "fault", {"code": "safety_circuit_open"}),
    ("T1", "hatch_open", {}),
    ("T1", "pump_fault", {}),
    ("D1", "forced", {}),
    ("D1", "tamper", {}),
    ("LP1", "leakage", {}),
    ("NVR1", "disk_failure", {}),
    ("CAM1", "video_loss", {}),
    ("LP1", "lamp_failure", {}),
]


def test_flood_starts_holds_back_low_priority_and_ends(h: Harness) -> None:
    for device, event, fields in FLOOD_FAULTS:  # 11 annunciated within a minute
        h.event(device, event, **fields)
        h.advance(5)
    flood = h.alert(None, "alarm_flood")
    assert flood is not None and flood.active and flood.severity.value == "major"
    assert "sunrise" in h.book.flooding
    h.send("T1", chlorine_mg_l=0.15)  # a new low-priority (info) alarm during the flood
    held_back = h.alert("T1", "water.chlorine_prealarm")
    assert held_back is not None and held_back.state is AlertState.SUPPRESSED
    assert held_back.suppressed_by == "flood"
    h.event("L1", "fault", code="entrapment")  # a new critical one is never held back
    trapped = h.alert("L1", "lift.entrapment")
    assert trapped is not None and trapped.state is AlertState.ACTIVE
    h.advance(11 * 60, step=60)  # quiet: fewer than 5 in the last 10 minutes
    assert "sunrise" not in h.book.flooding
    assert flood.state is AlertState.CLEARED
    assert held_back.state is AlertState.ACTIVE  # released when the flood ended, condition still there
    floods = h.store.floods("sunrise", h.clock.now() - timedelta(hours=1), h.clock.now())
    assert len(floods) == 1 and floods[0][1] is not None
    kpis = alarm_kpis(
        h.store.query("sunrise", with_history=True),
        floods,
        h.clock.now() - timedelta(hours=1),
        h.clock.now(),
        h.clock.now(),
    )
    assert 0 < kpis.flood_time_pct < 100
    assert kpis.peak_10_min >= 11


def test_power_loss_suppresses_consequential_lift_faults_for_10_minutes(h: Harness) -> None:
    h.event("L1", "fault", code="power_loss")
    h.event("L1", "fault", code="position_lost")
    consequential = h.alert("L1", "lift.position_lost")
    assert consequential is not None and consequential.state is AlertState.SUPPRESSED
    h.event("L1", "fault", code="entrapment")
    trapped = h.alert("L1", "lift.entrapment")
    assert trapped is not None and trapped.state is AlertState.ACTIVE  # never hidden
    h.advance(601, step=60)
    h.event("L1", "fault", code="door_open_failure")
    later = h.alert("L1", "lift.door_failure")
    assert later is not None and later.state is AlertState.ACTIVE


def test_fire_mode_suppresses_the_lifts_other_alerts(h: Harness) -> None:
    h.send("L1", mode="fire")
    mode = h.alert("L1", "lift.special_mode")
    assert mode is not None and mode.state is AlertState.ACTIVE and "fire" in mode.message_en
    h.event("L1", "fault", code="door_close_failure")
    door = h.alert("L1", "lift.door_failure")
    assert door is not None and door.state is AlertState.SUPPRESSED
    h.send("L1", mode="normal")
    assert mode.state is AlertState.CLEARED


def test_a_shelved_alarm_does_not_escalate_and_its_clock_restarts_when_shelving_ends(h: Harness) -> None:
    """Issue 20: an entrapment shelved 30 s after it rose was escalated 35 s after it was shelved."""
    entrapment(h)
    alert = h.alert("L1", "lift.entrapment")
    assert alert is not None
    h.advance(30, step=10)
    h.book.shelve(alert.id, "op", 10, "技师已在现场")
    h.advance(9 * 60, step=30)  # far past the 60 s escalation delay, still shelved
    assert not alert.escalated and Action.ESCALATE not in [e.action for e in alert.history]
    h.advance(61, step=61)  # shelving expired: the alarm is back, its 60 s start now
    assert alert.state is AlertState.ACTIVE and not alert.escalated
    h.advance(50, step=10)
    assert not alert.escalated
    h.advance(20, step=10)
    assert alert.escalated
    assert [e.action for e in alert.history].count(Action.ESCALATE) == 1


def test_an_unshelved_alarm_escalates_after_its_full_delay_from_the_unshelve(h: Harness) -> None:
    entrapment(h)
    alert = h.alert("L1", "lift.entrapment")
    assert alert is not None
    h.book.shelve(alert.id, "op", 30, "检查中")
    h.advance(120, step=30)
    h.book.unshelve(alert.id, "op", "not fixed")
    h.advance(50, step=10)
    assert not alert.escalated
    h.advance(20, step=10)
    assert alert.escalated


def test_shelving_again_while_shelved_cannot_pass_one_shift_in_all(h: Harness) -> None:
    """Issue 21 (item 10): re-shelving restarted the 8 h without limit."""
    entrapment(h)
    alert = h.alert("L1", "lift.entrapment")
    assert alert is not None
    h.book.shelve(alert.id, "op", 6 * 60, "等待配件")
    h.advance(5 * 3600, step=600)
    with pytest.raises(AlertError, match="at most 8:00:00 in all"):
        h.book.shelve(alert.id, "op", 4 * 60, "still waiting")  # 5 h + 4 h > 8 h
    h.book.shelve(alert.id, "op", 3 * 60, "still waiting")  # 5 h + 3 h = 8 h: allowed
    assert [e.action for e in alert.history].count(Action.SHELVE) == 2  # each is audited
    h.book.unshelve(alert.id, "op", "looked at it")
    h.book.shelve(alert.id, "op", 8 * 60, "after a look, a new shift")  # unshelved: a fresh start
