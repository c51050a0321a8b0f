"""MQTT in a process of its own (gateway.receiver) against real mosquitto: order, acknowledgement
only on the pipeline's word, a bounded hand-off, status and last will, and no orphan when the
gateway dies."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.mqtt import Inbound
from gateway.receiver import ProcessReceiver
from tests.support.gateway import REPO, Publisher, TopicWatcher
from tests.support.servers import MosquittoServer, wait_until

pytestmark = pytest.mark.integration
TOPIC = "estate/+/+/+/telemetry"


@pytest.fixture
def receiver(mosquitto: MosquittoServer) -> Iterator[ProcessReceiver]:
    r = ProcessReceiver(mosquitto.url, "t-proc", [TOPIC], queue_size=100, batch_size=50)
    yield r
    r.stop()


def send(broker: MosquittoServer, count: int, start: int = 0) -> None:
    publisher = Publisher(broker.host, broker.port, client_id=f"devices-{start}")
    try:
        for n in range(start, start + count):
            publisher.send(f"estate/e/lift/L{n}/telemetry", {"n": n})
        publisher.wait_all_acked()
    finally:
        publisher.close()


def take(receiver: ProcessReceiver, count: int, *, ack: bool = True) -> list[Inbound]:
    got: list[Inbound] = []
    while len(got) < count and (batch := receiver.get_batch(1_000, timeout_s=10)):
        assert receiver.depth <= 100, "the hand-off holds more than its bound"
        if ack:
            receiver.ack(batch)
        got.extend(batch)
    return got


def numbers(items: list[Inbound]) -> list[int]:
    return [json.loads(i.payload)["n"] for i in items]


@pytest.fixture
def open_broker(tmp_path: Path) -> Iterator[MosquittoServer]:
    """mosquitto sending a session everything it has, not 20 unacknowledged at a time."""
    server = MosquittoServer(tmp_path / "open-broker", extra_config=("max_inflight_messages 0",))
    server.start()
    yield server
    server.kill()


def test_messages_arrive_in_order_through_a_bounded_hand_off(open_broker: MosquittoServer) -> None:
    waits = threading.Semaphore(0)
    receiver = ProcessReceiver(
        open_broker.url, "t-proc", [TOPIC], queue_size=100, batch_size=50, on_overflow=waits.release
    )
    receiver.start()
    try:
        assert receiver.wait_connected(15)
        # More than the gateway's bound, the pipe's buffer and the child's queue together: with
        # nothing taken, paho in the child has to wait (and says so with the next batch).
        send(open_broker, 3_000)
        wait_until(lambda: receiver.depth >= 100, timeout=15)
        got = take(receiver, 3_000)  # and the hand-off never held more than its bound
        assert numbers(got) == list(range(3_000))
        # Each its own receive time, in order (a reading without ts is stored at it).
        stamps = [i.received_ns for i in got]
        assert all(a < b for a, b in itertools.pairwise(stamps))
        assert [i.topic for i in got[:2]] == ["estate/e/lift/L0/telemetry", "estate/e/lift/L1/telemetry"]
        assert all(i.qos == 1 for i in got)
        assert waits.acquire(timeout=0), "paho never waited: the hand-off is not bounded"
    finally:
        receiver.stop()


def test_what_was_not_acknowledged_comes_again_to_the_next_start(mosquitto: MosquittoServer) -> None:
    first = ProcessReceiver(mosquitto.url, "t-redeliver", [TOPIC], queue_size=100, batch_size=50)
    first.start()
    try:
        assert first.wait_connected(15)
        send(mosquitto, 30)
        taken = take(first, 30, ack=False)
        first.ack(taken[:10])
        assert numbers(taken) == list(range(30))
    finally:
        first.stop()
    again = ProcessReceiver(mosquitto.url, "t-redeliver", [TOPIC], queue_size=100, batch_size=50)
    again.start()
    try:
        assert again.wait_connected(15)
        assert numbers(take(again, 20)) == list(range(10, 30))
        assert again.get_batch(10, timeout_s=0.5) == []  # the acknowledged ten do not come again
    finally:
        again.stop()


def test_status_online_then_offline_and_publishes_go_out(
    receiver: ProcessReceiver, mosquitto: MosquittoServer
) -> None:
    watcher = TopicWatcher(mosquitto, "gateway/t-proc/#")
    try:
        receiver.start()
        assert receiver.wait_connected(15)
        wait_until(lambda: b"online" in watcher.payloads(), timeout=10)
        receiver.publish("gateway/t-proc/alerts", b'{"id": 1}', qos=1)
        wait_until(lambda: b'{"id": 1}' in watcher.payloads(), timeout=10)
        receiver.stop()
        assert not receiver.connected
        wait_until(lambda: watcher.payloads()[-1:] == [b"offline"], timeout=10)
    finally:
        watcher.close()


@pytest.mark.expect_errors
def test_a_receiver_that_dies_is_reported_and_the_broker_sends_its_will(
    receiver: ProcessReceiver, mosquitto: MosquittoServer
) -> None:
    watcher = TopicWatcher(mosquitto, "gateway/t-proc/status")
    try:
        receiver.start()
        assert receiver.wait_connected(15)
        receiver._process.kill()
        wait_until(lambda: not receiver.connected, timeout=10)
        wait_until(lambda: watcher.payloads()[-1:] == [b"offline"], timeout=10, message="no last will")
    finally:
        watcher.close()


CRASHING_GATEWAY = """
import os, sys
from gateway.receiver import ProcessReceiver
r = ProcessReceiver(sys.argv[1], "t-orphan", ["estate/+/+/+/telemetry"], queue_size=100)
r.start()
assert r.wait_connected(15)
print(r._process.pid, flush=True)
os._exit(3)  # no stop(): a gateway killed or crashed
"""


def test_a_gateway_that_dies_leaves_no_receiver_behind(mosquitto: MosquittoServer) -> None:
    """An orphan would hold the session under the gateway's client id and fight the next start
    for it; it must end with the gateway, without a clean disconnect (the broker sends the will)."""
    watcher = TopicWatcher(mosquitto, "gateway/t-orphan/status")
    try:
        run = subprocess.run(
            [sys.executable, "-c", CRASHING_GATEWAY, mosquitto.url],
            check=False,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 3, run.stderr
        child = int(run.stdout.split()[-1])

        def gone() -> bool:
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                return True
            # A zombie (exited, its parent gone, not reaped yet) is gone too.
            try:
                with open(f"/proc/{child}/stat") as stat:
                    return stat.read().split(") ", 1)[1].startswith("Z")
            except FileNotFoundError:
                return True

        wait_until(gone, timeout=15, message="the receiver outlived its gateway")
        wait_until(lambda: watcher.payloads()[-1:] == [b"offline"], timeout=10, message="no last will")
    finally:
        watcher.close()


def test_a_batch_is_stamped_on_the_gateways_clock_strictly_increasing() -> None:
    """The child's receive times give the spacing, the gateway's clock the time; stamps never
    repeat, within a batch or across batches, even when a clock stands still."""
    receiver = ProcessReceiver(
        "mqtt://127.0.0.1:1", "t-stamp", [TOPIC], queue_size=10, clock_ns=lambda: 1_000
    )
    first = receiver._stamped([("t", b"", 500, 1, 1), ("t", b"", 500, 2, 1), ("t", b"", 700, 3, 1)])
    assert [i.received_ns for i in first] == [800, 801, 1_000]
    again = receiver._stamped([("t", b"", 900, 4, 1), ("t", b"", 905, 5, 1)])
    assert [i.received_ns for i in again] == [1_001, 1_002]
    assert [i.mid for i in first + again] == [1, 2, 3, 4, 5]
