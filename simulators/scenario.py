"""The scenario file (``estate-sim scenario FILE``, docs/contract.md §10): simulated devices,
faults injected at set times, and the alerts, work orders, patrol rounds and dead letters a gateway
must produce.

A scenario is YAML, validated strictly (unknown keys refused) and reported like the inventory:
every problem as ``file:line: reason``. Times are durations from the scenario's start (``30s``,
``5m``, ``2h``, ``1h30m``) in *simulated* time; the start is the gateway's clock when the run begins.

```yaml
name: lift-entrapment
description: A passenger is trapped; the lift team must be on site within 30 minutes.
inventory: sample:spec_example      # or a path relative to this file
speed: 60                           # simulated seconds per wall second: the gateway's too
steps:
  - {at: 1m, fault: entrapment, device: L1}
expect:
  alerts:
    - {rule: lift.entrapment, device: L1, severity: critical, within: 3m}
  workorders:
    - {crew: lift-team, rule: lift.entrapment, deadlines: {arrive: 30m}, within: 3m}
  no_alerts: [lift.offline]
```

Beside this module: the references to the inventory and the world's faults
(:mod:`simulators.scenario_refs`), judging and the diff (:mod:`simulators.scenario_checks`), the
runner (:mod:`simulators.scenario_runner`) and its connections (:mod:`simulators.scenario_io`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

from devices.base import IdStr, Severity
from devices.inventory import Inventory, RefIssue
from devices.loader import InventoryError, load_inventory, load_yaml_model

#: ``sample:NAME`` names an inventory packaged in ``devices/samples/``.
SAMPLES_DIR = Path(__file__).resolve().parents[1] / "devices" / "samples"
#: The scenario library shipped with the package.
LIBRARY_DIR = Path(__file__).resolve().parent / "scenarios"
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_RULE = re.compile(r"[a-z_]+(\.[a-z_]+)*")

AlertState = Literal["active", "acknowledged", "cleared", "closed", "shelved", "suppressed"]
OrderState = Literal["open", "assigned", "accepted", "on_site", "resolved", "closed", "cancelled"]
RoundStatus = Literal["scheduled", "in_progress", "completed", "late", "short_handed", "incomplete", "missed"]
Clock = Literal["accept", "arrive", "resolve"]


def parse_duration(value: object) -> timedelta:
    """``30s``, ``5m``, ``2h``, ``1d``, ``1h30m``, ``250ms`` → a timedelta (never negative)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        if value == 0:
            return timedelta(0)
        raise ValueError(f"{value!r} is not a duration: write it with a unit, e.g. 30s, 5m, 2h or 1h30m")
    text = value.strip()
    parts = _PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text.replace(" ", ""):
        raise ValueError(f"{value!r} is not a duration: write it with a unit, e.g. 30s, 5m, 2h or 1h30m")
    return timedelta(seconds=sum(float(number) * _UNIT_S[unit] for number, unit in parts))


def format_duration(delta: timedelta) -> str:
    """The inverse of :func:`parse_duration` for display: ``1h30m``, ``45s``, ``0s``."""
    seconds = round(delta.total_seconds())
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out += f"{seconds // size}{unit}"
            seconds %= size
    return sign + (out or "0s")


