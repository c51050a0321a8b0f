"""The API's one door into the alarm core (alerts/owner.py): operator commands and reads.

Commands (acknowledge, shelve, dispatch, a work order's steps, the ledger's records) run on the
owner's thread, each ending with the book's ``flush`` (one transaction, then the outbox and the
stream), and come back as JSON made there, so no live object crosses threads. A command that
waits longer than ``timeout_s`` for the owner is ``OwnerBusy`` (503 with Retry-After). Reads go
to the stores, which every flush brings up to date: they never wait for the owner.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from alerts.book import AlertBook
from alerts.engine import AlarmEngine
from alerts.engine_core import EstateRules
from alerts.model import Alert
from alerts.owner import Owner
from alerts.store import AlertStore, MaintenanceWindow
from assets.desk import MaintenanceDesk
from assets.model import PlanState
from devices.base import Reading
from dispatch.desk import Dispatcher
from dispatch.model import WorkOrder
from dispatch.store import OrderStore

T = TypeVar("T")


class OwnedRules:
    """The alarm engine as the pipeline and the ticker see it: each batch and each tick is a
    command to the owner, and the caller waits for it (the pipeline's batches stay in order, a
    batch's alarms are stored before it is acknowledged, and a slow core holds the pipeline back
    instead of queueing without end)."""

    def __init__(self, owner: Owner, engine: AlarmEngine) -> None:
        self._owner, self._engine = owner, engine

    def consume(self, readings: Sequence[Reading]) -> None:
        self._owner.call(lambda: self._engine.consume(readings))

    def tick(self) -> None:
        self._owner.call(self._engine.tick)


class AlarmCore:
    def __init__(
        self,
        owner: Owner,
        engine: AlarmEngine,
        dispatcher: Dispatcher,
        ledger: MaintenanceDesk | None = None,
        *,
        timeout_s: float = 10.0,
    ) -> None:
        self.owner, self._engine, self._desk, self._ledger = owner, engine, dispatcher, ledger
        self._book: AlertBook = engine.book
        self.timeout_s = timeout_s

    # -- reads: the stores ------------------------------------------------------------------------
    @property
    def alerts(self) -> AlertStore:
        return self._book.store

    @property
    def orders(self) -> OrderStore:
        return self._desk.store

    def alert(self, alert_id: int) -> Alert | None:
        return self._book.store.get(alert_id)

    def order(self, order_id: int) -> WorkOrder | None:
        return self._desk.store.get(order_id)

    def flooding(self, estate: str) -> bool:
        return estate in self._book.flooding  # a set the owner replaces an item of at a time

    def rules(self, estate: str) -> EstateRules | None:
        """The estate's rules (built at start-up, never changed after)."""
        return self._engine.rules.get(estate)

    # -- commands: the owner's thread -----------------------------------------------------------
    def _command(self, fn: Callable[[], T]) -> T:
        def run() -> T:
            try:
                return fn()
            finally:
                self._book.flush()

        return self.owner.call(run, self.timeout_s)

    def ack(self, alert_id: int, by: str, note: str) -> dict[str, Any]:
        return self._command(lambda: self._book.ack(alert_id, by, note).to_json(with_history=True))

    def shelve(self, alert_id: int, by: str, minutes: float, reason: str) -> dict[str, Any]:
        return self._command(
            lambda: self._book.shelve(alert_id, by, minutes, reason).to_json(with_history=True)
        )

    def unshelve(self, alert_id: int, by: str, note: str) -> dict[str, Any]:
        return self._command(lambda: self._book.unshelve(alert_id, by, note).to_json(with_history=True))

    def add_window(self, window: MaintenanceWindow) -> MaintenanceWindow:
        return self._command(lambda: self._engine.add_window(window))

    def report(self, **fields: Any) -> dict[str, Any]:
        return self._command(lambda: self._desk.report(**fields).to_json())

    def step(self, step: str, order_id: int, by: str, note: str) -> dict[str, Any]:
        """``accept``, ``arrive``, ``resolve`` or ``cancel`` a work order."""
        act: Callable[[int, str, str], WorkOrder] = {
            "accept": self._desk.accept,
            "arrive": self._desk.arrive,
            "resolve": self._desk.resolve,
            "cancel": self._desk.cancel,
        }[step]
        return self._command(lambda: act(order_id, by, note).to_json())

    def reassign(self, order_id: int, crew: str, by: str, note: str) -> dict[str, Any]:
        return self._command(lambda: self._desk.reassign(order_id, crew, by, note).to_json())

    def dispatch_alert(self, alert_id: int, by: str, crew: str | None) -> dict[str, Any]:
        return self._command(lambda: self._desk.dispatch_alert(alert_id, by, crew).to_json())

    def plan_states(self) -> list[PlanState]:
        """The maintenance schedule as stored (every flush writes the plans that changed)."""
        return [] if self._ledger is None else self._ledger.store.states()

    def ledger(self, fn: Callable[[MaintenanceDesk], T]) -> T:
        """A change of the equipment ledger (a record), on the owner's thread (what ``fn``
        returns must be JSON or a copy: it leaves that thread)."""
        desk = self._ledger
        if desk is None:
            raise LookupError("this gateway keeps no equipment ledger")
        return self._command(lambda: fn(desk))
