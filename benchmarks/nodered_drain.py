"""The drain benchmark's job done by a Node-RED flow, for comparison (issue 8).

Run ``python -m benchmarks.nodered_drain [--messages N]`` after installing Node-RED beside the
repository (not a dependency of the product or its tests)::

    npm install --prefix .bench/node-red node-red@4 node-red-contrib-influxdb

The same backlog as ``benchmarks/ingest_drain.py`` (city inventory, six kinds, QoS 1, published
while the flow's persistent session is offline), the same mosquitto and InfluxDB 1.6.7 behind the
same ``/api/v2/write`` shim. The flow is what a competent Node-RED user would build for the job:

    mqtt in (QoS 1, persistent session, JSON) → function (threshold checks, point per message)
      → join (5,000 points or 200 ms) → influxdb batch (v2 API, ms precision)

It validates nothing, keeps no device state, stores no dead letters and acknowledges each message
on receipt (a crash loses what is in flight); the gateway does all of that. Timed from the first
point the shim forwards to the last.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.ingest_drain import (
    BenchServers,
    city_inventory,
    count_points,
    machine,
    make_messages,
    publish_all,
)
from tests.support.gateway import REPO
from tests.support.servers import MosquittoServer, free_port, wait_until

NODE_RED = REPO / ".bench" / "node-red" / "node_modules" / "node-red" / "red.js"
CLIENT_ID = "nodered-bench"
#: Node ids: hex strings, as Node-RED makes them (a short word may be taken for a reference).
TAB = "f1a0000000000001"
BROKER = "b40c000000000002"
MQTT_IN = "a1b0000000000003"
FUNCTION = "f0c0000000000004"
JOIN = "c0a0000000000005"
INFLUX = "d0b0000000000006"
WRITE = "e0d0000000000007"

THRESHOLDS = r"""
const parts = msg.topic.split('/');
const kind = parts[2], estate = parts[1], device = parts[3];
const p = msg.payload;
if (p === null || typeof p !== 'object') return null;
const fields = {};
for (const k in p) {
  const v = p[k];
  const t = typeof v;
  if (k !== 'ts' && k !== 'type' && (t === 'number' || t === 'boolean' || t === 'string')) fields[k] = v;
}
let alarm = null;
const cl = p.chlorine_mg_l;
if (kind === 'water_tank' && (cl < 0.05 || cl > 4 || p.turbidity_ntu > 1)) alarm = 'water';
else if (kind === 'lift' && p.door === 'open' && p.direction !== 'stop') alarm = 'lift';
else if (kind === 'light' && p.lamp_ok === false) alarm = 'lamp';
else if (kind === 'cctv' && p.recording === false) alarm = 'recording';
if (alarm) node.warn(alarm + ' ' + estate + '/' + device);
if (Object.keys(fields).length === 0) return null;
return {payload: {measurement: kind, tags: {estate: estate, device: device}, fields: fields,
                  timestamp: p.ts ? new Date(p.ts) : new Date()}};
