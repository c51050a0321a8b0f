"""The scenario file: durations, validation with lines, and how results and failures read (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from simulators import cli, scenario_refs
from simulators.scenario import (
    SAMPLES_DIR,
    LoadedScenario,
    ScenarioError,
    format_duration,
    load_scenario,
    parse_duration,
)
from simulators.scenario_checks import Check, Snapshot, Verdict, build_checks, never_shown, render
from tests.support.servers import free_port

START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai, a Monday
HEAD = "name: x\ninventory: sample:spec_example\nspeed: 60\n"


@dataclass(frozen=True)
class FakeFault:
    """What the checks read of ``simulators.faults.FaultSpec``."""

    kinds: tuple[str, ...]
    params: Mapping[str, str] = field(default_factory=dict)
    lasting: bool = True
    needs_children: bool = False
    estate_wide: str | None = None


FAULTS = {
    "entrapment": FakeFault(("lift",)),
    "hatch_open": FakeFault(("water_tank",)),
    "flooding": FakeFault(("water_tank",), lasting=False),
    "denied_burst": FakeFault(("access",), {"count": "denied attempts"}, lasting=False),
    "network_failure": FakeFault(("cctv",), {"count": "cameras"}, needs_children=True),
    "offline": FakeFault(()),  # any kind
    "uplink_down": FakeFault((), estate_wide="silent"),  # no device
}


@pytest.fixture(autouse=True)
def fake_world_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks of fault names use the world's table; a fixed one keeps these tests exact."""
    monkeypatch.setattr(scenario_refs, "world_faults", lambda: FAULTS)


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def issues_of(path: Path) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return caught.value.issues


# --- durations -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("250ms", 0.25), ("1.5h", 5400),
     ("0s", 0), (0, 0), (" 2m ", 120)],
)  # fmt: skip
def test_durations_take_a_unit(text: object, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["30", 30, 1.5, "5 minutes", "", "m5", "-5m", "5m30", True, None, "1w"])
def test_a_duration_without_a_unit_is_refused(text: object) -> None:
    with pytest.raises(ValueError, match="with a unit"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (45, "45s"), (5400, "1h30m"), (86400, "1d"), (-60, "-1m")]
)
def test_durations_read_back(seconds: int, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


# --- the file ------------------------------------------------------------------------------------

GOOD = """\
name: good
description: a passenger trapped
inventory: sample:spec_example
speed: 60
steps:
  - {at: 2m, fault: hatch_open, device: T1}
  - {at: 1m, fault: entrapment, device: L1, estate: sunrise}
  - at: 3m
    publish: {topic: estate/sunrise/lift/L1/event, raw: "{broken"}
expect:
  alerts:
    - {rule: lift.entrapment, device: L1, severity: critical, within: 3m}
    - {rule: light.intact_rate, device: null, within: 1h, after: 10m}
  no_alerts: [lift.offline, {rule: water.chlorine_low, until: 15m}]
  workorders:
    - {crew: lift-team, rule: lift.entrapment, deadlines: {arrive: 30m, accept: null}, within: 3m}
  patrols:
    - {plan: grounds, window: night, number: 4, status: completed, within: 20h}
  deadletters:
    - {reason: malformed_json, count: 1}
"""


def test_a_good_scenario_loads_with_its_inventory(tmp_path: Path) -> None:
    loaded = load_scenario(write(tmp_path, GOOD))
    scenario = loaded.scenario
    assert loaded.inventory_path == SAMPLES_DIR / "spec_example.yaml"
    assert loaded.inventory.estates[0].id == "sunrise"
    assert [(s.at, s.action) for s in scenario.ordered_steps()] == [
        (timedelta(minutes=1), "fault"),
        (timedelta(minutes=2), "fault"),
        (timedelta(minutes=3), "publish"),
    ]
    assert scenario.steps[2].publish is not None and scenario.steps[2].publish.body() == b"{broken"
    alerts = scenario.expect.alerts
    assert not alerts[0].any_device and alerts[0].device == "L1"
    assert not alerts[1].any_device and alerts[1].device is None and alerts[1].after == timedelta(minutes=10)
    assert [(n.rule, n.until) for n in scenario.expect.no_alerts] == [
        ("lift.offline", None),
        ("water.chlorine_low", timedelta(minutes=15)),
    ]
    assert scenario.expect.workorders[0].deadlines == {"arrive": timedelta(minutes=30), "accept": None}


def test_no_alerts_at_all_is_a_mapping(tmp_path: Path) -> None:
    text = f"{HEAD}duration: 20m\nexpect:\n  no_alerts: {{any: true}}\n"
    [quiet] = load_scenario(write(tmp_path, text)).scenario.expect.no_alerts
    assert quiet.any and quiet.rule is None


def test_an_inventory_path_is_relative_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "estate.yaml").write_text(
        (SAMPLES_DIR / "spec_example.yaml").read_text("utf-8"), "utf-8"
    )
    loaded = load_scenario(write(tmp_path, GOOD.replace("sample:spec_example", "inv/estate.yaml")))
    assert loaded.inventory_path == tmp_path / "inv" / "estate.yaml"


