"""Every default rule (docs/rules.md) raised from realistic readings, and cleared again.

``CASES`` maps each rule id of ``DEFAULT_RULES`` to a raise scenario and a clear scenario; a rule
added to the catalogue without a case fails ``test_every_default_rule_has_a_case``. A latched rule's
"clear" scenario shows it staying active through normal readings until the lift's ``maintenance``
event, or until a person acknowledges and closes it. Scenarios run on the harness (a real engine,
SQLite, a manual clock starting 2026-01-05 08:00 UTC = 16:00 Asia/Shanghai); time only moves
through ``h.advance``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.catalogue import DEFAULT_RULES
from alerts.code_words import code_words
from alerts.model import Alert, AlertState
from devices.base import Severity
from devices.inventory import Inventory
from devices.kinds.lift import LiftFaultCode
from devices.loader import InventoryError, load_inventory
from tests.alerts.harness import ALL_RULES, Harness

C, MJ, MN, INFO = Severity.CRITICAL, Severity.MAJOR, Severity.MINOR, Severity.INFO
MIN, HOUR, DAY = 60.0, 3600.0, 86_400.0

Scenario = Callable[[Harness], object]
Devices = Sequence[dict[str, Any]]

# -- realistic payloads (docs/contract.md §3.3 field names) -------------------------------------
LIFT_OK = {
    "floor": 5,
    "direction": "stop",
    "door": "closed",
    "door_zone": True,
    "passenger": False,
    "mode": "normal",
    "speed_m_s": 0.0,
    "power": "normal",
}
TANK_OK = {
    "level_pct": 65.0,
    "chlorine_mg_l": 0.35,
    "turbidity_ntu": 0.3,
    "ph": 7.2,
    "pressure_mpa": 0.32,
    "temperature_c": 12.5,
}
CARD = "0012345678"


def lift(h: Harness, **changes: Any) -> None:
    h.send("L1", **{**LIFT_OK, **changes})


def tank(h: Harness, **changes: Any) -> None:
    h.send("T1", **{**TANK_OK, **changes})


def door(h: Harness, state: str = "closed", locked: bool = True) -> None:
    h.send("D1", door=state, locked=locked)


def nvr(h: Harness, device: str = "NVR1", **changes: Any) -> None:
    """A GB/T 28181 keepalive with the NVR's status (cctv status rides on the heartbeat)."""
    h.send(
        device, channel="heartbeat", **{"recording": True, "retention_days": 31.0, "disk_ok": True, **changes}
    )


def lamp(h: Harness, device: str = "LP1", **changes: Any) -> None:
    h.send(device, **{"on": True, "lamp_ok": True, "power_w": 36.0, **changes})


def hold(h: Harness, seconds: float, keep: list[str] | None = None, **changes: Any) -> None:
    """Tank readings with ``changes`` every 5 min (the first one now), for ``seconds``."""
    end = h.clock.now() + timedelta(seconds=seconds)
    while (left := (end - h.clock.now()).total_seconds()) > 0:
        tank(h, **changes)
        h.advance(min(5 * MIN, left), keep_alive=keep, step=MIN)


def others(h: Harness, *silent: str) -> list[str]:
    """Every device of the estate but ``silent``: a keep_alive list."""
    return [d.id for d in h.inventory.estates[0].devices if d.id not in silent]


# -- assertions ---------------------------------------------------------------------------------
def raised(h: Harness, device: str | None, rule: str, severity: Severity, *shown: str) -> Alert:
    alert = h.alert(device, rule)
    assert alert is not None and alert.active, f"{rule} is not active on {device}"
    assert alert.severity is severity
    for language, text in enumerate((alert.message, alert.message_en)):
        assert text.strip() and "{" not in text and "}" not in text, text
        for fragment in shown:  # a fault code is shown in words (alerts/code_words.py)
            assert str(code_words(fragment)[language]) in text
    return alert


def quiet(h: Harness, device: str | None, rule: str) -> None:
    alert = h.alert(device, rule)
    assert alert is None or not alert.active, f"{rule} is active on {device}"


def cleared(h: Harness, device: str | None, rule: str) -> None:
    alert = h.alert(device, rule)
    assert alert is not None, f"{rule} on {device} was never raised (or was closed)"
    assert not alert.active and alert.state is AlertState.CLEARED


def still_active(h: Harness, device: str, rule: str) -> None:
    alert = h.alert(device, rule)
    assert alert is not None and alert.active, f"{rule} on {device} is no longer active"


def closed_by_person(h: Harness, device: str, rule: str) -> None:
    alert = h.alert(device, rule)
    assert alert is not None
    h.book.ack(alert.id, "值班员")
    still_active(h, device, rule)  # acknowledging is not clearing
    h.book.clear(alert.key, by="technician")
    h.book.flush()  # as the API does after an operator's action
    assert h.alert(device, rule) is None
    stored = h.store.get(alert.id)
    assert stored is not None and stored.state is AlertState.CLOSED


# -- inventories beyond the SPEC example --------------------------------------------------------
def estate(tmp_path: Path, devices: Devices) -> Inventory:
    doc = {
        "estates": [
            {
                "id": "sunrise",
                "name": "朝阳小区",
                "timezone": "Asia/Shanghai",
                "buildings": ["B1", "B2"],
                "devices": list(devices),
            }
        ]
    }
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_inventory(path)


#: NVR2 with 30 plain cameras: 5 offline is ≥ 5 but < 20 %, 4 is neither.
CAMERAS: Devices = [
    {"id": "NVR2", "kind": "cctv", "building": "B1", "heartbeat_s": 60},
    *(
        {"id": f"C{i:02}", "kind": "cctv", "building": "B1", "parent": "NVR2", "heartbeat_s": 60}
        for i in range(1, 31)
    ),
]
FIVE = [f"C{i:02}" for i in range(1, 6)]

