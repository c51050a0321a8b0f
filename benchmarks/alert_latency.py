"""Publish → alert on ``/api/stream`` latency under a steady background load.

Run ``python -m benchmarks.alert_latency --rate R`` with R half the sustained rate measured by
``benchmarks/ingest_drain.py`` (issue 8). A measurement that prints figures, not a test.

* real mosquitto, real InfluxDB 1.6.7 behind the ``/api/v2/write`` test shim, the city inventory of
  the drain benchmark (the sample estate cloned ``--estates`` times), ``estate-gateway run``;
* a background load of ``R`` msg/s at QoS 1 over every device, in its own process:
  ``benchmarks.mqtt_blast`` (valid messages encoded once into MQTT packets, written in bursts; cheap
  enough to leave the CPU to the gateway) or, with ``--load sim``, ``estate-sim load``;
* a listener on ``GET /api/stream`` (server-sent events, as the console uses it);
* after ``--warmup`` s, ``--faults`` door-forced events (``access.forced``: raised at once, no
  on-delay) at ``--fault-rate`` a second, each on a door with no open alert, QoS 1. Latency is from
  just before ``publish`` to the event's arrival on the stream, both on this process's monotonic
  clock.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.ingest_drain import BenchServers, city_inventory, machine
from devices.base import Kind
from devices.loader import load_inventory
from tests.support.gateway import ADMIN_TOKEN, REPO, GatewayProcess


class StreamListener:
    """Records when each ``access.forced`` raise arrives on the stream, by (estate, device)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.arrived: dict[tuple[str, str], float] = {}
        self.events = 0
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("the stream did not open")

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        with httpx.stream("GET", f"{self.url}/api/stream", headers=headers, timeout=None) as response:
            for line in response.iter_lines():
                self.ready.set()
                if self._stop.is_set():
                    return
                if not line.startswith("data: "):
                    continue
                at = time.monotonic()
                self.events += 1
                data = json.loads(line[6:])
                if data.get("rule") == "access.forced" and data.get("action") == "raise":
                    self.arrived.setdefault((data["estate"], data["device"]), at)

    def stop(self) -> None:
        self._stop.set()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def run(args: argparse.Namespace) -> int:  # noqa: PLR0915 - one straight script
    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    servers = BenchServers(work, "estate")
    broker, shim = servers.broker, servers.shim
    gateway: GatewayProcess | None = None
    load: subprocess.Popen[str] | None = None
    try:
        city = city_inventory(args.estates, work)
        inventory = load_inventory(city)
        doors = [(e.id, d.id) for e in inventory.estates for d in e.devices if d.kind is Kind.ACCESS]
        devices = sum(len(e.devices) for e in inventory.estates)
        if args.faults > len(doors):
            raise SystemExit(f"--faults {args.faults} > {len(doors)} doors: add --estates")
        gateway = GatewayProcess(
            work / "gateway",
            {
                "ESTATE_MQTT_URL": broker.url,
                "ESTATE_INVENTORY": str(city),
                "ESTATE_INFLUX_URL": shim.url,
                "ESTATE_INFLUX_TOKEN": "bench",
                "ESTATE_INFLUX_ORG": "bench",
                "ESTATE_INFLUX_BUCKET": "estate",
            },
        )
        gateway.start(timeout=60)
        listener = StreamListener(gateway.url)
        listener.start()
        duration = args.warmup + args.faults / args.fault_rate + 5
        if args.load == "blast":
            load_cmd = [sys.executable, "-m", "benchmarks.mqtt_blast", "--port", str(broker.port)]
            load_cmd += ["--inventory", str(city)]
        else:
            load_cmd = [sys.executable, "-m", "simulators.cli", "load", "--broker", broker.url]
            load_cmd += ["--devices", str(devices), "--inventory", str(city)]
        load_cmd += ["--rate", str(args.rate), "--duration", f"{duration:.0f}"]
        load = subprocess.Popen(
            load_cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        if args.load == "blast" and load.stdout is not None:
            load.stdout.readline()  # "ready": its messages are encoded, it starts publishing now
        print(f"background load {args.rate:,.0f} msg/s, {devices:,} devices; warming up {args.warmup} s …")
        time.sleep(args.warmup)  # a benchmark pacing real traffic, not a test waiting for time
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-faults")
        client.connect(broker.host, broker.port)
        client.loop_start()
        sent: dict[tuple[str, str], float] = {}
        start, start_wall = time.monotonic(), time.time()
        for n, (estate, door) in enumerate(doors[: args.faults]):
            time.sleep(max(0.0, start + n / args.fault_rate - time.monotonic()))
            payload = json.dumps({"type": "forced", "ts": datetime.now(UTC).isoformat()})
            sent[(estate, door)] = time.monotonic()
            client.publish(f"estate/{estate}/access/{door}/event", payload, qos=1)
        deadline = time.monotonic() + 30
        while len(listener.arrived.keys() & sent.keys()) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.1)
        client.disconnect()
        client.loop_stop()
        listener.stop()
        out, _ = load.communicate(timeout=duration + 60)
        timed = [(t, 1000 * (listener.arrived[k] - t)) for k, t in sent.items() if k in listener.arrived]
        latencies = [ms for _, ms in timed]
        if args.dump:
            rows = [f"{t - start:.3f},{ms:.1f}" for t, ms in timed]
            header = f"# faults from {start_wall:.3f} (Unix time)\nsent_s,latency_ms\n"
            Path(args.dump).write_text(header + "\n".join(rows) + "\n")
        print()
        print(f"machine   {machine()}  ·  {datetime.now(UTC).isoformat(timespec='minutes')}")
        print(f"load      {out.strip().splitlines()[-1] if out.strip() else '?'}")
        print(f"faults    {len(sent)} sent at {args.fault_rate:g}/s · {len(latencies)} seen on the stream")
        alerts = gateway.api("/api/alerts", limit=5_000)
        rules = collections.Counter(a["rule"] for a in alerts if a["rule"] != "access.forced")
        print(f"other     {sum(rules.values()):,} alerts: {dict(rules.most_common(5))}")
        if latencies:
            print(
                f"latency   p50 {statistics.median(latencies):.1f} ms"
                f" · p90 {percentile(latencies, 90):.1f} ms · p99 {percentile(latencies, 99):.1f} ms"
                f" · max {max(latencies):.1f} ms"
            )
        return 0 if len(latencies) == len(sent) else 1
    finally:
        if load is not None and load.poll() is None:
            load.kill()
        if gateway is not None:
            gateway.kill()
        servers.close()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rate", type=float, required=True, help="background load, msg/s")
    parser.add_argument("--estates", type=int, default=33)
    parser.add_argument("--faults", type=int, default=500)
    parser.add_argument("--fault-rate", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--dump", default=None, help="CSV file for each fault's send time and latency")
    parser.add_argument(
        "--load",
        choices=("blast", "sim"),
        default="blast",
        help="background load from benchmarks.mqtt_blast (packets encoded once, ~2 µs a message;"
        " default) or from estate-sim load (paho, ~60 µs a message)",
    )
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
