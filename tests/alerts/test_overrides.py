"""Per-estate rule overrides (inventory ``estates[].rules``): applied, switched off, and refused
with the file and line when wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devices.loader import load_inventory
from tests.alerts.harness import Harness

ESTATE = """\
estates:
  - id: sunrise
    name: 朝阳小区
    buildings: [B1]
    devices:
      - {{id: T1, kind: water_tank, building: B1}}
      - {{id: D1, kind: access, building: B1}}
    rules:
{rules}
"""


def inventory_file(tmp_path: Path, rules: str) -> Path:
    path = tmp_path / "estate.yaml"
    path.write_text(ESTATE.format(rules=rules), encoding="utf-8")
    return path


def test_override_changes_a_threshold_and_switches_a_rule_off(tmp_path: Path) -> None:
    path = inventory_file(
        tmp_path,
        "      water.level_high: {when.0.value: 90.0, clear_when.0.value: 85.0}\n"
        "      access.held_open: {enabled: false}",
    )
    h = Harness(tmp_path, inventory=load_inventory(path))
    h.send("T1", level_pct=92.0)  # the default level is 95 %: only the override raises this
    assert h.alert("T1", "water.level_high") is not None
    h.send("D1", door="open")
    h.advance(120, step=10)
    assert h.alert("D1", "access.held_open") is None  # switched off for this estate


def test_bad_overrides_are_reported_at_their_line(tmp_path: Path) -> None:
    path = inventory_file(
        tmp_path,
        "      water.levle_high: {enabled: false}\n      access.held_open: {for_s: -5}\n"
        "      water.level_low: {when.3.value: 1.0}",
    )
    result = subprocess.run(
        [sys.executable, "-m", "estate_gateway.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith(str(path))]
    assert any(line.startswith(f"{path}:9:") and "water.levle_high" in line for line in lines), result.stdout
    assert any(line.startswith(f"{path}:10:") and "access.held_open" in line for line in lines), result.stdout
    assert any(line.startswith(f"{path}:11:") and "when.3.value" in line for line in lines), result.stdout
