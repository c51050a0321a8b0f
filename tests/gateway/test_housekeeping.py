"""Issue 21 (item 6): dead letters are kept N days and at most M rows, pruned in small batches
off the hot path; a failing job is counted and the others still run."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.db import make_engine
from gateway.deadletters import DeadLetterStore
from gateway.housekeeping import Housekeeping
from gateway.ingest import Reason, Rejection
from gateway.stages import Stages

DAY_NS = 86_400 * 1_000_000_000


def store_with(tmp_path: Path, days_ago: list[int], now_ns: int) -> DeadLetterStore:
    store = DeadLetterStore(make_engine(f"sqlite:///{tmp_path / 'dl.db'}"))
    store.add_many(
        [
            Rejection(
                f"estate/sunrise/lift/L{i}/telemetry", Reason.MALFORMED_JSON, "x", "{", now_ns - d * DAY_NS
            )
            for i, d in enumerate(days_ago)
        ]
    )
    return store


def test_dead_letters_older_than_the_retention_are_dropped_in_batches(tmp_path: Path) -> None:
    now_ns = 1_800_000_000 * 1_000_000_000
    store = store_with(tmp_path, [40, 35, 31, 29, 1, 0], now_ns)
    assert store.prune(now_ns - 30 * DAY_NS, max_rows=100, batch=2) == 3
    assert sorted(d.topic for d in store.list()) == [f"estate/sunrise/lift/L{i}/telemetry" for i in (3, 4, 5)]


def test_beyond_the_row_cap_the_oldest_go_first(tmp_path: Path) -> None:
    now_ns = 1_800_000_000 * 1_000_000_000
    store = store_with(tmp_path, [5, 4, 3, 2, 1, 0], now_ns)
    assert store.prune(now_ns - 30 * DAY_NS, max_rows=4, batch=1) == 2
    assert sum(store.counts().values()) == 4
    assert {d.topic for d in store.list()} == {f"estate/sunrise/lift/L{i}/telemetry" for i in (2, 3, 4, 5)}


@pytest.mark.expect_errors
def test_a_failing_job_is_counted_and_the_others_still_run() -> None:
    stages = Stages("gw-a")
    ran: list[str] = []

    def broken() -> int:
        raise OSError("injected: disk gone")

    def fine() -> int:
        ran.append("fine")
        return 7

    jobs = Housekeeping([("broken", broken), ("fine", fine)], stages)
    assert jobs.run_once() == {"fine": 7} and ran == ["fine"]
    assert stages.snapshot()["housekeeping"]["last_error"] == "OSError: injected: disk gone"
    jobs.jobs = [("fine", fine)]
    jobs.run_once()
    assert stages.snapshot()["housekeeping"]["ok"]
