"""The patrol record kept for months is written in the transaction that stores the trackers' state
(alerts/patrol_watch.py): a crash between the two (SIGKILL) can no longer leave a restored tracker
holding scans that the 400-day record lacks. Before, the state was committed first and the journal
in a second transaction; a failure between them lost the batch's scans from the record for good."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from alerts.patrol_records import PatrolRecords
from tests.alerts.harness import Harness

SHANGHAI = ZoneInfo("Asia/Shanghai")
NIGHT = datetime(2026, 1, 5, 18, 0, tzinfo=SHANGHAI)  # the SPEC example's night window: 2 guards
ALIVE = ["L1", "T1", "D1", "LC1", "LP1", "NVR1", "CAM1"]
DAY = date(2026, 1, 5)


def at(h: Harness, local: datetime) -> None:
    h.advance((local - h.clock.now()).total_seconds(), keep_alive=ALIVE, step=30)


def snapshot_scans(h: Harness) -> set[tuple[str, str]]:
    """(round, checkpoint) of every scan in the stored tracker state."""
    snap = h.store.patrol_snapshots().get("sunrise", {"rounds": []})
    return {(r["id"], s["checkpoint"]) for r in snap["rounds"] for s in r["scans"]}


def record_scans(h: Harness) -> set[tuple[str, str]]:
    records = PatrolRecords(h.store.engine)
    return {(rid, s.checkpoint) for rid, scans in records.scans("sunrise", DAY, DAY).items() for s in scans}


@pytest.fixture
def failing_journal() -> Iterator[list[bool]]:
    """While the list holds True, writing a scan to the record fails after the tracker's state
    was written (where a SIGKILL between the two would land): the database refuses the insert."""
    failing = [True]

    def refuse(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if failing[0] and statement.lstrip().upper().startswith("INSERT INTO PATROL_SCANS"):
            raise RuntimeError("killed between the tracker's state and its journal")

    event.listen(Engine, "before_cursor_execute", refuse)
    try:
        yield failing
    finally:
        event.remove(Engine, "before_cursor_execute", refuse)


def test_state_and_journal_are_kept_together_or_not_at_all(
    tmp_path: Path, failing_journal: list[bool]
) -> None:
    first = Harness(tmp_path)
    failing_journal[0] = False
    at(first, NIGHT + timedelta(hours=1))
    failing_journal[0] = True
    with pytest.raises(RuntimeError, match="killed"):
        first.event("H1", "scan", checkpoint="CP1", guards="G1,G2")
    # Neither the state nor the record holds the scan: the restored tracker agrees with the record.
    assert snapshot_scans(first) == record_scans(first) == set()
    second = Harness(tmp_path, inventory=first.inventory)  # "SIGKILL" and restart: same database
    assert second.engine.patrols["sunrise"].journal() == ([], [])
    assert snapshot_scans(second) == record_scans(second)


def test_a_failed_write_keeps_both_for_the_next(tmp_path: Path, failing_journal: list[bool]) -> None:
    h = Harness(tmp_path)
    failing_journal[0] = False
    at(h, NIGHT + timedelta(hours=1))
    failing_journal[0] = True
    with pytest.raises(RuntimeError, match="killed"):
        h.event("H1", "scan", checkpoint="CP1", guards="G1,G2")
    failing_journal[0] = False
    h.advance(30, keep_alive=ALIVE, step=30)  # the next tick writes the state and the journal
    stored = snapshot_scans(h)
    assert len(stored) == 1 and stored == record_scans(h)
    h.advance(30, keep_alive=ALIVE, step=30)
    assert len(PatrolRecords(h.store.engine).scans("sunrise", DAY, DAY)) == 1  # written once
