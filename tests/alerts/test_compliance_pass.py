"""The hourly compliance pass (maintenance and cleaning overdue, the opt-in rules switched on) goes
a slice of devices a tick: all at once, it held one tick 1.25 s at 200k devices
(docs/benchmarks.md), and a device falling silent then was flagged that late."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

from devices.base import Kind
from devices.loader import load_inventory
from tests.alerts.harness import ALL_RULES, Harness
from tests.support.gateway import REPO

SUNRISE = REPO / "devices" / "samples" / "sunrise.yaml"


def overdue_lifts(h: Harness) -> int:
    return sum(a.rule == "lift.maintenance_overdue" and a.active for a in h.book.open_alerts())


def test_the_pass_reaches_every_device_a_slice_a_tick(tmp_path: Path) -> None:
    h = Harness(tmp_path, inventory=load_inventory(SUNRISE), rules=ALL_RULES)
    estate = h.inventory.estates[0]
    lifts = sum(d.kind is Kind.LIFT for d in estate.devices)
    h.engine.compliance_slice = 5
    h.engine.tick()  # the first pass: nothing overdue yet (every lift watched from the start)
    for _ in range(math.ceil(len(estate.devices) / 5)):
        h.clock.advance(timedelta(seconds=1))
        h.engine.tick()
    assert overdue_lifts(h) == 0
    h.clock.advance(timedelta(days=16))  # no maintenance record for 16 days: every lift overdue
    seen = []
    for _ in range(math.ceil(len(estate.devices) / 5) + 1):
        h.engine.tick()
        seen.append(overdue_lifts(h))
        h.clock.advance(timedelta(seconds=1))
    assert lifts > 1 and 0 < seen[0] < lifts  # the first tick judged only its slice
    assert seen == sorted(seen) and seen[-1] == lifts  # then the rest, none missed


def test_a_slice_as_large_as_the_estate_is_one_tick(tmp_path: Path) -> None:
    h = Harness(tmp_path, inventory=load_inventory(SUNRISE), rules=ALL_RULES)
    lifts = sum(d.kind is Kind.LIFT for d in h.inventory.estates[0].devices)
    h.engine.compliance_slice = 10_000
    h.engine.tick()
    h.clock.advance(timedelta(days=16))
    h.engine.tick()
    assert overdue_lifts(h) == lifts
