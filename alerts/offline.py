"""Offline detection: a timing wheel of deadlines, parents that explain their children,
and grouped alarms when many children of one live parent fall silent together (CCTV → NVR).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from alerts.engine_core import EngineCore
from alerts.model import alert_key
from alerts.rules import (
    GroupRule,
)
from alerts.topology import offline_rule
from devices.inventory import DeviceConfig


class OfflineWatch(EngineCore):
    if TYPE_CHECKING:  # EstateChecks' (alerts/estate_checks.py), later in AlarmEngine's bases

        def _judge_lamps(self, estate: str) -> None: ...

    def _arm_staleness(self, estate: str, config: DeviceConfig, now: datetime) -> None:
        rule = self.rules[estate].staleness.get(config.kind)  # StrEnum: its own value
        heartbeat = config.effective_heartbeat_s()
        if rule is not None and heartbeat is not None:
            self.wheel.touch((estate, config.id), now.timestamp() + rule.multiplier * heartbeat)

    def _alive(self, estate: str, config: DeviceConfig, now: datetime) -> None:
        self._arm_staleness(estate, config, now)
        if self.offline.pop((estate, config.id), None) is None:
            return
        self._explained.discard((estate, config.id))
        self.book.clear(alert_key(estate, config.id, offline_rule(config.kind.value)))
        if config.kind == "light" and config.parent:
            self._judge_lamps(estate)  # a lamp heard again: known to work (or failed) again
        if config.id in self.topology.down[estate] and not self._grouped(estate, config.id):
            self._parent_up(estate, config.id)
        elif self._has_children(estate, config.id):
            # Its children's alive came while it was still silent (cameras first, as a restored
            # uplink delivers them) and were not looked at for its group: look now.
            self._check_group(estate, config.id, self.clock.now())
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
        if config.kind == "light" and config.parent:
            self._judge_lamps(estate)  # a silent lamp is not working (alerts.kpis.lamp_intact)
        if self._has_children(estate, config.id):
            self._parent_down(estate, config.id)
        if config.parent:
            self._check_group(estate, config.parent, now)

    def _parent_down(self, estate: str, parent: str) -> None:
        self.topology.down[estate].add(parent)
        if (estate, parent) in self.offline:  # the parent itself is silent: it explains the rest
            for child in self.topology.children(estate, parent):
                if (estate, child.id) in self.offline:
                    self._explained.add((estate, child.id))
        for key in self.topology.children_keys(estate, parent):
            self.book.suppress(key, f"parent {parent} down")

    def _parent_up(self, estate: str, parent: str) -> None:
        self.topology.down[estate].discard(parent)
        for key in self.topology.children_keys(estate, parent):
            self.book.unsuppress(key, f"parent {parent} down")

    def _group_rule(self, estate: str, parent: str) -> tuple[DeviceConfig, GroupRule] | None:
        """The parent and the offline-group rule of its kind, if it has one."""
        config = self.inventory.device(estate, parent)
        rule = self.rules[estate].groups.get((config.kind.value, "offline")) if config else None
        return (config, rule) if config is not None and rule is not None else None

    def _grouped(self, estate: str, parent: str) -> bool:
        found = self._group_rule(estate, parent)
        alert = self.book.open_alert(alert_key(estate, parent, found[1].id)) if found else None
        return alert is not None and alert.active

    def _check_group(self, estate: str, parent: str, now: datetime) -> None:
        found = self._group_rule(estate, parent)
        if found is None or (estate, parent) in self.offline:
            return  # the parent's own outage explains its children
        config, rule = found
        children = self.topology.children(estate, parent)
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

    def _sweep(self, now: datetime, held: Mapping[str, datetime]) -> None:
        """Devices whose deadline passed go offline; those of an estate whose timers wait
        (alerts/feed.py) are looked at again when it says."""
        due = self.wheel.pop_due(now.timestamp())
        if held:
            for key in [k for k in due if k[0] in held]:
                self.wheel.touch(key, held[key[0]].timestamp())
            due = [k for k in due if k[0] not in held]
        configs = [(e, self.inventory.device(e, d)) for e, d in due]
        # Parents first: when an NVR and its cameras fall silent together, the cameras' alerts
        # are born suppressed rather than annunciated and then taken back.
        configs.sort(key=lambda ec: 0 if ec[1] and self._has_children(ec[0], ec[1].id) else 1)
        for estate, config in configs:
            if config is not None:
                self._go_offline(estate, config, now, "silent for 3 heartbeats")


def _qualifies(rule: GroupRule, down: int, total: int) -> bool:
    """≥ min_children, or ≥ min_share of them (two at least: one camera is not a group)."""
    return down >= rule.min_children or (down >= 2 and total > 0 and down / total >= rule.min_share)
