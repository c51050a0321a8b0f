"""The inventory models: the shipped samples, field rules, lookups and cross-reference checks."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import devices
from devices.base import Kind, Trade
from devices.inventory import (
    DurationUnit,
    HolidayCalendar,
    Inventory,
    RefIssue,
    SlaDuration,
    SlaPolicy,
    check_references,
)
from devices.loader import load_inventory

SAMPLES = Path(devices.__file__).parent / "samples"


def _estate(**overrides: Any) -> dict[str, Any]:
    estate: dict[str, Any] = {
        "id": "sunrise",
        "name": "朝阳小区",
        "buildings": ["B1", "B2"],
        "devices": [
            {"id": "NVR1", "kind": "cctv", "building": "B1"},
            {"id": "CAM1", "kind": "cctv", "building": "B1", "parent": "NVR1", "key": True},
            {"id": "CAM2", "kind": "cctv", "parent": "NVR1", "heartbeat_s": 30},
            {"id": "H1", "kind": "patrol"},
        ],
        "checkpoints": [{"id": "CP1", "building": "B1"}, {"id": "CP2"}],
        "patrols": [
            {
                "id": "grounds",
                "route": ["CP1", "CP2"],
                "windows": [{"name": "night", "start": "18:00", "end": "06:00", "rounds": 4}],
            }
        ],
    }
    return estate | overrides


def _inventory(**overrides: Any) -> dict[str, Any]:
    inventory: dict[str, Any] = {
        "regions": [{"id": "d1", "name": "区", "children": [{"id": "s1", "name": "街道"}]}],
        "estates": [_estate(region="s1")],
        "crews": [{"id": "lift-team", "trades": ["lift"], "estates": ["sunrise"], "members": ["王师傅"]}],
    }
    return inventory | overrides


def test_spec_example_loads_unchanged() -> None:
    inventory = load_inventory(SAMPLES / "spec_example.yaml")
    [estate] = inventory.estates
    assert (estate.id, estate.region, estate.timezone, estate.buildings) == (
        "sunrise",
        "street-1",
        "Asia/Shanghai",
        ["B1", "B2"],
    )
    assert [d.id for d in estate.devices] == ["L1", "T1", "D1", "LC1", "LP1", "NVR1", "CAM1", "H1"]
    assert [c.id for c in estate.checkpoints] == ["CP1", "CP2"]
    [plan] = estate.patrols
    assert [(w.name, w.rounds, w.min_guards, w.duration) for w in plan.windows] == [
        ("day", 3, 1, timedelta(hours=12)),
        ("night", 4, 2, timedelta(hours=12)),
    ]
    assert [c.id for c in inventory.crews] == ["lift-team", "water-team", "electric-team", "security-team"]
    assert inventory.crews[3].trades == [Trade.SECURITY, Trade.LOW_VOLTAGE]
    assert [r.children[0].id for r in inventory.regions] == ["street-1"]
    camera = inventory.device("sunrise", "CAM1")
    assert camera is not None
    assert (camera.parent, camera.key, camera.kind) == ("NVR1", True, Kind.CCTV)


def test_sample_estate_is_large_and_covers_every_kind() -> None:
    inventory = load_inventory(SAMPLES / "sunrise.yaml")
    [estate] = inventory.estates
    kinds = Counter(device.kind for device in estate.devices)
    assert len(estate.devices) >= 300
    assert set(kinds) == set(Kind)
    assert kinds[Kind.LIGHT] + kinds[Kind.CCTV] > len(estate.devices) / 2
    assert len(estate.buildings) >= 6
    assert len(estate.checkpoints) >= 10
    assert {plan.id for plan in estate.patrols} >= {"grounds", "building-B1"}
    covered = {trade for crew in inventory.crews for trade in crew.trades}
    assert covered == set(Trade)
    assert all(crew.roster for crew in inventory.crews)
    assert any(device.key for device in estate.devices if device.kind is Kind.CCTV)
    assert len(estate.children("NVR1")) == 12
    assert len(estate.children("LC01")) == 12


def test_sample_estate_is_what_the_script_writes(tmp_path: Path) -> None:
    script = Path(devices.__file__).parent.parent / "scripts" / "make_sample_estate.py"
    out = tmp_path / "sunrise.yaml"
    subprocess.run([sys.executable, str(script), str(out)], check=True, capture_output=True)
    assert out.read_text(encoding="utf-8") == (SAMPLES / "sunrise.yaml").read_text(encoding="utf-8")


def test_effective_heartbeat_falls_back_to_the_kind_default() -> None:
    inventory = Inventory.model_validate(_inventory())
    heartbeats = {d.id: d.effective_heartbeat_s() for d in inventory.estates[0].devices}
    assert heartbeats == {"NVR1": 60, "CAM1": 60, "CAM2": 30, "H1": None}


def test_lookups() -> None:
    inventory = Inventory.model_validate(_inventory())
    assert inventory.estate("sunrise") is inventory.estates[0]
    assert inventory.device("sunrise", "CAM2") is inventory.estates[0].devices[2]
    assert (inventory.estate("nope"), inventory.device("nope", "CAM2"), inventory.device("sunrise", "X")) == (
        None,
        None,
        None,
    )
    assert [d.id for d in inventory.estates[0].children("NVR1")] == ["CAM1", "CAM2"]
    assert inventory.estates[0].children("CAM1") == []


def test_device_lookup_is_indexed_for_100k_devices() -> None:
    devices_ = [{"id": f"LP{i}", "kind": "light"} for i in range(100_000)]
    inventory = Inventory.model_validate({"estates": [{"id": "big", "name": "大", "devices": devices_}]})
    assert inventory.device("big", "LP99999") is not None  # the first lookup builds the index
    inventory.estates[0].devices.clear()  # a lookup that scanned the list would find nothing now
    found = [inventory.device("big", f"LP{i}") for i in range(0, 100_000, 10)]
    assert [d.id for d in found if d is not None] == [f"LP{i}" for i in range(0, 100_000, 10)]


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "Asia", "../etc/passwd"])
def test_unknown_time_zone_is_refused(zone: str) -> None:
    with pytest.raises(ValidationError, match="time zone"):
        Inventory.model_validate(_inventory(estates=[_estate(timezone=zone)]))


def test_time_zone_defaults_to_shanghai() -> None:
    estate = Inventory.model_validate(_inventory()).estates[0]
    assert (estate.timezone, str(estate.tz)) == ("Asia/Shanghai", "Asia/Shanghai")


def test_unknown_keys_are_refused() -> None:
    data = _inventory()
    data["estates"][0]["devices"][0]["parnet"] = "X"
    with pytest.raises(ValidationError, match="parnet"):
        Inventory.model_validate(data)


@pytest.mark.parametrize(
    ("start", "end", "ok"),
    [
        ("22:00", "06:00", True),
        ("08:00", "16:00", True),
        ("08:00", "16:01", False),
        ("20:00", "08:00", False),
    ],
)
def test_shifts_are_at_most_8_hours(start: str, end: str, ok: bool) -> None:
    shift = {"name": "夜班", "start": start, "end": end, "members": ["王师傅"]}
    crew = {"id": "c", "trades": ["lift"], "estates": ["sunrise"], "members": ["王师傅"], "roster": [shift]}
    data = _inventory(crews=[crew])
    if ok:
        Inventory.model_validate(data)
    else:
        with pytest.raises(ValidationError, match="longer than 8 h"):
            Inventory.model_validate(data)


@pytest.mark.parametrize(("value", "hint"), [(360, "quoted"), ("6:00", "HH:MM"), ("24:00", "HH:MM")])
def test_times_must_be_hh_mm_text(value: object, hint: str) -> None:
    window = {"name": "day", "start": value, "end": "18:00", "rounds": 3}
    plan = {"id": "p", "route": ["CP1"], "windows": [window]}
    with pytest.raises(ValidationError, match=hint):
        Inventory.model_validate(_inventory(estates=[_estate(patrols=[plan])]))


def test_window_equal_ends_mean_the_whole_day() -> None:
    window = {"name": "all", "start": "00:00", "end": "00:00", "rounds": 6}
    plan = {"id": "p", "route": ["CP1"], "windows": [window]}
    estate = Inventory.model_validate(_inventory(estates=[_estate(patrols=[plan])])).estates[0]
    assert estate.patrols[0].windows[0].duration == timedelta(hours=24)


def test_sla_durations_are_parsed() -> None:
    policy = SlaPolicy.model_validate({"id": "p", "accept": "30m", "arrive": "2h", "resolve": "5wd"})
    assert (policy.accept, policy.arrive, policy.resolve) == (
        SlaDuration(30, DurationUnit.MINUTES),
        SlaDuration(2, DurationUnit.HOURS),
        SlaDuration(5, DurationUnit.WORKING_DAYS),
    )
    assert policy.model_dump(mode="json")["resolve"] == "5wd"


@pytest.mark.parametrize("value", ["0m", "30", "2 h", "3w", "1.5h", 30, [1, "m"]])
def test_bad_sla_durations_are_refused(value: object) -> None:
    with pytest.raises(ValidationError, match="duration"):
        SlaPolicy.model_validate({"id": "p", "resolve": value})


def test_sla_severity_is_one_of_the_alert_severities() -> None:
    with pytest.raises(ValidationError, match="critical"):
        SlaPolicy.model_validate({"id": "p", "severity": "urgent"})


def test_working_days_follow_the_holiday_calendar() -> None:
    calendar = HolidayCalendar(holidays=[date(2026, 10, 1), date(2026, 10, 2)], workdays=[date(2026, 10, 10)])
    days = [date(2026, 10, 1), date(2026, 10, 9), date(2026, 10, 10), date(2026, 10, 11)]
    assert [calendar.is_working_day(day) for day in days] == [False, True, True, False]


def test_a_day_cannot_be_holiday_and_workday() -> None:
    with pytest.raises(ValidationError, match="2026-10-01"):
        HolidayCalendar(holidays=[date(2026, 10, 1)], workdays=[date(2026, 10, 1)])


def test_estate_calendar_overrides_the_inventory_calendar() -> None:
    own = {"holidays": [date(2026, 3, 2)]}
    data = _inventory(estates=[_estate(holidays=own), _estate(id="other")])
    data["calendar"] = {"holidays": [date(2026, 3, 3)]}
    inventory = Inventory.model_validate(data)
    assert inventory.calendar_for("sunrise").holidays == [date(2026, 3, 2)]
    assert inventory.calendar_for("other").holidays == [date(2026, 3, 3)]


def test_rule_overrides_take_scalars_only() -> None:
    rules = {"cctv_retention": {"min_days": 15, "enabled": True, "severity": "minor", "ratio": 0.2}}
    assert Inventory.model_validate(_inventory(estates=[_estate(rules=rules)])).estates[0].rules == rules
    with pytest.raises(ValidationError, match="rule setting"):
        Inventory.model_validate(_inventory(estates=[_estate(rules={"x": {"y": [1]}})]))


def test_ids_must_be_topic_safe() -> None:
    with pytest.raises(ValidationError, match="pattern"):
        Inventory.model_validate(_inventory(estates=[_estate(id="sun rise/#")]))


def test_a_valid_inventory_has_no_reference_issues() -> None:
    assert check_references(Inventory.model_validate(_inventory())) == []


def test_reference_issues_are_located() -> None:
    data = copy.deepcopy(_inventory())
    data["regions"][0]["children"].append({"id": "d1", "name": "重名"})
    estate = data["estates"][0]
    estate["region"] = "nowhere"
    estate["buildings"].append("B1")
    estate["devices"] += [
        {"id": "CAM1", "kind": "cctv"},
        {"id": "LP1", "kind": "light", "building": "B9", "parent": "LC9"},
        {"id": "A", "kind": "light", "parent": "B"},
        {"id": "B", "kind": "light", "parent": "A"},
    ]
    estate["patrols"][0]["route"].append("CP9")
    data["crews"].append(
        {
            "id": "lift-team",
            "trades": ["lift"],
            "estates": ["sunset"],
            "roster": [{"name": "早班", "start": "08:00", "end": "16:00", "members": ["李师傅"]}],
        }
    )
    issues = check_references(Inventory.model_validate(data))
    e = ("estates", 0)
    assert issues == [
        RefIssue(("regions", 0, "children", 1, "id"), "duplicate region id 'd1'"),
        RefIssue(("crews", 1, "id"), "duplicate crew id 'lift-team'"),
        RefIssue((*e, "region"), "region 'nowhere' is not in the regions tree"),
        RefIssue((*e, "buildings", 2), "duplicate building 'B1'"),
        RefIssue((*e, "devices", 4, "id"), "duplicate device id 'CAM1'"),
        RefIssue((*e, "devices", 5, "building"), "building 'B9' is not in buildings"),
        RefIssue((*e, "devices", 5, "parent"), "parent 'LC9' is not a device of estate 'sunrise'"),
        RefIssue((*e, "devices", 6, "parent"), "parent chain of 'A' loops back to it"),
        RefIssue((*e, "devices", 7, "parent"), "parent chain of 'B' loops back to it"),
        RefIssue((*e, "patrols", 0, "route", 2), "checkpoint 'CP9' is not defined"),
        RefIssue(("crews", 1, "estates", 0), "estate 'sunset' is not defined"),
        RefIssue(("crews", 1, "roster", 0, "members", 0), "'李师傅' is not a member of the crew"),
    ]
