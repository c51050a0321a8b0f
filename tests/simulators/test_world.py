"""The simulated world: deterministic, accepted by the gateway's decoder, and believable."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from alerts.catalogue import DEFAULT_RULES
from alerts.patrol_plan import PatrolRule
from assets.model import OVERDUE_RULE
from devices.base import Kind, Reading
from devices.clock import to_ns
from devices.inventory import Inventory
from devices.loader import load_inventory
from gateway.ingest import Rejection, decode
from gateway.state import DeviceRegistry
from simulators.kinds import SIMS
from simulators.kinds.base import Setup
from simulators.world import FAULTS, Message, World
from tests.support.gateway import REPO, SPEC_EXAMPLE

SUNRISE = REPO / "devices" / "samples" / "sunrise.yaml"
START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # 08:00 in Asia/Shanghai: the morning rush
TWO_HOURS = START + timedelta(hours=2)


@pytest.fixture(scope="module")
def sunrise() -> Inventory:
    return load_inventory(SUNRISE)


@pytest.fixture(scope="module")
def two_hours(sunrise: Inventory) -> list[Message]:
    return World(sunrise, seed=1, start=START).advance(TWO_HOURS)


def bodies(
    messages: list[Message], kind: str, channel: str = "telemetry"
) -> Iterator[tuple[str, dict[str, Any]]]:
    for message in messages:
        _, _, k, device, ch = message.topic.split("/")
        if (k, ch) == (kind, channel):
            yield device, json.loads(message.payload)


# -- determinism ------------------------------------------------------------------------------------


def test_same_seed_gives_the_same_messages_and_another_seed_others(
    sunrise: Inventory, two_hours: list[Message]
) -> None:
    assert len(two_hours) > 10_000
    assert World(sunrise, seed=1, start=START).advance(TWO_HOURS) == two_hours
    other = World(sunrise, seed=2, start=START).advance(START + timedelta(minutes=10))
    assert other != [m for m in two_hours if m.at <= START + timedelta(minutes=10)]


def test_a_device_does_not_depend_on_the_others_nor_on_how_time_is_advanced(sunrise: Inventory) -> None:
    until = START + timedelta(minutes=30)
    whole = World(sunrise, seed=3, start=START).advance(until)
    estate = sunrise.estates[0]
    # Handsets keep their order: plans are dealt to them in turn (simulators/kinds/patrol.py).
    handsets = [d for d in estate.devices if d.kind is Kind.PATROL]
    others = [d for d in reversed(estate.devices) if d.kind is not Kind.PATROL]
    reordered = sunrise.model_copy(
        update={"estates": [estate.model_copy(update={"devices": others + handsets})]}
    )
    stepped = World(reordered, seed=3, start=START)
    pieces = [stepped.advance(START + timedelta(seconds=s)) for s in range(37, 1800, 37)] + [
        stepped.advance(until)
    ]
    assert sorted((m for piece in pieces for m in piece), key=_order) == sorted(whole, key=_order)
    assert stepped.now == until


def test_messages_come_in_time_order_after_a_retained_online(two_hours: list[Message]) -> None:
    assert all(a.at <= b.at for a, b in pairwise(two_hours))
    assert two_hours[0].at > START and two_hours[-1].at <= TWO_HOURS
    first: dict[str, Message] = {}
    for message in two_hours:
        first.setdefault(message.topic.rsplit("/", 1)[0], message)
    assert len(first) == 303
    assert all(m.topic.endswith("/status") and m.payload == b"online" and m.retain for m in first.values())
    assert {m.qos for m in two_hours} == {1} and {m.at.tzinfo for m in two_hours} == {UTC}


def test_no_message_is_stamped_before_the_time_it_is_sent_in(sunrise: Inventory) -> None:
    """Advanced a second at a time from late morning (a lift's first service visit, booked for a
    random day at 09:00-16:00, fell earlier that same day: the car then lived through the past
    hour at once, 109 messages stamped up to 54 minutes before they were sent)."""
    start = datetime(2026, 3, 2, 2, 30, tzinfo=UTC)  # 10:30 in Asia/Shanghai
    for seed in (23, 24):
        world, before = World(sunrise, seed=seed, start=start), start
        for second in range(1, 121):
            until = start + timedelta(seconds=second)
            messages = world.advance(until)
            assert all(before < m.at <= until for m in messages), [
                (m.topic, m.at.isoformat()) for m in messages if not before < m.at <= until
            ][:3]
            before = until


# -- the gateway accepts it all -----------------------------------------------------------------------


def test_every_message_is_accepted_by_the_gateway_decoder(
    sunrise: Inventory, two_hours: list[Message]
) -> None:
    registry = DeviceRegistry(sunrise)
    for message in two_hours:
        result = decode(message.topic, message.payload, to_ns(message.at), registry.lookup)
        assert isinstance(result, Reading), f"{message.topic}: {result}"
        assert result.registered
        if not message.topic.endswith("/status"):
            assert result.time_ns == to_ns(message.at)  # ts is the simulated time


def test_bad_payload_faults_are_rejected_with_their_reason() -> None:
    inventory = load_inventory(SPEC_EXAMPLE)
    registry = DeviceRegistry(inventory)
    world = World(inventory, start=START)
    world.advance(START + timedelta(minutes=1))
    for device in ("L1", "T1", "D1", "LP1", "CAM1", "H1"):
        world.inject("sunrise", device, "malformed")
        world.inject("sunrise", device, "oversized")
    rejected = defaultdict(set)
    for message in world.advance(START + timedelta(minutes=2)):
        result = decode(message.topic, message.payload, to_ns(message.at), registry.lookup)
        if isinstance(result, Rejection):
            rejected[result.reason.value].add(message.topic.split("/")[3])
    devices = {"L1", "T1", "D1", "LP1", "CAM1", "H1"}
    assert rejected == {"malformed_json": devices, "oversized": devices}
    assert (
        FAULTS["malformed"].dead_letter == "malformed_json" and FAULTS["oversized"].dead_letter == "oversized"
    )


# -- believable behaviour -----------------------------------------------------------------------------


def test_lifts_travel_open_doors_at_stops_and_carry_passengers(two_hours: list[Message]) -> None:
    by_lift: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for device, body in bodies(two_hours, "lift"):
        by_lift[device].append(body)
    assert len(by_lift) == 12
    for reports in by_lift.values():
        moving = [r for r in reports if r["direction"] != "stop"]
        assert moving and all(
            r["door"] == "closed" and not r["door_zone"] and r["speed_m_s"] > 0 for r in moving
        )
        stopped = [r for r in reports if r["direction"] == "stop"]
        assert all(r["door_zone"] and r["speed_m_s"] == 0 for r in stopped)  # never stopped between floors
        assert any(r["door"] == "open" for r in stopped) and {r["passenger"] for r in reports} == {
            True,
            False,
        }
        assert len({r["floor"] for r in reports}) >= 5
        assert {(r["mode"], r["power"]) for r in reports} <= {("normal", "normal"), ("inspection", "normal")}
        times = [datetime.fromisoformat(r["ts"]) for r in reports]
        assert max((b - a).total_seconds() for a, b in pairwise(times)) <= 30.0


def test_reports_keep_to_about_one_per_heartbeat_when_idle(
    sunrise: Inventory, two_hours: list[Message]
) -> None:
    counts: dict[str, int] = defaultdict(int)
    for message in two_hours:
        counts[message.topic.split("/")[3]] += 1
    hours = 2
    for estate in sunrise.estates:
        for config in estate.devices:
            heartbeat = config.effective_heartbeat_s()
            if config.kind in (Kind.CCTV, Kind.LIGHT, Kind.WATER_TANK):
                assert heartbeat is not None
                assert counts[config.id] <= hours * 3600 / heartbeat + 3, config.id
    gaps = [b.at - a.at for a, b in pairwise(two_hours)]
    assert max(gaps) < timedelta(seconds=30)


def test_tanks_fill_and_draw_and_keep_their_water_in_range(sunrise: Inventory) -> None:
    tanks = sunrise.model_copy(
        update={
            "estates": [
                sunrise.estates[0].model_copy(
                    update={"devices": [d for d in sunrise.estates[0].devices if d.kind is Kind.WATER_TANK]}
                )
            ]
        }
    )
    messages = World(tanks, start=START).advance(START + timedelta(days=3))
    series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for device, body in bodies(messages, "water_tank"):
        series[device].append(body)
    for reports in series.values():
        assert len(reports) >= 3 * 288 - 2
        assert all(55 <= r["level_pct"] <= 90 and 0.3 <= r["chlorine_mg_l"] <= 0.8 for r in reports)
        assert all(r["turbidity_ntu"] < 1 and 6.5 <= r["ph"] <= 8.5 for r in reports)
        levels = [r["level_pct"] for r in reports]
        rises = sum(b > a for a, b in pairwise(levels))
        assert 0 < rises < len(levels) / 2  # drawn down most of the time, refilled now and then
        chlorine = [r["chlorine_mg_l"] for r in reports]
        assert all(a != b for a, b in pairwise(chlorine))  # a live analyser
        assert max(chlorine) - min(chlorine) > 0.2  # decays, and is dosed again


def test_doors_open_on_a_grant_and_lock_when_closed(two_hours: list[Message]) -> None:
    events = [body["type"] for _, body in bodies(two_hours, "access", "event")]
    assert events.count("granted") > 100 and set(events) <= {"granted", "denied"}
    states = {(body["door"], body["locked"]) for _, body in bodies(two_hours, "access")}
    assert states == {("open", False), ("closed", True)}


def test_cameras_keep_recording_with_thirty_days_or_more(two_hours: list[Message]) -> None:
    beats = [body for _, body in bodies(two_hours, "cctv", "heartbeat")]
    assert len(beats) > 104 * 100
    assert all(b["recording"] and b["disk_ok"] and b["retention_days"] >= 30 for b in beats)


# -- the fault interface ------------------------------------------------------------------------------


def test_faults_fit_their_kinds_rules_and_simulators() -> None:
    rule_ids = {r.id for r in DEFAULT_RULES} | {r.value for r in PatrolRule} | {OVERDUE_RULE}
    for name, spec in FAULTS.items():
        assert spec.name == name and bool(spec.kinds) != bool(spec.estate_wide) and spec.description
        assert set(spec.rules) | set(spec.also) <= rule_ids, name
        assert bool(spec.rules) != bool(spec.dead_letter), name
        for kind in spec.kinds:
            assert SIMS[kind](_setup(kind)).supports(name), (name, kind)
            assert spec.rules_for(kind) or spec.dead_letter, (name, kind)
    world = World(load_inventory(SPEC_EXAMPLE), start=START)
    assert world.faults(Kind.LIFT)[:3] == ["alarm_button", "door_close_failure", "door_lock_circuit_open"]
    assert "offline" in world.faults(Kind.PATROL) and "entrapment" not in world.faults(Kind.PATROL)


def test_every_rule_of_the_catalogue_has_a_fault_or_is_said_not_to(sunrise: Inventory) -> None:
    covered = {r for spec in FAULTS.values() for r in (*spec.rules, *spec.also)}
    # water.total_chlorine_high: a chloramine tank's rule; the sample estate's tanks use chlorine.
    # The opt-in compliance rules (off by default): the ledger's maintenance.overdue is the alarm.
    not_simulated = {
        "lift.maintenance_overdue",
        "water.cleaning_overdue",
        "water.cleaning_overdue_year",
        "patrol.unknown",
        "water.total_chlorine_high",
    }
    ledger = {OVERDUE_RULE}  # raised by the equipment ledger (assets/), not a catalogue rule
    catalogue = {r.id for r in DEFAULT_RULES} | {r.value for r in PatrolRule}
    assert catalogue | ledger == covered | not_simulated


def test_inject_refuses_what_a_device_cannot_have() -> None:
    world = World(load_inventory(SPEC_EXAMPLE), start=START)
    with pytest.raises(ValueError, match=r"unknown fault 'meltdown'; faults for a lift: alarm_button, "):
        world.inject("sunrise", "L1", "meltdown")
    with pytest.raises(
        ValueError, match=r"'chlorine_low' is for water_tank, not a lift \(L1\); faults for a lift"
    ):
        world.inject("sunrise", "L1", "chlorine_low")
    with pytest.raises(ValueError, match="takes no parameter speed"):
        world.inject("sunrise", "L1", "fire_mode", speed=3)
    with pytest.raises(ValueError, match="mode must be one of"):
        world.inject("sunrise", "L1", "fire_mode", mode="flood")
    with pytest.raises(ValueError, match="needs a device with children; LP1 has none"):
        world.inject("sunrise", "LP1", "circuit_failure")
    with pytest.raises(ValueError, match="'CP9' is not on a route of H1"):
        world.inject("sunrise", "H1", "skip_checkpoint", checkpoint="CP9")
    with pytest.raises(ValueError, match="count must be a whole number of cameras"):
        world.inject("sunrise", "NVR1", "network_failure", count=0)
    with pytest.raises(ValueError, match="no device 'L9'"):
        world.inject("sunrise", "L9", "offline")
    with pytest.raises(ValueError, match="cannot go back in time"):
        world.advance(START - timedelta(seconds=1))


def test_offline_is_retained_then_silence_then_online_again() -> None:
    world = World(load_inventory(SPEC_EXAMPLE), start=START)
    world.advance(START + timedelta(minutes=5))
    world.inject("sunrise", "CAM1", "offline")
    down = [m for m in world.advance(START + timedelta(minutes=15)) if "/CAM1/" in m.topic]
    assert [(m.topic.rsplit("/", 1)[1], m.payload, m.retain) for m in down] == [("status", b"offline", True)]
    assert world.active("sunrise", "CAM1") == {"offline": {}}
    world.clear("sunrise", "CAM1", "offline")
    back = [m for m in world.advance(START + timedelta(minutes=16)) if "/CAM1/" in m.topic]
    assert (back[0].payload, back[0].retain) == (b"online", True) and back[1].topic.endswith("/heartbeat")
    assert world.active("sunrise", "CAM1") == {}


def _order(message: Message) -> tuple[datetime, str, bytes]:
    return message.at, message.topic, message.payload


def _setup(kind: Kind) -> Setup:
    inventory = load_inventory(SPEC_EXAMPLE)
    estate = inventory.estates[0]
    config = next(d for d in estate.devices if d.kind is kind)
    return Setup(estate, config, random.Random(1), START)