# Line numbers on the right are asserted exactly.
BAD = """\
name: bad                                                   # 1
inventory: sample:spec_example                              # 2
speed: 60                                                   # 3
colour: blue                                                # 4
steps:                                                      # 5
  - {at: 30, fault: entrapment, device: L1}                 # 6
  - {at: 1m, fault: entrapment, clear: entrapment, device: L1}  # 7
  - {at: 1m, clear: entrapment, device: L1, params: {x: 1}}  # 8
  - at: 2m                                                  # 9
    publish: {topic: a/b, payload: {x: 1}, raw: "x"}        # 10
expect:                                                     # 11
  alerts:                                                   # 12
    - {rule: lift.entrapment, severity: fatal, within: 3m}  # 13
    - {rule: Lift Entrapment, within: 3m}                   # 14
    - {rule: lift.entrapment, within: 1m, after: 2m}        # 15
  patrols:                                                  # 16
    - {plan: grounds, window: night, number: 0, status: done, within: 1h}  # 17
"""


def test_every_schema_problem_is_reported_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, BAD)
    issues = issues_of(path)
    lines = sorted({int(issue.split(":")[1]) for issue in issues})
    assert lines == [4, 6, 7, 8, 10, 13, 14, 15, 17], issues
    text = "\n".join(issues)
    assert f"{path}:4: colour: Extra inputs are not permitted" in text
    assert f"{path}:6: steps[0].at: 30 is not a duration: write it with a unit" in text
    assert f"{path}:7: steps[1]: a step does exactly one of fault, clear or publish" in text
    assert f"{path}:8: steps[2]: a clear step takes no params" in text
    assert f"{path}:10: steps[3].publish: give either payload (a mapping) or raw (a string)" in text
    assert f"{path}:13: expect.alerts[0].severity: Input should be 'critical'" in text
    assert f"{path}:15: expect.alerts[2]: after must not be later than within" in text
    assert f"{path}:17: expect.patrols[0].number: Input should be greater than or equal to 1" in text


REFS = """\
name: refs                                                  # 1
inventory: sample:spec_example                              # 2
speed: 60                                                   # 3
steps:                                                      # 4
  - {at: 1m, fault: entrapment, device: L9}                 # 5
  - {at: 1m, fault: entrapment, device: T1}                 # 6
  - {at: 1m, fault: levitation, device: L1}                 # 7
  - {at: 1m, clear: offline, device: L1, estate: moonrise}  # 8
  - {at: 1m, fault: offline, device: CAM1}                  # 9
expect:                                                     # 10
  alerts:                                                   # 11
    - {rule: lift.entrapment, device: L2, within: 3m}       # 12
  workorders:                                               # 13
    - {crew: plumbers, within: 3m}                          # 14
  patrols:                                                  # 15
    - {plan: grounds, window: evening, number: 1, status: completed, within: 1h}  # 16
    - {plan: grounds, window: day, number: 4, status: completed, within: 1h}  # 17
    - {plan: perimeter, window: day, number: 1, status: completed, within: 1h}  # 18
"""


def test_references_to_the_inventory_and_the_faults_are_checked(tmp_path: Path) -> None:
    path = write(tmp_path, REFS)
    issues = issues_of(path)
    assert issues == [
        f"{path}:5: steps[0].device: no device 'L9' in estate sunrise",
        f"{path}:6: steps[1].fault: fault 'entrapment' is for lift, not water_tank (T1)",
        f"{path}:7: steps[2].fault: unknown fault 'levitation'; a lift can have: entrapment, offline",
        f"{path}:8: steps[3].estate: no estate 'moonrise' in the inventory (it has sunrise)",
        f"{path}:12: expect.alerts[0].device: no device 'L2' in estate sunrise",
        f"{path}:14: expect.workorders[0].crew: no crew 'plumbers' in the inventory",
        f"{path}:16: expect.patrols[0].window: plan grounds has no window 'evening' (it has day, night)",
        f"{path}:17: expect.patrols[1].number: window day of plan grounds has 3 rounds",
        f"{path}:18: expect.patrols[2].plan: no patrol plan 'perimeter' in estate sunrise",
    ]


