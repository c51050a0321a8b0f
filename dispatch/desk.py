"""The dispatch desk (docs/contract.md §7): work orders from alerts and reports, routed to crews, with
deadline clocks, escalation, closing on telemetry and reopening when the fault returns.

This module holds start-up, queries and people's actions; the automatic side (the alert book's
extension, clocks, escalation) is :class:`dispatch.desk_core.DeskCore`. All work runs on the
alarm core's thread (alerts/owner.py) and every action ends with the book's ``flush``.
"""

from __future__ import annotations

from datetime import datetime

from alerts.model import coded
from devices.base import Severity, Trade
from dispatch.desk_core import (
    BREACH_RULE,
    BY,
    DeskCore,
    DispatchPolicy,
    OrderConflict,
    OrderError,
    OrderNotFound,
    OrderNotifier,
)
from dispatch.model import STEP_STATE, OrderAction, OrderState, Source, Step, WorkOrder
from dispatch.routing import trade_for

#: The category of planned orders: an SLA policy may name it (``category: maintenance``).
MAINTENANCE = "maintenance"

__all__ = [
    "BREACH_RULE",
    "BY",
    "DispatchPolicy",
    "Dispatcher",
    "OrderConflict",
    "OrderError",
    "OrderNotFound",
    "OrderNotifier",
]


