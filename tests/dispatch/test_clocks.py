"""Deadline clocks on a virtual clock (issue 5, acceptance 1 and 2): each default deadline, one
across a public holiday and one landing on a make-up working day; breaches and the escalation
of an unaccepted critical order fire at the deadline, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from alerts.model import Action
from devices.base import Severity, Trade
from dispatch.desk import BREACH_RULE
from dispatch.model import OrderAction, OrderState, Step, WorkOrder
from tests.dispatch.harness import DispatchHarness, dispatch_inventory

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
QUIET: list[str] = []  # report orders name no device: the devices' silence does not matter


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)  # type: ignore[misc]


def breaches(h: DispatchHarness, order: WorkOrder) -> list[str]:
    return [e.note.split()[0] for e in h.order(order.id).history if e.action is OrderAction.BREACH]


def breach_raises(h: DispatchHarness, step: Step) -> int:
    """Breach alarms raised for ``step`` (their key is ``estate/WO{id}/{step}/workorder.overdue``)."""
    return sum(
        1
        for j, a in h.recorder.events
        if j["rule"] == BREACH_RULE
        and a is Action.RAISE
        and j["key"].endswith(f"/{step.value}/{BREACH_RULE}")
    )


def assert_breach_at(
    h: DispatchHarness, order: WorkOrder, step: Step, due: datetime, *, quiet: bool = False
) -> None:
    """Nothing breached a second before ``due``; ``step`` breached at ``due``; not again later."""
    keep = QUIET if quiet else None
    assert h.order(order.id).due(step) == due
    h.just_before(due, step=3600 if quiet else 60, keep_alive=keep)
    assert step.value not in breaches(h, order) and breach_raises(h, step) == 0
    h.to(due, keep_alive=keep)
    assert breaches(h, order).count(step.value) == 1 and breach_raises(h, step) == 1
    assert step in h.order(order.id).breached
    h.advance(2 * 3600, step=600, keep_alive=keep)
    assert breaches(h, order).count(step.value) == 1 and breach_raises(h, step) == 1  # once


def test_lift_entrapment_arrival_within_30_minutes(tmp_path: Path) -> None:
    h = DispatchHarness(tmp_path)
    h.send("L1", passenger=True, door="closed", door_zone=True, direction="stop", floor=3)
    h.event("L1", "fault", code="entrapment")
    order = h.only_order()
    h.clock.advance(timedelta(minutes=2))
    h.desk.accept(order.id, by="王师傅")
    assert_breach_at(h, order, Step.ARRIVE, T0 + timedelta(minutes=30))
    alert = next(a for a in h.book.open_alerts() if a.rule == BREACH_RULE)
    assert alert.severity is Severity.CRITICAL and "到场" in alert.message
    h.desk.arrive(order.id, by="王师傅")  # late, but there: the breach alarm clears
    assert not h.book.open_alert(alert.key).active  # type: ignore[union-attr]


def test_emergency_repair_on_site_within_1_hour_and_done_within_24_hours(tmp_path: Path) -> None:
    h = DispatchHarness(tmp_path)
    h.event("T1", "flooding")  # critical, water: 急修
    order = h.only_order()
    assert (order.trade, order.severity) == (Trade.WATER, Severity.CRITICAL)
    assert order.arrive_due == T0 + timedelta(hours=1)
    h.desk.accept(order.id, by="周师傅")
    h.clock.advance(timedelta(minutes=50))
    h.desk.arrive(order.id, by="周师傅")  # on time: no arrive breach
    assert_breach_at(h, order, Step.RESOLVE, T0 + timedelta(hours=24))
    assert h.order(order.id).breached == [Step.RESOLVE]


def test_simple_lighting_fault_within_24_hours(tmp_path: Path) -> None:
    # The estate standard's 2 days and the municipal lighting rules' 24 h: the stricter (docs/rules.md §5).
    h = DispatchHarness(tmp_path)
    h.event("LP1", "lamp_failure")
    lamp = h.alert("LP1", "light.lamp_out")
    assert lamp is not None and lamp.work_order is None  # info: an operator decides
    order = h.desk.dispatch_alert(lamp.id, by="op")
    assert (order.trade, order.crew) == (Trade.ELECTRICAL, "electric-team")
    assert (order.accept_due, order.arrive_due) == (None, None)
    assert_breach_at(h, order, Step.RESOLVE, T0 + timedelta(hours=24))


def test_simple_lighting_report_within_24_hours(tmp_path: Path) -> None:
    h = DispatchHarness(tmp_path)
    order = h.desk.report(
        estate="sunrise",
        trade=Trade.ELECTRICAL,
        title="3 栋楼道灯不亮",
        by="前台",
        category="simple_lighting",
    )
    assert_breach_at(h, order, Step.RESOLVE, T0 + timedelta(hours=24), quiet=True)


def test_other_faults_within_5_working_days(tmp_path: Path) -> None:
    # Friday 9 Jan 2026 10:00: the 5 working days are Mon 12 – Fri 16; due at the end of Friday.
    h = DispatchHarness(tmp_path, start=local(2026, 1, 9, 10, 0))
    order = h.desk.report(estate="sunrise", trade=Trade.WATER, title="水泵房门锁坏", by="前台")
    assert (order.accept_due, order.arrive_due) == (None, None)
    assert_breach_at(h, order, Step.RESOLVE, local(2026, 1, 17, 0, 0), quiet=True)


def test_common_area_repair_across_a_public_holiday(tmp_path: Path) -> None:
    # Wednesday 30 Sep: 1–7 Oct are the National Day holiday; Thu 8 and Fri 9 Oct count, and so
    # does Saturday 10 Oct (a make-up working day): due at the end of 10 Oct.
    h = DispatchHarness(tmp_path, start=local(2026, 9, 30, 15, 0))
    order = h.desk.report(
        estate="sunrise", trade=Trade.ELECTRICAL, title="单元门禁对讲坏", by="前台", category="common_area"
    )
    assert_breach_at(h, order, Step.RESOLVE, local(2026, 10, 11, 0, 0), quiet=True)


def test_a_working_day_deadline_landing_on_a_make_up_working_day(tmp_path: Path) -> None:
    # Friday 13 Feb 2026 with 1 working day: the next working day is Saturday 14 Feb (调休).
    inventory_policy = [{"id": "next-day", "category": "next_day", "resolve": "1wd"}]
    h = DispatchHarness(
        tmp_path,
        inventory=dispatch_inventory(tmp_path, sla_policies=inventory_policy),
        start=local(2026, 2, 13, 9, 0),
    )
    order = h.desk.report(estate="sunrise", trade=Trade.WATER, title="x", by="前台", category="next_day")
    assert_breach_at(h, order, Step.RESOLVE, local(2026, 2, 15, 0, 0), quiet=True)


def test_five_working_days_across_the_spring_festival(tmp_path: Path) -> None:
    # Fri 13 Feb: Sat 14 (make-up) is day 1; 15–23 Feb are holidays; Tue 24 – Fri 27 are days 2–5.
    h = DispatchHarness(tmp_path, start=local(2026, 2, 13, 9, 0))
    order = h.desk.report(estate="sunrise", trade=Trade.WATER, title="y", by="前台")
    assert order.resolve_due == local(2026, 2, 28, 0, 0)


def test_an_unaccepted_critical_order_escalates_to_the_next_crew_then_the_duty_manager(
    tmp_path: Path,
) -> None:
    h = DispatchHarness(tmp_path)
    h.send("L1", passenger=True, door="closed", door_zone=True, direction="stop", floor=3)
    h.event("L1", "fault", code="entrapment")
    order = h.only_order()
    assert order.crew == "lift-team"
    escalations = lambda: [e.note for e in h.order(order.id).history if e.action is OrderAction.ESCALATE]  # noqa: E731

    h.just_before(T0 + timedelta(minutes=5), step=10)
    assert escalations() == [] and h.order(order.id).crew == "lift-team"
    h.to(T0 + timedelta(minutes=5))
    moved = h.order(order.id)
    assert moved.crew == "lift-backup" and moved.state is OrderState.ASSIGNED
    assert moved.accept_due == T0 + timedelta(minutes=10)  # the new crew's own 5 minutes
    assert len(escalations()) == 1 and "lift-backup" in escalations()[0]
    assert h.orders.events[-1][1:] == (OrderAction.ESCALATE, ("lift-team", "lift-backup"))
    assert breaches(h, order) == ["accept"] and breach_raises(h, Step.ACCEPT) == 1

    h.just_before(T0 + timedelta(minutes=10), step=10)
    assert len(escalations()) == 1
    h.to(T0 + timedelta(minutes=10))
    assert len(escalations()) == 2 and "duty manager" in escalations()[1]
    assert h.order(order.id).crew == "lift-backup"
    h.advance(3600, step=60)
    assert len(escalations()) == 2 and breaches(h, order).count("accept") == 1
    assert breach_raises(h, Step.ACCEPT) == 1
    # The breach alarm, unacknowledged, goes to the duty manager like any critical alarm.
    breach = next(a for a in h.book.open_alerts() if a.key.endswith(f"/accept/{BREACH_RULE}"))
    assert breach.escalated
    h.desk.accept(order.id, by="陈师傅")
    assert not h.book.open_alert(breach.key).active  # type: ignore[union-attr]


def test_a_major_order_not_accepted_breaches_but_stays_with_its_crew(tmp_path: Path) -> None:
    h = DispatchHarness(tmp_path)
    h.event("T1", "hatch_open")  # major, dispatched: accept within 30 min (practice)
    order = h.only_order()
    assert order.severity is Severity.MAJOR
    assert_breach_at(h, order, Step.ACCEPT, T0 + timedelta(minutes=30))
    assert h.order(order.id).crew == "water-team"
    assert not [e for e in h.order(order.id).history if e.action is OrderAction.ESCALATE]


def test_an_estates_own_policy_beats_a_more_specific_default(tmp_path: Path) -> None:
    # The estate says critical lift orders are resolved within 4 h; the built-in entrapment
    # default (24 h) names the rule, but only fills clocks the estate leaves unset.
    own = [{"id": "lift-critical", "trade": "lift", "severity": "critical", "resolve": "4h"}]
    h = DispatchHarness(tmp_path, inventory=dispatch_inventory(tmp_path, sla_policies=own))
    h.send("L1", passenger=True, door="closed", door_zone=True, direction="stop", floor=3)
    h.event("L1", "fault", code="entrapment")
    order = h.only_order()
    assert order.resolve_due == T0 + timedelta(hours=4)
    assert order.arrive_due == T0 + timedelta(minutes=30)  # from the default, which the estate left
    assert "resolve 4h (lift-critical)" in order.history[0].note