FITS = """\
name: fits                                                   # 1
inventory: sample:spec_example                               # 2
speed: 60                                                    # 3
steps:                                                       # 4
  - {at: 1m, fault: denied_burst, device: D1, params: {count: 6}}  # 5
  - {at: 1m, fault: denied_burst, device: D1, params: {cards: 6}}  # 6
  - {at: 2m, clear: flooding, device: T1}                    # 7
  - {at: 2m, fault: network_failure, device: CAM1}           # 8
  - {at: 2m, fault: network_failure, device: NVR1, params: {count: 1}}  # 9
  - {at: 2m, fault: entrapment, device: L1, params: {floor: 3}}  # 10
  - {at: 3m, fault: entrapment}                              # 11
  - {at: 3m, fault: uplink_down, device: L1}                 # 12
  - {at: 3m, fault: uplink_down}                             # 13
expect: {no_alerts: {any: true}}                             # 14
duration: 5m                                                 # 15
"""


def test_a_fault_must_fit_its_device_and_take_its_parameters(tmp_path: Path) -> None:
    path = write(tmp_path, FITS)
    assert issues_of(path) == [
        f"{path}:6: steps[1].params: fault 'denied_burst' takes count, not cards",
        f"{path}:7: steps[2].clear: fault 'flooding' is a one-off event: clearing it does nothing",
        f"{path}:8: steps[3].device: fault 'network_failure' needs a device with children; CAM1 has none",
        f"{path}:10: steps[5].params: fault 'entrapment' takes no parameters, not floor",
        f"{path}:11: steps[6]: a fault step needs a device ('entrapment' is a device's fault)",
        f"{path}:12: steps[7].device: fault 'uplink_down' is of a whole estate: it takes no device",
    ]


def test_fault_steps_need_the_world_simulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scenario_refs, "world_faults", lambda: None)
    path = write(tmp_path, GOOD)
    assert (
        f"{path}:6: steps[0].fault: fault and clear steps need simulators.world (not installed)"
        in issues_of(path)
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name: x\ninventory: nowhere.yaml\nspeed: 60\nexpect: {no_alerts: {any: true}}\nduration: 1m\n",
         ":2: inventory: the inventory does not load: "),
        (f"{HEAD}expect: {{}}\n", ":1: expect nothing"),
        (f"{HEAD}expect: {{no_alerts: [lift.offline]}}\n",
         ":1: a scenario with no expectation due by a time (within) needs a duration"),
        (f"{HEAD.replace('60', '0')}expect: {{no_alerts: [lift.offline]}}\nduration: 1m\n",
         ":3: speed: Input should be greater than 0"),
        (f"{HEAD}  expect: {{}}\n", ":4: YAML syntax error"),
        (f"{HEAD}expect: {{no_alerts: [{{device: L1}}]}}\nduration: 1m\n",
         ":4: expect.no_alerts[0]: name a rule, or say any: true"),
    ],
)  # fmt: skip
def test_file_level_problems(tmp_path: Path, text: str, problem: str) -> None:
    [issue] = issues_of(write(tmp_path, text))
    assert problem in issue


# --- judging and the diff ------------------------------------------------------------------------


def checks_for(tmp_path: Path, expect: str) -> list[Check]:
    text = f"name: t\ninventory: sample:spec_example\nspeed: 60\nduration: 10m\nexpect:\n{expect}"
    loaded: LoadedScenario = load_scenario(write(tmp_path, text))
    return build_checks(loaded)


def alert(
    rule: str, device: str | None, severity: str, raised_min: float = 1, **extra: Any
) -> dict[str, Any]:
    raised = START + timedelta(minutes=raised_min)
    return {"id": extra.pop("id", 1), "rule": rule, "estate": "sunrise", "device": device,
            "severity": severity, "state": "active", "active": True, "raised_at": raised.isoformat(),
            **extra}  # fmt: skip


def snap(minutes: float, alerts: Sequence[dict[str, Any]] = (), **extra: Any) -> Snapshot:
    """What the API showed ``minutes`` into the run."""
    by_id: Mapping[int, Any] = {a["id"]: a for a in alerts}
    return Snapshot(START, timedelta(minutes=minutes), alerts, alerts_by_id=by_id, **extra)


def test_an_alert_passes_when_seen_in_its_window(tmp_path: Path) -> None:
    [check] = checks_for(
        tmp_path, "  alerts: [{rule: lift.entrapment, device: L1, severity: critical, within: 3m}]\n"
    )
    check.observe(snap(0.5))
    assert check.verdict is Verdict.PENDING
    check.observe(snap(1.25, [alert("lift.entrapment", "L1", "critical")]))
    assert check.verdict is Verdict.PASSED
    assert render(check) == ["✓ alert rule=lift.entrapment device=L1 severity=critical within 3m (at +1m15s)"]