#: 22 lamps: 20 on road circuit LC2, 2 in a stairwell on LC3 (its box is in the stairwell too).
LAMPS: Devices = [
    {"id": "LC2", "kind": "light", "building": "B2", "location": "2号楼南侧路灯配电箱"},
    *(
        {"id": f"P{i:02}", "kind": "light", "building": "B2", "parent": "LC2", "location": f"南侧路灯{i}号"}
        for i in range(1, 21)
    ),
    {"id": "LC3", "kind": "light", "building": "B2", "location": "2号楼1单元楼梯间配电箱"},
    {"id": "S1", "kind": "light", "building": "B2", "parent": "LC3", "location": "2号楼1单元楼梯间3层"},
    {"id": "S2", "kind": "light", "building": "B2", "parent": "LC3", "location": "2号楼1单元楼梯间4层"},
]


@pytest.fixture
def make(tmp_path: Path) -> Callable[..., Harness]:
    def build(devices: Devices | None = None) -> Harness:
        return Harness(tmp_path, inventory=estate(tmp_path, devices) if devices else None, rules=ALL_RULES)

    return build


# -- scenario builders --------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    raise_: Scenario
    clear: Scenario
    devices: Devices | None = None  # None: the SPEC example estate


def fault_case(
    rule: str, code: str, severity: Severity, *shown: str, passenger: bool = False, latch: bool = False
) -> Case:
    """A lift terminal's ``fault`` event; cleared by ``fault_cleared`` of the same code, or (latched)
    only by a technician's ``maintenance`` event."""

    def raise_(h: Harness) -> Alert:
        lift(h, passenger=passenger)
        h.event("L1", "fault", code=code)
        return raised(h, "L1", rule, severity, *shown)

    def clear(h: Harness) -> None:
        raise_(h)
        other = "position_lost" if code != "position_lost" else "door_open_failure"
        h.event("L1", "fault_cleared", code=other)  # another code clears nothing
        still_active(h, "L1", rule)
        h.event("L1", "fault_cleared", code=code)
        if latch:
            lift(h)
            h.advance(10 * MIN, step=30)
            still_active(h, "L1", rule)
            h.event("L1", "maintenance", technician="王师傅")
        cleared(h, "L1", rule)

    return Case(raise_, clear)


def latched_case(raise_: Scenario, device: str, rule: str, normal: Scenario) -> Case:
    """Latched rules of other kinds: normal readings for 10 min change nothing; a person closes it."""

    def clear(h: Harness) -> None:
        raise_(h)
        normal(h)
        h.advance(10 * MIN, step=MIN)
        normal(h)
        still_active(h, device, rule)
        closed_by_person(h, device, rule)

    return Case(raise_, clear)


def silent_case(
    device: str,
    rule: str,
    heartbeat_s: float,
    severity: Severity,
    back: Scenario,
    devices: Devices | None = None,
) -> Case:
    """Staleness: silent for 3 × heartbeat → offline (not a second before); any message clears."""

    def raise_(h: Harness) -> Alert:
        keep = others(h, device)
        h.advance(3 * heartbeat_s - 1, keep_alive=keep, step=10)
        quiet(h, device, rule)
        h.advance(1, keep_alive=keep)
        return raised(h, device, rule, severity, device)

    def clear(h: Harness) -> None:
        raise_(h)
        back(h)
        cleared(h, device, rule)

    return Case(raise_, clear, devices)


def level_case(rule: str, bad: dict[str, float], between: dict[str, float], good: dict[str, float]) -> Case:
    """Immediate threshold with a separate clear level: ``between`` is inside the hysteresis band."""

    def raise_(h: Harness) -> Alert:
        tank(h)
        quiet(h, "T1", rule)
        tank(h, **bad)
        return raised(h, "T1", rule, MJ, str(next(iter(bad.values()))))

    def clear(h: Harness) -> None:
        raise_(h)
        tank(h, **between)
        still_active(h, "T1", rule)
        tank(h, **good)
        cleared(h, "T1", rule)

    return Case(raise_, clear)


def quality_case(rule: str, bad: dict[str, float], good: dict[str, float]) -> Case:
    """A water-quality limit held for 15 min (readings every 5 min) → major; back inside clears."""

    def raise_(h: Harness) -> Alert:
        hold(h, 15 * MIN - 1, **bad)
        quiet(h, "T1", rule)
        h.advance(1)
        return raised(h, "T1", rule, MJ, str(next(iter(bad.values()))))

    def clear(h: Harness) -> None:
        raise_(h)
        tank(h, **good)
        cleared(h, "T1", rule)

    return Case(raise_, clear)


def then_clear(
    raise_: Scenario, device: str | None, rule: str, fix: Scenario, devices: Devices | None = None
) -> Case:
    """Raised by ``raise_``, cleared by ``fix`` (the condition back to normal)."""

    def clear(h: Harness) -> None:
        raise_(h)
        fix(h)
        cleared(h, device, rule)

    return Case(raise_, clear, devices)


# -- lift (GB/T 24476; docs/rules.md §1) --------------------------------------------------------
def trapped_suspected(h: Harness) -> Alert:
    lift(h, floor=7, door_zone=False, passenger=True, door="closed", speed_m_s=0.0)
    h.advance(29)
    quiet(h, "L1", "lift.trapped_suspected")
    h.advance(1)
    return raised(h, "L1", "lift.trapped_suspected", C, "L1")


def stopped_empty(h: Harness) -> Alert:
    lift(h, floor=4, door_zone=False, passenger=False, speed_m_s=0.0)
    h.advance(59)
    quiet(h, "L1", "lift.stopped_empty")
    h.advance(1)
    return raised(h, "L1", "lift.stopped_empty", MJ, "L1")


def power_loss(h: Harness) -> Alert:
    lift(h)
    lift(h, floor=3, power="outage")  # the terminal runs on its battery
    return raised(h, "L1", "lift.power_loss", MJ, "L1")


def special_mode(h: Harness) -> Alert:
    lift(h)
    lift(h, floor=1, door="open", mode="fire")
    return raised(h, "L1", "lift.special_mode", MJ, "fire")


def emergency_power(h: Harness) -> Alert:
    lift(h)
    lift(h, floor=1, mode="emergency_power")
    return raised(h, "L1", "lift.emergency_power", MJ, "L1")


