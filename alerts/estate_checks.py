"""Estate-wide checks: failed lamps (完好率, lamps out per circuit) and compliance clocks
(days since maintenance or cleaning), persisted so they survive restarts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from alerts.engine_core import MONITORED_SINCE, EngineCore
from alerts.model import alert_key
from alerts.rules import ComplianceRule
from devices.base import Reading
from devices.clock import from_ns, to_ns
from devices.inventory import DeviceConfig


class EstateChecks(EngineCore):
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

    def _lamp(self, estate: str, config: DeviceConfig, reading: Reading, now: datetime) -> None:
        failed = self.topology.failed_lamps[estate]
        ok = reading.fields.get("lamp_ok")
        if reading.event in ("lamp_failure", "lamp_restored"):
            ok = reading.event == "lamp_restored"
        if not isinstance(ok, bool) or (config.id not in failed) == ok:
            return
        (failed.discard if ok else failed.add)(config.id)
        self._circuit(estate, config.parent or "")
        self._judge_lamps(estate)

    def _judge_lamps(self, estate: str) -> None:
        """完好率 against the ratio rules, as the overview and the rollups count it: a silent lamp
        is unknown, not working (called when a lamp fails, is restored, goes silent or speaks)."""
        silent = {device for (e, device) in self.offline if e == estate}
        lamps = self.topology.lamp_ratio(estate, silent)
        share = 1.0 if lamps.rate is None else lamps.rate
        for rule in self.rules[estate].ratios:
            key = alert_key(estate, None, rule.id)
            if share < rule.min_ratio:
                pct = f"{share * 100:.1f}"
                self._raise(
                    estate,
                    None,
                    rule,
                    ratio=pct,
                    failed=lamps.total - lamps.working,  # failed or silent: not known to work
                    total=lamps.total,
                )
            elif share >= (rule.clear_ratio or rule.min_ratio):
                self.book.clear(key)

    def _circuit(self, estate: str, circuit: str) -> None:
        config = self.inventory.device(estate, circuit)
        rule = self.rules[estate].groups.get(("light", "failed"))
        if config is None or rule is None:
            return
        failed = self.topology.failed_on_circuit(estate, circuit)
        total = len(self.topology.children(estate, circuit))
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

    @property
    def compliance_pending(self) -> bool:
        """A compliance pass is under way (its next slice comes with the next tick)."""
        return self._compliance_run is not None

    def _compliance_step(self, now: datetime) -> None:
        """Take the next ``compliance_slice`` devices of the pass under way, judged at ``now``."""
        run = self._compliance_run
        if run is None:
            return
        self._compliance_now = now
        for done, _ in enumerate(run, start=1):
            if done >= self.compliance_slice:
                return
        self._compliance_run = None

    def _compliance_pass(self) -> Iterator[None]:
        """Every device's maintenance, cleaning and other schedule rules, a device a step."""
        for estate in self.inventory.estates:
            for config in estate.devices:
                for rule in self.rules[estate.id].compliance.get(config.kind.value, ()):
                    self._comply(estate.id, config, rule)
                yield None

    def _comply(self, estate: str, config: DeviceConfig, rule: ComplianceRule) -> None:
        now = self._compliance_now
        known = self._events.get((estate, config.id), {})
        last_ns = known.get(rule.event, known.get(MONITORED_SINCE))
        if last_ns is None or now is None:
            return  # not an inventory device of a watched kind (baseline set at start)
        age = (now - from_ns(last_ns)).total_seconds() / 86_400
        if age > rule.max_age_days:
            self._raise(estate, config, rule, days=f"{age:.0f}")
        else:
            self.book.clear(alert_key(estate, config.id, rule.id))
