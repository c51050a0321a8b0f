"""Every fault of ``FAULTS``, on a device of every kind it applies to, raises exactly the rules it
promises in a real alarm engine fed through the gateway's decoder; clearing a lasting fault puts
everything right again; and the world without faults raises nothing at all."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from alerts.model import AlertState
from devices.base import Kind
from devices.inventory import Inventory
from devices.ledger import PlanSetting
from devices.loader import load_inventory
from simulators.world import FAULTS, FaultSpec, World
from tests.simulators.feed import Feed
from tests.support.gateway import REPO, SPEC_EXAMPLE

SPEC = load_inventory(SPEC_EXAMPLE)
SUNRISE = load_inventory(REPO / "devices" / "samples" / "sunrise.yaml")
TZ = SPEC.estates[0].tz
DAY = datetime(2026, 1, 5).date()
#: A device of each kind in the docs/contract.md §4 example; a circuit with its lamp; an NVR with 12 cameras.
DEVICE = {Kind.LIFT: "L1", Kind.WATER_TANK: "T1", Kind.ACCESS: "D1", Kind.LIGHT: "LP1", Kind.CCTV: "CAM1"}
DEVICE |= {Kind.PATROL: "H1"}
SPECIAL = {"circuit_failure": (SPEC, "LC1"), "network_failure": (SUNRISE, "NVR1")}
WARM_UP_S = 300.0  # devices come online and report their state before the fault


def local(hour: int, minute: int) -> datetime:
    return datetime.combine(DAY, time(hour, minute), tzinfo=TZ).astimezone(UTC)


@dataclass(frozen=True)
class Case:
    fault: str
    kind: Kind
    inventory: Inventory = field(repr=False)
    device: str
    start: datetime
    run_s: float
    tick_s: float = 1.0

    @property
    def spec(self) -> FaultSpec:
        return FAULTS[self.fault]

    @property
    def only(self) -> Inventory:
        """Just the device, no patrols, and its maintenance due every 2 days rather than 15 (a long
        run needs nothing else; the 14-day visits are checked on the world alone)."""
        estate = self.inventory.estates[0]
        devices = [d for d in estate.devices if d.id == self.device]
        every = [PlanSetting.model_validate({"plan": "lift.maintenance", "every": "2d", "lead": "1d"})]
        update = {"devices": devices, "patrols": [], "assets": [], "maintenance": every}
        alone = estate.model_copy(update=update)
        return self.inventory.model_copy(update={"estates": [alone]})


def _run_s(spec: FaultSpec, kind: Kind, device: str) -> float:
    rounds = kind is Kind.PATROL and any(r != "patrol.sos" for r in spec.rules_for(kind))
    if spec.name == "maintenance_skipped":
        return 3 * 86_400  # due 2 days from the start (Case.only), overdue from the next midnight
    if spec.within_s is not None and not rounds:
        return spec.within_s + 60
    if spec.name == "silent":
        config = SPEC.device("sunrise", device)
        heartbeat = config.effective_heartbeat_s() if config else None
        return 3 * heartbeat + 120 if heartbeat else 1800.0
    if spec.name == "skip_checkpoint":  # the 10:00–14:00 round: missed at 12:10, incomplete at 14:10
        return 4.5 * 3600
    return 1800.0  # the next round's start + 15 min, or its first scan + the 2 min guards settle


def cases() -> list[Case]:
    out = []
    for name, spec in FAULTS.items():
        for kind in spec.kinds:
            inventory, device = SPECIAL.get(name, (SPEC, DEVICE[kind]))
            # 09:50: day, with a patrol round at 10:00; 17:50 for a night round that needs two guards.
            start = local(17, 50) if name == "lone_guard" else local(9, 50)
            tick = 60.0 if name == "maintenance_skipped" else 1.0
            out.append(Case(name, kind, inventory, device, start, _run_s(spec, kind, device), tick))
    return out


CASES = cases()


def _feed(case: Case, tmp_path: Path) -> Feed:
    long = case.fault == "maintenance_skipped"
    inventory = case.only if long else case.inventory
    feed = Feed(tmp_path, inventory, case.start, seed=5, keep=not long, sparse=long, ledger=long)
    feed.run(WARM_UP_S, tick_s=case.tick_s)
    assert not feed.alerts(), "alerts before the fault"
    return feed


@pytest.mark.parametrize("case", CASES, ids=[f"{c.fault}-{c.kind}" for c in CASES])
def test_fault_raises_its_rules_and_nothing_else(case: Case, tmp_path: Path) -> None:
    feed = _feed(case, tmp_path)
    feed.world.inject("sunrise", case.device, case.fault)
    feed.run(case.run_s, tick_s=case.tick_s)
    spec = case.spec
    expected = set(spec.rules_for(case.kind))
    found = {(a.device, a.rule) for a in feed.alerts()}
    on_device = {rule for device, rule in found if device in (case.device, None)}
    assert expected <= on_device, f"missing {expected - on_device}; found {sorted(found, key=str)}"
    assert {rule for _, rule in found} <= expected | set(spec.also), f"unexpected: {sorted(found, key=str)}"
    if spec.dead_letter == "unknown_reference":
        assert [ref[:2] for ref in feed.seen.unknown_references] == [("sunrise", case.device)]
    elif spec.dead_letter is not None:
        reasons = {(r.reason.value, r.topic.split("/")[3]) for r in feed.seen.rejections}
        assert reasons == {(spec.dead_letter, case.device)}
    else:
        assert not feed.seen.rejections and not feed.seen.unknown_references


CLEARABLE = [c for c in CASES if c.spec.lasting and c.kind is not Kind.PATROL]


@pytest.mark.parametrize("case", CLEARABLE, ids=[f"{c.fault}-{c.kind}" for c in CLEARABLE])
def test_clearing_a_fault_puts_every_alarm_right(case: Case, tmp_path: Path) -> None:
    feed = _feed(case, tmp_path)
    feed.world.inject("sunrise", case.device, case.fault)
    feed.run(case.run_s, tick_s=case.tick_s)
    assert any(a.active for a in feed.alerts())
    feed.world.clear("sunrise", case.device, case.fault)
    feed.run(3 * 3600 if case.fault == "maintenance_skipped" else 600, tick_s=case.tick_s)
    still = [(a.device, a.rule, a.state) for a in feed.alerts() if a.active]
    assert not still, f"still active after clearing: {still}"
    assert all(a.state in (AlertState.CLEARED, AlertState.SUPPRESSED) for a in feed.alerts())
    assert feed.world.active("sunrise", case.device) == {}


@pytest.mark.parametrize("inventory", [SPEC, SUNRISE], ids=["spec_example", "sunrise"])
def test_without_faults_nothing_is_raised(inventory: Inventory, tmp_path: Path) -> None:
    """The SPEC example as long as the longest fault case (4.5 h from 09:50) and on through dusk;
    the sample estate for an hour, message by message (its whole day: test_world_day.py)."""
    feed = Feed(tmp_path, inventory, local(9, 50), keep=False, sparse=inventory is SUNRISE)
    hours = 9.0 if inventory is SPEC else 1.0
    for _ in range(int(hours * 2)):
        feed.run(1800)
        assert not feed.alerts(), [(a.device, a.rule, a.message_en) for a in feed.alerts()]
    assert not feed.seen.rejections


def test_a_technician_services_each_lift_every_14_days() -> None:
    """What keeps the lift's ``maintenance.overdue`` (15 days) quiet: a visit in inspection mode, then a
    ``maintenance`` record, the first within 14 days and every 14 days after, in working hours."""
    case = next(c for c in CASES if c.fault == "maintenance_skipped")
    world = World(case.only, start=case.start)
    visits, modes = [], set()
    for message in world.advance(case.start + timedelta(days=28)):
        body = json.loads(message.payload) if message.topic.endswith(("/event", "/telemetry")) else {}
        if body.get("type") == "maintenance":
            visits.append(message.at)
        assert message.at.tzinfo is UTC
        modes.add(body.get("mode"))
    assert len(visits) == 2 and modes == {None, "normal", "inspection"}
    assert visits[0] - case.start < timedelta(days=14) and visits[1] - visits[0] < timedelta(days=14, hours=8)
    assert all(9 <= v.astimezone(TZ).hour < 18 for v in visits)


def test_an_estate_whose_uplink_is_down_raises_one_estate_alert_and_no_device_alarm(
    tmp_path: Path,
) -> None:
    """``uplink_down`` silences all 303 devices of the sample estate at once: one estate.feed_lost
    (device null) within the fault's time, not one offline alarm per device; clearing it clears
    that alert and leaves nothing behind."""
    feed = Feed(tmp_path, SUNRISE, local(12, 0), keep=False, sparse=True)  # no round under way
    feed.run(WARM_UP_S)
    assert not feed.alerts(), "alerts before the fault"
    feed.world.inject("sunrise", "", "uplink_down")
    within = FAULTS["uplink_down"].within_s
    assert within is not None
    feed.run(within)

    def shown() -> list[tuple[str | None, str, AlertState, bool]]:
        alerts = feed.alerts()
        return [(a.device, a.rule, a.state, a.active) for a in alerts if a.state is not AlertState.SUPPRESSED]

    assert shown() == [(None, "estate.feed_lost", AlertState.ACTIVE, True)]
    feed.run(1800)  # half an hour down: still the one alarm; what the devices' deadlines raise waits under it
    assert shown() == [(None, "estate.feed_lost", AlertState.ACTIVE, True)]
    under = {a.rule for a in feed.alerts() if a.state is AlertState.SUPPRESSED}
    assert "lift.offline" in under, under  # e.g. a door held open when its "closed" was lost, too
    feed.world.clear("sunrise", "", "uplink_down")
    feed.run(600)
    still = [(a.device, a.rule, a.state.value) for a in feed.alerts() if a.active]
    assert still == [], still
    lost = [a for a in feed.alerts() if a.rule == "estate.feed_lost"]
    assert [(a.device, a.state) for a in lost] == [(None, AlertState.CLEARED)]


def test_an_estate_wide_fault_takes_no_device_and_a_device_fault_needs_one() -> None:
    world = World(SPEC, start=local(10, 0))
    with pytest.raises(ValueError, match="'uplink_down' is of a whole estate: give no device"):
        world.inject("sunrise", "L1", "uplink_down")
    wide = r"'entrapment' needs a device \(faults of a whole estate: uplink_down\)"
    with pytest.raises(ValueError, match=wide):
        world.inject("sunrise", "", "entrapment")
    with pytest.raises(ValueError, match="no estate 'moonrise'"):
        world.inject("moonrise", "", "uplink_down")
