"""Pure evaluation of device rules: (rule, memory, reading, context) → (memory, outcome).

``RuleMemory`` is what a rule remembers about one device between readings (when a condition
started, recent event times, a flat-lined value). Nothing here reads a clock or does I/O; the
engine passes the time in and acts on the outcome (raise, clear, or check again at ``due_ns``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from alerts.rules import ConditionRule, CountRule, DeviceRule, EventRule, FlatlineRule, Predicate
from devices.base import FieldValue, Reading, Severity

NS = 1_000_000_000


class Verdict(StrEnum):
    RAISE = "raise"
    CLEAR = "clear"
    WAIT = "wait"  # nothing now; look again at due_ns (an on-delay or a window running)
    NONE = "none"


@dataclass(frozen=True, slots=True)
class RuleMemory:
    active: bool = False
    since_ns: int | None = None
    readings: int = 0
    events: tuple[int, ...] = ()
    flat_value: FieldValue | None = None
    code: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    severity: Severity | None = None
    due_ns: int | None = None
    code: str | None = None


NOTHING = Outcome(Verdict.NONE)
#: A rule that remembers nothing about a device (the memory of most devices for most rules).
EMPTY = RuleMemory()


@dataclass(frozen=True, slots=True)
class Context:
    """What a rule may look at besides the reading: the device's latest values and the time."""

    values: Mapping[str, FieldValue]
    now_ns: int
    daytime: bool
    #: When the device last sent each event type (ns).
    events: dict[str, int] = field(default_factory=dict)


def severity_for(rule: DeviceRule, values: Mapping[str, FieldValue]) -> Severity:
    if rule.severity_with_passenger is not None and values.get("passenger") is True:
        return rule.severity_with_passenger
    return rule.severity


# _all and _carries run for most readings: plain loops, a third cheaper than all()/any() over a
# generator (SIM110 would put the generators back).
def _all(predicates: tuple[Predicate, ...], values: Mapping[str, FieldValue]) -> bool:
    for p in predicates:  # noqa: SIM110
        if p.holds(values) is not True:
            return False
    return True


def _carries(predicates: tuple[Predicate, ...], reading: Reading) -> bool:
    """Whether the reading itself says something about these predicates' fields: a bare heartbeat,
    or a reading of other fields, neither confirms nor ends a condition."""
    fields = reading.fields
    for p in predicates:  # noqa: SIM110
        if p.field in fields:
            return True
    return False


@functools.cache  # rules are frozen (hashable by value): estates with the same rule share its sets
def triggers(rule: DeviceRule) -> tuple[frozenset[str], frozenset[str]]:
    """The reading fields and event types that can make :func:`evaluate` do anything for ``rule``.

    A reading that carries none of these fields and none of these events leaves the rule's memory
    as it is with the outcome NOTHING, whatever the memory and the context: the engine need not
    evaluate the rule for it (most readings touch one or two of a kind's rules).
    """
    if isinstance(rule, EventRule):
        latch = ("maintenance",) if rule.latch else ()
        fields = {p.field for p in (*rule.raise_when, *rule.clear_when)}
        return frozenset(fields), frozenset((*rule.events, *rule.clear_events, *latch))
    if isinstance(rule, ConditionRule):
        after = (rule.after_event,) if rule.after_event else ()
        return frozenset(p.field for p in (*rule.when, *rule.clear_when)), frozenset(after)
    if isinstance(rule, CountRule):
        return frozenset(), frozenset((rule.event, *rule.reset_events))
    return frozenset((rule.field,)), frozenset()


def evaluate(rule: DeviceRule, mem: RuleMemory, reading: Reading, ctx: Context) -> tuple[RuleMemory, Outcome]:
    if isinstance(rule, EventRule):
        return _event(rule, mem, reading, ctx)
    if isinstance(rule, ConditionRule):
        relevant = _carries(rule.when, reading) or _carries(rule.clear_when, reading)
        if (reading.event is None and relevant) or (rule.after_event and reading.event == rule.after_event):
            return _condition(rule, mem, ctx)
        return mem, NOTHING
    if isinstance(rule, CountRule):
        return _count(rule, mem, reading, ctx)
    return _flatline(rule, mem, reading, ctx)


def on_time(rule: DeviceRule, mem: RuleMemory, ctx: Context) -> tuple[RuleMemory, Outcome]:
    """A timer came due with no new reading: an on-delay may have run out, a window closed."""
    if isinstance(rule, ConditionRule) and not mem.active and mem.since_ns is not None:
        if not _holds(rule, ctx, unknown_holds=True):  # e.g. daytime ended, the event's window closed
            return EMPTY, NOTHING
        return _maybe_raise(rule, mem, ctx)
    if isinstance(rule, CountRule):
        return _count_window(rule, mem, ctx)
    if isinstance(rule, FlatlineRule) and not mem.active and mem.since_ns is not None:
        if ctx.now_ns - mem.since_ns >= rule.for_s * NS:
            return replace(mem, active=True), Outcome(Verdict.RAISE, rule.severity)
        return mem, Outcome(Verdict.WAIT, due_ns=mem.since_ns + int(rule.for_s * NS))
    return mem, NOTHING