def out_of_service(h: Harness) -> Alert:
    lift(h)
    lift(h, floor=1, mode="out_of_service")
    h.advance(10 * MIN - 1, step=MIN - 1)
    quiet(h, "L1", "lift.out_of_service")
    h.advance(1)
    alert = raised(h, "L1", "lift.out_of_service", MN, "L1")
    assert alert.suppressed_by is None  # no fault explains it: shown
    return alert


def stopping_fault(h: Harness) -> Alert:
    h.event("L1", "fault", code="restart_prevented")
    return raised(h, "L1", "lift.restart_prevented", MJ)


def test_out_of_service_under_an_active_fault_is_held_not_a_second_alarm(
    make: Callable[..., Harness],
) -> None:
    h = make()
    stopping_fault(h)
    alert = out_of_service_held(h)
    assert alert.suppressed_by == "lift L1 out of service by its fault lift.restart_prevented"
    assert [a.rule for a in h.book.open_alerts() if a.annunciated] == ["lift.restart_prevented"]


def out_of_service_held(h: Harness) -> Alert:
    lift(h, floor=1, mode="out_of_service")
    h.advance(10 * MIN, step=MIN)
    alert = h.alert("L1", "lift.out_of_service")
    assert alert is not None and alert.active and not alert.annunciated
    return alert


def test_back_in_service_soon_after_the_repair_never_shows_the_mode(make: Callable[..., Harness]) -> None:
    h = make()
    stopping_fault(h)
    held = out_of_service_held(h)
    h.event("L1", "fault_cleared", code="restart_prevented")
    assert held.closed_at is not None and h.alert("L1", "lift.out_of_service") is None
    lift(h, floor=1, mode="out_of_service")  # the technician tests it a few minutes more
    h.advance(5 * MIN, step=MIN)
    lift(h, floor=1)  # back in service
    h.advance(20 * MIN, step=MIN)
    assert h.alert("L1", "lift.out_of_service") is None


def test_still_out_of_service_after_the_repair_raises_it_on_its_own(make: Callable[..., Harness]) -> None:
    h = make()
    stopping_fault(h)
    out_of_service_held(h)
    h.event("L1", "fault_cleared", code="restart_prevented")
    lift(h, floor=1, mode="out_of_service")
    h.advance(10 * MIN - 1, step=MIN - 1)
    quiet(h, "L1", "lift.out_of_service")  # a new on-delay from the repair
    h.advance(1)
    alert = raised(h, "L1", "lift.out_of_service", MN, "L1")
    assert alert.suppressed_by is None and alert.annunciated


def test_a_fault_after_the_mode_alarm_holds_it_until_the_fault_clears(make: Callable[..., Harness]) -> None:
    h = make()
    alert = out_of_service(h)
    stopping_fault(h)
    assert alert.suppressed_by == "lift L1 out of service by its fault lift.restart_prevented"
    h.event("L1", "fault", code="door_close_failure")  # a second fault of the same lift
    h.event("L1", "fault_cleared", code="restart_prevented")
    assert alert.active and alert.suppressed_by is not None  # the door fault still explains it
    h.event("L1", "fault_cleared", code="door_close_failure")
    assert not alert.active  # the last fault cleared: the mode starts its on-delay again


def inspection_long(h: Harness) -> Alert:
    lift(h, mode="inspection", floor=12)
    h.advance(4 * HOUR - MIN, step=2 * MIN)
    quiet(h, "L1", "lift.inspection_long")
    h.advance(MIN, step=MIN)
    return raised(h, "L1", "lift.inspection_long", MN, "L1")


def maintenance_overdue(h: Harness) -> Alert:
    h.event("L1", "maintenance", technician="王师傅")
    h.advance(15 * DAY, step=HOUR)
    quiet(h, "L1", "lift.maintenance_overdue")
    h.advance(HOUR, step=HOUR)
    return raised(h, "L1", "lift.maintenance_overdue", MN, "15")


def maintained_again(h: Harness) -> None:
    h.event("L1", "maintenance", technician="王师傅")
    h.advance(HOUR, step=HOUR)  # compliance runs hourly


# -- water (GB 5749-2022, CJJ 140; docs/rules.md §2) --------------------------------------------
def chlorine_low(h: Harness) -> Alert:
    keep = others(h, "T1")  # no heartbeats: only analyser readings count
    hold(h, 15 * MIN - 1, keep, chlorine_mg_l=0.03)  # 3 readings in 14:59
    quiet(h, "T1", "water.chlorine_low")
    h.advance(1, keep_alive=keep)
    return raised(h, "T1", "water.chlorine_low", C, "0.03")


def chlorine_prealarm(h: Harness) -> Alert:
    tank(h)
    tank(h, chlorine_mg_l=0.15)
    return raised(h, "T1", "water.chlorine_prealarm", INFO, "0.15")


def chlorine_prealarm_clears(h: Harness) -> None:
    chlorine_prealarm(h)
    tank(h, chlorine_mg_l=0.22)  # above 0.2 but below the 0.25 clear level
    still_active(h, "T1", "water.chlorine_prealarm")
    tank(h, chlorine_mg_l=0.3)
    cleared(h, "T1", "water.chlorine_prealarm")


def chlorine_high(h: Harness) -> Alert:
    tank(h, chlorine_mg_l=2.4)
    return raised(h, "T1", "water.chlorine_high", MJ, "2.4")


#: A chloramine-disinfected supply (GB 5749-2022): total chlorine, limit 3 mg/L, not 2.
CHLORAMINE: Devices = [{"id": "T1", "kind": "water_tank", "building": "B1", "disinfectant": "chloramine"}]


def total_chlorine_high(h: Harness) -> Alert:
    tank(h, chlorine_mg_l=2.6)  # above free chlorine's 2 mg/L, within chloramine's 3
    quiet(h, "T1", "water.chlorine_high")
    quiet(h, "T1", "water.total_chlorine_high")
    tank(h, chlorine_mg_l=3.2)
    quiet(h, "T1", "water.chlorine_high")
    return raised(h, "T1", "water.total_chlorine_high", MJ, "3.2")


