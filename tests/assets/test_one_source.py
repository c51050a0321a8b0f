"""One lateness, one alarm (issue 26). By default the equipment ledger's ``maintenance.overdue``
is the alarm of every plan, a lift's 15-day visit and a tank's cleaning included (made major once a
tank is more than 12 months from its last cleaning, as docs/rules.md §9 says). An estate may switch
on the catalogue's opt-in compliance rules (``lift.maintenance_overdue``, ``water.cleaning_overdue``:
assets/plans.py ``ALARMED_BY``): that rule is then the one source, moved on by crews' records too.
A planned order running past its due day is no second alarm."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from assets.model import OVERDUE_RULE
from assets.plans import plans_for
from devices.base import Severity
from devices.inventory import Inventory
from devices.ledger import AssetKind, Interval, IntervalUnit, PlanSetting
from devices.loader import load_inventory
from dispatch.desk_core import BREACH_RULE
from dispatch.model import OrderAction, Source
from estate_gateway.cli import sample_inventory_path
from tests.assets.harness import LedgerHarness

NEW_YEAR = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)  # 2026-01-01 00:00 in Shanghai
LIFT, EXTINGUISHER, TANK = "L-B1-1", "FE-B1", "T1"
SHANGHAI = ZoneInfo("Asia/Shanghai")


class Wired(LedgerHarness):
    """The ledger harness from New Year, its days run through the engine's tick (the compliance
    pass of an opt-in rule included), the devices silent."""

    def __init__(self, tmp_path: Path, inventory: Inventory) -> None:
        super().__init__(tmp_path, inventory, NEW_YEAR)

    def days(self, count: float, step: timedelta = timedelta(hours=6)) -> None:
        self.advance(count * 86_400, keep_alive=[], step=step.total_seconds())

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


def to_local_midnight(h: Wired, day: date) -> None:
    """Advance (6-hourly ticks) to 00:00 of ``day`` in Shanghai, then tick there."""
    end = datetime.combine(day, time(), tzinfo=SHANGHAI).astimezone(UTC)
    h.days((end - h.clock.now()).total_seconds() / 86_400)


def test_a_late_lift_visit_raises_maintenance_overdue_by_default_and_a_record_clears_it(
    tmp_path: Path,
) -> None:
    h = sample(tmp_path)
    h.days(17)  # nobody came: the visit due on 16 January is late
    assert h.active(f"sunrise/{LIFT}/{OVERDUE_RULE}")
    assert h.book.open_alert(f"sunrise/{LIFT}/lift.maintenance_overdue") is None  # off by default
    h.ledger.record("sunrise", LIFT, by="王师傅", plan_id="lift.maintenance", note="done")
    h.book.flush()
    assert not h.active(f"sunrise/{LIFT}/{OVERDUE_RULE}")
    h.days(10)
    assert not h.active(f"sunrise/{LIFT}/{OVERDUE_RULE}")  # the plan counts from the record


def test_an_asset_without_a_catalogue_rule_raises_maintenance_overdue(tmp_path: Path) -> None:
    h = sample(tmp_path)
    h.days(33)  # the extinguishers' monthly check, never done
    assert h.active(f"sunrise/{EXTINGUISHER}/{OVERDUE_RULE}")


def test_with_the_catalogue_rule_switched_on_it_is_the_only_alarm(tmp_path: Path) -> None:
    h = sample(tmp_path, {"lift.maintenance_overdue": {"enabled": True}})
    h.days(17)
    assert h.active(f"sunrise/{LIFT}/lift.maintenance_overdue")
    assert h.book.open_alert(f"sunrise/{LIFT}/{OVERDUE_RULE}") is None  # not a second alarm
    assert h.ledger.states[("sunrise", LIFT, "lift.maintenance")].overdue  # the ledger shows it late
    h.ledger.record("sunrise", LIFT, by="王师傅", plan_id="lift.maintenance", note="done")
    h.book.flush()
    assert not h.active(f"sunrise/{LIFT}/lift.maintenance_overdue")  # at once, not at the hourly pass
    h.days(10)
    assert not h.active(f"sunrise/{LIFT}/lift.maintenance_overdue")  # the rule counts from the record


def test_a_tank_not_cleaned_for_over_12_months_is_major_in_the_same_alarm(tmp_path: Path) -> None:
    h = sample(tmp_path)
    key = f"sunrise/{TANK}/{OVERDUE_RULE}"
    due = h.ledger.states[("sunrise", TANK, "water.cleaning")].due  # 6 months from 1 January
    assert due == date(2026, 7, 1)
    to_local_midnight(h, due + timedelta(days=1))  # 2 July: late
    alert = h.book.open_alert(key)
    assert alert is not None and alert.active and alert.severity is Severity.MINOR
    to_local_midnight(h, date(2027, 1, 1))  # 12 months since 1 January 2026, not more
    assert h.book.open_alert(key).severity is Severity.MINOR  # type: ignore[union-attr]
    to_local_midnight(h, date(2027, 1, 2))  # more than 12 months
    worse = h.book.open_alert(key)
    assert worse is not None and worse.id == alert.id and worse.severity is Severity.MAJOR  # one alarm
    assert worse.count == 2  # raised once more to make it worse, not every check
    h.days(3)
    assert h.book.open_alert(key).count == 2  # type: ignore[union-attr]


def test_a_planned_order_past_its_due_day_is_no_second_alarm(tmp_path: Path) -> None:
    h = sample(tmp_path)
    h.days(17)
    late = [o for o in h.desk.live.values() if o.source is Source.PLAN and o.breached]
    assert late, "no planned order ran past its due day"
    assert all(OrderAction.BREACH in [e.action for e in o.history] for o in late)  # 维修及时率 counts it
    assert not [a for a in h.book.open_alerts() if a.rule == BREACH_RULE]
    assert h.clock.now() - NEW_YEAR == timedelta(days=17)


def test_how_late_makes_it_worse_is_a_plan_setting() -> None:
    setting = PlanSetting.model_validate(
        {"plan": "water.cleaning", "worse_after": "1mo", "worse_severity": "critical"}
    )
    (plan,) = [p for p in plans_for(AssetKind.WATER_TANK, [setting]) if p.id == "water.cleaning"]
    assert plan.worse_after == Interval(1, IntervalUnit.MONTHS) and plan.worse_severity is Severity.CRITICAL
    (default,) = [p for p in plans_for(AssetKind.WATER_TANK) if p.id == "water.cleaning"]
    assert default.worse_after == Interval(6, IntervalUnit.MONTHS)
    assert default.worse_severity is Severity.MAJOR


def test_the_first_record_counts_from_its_own_day_even_before_the_ledger_saw_the_asset(
    tmp_path: Path,
) -> None:
    """A gateway first started on 1 January: the lift's last visit, on 30 December, entered then.
    The next is due 15 days after that visit (14 January), not after the ledger's first day; a
    visit older than that record changes nothing."""
    h = sample(tmp_path)
    state = h.ledger.states[("sunrise", LIFT, "lift.maintenance")]
    assert (state.since, state.due, state.recorded) == (date(2026, 1, 1), date(2026, 1, 16), False)
    first = h.ledger.record(
        "sunrise", LIFT, by="王师傅", plan_id="lift.maintenance", done_on=date(2025, 12, 30)
    )
    assert first.next_due == date(2026, 1, 14) and state.recorded
    older = h.ledger.record(
        "sunrise", LIFT, by="王师傅", plan_id="lift.maintenance", done_on=date(2025, 12, 20)
    )
    assert older.next_due == date(2026, 1, 14) and state.since == date(2025, 12, 30)
    h.book.flush()
    [stored] = [s for s in h.ledger_store.states() if s.key == state.key]
    assert (stored.since, stored.due, stored.recorded) == (date(2025, 12, 30), date(2026, 1, 14), True)
