"""The alarm engine: readings and the passing of time → alert transitions.

``consume`` runs the device rules of each reading (pure evaluation in ``alerts.evaluate``) and
keeps every device's offline deadline in a timing wheel; ``tick`` (once a second) applies what
time made due: silent devices, on-delays, windows, maintenance windows, compliance, escalation.
Both hold the book's lock and end with one ``flush``: one transaction and the notifications.
"""

from __future__ import annotations

import heapq
import string
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from alerts.book import RANK, AlertBook, Raise
from alerts.evaluate import Context, Outcome, RuleMemory, Verdict, evaluate, on_time
from alerts.model import alert_key
from alerts.patrol import PatrolSignal, PatrolTracker
from alerts.patrol_plan import PatrolRule
from alerts.rules import (
    DEVICE_RULE_TYPES,
    ComplianceRule,
    ConditionRule,
    DeviceRule,
    GroupRule,
    RatioRule,
    Rule,
    RuleBase,
    StalenessRule,
    apply_overrides,
)
from alerts.staleness import DeadlineWheel
from alerts.store import MaintenanceWindow
from alerts.topology import POWER_LOSS_RULE, SPECIAL_MODE_RULE, Topology, offline_rule
from devices.base import Channel, FieldValue, Reading, Severity
from devices.clock import Clock, from_ns, to_ns
from devices.inventory import DeviceConfig, Estate, Inventory

ValuesLookup = Callable[[str, str], Mapping[str, FieldValue]]
#: Where an unusable patrol scan goes (estate, handset, why): the gateway's dead letters.
DeadLetterHook = Callable[[str, str, str], None]
DevKey = tuple[str, str]
MemKey = tuple[str, str, str]
DAY_START, DAY_END = 6, 18  # local hours of daytime (STANDARDS.md §6 split)
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
            else:
                self.device[kind].append(rule)