def test_a_free_chlorine_tank_does_not_use_the_chloramine_limit(make: Callable[..., Harness]) -> None:
    h = make()
    tank(h, chlorine_mg_l=3.2)
    raised(h, "T1", "water.chlorine_high", MJ, "3.2")
    quiet(h, "T1", "water.total_chlorine_high")


def test_a_chloramine_tank_keeps_the_low_residual_alarm(make: Callable[..., Harness]) -> None:
    h = make(CHLORAMINE)
    chlorine_low(h)


def test_disinfectant_is_a_tank_setting(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="disinfectant is a water_tank setting"):
        estate(tmp_path, [{"id": "L9", "kind": "lift", "building": "B1", "disinfectant": "chloramine"}])


def turbidity(h: Harness) -> Alert:
    hold(h, 15 * MIN - 1, turbidity_ntu=1.6)
    quiet(h, "T1", "water.turbidity")
    h.advance(1)
    return raised(h, "T1", "water.turbidity", MJ, "1.6")


def tank_event(event: str, rule: str, severity: Severity) -> Scenario:
    def raise_(h: Harness) -> Alert:
        tank(h)
        h.event("T1", event)
        return raised(h, "T1", rule, severity, "T1")

    return raise_


def cleaning_overdue(rule: str, days: int, severity: Severity) -> Scenario:
    def raise_(h: Harness) -> Alert:
        h.event("T1", "cleaned")
        # Day steps; only the tank keeps talking (other devices' offline alerts are not the point).
        h.advance(days * DAY, keep_alive=["T1"], step=DAY)
        quiet(h, "T1", rule)
        h.advance(HOUR, keep_alive=["T1"], step=HOUR)
        return raised(h, "T1", rule, severity, str(days))

    return raise_


def cleaned_again(h: Harness) -> None:
    h.event("T1", "cleaned")
    h.advance(HOUR, keep_alive=["T1"], step=HOUR)


def analyser_flatline(h: Harness) -> Alert:
    # A reading every 5 min: pH moves, chlorine is stuck at 0.35.
    for i in range(23):
        tank(h, chlorine_mg_l=0.35, ph=(7.2, 7.3, 7.1)[i % 3])
        h.advance(5 * MIN, step=MIN)
    quiet(h, "T1", "water.analyser_flatline")  # 1 h 55 min
    tank(h, chlorine_mg_l=0.35, ph=7.2)
    h.advance(5 * MIN, step=MIN)
    return raised(h, "T1", "water.analyser_flatline", MN, "T1")


# -- cctv (GB/T 28181; docs/rules.md §3) --------------------------------------------------------
def group_offline(h: Harness) -> Alert:
    h.advance(MIN, keep_alive=others(h, *FIVE[:4]), step=10)
    keep = others(h, *FIVE)  # the fifth falls silent a minute later
    h.advance(2 * MIN, keep_alive=keep, step=10)
    assert all(h.alert(c, "cctv.offline") for c in FIVE[:4])
    quiet(h, "NVR2", "cctv.group_offline")  # 4 of 30: neither ≥ 5 nor ≥ 20 %
    h.advance(MIN, keep_alive=keep, step=10)
    alert = raised(h, "NVR2", "cctv.group_offline", MJ, "NVR2", "30")
    assert [a.rule for a in h.book.open_alerts() if a.device == "NVR2"] == ["cctv.group_offline"]
    for camera in FIVE:
        found = h.alert(camera, "cctv.offline")
        assert found is not None and found.state is AlertState.SUPPRESSED
    return alert


def cameras_back(h: Harness) -> None:
    group_offline(h)
    first = h.alert(FIVE[0], "cctv.offline")
    for camera in FIVE:
        h.send(camera, channel="heartbeat", recording=True)
    cleared(h, "NVR2", "cctv.group_offline")
    # The first camera back returned to normal while suppressed under the group: closed, never
    # shown. That left 4 of 30, no group: the other four were shown, then cleared as they came back.
    assert first is not None and h.alert(FIVE[0], "cctv.offline") is None
    stored = h.store.get(first.id)
    assert stored is not None and stored.state is AlertState.CLOSED and not stored.acknowledged
    for camera in FIVE[1:]:
        cleared(h, camera, "cctv.offline")


def nvr_status(rule: str, *shown: str, **status: Any) -> Scenario:
    def raise_(h: Harness) -> Alert:
        nvr(h)
        quiet(h, "NVR1", rule)
        nvr(h, **status)
        return raised(h, "NVR1", rule, MJ, "NVR1", *shown)

    return raise_


def disk_failure(h: Harness) -> Alert:
    h.send("NVR1", channel="heartbeat", recording=True)  # disk health comes by event only
    h.event("NVR1", "disk_failure")
    return raised(h, "NVR1", "cctv.disk_failure", MJ, "NVR1")


def video_loss(h: Harness) -> Alert:
    h.send("CAM1", channel="heartbeat")
    h.event("CAM1", "video_loss")
    return raised(h, "CAM1", "cctv.video_loss", MJ, "CAM1")


# -- access (GB 50396; docs/rules.md §4) --------------------------------------------------------
def forced(h: Harness) -> Alert:
    door(h)
    h.event("D1", "forced")
    door(h, "open", locked=True)  # opened with the lock still engaged: no grant
    return raised(h, "D1", "access.forced", MJ, "D1", "一单元大门")


def denied_burst(h: Harness) -> Alert:
    door(h)
    for _ in range(4):  # consecutive, minutes apart: GB 50396 sets no time window (was 5 in 60 s)
        h.event("D1", "denied", card=CARD)
        h.advance(10 * MIN, step=60)
    quiet(h, "D1", "access.denied_burst")
    h.event("D1", "denied", card=CARD)
    return raised(h, "D1", "access.denied_burst", MN, "D1")


def tamper(h: Harness) -> Alert:
    door(h)
    h.event("D1", "tamper")
    return raised(h, "D1", "access.tamper", MJ, "D1")


