"""Guard patrols in the alarm engine: one tracker per estate, its signals turned into alerts
in the same book, its state stored after every change together with its journal (scans, closed
rounds) appended to the patrol record kept for months (alerts/patrol_records.py), in one
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from alerts.book import Raise
from alerts.engine_core import EngineCore
from alerts.model import alert_key
from alerts.patrol import PatrolSignal, PatrolTracker
from alerts.patrol_plan import PatrolRule
from alerts.patrol_records import PatrolRecords, ScanRecord, Verdict
from devices.base import Reading
from devices.inventory import Estate


class PatrolWatch(EngineCore):
    #: Where the trackers' journals go (made at start, on the alert store's database).
    patrol_records: PatrolRecords | None = None

    def _start_patrols(self, now: datetime) -> None:
        self.patrol_records = PatrolRecords(self.book.store.engine, self.book.store.owned)
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
        """The changed trackers' state and every tracker's journal (scans, closed rounds) since the
        last write, in one transaction: a crash (even SIGKILL) keeps both or neither, so the record
        kept for months never misses what a restored tracker holds. A failed write keeps both for
        the next (the exception goes to the caller)."""
        dirty = self._patrols_dirty & self.patrols.keys()  # estates with plans keep state
        snapshots = [{"estate": e, "snapshot": self.patrols[e].snapshot()} for e in sorted(dirty)]
        journals = {e: tracker.journal() for e, tracker in self.patrols.items()}
        if self.patrol_records is None:
            journals = {}
        scans = [ScanRecord(e, r.id, r.day, s) for e, (new, _) in journals.items() for r, s in new]
        verdicts = [Verdict.of(e, r, v) for e, (_, closed) in journals.items() for r, v in closed]
        if snapshots or scans or verdicts:
            with self.book.store.engine.begin() as conn:
                self.book.store.write_patrols(conn, snapshots)
                if self.patrol_records is not None:
                    self.patrol_records.write(conn, scans, verdicts)
        self._patrols_dirty.clear()
        for estate, (new, closed) in journals.items():
            self.patrols[estate].journal_written(len(new), len(closed))
