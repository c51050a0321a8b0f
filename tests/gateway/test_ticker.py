"""The alarm ticker: a pause of the whole gateway does not let timers outrun the messages that
queued up meanwhile (wall time injected; the scheduler is not started)."""

from __future__ import annotations

from typing import cast

import pytest

from alerts.engine import AlarmEngine
from gateway.alerting import Ticker


class CountingEngine:
    def __init__(self) -> None:
        self.ticks = 0

    def tick(self) -> None:
        self.ticks += 1


def test_after_a_pause_timers_wait_as_long_as_it_lasted() -> None:
    engine, wall = CountingEngine(), [100.0]
    ticker = Ticker(cast(AlarmEngine, engine), interval_s=0.05, late_s=0.5, wall=lambda: wall[0])

    def at(t: float) -> int:
        wall[0] = 100.0 + t
        before = engine.ticks
        ticker._tick()
        return engine.ticks - before

    assert [at(t) for t in (0.0, 0.05, 0.10, 0.15)] == [1, 1, 1, 1]  # on time: every tick runs
    assert at(0.60) == 1  # 0.4 s late: within late_s, an ordinary jitter
    # Paused: the next tick comes at 2.95 s, 2.30 s late. Ticks go on every 50 ms from there,
    # but the engine's timers wait until 2.95 + 2.30 + 0.5 = 5.75 s.
    times = [round(2.95 + 0.05 * n, 2) for n in range(70)]
    ran = [t for t in times if at(t)]
    assert 5.75 <= ran[0] <= 5.8 and ran == [t for t in times if t >= ran[0]]  # (float rounding)


@pytest.mark.expect_errors
def test_an_engine_error_is_logged_and_the_ticker_goes_on() -> None:
    class Failing(CountingEngine):
        def tick(self) -> None:
            super().tick()
            raise RuntimeError("boom")

    engine, wall = Failing(), [0.0]
    ticker = Ticker(cast(AlarmEngine, engine), interval_s=1.0, wall=lambda: wall[0])
    ticker._tick()
    wall[0] = 1.0
    ticker._tick()
    assert engine.ticks == 2


def test_timers_wait_while_the_rules_lag_behind_the_messages() -> None:
    engine, wall, behind = CountingEngine(), [0.0], [0.0]
    ticker = Ticker(
        cast(AlarmEngine, engine),
        interval_s=0.05,
        late_s=0.5,
        behind=lambda: behind[0],
        max_hold_s=30.0,
        wall=lambda: wall[0],
    )

    def at(t: float, lag: float) -> int:
        wall[0], behind[0] = t, lag
        before = engine.ticks
        ticker._tick()
        return engine.ticks - before

    assert at(0.0, 0.0) == 1
    assert at(0.05, 0.4) == 1  # a batch in hand for 0.4 s: ordinary
    # A slow disk holds the pipeline: the queue's oldest message grows older; no tick runs.
    assert [at(0.05 * n, 0.05 * n - 0.4) for n in range(2, 60)] == [1] * 17 + [0] * 41
    assert at(3.0, 0.0) == 1  # the backlog is in: timers run again


def test_under_an_overload_that_lasts_timers_run_after_max_hold() -> None:
    engine, wall = CountingEngine(), [0.0]
    ticker = Ticker(
        cast(AlarmEngine, engine), interval_s=1.0, behind=lambda: 5.0, max_hold_s=30.0, wall=lambda: wall[0]
    )
    ran = []
    for t in range(0, 41):
        wall[0] = float(t)
        before = engine.ticks
        ticker._tick()
        ran.append(engine.ticks - before)
    assert ran == [0] * 31 + [1] * 10  # held 30 s, then every tick runs, late rather than never
