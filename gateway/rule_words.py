"""An alarm rule in words, for people: what raises it, what clears it, the severities it can take
and the default deadlines of its work orders — read from the rule itself, so the words follow the
code (docs/rules.md is written with them: ``gateway.rules_doc``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from alerts.engine_core import DAY_END, DAY_START
from alerts.rules import (
    ComplianceRule,
    ConditionRule,
    CountRule,
    EventRule,
    FeedRule,
    FlatlineRule,
    GroupRule,
    Predicate,
    RatioRule,
    Rule,
    RuleBase,
    StalenessRule,
)
from devices.base import FieldValue, Kind, Severity
from devices.inventory import DurationUnit, SlaDuration
from devices.registry import spec
from dispatch.deadlines import DEFAULT_POLICIES, select_clocks
from dispatch.model import Step
from dispatch.routing import trade_for

_STEP_NAMES = {Step.ACCEPT: "accept", Step.ARRIVE: "arrive", Step.RESOLVE: "resolve"}
_UNITS = {
    DurationUnit.MINUTES: "min",
    DurationUnit.HOURS: "h",
    DurationUnit.DAYS: "days",
    DurationUnit.WORKING_DAYS: "working days",
}


def seconds(value: float) -> str:
    """30 → "30 s", 900 → "15 min", 14400 → "4 h", 86400 → "24 h"."""
    if value >= 3600 and value % 3600 == 0:
        return f"{value / 3600:g} h"
    if value >= 60 and value % 60 == 0:
        return f"{value / 60:g} min"
    return f"{value:g} s"


def _value(value: FieldValue | tuple[FieldValue, ...]) -> str:
    if isinstance(value, tuple):
        return ", ".join(_value(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return f"{value:g}" if isinstance(value, float) else str(value)


def _predicates(predicates: Sequence[Predicate]) -> str:
    ops = {"==": "=", "!=": "≠", "<=": "≤", ">=": "≥", "in": "in"}
    return " and ".join(f"`{p.field}` {ops.get(p.op, p.op)} {_value(p.value)}" for p in predicates)


def _events(events: Sequence[str]) -> str:
    return " or ".join(f"`{e}`" for e in events)


def _event_rule(rule: EventRule) -> tuple[str, str]:
    raised = f"event {_events(rule.events)}"
    if rule.codes:
        raised += " with `code` " + " or ".join(f"`{c}`" for c in rule.codes)
    if rule.raise_when:
        raised += f"; or telemetry {_predicates(rule.raise_when)}"
    clears = []
    if rule.clear_events:
        clears.append(f"event {_events(rule.clear_events)}" + (" (same code)" if rule.codes else ""))
    if rule.clear_when:
        clears.append(f"telemetry {_predicates(rule.clear_when)}")
    if rule.latch:  # only the device's maintenance event clears it; a kind without one: a person
        has_maintenance = rule.kind is not None and "maintenance" in spec(rule.kind).events
        clears = ["latched: the terminal's `maintenance` event" if has_maintenance else "latched: a person"]
    return raised, " or ".join(clears) or "by a person (no clearing message)"


def _condition_rule(rule: ConditionRule) -> tuple[str, str]:
    raised = f"telemetry {_predicates(rule.when)}"
    if rule.for_s:
        raised += f" for {seconds(rule.for_s)} (on-delay)"
    if rule.min_readings > 1:
        raised += f" ({rule.min_readings} readings at least)"
    if rule.daytime is not None:
        hours = f"{DAY_START:02}:00–{DAY_END:02}:00"
        raised += f", in local daytime ({hours})" if rule.daytime else f", at local night (outside {hours})"
    if rule.after_event:
        raised += f", within {seconds(rule.after_window_s)} of event `{rule.after_event}`"
    clears = f"telemetry {_predicates(rule.clear_when)}" if rule.clear_when else "when a condition fails"
    return raised, clears


def _count_rule(rule: CountRule) -> tuple[str, str]:
    reset = f" (`{'`, `'.join(rule.reset_events)}` starts again)" if rule.reset_events else ""
    if rule.window_s is None:
        resets = "`, `".join(rule.reset_events)
        return (
            f"{rule.count} consecutive events `{rule.event}`, no time window{reset}",
            f"event `{resets}`" if rule.reset_events else "by an operator",
        )
    return (
        f"{rule.count} events `{rule.event}` within {seconds(rule.window_s)}{reset}",
        f"when the window holds fewer than {rule.count}",
    )


def _flatline_rule(rule: FlatlineRule) -> tuple[str, str]:
    return f"`{rule.field}` unchanged for {seconds(rule.for_s)}", "when the value changes"


def _group_rule(rule: GroupRule) -> tuple[str, str]:
    what = "offline" if rule.basis == "offline" else "failed (`lamp_ok` = false)"
    return (
        f"≥ {rule.min_children} and ≥ {rule.min_share:.0%} of one parent's children {what} "
        f"within {seconds(rule.window_s)}; one alert on the parent, the children's suppressed",
        "when fewer remain",
    )


def _ratio_rule(rule: RatioRule) -> tuple[str, str]:
    clear = rule.clear_ratio if rule.clear_ratio is not None else rule.min_ratio
    return (
        f"share of the estate's `{rule.kind}` devices with `{rule.field}` = "
        f"{_value(rule.ok_value)} below {rule.min_ratio:.0%}",
        f"at {clear:.0%} or more",
    )


def _compliance_rule(rule: ComplianceRule) -> tuple[str, str]:
    return (
        f"no event `{rule.event}` (or a crew's ledger record of it) for more than {rule.max_age_days:g} days",
        f"event `{rule.event}` or the record",
    )


def _staleness(rule: StalenessRule) -> tuple[str, str]:
    assert rule.kind is not None
    beat = spec(rule.kind).default_heartbeat_s
    default = f", default heartbeat {seconds(beat)}" if beat else ""
    return f"silent for {rule.multiplier:g} × the device's heartbeat (`heartbeat_s`{default})", "any message"


def _feed(rule: FeedRule) -> tuple[str, str]:
    return (
        f"no message from any device of the estate for {seconds(rule.for_s)} (the estate's timers "
        f"wait after {seconds(rule.quiet_s)}; estates expecting fewer than {rule.min_expected:g} "
        "heartbeats in that time are left to their devices)",
        "the estate's next message",
    )


#: How each rule type says what raises it and what clears it.
_DESCRIBE: dict[type[RuleBase], Callable[[Any], tuple[str, str]]] = {
    EventRule: _event_rule,
    ConditionRule: _condition_rule,
    CountRule: _count_rule,
    FlatlineRule: _flatline_rule,
    StalenessRule: _staleness,
    GroupRule: _group_rule,
    RatioRule: _ratio_rule,
    ComplianceRule: _compliance_rule,
    FeedRule: _feed,
}


def condition(rule: Rule) -> tuple[str, str]:
    """What raises the rule and what clears it, in words."""
    raised, clears = _DESCRIBE[type(rule)](rule)
    if rule.disinfectant is not None:
        default = " (the default)" if rule.disinfectant == "chlorine" else ""
        raised += f"; only tanks whose inventory `disinfectant` is `{rule.disinfectant}`{default}"
    return raised, clears


def severities(rule: RuleBase) -> list[tuple[Severity, str]]:
    """The severities the rule can raise, each with when."""
    out = [(rule.severity, "")]
    variants: list[tuple[Severity | None, str]] = [
        (rule.severity_with_passenger, "with a passenger in the car"),
        (
            rule.escalated_severity,
            "while " + " or ".join(f"`{r}`" for r in rule.escalate_with) + " is active",
        ),
        (rule.location_severity, "where the location names " + " or ".join(rule.location_keywords)),
        (rule.parent_severity, "on a device other devices hang off (a cabinet, a circuit)"),
    ]
    if isinstance(rule, StalenessRule):
        variants.append((rule.key_severity, "for key devices (`key: true`)"))
    out += [(severity, when) for severity, when in variants if severity is not None]
    return out


def duration(value: SlaDuration) -> str:
    amount, unit = value
    return f"{amount} {_UNITS[unit]}"


def sla(rule_id: str, kind: Kind | None, severity: Severity) -> str:
    """The default clocks of a work order from this rule at this severity (no inventory policies)."""
    clocks = select_clocks(
        (), rule=rule_id, trade=trade_for(kind, rule_id), severity=severity, defaults=DEFAULT_POLICIES
    )
    parts = [f"{_STEP_NAMES[step]} {duration(clocks[step].duration)}" for step in Step if step in clocks]
    policies = sorted({clock.policy for clock in clocks.values()})
    return " · ".join(parts) + " (`" + "`, `".join(policies) + "`)"