def held_open(h: Harness) -> Alert:
    door(h)
    h.event("D1", "granted", card=CARD)
    door(h, "open", locked=False)
    h.advance(59)
    quiet(h, "D1", "access.held_open")
    h.advance(1)
    return raised(h, "D1", "access.held_open", MN, "D1", "一单元大门")


def fire_locked(h: Harness) -> Alert:
    door(h)
    h.event("D1", "fire_release")
    h.advance(9)
    quiet(h, "D1", "access.fire_locked")
    h.advance(1)
    return raised(h, "D1", "access.fire_locked", C, "D1", "一单元大门")


# -- lighting (municipal lighting rules; docs/rules.md §5) --------------------------------------
def lamp_out(h: Harness) -> Alert:
    lamp(h)
    h.event("LP1", "lamp_failure")
    return raised(h, "LP1", "light.lamp_out", INFO, "LP1")


def circuit_lamps(h: Harness) -> Alert:
    h.event("P01", "lamp_failure")
    lamp(h, "P02", lamp_ok=False, power_w=0.0)
    quiet(h, "LC2", "light.circuit_lamps")
    h.event("P03", "lamp_failure")
    return raised(h, "LC2", "light.circuit_lamps", MN, "LC2", "20")


def leakage(h: Harness) -> Alert:
    lamp(h, "LC1", power_w=1800.0)
    h.event("LC1", "leakage")
    return raised(h, "LC1", "light.leakage", C, "LC1")


def on_in_daylight(h: Harness) -> Alert:
    assert h.clock.now().astimezone(h.inventory.estates[0].tz).hour == 16  # daytime in Shanghai
    lamp(h, lux=12_000.0)
    h.advance(30 * MIN - 1, step=MIN)
    quiet(h, "LP1", "light.on_in_daylight")
    h.advance(1)
    return raised(h, "LP1", "light.on_in_daylight", INFO, "LP1")


def intact_rate(h: Harness) -> Alert:
    h.event("P01", "lamp_failure")
    quiet(h, None, "light.intact_rate")  # 21 of 22 working: 95.5 %
    lamp(h, "P02", lamp_ok=False, power_w=0.0)
    return raised(h, None, "light.intact_rate", MN, "90.9", "22")  # 20 of 22


# -- the estate's feed (alerts/feed.py) ---------------------------------------------------------
def feed_lost(h: Harness) -> Alert:
    h.advance(1)
    h.advance(179, keep_alive=[])
    quiet(h, None, "estate.feed_lost")
    h.advance(1, keep_alive=[])
    return raised(h, None, "estate.feed_lost", MJ, "16:00:01")  # local time of the last message


