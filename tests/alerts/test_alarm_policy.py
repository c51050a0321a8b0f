"""Alarm-management figures per estate (ISA-18.2 / EEMUA 191: every figure a default an operator may
change per estate): the inventory's ``alarm_management`` over the defaults, an estate's over that."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.alarm_policy import alarm_policy
from alerts.model import Action
from devices.base import Severity
from devices.inventory import Inventory
from devices.loader import InventoryError, load_inventory
from tests.alerts.harness import Harness
from tests.support.gateway import SPEC_EXAMPLE


def inventory(tmp_path: Path, common: dict[str, Any] | None, own: dict[str, Any] | None) -> Inventory:
    doc = yaml.safe_load(SPEC_EXAMPLE.read_text(encoding="utf-8"))
    moon = {**doc["estates"][0], "id": "moon", "name": "月亮小区", "region": None}
    doc["estates"].append(moon)
    if common is not None:
        doc["alarm_management"] = common
    if own is not None:
        doc["estates"][0]["alarm_management"] = own
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_inventory(path)


def escalated_after(h: Harness, estate: str) -> float:
    """Seconds from a lift fault (major: position lost) to its escalation in ``estate``."""
    h.send("L1", "event", estate=estate, type="fault", code="position_lost")
    alert = h.alert("L1", "lift.position_lost", estate)
    assert alert is not None
    start = h.clock.now()
    while not alert.escalated:
        h.advance(10, step=10, keep_alive=[])
        assert (h.clock.now() - start).total_seconds() < 7200, "never escalated"
    return (h.clock.now() - start).total_seconds()


def test_defaults_unchanged_without_figures(tmp_path: Path) -> None:
    policy = alarm_policy(inventory(tmp_path, None, None))
    assert policy.escalate_after[Severity.MAJOR].total_seconds() == 300  # type: ignore[union-attr]
    assert (policy.chatter_count, policy.flood_start, policy.flood_end) == (3, 10, 5)
    assert policy.estates == {}


def test_an_estate_escalates_on_its_own_figure_the_others_on_the_inventory_one(tmp_path: Path) -> None:
    inv = inventory(tmp_path, {"escalate_major_min": 10}, {"escalate_major_min": 2})
    h = Harness(tmp_path, inventory=inv, policy=alarm_policy(inv))
    assert escalated_after(h, "sunrise") == 120  # its own 2 min
    assert escalated_after(h, "moon") == 600  # the inventory's 10 min, not the default 5


def test_an_estate_figure_keeps_the_inventory_ones_it_does_not_set(tmp_path: Path) -> None:
    inv = inventory(tmp_path, {"flood_start": 20, "chatter_count": 4}, {"flood_start": 30})
    policy = alarm_policy(inv)
    own = policy.estates["sunrise"]
    assert (own.flood_start, own.chatter_count, own.flood_end) == (30, 4, 5)
    assert (policy.flood_start, policy.chatter_count) == (20, 4)


def test_a_patrol_severity_changed_for_one_estate(tmp_path: Path) -> None:
    inv = inventory(tmp_path, None, {"patrol_severities": {"patrol.sos": "major"}})
    h = Harness(tmp_path, inventory=inv, policy=alarm_policy(inv))
    h.send("H1", "event", estate="sunrise", type="sos", guards="G1")
    h.send("H1", "event", estate="moon", type="sos", guards="G1")
    sunrise, moon = h.alert("H1", "patrol.sos"), h.alert("H1", "patrol.sos", "moon")
    assert sunrise is not None and sunrise.severity is Severity.MAJOR
    assert moon is not None and moon.severity is Severity.CRITICAL
    assert Action.RAISE in h.recorder.actions("patrol.sos")


@pytest.mark.parametrize(
    ("figures", "message"),
    [
        ({"patrol_severities": {"patrol.nap": "minor"}}, "no guard-tour alarm patrol.nap"),
        ({"flood_start": 5, "flood_end": 8}, "flood_end must not be above flood_start"),
        ({"escalate_major_min": 0}, "greater than 0"),
        ({"chatter_on_delay": 5}, "chatter_on_delay"),  # a misspelt figure is refused, not ignored
    ],
)
def test_bad_figures_are_refused_with_the_reason(
    tmp_path: Path, figures: dict[str, Any], message: str
) -> None:
    with pytest.raises(InventoryError, match=message):
        inventory(tmp_path, None, figures)
