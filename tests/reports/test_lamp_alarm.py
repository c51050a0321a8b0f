"""The engine's own 完好率 alarm (``light.intact_rate``) counts lamps as the overview and the daily
rollups do (:func:`alerts.kpis.lamp_intact`): a silent lamp is unknown, not working (issue 24).
Before, the alarm counted only lamps reported failed, so ten lamps with one silent read 100 %."""

from __future__ import annotations

from pathlib import Path

from alerts.topology import Topology
from devices.inventory import Inventory
from tests.alerts.harness import Harness

LAMPS = [f"P{i:02}" for i in range(1, 11)]
INVENTORY = {
    "estates": [
        {
            "id": "sunrise",
            "name": "朝阳小区",
            "timezone": "Asia/Shanghai",
            "buildings": ["B1"],
            "devices": [
                {"id": "LC1", "kind": "light", "building": "B1", "heartbeat_s": 60},
                *(
                    {"id": p, "kind": "light", "building": "B1", "parent": "LC1", "heartbeat_s": 60}
                    for p in LAMPS
                ),
            ],
        }
    ]
}


def harness(tmp_path: Path) -> Harness:
    h = Harness(tmp_path, inventory=Inventory.model_validate(INVENTORY))
    for device in ["LC1", *LAMPS]:
        h.send(device, on=True, lamp_ok=True, power_w=36.0)
    return h


def test_a_silent_lamp_brings_the_intact_rate_alarm_and_its_return_clears_it(tmp_path: Path) -> None:
    h = harness(tmp_path)
    talking = ["LC1", *(p for p in LAMPS if p != "P03")]
    h.advance(170, keep_alive=talking, step=10)
    assert h.alert(None, "light.intact_rate") is None  # P03 not yet 3 heartbeats late
    h.advance(20, keep_alive=talking, step=10)
    silent = h.alert("P03", "light.offline")
    assert silent is not None and silent.active
    alarm = h.alert(None, "light.intact_rate")
    assert alarm is not None and alarm.active  # 9 of 10 known to work: 90 % < 95 %
    assert "90.0" in alarm.message and "90.0" in alarm.message_en and "1/10" in alarm.message
    h.send("P03", on=True, lamp_ok=True, power_w=36.0)  # heard again, working
    h.advance(10, keep_alive=["LC1", *LAMPS], step=10)
    cleared = h.alert(None, "light.intact_rate")
    assert cleared is None or not cleared.active


def test_a_failed_lamp_and_a_silent_one_count_together(tmp_path: Path) -> None:
    h = Harness(tmp_path, inventory=Inventory.model_validate({**INVENTORY}))
    topology = Topology(h.inventory)
    topology.failed_lamps["sunrise"] = {"P01", "X9"}
    lamps = topology.lamp_ratio("sunrise", silent={"P01", "P02", "LC1"})
    # P01 failed (its last word), P02 unknown, the circuit box is no lamp, X9 is no lamp here.
    assert (lamps.total, lamps.failed, lamps.unknown, lamps.working, lamps.rate) == (10, 1, 1, 8, 0.8)
    assert Topology(h.inventory).lamp_ratio("nowhere").rate is None