# -- the table ----------------------------------------------------------------------------------
CASES: dict[str, Case] = {
    "lift.entrapment": fault_case("lift.entrapment", "entrapment", C, "entrapment", passenger=True),
    "lift.trapped_suspected": then_clear(
        trapped_suspected,
        "L1",
        "lift.trapped_suspected",
        lambda h: lift(h, floor=7, door_zone=True, passenger=True, door="open"),  # levelled, doors open
    ),
    "lift.unintended_movement": fault_case(
        "lift.unintended_movement", "unintended_movement", C, "unintended_movement", latch=True
    ),
    "lift.overtravel": fault_case(
        "lift.overtravel", "overtravel_top", C, "overtravel_top", passenger=True, latch=True
    ),
    "lift.safety_circuit": fault_case(
        "lift.safety_circuit", "safety_circuit_open", MJ, "safety_circuit_open"
    ),
    "lift.stopped_outside_door_zone": fault_case(
        "lift.stopped_outside_door_zone", "stopped_outside_door_zone", MJ, "L1"
    ),
    "lift.stopped_empty": then_clear(stopped_empty, "L1", "lift.stopped_empty", lambda h: lift(h, floor=4)),
    "lift.position_lost": fault_case("lift.position_lost", "position_lost", MJ, "L1"),
    "lift.door_failure": fault_case("lift.door_failure", "door_open_failure", MN, "door_open_failure"),
    "lift.power_loss": then_clear(power_loss, "L1", "lift.power_loss", lambda h: lift(h, floor=3)),
    "lift.special_mode": then_clear(special_mode, "L1", "lift.special_mode", lambda h: lift(h, floor=1)),
    "lift.emergency_power": then_clear(emergency_power, "L1", "lift.emergency_power", lift),
    "lift.out_of_service": then_clear(out_of_service, "L1", "lift.out_of_service", lift),
    "lift.runtime_limiter": fault_case("lift.runtime_limiter", "motor_runtime_limiter", MJ, "L1"),
    "lift.restart_prevented": fault_case("lift.restart_prevented", "restart_prevented", MJ, "L1"),
    "lift.inspection_long": then_clear(inspection_long, "L1", "lift.inspection_long", lift),
    "lift.maintenance_overdue": then_clear(
        maintenance_overdue, "L1", "lift.maintenance_overdue", maintained_again
    ),
    "lift.offline": silent_case("L1", "lift.offline", 60, MN, lift),
    "water.chlorine_low": then_clear(
        chlorine_low, "T1", "water.chlorine_low", lambda h: tank(h, chlorine_mg_l=0.12)
    ),
    "water.chlorine_prealarm": Case(chlorine_prealarm, chlorine_prealarm_clears),
    "water.total_chlorine_high": then_clear(
        total_chlorine_high,
        "T1",
        "water.total_chlorine_high",
        lambda h: tank(h, chlorine_mg_l=1.5),
        CHLORAMINE,
    ),
    "water.chlorine_high": then_clear(
        chlorine_high, "T1", "water.chlorine_high", lambda h: tank(h, chlorine_mg_l=0.8)
    ),
    "water.turbidity": then_clear(turbidity, "T1", "water.turbidity", lambda h: tank(h, turbidity_ntu=0.6)),
    "water.ph_low": quality_case("water.ph_low", {"ph": 6.1}, {"ph": 7.0}),
    "water.ph_high": quality_case("water.ph_high", {"ph": 9.0}, {"ph": 7.6}),
    "water.level_high": level_case(
        "water.level_high", {"level_pct": 97.5}, {"level_pct": 93.0}, {"level_pct": 85.0}
    ),
    "water.level_low": level_case(
        "water.level_low", {"level_pct": 8.0}, {"level_pct": 12.0}, {"level_pct": 40.0}
    ),
    "water.flooding": latched_case(tank_event("flooding", "water.flooding", C), "T1", "water.flooding", tank),
    "water.hatch_open": then_clear(
        tank_event("hatch_open", "water.hatch_open", MJ),
        "T1",
        "water.hatch_open",
        lambda h: h.event("T1", "hatch_closed"),
    ),
    "water.pump_fault": latched_case(
        tank_event("pump_fault", "water.pump_fault", MJ), "T1", "water.pump_fault", tank
    ),
    "water.cleaning_overdue": then_clear(
        cleaning_overdue("water.cleaning_overdue", 183, MN), "T1", "water.cleaning_overdue", cleaned_again
    ),
    "water.cleaning_overdue_year": then_clear(
        cleaning_overdue("water.cleaning_overdue_year", 365, MJ),
        "T1",
        "water.cleaning_overdue_year",
        cleaned_again,
    ),
    "water.analyser_flatline": then_clear(
        analyser_flatline, "T1", "water.analyser_flatline", lambda h: tank(h, chlorine_mg_l=0.33)
    ),
    "water_tank.offline": silent_case("T1", "water_tank.offline", 300, MN, tank),
    "cctv.offline": silent_case(  # CAM1 is a key camera
        "CAM1", "cctv.offline", 60, MJ, lambda h: h.send("CAM1", channel="heartbeat", recording=True)
    ),
    "cctv.group_offline": Case(group_offline, cameras_back, CAMERAS),
    "cctv.recording_stopped": then_clear(
        nvr_status("cctv.recording_stopped", recording=False), "NVR1", "cctv.recording_stopped", nvr
    ),
    "cctv.disk_failure": then_clear(
        disk_failure,
        "NVR1",
        "cctv.disk_failure",
        lambda h: nvr(h, disk_ok=True),  # disk replaced
    ),
    "cctv.retention": then_clear(
        nvr_status("cctv.retention", "21.5", retention_days=21.5),
        "NVR1",
        "cctv.retention",
        lambda h: nvr(h, retention_days=30.0),
    ),
    "cctv.video_loss": then_clear(
        video_loss, "CAM1", "cctv.video_loss", lambda h: h.send("CAM1", channel="heartbeat", recording=True)
    ),
    "access.forced": then_clear(forced, "D1", "access.forced", door),
    "access.denied_burst": then_clear(
        denied_burst,
        "D1",
        "access.denied_burst",
        lambda h: h.event("D1", "granted"),  # an accepted card ends the run
    ),
    "access.tamper": latched_case(tamper, "D1", "access.tamper", door),
    "access.held_open": then_clear(held_open, "D1", "access.held_open", door),
    "access.fire_locked": then_clear(
        fire_locked,
        "D1",
        "access.fire_locked",
        lambda h: door(h, "open", locked=False),  # released
    ),
    "access.offline": silent_case(
        "D1", "access.offline", 300, MN, lambda h: h.event("D1", "granted", card=CARD)
    ),
    "light.lamp_out": then_clear(
        lamp_out, "LP1", "light.lamp_out", lambda h: h.event("LP1", "lamp_restored")
    ),
    "light.circuit_lamps": then_clear(
        circuit_lamps, "LC2", "light.circuit_lamps", lambda h: h.event("P01", "lamp_restored"), LAMPS
    ),
    "light.leakage": latched_case(leakage, "LC1", "light.leakage", lambda h: lamp(h, "LC1", power_w=1750.0)),
    "light.on_in_daylight": then_clear(
        on_in_daylight, "LP1", "light.on_in_daylight", lambda h: lamp(h, on=False, power_w=0.0)
    ),
    "light.intact_rate": then_clear(
        intact_rate, None, "light.intact_rate", lambda h: h.event("P01", "lamp_restored"), LAMPS
    ),
    "estate.feed_lost": then_clear(feed_lost, None, "estate.feed_lost", lambda h: h.send("LC1", "heartbeat")),
    "light.offline": silent_case(
        "LC1", "light.offline", 300, MN, lambda h: h.send("LC1", channel="heartbeat")
    ),
}


def test_every_default_rule_has_a_case() -> None:
    assert set(CASES) == {r.id for r in DEFAULT_RULES}


def test_the_compliance_rules_of_ledger_plans_are_opt_in() -> None:
    """Off unless an estate switches them on: the ledger's maintenance.overdue is the default."""
    assert {r.id for r in DEFAULT_RULES if not r.enabled} == {
        "lift.maintenance_overdue",
        "water.cleaning_overdue",
        "water.cleaning_overdue_year",
    }


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_raises(rule_id: str, make: Callable[..., Harness]) -> None:
    case = CASES[rule_id]
    case.raise_(make(case.devices))


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_clears(rule_id: str, make: Callable[..., Harness]) -> None:
    case = CASES[rule_id]
    case.clear(make(case.devices))


# -- lift details -------------------------------------------------------------------------------
#: GB/T 24476 (docs/rules.md §1): each fault code → its rule and severity (empty car).
FAULTS = {
    "entrapment": ("lift.entrapment", C),
    "alarm_button": ("lift.entrapment", C),
    "unintended_movement": ("lift.unintended_movement", C),
    "door_open_while_running": ("lift.unintended_movement", C),
    "overtravel_top": ("lift.overtravel", MJ),
    "overtravel_bottom": ("lift.overtravel", MJ),
    "overspeed": ("lift.overtravel", MJ),
    "safety_circuit_open": ("lift.safety_circuit", MJ),
    "door_lock_circuit_open": ("lift.safety_circuit", MJ),
    "stopped_outside_door_zone": ("lift.stopped_outside_door_zone", MJ),
    "door_open_failure": ("lift.door_failure", MN),
    "door_close_failure": ("lift.door_failure", MN),
    "position_lost": ("lift.position_lost", MJ),
    "power_loss": ("lift.power_loss", MJ),
    "motor_runtime_limiter": ("lift.runtime_limiter", MJ),  # GB/T 24476 code 06
    "restart_prevented": ("lift.restart_prevented", MJ),  # GB/T 24476 code 08
}


