"""The maintenance desk on the dispatch harness, wired as the gateway wires it: real SQLite, a
manual clock, the book ticked by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from assets.desk import MaintenanceDesk
from assets.plans import RECORD_EVENTS
from assets.store import LedgerStore
from devices.inventory import Inventory
from dispatch.model import WorkOrder
from tests.dispatch.harness import DispatchHarness


class LedgerHarness(DispatchHarness):
    def __init__(self, tmp_path: Path, inventory: Inventory, start: datetime) -> None:
        super().__init__(tmp_path, inventory, start=start)
        self.ledger_store = LedgerStore(self.store.engine)
        # Wired as gateway/service.py wires it: an estate's opt-in compliance rule, when on, is
        # the plan's alarm (assets/plans.py ALARMED_BY), and a crew's record moves its clock on.
        self.ledger = MaintenanceDesk(
            self.inventory,
            self.book,
            self.desk,
            self.ledger_store,
            self.clock,
            alarm_rule=self.engine.rule,
            on_record=self.engine.note_record,
        )
        self.engine.hook_events(RECORD_EVENTS, self.ledger.on_event)
        self.ledger.start()

    def days(self, count: int, step: timedelta = timedelta(hours=6)) -> None:
        """Move the clock ``count`` days, the book (and so the desk) ticked every ``step``:
        the schedule, not the devices, is under test (no heartbeats)."""
        end = self.clock.now() + timedelta(days=count)
        while self.clock.now() < end:
            self.clock.advance(min(step, end - self.clock.now()))
            self.book.tick()
            self.book.flush()

    def planned(self) -> list[WorkOrder]:
        return [o for o in self.desk.live.values() if o.source.value == "plan"]
