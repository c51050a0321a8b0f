"""Acceptance 6 and 7: ``check-config`` prints ``file:line: reason`` per error and exits non-zero;
``run`` refuses to start with the same lines; the docs/contract.md §4 example passes unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.gateway import SPEC_EXAMPLE

BROKEN = """\
estates:
  - id: sunrise
    name: 朝阳小区
    timezone: Mars/Olympus
    buildings: [B1]
    devices:
      - {id: L1, kind: lift, building: B1}
      - {id: L1, kind: lift, building: B1}
      - {id: X1, kind: toaster, building: B1}
      - {id: CAM1, kind: cctv, building: B9, parent: NVR9}
crews:
  - {id: lift-team, trades: [lift], estates: [nowhere]}
sla_policies:
  - {id: quick, severity: critical, arrive: 30min}
"""


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "estate_gateway.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def _error_lines(text: str, path: Path) -> list[tuple[int, str]]:
    out = []
    for line in text.splitlines():
        if line.startswith(f"{path}:") and line[len(str(path)) + 1 :].split(":")[0].isdigit():
            number, _, reason = line[len(str(path)) + 1 :].partition(": ")
            out.append((int(number), reason))
    return out


def test_check_config_reports_every_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "estate.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    result = _cli("check-config", str(path))
    assert result.returncode != 0
    errors = _error_lines(result.stdout, path)
    lines = {n for n, _ in errors}
    assert lines >= {4, 8, 9, 10, 12, 14}, result.stdout
    by_line = dict(errors)
    assert "timezone" in by_line[4]
    assert "L1" in by_line[8]  # the duplicate
    assert "kind" in by_line[9]
    assert any("nowhere" in reason for n, reason in errors if n == 12)
    assert "not a duration" in by_line[14]


def test_check_config_names_an_sla_policy_for_a_rule_that_does_not_exist(tmp_path: Path) -> None:
    path = tmp_path / "estate.yaml"
    text = SPEC_EXAMPLE.read_text(encoding="utf-8")
    policy = (
        "sla_policies:\n  - id: trapped\n    rules: [lift.entrapment, lift.entrapmnet]\n    arrive: 15m\n"
    )
    path.write_text(text + policy, encoding="utf-8")
    result = _cli("check-config", str(path))
    assert result.returncode == 1
    line = len(text.splitlines()) + 3
    assert _error_lines(result.stdout, path) == [
        (line, "sla_policies[0].rules[1]: no alarm rule 'lift.entrapmnet'")
    ]


def test_run_refuses_a_broken_inventory_with_the_same_lines(tmp_path: Path) -> None:
    path = tmp_path / "estate.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    check = _cli("check-config", str(path))
    run = _cli(
        "run",
        env={
            "ESTATE_INVENTORY": str(path),
            "ESTATE_DATA_DIR": str(tmp_path / "data"),
            "ESTATE_MQTT_URL": "mqtt://127.0.0.1:9",
        },
    )
    assert run.returncode != 0
    assert _error_lines(run.stderr, path) == _error_lines(check.stdout, path)
    assert not (tmp_path / "data").exists()  # refused before touching anything


def test_run_without_an_inventory_says_so(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ESTATE_INVENTORY"}
    result = subprocess.run(
        [sys.executable, "-m", "estate_gateway.cli", "run"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**env, "ESTATE_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "ESTATE_INVENTORY" in result.stderr


def test_spec_example_passes_check_config_unchanged() -> None:
    result = _cli("check-config", str(SPEC_EXAMPLE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok" in result.stdout and "8 device(s)" in result.stdout


def test_run_refuses_a_bad_tokens_file_with_its_lines(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(
        'tokens:\n  - {name: a, role: crew, crew: ghosts, token: "0123456789abcdefXYZ"}\n'
        '  - {name: b, role: operator, estates: [mars], token: "0123456789abcdefXYZ"}\n',
        encoding="utf-8",
    )
    run = _cli(
        "run",
        env={
            "ESTATE_INVENTORY": str(SPEC_EXAMPLE),
            "ESTATE_TOKENS_FILE": str(tokens),
            "ESTATE_DATA_DIR": str(tmp_path / "data"),
            "ESTATE_MQTT_URL": "mqtt://127.0.0.1:9",
        },
    )
    assert run.returncode == 2
    errors = _error_lines(run.stderr, tokens)
    assert [n for n, _ in errors] == [2, 3], run.stderr
    assert "no crew 'ghosts'" in errors[0][1] and "no estate 'mars'" in errors[1][1]
