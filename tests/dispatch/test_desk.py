"""The dispatch desk on a virtual clock: orders from alerts and reports, routing, the crew's steps,
closing on telemetry, reopening, linking, cancelling and reassigning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.model import Action, alert_key
from alerts.store import MaintenanceWindow
from devices.base import Severity, Trade
from dispatch.desk import DispatchPolicy, OrderError, OrderNotFound
from dispatch.model import OrderAction, OrderState, Source, Step
from tests.dispatch.harness import DispatchHarness, dispatch_inventory

T0 = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai


def entrapment(h: DispatchHarness) -> None:
    h.send("L1", passenger=True, door="closed", door_zone=True, direction="stop", floor=3)
    h.event("L1", "fault", code="entrapment")


def test_lift_entrapment_creates_an_order_for_the_on_duty_lift_crew(tmp_path: Path) -> None:
    h = DispatchHarness(tmp_path)
    entrapment(h)
    order = h.only_order()
    alert = h.alert("L1", "lift.entrapment")
    assert alert is not None and alert.work_order == order.id
    assert (order.trade, order.crew, order.state, order.severity) == (
        Trade.LIFT,
        "lift-team",
        OrderState.ASSIGNED,
        Severity.CRITICAL,
    )
    assert (order.source, order.alert, order.device, order.building) == (Source.ALERT, alert.id, "L1", "B1")
    assert order.created_at == alert.raised_at == T0
    assert order.accept_due == T0 + timedelta(minutes=5)
    assert order.arrive_due == T0 + timedelta(minutes=30)
    assert order.resolve_due == T0 + timedelta(hours=24)
    assert [a.action for a in order.history] == [OrderAction.CREATE, OrderAction.ASSIGN]
    assert h.orders.actions() == [OrderAction.CREATE, OrderAction.ASSIGN]
    # Created before a crew is chosen (the event stream sees it), then assigned: the crew hears.
    assert [crews for _, _, crews in h.orders.events] == [(), ("lift-team",)]
    assert Action.DISPATCH in h.recorder.actions("lift.entrapment")


def test_routing_follows_the_roster_in_local_time(tmp_path: Path) -> None:
    # 2026-01-05 17:00 UTC is 01:00 in Shanghai: the lift team has no shift then; the backup
    # crew (no roster: always on duty) gets the order.
    h = DispatchHarness(tmp_path, start=datetime(2026, 1, 5, 17, 0, tzinfo=UTC))
    entrapment(h)
    assert h.only_order().crew == "lift-backup"


def test_a_rule_without_a_dispatch_policy_waits_for_an_operator(tmp_path: Path) -> None:
    h = DispatchHarness(tmp_path)
    h.event("L1", "fault", code="door_open_failure")  # minor: no automatic order
    alert = h.alert("L1", "lift.door_failure")
    assert alert is not None and alert.work_order is None and not h.desk.live
    order = h.desk.dispatch_alert(alert.id, by="张三")
    assert (order.source, order.crew, order.severity) == (Source.OPERATOR, "lift-team", Severity.MINOR)
    assert order.history[0].by == "张三"
    assert order.resolve_due == T0 + timedelta(hours=24)  # docs/rules.md: lift door failures ≤ 24 h
    assert h.alert("L1", "lift.door_failure").work_order == order.id  # type: ignore[union-attr]
    with pytest.raises(OrderError, match="already has work order"):
        h.desk.dispatch_alert(alert.id, by="张三")
    with pytest.raises(OrderNotFound):
        h.desk.dispatch_alert(9999, by="张三")


def test_an_operator_may_name_the_crew_but_only_one_serving_the_estate(tmp_path: Path) -> None:
    h = DispatchHarness(tmp_path)
    h.event("L1", "fault", code="door_open_failure")
    alert = h.alert("L1", "lift.door_failure")
    assert alert is not None
    with pytest.raises(OrderError, match="no crew 'nobody'"):
        h.desk.dispatch_alert(alert.id, by="op", crew="nobody")
    assert h.desk.dispatch_alert(alert.id, by="op", crew="lift-backup").crew == "lift-backup"


def test_crew_steps_in_order_and_refuses_steps_out_of_order(tmp_path: Path) -> None:
    h = DispatchHarness(tmp_path)
    order = h.desk.report(estate="sunrise", trade=Trade.WATER, title="B1 水箱间漏水", by="前台")
    assert (order.crew, order.state) == ("water-team", OrderState.ASSIGNED)
    with pytest.raises(OrderError, match="arrive needs accepted"):
        h.desk.arrive(order.id, by="周师傅")
    h.clock.advance(timedelta(minutes=3))
    h.desk.accept(order.id, by="周师傅", note="马上到")
    h.clock.advance(timedelta(minutes=20))
    h.desk.arrive(order.id, by="周师傅")
    h.clock.advance(timedelta(hours=2))
    done = h.desk.resolve(order.id, by="周师傅", note="更换阀门")
    assert done.state is OrderState.CLOSED  # no device alert to wait for
    assert (done.accepted_at, done.arrived_at, done.resolved_at) == (
        T0 + timedelta(minutes=3),
        T0 + timedelta(minutes=23),
        T0 + timedelta(minutes=23, hours=2),
    )
    actions = [(e.action, e.by) for e in h.order(order.id).history]
    assert actions == [
        (OrderAction.CREATE, "前台"),
        (OrderAction.ASSIGN, "前台"),
        (OrderAction.ACCEPT, "周师傅"),
        (OrderAction.ARRIVE, "周师傅"),
        (OrderAction.RESOLVE, "周师傅"),
        (OrderAction.CLOSE, "dispatch"),
    ]
    with pytest.raises(OrderError, match="is closed"):
        h.desk.accept(order.id, by="周师傅")


def test_resolving_waits_for_telemetry_then_a_repeat_within_24_h_reopens(tmp_path: Path) -> None:
    h = DispatchHarness(tmp_path)
    entrapment(h)
    order = h.only_order()
    h.desk.accept(order.id, by="王师傅")
    h.desk.arrive(order.id, by="王师傅")
    h.desk.resolve(order.id, by="王师傅", note="已放人")
    assert h.order(order.id).state is OrderState.RESOLVED  # the lift has not said so yet
    h.advance(60)
    assert h.order(order.id).state is OrderState.RESOLVED
    h.event("L1", "fault_cleared", code="entrapment")
    closed = h.order(order.id)
    assert closed.state is OrderState.CLOSED and closed.closed_at == h.clock.now()
    assert closed.history[-1].action is OrderAction.CLOSE and "telemetry" in closed.history[-1].note

    h.advance(23 * 3600, step=600)
    entrapment(h)  # the same fault, within 24 h of closing
    again = h.order(order.id)
    assert (again.state, again.reopened, again.crew) == (OrderState.ASSIGNED, 1, "lift-team")
    assert again.arrive_due == h.clock.now() + timedelta(minutes=30)  # fresh clocks
    assert again.accepted_at is None and again.resolved_at is None
    assert len(h.order_store.query()) == 1  # no second order
    assert again.history[-1].action is OrderAction.REOPEN


def test_a_repeat_after_the_reopen_period_is_a_new_order(tmp_path: Path) -> None:
    h = DispatchHarness(tmp_path, policy=DispatchPolicy(reopen_within=timedelta(hours=2)))
    entrapment(h)
    first = h.only_order()
    h.desk.accept(first.id, by="王师傅")
    h.event("L1", "fault_cleared", code="entrapment")
    h.desk.resolve(first.id, by="王师傅")
    assert h.order(first.id).state is OrderState.CLOSED  # telemetry had recovered already
    h.advance(2 * 3600 + 60, step=600)
    entrapment(h)
    second = h.only_order()
    assert second.id != first.id and h.order(first.id).reopened == 0


def test_while_an_order_is_open_the_devices_other_non_critical_alarms_do_not_page(tmp_path: Path) -> None:
    h = DispatchHarness(tmp_path)
    entrapment(h)
    order = h.only_order()
    h.event("L1", "fault", code="door_close_failure")  # minor, same lift
    door = h.alert("L1", "lift.door_failure")
    assert door is not None
    assert door.work_order == order.id and door.acknowledged and door.acknowledged_by == "dispatch"
    h.advance(31 * 60)  # past the minor escalation time (30 min): nobody is paged for it
    assert Action.ESCALATE not in h.recorder.actions("lift.door_failure")
    assert OrderAction.LINK in [e.action for e in h.order(order.id).history]
    assert len(h.desk.live) == 1


def test_a_critical_alarm_on_a_device_under_repair_still_pages(tmp_path: Path) -> None:
    h = DispatchHarness(tmp_path)
    h.event("L1", "fault", code="door_open_failure")
    door = h.alert("L1", "lift.door_failure")
    assert door is not None
    order = h.desk.dispatch_alert(door.id, by="op")
    h.event("L1", "fault", code="unintended_movement")
    moving = h.alert("L1", "lift.unintended_movement")
    assert moving is not None and moving.work_order == order.id and not moving.acknowledged
    urgent = h.order(order.id)
    assert urgent.severity is Severity.CRITICAL  # the order is now urgent, with urgent clocks
    assert urgent.accept_due == T0 + timedelta(minutes=5) and urgent.arrive_due == T0 + timedelta(minutes=30)
    assert urgent.resolve_due == T0 + timedelta(hours=24)  # door faults had 24 h already: kept


def test_cancel_and_reassign(tmp_path: Path) -> None:
    h = DispatchHarness(tmp_path)
    order = h.desk.report(estate="sunrise", trade=Trade.LIFT, title="轿厢灯不亮", by="前台")
    h.desk.accept(order.id, by="王师傅")
    h.clock.advance(timedelta(minutes=10))
    moved = h.desk.reassign(order.id, "lift-backup", by="值班长", note="王师傅在别处")
    assert (moved.crew, moved.state, moved.accepted_at) == ("lift-backup", OrderState.ASSIGNED, None)
    assert moved.crews_tried == ["lift-team", "lift-backup"]
    # The crew it left hears about it too, so its list drops the order.
    assert h.orders.events[-1][1:] == (OrderAction.REASSIGN, ("lift-team", "lift-backup"))
    with pytest.raises(OrderError, match="no crew 'nobody'"):
        h.desk.reassign(order.id, "nobody", by="值班长")
    cancelled = h.desk.cancel(order.id, by="值班长", note="重复报修")
    assert cancelled.state is OrderState.CANCELLED and not cancelled.live
    with pytest.raises(OrderError, match="cancelled"):
        h.desk.resolve(order.id, by="陈师傅")


def test_no_crew_of_the_trade_leaves_the_order_open_for_an_operator(tmp_path: Path) -> None:
    crews = [{"id": "water-team", "trades": ["water"], "estates": ["sunrise"]}]
    h = DispatchHarness(tmp_path, inventory=dispatch_inventory(tmp_path, crews=crews))
    entrapment(h)
    order = h.only_order()
    assert (order.state, order.crew) == (OrderState.OPEN, None)
    assert "no crew of trade lift" in order.history[-1].note
    with pytest.raises(OrderError, match="accept needs assigned"):
        h.desk.accept(order.id, by="someone")
    assert h.desk.reassign(order.id, "water-team", by="op").state is OrderState.ASSIGNED


def test_sos_sends_the_security_crew(tmp_path: Path) -> None:
    h = DispatchHarness(tmp_path)
    h.event("H1", "sos", guards=["G1"])
    order = h.only_order()
    assert (order.trade, order.crew, order.severity) == (Trade.SECURITY, "security-team", Severity.CRITICAL)
    assert order.arrive_due == T0 + timedelta(hours=1)  # 急修: on site within 1 h


def test_a_suppressed_alarm_is_dispatched_when_it_stops_being_suppressed(tmp_path: Path) -> None:
    h = DispatchHarness(tmp_path)
    h.engine.add_window(
        MaintenanceWindow(0, "sunrise", None, "T1", T0, T0 + timedelta(hours=1), "清洗水箱", "op")
    )
    h.event("T1", "flooding")
    assert h.alert("T1", "water.flooding") is not None and not h.desk.live
    h.advance(3601, step=60)
    assert h.only_order().rule == "water.flooding"


def test_order_json_has_the_spec_keys(tmp_path: Path) -> None:
    h = DispatchHarness(tmp_path)
    entrapment(h)
    body = h.only_order().to_json()
    spec_keys = {
        "id", "estate", "building", "device", "alert", "trade", "crew", "severity", "state", "title",
        "description", "created_at", "deadlines", "breached", "history",
    }  # fmt: skip
    assert spec_keys <= body.keys()
    assert body["deadlines"] == {
        "accept": (T0 + timedelta(minutes=5)).isoformat(),
        "arrive": (T0 + timedelta(minutes=30)).isoformat(),
        "resolve": (T0 + timedelta(hours=24)).isoformat(),
    }
    assert body["history"][0]["action"] == "create" and body["breached"] == []
    assert alert_key("sunrise", "L1", "lift.entrapment") == h.only_order().alert_key
    assert {s.value for s in Step} == set(body["deadlines"])


def test_an_alarm_raised_and_cleared_in_one_batch_still_sends_a_crew(tmp_path: Path) -> None:
    h = DispatchHarness(tmp_path)
    opened = h.reading("T1", "event", {"type": "hatch_open"})
    closed = h.reading("T1", "event", {"type": "hatch_closed"})
    h.engine.consume([opened, closed])  # one batch: by the time it is stored, the hatch is shut
    alert = h.alert("T1", "water.hatch_open")
    assert alert is not None and not alert.active
    order = h.only_order()
    assert alert.work_order == order.id and order.crew == "water-team"


def test_an_estate_may_turn_dispatch_on_for_a_rule(tmp_path: Path) -> None:
    inventory = dispatch_inventory(tmp_path)
    estate = inventory.estates[0].model_copy(update={"rules": {"lift.door_failure": {"dispatch": True}}})
    h = DispatchHarness(tmp_path, inventory=inventory.model_copy(update={"estates": [estate]}))
    h.event("L1", "fault", code="door_open_failure")
    assert h.only_order().rule == "lift.door_failure"
