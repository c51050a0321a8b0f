"""Offline detection: topology (an NVR and its cameras) and scale (100,000 devices, virtual clock)."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

from alerts.catalogue import DEFAULT_RULES
from alerts.model import AlertState
from devices.base import Channel, Kind, Reading
from devices.clock import to_ns
from devices.inventory import Inventory
from tests.alerts.harness import Harness


def estate(devices: list[dict[str, Any]], buildings: tuple[str, ...] = ("B1",)) -> Inventory:
    return Inventory.model_validate(
        {"estates": [{"id": "sunrise", "name": "朝阳小区", "buildings": list(buildings), "devices": devices}]}
    )


def nvr_with_cameras(n: int) -> Inventory:
    cams = [
        {"id": f"CAM{i}", "kind": "cctv", "building": "B1", "parent": "NVR1", "heartbeat_s": 60}
        for i in range(1, n + 1)
    ]
    gate = {"id": "GATE1", "kind": "access", "building": "B1"}  # the rest of the estate
    return estate([{"id": "NVR1", "kind": "cctv", "building": "B1", "heartbeat_s": 60}, *cams, gate])


def cameras(h: Harness) -> list[str]:
    return [d.id for d in h.inventory.estates[0].devices if d.id.startswith("CAM")]


def test_nvr_and_20_cameras_silent_gives_one_alert_and_20_suppressed(tmp_path: Path) -> None:
    h = Harness(tmp_path, inventory=nvr_with_cameras(20))
    # The NVR and all its cameras silent for 3 heartbeats; the rest of the estate talks on (were
    # the whole estate silent, that would be its feed lost: tests/alerts/test_feed.py).
    h.advance(181, keep_alive=["GATE1"])
    annunciated = [a for a in h.book.open_alerts() if a.state is not AlertState.SUPPRESSED]
    assert [(a.device, a.rule) for a in annunciated] == [("NVR1", "cctv.offline")]
    suppressed = [a for a in h.book.open_alerts() if a.state is AlertState.SUPPRESSED]
    assert sorted(a.device or "" for a in suppressed) == sorted(cameras(h))
    assert all(a.rule == "cctv.offline" and a.suppressed_by == "parent NVR1 down" for a in suppressed)
    assert h.alert("NVR1", "cctv.group_offline") is None  # the NVR's own outage explains it: no second alert

    # The NVR comes back; five cameras come back too, fifteen stay silent: their own state decides.
    h.send("NVR1", Channel.HEARTBEAT)
    for cam in cameras(h)[:5]:
        h.send(cam, Channel.HEARTBEAT)
    assert h.alert("NVR1", "cctv.offline").state is AlertState.CLEARED  # type: ignore[union-attr]
    states = {cam: h.alert(cam, "cctv.offline").state for cam in cameras(h)}  # type: ignore[union-attr]
    assert [states[c] for c in cameras(h)[:5]] == [AlertState.CLEARED] * 5
    assert [states[c] for c in cameras(h)[5:]] == [AlertState.ACTIVE] * 15


def test_cameras_offline_behind_a_live_nvr_are_grouped(tmp_path: Path) -> None:
    h = Harness(tmp_path, inventory=nvr_with_cameras(20))
    h.advance(181, keep_alive=["NVR1", *cameras(h)[6:]])  # 6 of 20 cameras fall silent (≥ 5)
    group = h.alert("NVR1", "cctv.group_offline")
    # ≥ 20 % of the NVR's cameras: grouped at the 4th (4/20), before the 5-camera count
    assert group is not None and group.state is AlertState.ACTIVE and "4/20" in group.message
    silent = [h.alert(cam, "cctv.offline") for cam in cameras(h)[:6]]
    assert all(a is not None and a.state is AlertState.SUPPRESSED for a in silent)
    for cam in cameras(h)[:6]:
        h.send(cam, Channel.HEARTBEAT)
    assert group.state is AlertState.CLEARED


def test_a_group_alert_clears_when_its_cameras_come_back_before_their_nvr(tmp_path: Path) -> None:
    """Cameras fall silent behind a live NVR (grouped), then the NVR too; all come back at once,
    cameras first (as an uplink restored delivers them): the group alert clears with the NVR."""
    h = Harness(tmp_path, inventory=nvr_with_cameras(20))
    h.advance(181, keep_alive=["NVR1", "GATE1", *cameras(h)[6:]])  # 6 cameras silent: grouped
    group = h.alert("NVR1", "cctv.group_offline")
    assert group is not None and group.state is AlertState.ACTIVE
    h.advance(181, keep_alive=["GATE1", *cameras(h)[6:]])  # now the NVR is silent as well
    assert h.alert("NVR1", "cctv.offline").state is AlertState.ACTIVE  # type: ignore[union-attr]
    for cam in cameras(h)[:6]:
        h.send(cam, Channel.HEARTBEAT)
    h.send("NVR1", Channel.HEARTBEAT)
    assert group.state is AlertState.CLEARED
    assert [a.rule for a in h.book.open_alerts() if a.active] == []


def test_100k_devices_each_flagged_within_1_s_of_its_deadline(tmp_path: Path) -> None:
    n, heartbeat = 100_000, 60
    inventory = estate(
        [{"id": f"A{i}", "kind": "access", "building": "B1", "heartbeat_s": heartbeat} for i in range(n)]
    )
    # Every device of the estate falls silent, which is its feed lost (tests/alerts/test_feed.py):
    # that rule is left out here, where each device's own deadline is under test.
    rules = [r for r in DEFAULT_RULES if r.id != "estate.feed_lost"]
    h = Harness(tmp_path, inventory=inventory, rules=rules)
    rng = random.Random(7)
    start = h.clock.now()
    # Each device reports once at a random moment within the first minute, then falls silent.
    times = sorted((rng.uniform(0, 60), f"A{i}") for i in range(n))
    deadline = {}
    batch: list[Reading] = []
    for offset, device in times:
        at = start + timedelta(seconds=offset)
        if at > h.clock.now():
            h.engine.consume(batch)
            batch = []
            h.clock.set(at)
        batch.append(Reading("sunrise", Kind.ACCESS, device, Channel.HEARTBEAT, "B1", to_ns(at), {}))
        deadline[device] = at + timedelta(seconds=3 * heartbeat)
    h.engine.consume(batch)
    # One tick a second, as the gateway's ticker does, until every deadline has passed.
    while h.clock.now() < start + timedelta(seconds=60 + 3 * heartbeat + 2):
        h.clock.advance(1)
        h.engine.tick()
    alerts = {a.device: a for a in h.book.open_alerts() if a.rule == "access.offline"}
    assert len(alerts) == n
    lateness = [(alerts[d].raised_at - deadline[d]).total_seconds() for d in deadline]
    assert min(lateness) >= 0  # never before its deadline
    assert max(lateness) <= 1.0  # and never more than one tick after it
