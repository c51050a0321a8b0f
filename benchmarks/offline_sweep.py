"""Offline sweep benchmark: memory, touch and sweep cost of ``DeadlineWheel`` at gateway scale.

Run ``python -m benchmarks.offline_sweep``. A repeatable measurement (seeded, virtual time), not a
test: it prints figures and asserts nothing. For each N devices (heartbeat 60 s, deadline = last
message + 180 s, random phases):

* memory: bytes traced by ``tracemalloc`` for the wheel holding N keys, per key; the deadline
  floats are counted (only the wheel holds them), the caller's key tuples are not;
* touch: µs per touch, first insertion and a move to a later bucket (the steady state);
* sweep: 10 virtual minutes at 1 s steps, each second ~N/60 devices reporting and 0.1 % of all
  devices falling silent at random moments; ``pop_due`` cost per call (mean, p99) and per
  expired key, and the latest any silent device was flagged after its deadline. The sweep runs
  right after that second's touches, as in the gateway, so its caches are cold; "warm" times an
  immediate second call, which shows the wheel's own cost apart from the cache misses;
* mass outage: all N devices silent at once, swept at 1 s steps until all are flagged; µs per key;
* scan: one full scan of an N-entry deadline dict, the cost the wheel avoids each second.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import sys
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from alerts.staleness import DeadlineWheel

HEARTBEAT_S = 60.0
DEADLINE_S = 3 * HEARTBEAT_S
SIM_S = 600
SILENT_SHARE = 0.001
T0 = 1_767_600_000.0

Device = tuple[str, str]


@dataclass(frozen=True)
class Fleet:
    keys: list[Device]
    phases: list[float]  # device i reports at T0 + phase + 60 k
    silent_from: dict[int, float]  # device index → virtual time of its first missed report


@dataclass(frozen=True)
class Row:
    n: int
    bytes_per_key: float
    peak_bytes_per_key: float
    insert_us: float
    move_us: float
    sweep_mean_us: float
    sweep_p99_us: float
    warm_us: float
    us_per_expired: float
    outage_us_per_key: float
    expired: int
    max_late_s: float
    wrong: int
    scan_us: float


def make_fleet(n: int, rng: random.Random) -> Fleet:
    keys = [(f"estate-{i % 500:03d}", f"dev-{i:06d}") for i in range(n)]
    phases = [rng.uniform(0, HEARTBEAT_S) for _ in range(n)]
    # Silence starts early enough that the deadline (≤ 180 s after the last report) falls in the run.
    silent = rng.sample(range(n), max(1, round(n * SILENT_SHARE)))
    return Fleet(keys, phases, {i: T0 + rng.uniform(0, SIM_S - DEADLINE_S - HEARTBEAT_S) for i in silent})


def measure_memory(fleet: Fleet) -> tuple[float, float]:
    """Bytes per key held by a freshly built wheel, and at the peak of building it (dict resizes)."""
    gc.collect()
    tracemalloc.start()
    try:
        wheel: DeadlineWheel[Device] = DeadlineWheel()
        for key, phase in zip(fleet.keys, fleet.phases, strict=True):
            wheel.touch(key, T0 + phase - HEARTBEAT_S + DEADLINE_S)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    n = len(fleet.keys)
    return current / n, peak / n


def measure_touch(fleet: Fleet) -> tuple[float, float]:
    """µs per first touch (insert) and per later touch (move to another bucket)."""
    first = [T0 + phase + DEADLINE_S for phase in fleet.phases]
    later = [deadline + HEARTBEAT_S for deadline in first]
    wheel: DeadlineWheel[Device] = DeadlineWheel()
    timings = []
    for deadlines in (first, later):
        start = time.perf_counter()
        for key, deadline in zip(fleet.keys, deadlines, strict=True):
            wheel.touch(key, deadline)
        timings.append((time.perf_counter() - start) * 1e6 / len(fleet.keys))
    return timings[0], timings[1]


def reporters_by_second(fleet: Fleet) -> list[list[int]]:
    """Device indices grouped by the second (mod 60) of their phase: who reports in each step."""
    slots: list[list[int]] = [[] for _ in range(int(HEARTBEAT_S))]
    for i, phase in enumerate(fleet.phases):
        slots[int(phase)].append(i)
    return slots


@dataclass
class Sweeps:
    cold_ns: list[int]
    warm_ns: list[int]
    flagged: dict[int, float]  # device index → virtual time it was popped
    expected: dict[int, float]  # silent device index → its deadline


def simulate(fleet: Fleet) -> Sweeps:
    """Run the virtual minutes, timing each sweep (and an immediate repeat of it)."""
    wheel: DeadlineWheel[Device] = DeadlineWheel()
    last = {i: T0 + phase - HEARTBEAT_S for i, phase in enumerate(fleet.phases)}
    for i, reported in last.items():
        wheel.touch(fleet.keys[i], reported + DEADLINE_S)
    slots, index = reporters_by_second(fleet), {key: i for i, key in enumerate(fleet.keys)}
    sweeps = Sweeps([], [], {}, {})
    for step in range(1, SIM_S + 1):
        now = T0 + step
        for i in slots[(step - 1) % len(slots)]:
            reported = now - 1 + fleet.phases[i] % 1  # its report, within [now - 1, now)
            if i not in fleet.silent_from or reported < fleet.silent_from[i]:
                last[i] = reported
                wheel.touch(fleet.keys[i], reported + DEADLINE_S)
        start = time.perf_counter_ns()
        due = wheel.pop_due(now)
        middle = time.perf_counter_ns()
        wheel.pop_due(now)
        sweeps.cold_ns.append(middle - start)
        sweeps.warm_ns.append(time.perf_counter_ns() - middle)
        sweeps.flagged.update((index[key], now) for key in due)
    sweeps.expected.update((i, last[i] + DEADLINE_S) for i in fleet.silent_from)
    return sweeps


def measure_outage(fleet: Fleet) -> float:
    """µs per key when every device falls silent at once and expires over the next heartbeat."""
    wheel: DeadlineWheel[Device] = DeadlineWheel()
    for key, phase in zip(fleet.keys, fleet.phases, strict=True):
        wheel.touch(key, T0 + phase)
    start = time.perf_counter()
    for step in range(1, int(HEARTBEAT_S) + 1):
        wheel.pop_due(T0 + step)
    return (time.perf_counter() - start) * 1e6 / len(fleet.keys)


def measure_scan(fleet: Fleet) -> float:
    """µs for one pass over an N-entry dict of deadlines: what a full scan would cost per second."""
    deadlines = {key: T0 + phase + DEADLINE_S for key, phase in zip(fleet.keys, fleet.phases, strict=True)}
    start = time.perf_counter()
    _ = [key for key, deadline in deadlines.items() if deadline <= T0]
    return (time.perf_counter() - start) * 1e6


def run(n: int, seed: int) -> Row:
    fleet = make_fleet(n, random.Random(seed))
    per_key, peak = measure_memory(fleet)
    insert_us, move_us = measure_touch(fleet)
    sweeps = simulate(fleet)
    flagged, expected = sweeps.flagged, sweeps.expected
    lateness = [flagged[i] - deadline for i, deadline in expected.items() if i in flagged]
    # Wrong: a live device flagged, a silent one never flagged, or one flagged before its deadline.
    wrong = len(flagged.keys() ^ expected.keys()) + sum(late < 0 for late in lateness)
    cold = sorted(sweeps.cold_ns)
    return Row(
        n=n,
        bytes_per_key=per_key,
        peak_bytes_per_key=peak,
        insert_us=insert_us,
        move_us=move_us,
        sweep_mean_us=sum(cold) / len(cold) / 1e3,
        sweep_p99_us=cold[int(0.99 * (len(cold) - 1))] / 1e3,
        warm_us=sum(sweeps.warm_ns) / len(sweeps.warm_ns) / 1e3,
        us_per_expired=sum(cold) / 1e3 / max(1, len(flagged)),
        outage_us_per_key=measure_outage(fleet),
        expired=len(flagged),
        max_late_s=max(lateness, default=0.0),
        wrong=wrong,
        scan_us=measure_scan(fleet),
    )


def machine() -> str:
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            name = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass  # not Linux, or no model line: keep what platform says
    return f"{name}, nproc={os.cpu_count()}"


def print_table(rows: Sequence[Row]) -> None:
    print(f"Python {platform.python_version()} ({sys.implementation.name}) · {machine()}")
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · heartbeat {HEARTBEAT_S:.0f} s, deadline 3×, 1 s buckets")
    print("\nbuild         bytes/key   bytes/key  touch µs  touch µs  full scan µs")
    print("      N   (N keys held)     (peak)    insert      move   (avoided)")
    for r in rows:
        print(
            f"{r.n:>7} {r.bytes_per_key:>15.1f} {r.peak_bytes_per_key:>10.1f} {r.insert_us:>9.2f} "
            f"{r.move_us:>9.2f} {r.scan_us:>13.0f}"
        )
    print(f"\nsweep: {SIM_S} virtual s at 1 s steps, {SILENT_SHARE:.1%} of devices fall silent")
    print("      N  expired  mean µs  p99 µs  warm µs  µs/expired  outage µs/key  max late s  wrong")
    for r in rows:
        print(
            f"{r.n:>7} {r.expired:>8} {r.sweep_mean_us:>8.1f} {r.sweep_p99_us:>7.1f} {r.warm_us:>8.1f} "
            f"{r.us_per_expired:>11.1f} {r.outage_us_per_key:>14.2f} {r.max_late_s:>11.3f} {r.wrong:>6}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 200_000])
    parser.add_argument("--seed", type=int, default=20260105)
    args = parser.parse_args(argv)
    print_table([run(n, args.seed) for n in args.sizes])


if __name__ == "__main__":
    main()
