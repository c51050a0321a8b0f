"""The MQTT side alone: how fast a QoS 1 backlog is taken in and acknowledged, and at what CPU.

Run ``python -m benchmarks.receiver_drain [--messages N]``. A measurement that prints figures.

Real mosquitto (``max_inflight_messages 0``); ``N`` QoS 1 messages are queued for three persistent
sessions while they are offline, then each drains its copy in turn:

* **bare paho**: stock paho-mqtt, ``on_message`` counts and paho acknowledges (the ceiling
  ``ingest_drain`` compares the gateway with);
* **stock paho, acks by hand**: the gateway's ``MqttClient`` over stock ``paho.mqtt.client.Client``
  (as before read-ahead): every message handed off, acknowledged after it is taken, one ``ack()``
  each;
* **gateway**: the gateway's ``MqttClient`` as it is (paho reading ahead, a batch acknowledged in
  one write; ``gateway/mqtt.py``).

CPU is this process's (user + system) over the drain, per message.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt

import gateway.mqtt as gateway_mqtt
from benchmarks.ingest_drain import BareSubscriber, machine, publish_all
from tests.support.servers import MosquittoServer

TOPIC = "estate/+/+/+/+"
PAYLOAD = (
    b'{"level_pct": 59.7, "chlorine_mg_l": 0.724, "turbidity_ntu": 0.406, "ts": "2026-12-04T15:02:29+00:00"}'
)


class _StockPaho(mqtt.Client):
    """Stock paho, acknowledging as the gateway did before: one ``ack()`` a message."""

    def ack_many(self, mids: list[int]) -> None:
        for mid in mids:
            self.ack(mid, 1)


def client(broker: MosquittoServer, instance: str, stock: bool) -> gateway_mqtt.MqttClient:
    """The gateway's MqttClient; over stock paho when ``stock``."""
    paho_class = gateway_mqtt._Paho
    if stock:
        gateway_mqtt._Paho = _StockPaho  # type: ignore[misc, assignment]
    try:
        return gateway_mqtt.MqttClient(broker.url, instance, [TOPIC], queue_size=20_000)
    finally:
        gateway_mqtt._Paho = paho_class  # type: ignore[misc]


def drain_gateway(make: Callable[[], gateway_mqtt.MqttClient], count: int) -> tuple[float, float]:
    """Seconds and CPU seconds to take and acknowledge ``count`` messages."""
    receiver = make()
    got = 0
    start, cpu = time.monotonic(), time.process_time()
    receiver.start()
    while got < count:
        items = receiver.get_batch(1_000, 10.0)
        if not items:
            raise RuntimeError(f"got {got:,} of {count:,}")
        got += len(items)
        receiver.ack(items)
    seconds, cpu = time.monotonic() - start, time.process_time() - cpu
    receiver.stop()
    return seconds, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args(argv)
    count = args.messages
    broker = MosquittoServer(
        Path(tempfile.mkdtemp(prefix="bench-receiver-")), extra_config=["max_inflight_messages 0"]
    )
    broker.start()
    try:
        for instance, stock in (("stock", True), ("gateway", False)):  # sessions and subscriptions
            made = client(broker, instance, stock)
            made.start()
            if not made.wait_connected(10):
                raise RuntimeError("no connection to mosquitto")
            made.stop()
        bare = BareSubscriber(broker, count)
        bare.subscribe_and_leave()
        messages = [(f"estate/e{n % 33}/water_tank/T{n % 300}/telemetry", PAYLOAD) for n in range(count)]
        publish_all(broker, messages)
        cpu = time.process_time()
        bare_s = bare.drain()
        rows = [("bare paho (acks itself)", bare_s, time.process_time() - cpu)]
        rows.append(
            ("stock paho, acks by hand", *drain_gateway(lambda: client(broker, "stock", True), count))
        )
        rows.append(("gateway MqttClient", *drain_gateway(lambda: client(broker, "gateway", False), count)))
    finally:
        broker.stop()
    print()
    print(f"machine   {machine()}")
    print(f"backlog   {count:,} QoS 1 messages of {len(PAYLOAD)} bytes")
    for name, seconds, cpu in rows:
        print(f"{name:<26} {count / seconds:>9,.0f} msg/s   {1e6 * cpu / count:5.1f} µs CPU a message")
    return 0


if __name__ == "__main__":
    sys.exit(main())