"""


def flow(broker: MosquittoServer, shim_url: str) -> list[dict[str, object]]:
    return [
        {"id": TAB, "type": "tab", "label": "bench"},
        {
            "id": BROKER, "type": "mqtt-broker", "broker": broker.host, "port": str(broker.port),
            "clientid": CLIENT_ID, "usetls": False, "protocolVersion": "4", "keepalive": "60",
            "cleansession": False, "autoConnect": True,
        },
        {
            "id": MQTT_IN, "type": "mqtt in", "z": TAB, "topic": "estate/+/+/+/+", "qos": "1",
            "datatype": "auto-detect", "broker": BROKER, "nl": False, "rap": False, "inputs": 0,
            "wires": [[FUNCTION]],
        },
        {
            "id": FUNCTION, "type": "function", "z": TAB, "func": THRESHOLDS, "outputs": 1,
            "wires": [[JOIN]],
        },
        {
            "id": JOIN, "type": "join", "z": TAB, "mode": "custom", "build": "array",
            "property": "payload", "propertyType": "msg", "key": "topic", "joiner": "\\n",
            "joinerType": "str", "accumulate": False, "timeout": "0.2", "count": "5000",
            "reduceRight": False, "wires": [[WRITE]],
        },
        {
            "id": INFLUX, "type": "influxdb", "influxdbVersion": "2.0", "url": shim_url,
            "rejectUnauthorized": False, "timeout": "10", "hostname": "127.0.0.1", "port": "8086",
            "protocol": "http", "database": "estate", "name": "shim",
        },
        {
            "id": WRITE, "type": "influxdb batch", "z": TAB, "influxdb": INFLUX,
            "precision": "", "retentionPolicy": "", "precisionV18FluxV20": "ms",
            "org": "bench", "bucket": "nodered", "wires": [],
        },
    ]  # fmt: skip


class NodeRed:
    def __init__(self, workdir: Path, broker: MosquittoServer, shim_url: str) -> None:
        self.dir = workdir
        self.port = free_port()
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "flows.json").write_text(json.dumps(flow(broker, shim_url)))
        (self.dir / "flows_cred.json").write_text(json.dumps({INFLUX: {"token": "bench"}}))
        settings = {
            "credentialSecret": False, "flowFile": "flows.json", "uiPort": self.port, "uiHost": "127.0.0.1",
            "httpAdminRoot": False, "logging": {"console": {"level": "error"}},
        }  # fmt: skip
        (self.dir / "settings.js").write_text(f"module.exports = {json.dumps(settings)};\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.dir / "node-red.log", "ab")  # noqa: SIM115 - the child owns it
        cmd = ["node", str(NODE_RED), "--userDir", str(self.dir), "--settings", str(self.dir / "settings.js")]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run(args: argparse.Namespace) -> int:
    if not NODE_RED.exists() or shutil.which("node") is None:
        print(f"Node-RED not found at {NODE_RED}: see this module's docstring", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-nodered-"))
    servers = BenchServers(work, "nodered", extra=("log_type subscribe",))
    broker, influx, shim = servers.broker, servers.influx, servers.shim
    red: NodeRed | None = None
    try:
        city = city_inventory(args.estates, work)
        print(f"preparing {args.messages:,} messages …", flush=True)
        messages, devices = make_messages(city, args.messages, args.seed)
        red = NodeRed(work / "node-red", broker, shim.url)
        red.start()  # once, to make its persistent session and subscription
        wait_until(lambda: f"{CLIENT_ID} 1 estate/+/+/+/+" in broker.log_text(), timeout=60)
        red.kill()  # not stop(): on a clean stop Node-RED unsubscribes, and nothing would be queued
        print(f"publishing {args.messages:,} messages at QoS 1 while the flow is offline …", flush=True)
        publish_all(broker, messages)
        del messages
        shim.reset_counters()
        print("Node-RED draining …", flush=True)
        started = time.monotonic()
        red.start()
        first = last = None
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            forwarded = shim.points_forwarded
            now = time.monotonic()
            if first is None and forwarded > 0:
                first = now
            if forwarded >= args.messages:
                last = now
                break
            time.sleep(0.05)  # polling a live process's progress, not a test waiting for time
        if first is None or last is None:
            print(
                f"Node-RED stored {shim.points_forwarded:,} of {args.messages:,} in 30 min", file=sys.stderr
            )
            return 1
        points = count_points(influx, "nodered")
        total = last - started
        print()
        print(f"machine   {machine()}")
        print(f"backlog   {args.messages:,} QoS 1 messages, 6 kinds, {devices:,} devices")
        # Node-RED takes in the whole backlog before its first batch reaches InfluxDB, so the rate
        # is over the whole run, start-up included (compare the gateway's "with start-up" figure).
        print(
            f"node-red  {args.messages / total:>10,.0f} msg/s with start-up ({total:.2f} s;"
            f" first point after {first - started:.2f} s)"
        )
        print(f"stored    InfluxDB points {sum(points.values()):,}")
        return 0
    finally:
        if red is not None:
            red.stop()
        servers.close()
        if not os.environ.get("KEEP_BENCH"):
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--estates", type=int, default=33)
    parser.add_argument("--seed", type=int, default=1)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
