"""End-to-end ingest benchmark: drain a QoS 1 backlog through the whole gateway, beside bare paho.

Run ``python -m benchmarks.ingest_drain`` (``--help`` for the options). A repeatable measurement
that prints figures; it asserts only that every message arrived and every reading was stored.

On a 2-core machine a publisher running beside the gateway takes half the CPU, so the rate is
measured by draining a backlog, as issue 8 asks:

1. real mosquitto (Debian) and real InfluxDB 1.6.7 behind the ``/api/v2/write`` test shim
   (``tests/support/servers.py``; the gateway writes through ``influxdb-client`` as in production);
2. a "city" inventory: the sample estate cloned ``--estates`` times (303 devices each, all six
   kinds, with patrol plans and lamp schedules), so every message is of a registered device and
   the rules run on it;
3. the gateway is started once and stopped, which leaves its persistent session (QoS 1
   subscription) on the broker; a bare paho client makes its own persistent session;
4. ``--messages`` valid payloads of the six kinds (values as ``estate-sim load`` makes them,
   timestamps now, lamps lit by the estate's local hour) are published at QoS 1 while both
   sessions are offline: the broker queues them for both;
5. **ceiling**: the bare paho subscriber (``on_message`` counts, paho acknowledges) connects and
   is timed from connect to its last message;
6. **gateway**: ``estate-gateway run`` starts (InfluxDB as its readings store) and is timed from the
   first message it counted to the last reading written, read from its ``/metrics`` every 50 ms;
   then InfluxDB is asked, with InfluxQL, how many points each measurement holds.

``--profile DIR`` runs ``py-spy`` (if installed) on the gateway during the drain and prints the
functions that took the most samples.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from devices.base import Channel
from devices.loader import load_inventory
from simulators.simple import VALUES, build_payload
from tests.support.gateway import REPO, GatewayProcess
from tests.support.servers import InfluxV1Server, InfluxV2Shim, MosquittoServer

SAMPLE = REPO / "devices" / "samples" / "sunrise.yaml"
INSTANCE = "bench"
BROKER_CONFIG = ("max_inflight_messages 0", "max_queued_messages 0", "max_queued_bytes 0")


class BenchServers:
    """mosquitto (``BROKER_CONFIG`` plus ``extra``), InfluxDB 1.6.7 holding ``database`` and the
    ``/api/v2/write`` shim in front of it, started together; ``close`` stops them all."""

    def __init__(self, work: Path, database: str, extra: Sequence[str] = ()) -> None:
        self.broker = MosquittoServer(work / "mosquitto", extra_config=(*BROKER_CONFIG, *extra))
        self.influx = InfluxV1Server(work / "influxd")
        self.shim = InfluxV2Shim("http://127.0.0.1:1")  # replaced once influxd has its port
        try:
            self.broker.start()
            self.influx.start(timeout=30)
            self.influx.create_database(database)
            self.shim = InfluxV2Shim(self.influx.url)
            self.shim.start()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self.shim.stop()
        self.influx.kill()
        self.broker.kill()


def city_inventory(estates: int, into: Path) -> Path:
    """The sample estate cloned ``estates`` times under ids ``e001``…, as one inventory file."""
    data = yaml.safe_load(SAMPLE.read_text())
    (template,) = data["estates"]
    ids = [f"e{n:03d}" for n in range(estates)]
    data["estates"] = [{**template, "id": i, "name": f"{template['name']} {i}"} for i in ids]
    for crew in data.get("crews", []):
        crew["estates"] = ids
    path = into / "city.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return path


def make_messages(inventory_path: Path, count: int, seed: int) -> tuple[list[tuple[str, bytes]], int]:
    """``count`` (topic, payload) pairs cycling over every device, and how many devices."""
    inventory = load_inventory(inventory_path)
    devices = [(e.id, d.kind, d.id, e.tz) for e in inventory.estates for d in e.devices]
    rng = random.Random(seed)
    order = list(range(len(devices)))
    rng.shuffle(order)
    base = datetime.now(UTC) - timedelta(seconds=count // 1000 + 60)
    out = []
    for n in range(count):
        estate, kind, device, tz = devices[order[n % len(order)]]
        ts = base + timedelta(microseconds=n * 1000)  # distinct per device: no point overwrites another
        channel, values = VALUES[kind](rng, ts.astimezone(tz))
        topic = f"estate/{estate}/{kind.value}/{device}/{channel.value}"
        out.append((topic, build_payload(kind, Channel(channel), values, ts)))
    return out, len(devices)


def publish_all(broker: MosquittoServer, messages: list[tuple[str, bytes]]) -> float:
    """Publish at QoS 1 as fast as the broker acknowledges; seconds taken."""
    acked = 0
    done = threading.Event()

    # At most 1,000 unacknowledged: paho looks through all queued messages at every ack, so
    # queueing 200,000 at once makes the publisher quadratic.
    window = threading.BoundedSemaphore(1000)

    def on_publish(*_: Any) -> None:
        nonlocal acked
        acked += 1
        window.release()
        if acked == len(messages):
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.on_publish = on_publish
    client.connect(broker.host, broker.port)
    client.loop_start()
    start = time.monotonic()
    for n, (topic, payload) in enumerate(messages, 1):
        window.acquire()
        client.publish(topic, payload, qos=1)
        if n % 20_000 == 0:
            print(f"  published {n:,}/{len(messages):,}", flush=True)
    if not done.wait(120):
        raise RuntimeError(f"the broker acknowledged {acked:,} of {len(messages):,} publishes")
    seconds = time.monotonic() - start
    client.disconnect()
    client.loop_stop()
    return seconds


class BareSubscriber:
    """A persistent-session paho subscriber that only counts (paho sends the PUBACKs)."""

    def __init__(self, broker: MosquittoServer, expected: int) -> None:
        self.broker, self.expected = broker, expected
        self.count = 0
        self.done = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare", clean_session=False)
        self.client.on_message = self._on_message

    def _on_message(self, *_: Any) -> None:
        self.count += 1
        if self.count >= self.expected:
            self.done.set()

    def subscribe_and_leave(self) -> None:
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect(self.broker.host, self.broker.port)
        self.client.loop_start()
        self.client.subscribe("estate/+/+/+/+", qos=1)
        if not subscribed.wait(10):
            raise RuntimeError("bare subscriber: no SUBACK")
        self.client.disconnect()
        self.client.loop_stop()

    def drain(self) -> float:
        start = time.monotonic()
        self.client.connect(self.broker.host, self.broker.port)
        self.client.loop_start()
        if not self.done.wait(600):
            raise RuntimeError(f"bare subscriber got {self.count:,} of {self.expected:,}")
        seconds = time.monotonic() - start
        self.client.disconnect()
        self.client.loop_stop()
        return seconds


_METRIC = re.compile(r"^(estate_[a-z_]+?)(?:_total)?(\{[^}]*\})? ([0-9.e+-]+)$", re.M)


def scrape(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", timeout=60).text
    totals: dict[str, float] = collections.defaultdict(float)
    for name, labels, value in _METRIC.findall(text):
        rejected = name == "estate_messages" and 'outcome="stored"' not in labels
        totals["estate_messages_rejected" if rejected else name] += float(value)
    return totals


@dataclass
class GatewayDrain:
    startup_s: float  # process start → first message counted
    drain_s: float  # first message counted → last reading written
    stored: float
    rejected: float
    points: float
    alerts: int
    api_max_s: float  # the longest a /metrics poll waited during the drain
    api_median_s: float
    cpu_s: dict[str, float]  # CPU seconds each process used during the drain


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cpu_by_process(gateways: list[GatewayProcess], others: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by the gateways (their MQTT receivers apart) and ``others``."""
    out: dict[str, float] = collections.defaultdict(float)
    for gateway in gateways:
        if gateway.proc is not None:
            out["gateway"] += cpu_seconds(gateway.proc.pid)
            for child in children(gateway.proc.pid):
                out["receiver"] += cpu_seconds(child)
    for name, pid in others.items():
        out[name] = cpu_seconds(pid)
    return out