class Dispatcher(DeskCore):
    # -- start-up ------------------------------------------------------------------------------
    def start(self) -> None:
        """Load live orders and arm their clocks (a deadline passed while down fires at the next
        tick); orders for alerts raised before a crash that stored no order are made now."""
        with self.book.guard:
            now = self.clock.now()
            self._ids = self.store.ids()
            for order in self.store.live():
                self._track(order)
                self._arm(order)
            for key, order_id, closed_at in self.store.closed_since(now - self.policy.reopen_within):
                self._remember_closed(key, order_id, closed_at)
            for alert in self.book.open_alerts():
                if (
                    alert.active
                    and alert.work_order is None
                    and alert.suppressed_by is None
                    and self.dispatches(alert)
                ):
                    self._on_raise(alert)
        self.book.flush()

    # -- queries ---------------------------------------------------------------------------------
    def find(self, order_id: int) -> WorkOrder | None:
        with self.book.guard:
            order = self.live.get(order_id)
        return order if order is not None else self.store.get(order_id)

    def _get(self, order_id: int) -> WorkOrder:
        order = self.live.get(order_id)
        if order is None:
            found = self.store.get(order_id)
            if found is None:
                raise OrderNotFound(f"no work order {order_id}")
            raise OrderConflict(f"work order {order_id} is {found.state.value}")
        return order

    # -- people's actions ------------------------------------------------------------------------
    def report(
        self,
        *,
        estate: str,
        title: str,
        by: str,
        trade: Trade | None = None,
        building: str | None = None,
        device: str | None = None,
        severity: Severity = Severity.MINOR,
        description: str = "",
        category: str | None = None,
        crew: str | None = None,
    ) -> WorkOrder:
        """A manual report (a resident's 报修 entered by staff). With a device, the trade and the
        building default to the device's."""
        with self.book.guard:
            found = self.inventory.estate(estate)
            if found is None:
                raise OrderError(f"no estate {estate!r}")
            if device is not None:
                config = found.device(device)
                if config is None:
                    raise OrderError(f"no device {device!r} in estate {estate!r}")
                building = building or config.building
                trade = trade or trade_for(config.kind.value, None)
            if trade is None:
                raise OrderError("say which trade repairs it (or name the device)")
            if building is not None and building not in found.buildings:
                raise OrderError(f"no building {building!r} in estate {estate!r}")
            self._check_crew(estate, crew)
            order = self._create(
                estate=estate,
                building=building,
                device=device,
                trade=trade,
                severity=severity,
                title=title,
                description=description,
                source=Source.REPORT,
                by=by,
                category=category,
                crew=crew,
            )
        self.book.flush()
        return order

    # -- planned maintenance (assets/): on the owner's thread, the caller flushes ------------------
    def plan(
        self,
        *,
        estate: str,
        building: str | None,
        device: str | None,
        trade: Trade,
        title: str,
        description: str,
        due: datetime,
        by: str = BY,
    ) -> WorkOrder:
        """A planned (preventive) order, its resolve deadline the plan's due time, routed to the
        on-duty crew of ``trade``."""
        order = self._create(
            estate=estate,
            building=building,
            device=device,
            trade=trade,
            severity=Severity.MINOR,
            title=title,
            description=description,
            source=Source.PLAN,
            by=by,
            category=MAINTENANCE,
        )
        order.set_due(Step.RESOLVE, due)
        self._arm(order)
        return order

    def complete_planned(self, order_id: int, by: str, note: str) -> WorkOrder:
        """A planned order done (its maintenance record stored): every step done now, closed."""
        order = self._get(order_id)
        if order.source is not Source.PLAN:
            raise OrderConflict(f"work order {order_id} is not a planned maintenance order")
        now = self.clock.now()
        for step in Step:
            if order.done_at(step) is None:
                order.set_done(step, now)
            done = coded("orderStep", f"work order {order.id}: recorded", id=order.id, step="recorded")
            self.book.clear(self._breach_key(order, step), by, done)
        order.state = OrderState.RESOLVED
        self._change(order, OrderAction.RESOLVE, by, note)
        self._close(order, coded("maintenanceRecorded", "保养记录已登记 / maintenance recorded"))
        return order

    def dispatch_alert(self, alert_id: int, by: str, crew: str | None = None) -> WorkOrder:
        """An operator sends an alert to a crew (the on-duty one unless named)."""
        with self.book.guard:
            alert = self.book.find(alert_id)
            if alert is None:
                raise OrderNotFound(f"no alert {alert_id}")
            if not alert.is_open:
                raise OrderConflict(f"alert {alert_id} is closed")
            if alert.work_order is not None and alert.work_order in self.live:
                raise OrderConflict(f"alert {alert_id} already has work order {alert.work_order}")
            if alert.rule == BREACH_RULE:
                raise OrderConflict(f"alert {alert_id} is about work order {alert.subject}: act on it")
            self._check_crew(alert.estate, crew)
            order = self._from_alert(alert, Source.OPERATOR, by, crew)
        self.book.flush()
        return order

    def _other_trade(self, crew: str, trade: Trade) -> str:
        """A note when the crew lacks the order's trade (a lift order to the electricians): allowed
        (a crew may be the only one at hand), but said in the history as the console warned."""
        found = next((c for c in self.inventory.crews if c.id == crew), None)
        if found is None or trade in found.trades:
            return ""
        return f" — 不同工种 / not a {trade.value} crew"

    def _check_crew(self, estate: str, crew: str | None) -> None:
        if crew is None:
            return
        found = next((c for c in self.inventory.crews if c.id == crew), None)
        if found is None:
            raise OrderError(f"no crew {crew!r}")
        if estate not in found.estates:
            raise OrderError(f"crew {crew!r} does not serve estate {estate!r}")

    def _step(self, order_id: int, step: Step, by: str, note: str) -> WorkOrder:
        with self.book.guard:
            order = self._get(order_id)
            allowed = {
                Step.ACCEPT: (OrderState.ASSIGNED,),
                Step.ARRIVE: (OrderState.ACCEPTED,),
                Step.RESOLVE: (OrderState.ACCEPTED, OrderState.ON_SITE),
            }[step]
            if order.state not in allowed:
                need = " or ".join(s.value for s in allowed)
                raise OrderConflict(
                    f"work order {order_id} is {order.state.value}: {step.value} needs {need}"
                )
            now = self.clock.now()
            order.set_done(step, now)
            order.state = STEP_STATE[step]
            alert = self.book.find(order.alert) if order.alert is not None else None
            waiting = step is Step.RESOLVE and alert is not None and alert.active
            if waiting:
                note = f"{note}; 等待设备遥测确认恢复 / waiting for the device's telemetry".lstrip("; ")
            self._change(order, OrderAction(step.value), by, note)
            for done in Step if step is Step.RESOLVE else (step,):
                said = coded(
                    "orderStep", f"work order {order.id}: {step.value}", id=order.id, step=step.value
                )
                self.book.clear(self._breach_key(order, done), by, said)
            if step is Step.RESOLVE and not waiting:
                self._close(
                    order,
                    coded("repaired", "已修复 / repaired")
                    if alert is None
                    else coded("deviceRecovered", "设备已恢复 / the device had recovered"),
                )
        self.book.flush()
        return order

    def accept(self, order_id: int, by: str, note: str = "") -> WorkOrder:
        return self._step(order_id, Step.ACCEPT, by, note)

    def arrive(self, order_id: int, by: str, note: str = "") -> WorkOrder:
        return self._step(order_id, Step.ARRIVE, by, note)

    def resolve(self, order_id: int, by: str, note: str = "") -> WorkOrder:
        return self._step(order_id, Step.RESOLVE, by, note)

    def cancel(self, order_id: int, by: str, note: str) -> WorkOrder:
        with self.book.guard:
            order = self._get(order_id)
            order.state, order.closed_at = OrderState.CANCELLED, self.clock.now()
            self._untrack(order)
            self._change(order, OrderAction.CANCEL, by, note)
            for step in Step:
                cancelled = coded("orderCancelled", f"work order {order.id} cancelled", id=order.id)
                self.book.clear(self._breach_key(order, step), by, cancelled)
            text = f"工单 {order.id} 已撤销 / work order {order.id} cancelled; {note}"
            self.book.unlink_work_order(order.id, by, coded("orderCancelledWhy", text, id=order.id, why=note))
        self.book.flush()
        return order

    def reassign(self, order_id: int, crew: str, by: str, note: str = "") -> WorkOrder:
        """To another crew: it must accept anew (its accept clock restarts); arrival and
        resolution keep their deadlines."""
        with self.book.guard:
            order = self._get(order_id)
            if order.state is OrderState.RESOLVED:
                raise OrderConflict(f"work order {order_id} is resolved: waiting for the device, not a crew")
            self._check_crew(order.estate, crew)
            previous = order.crew
            other = self._other_trade(crew, order.trade)
            order.crew, order.state = crew, OrderState.ASSIGNED
            order.crews_tried.append(crew)
            order.accepted_at = order.arrived_at = None
            clocks = self._clocks(order, self.clock.now(), (Step.ACCEPT,))
            text = f"{previous or '-'} → {crew}{other}"
            text += f"{'; ' + clocks if clocks else ''}{'; ' + note if note else ''}"
            said = coded(
                "reassigned",
                text,
                previous=previous or "-",
                crew=crew,
                otherTrade=order.trade.value if other else "",
                clocks=clocks,
                why=note,
            )
            self._change(
                order,
                OrderAction.REASSIGN,
                by,
                said,
                crews=tuple(c for c in (previous, crew) if c),
            )
        self.book.flush()
        return order