class AlarmEngine:
    def __init__(
        self,
        inventory: Inventory,
        book: AlertBook,
        clock: Clock,
        rules: Sequence[Rule],
        values: ValuesLookup,
        compliance_every: timedelta = timedelta(hours=1),
        dead_letter: DeadLetterHook | None = None,
    ) -> None:
        self.inventory, self.book, self.clock, self.values = inventory, book, clock, values
        self.rules = {e.id: EstateRules(apply_overrides(rules, e.rules)) for e in inventory.estates}
        self.topology = Topology(inventory)
        #: One guard-tour tracker per estate with patrol plans (STANDARDS.md §6).
        self.patrols: dict[str, PatrolTracker] = {}
        self._patrols_dirty: set[str] = set()
        self._dead_letter = dead_letter
        self.wheel: DeadlineWheel[DevKey] = DeadlineWheel()
        self.offline: dict[DevKey, datetime] = {}
        #: Devices that went silent while their parent was down: the parent's outage explains
        #: them, so they never count towards a grouped alarm of that parent.
        self._explained: set[DevKey] = set()
        self._memory: dict[MemKey, RuleMemory] = {}
        self._timers: list[tuple[int, int, MemKey]] = []
        self._seq = 0
        #: When each device last sent each event type (ns): for after_event rules and compliance.
        self._events: dict[DevKey, dict[str, int]] = defaultdict(dict)
        self._compliance_every = compliance_every
        self._compliance_events = {
            r.event for rules in self.rules.values() for group in rules.compliance.values() for r in group
        }
        self._compliance_next: datetime | None = None

    # -- start ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Load open alerts and pending on-delays; every device gets a fresh offline deadline."""
        with self.book.lock:
            now = self.clock.now()
            self.book.load()
            self.topology.windows = self.book.store.windows(now)
            for key, (since_ns, readings) in self.book.store.pending().items():
                estate_id, device, rule = key.split("/", 2)
                self._memory[(estate_id, device, rule)] = RuleMemory(since_ns=since_ns, readings=readings)
                self._arm(rule_due(self._rule(estate_id, rule), since_ns), (estate_id, device, rule))
            for alert in self.book.open_alerts():
                self._restore(alert.estate, alert.device, alert.rule, alert.active)
            self._load_facts(now)
            self._start_patrols(now)
            for estate in self.inventory.estates:
                for config in estate.devices:
                    self._arm_staleness(estate.id, config, now)
            self._compliance_next = now

    def _start_patrols(self, now: datetime) -> None:
        stored = self.book.store.patrol_snapshots()
        for estate in self.inventory.estates:
            if estate.patrols:
                tracker = PatrolTracker.for_estate(estate, since=now)
                if estate.id in stored:
                    tracker.restore(stored[estate.id])  # a round under way goes on being judged
                self.patrols[estate.id] = tracker

    def _patrol(self, estate: str, signals: Sequence[PatrolSignal]) -> None:
        self._patrols_dirty.add(estate)
        for signal in signals:
            if signal.rule is PatrolRule.UNKNOWN:
                if self._dead_letter is not None:
                    self._dead_letter(estate, signal.handset or "", signal.message_en)
                continue
            device = signal.handset if signal.round_id is None else None
            subject = (
                None
                if device
                else f"{signal.round_id}" + (f"/{signal.checkpoint}" if signal.checkpoint else "")
            )
            if signal.clear:
                self.book.clear(alert_key(estate, device, signal.rule.value, subject), note=signal.message)
                continue
            self.book.raise_(
                Raise(
                    estate,
                    signal.building,
                    device,
                    "patrol",
                    signal.rule.value,
                    signal.severity,
                    signal.message,
                    signal.message_en,
                    subject=subject,
                )
            )

    def _save_patrols(self) -> None:
        if self._patrols_dirty:
            self.book.store.save_patrols({e: self.patrols[e].snapshot() for e in self._patrols_dirty})
            self._patrols_dirty.clear()

    def _load_facts(self, now: datetime) -> None:
        """Compliance clocks survive restarts; a device never heard of is watched from now on."""
        for estate_id, device, name, at_ns in self.book.store.facts():
            self._events[(estate_id, device)][name] = at_ns
        baseline = []
        for estate in self.inventory.estates:
            for config in estate.devices:
                if self.rules[estate.id].compliance.get(config.kind.value):
                    known = self._events[(estate.id, config.id)]
                    if MONITORED_SINCE not in known:
                        known[MONITORED_SINCE] = to_ns(now)
                        baseline.append((estate.id, config.id, MONITORED_SINCE, to_ns(now)))
        self.book.store.set_facts(baseline)

    def _restore(self, estate: str, device: str | None, rule: str, active: bool) -> None:
        if device is None or not active:
            return
        if rule == LAMP_OUT_RULE:
            self.topology.failed_lamps[estate].add(device)
        self._memory[(estate, device, rule)] = RuleMemory(active=True)
        config = self.inventory.device(estate, device)
        if config is not None and rule == offline_rule(config.kind.value):
            self.offline[(estate, device)] = self.clock.now()
            self.topology.down[estate].add(device)
        if rule == SPECIAL_MODE_RULE:
            self.topology.special[estate].add(device)

    def _rule(self, estate: str, rule_id: str) -> Rule | None:
        rules = self.rules.get(estate)
        return rules.by_id.get(rule_id) if rules else None

    # -- readings -------------------------------------------------------------------------------
    def consume(self, readings: Sequence[Reading]) -> None:
        with self.book.lock:
            now = self.clock.now()
            for reading in readings:
                estate = self.inventory.estate(reading.estate)
                config = estate.device(reading.device) if estate else None
                if estate is not None and config is not None:  # unregistered devices raise nothing
                    self._handle(estate, config, reading, now)
            self._save_patrols()
        self.book.flush()

    def _handle(self, estate: Estate, config: DeviceConfig, reading: Reading, now: datetime) -> None:
        if reading.channel is Channel.STATUS and reading.fields.get("status") == "offline":
            self._go_offline(estate.id, config, now, "said offline (last will)")
        else:
            self._alive(estate.id, config, now)
        if reading.event is not None:
            self._events[(estate.id, config.id)][reading.event] = to_ns(now)
            if reading.event in self._compliance_events:
                self.book.store.set_facts([(estate.id, config.id, reading.event, to_ns(now))])
        ctx = self._context(estate, config.id, now)
        for rule in self.rules[estate.id].device.get(config.kind.value, ()):
            self._apply(estate.id, config, rule, reading, ctx)
        if config.kind.value == "light" and config.parent:
            self._lamp(estate.id, config, reading, now)
        tracker = self.patrols.get(estate.id)
        if tracker is not None and config.kind.value == "patrol" and reading.event is not None:
            self._patrol(estate.id, tracker.on_reading(reading))

    def _context(self, estate: Estate, device: str, now: datetime) -> Context:
        hour = now.astimezone(estate.tz).hour
        values = dict(self.values(estate.id, device))
        return Context(
            values, to_ns(now), DAY_START <= hour < DAY_END, dict(self._events.get((estate.id, device), {}))
        )

    def _apply(
        self, estate: str, config: DeviceConfig, rule: DeviceRule, reading: Reading | None, ctx: Context
    ) -> None:
        key = (estate, config.id, rule.id)
        before = self._memory.get(key, RuleMemory())
        after, outcome = evaluate(rule, before, reading, ctx) if reading else on_time(rule, before, ctx)
        if after == RuleMemory():
            self._memory.pop(key, None)
        else:
            self._memory[key] = after
        if isinstance(rule, ConditionRule):
            self._persist_pending(key, before, after)
        self._act(estate, config, rule, outcome, ctx)

    def _persist_pending(self, key: MemKey, before: RuleMemory, after: RuleMemory) -> None:
        pending = after.since_ns is not None and not after.active
        if pending and (after.since_ns, after.readings) != (before.since_ns, before.readings):
            self.book.pending["/".join(key)] = (after.since_ns or 0, after.readings)
        elif not pending and before.since_ns is not None and not before.active:
            self.book.pending["/".join(key)] = None

    def _act(
        self, estate: str, config: DeviceConfig, rule: DeviceRule, outcome: Outcome, ctx: Context
    ) -> None:
        if outcome.due_ns is not None:
            self._arm(outcome.due_ns, (estate, config.id, rule.id))
        key = alert_key(estate, config.id, rule.id)
        if outcome.verdict is Verdict.RAISE:
            severity = self._severity(estate, config, rule, outcome.severity or rule.severity)
            self._raise(estate, config, rule, severity, code=outcome.code, value=ctx.values)
            self._worsen_dependents(estate, config, rule.id)
            if rule.id == SPECIAL_MODE_RULE:
                self.topology.special[estate].add(config.id)
            if rule.id == POWER_LOSS_RULE:
                self.topology.power_loss_at[(estate, config.building or "")] = self.clock.now()
        elif outcome.verdict is Verdict.CLEAR:
            self.book.clear(key)
            if rule.id == SPECIAL_MODE_RULE:
                self.topology.special[estate].discard(config.id)

    def _worsen_dependents(self, estate: str, config: DeviceConfig, raised: str) -> None:
        """An alert already active whose rule escalates with the one just raised gets worse now."""
        for rule in self.rules[estate].device.get(config.kind.value, ()):
            if raised in rule.escalate_with and rule.escalated_severity is not None:
                self.book.upgrade(
                    alert_key(estate, config.id, rule.id), rule.escalated_severity, f"with {raised}"
                )

    def _severity(self, estate: str, config: DeviceConfig, rule: DeviceRule, base: Severity) -> Severity:
        candidates = [base]
        if rule.parent_severity is not None and self._has_children(estate, config.id):
            candidates.append(rule.parent_severity)
        location = config.location or ""
        if rule.location_severity is not None and any(k in location for k in rule.location_keywords):
            candidates.append(rule.location_severity)
        base = max(candidates, key=RANK.__getitem__)
        for other in rule.escalate_with:
            alert = self.book.open_alert(alert_key(estate, config.id, other))
            if alert is not None and alert.active and rule.escalated_severity is not None:
                return rule.escalated_severity
        return base

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
        reason = self.topology.reason(estate, building, device, rule.id, self.clock.now())
        kind = config.kind.value if config else (rule.kind.value if rule.kind else None)
        self.book.raise_(
            Raise(
                estate,
                building,
                device,
                kind,
                rule.id,
                severity or rule.severity,
                render(rule.message, **fields),
                render(rule.message_en, **fields),
                rule.latch,
                reason,
            )
        )

    def _arm(self, due_ns: int | None, key: MemKey) -> None:
        if due_ns is not None:
            self._seq += 1
            heapq.heappush(self._timers, (due_ns, self._seq, key))

    # -- life and death ----------------------------------------------------------------------
    def _arm_staleness(self, estate: str, config: DeviceConfig, now: datetime) -> None:
        rule = self.rules[estate].staleness.get(config.kind.value)
        heartbeat = config.effective_heartbeat_s()
        if rule is not None and heartbeat is not None:
            self.wheel.touch((estate, config.id), now.timestamp() + rule.multiplier * heartbeat)

    def _alive(self, estate: str, config: DeviceConfig, now: datetime) -> None:
        self._arm_staleness(estate, config, now)
        if self.offline.pop((estate, config.id), None) is None:
            return
        self._explained.discard((estate, config.id))
        self.book.clear(alert_key(estate, config.id, offline_rule(config.kind.value)))
        if config.id in self.topology.down[estate] and not self._grouped(estate, config.id):
            self._parent_up(estate, config.id)
        if config.parent:
            self._check_group(estate, config.parent, self.clock.now())

    def _go_offline(self, estate: str, config: DeviceConfig, now: datetime, why: str) -> None:
        self.wheel.remove((estate, config.id))
        if (estate, config.id) in self.offline:
            return
        self.offline[(estate, config.id)] = now
        if config.parent and (estate, config.parent) in self.offline:
            self._explained.add((estate, config.id))
        rule = self.rules[estate].staleness.get(config.kind.value)
        if rule is not None:
            severity = rule.key_severity if config.key and rule.key_severity else rule.severity
            self._raise(estate, config, rule, severity, why=why)
        if self.inventory.estate(estate) and self.inventory.estate(estate).children(config.id):  # type: ignore[union-attr]
            self._parent_down(estate, config.id)
        if config.parent:
            self._check_group(estate, config.parent, now)

    def _parent_down(self, estate: str, parent: str) -> None:
        self.topology.down[estate].add(parent)
        if (estate, parent) in self.offline:  # the parent itself is silent: it explains the rest
            found = self.inventory.estate(estate)
            for child in found.children(parent) if found else []:
                if (estate, child.id) in self.offline:
                    self._explained.add((estate, child.id))
        for key in self.topology.children_keys(estate, parent):
            self.book.suppress(key, f"parent {parent} down")

    def _parent_up(self, estate: str, parent: str) -> None:
        self.topology.down[estate].discard(parent)
        for key in self.topology.children_keys(estate, parent):
            self.book.unsuppress(key, f"parent {parent} down")

    def _grouped(self, estate: str, parent: str) -> bool:
        config = self.inventory.device(estate, parent)
        rule = self.rules[estate].groups.get((config.kind.value, "offline")) if config else None
        alert = self.book.open_alert(alert_key(estate, parent, rule.id)) if rule else None
        return alert is not None and alert.active

    def _check_group(self, estate: str, parent: str, now: datetime) -> None:
        config = self.inventory.device(estate, parent)
        rule = self.rules[estate].groups.get((config.kind.value, "offline")) if config else None
        found = self.inventory.estate(estate)
        if rule is None or config is None or found is None or (estate, parent) in self.offline:
            return  # the parent's own outage explains its children
        children = found.children(parent)
        silent = [
            self.offline[(estate, c.id)]
            for c in children
            if (estate, c.id) in self.offline and (estate, c.id) not in self._explained
        ]
        recent = sum(1 for since in silent if now - since <= timedelta(seconds=rule.window_s))
        if not self._grouped(estate, parent):
            if _qualifies(rule, recent, len(children)):
                self._raise(
                    estate,
                    config,
                    rule,
                    count=recent,
                    total=len(children),
                )
                self._parent_down(estate, parent)
        elif not _qualifies(rule, len(silent), len(children)):
            self.book.clear(alert_key(estate, parent, rule.id))
            self._parent_up(estate, parent)

    # -- lamps --------------------------------------------------------------------------------
    def _lamp(self, estate: str, config: DeviceConfig, reading: Reading, now: datetime) -> None:
        failed = self.topology.failed_lamps[estate]
        ok = reading.fields.get("lamp_ok")
        if reading.event in ("lamp_failure", "lamp_restored"):
            ok = reading.event == "lamp_restored"
        if not isinstance(ok, bool) or (config.id not in failed) == ok:
            return
        (failed.discard if ok else failed.add)(config.id)
        self._circuit(estate, config.parent or "")
        for rule in self.rules[estate].ratios:
            share, down, total = self.topology.lamp_ratio(estate)
            key = alert_key(estate, None, rule.id)
            if share < rule.min_ratio:
                pct = f"{share * 100:.1f}"
                self._raise(
                    estate,
                    None,
                    rule,
                    ratio=pct,
                    failed=down,
                    total=total,
                )
            elif share >= (rule.clear_ratio or rule.min_ratio):
                self.book.clear(key)

    def _circuit(self, estate: str, circuit: str) -> None:
        config = self.inventory.device(estate, circuit)
        rule = self.rules[estate].groups.get(("light", "failed"))
        if config is None or rule is None:
            return
        failed = self.topology.failed_on_circuit(estate, circuit)
        total = len(self.inventory.estate(estate).children(circuit))  # type: ignore[union-attr]
        if failed >= rule.min_children or (total and failed == total):
            self._raise(
                estate,
                config,
                rule,
                count=failed,
                total=total,
            )
        else:
            self.book.clear(alert_key(estate, circuit, rule.id))

    # -- time ---------------------------------------------------------------------------------
    def tick(self) -> None:
        with self.book.lock:
            now = self.clock.now()
            self._sweep(now)
            self._run_timers(now)
            self._maintenance(now)
            if self._compliance_next is not None and now >= self._compliance_next:
                self._compliance(now)
                self._compliance_next = now + self._compliance_every
            for estate_id, tracker in self.patrols.items():
                signals = tracker.tick(now)
                if signals:
                    self._patrol(estate_id, signals)
            self._save_patrols()
            self.book.tick()
        self.book.flush()

    def _sweep(self, now: datetime) -> None:
        due = self.wheel.pop_due(now.timestamp())
        configs = [(e, self.inventory.device(e, d)) for e, d in due]
        # Parents first: when an NVR and its cameras fall silent together, the cameras' alerts
        # are born suppressed rather than annunciated and then taken back.
        configs.sort(key=lambda ec: 0 if ec[1] and self._has_children(ec[0], ec[1].id) else 1)
        for estate, config in configs:
            if config is not None:
                self._go_offline(estate, config, now, "silent for 3 heartbeats")

    def _has_children(self, estate: str, device: str) -> bool:
        found = self.inventory.estate(estate)
        return bool(found and found.children(device))

    def _run_timers(self, now: datetime) -> None:
        now_ns = to_ns(now)
        while self._timers and self._timers[0][0] <= now_ns:
            _, _, key = heapq.heappop(self._timers)
            estate, device, rule_id = key
            rule = self._rule(estate, rule_id)
            config = self.inventory.device(estate, device)
            if key in self._memory and config is not None and isinstance(rule, DEVICE_RULE_TYPES):
                found = self.inventory.estate(estate)
                if found is not None:
                    self._apply(estate, config, rule, None, self._context(found, device, now))

    def add_window(self, window: MaintenanceWindow) -> MaintenanceWindow:
        with self.book.lock:
            stored = self.book.store.add_window(window)
            self.topology.windows.append(stored)
            self._maintenance(self.clock.now())
        self.book.flush()
        return stored

    def _maintenance(self, now: datetime) -> None:
        for window in list(self.topology.windows):
            tag = f"maintenance window {window.id}"
            for alert in self.book.open_alerts():
                inside = window.covers(alert.estate, alert.building, alert.device, now)
                if inside and alert.suppressed_by is None:
                    self.book.suppress(alert.key, f"{tag}: {window.reason}")
                elif not inside and (alert.suppressed_by or "").startswith(tag):
                    self.book.unsuppress(alert.key)
            if now >= window.end:
                self.topology.windows.remove(window)

    def _compliance(self, now: datetime) -> None:
        for estate in self.inventory.estates:
            for config in estate.devices:
                for rule in self.rules[estate.id].compliance.get(config.kind.value, ()):
                    known = self._events.get((estate.id, config.id), {})
                    last_ns = known.get(rule.event, known.get(MONITORED_SINCE))
                    last = from_ns(last_ns) if last_ns is not None else None
                    key = alert_key(estate.id, config.id, rule.id)
                    if last is None:
                        continue  # not an inventory device of a watched kind (baseline set at start)
                    age = (now - last).total_seconds() / 86_400
                    if age > rule.max_age_days:
                        self._raise(
                            estate.id,
                            config,
                            rule,
                            days=f"{age:.0f}",
                        )
                    else:
                        self.book.clear(key)


def _qualifies(rule: GroupRule, down: int, total: int) -> bool:
    """≥ min_children, or ≥ min_share of them (two at least: one camera is not a group)."""
    return down >= rule.min_children or (down >= 2 and total > 0 and down / total >= rule.min_share)


def rule_due(rule: Rule | None, since_ns: int) -> int | None:
    if isinstance(rule, ConditionRule):
        return since_ns + int(rule.for_s * 1_000_000_000)
    return None