#: A duration written ``30s``/``5m``/``2h`` in YAML.
Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration)]
RuleId = Annotated[str, Field(pattern=f"^{_RULE.pattern}$", description="A rule id, e.g. lift.entrapment")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Publish(_Strict):
    topic: str = Field(min_length=1, description="MQTT topic, sent as written (it may be a bad one)")
    payload: dict[str, Any] | None = Field(None, description="A JSON object to send")
    raw: str | None = Field(None, description="Bytes to send as they are (UTF-8), e.g. broken JSON")
    retain: bool = Field(False, description="Publish retained")
    qos: Literal[0, 1, 2] = Field(1, description="MQTT QoS")

    @model_validator(mode="after")
    def _one_body(self) -> Publish:
        if (self.payload is None) == (self.raw is None):
            raise ValueError("give either payload (a mapping) or raw (a string)")
        return self

    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw.encode("utf-8")
        return json.dumps(self.payload, ensure_ascii=False).encode("utf-8")


class Step(_Strict):
    at: Duration = Field(description="When, from the scenario's start (simulated time)")
    fault: str | None = Field(None, description="Inject this fault of simulators.world.FAULTS")
    clear: str | None = Field(None, description="Clear this fault")
    device: IdStr | None = Field(None, description="The device of the fault (none: a whole estate's)")
    estate: IdStr | None = Field(None, description="Default: the inventory's first estate")
    params: dict[str, Any] = Field(default_factory=dict, description="The fault's parameters")
    publish: Publish | None = Field(None, description="Publish one message as it is")

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        actions = [name for name in ("fault", "clear", "publish") if getattr(self, name) is not None]
        if len(actions) != 1:
            raise ValueError("a step does exactly one of fault, clear or publish")
        if self.publish is not None and (self.device or self.estate or self.params):
            raise ValueError("a publish step names its device in its topic (no device, estate or params)")
        if self.clear is not None and self.params:
            raise ValueError("a clear step takes no params")
        return self

    @property
    def action(self) -> Literal["fault", "clear", "publish"]:
        return "fault" if self.fault is not None else "clear" if self.clear is not None else "publish"


class _Timed(_Strict):
    within: Duration = Field(description="Must hold at some point before start + within")
    after: Duration = Field(timedelta(0), description="… and not before start + after")

    @model_validator(mode="after")
    def _ordered(self) -> _Timed:
        if self.after > self.within:
            raise ValueError("after must not be later than within")
        return self


class AlertExpect(_Timed):
    rule: RuleId
    device: IdStr | None = Field(None, description="Omitted: any device; null: an estate-wide alert")
    estate: IdStr | None = None
    severity: Severity | None = None
    state: AlertState | None = None
    active: bool | None = Field(None, description="Condition still present (false: returned to normal)")

    @property
    def any_device(self) -> bool:
        return "device" not in self.model_fields_set


class NoAlert(_Strict):
    rule: RuleId | None = None
    any: bool = Field(False, description="No alert at all (of ``device``/``estate`` if given)")
    device: IdStr | None = None
    estate: IdStr | None = None
    until: Duration | None = Field(None, description="Only before start + until (e.g. an on-delay)")

    @model_validator(mode="after")
    def _rule_or_any(self) -> NoAlert:
        if (self.rule is None) == (not self.any):
            raise ValueError("name a rule, or say any: true")
        return self


def _no_alerts(value: object) -> object:
    """``no_alerts: {any: true}`` and ``no_alerts: [lift.offline, …]`` are shorthands."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [{"rule": item} if isinstance(item, str) else item for item in value]
    return value


class OrderExpect(_Timed):
    crew: IdStr | None = Field(description="The crew it is with (null: not assigned to any)")
    rule: RuleId | None = None
    device: IdStr | None = None
    estate: IdStr | None = None
    state: OrderState | None = None
    severity: Severity | None = None
    deadlines: dict[Clock, Duration | None] = Field(
        default_factory=dict,
        description="Each clock's due time after the alert was raised (or the order made); null: none",
    )


class PatrolExpect(_Timed):
    estate: IdStr | None = None
    plan: IdStr
    window: str = Field(min_length=1)
    number: int = Field(ge=1, description="1-based round of the window")
    status: RoundStatus


class DeadLetterExpect(_Strict):
    reason: str = Field(min_length=1, description="e.g. malformed_json, oversized; any: all reasons together")
    count: int = Field(ge=0, description="Exactly this many new dead letters of the reason")
    within: Duration | None = Field(None, description="Default: by the end of the run")


class Expectations(_Strict):
    alerts: list[AlertExpect] = Field(default_factory=list)
    no_alerts: Annotated[list[NoAlert], BeforeValidator(_no_alerts)] = Field(default_factory=list)
    workorders: list[OrderExpect] = Field(default_factory=list)
    patrols: list[PatrolExpect] = Field(default_factory=list)
    deadletters: list[DeadLetterExpect] = Field(default_factory=list)


class Scenario(_Strict):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field("", description="What happens and what the gateway must do")
    inventory: str = Field(description="Path relative to this file, or sample:spec_example / sample:sunrise")
    seed: int = Field(1, description="Seed of the simulated devices' values")
    speed: float = Field(gt=0, le=3600, description="Simulated seconds per wall second; the gateway's too")
    clock_start: AwareDatetime | None = Field(
        None, description="The gateway must have been started at this simulated time (ESTATE_CLOCK_START)"
    )
    clock_slack: Duration = Field(
        timedelta(minutes=15), description="How far past clock_start the gateway's clock may be"
    )
    duration: Duration | None = Field(None, description="Run at least this long (for no_alerts)")
    steps: list[Step] = Field(default_factory=list)
    expect: Expectations

    @model_validator(mode="after")
    def _something_to_check(self) -> Scenario:
        e = self.expect
        if not (e.alerts or e.no_alerts or e.workorders or e.patrols or e.deadletters):
            raise ValueError("expect nothing: a scenario must check something")
        timed = e.alerts or e.workorders or e.patrols or any(d.within for d in e.deadletters)
        if not (timed or self.duration):
            raise ValueError("a scenario with no expectation due by a time (within) needs a duration")
        return self

    def ordered_steps(self) -> list[Step]:
        """In time order; steps at the same time in the file's order."""
        return sorted(self.steps, key=lambda step: step.at)


@dataclass(frozen=True)
class LoadedScenario:
    path: Path
    scenario: Scenario
    inventory_path: Path
    inventory: Inventory

    def estate_of(self, estate: str | None) -> str:
        """``estate`` or the inventory's first estate."""
        return estate or self.inventory.estates[0].id


class ScenarioError(Exception):
    """The scenario cannot be run; ``issues`` are ``file:line: reason`` lines."""

    def __init__(self, issues: list[str]) -> None:
        super().__init__("\n".join(issues))
        self.issues = issues


def resolve_inventory(reference: str, base: Path) -> Path:
    if reference.startswith("sample:"):
        return SAMPLES_DIR / f"{reference.removeprefix('sample:')}.yaml"
    path = Path(reference)
    return path if path.is_absolute() else base / path


def load_scenario(path: str | Path) -> LoadedScenario:
    """The validated scenario and its inventory; raises :class:`ScenarioError` listing every issue."""
    path = Path(path)
    found: list[Inventory] = []

    def references(scenario: Scenario) -> list[RefIssue]:
        from simulators.scenario_refs import check_references  # noqa: PLC0415 - needs the inventory

        inventory_path = resolve_inventory(scenario.inventory, path.parent)
        try:
            inventory = load_inventory(inventory_path)
        except InventoryError as exc:
            first = exc.issues[0]
            more = f" (and {len(exc.issues) - 1} more)" if len(exc.issues) > 1 else ""
            return [RefIssue(("inventory",), f"the inventory does not load: {first}{more}")]
        found.append(inventory)
        return check_references(scenario, inventory)

    try:
        scenario = load_yaml_model(path, Scenario, [references])
    except InventoryError as exc:
        raise ScenarioError([str(issue) for issue in exc.issues]) from None
    return LoadedScenario(path, scenario, resolve_inventory(scenario.inventory, path.parent), found[0])


def library() -> list[Path]:
    """The packaged scenarios, by name."""
    return sorted(LIBRARY_DIR.glob("*.yaml"))
