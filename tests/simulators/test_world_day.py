"""Acceptance: a simulated day of the sample estate gives every planned patrol round completed, lamps
switched on at dusk and off at dawn once each, and no alarm at all.

This is what ``estate-sim run --speed 60`` sends a gateway for a day, fed through the gateway's
decoder and device state into a real alarm engine on simulated time (``tests/simulators/feed.py``),
without the wall-clock pacing, in batches of 10 simulated seconds (at ×60 the gateway takes
what arrived in 0.2 s of wall time as one batch). Heartbeats are fed sparsely (see ``Feed``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from devices.base import Kind
from devices.loader import load_inventory
from tests.simulators.feed import Feed
from tests.support.gateway import REPO

DAY = datetime(2026, 1, 5).date()  # a Monday


def test_a_day_of_the_sample_estate(tmp_path: Path) -> None:
    inventory = load_inventory(REPO / "devices" / "samples" / "sunrise.yaml")
    estate = inventory.estates[0]
    tz = estate.tz

    def at(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(DAY + timedelta(days=day), time(hour, minute), tzinfo=tz).astimezone(UTC)

    start, end = at(0, 5, 30), at(1, 6, 30)  # from before the day's first round to after its last
    feed = Feed(tmp_path, inventory, start, keep=False, sparse=True)
    switches: dict[str, list[tuple[bool, datetime]]] = defaultdict(list)
    while feed.now < end:
        for message in feed.run(1800, tick_s=10.0, batched=True):
            if "/light/" in message.topic and message.topic.endswith("/telemetry"):
                on = json.loads(message.payload)["on"]
                device = message.topic.split("/")[3]
                if not switches[device] or switches[device][-1][0] != on:
                    switches[device].append((on, message.at))
        assert not feed.alerts(), [(a.device, a.rule, a.message_en) for a in feed.alerts()]

    assert not feed.recorder.events and not feed.seen.rejections and not feed.seen.unknown_references
    # Patrols: every round of the day (3 + 4 of the grounds, 2 per building) completed, in time.
    tracker = feed.engine.patrols[estate.id]
    rounds = tracker.rounds_report(DAY)
    assert len(rounds) == 7 + 2 + 6 * 2  # grounds, the equipment rooms (配电室/排污泵), the buildings
    assert {r["status"] for r in rounds} == {"completed"} and all(r["watched"] for r in rounds)
    assert all(cp["on_time"] for r in rounds for cp in r["checkpoints"])
    assert tracker.compliance(DAY) == 1.0
    night = [r for r in rounds if r["window"] == "night"]
    assert all(len(cp["guards"]) >= 2 for r in night for cp in r["checkpoints"])
    # Lamps and circuits: lit at the start (night), off at dawn, on at dusk, off at the next dawn.
    lights = {d.id for d in estate.devices if d.kind is Kind.LIGHT}
    assert set(switches) == lights
    for device, changes in switches.items():
        assert [on for on, _ in changes] == [True, False, True, False], device
        _, dawn, dusk, next_dawn = (when for _, when in changes)
        assert at(0, 6) <= dawn < at(0, 6, 2) and at(0, 18) <= dusk < at(0, 18, 2), device
        assert at(1, 6) <= next_dawn < at(1, 6, 2), device