def test_every_lift_fault_code_has_a_rule() -> None:
    assert set(FAULTS) == {c.value for c in LiftFaultCode}


@pytest.mark.parametrize("code", sorted(FAULTS))
def test_lift_fault_code_raises_its_rule(code: str, make: Callable[..., Harness]) -> None:
    h = make()
    lift(h)
    h.event("L1", "fault", code=code)
    rule, severity = FAULTS[code]
    raised(h, "L1", rule, severity, "L1")


@pytest.mark.parametrize(
    ("rule", "code"),
    [
        ("lift.overtravel", "overtravel_top"),
        ("lift.overtravel", "overtravel_bottom"),
        ("lift.overtravel", "overspeed"),
        ("lift.safety_circuit", "safety_circuit_open"),
        ("lift.safety_circuit", "door_lock_circuit_open"),
    ],
)
@pytest.mark.parametrize(("passenger", "severity"), [(True, C), (False, MJ)])
def test_passenger_makes_lift_faults_critical(
    rule: str, code: str, passenger: bool, severity: Severity, make: Callable[..., Harness]
) -> None:
    h = make()
    lift(h, floor=9, passenger=passenger)
    h.event("L1", "fault", code=code)
    raised(h, "L1", rule, severity, "L1")


def test_lift_moving_between_floors_is_not_stopped(make: Callable[..., Harness]) -> None:
    h = make()
    lift(h, floor=6, direction="up", door_zone=False, passenger=True, speed_m_s=1.5)
    h.advance(2 * MIN)
    quiet(h, "L1", "lift.trapped_suspected")
    quiet(h, "L1", "lift.stopped_empty")


# -- water details ------------------------------------------------------------------------------
def test_one_low_chlorine_reading_is_not_enough(make: Callable[..., Harness]) -> None:
    h = make()
    keep = others(h, "T1")
    tank(h, chlorine_mg_l=0.03)
    h.advance(20 * MIN, keep_alive=keep, step=MIN)
    quiet(h, "T1", "water.chlorine_low")  # 20 min below, but one reading
    tank(h, chlorine_mg_l=0.03)
    raised(h, "T1", "water.chlorine_low", C, "0.03")


def test_heartbeats_are_not_chlorine_readings(make: Callable[..., Harness]) -> None:
    h = make()
    tank(h, chlorine_mg_l=0.03)
    h.advance(16 * MIN, step=MIN)  # the tank only heartbeats
    quiet(h, "T1", "water.chlorine_low")


def test_chlorine_recovering_within_15_min_raises_nothing(make: Callable[..., Harness]) -> None:
    h = make()
    hold(h, 10 * MIN, chlorine_mg_l=0.04)
    hold(h, 30 * MIN, chlorine_mg_l=0.3)
    quiet(h, "T1", "water.chlorine_low")


@pytest.mark.parametrize("cause", ["hatch", "chlorine"])
def test_turbidity_is_critical_with_open_hatch_or_low_chlorine(
    cause: str, make: Callable[..., Harness]
) -> None:
    h = make()
    if cause == "hatch":
        h.event("T1", "hatch_open")
        hold(h, 15 * MIN, turbidity_ntu=1.6)
    else:
        hold(h, 15 * MIN, turbidity_ntu=1.6, chlorine_mg_l=0.03)
        raised(h, "T1", "water.chlorine_low", C)
    raised(h, "T1", "water.turbidity", C, "1.6")


def test_turbidity_escalates_when_the_hatch_opens_later(make: Callable[..., Harness]) -> None:
    h = make()
    turbidity(h)
    h.event("T1", "hatch_open")
    hold(h, 5 * MIN, turbidity_ntu=1.7)
    raised(h, "T1", "water.turbidity", C)


def test_turbidity_stays_major_alone(make: Callable[..., Harness]) -> None:
    h = make()
    hold(h, 20 * MIN, turbidity_ntu=1.6)
    raised(h, "T1", "water.turbidity", MJ)


# -- cctv details -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("devices", "camera", "severity"), [(None, "CAM1", MJ), (CAMERAS, "C01", MN)], ids=["key", "plain"]
)
def test_camera_offline_severity(
    devices: Devices | None, camera: str, severity: Severity, make: Callable[..., Harness]
) -> None:
    h = make(devices)
    h.advance(3 * MIN, keep_alive=others(h, camera), step=10)
    raised(h, camera, "cctv.offline", severity, camera)


def test_cameras_behind_a_silent_nvr_are_suppressed_not_grouped(make: Callable[..., Harness]) -> None:
    h = make(CAMERAS)
    h.advance(3 * MIN, keep_alive=others(h, "NVR2", *FIVE), step=10)
    raised(h, "NVR2", "cctv.offline", MN, "NVR2")
    quiet(h, "NVR2", "cctv.group_offline")
    for camera in FIVE:
        found = h.alert(camera, "cctv.offline")
        assert found is not None and found.state is AlertState.SUPPRESSED


def test_cameras_lost_more_than_5_min_apart_are_not_grouped(make: Callable[..., Harness]) -> None:
    h = make(CAMERAS)
    h.advance(330, keep_alive=others(h, *FIVE[:4]), step=10)
    h.advance(180, keep_alive=others(h, *FIVE), step=10)  # C05 offline at 510 s, the others at 180 s
    raised(h, "C05", "cctv.offline", MN)
    quiet(h, "NVR2", "cctv.group_offline")


# -- access details -----------------------------------------------------------------------------
def test_a_granted_card_resets_the_denied_count(make: Callable[..., Harness]) -> None:
    h = make()
    for event in ["denied"] * 4 + ["granted"] + ["denied"] * 4:
        h.event("D1", event, card=CARD)
        h.advance(3)
    quiet(h, "D1", "access.denied_burst")