def _event(rule: EventRule, mem: RuleMemory, reading: Reading, ctx: Context) -> tuple[RuleMemory, Outcome]:
    code = reading.fields.get("code")
    code = code if isinstance(code, str) else None
    if reading.event in rule.events and (rule.codes is None or code in rule.codes):
        return replace(mem, active=True, code=code), Outcome(
            Verdict.RAISE, severity_for(rule, ctx.values), code=code
        )
    if (
        reading.event is None
        and rule.raise_when
        and not mem.active
        and _carries(rule.raise_when, reading)
        and _all(rule.raise_when, ctx.values)
    ):
        return replace(mem, active=True), Outcome(Verdict.RAISE, severity_for(rule, ctx.values))
    if not mem.active:
        return mem, NOTHING
    if rule.latch:
        cleared = reading.event == "maintenance"
    elif reading.event is not None:
        # After a restart the memory knows the fault but not its code: any code of the rule clears it.
        same_code = code == mem.code or (mem.code is None and rule.codes is not None and code in rule.codes)
        cleared = reading.event in rule.clear_events and (rule.codes is None or same_code)
    else:  # telemetry clears only when it speaks of the cleared fields (not older stored values)
        cleared = (
            bool(rule.clear_when) and _carries(rule.clear_when, reading) and _all(rule.clear_when, ctx.values)
        )
    if cleared:
        return replace(mem, active=False, code=None), Outcome(Verdict.CLEAR)
    return mem, NOTHING


def _holds(rule: ConditionRule, ctx: Context, *, unknown_holds: bool = False) -> bool:
    """Whether the condition holds now. ``unknown_holds``: a field with no value yet (e.g. after a
    restart, before the device reports again) does not count against it — a timer only asks
    whether time itself (daytime, an event's window) has ended the condition."""
    if unknown_holds:
        values_ok = all(p.holds(ctx.values) is not False for p in rule.when)
    else:
        values_ok = _all(rule.when, ctx.values)
    holds = values_ok and (rule.daytime is None or rule.daytime == ctx.daytime)
    if rule.after_event is not None:
        last = ctx.events.get(rule.after_event)
        holds = holds and last is not None and ctx.now_ns - last <= rule.after_window_s * NS
    return holds


def _condition(rule: ConditionRule, mem: RuleMemory, ctx: Context) -> tuple[RuleMemory, Outcome]:
    if _holds(rule, ctx):
        mem = replace(
            mem, since_ns=mem.since_ns if mem.since_ns is not None else ctx.now_ns, readings=mem.readings + 1
        )
        return (mem, NOTHING) if mem.active else _maybe_raise(rule, mem, ctx)
    if not mem.active:
        return EMPTY, NOTHING  # a pending on-delay is dropped with its memory
    if rule.latch:
        return mem, NOTHING
    if not rule.clear_when or _all(rule.clear_when, ctx.values):
        return EMPTY, Outcome(Verdict.CLEAR)
    return mem, NOTHING  # between the raise and the clear level: hysteresis


def _maybe_raise(rule: ConditionRule, mem: RuleMemory, ctx: Context) -> tuple[RuleMemory, Outcome]:
    assert mem.since_ns is not None
    due = mem.since_ns + int(rule.for_s * NS)
    if ctx.now_ns >= due and mem.readings >= rule.min_readings:
        return replace(mem, active=True), Outcome(Verdict.RAISE, severity_for(rule, ctx.values))
    return mem, Outcome(Verdict.WAIT, due_ns=due if ctx.now_ns < due else None)


def _count(rule: CountRule, mem: RuleMemory, reading: Reading, ctx: Context) -> tuple[RuleMemory, Outcome]:
    if reading.event in rule.reset_events:
        return EMPTY, (Outcome(Verdict.CLEAR) if mem.active else NOTHING)
    if reading.event != rule.event:
        return mem, NOTHING
    if rule.window_s is None:
        return _consecutive(rule, mem)
    horizon = ctx.now_ns - int(rule.window_s * NS)
    # Keep at most `count` times: enough to decide, bounded memory under a burst.
    events = (*(t for t in mem.events if t > horizon), ctx.now_ns)[-rule.count :]
    mem = replace(mem, events=events)
    due = events[0] + int(rule.window_s * NS)
    if len(events) >= rule.count and not mem.active:
        return replace(mem, active=True), Outcome(Verdict.RAISE, rule.severity, due_ns=due)
    return mem, Outcome(Verdict.WAIT, due_ns=due)


def _consecutive(rule: CountRule, mem: RuleMemory) -> tuple[RuleMemory, Outcome]:
    """No time window: a counter, no event times kept and no timer (flat cost per reading)."""
    if mem.active:
        return mem, NOTHING
    if mem.readings + 1 >= rule.count:
        return RuleMemory(active=True), Outcome(Verdict.RAISE, rule.severity)
    return RuleMemory(readings=mem.readings + 1), NOTHING


def _count_window(rule: CountRule, mem: RuleMemory, ctx: Context) -> tuple[RuleMemory, Outcome]:
    if rule.window_s is None:  # no window to close
        return mem, NOTHING
    horizon = ctx.now_ns - int(rule.window_s * NS)
    events = tuple(t for t in mem.events if t > horizon)
    if mem.active and len(events) < rule.count:
        return RuleMemory(events=events), Outcome(Verdict.CLEAR)
    mem = replace(mem, events=events)
    return mem, Outcome(Verdict.WAIT, due_ns=events[0] + int(rule.window_s * NS)) if events else NOTHING


def _flatline(
    rule: FlatlineRule, mem: RuleMemory, reading: Reading, ctx: Context
) -> tuple[RuleMemory, Outcome]:
    value = reading.fields.get(rule.field)
    if value is None:
        return mem, NOTHING
    if value != mem.flat_value or mem.since_ns is None:
        fresh = RuleMemory(since_ns=ctx.now_ns, flat_value=value)
        return fresh, (
            Outcome(Verdict.CLEAR)
            if mem.active
            else Outcome(Verdict.WAIT, due_ns=ctx.now_ns + int(rule.for_s * NS))
        )
    if not mem.active and ctx.now_ns - mem.since_ns >= rule.for_s * NS:
        return replace(mem, active=True), Outcome(Verdict.RAISE, rule.severity)
    return mem, NOTHING
