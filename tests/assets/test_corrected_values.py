"""Values corrected against the standards (issue 26): each test fails on the old value."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.base import Severity, Trade
from devices.inventory import DurationUnit, SlaDuration
from dispatch.deadlines import DEFAULT_POLICIES, select_clocks
from dispatch.model import Step
from tests.dispatch.harness import DispatchHarness


def test_low_chlorine_is_on_site_within_30_minutes_not_the_generic_hour() -> None:
    clocks = select_clocks(
        [],
        defaults=DEFAULT_POLICIES,
        rule="water.chlorine_low",
        trade=Trade.WATER,
        severity=Severity.CRITICAL,
    )
    assert clocks[Step.ARRIVE].duration == SlaDuration(30, DurationUnit.MINUTES)  # was 1 h
    # Another critical water alarm keeps the estate standard's emergency repair: 1 h.
    other = select_clocks(
        [], defaults=DEFAULT_POLICIES, rule="water.flooding", trade=Trade.WATER, severity=Severity.CRITICAL
    )
    assert other[Step.ARRIVE].duration == SlaDuration(1, DurationUnit.HOURS)


def _lift_harness(tmp_path: Path) -> DispatchHarness:
    return DispatchHarness(tmp_path)


@pytest.mark.parametrize(
    ("code", "rule"),
    [("motor_runtime_limiter", "lift.runtime_limiter"), ("restart_prevented", "lift.restart_prevented")],
)
def test_gb_t_24476_fault_codes_06_and_08_raise(tmp_path: Path, code: str, rule: str) -> None:
    h = _lift_harness(tmp_path)
    h.event("L1", "fault", code=code)  # was a dead letter: the codes were not known
    alert = h.alert("L1", rule)
    assert alert is not None and alert.severity is Severity.MAJOR and alert.work_order is not None
    h.event("L1", "fault_cleared", code=code)
    assert not h.alert("L1", rule).active  # type: ignore[union-attr]


@pytest.mark.parametrize(("mode", "rule"), [("emergency_power", "lift.emergency_power")])
def test_lift_emergency_power_raises(tmp_path: Path, mode: str, rule: str) -> None:
    h = _lift_harness(tmp_path)
    h.send("L1", mode=mode)  # was silent: only fire, firefighter and earthquake raised
    alert = h.alert("L1", rule)
    assert alert is not None and alert.severity is Severity.MAJOR
    h.send("L1", mode="normal")
    assert not h.alert("L1", rule).active  # type: ignore[union-attr]
