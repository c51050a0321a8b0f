"""The alarm engine's shared state and helpers: rule indexes, the raise path, message rendering.

``AlarmEngine`` (alerts/engine.py) is built from this core and three parts, one module each:
offline detection and groups (alerts/offline.py), estate-wide checks — lamps, circuits,
compliance clocks (alerts/estate_checks.py) — and guard patrols (alerts/patrol_watch.py).
"""

from __future__ import annotations

import string
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta

from alerts.book import AlertBook, Raise
from alerts.code_words import code_words
from alerts.evaluate import RuleMemory, triggers
from alerts.model import alert_key
from alerts.patrol import PatrolTracker
from alerts.rules import (
    ComplianceRule,
    DeviceRule,
    FeedRule,
    GroupRule,
    RatioRule,
    Rule,
    RuleBase,
    StalenessRule,
    apply_overrides,
)
from alerts.staleness import DeadlineWheel
from alerts.timers import Timers
from alerts.topology import OUT_OF_SERVICE_RULE, STOPPING_FAULTS, Topology, stopped_by
from devices.base import FieldValue, Reading, Severity
from devices.clock import Clock
from devices.inventory import DeviceConfig, Inventory

ValuesLookup = Callable[[str, str], Mapping[str, FieldValue]]
#: Where an unusable patrol scan goes (estate, handset, why): the gateway's dead letters.
DeadLetterHook = Callable[[str, str, str], None]
#: Told of a reading the rules failed on (a bug, or a state they cannot handle): the reading and
#: the exception. The rest of the batch goes on (gateway: a dead letter ``rules_failed``).
RuleFailureHook = Callable[[Reading, Exception], None]
DevKey = tuple[str, str]
#: A device rule with the reading fields and event types that can move it (``evaluate.triggers``).
Triggered = tuple[DeviceRule, frozenset[str], frozenset[str]]
MemKey = tuple[str, str, str]
EventHook = Callable[[str, str, str, Mapping[str, FieldValue], datetime], None]
DAY_START, DAY_END = 6, 18  # local hours of daytime (the guard-tour plans' default day/night split)
MONITORED_SINCE = "monitored_since"  # compliance baseline for a device with no record yet
LAMP_OUT_RULE = "light.lamp_out"


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def render(template: str, **values: object) -> str:
    return string.Formatter().vformat(
        template, (), _Blank({k: str(v) for k, v in values.items() if v is not None})
    )


