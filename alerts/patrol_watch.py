"""Guard patrols in the alarm engine: one tracker per estate, its signals turned into alerts
in the same book, its state stored after every change.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from alerts.book import Raise
from alerts.engine_core import EngineCore
from alerts.model import alert_key
from alerts.patrol import PatrolSignal, PatrolTracker
from alerts.patrol_plan import PatrolRule
from devices.base import Reading
from devices.inventory import Estate


class PatrolWatch(EngineCore):
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

    def _sos(self, estate: Estate, reading: Reading, now: datetime) -> None:
        """An SOS from a handset missing from the inventory: still critical at once. The estate's
        tracker judges it, or a fresh one where the estate has no patrol plans."""
        tracker = self.patrols.get(estate.id) or PatrolTracker.for_estate(estate, since=now)
        self._patrol(estate.id, tracker.on_reading(reading))

    def _save_patrols(self) -> None:
        dirty = self._patrols_dirty & self.patrols.keys()  # estates with plans keep state
        if dirty:
            self.book.store.save_patrols({e: self.patrols[e].snapshot() for e in dirty})
        self._patrols_dirty.clear()
