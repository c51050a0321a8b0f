"""The alarm engine: readings and the passing of time → alert transitions.

``consume`` runs the device rules of each reading (pure evaluation in ``alerts.evaluate``) and
keeps every device's offline deadline in a timing wheel; ``tick`` (once a second) applies what
time made due: silent devices, on-delays, windows, maintenance windows, compliance, escalation.
Both run on the alarm core's thread (alerts/owner.py) and end with one ``flush``: one
transaction and the notifications.
The parts live beside it: offline and groups (alerts/offline.py), lamps and compliance
(alerts/estate_checks.py), patrols (alerts/patrol_watch.py), shared state (alerts/engine_core.py).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from alerts.book import RANK
from alerts.engine_core import DAY_END, DAY_START, LAMP_OUT_RULE, EventHook, MemKey
from alerts.estate_checks import EstateChecks
from alerts.evaluate import EMPTY, NOTHING, Context, Outcome, RuleMemory, Verdict, evaluate, on_time
from alerts.feed import FeedWatch
from alerts.model import alert_key
from alerts.offline import OfflineWatch
from alerts.patrol_watch import PatrolWatch
from alerts.rules import (
    DEVICE_RULE_TYPES,
    ConditionRule,
    DeviceRule,
    Rule,
)
from alerts.store import MaintenanceWindow
from alerts.topology import (
    FEED_LOST_RULE,
    OUT_OF_SERVICE_RULE,
    POWER_LOSS_RULE,
    SPECIAL_MODE_RULE,
    STOPPING_FAULTS,
    offline_rule,
    stopped_by,
)
from devices.base import Channel, Kind, Reading, Severity
from devices.clock import to_ns
from devices.inventory import DeviceConfig, Estate
from devices.kinds.patrol import PatrolEvent

log = logging.getLogger(__name__)


class AlarmEngine(OfflineWatch, EstateChecks, PatrolWatch, FeedWatch):
    def start(self) -> None:
        """Load open alerts and pending on-delays; every device gets a fresh offline deadline."""
        with self.book.guard:
            now = self.clock.now()
            self.book.load()
            self.topology.windows = self.book.store.windows(now)
            self._start_feeds(now)
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

    def hook_events(self, events: Collection[str], hook: EventHook) -> None:
        """Hand device events of these types to ``hook`` as they are handled (the ledger's records)."""
        self._hooked_events, self._event_hook = frozenset(events), hook

    def note_record(self, estate: str, device: str, event: str, at: datetime) -> None:
        """A ledger record of work a compliance rule counts from (assets/desk.py, under the book's
        lock): the rule's clock moves on as if the device had sent ``event`` at ``at``, and its
        alarm clears now rather than at the next hourly pass."""
        known, at_ns = self._events[(estate, device)], to_ns(at)
        config = self.inventory.device(estate, device)
        if config is None or known.get(event, 0) >= at_ns:
            return
        known[event] = at_ns
        self.book.store.set_facts([(estate, device, event, at_ns)])
        self._compliance_now = self.clock.now()
        for rule in self.rules[estate].compliance.get(config.kind.value, ()):
            if rule.event == event:
                self._comply(estate, config, rule)

    def _restore(self, estate: str, device: str | None, rule: str, active: bool) -> None:
        if device is None and rule == FEED_LOST_RULE and active:
            self._restore_feed(estate)
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

    def consume(self, readings: Sequence[Reading]) -> None:
        with self.book.guard:
            now = self.clock.now()
            self._hear(readings, now)
            start = 0
            while start < len(readings):
                start = self._handle_from(readings, start, now)
            self._save_patrols()
        self.book.flush()

    def _handle_from(self, readings: Sequence[Reading], start: int, now: datetime) -> int:
        """Handle ``readings[start:]``; where one fails, isolate it and return the index after it
        (one reading's failure must not cost the batch its alarms). One ``try`` for the run, not
        one call and ``try`` a reading: this loop is the hot path."""
        index = start
        try:
            for index in range(start, len(readings)):
                reading = readings[index]
                estate = self.inventory.estate(reading.estate)
                config = estate.device(reading.device) if estate else None
                if estate is not None and config is not None:
                    self._handle(estate, config, reading, now)
                elif estate is not None and reading.kind is Kind.PATROL and reading.event == PatrolEvent.SOS:
                    self._sos(
                        estate, reading, now
                    )  # unregistered devices raise nothing; a call for help does
        except Exception as exc:
            self._isolate(readings[index], exc)
            return index + 1
        return len(readings)

    def _isolate(self, reading: Reading, exc: Exception) -> None:
        log.error(
            "the rules failed on a reading of %s/%s; the rest of the batch goes on",
            reading.estate,
            reading.device,
            exc_info=exc,
        )
        if self._rule_failed is not None:
            self._rule_failed(reading, exc)

    def _handle(self, estate: Estate, config: DeviceConfig, reading: Reading, now: datetime) -> None:
        if reading.channel is Channel.STATUS and reading.fields.get("status") == "offline":
            self._go_offline(estate.id, config, now, "said offline (last will)")
        else:
            self._alive(estate.id, config, now)
        if reading.event is not None:
            self._events[(estate.id, config.id)][reading.event] = to_ns(now)
            if reading.event in self._compliance_events:
                self.book.store.set_facts([(estate.id, config.id, reading.event, to_ns(now))])
            if reading.event in self._hooked_events and self._event_hook is not None:
                self._event_hook(estate.id, config.id, reading.event, reading.fields, now)
        kind = config.kind  # a StrEnum: it is its own value as a key or in a comparison (no .value)
        fields, event, ctx = reading.fields, reading.event, None
        for rule, on_fields, on_events in self.rules[estate.id].triggered.get(kind, ()):
            if event not in on_events and on_fields.isdisjoint(fields):
                continue  # nothing in this reading can move the rule (evaluate.triggers)
            if ctx is None:
                ctx = self._context(estate, config.id, now)
            self._apply(estate.id, config, rule, reading, ctx)
        if kind == "light" and config.parent:
            self._lamp(estate.id, config, reading, now)
        tracker = self.patrols.get(estate.id)
        if tracker is not None and kind == "patrol" and reading.event is not None:
            self._patrol(estate.id, tracker.on_reading(reading))

    def _context(self, estate: Estate, device: str, now: datetime) -> Context:
        values = self.values(estate.id, device)  # already the caller's own copy
        events = self._events.get((estate.id, device))
        now_ns, daytime = self._when(estate, now)
        return Context(values, now_ns, daytime, dict(events) if events else {})

    def _when(self, estate: Estate, now: datetime) -> tuple[int, bool]:
        """``now`` in ns, and whether it is daytime in the estate: worked out once per instant and
        estate (a batch's readings share one instant), not for every reading."""
        if self._instant != now:
            self._instant, self._instant_ns, self._daytime = now, to_ns(now), {}
        daytime = self._daytime.get(estate.id)
        if daytime is None:
            hour = now.astimezone(estate.tz).hour
            daytime = self._daytime[estate.id] = DAY_START <= hour < DAY_END
        return self._instant_ns, daytime

    def _apply(
        self, estate: str, config: DeviceConfig, rule: DeviceRule, reading: Reading | None, ctx: Context
    ) -> None:
        if rule.disinfectant is not None and rule.disinfectant is not config.disinfectant_used:
            return  # a limit of the other disinfection (a chloramine tank's total chlorine ≤ 3 mg/L)
        key = (estate, config.id, rule.id)
        before = self._memory.get(key, EMPTY)
        after, outcome = evaluate(rule, before, reading, ctx) if reading else on_time(rule, before, ctx)
        if after is before and outcome is NOTHING:
            return  # most readings: nothing to remember, nothing to do
        if after == EMPTY:
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
            if rule.id in STOPPING_FAULTS:
                self._hold_out_of_service(estate, config.id, rule.id)
        elif outcome.verdict is Verdict.CLEAR:
            self.book.clear(key)
            if rule.id == SPECIAL_MODE_RULE:
                self.topology.special[estate].discard(config.id)
            if rule.id in STOPPING_FAULTS:
                self._release_out_of_service(estate, config.id, rule.id)

    def _hold_out_of_service(self, estate: str, device: str, fault: str) -> None:
        """A fault that stops the lift: its out-of-service alarm, if shown, is held under it."""
        alert = self.book.open_alert(alert_key(estate, device, OUT_OF_SERVICE_RULE))
        if alert is not None and alert.active and alert.suppressed_by is None:
            self.book.suppress(alert.key, stopped_by(device, fault))

    def _release_out_of_service(self, estate: str, device: str, fault: str) -> None:
        """The lift's last stopping fault cleared: an out-of-service alarm held under the faults
        ends, and the mode starts its on-delay again — a lift put back in service soon after the
        repair never raises it; one still out of service after the on-delay does, on its own."""
        key = alert_key(estate, device, OUT_OF_SERVICE_RULE)
        held = self.book.open_alert(key)
        if self._stopping_fault(estate, device, but=fault) is not None:
            return
        if held is not None and (held.suppressed_by or "").startswith(f"lift {device} out of service by"):
            self.book.clear(key, note=f"its fault {fault} cleared")
        memory = self._memory.pop((estate, device, OUT_OF_SERVICE_RULE), None)
        if memory is not None and memory.since_ns is not None:  # nor may a restart resume it
            self.book.pending["/".join((estate, device, OUT_OF_SERVICE_RULE))] = None

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

    def _arm(self, due_ns: int | None, key: MemKey) -> None:
        if due_ns is not None:
            self._timers.at(due_ns, key)

    def tick(self) -> None:
        with self.book.guard:
            now = self.clock.now()
            held = self._feeds(now)
            self._sweep(now, held)
            self._run_timers(now, held)
            self._maintenance(now)
            if self._compliance_next is not None and now >= self._compliance_next:
                self._compliance_run = self._compliance_pass()
                self._compliance_next = now + self._compliance_every
            self._compliance_step(now)
            for estate_id, tracker in self.patrols.items():
                if estate_id in held:
                    continue
                signals = tracker.tick(now)
                if signals:
                    self._patrol(estate_id, signals)
            self._save_patrols()
            self.book.tick()
        self.book.flush()

    def _run_timers(self, now: datetime, held: Mapping[str, datetime]) -> None:
        """The on-delays that came due; those of an estate whose timers wait are put back."""
        now_ns, later = to_ns(now), []
        for _, key in self._timers.due(now_ns):
            estate, device, rule_id = key
            if estate in held:
                later.append((to_ns(held[estate]), key))
                continue
            rule = self._rule(estate, rule_id)
            config = self.inventory.device(estate, device)
            if key in self._memory and config is not None and isinstance(rule, DEVICE_RULE_TYPES):
                found = self.inventory.estate(estate)
                if found is not None:
                    self._apply(estate, config, rule, None, self._context(found, device, now))
        for due_ns, key in later:
            self._arm(due_ns, key)

    def add_window(self, window: MaintenanceWindow) -> MaintenanceWindow:
        with self.book.guard:
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


def rule_due(rule: Rule | None, since_ns: int) -> int | None:
    if isinstance(rule, ConditionRule):
        return since_ns + int(rule.for_s * 1_000_000_000)
    return None
