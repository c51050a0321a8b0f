"""``evaluate.triggers``: the engine skips a rule for a reading that carries none of the rule's
trigger fields and events, so such a reading must leave every rule exactly as it was — whatever
the rule remembers and whatever the context says."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.catalogue import DEFAULT_RULES
from alerts.evaluate import NOTHING, Context, RuleMemory, evaluate, triggers
from alerts.rules import DEVICE_RULE_TYPES, ConditionRule, DeviceRule, EventRule, FlatlineRule, Predicate
from devices.base import Channel, FieldValue, Kind, Reading, Severity

#: The catalogue's, and one whose clear level watches another field (an inventory may say so).
DEVICE_RULES: list[DeviceRule] = [r for r in DEFAULT_RULES if isinstance(r, DEVICE_RULE_TYPES)] + [
    ConditionRule(
        id="test.split_levels",
        kind=Kind.WATER_TANK,
        severity=Severity.MINOR,
        message="",
        message_en="",
        when=(Predicate(field="level_pct", op=">", value=90),),
        clear_when=(Predicate(field="pressure_mpa", op="<", value=0.5),),
    )
]


def _names(rule: DeviceRule) -> tuple[set[str], set[str]]:
    """Every field and event a rule's settings mention (a superset of its triggers)."""
    fields: set[str] = set()
    events: set[str] = {"maintenance"}
    if isinstance(rule, EventRule):
        fields |= {p.field for p in (*rule.raise_when, *rule.clear_when)}
        events |= {*rule.events, *rule.clear_events}
    elif isinstance(rule, ConditionRule):
        fields |= {p.field for p in (*rule.when, *rule.clear_when)}
        events |= {rule.after_event} if rule.after_event else set()
    elif isinstance(rule, FlatlineRule):
        fields.add(rule.field)
    else:
        events |= {rule.event, *rule.reset_events}
    return fields, events


FIELDS = sorted({f for r in DEVICE_RULES for f in _names(r)[0]} | {"code", "other"})
EVENTS = sorted({e for r in DEVICE_RULES for e in _names(r)[1]} | {"other_event"})
#: Values that the rules compare with, so that predicates hold as often as not.
WORDS = sorted(
    {str(p.value) for r in DEVICE_RULES for p in getattr(r, "when", ()) + getattr(r, "clear_when", ())}
)
VALUES: st.SearchStrategy[FieldValue] = st.one_of(
    st.booleans(), st.integers(-5, 100), st.floats(-5, 100, allow_nan=False), st.sampled_from([*WORDS, "A1"])
)
MEMORY = st.builds(
    RuleMemory,
    active=st.booleans(),
    since_ns=st.none() | st.integers(0, 10**12),
    readings=st.integers(0, 5),
    events=st.lists(st.integers(0, 10**12), max_size=4).map(tuple),
    flat_value=st.none() | VALUES,
    code=st.none() | st.sampled_from(["A1", "E5"]),
)


@settings(max_examples=2_000, deadline=None)
@given(rule=st.sampled_from(DEVICE_RULES), memory=MEMORY, data=st.data())
def test_a_reading_without_the_rules_triggers_leaves_it_as_it_was(
    rule: DeviceRule, memory: RuleMemory, data: st.DataObject
) -> None:
    # Half the names drawn are the rule's own, so that a trigger left out is found.
    own_fields, own_events = (sorted(names) for names in _names(rule))
    field = st.sampled_from(own_fields or FIELDS) | st.sampled_from(FIELDS)
    event_name = st.sampled_from(own_events) | st.sampled_from(EVENTS)
    fields = data.draw(st.dictionaries(field, VALUES, max_size=5))
    event = data.draw(st.none() | event_name)
    values = data.draw(st.dictionaries(field, VALUES, max_size=6))
    now_ns = data.draw(st.integers(0, 2 * 10**12))
    last_events = data.draw(st.dictionaries(event_name, st.integers(0, 2 * 10**12), max_size=3))
    on_fields, on_events = triggers(rule)
    fields = {k: v for k, v in fields.items() if k not in on_fields}
    if event in on_events:
        event = None
    if event is not None:
        fields["event"] = event
    reading = Reading("e1", rule.kind or Kind.LIFT, "D1", Channel.TELEMETRY, "", now_ns, fields, event)
    ctx = Context({**values, **fields}, now_ns, data.draw(st.booleans()), last_events)
    after, outcome = evaluate(rule, memory, reading, ctx)
    assert after is memory
    assert outcome == NOTHING


def test_triggers_name_what_each_kind_of_rule_listens_to() -> None:
    by_id = {r.id: r for r in DEVICE_RULES}
    entrapment = by_id["lift.entrapment"]
    assert isinstance(entrapment, EventRule)
    assert set(entrapment.events) <= triggers(entrapment)[1]
    conditions = [r for r in DEVICE_RULES if isinstance(r, ConditionRule)]
    assert conditions
    for rule in conditions:
        assert {p.field for p in rule.when} <= triggers(rule)[0]
