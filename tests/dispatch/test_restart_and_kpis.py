"""Orders, their history and clocks survive a restart; 维修及时率 over a day matches a hand count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from devices.base import Trade
from dispatch.kpis import repair_kpis
from dispatch.model import OrderAction, OrderState, Step
from tests.dispatch.harness import DispatchHarness

T0 = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai


def test_orders_history_and_clocks_survive_a_crash(tmp_path: Path) -> None:
    h = DispatchHarness(tmp_path)
    h.send("L1", passenger=True, door="closed", door_zone=True, direction="stop", floor=3)
    h.event("L1", "fault", code="entrapment")
    order = h.only_order()
    h.clock.advance(timedelta(minutes=3))
    h.desk.accept(order.id, by="王师傅", note="在路上")
    before = h.order(order.id).to_json()
    del h  # dropped without any shutdown: what was flushed is all there is

    later = T0 + timedelta(minutes=20)
    h2 = DispatchHarness(tmp_path, start=later)
    again = h2.order(order.id)
    assert again.to_json() == before
    assert again.live and order.id in h2.desk.live
    # The arrival clock still runs from the alarm: it fires at T0 + 30 min, once.
    h2.just_before(T0 + timedelta(minutes=30), step=30)
    assert h2.order(order.id).breached == []
    h2.to(T0 + timedelta(minutes=30))
    assert h2.order(order.id).breached == [Step.ARRIVE]
    h2.advance(600)
    assert [e.action for e in h2.order(order.id).history].count(OrderAction.BREACH) == 1
    # A new order after the restart does not reuse an id.
    new = h2.desk.report(estate="sunrise", trade=Trade.WATER, title="漏水", by="前台")
    assert new.id == order.id + 1


def test_a_deadline_that_passed_while_down_fires_at_start(tmp_path: Path) -> None:
    h = DispatchHarness(tmp_path)
    order = h.desk.report(estate="sunrise", trade=Trade.LIFT, title="按钮坏", by="前台", category="emergency")
    del h
    h2 = DispatchHarness(tmp_path, start=T0 + timedelta(minutes=15))
    h2.advance(1)
    assert h2.order(order.id).breached == [Step.ACCEPT]  # 10 min, passed while it was down


def test_repair_timeliness_over_a_day_matches_a_hand_count(tmp_path: Path) -> None:
    """Ten orders on Monday 5 Jan (local day), by hand:
    - 1, 2, 3: accepted, on site and done in time → on time
    - 4: arrived late (emergency, on site after 70 min > 1 h) → late
    - 5: not accepted within 10 min (critical) → late, though finished
    - 6: resolved 3 days later, past the 2-day lighting clock → late
    - 7: still running, no deadline missed yet → pending, not counted
    - 8: cancelled → not counted
    - 9, 10: reports done the same day → on time
    Decided: 1–6, 9, 10 = 8; on time: 1, 2, 3, 9, 10 = 5; 维修及时率 = 5 / 8 = 0.625."""
    h = DispatchHarness(tmp_path)
    desk = h.desk

    def report(title: str, trade: Trade = Trade.WATER, category: str | None = "emergency") -> int:
        return desk.report(estate="sunrise", trade=trade, title=title, by="前台", category=category).id

    def finish(order_id: int, accept: float, arrive: float, resolve: float) -> None:
        """Step at these minutes after the current time."""
        start = h.clock.now()
        for minutes, step in ((accept, desk.accept), (arrive, desk.arrive), (resolve, desk.resolve)):
            h.clock.advance(start + timedelta(minutes=minutes) - h.clock.now())
            h.desk.tick(h.clock.now())
            step(order_id, by="crew")

    for n in (1, 2, 3):
        finish(report(f"on time {n}"), 5, 40, 120)
    late_arrival = report("late arrival")
    finish(late_arrival, 5, 70, 120)
    late_accept = report("late accept", Trade.SECURITY)
    finish(late_accept, 15, 40, 90)
    lamp = report("lamp", Trade.ELECTRICAL, "simple_lighting")
    running = report("still running", Trade.WATER, None)  # minor: 5 working days
    cancelled = report("duplicate")
    desk.cancel(cancelled, by="op", note="重复")
    for n in (1, 2):
        finish(report(f"quick {n}", Trade.LIFT, None), 10, 30, 60)
    h.clock.advance(timedelta(days=3))
    h.advance(60, step=60, keep_alive=[])
    desk.accept(lamp, by="crew")
    desk.resolve(lamp, by="crew")

    day = datetime(2026, 1, 4, 16, 0, tzinfo=UTC)  # 5 Jan 00:00 in Shanghai
    orders = h.order_store.query(created_from=day, created_to=day + timedelta(days=1))
    k = repair_kpis(orders, day, day + timedelta(days=1))
    assert (k.orders, k.decided, k.on_time, k.late, k.pending, k.cancelled) == (10, 8, 5, 3, 1, 1)
    assert k.timeliness == 0.625
    assert h.order(running).state is OrderState.ASSIGNED and h.order(running).breached == []
    assert k.breaches == {"arrive": 1, "accept": 1, "resolve": 1}
    # Minutes from creation to acceptance: 5, 5, 5, 5, 15, 10, 10, and the lamp: made before the
    # two quick orders (2 × 60 min), then 3 days and 1 min → 4441. Mean (35 + 20 + 4441) / 8.
    assert k.mean_minutes["accept"] == 562.0


def test_a_fault_returning_after_a_restart_still_reopens_its_order(tmp_path: Path) -> None:
    h = DispatchHarness(tmp_path)
    h.send("L1", passenger=True, door="closed", door_zone=True, direction="stop", floor=3)
    h.event("L1", "fault", code="entrapment")
    order = h.only_order()
    h.desk.accept(order.id, by="王师傅")
    h.event("L1", "fault_cleared", code="entrapment")
    h.desk.resolve(order.id, by="王师傅")
    assert h.order(order.id).state is OrderState.CLOSED
    del h

    h2 = DispatchHarness(tmp_path, start=T0 + timedelta(hours=3))
    h2.send("L1", passenger=True, door="closed", door_zone=True, direction="stop", floor=3)
    h2.event("L1", "fault", code="entrapment")
    again = h2.order(order.id)
    assert (again.state, again.reopened) == (OrderState.ASSIGNED, 1)
    assert len(h2.order_store.query()) == 1


def test_the_duty_manager_escalation_is_not_repeated_after_a_crash(tmp_path: Path) -> None:
    """Issue 20: after a SIGKILL and restart, "no other crew: duty manager" was recorded (and
    published) a second time for an order nobody had accepted."""
    h = DispatchHarness(tmp_path)
    h.send("L1", passenger=True, door="closed", door_zone=True, direction="stop", floor=3)
    h.event("L1", "fault", code="entrapment")
    order = h.only_order()
    h.advance(3 * 3600, step=60)  # every crew of the trade tried, none accepted

    def to_manager(h: DispatchHarness) -> int:
        notes = [e.note for e in h.order(order.id).history if e.action is OrderAction.ESCALATE]
        return sum("duty manager" in note for note in notes)

    assert to_manager(h) == 1
    del h  # dropped without any shutdown
    h2 = DispatchHarness(tmp_path, start=T0 + timedelta(hours=4))
    h2.advance(3600, step=60)
    assert to_manager(h2) == 1
