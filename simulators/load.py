"""``estate-sim load``: sustained, paced MQTT load for the benchmarks (docs/contract.md §10).

Devices of all six kinds take turns; each message is a valid payload built through the
``devices`` models (so the gateway stores it), sent at QoS 1. The summary says how many were
sent, how many the broker acknowledged, and the rate achieved.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devices.base import Channel, Kind
from devices.inventory import Inventory
from simulators.simple import VALUES, build_payload

#: How often the pacing loop looks at the clock (messages per burst at most).
BURST = 200


@dataclass(frozen=True)
class LoadSummary:
    sent: int
    acknowledged: int
    seconds: float

    @property
    def rate(self) -> float:
        """Acknowledged messages per second, from the first publish to the last ack."""
        return self.acknowledged / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        return (
            f"sent {self.sent:,} · acknowledged {self.acknowledged:,} · "
            f"{self.seconds:.1f} s · {self.rate:,.0f} msg/s achieved"
        )


def load_devices(
    count: int, inventory: Inventory | None = None, estate: str = "load"
) -> list[tuple[str, Kind, str]]:
    """(estate, kind, device) for ``count`` devices: the inventory's first ones (so rules run on
    them), else synthetic ids across the six kinds (listed as unregistered by the gateway)."""
    if inventory is not None:
        known = [(e.id, d.kind, d.id) for e in inventory.estates for d in e.devices]
        if known:
            return [known[i % len(known)] for i in range(count)]
    kinds = list(Kind)
    return [(estate, kinds[i % len(kinds)], f"{kinds[i % len(kinds)].value}-{i}") for i in range(count)]


def _messages(devices: list[tuple[str, Kind, str]], seed: int) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(seed)
    for estate, kind, device in itertools.cycle(devices):
        channel, values = VALUES[kind](rng, datetime.now(UTC))
        topic = f"estate/{estate}/{kind.value}/{device}/{channel.value}"
        yield topic, build_payload(kind, Channel(channel), values, datetime.now(UTC))


def run_load(
    host: str,
    port: int,
    *,
    devices: list[tuple[str, Kind, str]],
    rate: float,
    duration_s: float,
    seed: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> LoadSummary:
    """Publish ``rate`` messages a second for ``duration_s`` seconds; wait for the acks (10 s
    at most), calling ``progress(sent, total)`` as it goes."""
    total = int(rate * duration_s)
    acked = 0
    lock = threading.Lock()
    done = threading.Event()

    def on_publish(*_: object) -> None:
        nonlocal acked
        with lock:
            acked += 1
            if acked >= total:
                done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"estate-sim-load-{seed}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.on_publish = on_publish
    client.connect(host, port)
    client.loop_start()
    sent = 0
    start = time.monotonic()
    try:
        for topic, payload in _messages(devices, seed):
            if sent >= total:
                break
            client.publish(topic, payload, qos=1)
            sent += 1
            if sent % BURST == 0:
                ahead = sent / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)  # pacing a real load generator, not a test waiting for time
                if progress is not None:
                    progress(sent, total)
        if total:
            done.wait(timeout=10.0 + duration_s)
        elapsed = time.monotonic() - start  # until the last acknowledgement
    finally:
        client.disconnect()
        client.loop_stop()
    if progress is not None:
        progress(sent, total)
    with lock:
        return LoadSummary(sent, acked, elapsed)
