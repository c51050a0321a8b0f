"""Resident memory per tracked device, for the whole gateway (issue 8: ≤ 1 KB a device).

Run ``python -m benchmarks.device_memory [--devices 10000 100000 200000]``. Each size runs in a
fresh process (so one size's freed memory does not flatter the next); it prints figures and
asserts nothing. For N devices (the sample estate cloned N/303 times: all six kinds, patrol plans,
lamp circuits, NVRs with cameras):

1. the inventory is loaded (the configuration: what every deployment holds anyway);
2. the gateway is built (SQLite in a temporary directory, readings to memory) and its alarm
   engine started: every device gets a device-table entry and an offline deadline;
3. one telemetry or heartbeat message per device goes through the pipeline (decode, device
   state, rules), so every device has latest values and whatever its rules remember.

Resident memory (``VmRSS``) is read after each step; "per device" divides the growth by N. The
figure issue 8 asks for is the gateway's own (steps 2 and 3); the inventory's is shown apart.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.ingest_drain import city_inventory, machine, make_messages

SAMPLE_DEVICES = 303


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def one(devices: int) -> dict[str, float]:
    from devices.clock import SystemClock, to_ns  # noqa: PLC0415 - measured after the baseline
    from devices.loader import load_inventory  # noqa: PLC0415
    from gateway.mqtt import Inbound  # noqa: PLC0415
    from gateway.service import build_gateway  # noqa: PLC0415
    from gateway.settings import Settings  # noqa: PLC0415
    from gateway.sinks import MemorySink  # noqa: PLC0415

    work = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    estates = max(1, round(devices / SAMPLE_DEVICES))
    city = city_inventory(estates, work)
    n = estates * SAMPLE_DEVICES
    messages, _ = make_messages(city, n, seed=1)  # one per device (they cycle over all devices)
    now = to_ns(SystemClock().now())
    items = [Inbound(t, p, now, i, 1) for i, (t, p) in enumerate(messages)]
    del messages
    gc.collect()
    base = rss_bytes()
    inventory = load_inventory(city)
    gc.collect()
    loaded = rss_bytes()
    gateway = build_gateway(Settings(inventory=city, data_dir=work, instance="memory"), inventory)
    gateway.alarms.start()
    gateway.dispatcher.start()
    gc.collect()
    built = rss_bytes()
    gateway.pipeline._sink = MemorySink()  # readings are not kept: the store is not the subject
    started = time.perf_counter()
    for i in range(0, len(items), 5000):
        readings, _ = gateway.pipeline.process(items[i : i + 5000])
        del readings
    fed_s = time.perf_counter() - started
    del items
    gc.collect()
    fed = rss_bytes()
    pass_ticks: list[float] = []  # the first ticks also run the hourly compliance pass, a slice each
    while not pass_ticks or gateway.alarms.compliance_pending:
        tick = time.perf_counter()
        gateway.alarms.tick()
        pass_ticks.append(time.perf_counter() - tick)
    tick = time.perf_counter()
    gateway.alarms.tick()  # a second's tick as every other second has it
    next_tick_s = time.perf_counter() - tick
    return {
        "devices": n,
        "tracked": len(gateway.registry),
        "inventory_b": (loaded - base) / n,
        "built_b": (built - loaded) / n,
        "fed_b": (fed - built) / n,
        "gateway_b": (fed - loaded) / n,
        "feed_us": 1e6 * fed_s / n,
        "tick_ms": 1e3 * max(pass_ticks),
        "pass_ticks": len(pass_ticks),
        "next_tick_ms": 1e3 * next_tick_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[10_000, 100_000, 200_000])
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(one(args.one)))
        return 0
    print(f"machine {machine()}")
    print(
        "bytes of resident memory per device; feed: µs per first message of a device; pass: the ticks "
        "of the compliance pass and the longest of them; tick: an ordinary engine tick"
    )
    print(
        f"{'devices':>8} {'inventory':>10} {'gateway':>8} {'(built':>8} {'+ fed)':>8}"
        f" {'feed µs':>8} {'pass ticks':>10} {'max ms':>8} {'tick ms':>8}"
    )
    for devices in args.devices:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.device_memory", "--one", str(devices)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{r['devices']:>8,} {r['inventory_b']:>10,.0f} {r['gateway_b']:>8,.0f} {r['built_b']:>8,.0f}"
            f" {r['fed_b']:>8,.0f} {r['feed_us']:>8.1f} {r['pass_ticks']:>10} {r['tick_ms']:>8.1f}"
            f" {r['next_tick_ms']:>8.1f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
