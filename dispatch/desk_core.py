"""The dispatch desk's core: its state, and what it does by itself — orders from alerts, routing,
deadline clocks, breaches and escalation, closing on telemetry, reopening when the fault returns.
People's actions (reports, dispatching, the crew's steps) are in dispatch/desk.py.

The desk is an extension of the alert book: it sees every alert change inside the book's batch
(``observe``), keeps its clocks on the book's tick, and stores its orders in the same transaction
as the alert changes. All its work runs on the alarm core's thread; every public action ends with the
book's ``flush`` (storage, then MQTT ``crew/{crew}/orders`` and the event stream).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from alerts.book import RANK, AlertBook, Raise
from alerts.model import Action, Alert, Note, alert_key, coded
from alerts.outbox import order_event
from alerts.rules import RuleBase
from alerts.store import Ids
from alerts.timers import Timers
from devices.base import Severity, Trade
from devices.clock import Clock
from devices.inventory import Inventory
from dispatch.deadlines import DEFAULT_POLICIES, deadlines, select_clocks
from dispatch.model import OrderAction, OrderEntry, OrderState, Source, Step, WorkOrder
from dispatch.routing import candidates, trade_for
from dispatch.store import OrderStore

BY = "dispatch"
BREACH_RULE = "workorder.overdue"
#: Rules outside the catalogue that always send someone: a guard's SOS.
ALWAYS_DISPATCH = frozenset({"patrol.sos"})
_STEP_ZH = {Step.ACCEPT: "接单", Step.ARRIVE: "到场", Step.RESOLVE: "完成"}
_CLEARING = frozenset({Action.CLEAR, Action.CLOSE})
_RAISING = frozenset({Action.RAISE, Action.REACTIVATE, Action.UNSUPPRESS})

RuleLookup = Callable[[str, str], RuleBase | None]


class OrderNotifier(Protocol):
    def notify(self, order: dict[str, Any], action: OrderAction, crews: Sequence[str]) -> None:
        """``order``: the work-order JSON as it was at the change; ``crews``: whom it concerns
        (the crew it is with, and on a reassignment the crew it left)."""


class OrderError(ValueError):
    """An action that cannot be done as asked (a 409 or 422 at the API)."""


class OrderNotFound(OrderError):
    pass


class OrderConflict(OrderError):
    """The order (or alert) is not in a state that allows this (a 409 at the API)."""


@dataclass(frozen=True)
class DispatchPolicy:
    #: A repeat of the fault within this long after closing reopens the order (docs/contract.md §7).
    reopen_within: timedelta = timedelta(hours=24)


class DeskCore:
    """The desk's state and its automatic side: orders from alerts, clocks, breaches, escalation."""

    def __init__(
        self,
        inventory: Inventory,
        book: AlertBook,
        store: OrderStore,
        clock: Clock,
        rules: RuleLookup,
        notifiers: Sequence[OrderNotifier] = (),
        policy: DispatchPolicy | None = None,
    ) -> None:
        self.inventory, self.book, self.store, self.clock, self.rules = inventory, book, store, clock, rules
        self.notifiers = list(notifiers)
        self.policy = policy or DispatchPolicy()
        self.live: dict[int, WorkOrder] = {}
        #: Live orders by device, so an alarm finds its device's order without a scan.
        self._by_device: dict[tuple[str, str], set[int]] = {}
        #: Orders closed lately, by alert key: a repeat of that fault reopens them.
        self._closed: dict[str, tuple[int, datetime]] = {}
        self._closed_order: deque[tuple[datetime, str]] = deque()
        self._ids = Ids(1)
        self._due: Timers[datetime, tuple[int, Step]] = Timers()
        self._dirty: dict[int, WorkOrder] = {}
        self._history: list[tuple[int, OrderEntry]] = []
        self._events: list[tuple[WorkOrder, OrderAction, tuple[str, ...]]] = []
        #: The JSON of ``_events`` as ``write`` stored it, for ``committed`` to send.
        self._written: list[tuple[dict[str, Any], OrderAction, tuple[str, ...]]] = []
        book.extensions.append(self)

    def device_orders(self, estate: str, device: str) -> list[WorkOrder]:
        return sorted((self.live[i] for i in self._by_device.get((estate, device), ())), key=lambda o: o.id)

    def _track(self, order: WorkOrder) -> None:
        self.live[order.id] = order
        if order.device is not None:
            self._by_device.setdefault((order.estate, order.device), set()).add(order.id)

    def _untrack(self, order: WorkOrder) -> None:
        self.live.pop(order.id, None)
        if order.device is not None:
            ids = self._by_device.get((order.estate, order.device), set())
            ids.discard(order.id)
            if not ids:
                self._by_device.pop((order.estate, order.device), None)

    # -- the book's extension ------------------------------------------------------------------
    def observe(self, alert: Alert, action: Action) -> None:
        if alert.rule == BREACH_RULE:
            return
        if (
            action in _RAISING
            and alert.suppressed_by is None
            and (alert.active or action is not Action.UNSUPPRESS)
        ):
            # Raised even if it cleared within the same batch (a hatch opened and shut): it happened.
            # A new alert's clocks start when it was raised, "30 min after the alarm".
            self._on_raise(alert, alert.raised_at if action is Action.RAISE else None)
        elif action in _CLEARING and alert.work_order is not None:
            order = self.live.get(alert.work_order)
            if order is not None and order.alert == alert.id and order.state is OrderState.RESOLVED:
                self._close(
                    order, coded("telemetryRecovered", "设备遥测确认已恢复 / telemetry confirms recovery")
                )

    def _on_raise(self, alert: Alert, since: datetime | None = None) -> None:
        now = self.clock.now()
        if alert.work_order is not None and alert.work_order in self.live:
            return
        closed = self._closed.get(alert.key)
        if closed is not None and now - closed[1] <= self.policy.reopen_within:
            self._reopen(closed[0], alert)
            return
        if alert.device is not None:
            for order in self.device_orders(alert.estate, alert.device):
                self._link(order, alert)
                return
        if self.dispatches(alert):
            self._from_alert(alert, Source.ALERT, BY, crew=None, start=since)

    def dispatches(self, alert: Alert) -> bool:
        """Whether the alert's rule sends a crew by itself (its ``dispatch`` policy)."""
        rule = self.rules(alert.estate, alert.rule)
        return alert.rule in ALWAYS_DISPATCH or (rule is not None and rule.dispatch)

    def _link(self, order: WorkOrder, alert: Alert) -> None:
        """Another alarm of a device under repair joins its order; unless critical, it does not
        page again (acknowledged on the desk's behalf)."""
        said = coded("alreadyOpen", f"work order {order.id} already open for the device", id=order.id)
        self.book.set_work_order(alert, order.id, BY, said)
        linked = coded("alertLinked", f"alert {alert.id} {alert.rule}", id=alert.id, rule=alert.rule)
        self._change(order, OrderAction.LINK, BY, linked)
        if RANK[alert.severity] > RANK[order.severity]:
            order.severity = alert.severity
            pending = [step for step in Step if order.done_at(step) is None]
            clocks = self._clocks(order, self.clock.now(), pending, tighten=True)
            text = f"{alert.severity.value}; clocks: {clocks or 'as they were'}"
            said = coded("orderSeverity", text, severity=alert.severity.value, clocks=clocks)
            self._change(order, OrderAction.SEVERITY, BY, said)
        if alert.severity is not Severity.CRITICAL:
            covered = coded("covered", f"covered by work order {order.id}: not paged again", id=order.id)
            self.book.auto_ack(alert, BY, covered)

    def _remember_closed(self, key: str, order_id: int, closed_at: datetime) -> None:
        self._closed[key] = (order_id, closed_at)
        self._closed_order.append((closed_at, key))

    def tick(self, now: datetime) -> None:
        while self._closed_order and now - self._closed_order[0][0] > self.policy.reopen_within:
            closed_at, key = self._closed_order.popleft()
            if key in self._closed and self._closed[key][1] == closed_at:
                del self._closed[key]
        for due, (order_id, step) in self._due.due(now):
            order = self.live.get(order_id)
            if order is None or order.due(step) != due or order.done_at(step) or order.resolved_at:
                continue  # done, moved or gone since it was armed
            self._breach(order, step, now)

    def has_changes(self) -> bool:
        return bool(self._dirty)

    def write(self, conn: Connection) -> None:
        history = [(order_id, entry.stored()) for order_id, entry in self._history]
        self.store.write(conn, list(self._dirty.values()), history)
        # Each order's JSON once: the outbox's messages (in this transaction) and the stream's.
        self._written = [(o.to_json(), a, c) for o, a, c in self._events]
        outbox = self.book.outbox
        if outbox is not None:
            outbox.write(conn, [order_event(body, a.value, c) for body, a, c in self._written if c])

    def committed(self) -> Callable[[], None]:
        events, self._written = self._written, []
        self._dirty, self._history, self._events = {}, [], []

        def send() -> None:
            for body, action, crews in events:
                for notifier in self.notifiers:
                    notifier.notify(body, action, crews)

        return send

    # -- changes -------------------------------------------------------------------------------
    def _change(
        self,
        order: WorkOrder,
        action: OrderAction,
        by: str,
        note: str | Note = "",
        *,
        crews: tuple[str, ...] = (),
    ) -> None:
        self._history.append((order.id, order.record(self.clock.now(), by, action, note)))
        self._dirty[order.id] = order
        self._events.append((order, action, crews or ((order.crew,) if order.crew else ())))

    def _arm(self, order: WorkOrder) -> None:
        for step in Step:
            due = order.due(step)
            if due is not None and order.done_at(step) is None:
                self._due.at(due, (order.id, step))

    def _clocks(
        self, order: WorkOrder, start: datetime, steps: Sequence[Step] = tuple(Step), *, tighten: bool = False
    ) -> str:
        """Set the order's deadlines for ``steps`` from ``start`` (``tighten``: only where that
        is sooner than the deadline it has); returns what was set, for history."""
        own = self.inventory.estate(order.estate)
        clocks = select_clocks(
            self.inventory.sla_policies,
            estate=own.sla_policies if own is not None else (),
            defaults=DEFAULT_POLICIES,
            rule=order.rule,
            trade=order.trade,
            severity=order.severity,
            category=order.category,
        )
        due = deadlines(start, clocks, self._tz(order), self.inventory.calendar_for(order.estate))
        for step in steps:
            current, new = order.due(step), due.get(step)
            if not tighten or (new is not None and (current is None or new < current)):
                order.set_due(step, new)
        self._arm(order)
        return ", ".join(f"{s.value} {clocks[s].duration} ({clocks[s].policy})" for s in steps if s in clocks)

    def _create(
        self,
        *,
        estate: str,
        building: str | None,
        device: str | None,
        trade: Trade,
        severity: Severity,
        title: str,
        description: str,
        source: Source,
        by: str,
        category: str | None = None,
        crew: str | None = None,
        alert: Alert | None = None,
        start: datetime | None = None,
    ) -> WorkOrder:
        """A new order, its clocks started at ``start`` (default now), assigned to ``crew`` or the
        on-duty crew."""
        now = start or self.clock.now()
        order = WorkOrder(
            self._ids.take(),
            estate,
            building,
            device,
            alert.id if alert else None,
            alert.key if alert and alert.device else None,
            alert.rule if alert else None,
            trade,
            None,
            severity,
            OrderState.OPEN,
            title,
            description,
            source,
            category,
            now,
        )
        self._track(order)
        clocks = self._clocks(order, now)
        text = f"{source.value}; clocks: {clocks or 'none'}"
        self._change(
            order, OrderAction.CREATE, by, coded("created", text, source=source.value, clocks=clocks)
        )
        if alert is not None:
            self.book.set_work_order(alert, order.id, by)
        self._assign(order, crew, by)
        return order

    def _from_alert(
        self, alert: Alert, source: Source, by: str, crew: str | None, start: datetime | None = None
    ) -> WorkOrder:
        return self._create(
            estate=alert.estate,
            building=alert.building,
            device=alert.device,
            trade=trade_for(alert.kind, alert.rule),
            severity=alert.severity,
            title=alert.message,
            description=alert.message_en,
            source=source,
            by=by,
            crew=crew,
            alert=alert,
            start=start,
        )

    def _assign(self, order: WorkOrder, crew: str | None, by: str) -> None:
        if crew is None:
            found = candidates(self.inventory, order.estate, order.trade, self.clock.now())
            if not found:
                self._change(
                    order,
                    OrderAction.ESCALATE,
                    by,
                    coded(
                        "noCrew",
                        f"no crew of trade {order.trade} serves {order.estate}: an operator must assign one",
                        trade=order.trade.value,
                        estate=order.estate,
                    ),
                )
                return
            crew = found[0].id
        order.crew, order.state = crew, OrderState.ASSIGNED
        order.crews_tried.append(crew)
        self._change(order, OrderAction.ASSIGN, by, coded("assigned", crew, crew=crew))

    def _reopen(self, order_id: int, alert: Alert) -> None:
        order = self.store.get(order_id)
        self._closed.pop(alert.key, None)
        if order is None:
            return
        now = self.clock.now()
        self._track(order)
        order.state = OrderState.ASSIGNED if order.crew else OrderState.OPEN
        order.alert, order.reopened, order.closed_at = alert.id, order.reopened + 1, None
        for step in Step:
            order.set_done(step, None)
        clocks = self._clocks(order, now)
        said = coded("reopened", f"fault returned: work order {order.id} reopened", id=order.id)
        self.book.set_work_order(alert, order.id, BY, said)
        within = self.policy.reopen_within
        text = f"alert {alert.id}: the fault returned within {within}; clocks: {clocks}"
        minutes = int(within.total_seconds() // 60)
        self._change(
            order,
            OrderAction.REOPEN,
            BY,
            coded("orderReopened", text, id=alert.id, minutes=minutes, clocks=clocks),
        )

    def _close(self, order: WorkOrder, note: str | Note) -> None:
        order.state, order.closed_at = OrderState.CLOSED, self.clock.now()
        self._untrack(order)
        if order.alert_key:
            self._remember_closed(order.alert_key, order.id, order.closed_at)
        self._change(order, OrderAction.CLOSE, BY, note)

    # -- clocks running out ----------------------------------------------------------------------
    def _breach_key(self, order: WorkOrder, step: Step) -> str:
        return alert_key(order.estate, None, BREACH_RULE, f"WO{order.id}/{step.value}")

    def _breach(self, order: WorkOrder, step: Step, now: datetime) -> None:
        due = order.due(step)
        local = due.astimezone(self._tz(order)).strftime("%m-%d %H:%M") if due else ""
        if step not in order.breached:
            order.breached.append(step)
            missed = coded(
                "deadlineMissed", f"{step.value} deadline {local} missed", step=step.value, time=local
            )
            self._change(order, OrderAction.BREACH, BY, missed)
            if order.source is Source.PLAN and step is Step.RESOLVE:
                return  # a late planned task's alarm is the ledger's maintenance.overdue: one, not two
            where = order.device or order.building or order.estate
            self.book.raise_(
                Raise(
                    order.estate,
                    order.building,
                    None,
                    None,
                    BREACH_RULE,
                    order.severity if RANK[order.severity] >= RANK[Severity.MAJOR] else Severity.MINOR,
                    f"工单 {order.id}（{where}）超过{_STEP_ZH[step]}时限 {local}：{order.title}",
                    f"Work order {order.id} ({where}) missed its {step.value} deadline {local}: "
                    f"{order.description or order.title}",
                    subject=f"WO{order.id}/{step.value}",
                )
            )
        if step is Step.ACCEPT and order.severity is Severity.CRITICAL:
            self._escalate(order, now)

    def _escalate(self, order: WorkOrder, now: datetime) -> None:
        """A critical order nobody accepted goes to the next crew of its trade, else the duty
        manager (the breach alert, which escalates like any unacknowledged critical alarm)."""
        for crew in candidates(self.inventory, order.estate, order.trade, now):
            if crew.id not in order.crews_tried:
                previous = order.crew
                order.crew, order.state = crew.id, OrderState.ASSIGNED
                order.crews_tried.append(crew.id)
                clocks = self._clocks(order, now, (Step.ACCEPT,))
                self._change(
                    order,
                    OrderAction.ESCALATE,
                    BY,
                    coded(
                        "escalatedCrew",
                        f"not accepted in time by {previous}: reassigned to {crew.id}; {clocks}",
                        previous=previous or "-",
                        crew=crew.id,
                        clocks=clocks,
                    ),
                    crews=tuple(c for c in (previous, crew.id) if c),
                )
                return
        if not _with_the_manager(order):  # a restart re-arms the passed clock: say it once
            self._change(order, OrderAction.ESCALATE, BY, coded("toManager", TO_MANAGER))

    def _tz(self, order: WorkOrder) -> ZoneInfo:
        estate = self.inventory.estate(order.estate)
        return estate.tz if estate is not None else ZoneInfo("UTC")


TO_MANAGER = "not accepted in time and no other crew: duty manager"


def _with_the_manager(order: WorkOrder) -> bool:
    """True when the order's latest escalation sent it to the duty manager and no crew has been
    given it since."""
    for entry in reversed(order.history):
        if entry.action is OrderAction.ESCALATE:
            return entry.note == TO_MANAGER
        if entry.action in (OrderAction.ASSIGN, OrderAction.REASSIGN, OrderAction.REOPEN):
            return False
    return False
