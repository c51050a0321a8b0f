"""Every scenario of the library against real mosquitto and a real ``estate-gateway run`` on
simulated time, one test each; and a wrong expectation makes ``estate-sim scenario`` fail with a
diff naming what was expected and what happened."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from alerts.book import FLOOD_RULE
from alerts.catalogue import DEFAULT_RULES
from alerts.patrol_plan import PatrolRule
from simulators.scenario import LoadedScenario, library, load_scenario
from simulators.scenario_runner import FAILED, PASSED, UNUSABLE
from tests.support.gateway import REPO, GatewayProcess
from tests.support.servers import MosquittoServer

#: The runner signs in as the simulator role: what a tester's tool would be given.
SIM_TOKEN = "scenario-simulator-token"
#: Scenarios that leave ``clock_start`` open run from here (a Monday morning in Shanghai).
DEFAULT_START = "2026-03-02T10:00:00+08:00"
#: How long a runner started beside its gateway waits for it (a gateway's start takes seconds).
RUNNER_WAIT_S = 60.0


def gateway_process(
    loaded: LoadedScenario, workdir: Path, broker: MosquittoServer, *, lockstep: bool = True
) -> GatewayProcess:
    """``estate-gateway run`` as the scenario needs it: its inventory, speed and start, fresh data
    (not started yet); in lock-step time (the runner drives its clock, ESTATE_CLOCK_TOPIC) unless
    ``lockstep`` is False (its clock runs by itself at the scenario's speed)."""
    tokens = workdir / "tokens.yaml"
    workdir.mkdir(parents=True, exist_ok=True)
    tokens.write_text(
        yaml.safe_dump({"tokens": [{"name": "scenarios", "role": "simulator", "token": SIM_TOKEN}]})
    )
    scenario = loaded.scenario
    start = scenario.clock_start.isoformat() if scenario.clock_start else DEFAULT_START
    return GatewayProcess(
        workdir,
        {
            "ESTATE_MQTT_URL": broker.url,
            "ESTATE_INVENTORY": str(loaded.inventory_path),
            "ESTATE_CLOCK_SPEED": str(scenario.speed),
            "ESTATE_CLOCK_START": start,
            "ESTATE_TOKENS_FILE": str(tokens),
            **({"ESTATE_CLOCK_TOPIC": f"estate-sim/clock/{workdir.parent.name}"} if lockstep else {}),
        },
    )


def start_gateway(
    loaded: LoadedScenario, workdir: Path, broker: MosquittoServer, *, lockstep: bool = True
) -> GatewayProcess:
    proc = gateway_process(loaded, workdir, broker, lockstep=lockstep)
    proc.start()
    return proc


@pytest.mark.parametrize("path", library(), ids=lambda path: path.stem)
def test_scenario(path: Path, tmp_path: Path, mosquitto: MosquittoServer) -> None:
    """As a tester runs it: ``estate-sim scenario`` in its own process. Run inside pytest, the
    runner shared a heap of some 350 MB by the end of the suite, and its garbage collections held
    back the devices' messages by up to seconds: at x60, minutes of simulated time. It starts
    beside the gateway and waits for it (``--wait``): started after it, its own start-up (seconds
    under load) was simulated minutes of silence, and the gateway flagged devices offline."""
    loaded = load_scenario(path)
    gateway = gateway_process(loaded, tmp_path / "gw", mosquitto)
    runner = subprocess.Popen(
        estate_sim_command(path, gateway.url, mosquitto.url, wait_s=RUNNER_WAIT_S),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        gateway.start()
        report, _ = runner.communicate(timeout=600)
    finally:
        runner.kill()
        gateway.kill()
    print(report)  # its timing line shows how well this machine kept up (pytest -s or -rP)
    assert runner.returncode == PASSED, f"{report}\n--- gateway log ---\n{gateway.log_text()[-4000:]}"
    assert f"{loaded.scenario.name}: PASS" in report


def known_rules() -> set[str]:
    return {r.id for r in DEFAULT_RULES} | {r.value for r in PatrolRule} | {FLOOD_RULE, "workorder.overdue"}


@pytest.mark.parametrize("path", library(), ids=lambda path: path.stem)
def test_library_scenarios_load_and_name_real_rules(path: Path) -> None:
    expect = load_scenario(path).scenario.expect  # with the real world's faults
    named = {e.rule for e in expect.alerts} | {n.rule for n in expect.no_alerts if n.rule}
    named |= {o.rule for o in expect.workorders if o.rule}
    assert named <= known_rules(), named - known_rules()


def test_the_library_covers_every_section_of_the_standards() -> None:
    names = {path.stem for path in library()}
    assert len(names) >= 15
    for prefix in ("lift-", "water-", "cctv-", "access-", "light-", "patrol-", "alarm-"):
        assert any(name.startswith(prefix) for name in names), prefix
    assert {"bad-input", "quiet-estate"} <= names


LIFT_ENTRAPMENT = REPO / "simulators" / "scenarios" / "lift-entrapment.yaml"


def estate_sim_command(
    path: Path, gateway: str, broker: str, token: str = SIM_TOKEN, wait_s: float = 0.0
) -> list[str]:
    """``estate-sim scenario`` as a tester runs it."""
    args = [str(path), "--gateway", gateway, "--token", token, "--broker", broker, "--wait", str(wait_s)]
    return [sys.executable, "-m", "simulators.cli", "scenario", *args]


def estate_sim(
    path: Path, gateway: GatewayProcess, broker: MosquittoServer, token: str = SIM_TOKEN
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        estate_sim_command(path, gateway.url, broker.url, token),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_of(path: Path, into: Path, *changes: tuple[str, str]) -> Path:
    """The scenario at ``path`` with each (old, new) text replaced once, written in ``into``."""
    text = path.read_text(encoding="utf-8")
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    copy = into / path.name
    copy.write_text(text, encoding="utf-8")
    return copy


def test_a_wrong_expectation_fails_with_a_diff(tmp_path: Path, mosquitto: MosquittoServer) -> None:
    path = copy_of(
        LIFT_ENTRAPMENT,
        tmp_path,
        ("severity: critical, state: active", "severity: major, state: active"),
        ("crew: lift-team", "crew: water-team"),
    )
    gateway = start_gateway(load_scenario(path), tmp_path / "gw", mosquitto)
    try:
        result = estate_sim(path, gateway, mosquitto)
    finally:
        gateway.kill()
    out = result.stdout
    assert result.returncode == FAILED, out + result.stderr
    assert "✗ alert rule=lift.entrapment device=L1 severity=major state=active between +1m and +3m" in out
    assert "    expected: rule=lift.entrapment estate=sunrise device=L1 severity=major state=active" in out
    assert "severity=critical (≠ major)" in out
    assert "✗ work order crew=water-team rule=lift.entrapment" in out
    assert "    closest:  crew=lift-team (≠ water-team)" in out
    assert "lift-entrapment: FAIL: 2 of 4 expectations not met" in out


def test_a_gateway_at_another_speed_or_a_wrong_token_is_refused(
    tmp_path: Path, mosquitto: MosquittoServer
) -> None:
    at_30 = copy_of(LIFT_ENTRAPMENT, tmp_path, ("speed: 60", "speed: 30"))
    gateway = start_gateway(load_scenario(at_30), tmp_path / "gw", mosquitto)
    try:
        other_speed = estate_sim(LIFT_ENTRAPMENT, gateway, mosquitto)
        wrong_token = estate_sim(at_30, gateway, mosquitto, token="not-the-simulator-token")
    finally:
        gateway.kill()
    assert other_speed.returncode == UNUSABLE
    assert (
        "estate-sim scenario: the scenario runs at speed 60 but the gateway's clock at 30: "
        "start the gateway with ESTATE_CLOCK_SPEED=60" in other_speed.stderr
    )
    assert wrong_token.returncode == UNUSABLE
    assert "gateway refused the token for /api/estates (401)" in wrong_token.stderr


def test_a_runner_waits_for_its_gateway_only_as_long_as_told(
    tmp_path: Path, mosquitto: MosquittoServer
) -> None:
    never_started = gateway_process(load_scenario(LIFT_ENTRAPMENT), tmp_path / "gw", mosquitto)
    result = subprocess.run(
        estate_sim_command(LIFT_ENTRAPMENT, never_started.url, mosquitto.url, wait_s=1.0),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == UNUSABLE
    assert f"estate-sim scenario: gateway {never_started.url} not ready within 1 s: " in result.stderr


CAMERA_GROUP = REPO / "simulators" / "scenarios" / "cctv-camera-group.yaml"


def test_in_lockstep_one_seed_gives_one_outcome(tmp_path: Path, mosquitto: MosquittoServer) -> None:
    """The same scenario twice, each against a fresh gateway in lock-step time: the very same
    alerts, to the raise time and the count (each gateway's clock moved only with the messages)."""
    outcomes = []
    for run in ("first", "second"):
        gateway = start_gateway(load_scenario(CAMERA_GROUP), tmp_path / run / "gw", mosquitto)
        try:
            result = estate_sim(CAMERA_GROUP, gateway, mosquitto)
            alerts = gateway.api("/api/alerts", limit=5000)
        finally:
            gateway.kill()
        assert result.returncode == PASSED, result.stdout + result.stderr
        fields = ("device", "rule", "severity", "state", "raised_at", "cleared_at", "count")
        outcomes.append(sorted(tuple(str(a[f]) for f in fields) for a in alerts))
    assert len(outcomes[0]) >= 3  # the group alarm and cameras under it
    assert outcomes[0] == outcomes[1]
