"""Rules are data (docs/contract.md §5, docs/rules.md): one model per rule type, defaults in
``alerts.catalogue``, and per-estate overrides from the inventory (``estates[].rules: {rule_id:
{param: value}}``).

Device rules are evaluated per reading by ``alerts.evaluate`` (pure); staleness, group, ratio and
compliance rules need many devices or the passing of time and are run by the engine.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from devices.base import FieldValue, Kind, Severity
from devices.kinds.water_tank import Disinfectant

Op = Literal["<", "<=", ">", ">=", "==", "!=", "in"]


class Predicate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str = Field(description="A stored field of the reading's kind")
    op: Op
    value: FieldValue | tuple[FieldValue, ...] = Field(description="A tuple with op `in`")

    def holds(self, values: Mapping[str, FieldValue]) -> bool | None:
        """True/False, or None when the field is unknown (no reading of it yet)."""
        got = values.get(self.field)
        if got is None:
            return None
        try:
            return bool(_OPS[self.op](got, self.value))
        except TypeError:
            return False


_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "in": lambda a, b: a in b if isinstance(b, tuple) else a == b,
}


class RuleBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="Stable rule id, e.g. lift.entrapment; part of the alert key")
    kind: Kind | None = Field(description="Device kind the rule watches (None: estate-wide)")
    severity: Severity
    message: str = Field(description="zh-CN message; {device}, {code}, {value} are filled in")
    message_en: str = Field(description="English message")
    enabled: bool = True
    dispatch: bool = Field(False, description="Create a work order automatically (issue 5)")
    standard: str = Field(
        "",
        description="The standard or requirement the rule implements, as docs/rules.md shows it; "
        "'practice: …' where it is an industry habit rather than a written figure",
    )
    #: Severity when a passenger is in the car (lift rules, GB/T 24476: docs/rules.md §1).
    severity_with_passenger: Severity | None = None
    #: Latched: only a technician's ``maintenance`` event (or a person) clears it.
    latch: bool = False
    #: Raise this severity instead while any of these rules is active on the same device.
    escalate_with: tuple[str, ...] = ()
    escalated_severity: Severity | None = None
    #: Severity when the device's location names one of these (e.g. a stairwell lamp).
    location_keywords: tuple[str, ...] = ()
    location_severity: Severity | None = None
    #: Severity when other devices hang off this one (a lighting cabinet, not a lamp).
    parent_severity: Severity | None = None
    #: Only tanks disinfected so (the inventory's ``disinfectant``, chlorine when unset); None: any.
    disinfectant: Disinfectant | None = None


class EventRule(RuleBase):
    type: Literal["event"] = "event"
    events: tuple[str, ...] = Field(description="Event types that raise")
    codes: tuple[str, ...] | None = Field(None, description="Only these `code` values (lift faults)")
    raise_when: tuple[Predicate, ...] = Field((), description="Telemetry that raises it too (all hold)")
    clear_events: tuple[str, ...] = Field((), description="Event types that clear (same code if any)")
    clear_when: tuple[Predicate, ...] = Field((), description="Telemetry that also clears it (all hold)")


class ConditionRule(RuleBase):
    """Raise when all ``when`` predicates hold for ``for_s`` seconds (and ``min_readings`` readings);
    clear when all ``clear_when`` hold (default: when any ``when`` fails) — a separate clear level."""

    type: Literal["condition"] = "condition"
    when: tuple[Predicate, ...]
    clear_when: tuple[Predicate, ...] = ()
    for_s: float = Field(0.0, ge=0, description="On-delay")
    min_readings: int = Field(1, ge=1)
    daytime: bool | None = Field(None, description="Only in local daytime (True) or night (False)")
    after_event: str | None = Field(None, description="Only within after_window_s of this event")
    after_window_s: float = Field(600.0, gt=0)


class CountRule(RuleBase):
    """Raise at ``count`` events within ``window_s`` (``reset_events`` start the count again);
    clears once the window holds fewer than ``count``. Without a window (``window_s`` None) the
    events must be consecutive: ``count`` of them with no reset event in between, however far
    apart (GB 50396's denied cards); only a reset event clears it then."""

    type: Literal["count"] = "count"
    event: str
    count: int = Field(ge=1)
    window_s: float | None = Field(
        None, gt=0, description="Time window, s; None: consecutive events, no time limit"
    )
    reset_events: tuple[str, ...] = ()


class FlatlineRule(RuleBase):
    """An analyser whose value has not changed for ``for_s`` is not to be trusted."""

    type: Literal["flatline"] = "flatline"
    field: str
    for_s: float = Field(gt=0)


class StalenessRule(RuleBase):
    """Silent for ``multiplier`` × the device's heartbeat → offline."""

    type: Literal["staleness"] = "staleness"
    multiplier: float = Field(3.0, gt=0)
    key_severity: Severity | None = Field(None, description="Severity for key devices (`key: true`)")


class GroupRule(RuleBase):
    """Many children of one parent offline within ``window_s`` → one alert on the parent, the
    children's alerts suppressed."""

    type: Literal["group"] = "group"
    basis: Literal["offline", "failed"] = Field("offline", description="Children offline, or lamps failed")
    min_children: int = Field(5, ge=1)
    min_share: float = Field(0.2, gt=0, le=1)
    window_s: float = Field(300.0, gt=0)


class RatioRule(RuleBase):
    """Estate-wide share of devices of ``kind`` whose ``field`` is ``ok_value`` (完好率)."""

    type: Literal["ratio"] = "ratio"
    field: str
    ok_value: FieldValue = True
    min_ratio: float = Field(gt=0, le=1)
    clear_ratio: float | None = Field(None, gt=0, le=1)


class ComplianceRule(RuleBase):
    """Too long since the device last sent ``event`` (maintenance, cleaning)."""

    type: Literal["compliance"] = "compliance"
    event: str
    max_age_days: float = Field(gt=0)


class FeedRule(RuleBase):
    """The whole estate silent: its uplink, the broker or the gateway's intake stopped, not every
    device at once. After ``quiet_s`` without a message from any of its devices (longer if its
    devices' heartbeats add up to fewer than ``min_expected`` messages in that time) the estate's
    timers wait — offline deadlines, on-delays, patrol rounds — for the messages that were held up;
    after ``for_s`` one estate-wide alert is raised and the device alerts that time then brings are
    suppressed under it, not one offline alarm per device. An estate whose heartbeats add up to
    fewer than ``min_expected`` in ``for_s`` is too small to tell: the rule leaves it alone."""

    type: Literal["feed"] = "feed"
    quiet_s: float = Field(20.0, gt=0, description="Silence after which the estate's timers wait")
    min_expected: float = Field(10.0, gt=0, description="Heartbeats expected in the silence, at least")
    for_s: float = Field(180.0, gt=0, description="Silence that raises the alert")


Rule = Annotated[
    EventRule
    | ConditionRule
    | CountRule
    | FlatlineRule
    | StalenessRule
    | GroupRule
    | RatioRule
    | ComplianceRule
    | FeedRule,
    Field(discriminator="type"),
]
DeviceRule = EventRule | ConditionRule | CountRule | FlatlineRule
DEVICE_RULE_TYPES = (EventRule, ConditionRule, CountRule, FlatlineRule)
_RULE: TypeAdapter[Rule] = TypeAdapter(Rule)


class RuleOverrideError(ValueError):
    pass


def _changed(rule: dict[str, Any], change: Mapping[str, object]) -> dict[str, Any]:
    """The rule with each setting replaced; a dotted name reaches inside, e.g. ``when.0.value``
    (the first predicate's threshold), so inventory overrides stay plain scalars."""
    for name, value in change.items():
        *path, last = name.split(".")
        try:
            target: Any = rule
            for part in path:
                target = target[int(part)] if isinstance(target, list | tuple) else target[part]
            if not isinstance(target, dict) or (path and last not in target):
                raise LookupError(name)
            target[last] = value
        except (LookupError, ValueError, TypeError):
            raise LookupError(repr(name)) from None
    return rule


def override_issues(
    rules: Sequence[Rule], estates: Sequence[tuple[str, Mapping[str, Mapping[str, object]]]]
) -> list[tuple[tuple[str | int, ...], str]]:
    """Problems with each estate's ``rules`` overrides, as (inventory path, message)."""
    issues: list[tuple[tuple[str | int, ...], str]] = []
    for index, (_estate, overrides) in enumerate(estates):
        for rule_id, change in overrides.items():
            try:
                apply_overrides(rules, {rule_id: change})
            except RuleOverrideError as exc:
                issues.append((("estates", index, "rules", rule_id), str(exc)))
    return issues


def apply_overrides(rules: Sequence[Rule], overrides: Mapping[str, Mapping[str, object]]) -> list[Rule]:
    """The rules with an estate's overrides applied; unknown rules or bad values are errors."""
    by_id = {r.id: r for r in rules}
    unknown = sorted(set(overrides) - set(by_id))
    if unknown:
        raise RuleOverrideError(f"unknown rule(s): {', '.join(unknown)}")
    out: list[Rule] = []
    for rule in rules:
        change = overrides.get(rule.id)
        if not change:
            out.append(rule)
            continue
        try:
            out.append(_RULE.validate_python(_changed(rule.model_dump(), change)))
        except (ValidationError, LookupError) as exc:
            detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else f"no setting {exc}"
            raise RuleOverrideError(f"rule {rule.id}: {detail}") from None
    return [r for r in out if r.enabled]
