"""An estate's own SLA policies (inventory ``estates[].sla_policies``) set its orders' clocks ahead
of the inventory's and the defaults; another estate keeps those (docs/contract.md §4: per estate)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from devices.loader import load_inventory
from estate_gateway.cli import sla_checks
from tests.dispatch.harness import CREWS, HOLIDAYS_2026, DispatchHarness
from tests.support.gateway import SPEC_EXAMPLE

T0 = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai


def test_an_estate_sla_sets_its_orders_clocks_and_only_its_own(tmp_path: Path) -> None:
    data = yaml.safe_load(SPEC_EXAMPLE.read_text(encoding="utf-8"))
    moon = {**data["estates"][0], "id": "moon", "name": "月亮小区", "region": None}
    data["estates"][0]["sla_policies"] = [
        {"id": "sunrise-entrapment", "rules": ["lift.entrapment"], "arrive": "15m", "resolve": "4h"}
    ]
    data["estates"].append(moon)
    data["crews"] = [{**c, "estates": ["sunrise", "moon"]} for c in CREWS]
    data["calendar"] = HOLIDAYS_2026
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    h = DispatchHarness(tmp_path, inventory=load_inventory(path), start=T0)
    for estate in ("sunrise", "moon"):
        h.send("L1", estate=estate, passenger=True, door="closed", door_zone=True, direction="stop", floor=3)
        h.send("L1", "event", estate=estate, type="fault", code="entrapment")
    orders = {o.estate: o for o in h.desk.live.values()}
    sunrise, other = orders["sunrise"], orders["moon"]
    assert (sunrise.arrive_due, sunrise.resolve_due) == (T0 + timedelta(minutes=15), T0 + timedelta(hours=4))
    assert sunrise.accept_due == T0 + timedelta(minutes=5)  # not set by the estate: the default's
    assert (other.arrive_due, other.resolve_due) == (T0 + timedelta(minutes=30), T0 + timedelta(hours=24))


def test_check_config_names_an_estate_policy_of_an_unknown_rule(tmp_path: Path) -> None:
    data = yaml.safe_load(SPEC_EXAMPLE.read_text(encoding="utf-8"))
    data["estates"][0]["sla_policies"] = [{"id": "typo", "rules": ["lift.entrapmnet"], "resolve": "4h"}]
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    [issue] = sla_checks(load_inventory(path))
    assert issue.loc == ("estates", 0, "sla_policies", 0, "rules", 0)
    assert "lift.entrapmnet" in issue.message