def gateway_drain(
    gateways: list[GatewayProcess], expected: int, profile: Path | None, others: dict[str, int]
) -> GatewayDrain:
    """Start the gateways (each owning its estates) and time them draining the backlog together.

    The processes are launched and their ``/metrics`` polled at once: waiting for ``/health``
    first would start the clock late. How long each poll took is kept, which is how long the API
    (the control room's) kept an operator waiting during the drain."""
    spy = None
    start = time.monotonic()
    for gateway in gateways:
        gateway.launch()
    first_proc = gateways[0].proc
    if profile is not None and shutil.which("py-spy") and first_proc is not None:
        cmd = ["py-spy", "record", "--pid", str(first_proc.pid), "--format", "raw", "--rate", "200"]
        spy = subprocess.Popen([*cmd, "--output", str(profile / "gateway.txt"), "--threads"])
    first = last = None
    cpu_first: dict[str, float] = {}
    cpu_last: dict[str, float] = {}
    figures: dict[str, float] = {}
    waits: list[float] = []
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        figures = collections.defaultdict(float)
        try:
            for gateway in gateways:
                asked = time.monotonic()
                for name, value in scrape(gateway.url).items():
                    figures[name] += value
                waits.append(time.monotonic() - asked)
        except httpx.HTTPError:
            if any(g.proc is not None and g.proc.poll() is not None for g in gateways):
                raise RuntimeError("a gateway exited:\n" + gateways[0].log_text()[-3000:]) from None
            time.sleep(0.05)  # not listening yet
            continue
        now = time.monotonic()
        if first is None and figures["estate_messages"] + figures["estate_messages_rejected"] > 0:
            first = now
            cpu_first = cpu_by_process(gateways, others)
        if figures["estate_points_written"] >= expected:
            last = now
            cpu_last = cpu_by_process(gateways, others)
            break
        # Polling a live process's counters, not a test waiting for time: every 50 ms near the
        # start and the end (the two instants timed), every 250 ms between, so that the scraping
        # (the gateway renders its metrics for each) takes little of the CPU being measured.
        near_end = figures["estate_points_written"] >= 0.9 * expected
        time.sleep(0.05 if first is None or near_end else 0.25)
    if spy is not None:
        spy.send_signal(2)
        spy.wait(30)
    if first is None or last is None:
        stored = figures.get("estate_points_written", 0)
        raise RuntimeError(f"the gateway stored {stored:,.0f} of {expected:,}")
    alerts = [a for gateway in gateways for a in gateway.api("/api/alerts", limit=5000)]
    return GatewayDrain(
        first - start,
        last - first,
        figures["estate_messages"],
        figures["estate_messages_rejected"],
        figures["estate_points_written"],
        len(alerts),
        max(waits),
        sorted(waits)[len(waits) // 2],
        {name: cpu_last[name] - cpu_first.get(name, 0.0) for name in cpu_last},
    )


def count_points(influx: InfluxV1Server, db: str) -> dict[str, int]:
    """Points per measurement, with InfluxQL (one field every point of the kind carries)."""
    fields = {"lift": "floor", "water_tank": "level_pct", "access": "door", "light": "on"}
    fields |= {"cctv": "recording", "patrol": "battery_pct"}
    out = {}
    for measurement, field in fields.items():
        rows = influx.query(db, f'SELECT count("{field}") FROM "{measurement}"')
        out[measurement] = int(rows[0]["count"]) if rows else 0  # type: ignore[call-overload]
    return out


def top_functions(raw: Path, limit: int = 25) -> list[tuple[str, float]]:
    """Self-time share per function from py-spy's raw (collapsed) output, pipeline thread first."""
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        total += int(count)
        own[frames[-1]] += int(count)
    return [(frame, 100 * n / total) for frame, n in own.most_common(limit)] if total else []


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-drain-"))
    servers = BenchServers(work, "estate")
    broker, influx, shim = servers.broker, servers.influx, servers.shim
    gateways: list[GatewayProcess] = []
    try:
        city = city_inventory(args.estates, work)
        print(f"preparing {args.messages:,} messages for {args.estates} estates …", flush=True)
        messages, devices = make_messages(city, args.messages, args.seed)
        env = {
            "ESTATE_MQTT_URL": broker.url,
            "ESTATE_INVENTORY": str(city),
            "ESTATE_INSTANCE": INSTANCE,
            "ESTATE_INFLUX_URL": shim.url,
            "ESTATE_INFLUX_TOKEN": "bench",
            "ESTATE_INFLUX_ORG": "bench",
            "ESTATE_INFLUX_BUCKET": "estate",
        }
        env |= dict(kv.split("=", 1) for kv in args.env)
        estate_ids = [f"e{n:03d}" for n in range(args.estates)]
        gateways = []
        for k in range(args.instances):
            own = {} if args.instances == 1 else {"ESTATE_ESTATES": ",".join(estate_ids[k :: args.instances])}
            name = {"ESTATE_INSTANCE": f"{INSTANCE}-{k}"}
            gateways.append(GatewayProcess(work / f"gateway-{k}", env | own | name))
        for gateway in gateways:
            gateway.start(timeout=60)  # makes its persistent session and subscription
            gateway.terminate()
        bare = BareSubscriber(broker, args.messages)
        bare.subscribe_and_leave()
        print(f"publishing {args.messages:,} messages at QoS 1 while both sessions are offline …", flush=True)
        publish_s = publish_all(broker, messages)
        del messages
        print("bare paho subscriber draining …", flush=True)
        bare_s = bare.drain()
        print("gateway draining …", flush=True)
        shim.reset_counters()
        profile = Path(args.profile) if args.profile else None
        if profile is not None:
            profile.mkdir(parents=True, exist_ok=True)
        others = {"mosquitto": broker.pid or 0, "influxd": influx.pid or 0, "shim+poller": os.getpid()}
        drained = gateway_drain(gateways, args.messages, profile, others)
        points = count_points(influx, "estate")
        result: dict[str, Any] = {
            "when": datetime.now(UTC).isoformat(timespec="minutes"),
            "machine": machine(),
            "messages": args.messages,
            "devices": devices,
            "publish_rate": args.messages / publish_s,
            "bare_rate": args.messages / bare_s,
            "gateway_rate": args.messages / drained.drain_s,
            "gateway_startup_s": drained.startup_s,
            "gateway_drain_s": drained.drain_s,
            "stored": drained.stored,
            "rejected": drained.rejected,
            "alerts": drained.alerts,
            "api_max_s": drained.api_max_s,
            "api_median_s": drained.api_median_s,
            "cpu_s": drained.cpu_s,
            "influx_points": points,
            "shim_points": shim.points_forwarded,
            "write_requests": shim.write_requests,
            "env": args.env,
            "instances": args.instances,
        }
        result["ratio"] = result["gateway_rate"] / result["bare_rate"]
        if profile is not None and (profile / "gateway.txt").exists():
            result["profile"] = top_functions(profile / "gateway.txt")
        return result
    finally:
        for gateway in gateways:
            gateway.kill()
        servers.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=200_000, help="backlog size (default 200,000)")
    parser.add_argument("--estates", type=int, default=33, help="sample estates cloned (303 devices each)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        help="gateways splitting the estates (ESTATE_ESTATES)",
    )
    parser.add_argument("--env", action="append", default=[], help="gateway setting: ESTATE_X=value")
    parser.add_argument("--profile", default=None, help="directory for a py-spy profile of the gateway")
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    result = run(args)
    stored_ok = sum(result["influx_points"].values()) == args.messages
    print()
    print(f"machine   {result['machine']}  ·  {result['when']}")
    print(f"backlog   {args.messages:,} QoS 1 messages, 6 kinds, {result['devices']:,} registered devices")
    print(f"publish   {result['publish_rate']:>10,.0f} msg/s (filling the backlog)")
    print(f"bare paho {result['bare_rate']:>10,.0f} msg/s (drain ceiling)")
    print(
        f"gateway ×{args.instances} {result['gateway_rate']:>8,.0f} msg/s = {result['ratio']:.2f} × paho "
        f"(drain {result['gateway_drain_s']:.2f} s, start-up {result['gateway_startup_s']:.2f} s)"
    )
    total = result["gateway_startup_s"] + result["gateway_drain_s"]
    print(f"          {args.messages / total:>10,.0f} msg/s with start-up ({total:.2f} s from process start)")
    points = sum(result["influx_points"].values())
    print(
        f"stored    {result['stored']:,.0f} · rejected {result['rejected']:,.0f}"
        f" · alerts {result['alerts']:,}"
        f" · InfluxDB points {points:,} {'(all)' if stored_ok else '(MISSING SOME)'}"
    )
    requests = result["write_requests"]
    each = result["shim_points"] / max(requests, 1)
    print(f"writes    {requests:,} requests, {each:,.0f} points each on average")
    print(
        f"API       answered /metrics in {result['api_median_s'] * 1000:,.0f} ms (median),"
        f" {result['api_max_s'] * 1000:,.0f} ms at worst, during the drain"
    )
    cpu = " · ".join(f"{name} {seconds:.1f}" for name, seconds in result["cpu_s"].items() if seconds)
    cores = os.cpu_count() or 1
    print(
        f"CPU s     {cpu} = {sum(result['cpu_s'].values()):.1f}"
        f" of {cores} cores × {result['gateway_drain_s']:.1f} s = {cores * result['gateway_drain_s']:.1f}"
    )
    for frame, share in result.get("profile", []):
        print(f"  {share:5.1f} %  {frame}")
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    return 0 if stored_ok else 1


if __name__ == "__main__":
    sys.exit(main())
