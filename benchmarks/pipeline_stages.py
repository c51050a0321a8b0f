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

Then each vendor profile's own cost (docs/contract.md §3.6): ``gateway.ingest.decode_vendor`` on a
typical payload of each built-in profile and of a user-defined JSON and XML profile — the profile
and the canonical validation after it, everything a vendor message costs before the device state.
The canonical path does not pass there: the profiles are asked only about a topic the canonical
decoder refused. ``--vendor-only`` skips the canonical stages.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.ingest_drain import city_inventory, machine, make_messages
from devices.clock import SystemClock, to_ns
from devices.inventory import Inventory
from devices.loader import load_inventory
from gateway.ingest import Rejection, decode, decode_vendor
from gateway.mqtt import Inbound, QueueSource
from gateway.service import build_gateway
from gateway.settings import Settings
from gateway.sinks import MemorySink
from gateway.sinks.influx import LineEncoder
from profiles.config import ModbusParams
from profiles.encode import (
    dahua_json,
    dahua_line,
    dahua_stream,
    hikvision_json,
    hikvision_xml,
    modbus_response,
)
from profiles.route import VendorRouter

BATCH = 5_000


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 - one straight script
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--estates", type=int, default=33)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--vendor-only", action="store_true", help="only the vendor profiles' figures")
    args = parser.parse_args(argv)
    if args.vendor_only:
        print(f"machine {machine()}")
        vendor_profiles(args.messages // 10, args.repeat)
        return 0
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
    vendor_profiles(args.messages // 10, args.repeat)
    return 0


_REGISTERS = {
    "unit": 1,
    "registers": [
        {"field": "level_pct", "type": "uint16", "scale": 0.1},
        {"field": "chlorine_mg_l", "type": "uint16", "scale": 0.001},
        {"field": "turbidity_ntu", "type": "uint16", "scale": 0.01},
        {"field": "ph", "type": "float32", "word_order": "little"},
    ],
}
_VENDOR_INVENTORY = {
    "profiles": [
        {
            "name": "lift-json",
            "kind": "lift",
            "format": "json",
            "ts": "time",
            "telemetry": {
                "floor": {"path": "data.curFloor"},
                "door": {"path": "data.doorState", "map": {0: "closed", 1: "open"}},
                "speed_m_s": {"path": "data.speed", "convert": "cm/s->m/s"},
            },
            "events": [
                {
                    "when": {"path": "data.alarm", "equals": 1},
                    "type": "fault",
                    "fields": {"code": "entrapment"},
                }
            ],
        },
        {
            "name": "door-xml",
            "kind": "access",
            "format": "xml",
            "telemetry": {"door": {"path": "Status.Door", "map": {"0": "closed", "1": "open"}}},
            "events": [{"when": {"path": "Event.Type", "equals": "denied"}, "type": "denied"}],
        },
    ],
    "estates": [
        {
            "id": "bench",
            "name": "bench",
            "devices": [
                {"id": "HIK", "kind": "cctv", "profile": "hikvision-isapi"},
                {"id": "DAH", "kind": "cctv", "profile": "dahua-event"},
                {"id": "TANK", "kind": "water_tank", "profile": "modbus-rtu", "modbus": _REGISTERS},
                {"id": "LIFT", "kind": "lift", "profile": "lift-json"},
                {"id": "DOOR", "kind": "access", "profile": "door-xml"},
            ],
        }
    ],
}


def vendor_samples(now: datetime) -> list[tuple[str, str, bytes]]:
    """(what, topic, payload): a typical payload of each profile, as its devices send it."""
    frame = modbus_response(ModbusParams.model_validate(_REGISTERS), {"level_pct": 80, "chlorine_mg_l": 0.5})
    lift = {"time": now.isoformat(), "data": {"curFloor": 7, "doorState": 0, "speed": 150, "alarm": 0}}
    door = b"<Msg><Status><Door>1</Door></Status><Event><Type>granted</Type><Card>0012</Card></Event></Msg>"
    return [
        ("hikvision-isapi XML", "estate/bench/cctv/HIK/raw", hikvision_xml("videoloss", "inactive", now)),
        ("hikvision-isapi JSON", "estate/bench/cctv/HIK/raw", hikvision_json("VMD", "active", now)),
        ("dahua-event line", "estate/bench/cctv/DAH/raw", dahua_line("VideoLoss", "Start").encode()),
        (
            "dahua-event stream",
            "estate/bench/cctv/DAH/raw",
            dahua_stream("Heartbeat", dahua_line("VideoLoss", "Stop")),
        ),
        ("dahua-event JSON", "estate/bench/cctv/DAH/raw", dahua_json("StorageFailure", "Start")),
        ("modbus-rtu binary", "estate/bench/water_tank/TANK/raw", frame),
        ("modbus-rtu hex", "estate/bench/water_tank/TANK/raw", frame.hex(" ").encode()),
        ("user JSON (lift)", "estate/bench/lift/LIFT/raw", json.dumps(lift).encode()),
        ("user XML (door)", "estate/bench/access/DOOR/raw", door),
    ]


def vendor_profiles(count: int, repeat: int) -> None:
    router = VendorRouter(Inventory.model_validate(_VENDOR_INVENTORY))
    now = datetime.now(UTC)
    now_ns = to_ns(now)
    print(f"vendor profiles: µs of CPU per message, decode_vendor (best of {repeat} × {count:,})")
    for what, topic, payload in vendor_samples(now):
        result = decode_vendor(topic, payload, now_ns, router)
        assert isinstance(result, list), (what, result)  # a sample the profile refuses measures nothing
        best = float("inf")
        for _ in range(repeat):
            t0 = time.process_time()  # CPU time: on a shared machine wall time mostly measures the others
            for _ in range(count):
                decode_vendor(topic, payload, now_ns, router)
            best = min(best, time.process_time() - t0)
        print(f"  {what:<21} {1e6 * best / count:7.2f}  ({len(payload)} bytes)")


if __name__ == "__main__":
    sys.exit(main())