def test_a_wrong_severity_fails_with_expected_and_closest_actual(tmp_path: Path) -> None:
    [check] = checks_for(
        tmp_path, "  alerts: [{rule: lift.entrapment, device: L1, severity: major, within: 3m}]\n"
    )
    seen = [alert("lift.entrapment", "L1", "critical"), alert("water.hatch_open", "T1", "major", 2, id=2)]
    check.observe(snap(2, seen))
    check.observe(snap(3.1, seen))
    assert check.verdict is Verdict.FAILED
    assert render(check) == [
        "✗ alert rule=lift.entrapment device=L1 severity=major within 3m — not seen in time",
        "    expected: rule=lift.entrapment estate=sunrise device=L1 severity=major",
        "    closest:  rule=lift.entrapment estate=sunrise device=L1 severity=critical (≠ major) "
        "state=active active=true raised=+1m",
        "              rule=water.hatch_open (≠ lift.entrapment) estate=sunrise device=T1 (≠ L1) "
        "severity=major state=active active=true raised=+2m",
    ]


def test_after_means_not_before(tmp_path: Path) -> None:
    [check] = checks_for(
        tmp_path, "  alerts: [{rule: lift.unintended_movement, active: true, after: 4m, within: 6m}]\n"
    )
    latched = [alert("lift.unintended_movement", "L1", "critical")]
    check.observe(snap(2, latched))
    assert check.verdict is Verdict.PENDING  # too early to say it stayed latched
    check.observe(snap(4.5, latched))
    assert check.verdict is Verdict.PASSED


def test_nothing_at_all_says_so(tmp_path: Path) -> None:
    [check] = checks_for(tmp_path, "  alerts: [{rule: lift.entrapment, within: 3m}]\n")
    check.observe(snap(4))
    assert render(check)[-1] == "    actual:   no alerts at all"


def test_no_alerts_fails_at_once_and_lists_the_offenders(tmp_path: Path) -> None:
    rule, quiet = checks_for(tmp_path, "  no_alerts: [{rule: lift.offline, until: 5m}, {any: true}]\n")
    rule.observe(snap(1))
    rule.observe(snap(5, [alert("lift.offline", "L1", "minor", 6)]))  # raised after its period
    assert rule.verdict is Verdict.PASSED
    quiet.observe(snap(1, [alert("cctv.offline", "CAM1", "major", 0.5, state="suppressed")]))
    assert quiet.verdict is Verdict.PENDING  # suppressed by design: never annunciated
    quiet.observe(snap(2, [alert("lift.offline", "L1", "minor", 1.5)]))
    assert quiet.verdict is Verdict.FAILED
    assert render(quiet) == [
        "✗ no alert at all — 1 raised",
        "    actual:   rule=lift.offline estate=sunrise device=L1 severity=minor state=active active=true "
        "raised=+1m30s",
    ]


def test_an_alert_closed_under_its_suppression_was_never_raised_for_no_alerts(tmp_path: Path) -> None:
    [quiet] = checks_for(tmp_path, "  no_alerts: {any: true}\n")
    unseen = [{"action": "raise", "note": "suppressed: feed lost"}, {"action": "clear"}, {"action": "close"}]
    shown = [*unseen[:1], {"action": "unsuppress"}, {"action": "clear"}, {"action": "ack"}]
    assert never_shown(unseen) and not never_shown(shown)
    assert not never_shown([{"action": "raise", "note": ""}, {"action": "suppress"}])  # shown, then hidden
    closed = alert("cctv.offline", "CAM1", "minor", 1, state="closed", active=False, never_shown=True)
    quiet.observe(snap(2, [closed]))
    assert quiet.verdict is Verdict.PENDING
    quiet.observe(snap(3, [{**closed, "never_shown": False}]))
    assert quiet.verdict is Verdict.FAILED


def test_an_open_ended_no_alerts_passes_at_the_end(tmp_path: Path) -> None:
    [check] = checks_for(tmp_path, "  no_alerts: {any: true}\n")
    check.observe(snap(5))
    check.finish(snap(10))
    assert check.verdict is Verdict.PASSED and render(check) == ["✓ no alert at all (at +10m)"]