class EstateRules:
    """One estate's rules after its overrides, indexed the way the engine asks for them."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.by_id = {r.id: r for r in rules}
        self.device: dict[str, list[DeviceRule]] = defaultdict(list)
        self.staleness: dict[str, StalenessRule] = {}
        self.groups: dict[tuple[str, str], GroupRule] = {}
        self.ratios: list[RatioRule] = []
        self.compliance: dict[str, list[ComplianceRule]] = defaultdict(list)
        self.feed: FeedRule | None = None
        for rule in rules:
            kind = rule.kind.value if rule.kind else ""
            if isinstance(rule, StalenessRule):
                self.staleness[kind] = rule
            elif isinstance(rule, GroupRule):
                self.groups[(kind, rule.basis)] = rule
            elif isinstance(rule, RatioRule):
                self.ratios.append(rule)
            elif isinstance(rule, ComplianceRule):
                self.compliance[kind].append(rule)
            elif isinstance(rule, FeedRule):
                self.feed = rule
            else:
                self.device[kind].append(rule)
        #: Per kind, each device rule with what can trigger it: a reading skips the rest.
        self.triggered: dict[str, list[Triggered]] = {
            kind: [(rule, *triggers(rule)) for rule in group] for kind, group in self.device.items()
        }


class EngineCore:
    """State shared by the engine's parts; see the module docstring."""

    def __init__(
        self,
        inventory: Inventory,
        book: AlertBook,
        clock: Clock,
        rules: Sequence[Rule],
        values: ValuesLookup,
        compliance_every: timedelta = timedelta(hours=1),
        compliance_slice: int = 5_000,
        dead_letter: DeadLetterHook | None = None,
        rule_failed: RuleFailureHook | None = None,
    ) -> None:
        self.inventory, self.book, self.clock, self.values = inventory, book, clock, values
        self._rule_failed = rule_failed
        self.rules = {e.id: EstateRules(apply_overrides(rules, e.rules)) for e in inventory.estates}
        self.topology = Topology(inventory)
        #: One guard-tour tracker per estate with patrol plans (GA/T 644; docs/contract.md §6).
        self.patrols: dict[str, PatrolTracker] = {}
        self._patrols_dirty: set[str] = set()
        self._dead_letter = dead_letter
        self.wheel: DeadlineWheel[DevKey] = DeadlineWheel()
        self.offline: dict[DevKey, datetime] = {}
        #: Devices that went silent while their parent was down: the parent's outage explains
        #: them, so they never count towards a grouped alarm of that parent.
        self._explained: set[DevKey] = set()
        self._memory: dict[MemKey, RuleMemory] = {}
        self._timers: Timers[int, MemKey] = Timers()
        #: When each device last sent each event type (ns): for after_event rules and compliance.
        self._events: dict[DevKey, dict[str, int]] = defaultdict(dict)
        self._compliance_every = compliance_every
        #: An instant, in ns, and daytime at it per estate (AlarmEngine._when).
        self._instant: datetime | None = None
        self._instant_ns = 0
        self._daytime: dict[str, bool] = {}
        self._compliance_events = {
            r.event for rules in self.rules.values() for group in rules.compliance.values() for r in group
        }
        self._compliance_next: datetime | None = None
        #: Told of device events that are records of the equipment ledger (assets/desk.py), under
        #: the owner's thread: (estate, device, event, fields, now). Set with ``hook_events``.
        self._event_hook: EventHook | None = None
        self._hooked_events: frozenset[str] = frozenset()
        #: The compliance pass under way, a device a step (alerts/estate_checks.py), and how many
        #: devices a tick takes of it: all at once held one tick 1.25 s at 200k devices, and a
        #: device falling silent then was flagged that late.
        self._compliance_run: Iterator[None] | None = None
        self._compliance_now: datetime | None = None
        self.compliance_slice = compliance_slice
        #: The estate's feed (alerts/feed.py): when each estate was last heard from, how long a
        #: silence makes its timers wait (estates the feed rule can judge), until when they wait.
        self._heard: dict[str, datetime] = {}
        self._quiet_s: dict[str, float] = {}
        self._resumed: dict[str, datetime] = {}

    def _rule(self, estate: str, rule_id: str) -> Rule | None:
        rules = self.rules.get(estate)
        return rules.by_id.get(rule_id) if rules else None

    def rule(self, estate: str, rule_id: str) -> RuleBase | None:
        """The rule as it applies in ``estate`` (after the estate's overrides)."""
        return self._rule(estate, rule_id)

    def _stopping_fault(self, estate: str, device: str, but: str | None = None) -> str | None:
        """An active fault alarm of the lift that stops it (other than ``but``), or None."""
        for rule in sorted(STOPPING_FAULTS - {but}):
            alert = self.book.open_alert(alert_key(estate, device, rule))
            if alert is not None and alert.active:
                return rule
        return None

    def _raise(
        self,
        estate: str,
        config: DeviceConfig | None,
        rule: RuleBase,
        severity: Severity | None = None,
        **extra: object,
    ) -> None:
        """Raise ``rule`` on a device (or estate-wide with no config); ``extra`` fills the message
        (``value``: the device's latest values, by field name)."""
        device = config.id if config else None
        building = config.building if config else None
        location = config.location if config else None
        values = extra.pop("value", None)
        fields = {
            **(values if isinstance(values, Mapping) else {}),
            "device": device,
            "building": building,
            "location": location,
            "where": f"{location}（{device}）" if location else device,
            "where_en": f"{device} ({location})" if location else device,
            **extra,
        }
        zh, en = code_words(fields.get("code"))  # 困人, not entrapment (alerts/code_words.py)
        reason = self.topology.reason(estate, building, device, rule.id, self.clock.now())
        if reason is None and rule.id == OUT_OF_SERVICE_RULE and device is not None:
            fault = self._stopping_fault(estate, device)
            reason = stopped_by(device, fault) if fault else None
        kind = config.kind.value if config else (rule.kind.value if rule.kind else None)
        self.book.raise_(
            Raise(
                estate,
                building,
                device,
                kind,
                rule.id,
                severity or rule.severity,
                render(rule.message, **(fields | {"code": zh})),
                render(rule.message_en, **(fields | {"code": en})),
                rule.latch,
                reason,
            )
        )

    def _has_children(self, estate: str, device: str) -> bool:
        return bool(self.topology.children(estate, device))
