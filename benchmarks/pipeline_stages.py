"""CPU cost of each ingest stage per message, in one process, without MQTT or a server.

Run ``python -m benchmarks.pipeline_stages [--messages N] [--profile]``. The same messages as the
drain benchmark (``benchmarks/ingest_drain.py``: the sample estate cloned into a city, six kinds
mixed) go through the gateway's own parts, stage by stage, in batches of 5,000:

* decode: topic, JSON, timestamp and the kind's pydantic model (``gateway.ingest.decode``);
* state: the device table (``DeviceRegistry.observe``);
* rules: the alarm engine (``AlarmEngine.consume``: liveness, rules, lamps, patrols, the book);
* lines: InfluxDB line protocol for the batch (``gateway.sinks.influx.to_lines``);
* count: the Prometheus counters of the batch (``Pipeline._count``).

Figures are µs per message (best of ``--repeat`` runs). ``--profile`` adds a cProfile of the
whole pass, by own time. A measurement, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.ingest_drain import city_inventory, machine, make_messages
from devices.clock import SystemClock, to_ns
from devices.loader import load_inventory
from gateway.ingest import Rejection, decode
from gateway.mqtt import Inbound, QueueSource
from gateway.service import build_gateway
from gateway.settings import Settings
from gateway.sinks import MemorySink
from gateway.sinks.influx import LineEncoder

BATCH = 5_000


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 - one straight script
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--estates", type=int, default=33)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-stages-"))
    city = city_inventory(args.estates, work)
    messages, devices = make_messages(city, args.messages, seed=1)
    inventory = load_inventory(city)
    settings = Settings(inventory=city, data_dir=work, instance="stages")  # SQLite in work/
    now_ns = to_ns(SystemClock().now())
    items = [Inbound(t, p, now_ns, n, 1) for n, (t, p) in enumerate(messages)]
    batches = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]

    def fresh() -> tuple[Callable[[list[Inbound]], None], dict[str, float]]:
        gateway = build_gateway(settings, inventory)
        gateway.alarms.start()
        gateway.dispatcher.start()
        pipeline, registry, alarms = gateway.pipeline, gateway.registry, gateway.alarms
        pipeline._sink = MemorySink()
        encoder = LineEncoder()
        spent = dict.fromkeys(("decode", "state", "rules", "lines", "count"), 0.0)

        def one(batch: list[Inbound]) -> None:
            t0 = time.perf_counter()
            decoded = [decode(i.topic, i.payload, i.received_ns, registry.lookup) for i in batch]
            readings = [r for r in decoded if not isinstance(r, Rejection)]
            t1 = time.perf_counter()
            for reading, item in zip(readings, batch, strict=False):
                registry.observe(reading, item.received_ns)
            t2 = time.perf_counter()
            alarms.consume(readings)
            t3 = time.perf_counter()
            encoder.lines(readings)
            t4 = time.perf_counter()
            pipeline._count(readings, [], len(readings))
            t5 = time.perf_counter()
            for name, spent_s in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
                spent[name] += spent_s

        return one, spent

    best: dict[str, float] = {}
    for _ in range(args.repeat):
        one, spent = fresh()
        for batch in batches:
            one(batch)
        for name, seconds in spent.items():
            best[name] = min(best.get(name, seconds), seconds)
    print(f"machine {machine()}")
    print(f"{args.messages:,} messages, {devices:,} devices, batches of {BATCH:,}")
    print(f"µs per message (best of {args.repeat})")
    total = 0.0
    for name, seconds in best.items():
        us = 1e6 * seconds / args.messages
        total += us
        print(f"  {name:<7} {us:7.2f}")
    print(f"  {'total':<7} {total:7.2f}  → {1e6 / total:,.0f} msg/s on one core, before MQTT")
    if args.profile:
        one, _ = fresh()
        profiler = cProfile.Profile()
        profiler.enable()
        for batch in batches:
            one(batch)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    _ = QueueSource  # the pipeline's in-memory source, for readers looking for a fake
    return 0


if __name__ == "__main__":
    sys.exit(main())
