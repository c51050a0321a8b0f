"""Profiles in the inventory: ``check-config`` reports each mistake with its file and line, and
expressions are data (a JMESPath that does not parse is refused at load, never run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devices.loader import check_inventory, load_inventory
from tests.profiles.helpers import IMEI
from tests.support.gateway import REPO

LEVEL, FLOOR = "{field: level_pct}", "{field: floor}"
BAD = f"""\
profiles:
  - name: lift-iot
    kind: lift
    format: json
    telemetry:
      floor: {{path: "data.[curFloor"}}
      altitude: {{path: data.alt}}
      door: {{path: data.door, convert: furlongs->m}}
    events:
      - {{when: {{path: data.alarm, equals: 1}}, type: levitation}}
      - {{when: {{path: data.alarm}}, type: fault, fields: {{colour: red}}}}
  - {{name: dtu, builtin: modbus-rtu, topic: "dtu/+/up"}}
  - {{name: dtu2, builtin: modbus-rtu, topic: "dtu/{{vendor_id}}/up", format: json}}
  - {{name: modbus-rtu, builtin: modbus-rtu}}
estates:
  - id: sunrise
    name: 朝阳小区
    devices:
      - {{id: T1, kind: water_tank, profile: modbus-rtu}}
      - {{id: T2, kind: water_tank, profile: dtu2, vendor_id: "{IMEI}", modbus: {{registers: [{LEVEL}]}}}}
      - {{id: T3, kind: water_tank, profile: dtu2, vendor_id: "{IMEI}", modbus: {{registers: [{FLOOR}]}}}}
      - {{id: T4, kind: water_tank, profile: dtu2, modbus: {{registers: [{{field: ph, type: float64}}]}}}}
      - {{id: L1, kind: lift, profile: hikvision-isapi}}
      - {{id: L2, kind: lift, profile: nobody}}
      - {{id: C1, kind: cctv, profile: lift-iot, vendor_id: "a/b"}}
      - {{id: C2, kind: cctv, modbus: {{registers: [{{field: recording}}]}}}}
"""


def test_every_mistake_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(BAD, encoding="utf-8")
    issues = [(issue.line, issue.message) for issue in check_inventory(path)]
    text = "\n".join(f"{line}: {message}" for line, message in issues)
    expected = [
        (6, "is not a JMESPath expression"),
        (8, "unknown conversion 'furlongs->m'"),
        (12, "must hold {vendor_id} once"),
        (22, "Input should be 'int16'"),
        (25, "String should match pattern"),
    ]
    for line, words in expected:
        assert any(found == line and words in message for found, message in issues), (
            f"{line}: {words}\n{text}"
        )


def test_cross_references_are_reported_with_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    schema_valid = BAD.replace('"data.[curFloor"', "data.curFloor").replace("furlongs->m", "kPa->MPa")
    schema_valid = schema_valid.replace("dtu/+/up", "dtu/{vendor_id}/x").replace("float64", "float32")
    schema_valid = schema_valid.replace('vendor_id: "a/b"', 'vendor_id: "X1"')
    path.write_text(schema_valid, encoding="utf-8")
    issues = [(issue.line, issue.message) for issue in check_inventory(path)]
    text = "\n".join(f"{line}: {message}" for line, message in issues)
    expected = [
        (7, "'altitude' is not a lift telemetry field"),
        (10, "'levitation' is not a lift event"),
        (11, "'colour' is not a field of the fault event"),
        (13, "a built-in profile takes only name, builtin and topic"),
        (14, "defined twice (or is a built-in's name)"),
        (19, "profile modbus-rtu needs modbus"),
        (21, "is sunrise/T2's already"),
        (21, "'floor' is not a water_tank telemetry field"),
        (22, "give the device's vendor_id"),
        (23, "profile hikvision-isapi is for cctv devices, not a lift"),
        (24, "no profile 'nobody'"),
        (25, "reads a lift, not a cctv"),
        (26, "modbus parameters without profile: modbus-rtu"),
    ]
    for line, words in expected:
        assert any(found == line and words in message for found, message in issues), (
            f"{line}: {words}\n{text}"
        )


def test_the_scenario_inventory_with_vendor_devices_loads() -> None:
    inventory = load_inventory(REPO / "simulators" / "scenarios" / "inventories" / "vendor.yaml")
    assert {d.profile for d in inventory.estates[0].devices} == {
        "hikvision-isapi",
        "dahua-event",
        "dtu-modbus",
    }


def test_check_config_exits_1_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(BAD, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "estate_gateway.cli", "check-config", str(path)],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 1
    assert f"{path}:6: profiles[0].telemetry.floor.path:" in done.stdout