def test_work_order_deadlines_count_from_the_alert(tmp_path: Path) -> None:
    [check] = checks_for(
        tmp_path,
        "  workorders: [{crew: lift-team, rule: lift.entrapment, deadlines: {arrive: 30m}, within: 3m}]\n",
    )
    raised = alert("lift.entrapment", "L1", "critical", 1, id=7)
    created = START + timedelta(minutes=1, seconds=2)  # the order follows its alert a moment later
    due = {
        "accept": raised["raised_at"],
        "arrive": (START + timedelta(minutes=31)).isoformat(),
        "resolve": None,
    }
    due["accept"] = (START + timedelta(minutes=6)).isoformat()
    order = {"id": 1, "crew": "security-team", "estate": "sunrise", "rule": "lift.entrapment", "device": "L1",
             "state": "assigned", "severity": "critical", "alert": 7, "created_at": created.isoformat(),
             "deadlines": due}  # fmt: skip
    check.observe(snap(2, [raised], orders=[order]))
    assert check.verdict is Verdict.PENDING
    check.observe(snap(2.5, [raised], orders=[{**order, "crew": "lift-team"}]))
    assert check.verdict is Verdict.PASSED
    [check] = checks_for(
        tmp_path,
        "  workorders: [{crew: lift-team, rule: lift.entrapment, deadlines: {arrive: 1h}, within: 3m}]\n",
    )
    check.observe(snap(2, [raised], orders=[order]))
    check.observe(snap(4, [raised], orders=[order]))
    assert render(check)[1:] == [
        "    expected: crew=lift-team estate=sunrise rule=lift.entrapment arrive=1h",
        "    closest:  crew=security-team (≠ lift-team) estate=sunrise rule=lift.entrapment device=L1 "
        "state=assigned severity=critical accept=5m arrive=30m (≠ 1h) resolve=null",
    ]


def round_json(number: int, status: str, start_min: float, day: str = "day") -> dict[str, Any]:
    start = START + timedelta(minutes=start_min)
    return {"estate": "sunrise", "plan": "grounds", "window": day, "index": number - 1, "status": status,
            "start": start.isoformat(), "end": (start + timedelta(hours=4)).isoformat()}  # fmt: skip


def test_a_patrol_round_is_the_first_such_round_not_over_before_the_start(tmp_path: Path) -> None:
    [check] = checks_for(
        tmp_path, "  patrols: [{plan: grounds, window: day, number: 2, status: late, within: 5h}]\n"
    )
    yesterday = round_json(2, "late", -24 * 60)
    today = round_json(2, "in_progress", 60)
    check.observe(snap(1, rounds=[yesterday, today]))
    assert check.verdict is Verdict.PENDING  # yesterday's round 2 was late, but it is over
    check.observe(snap(4.5 * 60, rounds=[yesterday, {**today, "status": "incomplete"}]))
    check.observe(snap(6 * 60, rounds=[yesterday, {**today, "status": "incomplete"}]))
    assert render(check)[1:] == [
        "    expected: estate=sunrise plan=grounds window=day number=2 status=late",
        "    closest:  estate=sunrise plan=grounds window=day status=incomplete (≠ late) number=2 starts=+1h",
    ]


def test_dead_letters_are_counted_exactly(tmp_path: Path) -> None:
    exact, none = checks_for(
        tmp_path, "  deadletters: [{reason: malformed_json, count: 2}, {reason: oversized, count: 0}]\n"
    )
    for check in (exact, none):
        check.observe(snap(1, deadletters={"malformed_json": 1}))
    assert exact.verdict is Verdict.PENDING and none.verdict is Verdict.PENDING
    for check in (exact, none):
        check.observe(snap(2, deadletters={"malformed_json": 3}))
    assert exact.verdict is Verdict.FAILED
    assert render(exact) == [
        "✗ 2 dead letter(s) malformed_json — 3 seen",
        "    expected: reason=malformed_json count=2",
        "    closest:  reason=malformed_json count=3 (≠ 2)",
    ]
    none.finish(snap(10, deadletters={"malformed_json": 3}))
    assert none.verdict is Verdict.PASSED


# --- the command line, where no gateway is needed --------------------------------------------------


def test_a_bad_file_exits_2_with_its_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, BAD)
    args = [
        "scenario",
        str(path),
        "--gateway",
        "http://127.0.0.1:9",
        "--token",
        "t",
        "--broker",
        "mqtt://127.0.0.1:9",
    ]
    assert cli.main(args) == 2
    assert f"{path}:4: colour: Extra inputs are not permitted" in capsys.readouterr().err


def test_an_unreachable_gateway_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD)
    url = f"http://127.0.0.1:{free_port()}"
    args = ["scenario", str(path), "--gateway", url, "--token", "t", "--broker", "mqtt://127.0.0.1:9"]
    assert cli.main(args) == 2
    assert f"estate-sim scenario: gateway {url} unreachable" in capsys.readouterr().err