def test_consecutive_denials_need_no_time_window_and_stay_raised_until_a_grant(
    make: Callable[..., Harness],
) -> None:
    h = make()
    door(h)
    for _ in range(5):  # one denial every 2 h: five in a row all the same (a 60 s window saw none)
        h.event("D1", "denied", card=CARD)
        h.advance(2 * 3600, step=600)
    alert = raised(h, "D1", "access.denied_burst", MN, "D1")
    h.event("D1", "denied", card=CARD)  # more denials: the same alert, no new raise or clear
    assert alert.active and h.alert("D1", "access.denied_burst") is alert
    h.event("D1", "granted")
    quiet(h, "D1", "access.denied_burst")
    for _ in range(4):  # the grant started the count again
        h.event("D1", "denied", card=CARD)
    quiet(h, "D1", "access.denied_burst")


def test_a_locked_door_without_fire_release_is_normal(make: Callable[..., Harness]) -> None:
    h = make()
    door(h)
    h.advance(5 * MIN, step=10)
    quiet(h, "D1", "access.fire_locked")


def test_fire_locked_stays_while_the_door_stays_locked(make: Callable[..., Harness]) -> None:
    h = make()
    fire_locked(h)
    h.advance(35 * MIN, step=MIN)
    door(h)
    still_active(h, "D1", "access.fire_locked")


# -- lighting details ---------------------------------------------------------------------------
def test_stairwell_lamp_out_is_minor(make: Callable[..., Harness]) -> None:
    h = make(LAMPS)
    h.event("S1", "lamp_failure")
    raised(h, "S1", "light.lamp_out", MN, "楼梯间")


def test_circuit_controller_fault_is_major(make: Callable[..., Harness]) -> None:
    h = make()
    lamp(h, "LC1", lamp_ok=False, power_w=0.0)  # the whole circuit dark: cabinet/cable fault
    raised(h, "LC1", "light.lamp_out", MJ, "LC1")


def test_stairwell_circuit_cabinet_fault_is_major(make: Callable[..., Harness]) -> None:
    h = make(LAMPS)
    h.event("LC3", "lamp_failure")
    raised(h, "LC3", "light.lamp_out", MJ)


def test_a_whole_dark_circuit_is_minor_even_with_fewer_than_3_lamps(make: Callable[..., Harness]) -> None:
    h = make(LAMPS)
    h.event("S1", "lamp_failure")
    quiet(h, "LC3", "light.circuit_lamps")
    h.event("S2", "lamp_failure")
    raised(h, "LC3", "light.circuit_lamps", MN, "LC3")


def test_lamps_on_at_night_are_normal(make: Callable[..., Harness]) -> None:
    h = make()
    h.clock.set(datetime(2026, 1, 5, 14, 0, tzinfo=UTC))  # 22:00 in Shanghai
    lamp(h)
    h.advance(HOUR, step=MIN)
    quiet(h, "LP1", "light.on_in_daylight")


def test_lamps_switched_on_at_dusk_raise_nothing_after_dark(make: Callable[..., Harness]) -> None:
    h = make()
    h.clock.set(datetime(2026, 1, 5, 9, 40, tzinfo=UTC))  # 17:40 in Shanghai, after sunset
    lamp(h)
    h.advance(35 * MIN, keep_alive=others(h, "LP1"), step=MIN)
    quiet(h, "LP1", "light.on_in_daylight")


# -- telemetry paths of event rules, and stale values -------------------------------------------
@pytest.mark.parametrize(
    ("device", "rule", "severity", "report"),
    [
        ("LP1", "light.lamp_out", INFO, lambda h: lamp(h, lamp_ok=False, power_w=0.0)),
        ("NVR1", "cctv.disk_failure", MJ, lambda h: nvr(h, disk_ok=False)),
    ],
    ids=["lamp_ok", "disk_ok"],
)
def test_event_rules_also_raise_from_status(
    device: str, rule: str, severity: Severity, report: Scenario, make: Callable[..., Harness]
) -> None:
    h = make()
    report(h)
    raised(h, device, rule, severity, device)


#: (rule, device, its normal report before the fault, the raising event)
EVENT_AFTER_NORMAL: list[tuple[str, str, Scenario, Scenario]] = [
    ("lift.power_loss", "L1", lift, lambda h: h.event("L1", "fault", code="power_loss")),
    ("cctv.disk_failure", "NVR1", nvr, lambda h: h.event("NVR1", "disk_failure")),
    ("cctv.video_loss", "CAM1", lambda h: nvr(h, "CAM1"), lambda h: h.event("CAM1", "video_loss")),
    ("access.forced", "D1", door, lambda h: h.event("D1", "forced")),
    ("light.lamp_out", "LP1", lamp, lambda h: h.event("LP1", "lamp_failure")),
]


@pytest.mark.parametrize(
    ("rule", "device", "normal", "fault"), EVENT_AFTER_NORMAL, ids=[r[0] for r in EVENT_AFTER_NORMAL]
)
def test_event_alert_is_not_cleared_by_values_older_than_the_event(
    rule: str, device: str, normal: Scenario, fault: Scenario, make: Callable[..., Harness]
) -> None:
    h = make()
    normal(h)
    fault(h)
    h.advance(5)  # bare heartbeats: nothing new about the fault
    still_active(h, device, rule)


# -- state across a restart ----------------------------------------------------------------
def test_maintenance_clock_survives_a_restart(tmp_path: Path) -> None:
    before = Harness(tmp_path, rules=ALL_RULES)
    before.event("L1", "maintenance", technician="王师傅")
    before.advance(10 * DAY, step=HOUR)
    after = Harness(tmp_path, rules=ALL_RULES)
    after.clock.set(before.clock.now())
    after.advance(6 * DAY, step=HOUR)
    raised(after, "L1", "lift.maintenance_overdue", MN)


def test_failed_lamps_survive_a_restart(tmp_path: Path) -> None:
    inventory = estate(tmp_path, LAMPS)
    before = Harness(tmp_path, inventory=inventory)
    intact_rate(before)
    after = Harness(tmp_path, inventory=inventory)
    after.clock.set(before.clock.now())
    after.event("P03", "lamp_failure")  # now 3 of 22 out: 86.4 %
    raised(after, None, "light.intact_rate", MN)
