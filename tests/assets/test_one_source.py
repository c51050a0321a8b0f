"""One lateness, one alarm (issue 26): a device plan whose lateness the catalogue already alarms
(``lift.maintenance_overdue``, ``water.cleaning_overdue``: assets/plans.py ``ALARMED_BY``) raises
that rule only, moved on by the crew's records too; an asset without such a rule raises
``maintenance.overdue``; a planned order running past its due day is no second alarm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from assets.desk import MaintenanceDesk
from assets.model import OVERDUE_RULE
from assets.store import LedgerStore
from devices.inventory import Inventory
from devices.loader import load_inventory
from dispatch.desk_core import BREACH_RULE
from dispatch.model import OrderAction, Source
from estate_gateway.cli import sample_inventory_path
from tests.dispatch.harness import DispatchHarness

NEW_YEAR = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)  # 2026-01-01 00:00 in Shanghai
LIFT, EXTINGUISHER = "L-B1-1", "FE-B1"


class Wired(DispatchHarness):
    """The desk wired to the alarm engine as gateway/service.py wires it."""

    def __init__(self, tmp_path: Path, inventory: Inventory) -> None:
        super().__init__(tmp_path, inventory, start=NEW_YEAR)
        self.ledger = MaintenanceDesk(
            self.inventory,
            self.book,
            self.desk,
            LedgerStore(self.store.engine),
            self.clock,
            alarm_rule=self.engine.rule,
            on_record=self.engine.note_record,
        )
        self.engine.hook_events(("maintenance", "cleaned", "sampled"), self.ledger.on_event)
        self.ledger.start()

    def days(self, count: float) -> None:
        self.advance(count * 86_400, keep_alive=[], step=6 * 3600)

    def active(self, key: str) -> bool:
        alert = self.book.open_alert(key)
        return alert is not None and alert.active


def sample(tmp_path: Path, rules: dict[str, Any] | None = None) -> Wired:
    data = yaml.safe_load(sample_inventory_path().read_text(encoding="utf-8"))
    if rules is not None:
        data["estates"][0]["rules"] = rules
    path = tmp_path / "sunrise.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return Wired(tmp_path, load_inventory(path))


def test_a_late_lift_visit_is_the_catalogue_rule_only_and_a_crew_record_clears_it(tmp_path: Path) -> None:
    h = sample(tmp_path)
    h.days(17)  # nobody came: the 15-day visit is late
    assert h.active(f"sunrise/{LIFT}/lift.maintenance_overdue")
    assert not h.active(f"sunrise/{LIFT}/{OVERDUE_RULE}")  # not a second alarm for the same lateness
    state = h.ledger.states[("sunrise", LIFT, "lift.maintenance")]
    assert state.overdue  # the ledger still shows it late
    h.ledger.record("sunrise", LIFT, by="王师傅", plan_id="lift.maintenance", note="done")
    h.book.flush()
    assert not h.active(f"sunrise/{LIFT}/lift.maintenance_overdue")  # at once, not at the hourly pass
    h.days(10)
    assert not h.active(f"sunrise/{LIFT}/lift.maintenance_overdue")  # the rule counts from the record


def test_an_asset_without_a_catalogue_rule_raises_maintenance_overdue(tmp_path: Path) -> None:
    h = sample(tmp_path)
    h.days(33)  # the extinguishers' monthly check, never done
    assert h.active(f"sunrise/{EXTINGUISHER}/{OVERDUE_RULE}")


def test_with_the_catalogue_rule_switched_off_the_ledger_raises_it(tmp_path: Path) -> None:
    h = sample(tmp_path, {"lift.maintenance_overdue": {"enabled": False}})
    h.days(17)
    assert h.active(f"sunrise/{LIFT}/{OVERDUE_RULE}")  # exactly one source, whichever is on
    assert h.book.open_alert(f"sunrise/{LIFT}/lift.maintenance_overdue") is None


def test_a_planned_order_past_its_due_day_is_no_second_alarm(tmp_path: Path) -> None:
    h = sample(tmp_path)
    h.days(17)
    late = [o for o in h.desk.live.values() if o.source is Source.PLAN and o.breached]
    assert late, "no planned order ran past its due day"
    assert all(OrderAction.BREACH in [e.action for e in o.history] for o in late)  # 维修及时率 counts it
    assert not [a for a in h.book.open_alerts() if a.rule == BREACH_RULE]
    assert h.clock.now() - NEW_YEAR == timedelta(days=17)
