"""``estate-sim load``: paced QoS 1 load whose every message the gateway would accept."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devices.base import Kind
from devices.loader import load_inventory
from gateway.ingest import Rejection, decode
from gateway.state import DeviceRegistry
from simulators.load import load_devices, run_load
from tests.support.gateway import REPO, SPEC_EXAMPLE
from tests.support.servers import MosquittoServer, wait_until


def test_load_devices_cycle_the_inventory_or_make_up_ids() -> None:
    inventory = load_inventory(SPEC_EXAMPLE)
    picked = load_devices(10, inventory)
    assert picked[:8] == [("sunrise", d.kind, d.id) for d in inventory.estates[0].devices]
    assert picked[8:] == picked[:2]
    synthetic = load_devices(7)
    assert [k for _, k, _ in synthetic[:6]] == list(Kind) and synthetic[6][2] == "lift-6"


def test_load_sends_acknowledged_valid_messages(mosquitto: MosquittoServer) -> None:
    received: list[tuple[str, bytes]] = []
    lock = threading.Lock()
    listener = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="load-listener")
    subscribed = threading.Event()
    listener.on_subscribe = lambda *_: subscribed.set()

    def keep(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        with lock:
            received.append((msg.topic, msg.payload))

    listener.on_message = keep
    listener.connect(mosquitto.host, mosquitto.port)
    listener.subscribe("estate/#", qos=1)
    listener.loop_start()
    assert subscribed.wait(10)
    seen: list[tuple[int, int]] = []
    try:
        summary = run_load(
            mosquitto.host,
            mosquitto.port,
            devices=load_devices(12),
            rate=2000,
            duration_s=0.5,
            progress=lambda sent, total: seen.append((sent, total)),
        )
        assert (summary.sent, summary.acknowledged) == (1000, 1000)
        assert seen[-1] == (1000, 1000) and summary.rate > 0
        wait_until(lambda: len(received) == 1000, timeout=10)
    finally:
        listener.disconnect()
        listener.loop_stop()
    registry = DeviceRegistry()
    now_ns = time.time_ns()
    for topic, payload in received:
        result = decode(topic, payload, now_ns, registry.lookup)
        assert not isinstance(result, Rejection), result


LOAD_ARGS = ["--devices", "30", "--rate", "1000", "--duration", "0.5"]


def test_the_load_command_prints_its_summary(mosquitto: MosquittoServer) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simulators.cli", "load", "--broker", mosquitto.url, *LOAD_ARGS],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert "sent 500 · acknowledged 500" in result.stdout
