"""The ingest loop with typed fakes: order, acknowledgement after storage, bad input, backpressure,
device state and staleness on an injected clock."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from devices.base import Reading
from devices.clock import ManualClock, to_ns
from devices.loader import load_inventory
from gateway.db import make_engine
from gateway.deadletters import DeadLetterStore
from gateway.metrics import GatewayMetrics
from gateway.mqtt import Inbound, QueueSource
from gateway.pipeline import Pipeline
from gateway.sinks import MemorySink
from gateway.state import DeviceRegistry, DeviceStatus
from tests.support.gateway import SPEC_EXAMPLE
from tests.support.servers import wait_until


class FailingSink(MemorySink):
    """Fails the first ``failures`` writes, as a database that is briefly gone would."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def write(self, readings: Sequence[Reading]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise OSError("disk full")
        super().write(readings)


class Rig:
    def __init__(
        self,
        tmp_path: Path,
        sink: MemorySink | None = None,
        queue_size: int = 1000,
        *,
        max_unregistered: int = 1000,
        store_unregistered: bool = False,
        checkpoints: dict[str, frozenset[str]] | None = None,
    ) -> None:
        self.clock = ManualClock()
        self.metrics = GatewayMetrics()
        self.source = QueueSource(queue_size, self.metrics.queue_overflow.inc)
        self.registry = DeviceRegistry(load_inventory(SPEC_EXAMPLE), max_unregistered=max_unregistered)
        self.sink = sink or MemorySink()
        self.dead = DeadLetterStore(make_engine(f"sqlite:///{tmp_path / 'ops.db'}"))
        self.pipeline = Pipeline(
            self.source,
            self.registry,
            self.sink,
            self.dead,
            self.metrics,
            idle_s=0.01,
            retry_s=0.0,
            store_unregistered=store_unregistered,
            checkpoints=checkpoints,
        )
        self.mid = 0

    def put(self, topic: str, payload: bytes | dict[str, object]) -> Inbound:
        self.mid += 1
        body = json.dumps(payload).encode() if isinstance(payload, dict) else payload
        item = Inbound(topic, body, to_ns(self.clock.now()), self.mid, 1)
        self.source.put(item)
        return item

    def now_ns(self) -> int:
        return to_ns(self.clock.now())

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


def test_batch_is_stored_in_order_then_acknowledged(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    for floor in range(5):
        rig.put("estate/sunrise/lift/L1/telemetry", {"floor": floor})
    rig.put("estate/sunrise/lift/L1/telemetry", b"garbage")
    assert rig.pipeline.run_once() == 6
    assert [r.fields["floor"] for r in rig.sink.readings] == [0, 1, 2, 3, 4]
    assert rig.source.acked == [1, 2, 3, 4, 5, 6]  # the bad one too: it is kept as a dead letter
    assert rig.dead.counts() == {"malformed_json": 1}
    assert rig.sample("estate_messages_total", kind="lift", outcome="stored") == 5


@pytest.mark.expect_errors
def test_storage_failure_keeps_the_batch_unacknowledged_until_it_lands(tmp_path: Path) -> None:
    rig = Rig(tmp_path, sink=FailingSink(failures=2))
    rig.put("estate/sunrise/lift/L1/telemetry", {"floor": 3})
    rig.pipeline.run_once()
    assert rig.pipeline.errors == 2
    assert [r.fields["floor"] for r in rig.sink.readings] == [3]
    assert rig.source.acked == [1]


@pytest.mark.expect_errors
def test_stopping_while_storage_fails_leaves_the_batch_unacknowledged(tmp_path: Path) -> None:
    rig = Rig(tmp_path, sink=FailingSink(failures=10**6))
    rig.put("estate/sunrise/lift/L1/telemetry", {"floor": 3})
    rig.pipeline.stop()  # never started: only sets the flag
    rig.pipeline.run_once()
    assert rig.source.acked == []  # the broker will redeliver it to the next start


def test_full_queue_waits_and_counts_instead_of_dropping(tmp_path: Path) -> None:
    rig = Rig(tmp_path, queue_size=10)
    producer = threading.Thread(
        target=lambda: [rig.put("estate/sunrise/lift/L1/telemetry", {"floor": i % 9}) for i in range(50)]
    )
    producer.start()
    wait_until(lambda: rig.sample("estate_queue_overflow_total") >= 1, timeout=5)
    assert producer.is_alive()  # blocked on the full queue, not dropping
    while producer.is_alive() or rig.source.depth:
        rig.pipeline.run_once()
    producer.join()
    assert len(rig.sink.readings) == 50
    assert rig.source.acked == list(range(1, 51))


def test_bare_heartbeat_is_life_not_a_point(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.put("estate/sunrise/lift/L1/heartbeat", {})
    rig.pipeline.run_once()
    assert rig.sink.readings == []
    state = rig.registry.get("sunrise", "L1")
    assert state is not None
    assert state.status(rig.now_ns()) is DeviceStatus.ONLINE


def test_device_goes_offline_after_three_heartbeats_of_silence(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    l1 = rig.registry.get("sunrise", "L1")
    assert l1 is not None
    assert l1.status(rig.now_ns()) is DeviceStatus.UNKNOWN  # never heard from
    rig.put("estate/sunrise/lift/L1/telemetry", {"floor": 2})
    rig.pipeline.run_once()
    rig.clock.advance(timedelta(seconds=180))  # heartbeat_s 60 in the SPEC example: 3 × 60 s
    assert l1.status(rig.now_ns()) is DeviceStatus.ONLINE
    rig.clock.advance(timedelta(seconds=1))
    assert l1.status(rig.now_ns()) is DeviceStatus.OFFLINE
    assert rig.registry.list(rig.now_ns(), status=DeviceStatus.OFFLINE)[0].id == "L1"


def test_last_will_offline_then_any_message_brings_it_back(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.put("estate/sunrise/lift/L1/status", b"offline")
    rig.pipeline.run_once()
    l1 = rig.registry.get("sunrise", "L1")
    assert l1 is not None
    assert l1.status(rig.now_ns()) is DeviceStatus.OFFLINE
    rig.put("estate/sunrise/lift/L1/heartbeat", {})
    rig.pipeline.run_once()
    assert l1.status(rig.now_ns()) is DeviceStatus.ONLINE


def test_latest_values_are_not_overwritten_by_an_older_reading(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    now_ms = rig.now_ns() // 1_000_000
    rig.put("estate/sunrise/water_tank/T1/telemetry", {"ph": 7.1, "ts": now_ms})
    rig.put("estate/sunrise/water_tank/T1/telemetry", {"ph": 6.0, "level_pct": 50.0, "ts": now_ms - 60_000})
    rig.pipeline.run_once()
    t1 = rig.registry.get("sunrise", "T1")
    assert t1 is not None
    assert t1.latest == {"ph": 7.1}
    assert len(rig.sink.readings) == 2  # both stored: history keeps the late one


def test_unregistered_device_is_tracked_and_listed(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.put("estate/elsewhere/light/LX/telemetry", {"on": True})
    rig.pipeline.run_once()
    [state] = rig.registry.list(rig.now_ns(), status=DeviceStatus.UNREGISTERED)
    assert (state.estate, state.id, state.kind.value, state.latest) == (
        "elsewhere",
        "LX",
        "light",
        {"on": True},
    )


def test_an_unregistered_device_is_not_stored_unless_asked(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.put("estate/elsewhere/light/LX/telemetry", {"on": True})
    rig.put("estate/sunrise/lift/L1/telemetry", {"floor": 2})
    rig.pipeline.run_once()
    assert [r.device for r in rig.sink.readings] == ["L1"]  # no new series for a made-up id
    assert rig.sample("estate_messages_total", kind="light", outcome="unregistered") == 1
    assert rig.sample("estate_messages_total", kind="light", outcome="stored") == 0
    assert rig.source.acked == [1, 2] and rig.dead.counts() == {}

    asked = Rig(tmp_path / "asked", store_unregistered=True)
    asked.put("estate/elsewhere/light/LX/telemetry", {"on": True})
    asked.pipeline.run_once()
    assert [r.device for r in asked.sink.readings] == ["LX"]
    assert asked.sample("estate_messages_total", kind="light", outcome="stored") == 1


def test_unregistered_devices_beyond_the_cap_are_dead_lettered_per_estate(tmp_path: Path) -> None:
    rig = Rig(tmp_path, max_unregistered=3)
    for n in range(5):
        rig.put(f"estate/elsewhere/light/X{n}/telemetry", {"on": True})
    rig.put("estate/elsewhere/light/X0/telemetry", {"on": False})  # one already tracked goes on
    rig.put("estate/other/light/Y0/telemetry", {"on": True})  # another estate has its own cap
    rig.put("estate/sunrise/lift/L1/telemetry", {"floor": 1})  # registered devices are never capped
    rig.pipeline.run_once()
    tracked = rig.registry.list(rig.now_ns(), status=DeviceStatus.UNREGISTERED)
    assert sorted((d.estate, d.id) for d in tracked) == [
        ("elsewhere", "X0"),
        ("elsewhere", "X1"),
        ("elsewhere", "X2"),
        ("other", "Y0"),
    ]
    assert rig.registry.latest("elsewhere", "X0") == {"on": False}
    assert rig.dead.counts() == {"unregistered_overflow": 2}
    [last, first] = rig.dead.list(limit=10)
    assert (first.topic, last.topic) == (
        "estate/elsewhere/light/X3/telemetry",
        "estate/elsewhere/light/X4/telemetry",
    )
    assert "ESTATE_UNREGISTERED_MAX" in last.detail
    assert rig.source.acked == list(range(1, 9))


def test_silent_unregistered_devices_are_forgotten_and_make_room(tmp_path: Path) -> None:
    rig = Rig(tmp_path, max_unregistered=2)
    rig.put("estate/elsewhere/light/X0/telemetry", {"on": True})
    rig.clock.advance(timedelta(days=3))
    rig.put("estate/elsewhere/light/X1/telemetry", {"on": True})
    rig.pipeline.run_once()
    cutoff = rig.now_ns() - 86_400 * 10**9
    assert rig.registry.forget_unregistered(cutoff, chunk=1) == 1
    assert rig.registry.get("elsewhere", "X0") is None and rig.registry.get("elsewhere", "X1") is not None
    assert rig.registry.get("sunrise", "L1") is not None  # the inventory's devices stay, heard or not
    rig.put("estate/elsewhere/light/X2/telemetry", {"on": True})
    rig.pipeline.run_once()
    assert rig.registry.unregistered_count("elsewhere") == 2 and rig.dead.counts() == {}


def test_a_scan_of_an_unknown_checkpoint_is_a_dead_letter_not_a_reading(tmp_path: Path) -> None:
    rig = Rig(tmp_path, checkpoints={"sunrise": frozenset({"CP1", "CP2"})})
    rig.put("estate/sunrise/patrol/H1/event", {"type": "scan", "checkpoint": "CP9", "guards": ["G1"]})
    rig.put("estate/sunrise/patrol/H1/event", {"type": "scan", "checkpoint": "CP1", "guards": ["G1"]})
    rig.put("estate/elsewhere/patrol/H7/event", {"type": "scan", "checkpoint": "CP9", "guards": ["G1"]})
    rig.pipeline.run_once()
    assert [(r.estate, r.fields["checkpoint"]) for r in rig.sink.readings] == [("sunrise", "CP1")]
    assert rig.dead.counts() == {"unknown_reference": 1}
    [letter] = rig.dead.list(limit=10)
    assert "CP9" in letter.detail and letter.topic == "estate/sunrise/patrol/H1/event"
    assert rig.registry.get("sunrise", "H1") is not None  # the handset was heard all the same


@pytest.mark.parametrize(
    "topic",
    [
        "estate",
        "estate/sunrise",
        "estate/sunrise/lift",
        "estate/sunrise/lift/L1",
        "estate/s/lift/L1/telemetry/x",
    ],
)
def test_a_topic_of_the_wrong_shape_is_a_dead_letter_bad_topic(tmp_path: Path, topic: str) -> None:
    rig = Rig(tmp_path)
    rig.put(topic, {"floor": 1})
    rig.pipeline.run_once()
    assert rig.dead.counts() == {"bad_topic": 1} and rig.source.acked == [1]
    assert rig.sample("estate_dead_letters_total", reason="bad_topic") == 1


def test_the_gateways_own_alert_messages_are_let_go(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.put("estate/sunrise/alerts", {"id": 1, "state": "active"})
    rig.pipeline.run_once()
    assert rig.dead.counts() == {} and rig.sink.readings == [] and rig.source.acked == [1]


@pytest.mark.parametrize("channel", ["telemetry", "event", "heartbeat", "status"])
def test_every_channel_counts_as_a_sign_of_life(tmp_path: Path, channel: str) -> None:
    rig = Rig(tmp_path)
    payload: dict[str, object] | bytes = {
        "telemetry": {"door": "closed"},
        "event": {"type": "granted"},
        "heartbeat": {},
        "status": b"online",
    }[channel]
    rig.put(f"estate/sunrise/access/D1/{channel}", payload)
    rig.pipeline.run_once()
    d1 = rig.registry.get("sunrise", "D1")
    assert d1 is not None
    assert d1.last_seen_ns == rig.now_ns()


def test_the_oldest_message_the_rules_have_not_seen(tmp_path: Path) -> None:
    """What the alarm ticker waits on: queued or in hand before the rules, not after them."""
    seen_during_consume: list[int | None] = []

    class Watching:
        def consume(self, readings: Sequence[Reading]) -> None:
            seen_during_consume.append(rig.pipeline.oldest_unseen_ns())

    class SlowSink(MemorySink):
        def write(self, readings: Sequence[Reading]) -> None:
            # The rules have seen this batch; what the disk holds up is only the next one.
            seen_during_write.append(rig.pipeline.oldest_unseen_ns())
            super().write(readings)

    seen_during_write: list[int | None] = []
    rig = Rig(tmp_path, SlowSink())
    rig.pipeline = Pipeline(
        rig.source, rig.registry, rig.sink, rig.dead, rig.metrics, batch_size=2, consumers=[Watching()]
    )
    assert rig.pipeline.oldest_unseen_ns() is None
    first = rig.put("estate/sunrise/lift/L1/telemetry", {"floor": 1})
    rig.clock.advance(timedelta(seconds=1))
    rig.put("estate/sunrise/lift/L1/telemetry", {"floor": 2})
    rig.clock.advance(timedelta(seconds=1))
    third = rig.put("estate/sunrise/lift/L1/telemetry", {"floor": 3})
    assert rig.pipeline.oldest_unseen_ns() == first.received_ns
    assert rig.pipeline.run_once() == 2
    assert seen_during_consume == [first.received_ns]  # the batch in hand
    assert seen_during_write == [third.received_ns]  # the queue's head
    assert rig.pipeline.oldest_unseen_ns() == third.received_ns
    assert rig.pipeline.run_once() == 1
    assert rig.pipeline.oldest_unseen_ns() is None


class GatedSink(MemorySink):
    """A store that answers only when the test says so (InfluxDB taking its time), and can fail."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Semaphore(0)
        self.answer = threading.Semaphore(0)
        self.fail = False
        self.writes: list[list[object]] = []  # the floors of each write

    def write(self, readings: Sequence[Reading]) -> None:
        self.writes.append([r.fields["floor"] for r in readings])
        self.entered.release()
        assert self.answer.acquire(timeout=10), "the test never let the write finish"
        if self.fail:
            raise OSError("database gone")
        super().write(readings)


class Rules:
    def __init__(self) -> None:
        self.seen: list[int] = []

    def consume(self, readings: Sequence[Reading]) -> None:
        self.seen.extend(int(r.fields["floor"]) for r in readings)


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[tuple[Rig, GatedSink, Rules]]:
    """A running pipeline (its writer thread too) in front of a store that answers when told."""
    sink, rules = GatedSink(), Rules()
    rig = Rig(tmp_path, sink)
    rig.pipeline = Pipeline(
        rig.source, rig.registry, sink, rig.dead, rig.metrics, idle_s=0.01, retry_s=0.0, consumers=[rules]
    )
    yield rig, sink, rules
    sink.answer.release(10)
    rig.pipeline.stop()


def stored_in_order(rig: Rig, sink: GatedSink, first: Inbound, second: Inbound) -> None:
    wait_until(lambda: rig.source.acked == [first.mid, second.mid], timeout=10)
    assert [r.fields["floor"] for r in sink.readings] == [1, 2]


def two_batches_in_flight(rig: Rig, sink: GatedSink, rules: Rules) -> tuple[Inbound, Inbound]:
    """Start the pipeline; batch 1 is being written while batch 2 is processed."""
    first = rig.put("estate/sunrise/lift/L1/telemetry", {"floor": 1})
    rig.pipeline.start()
    assert sink.entered.acquire(timeout=10)  # batch 1 is being written
    second = rig.put("estate/sunrise/lift/L1/telemetry", {"floor": 2})
    wait_until(lambda: rules.seen == [1, 2], timeout=10, message="batch 2 waited for batch 1's write")
    return first, second


def test_the_next_batch_is_processed_while_one_is_written_and_acks_wait_for_storage(
    gated: tuple[Rig, GatedSink, Rules],
) -> None:
    rig, sink, rules = gated
    first, second = two_batches_in_flight(rig, sink, rules)
    assert rig.source.acked == []  # neither is stored yet
    sink.answer.release()
    wait_until(lambda: rig.source.acked == [first.mid], timeout=10)
    assert sink.entered.acquire(timeout=10)
    assert rig.source.acked == [first.mid]  # batch 2 only once it is stored
    sink.answer.release()
    stored_in_order(rig, sink, first, second)


@pytest.mark.expect_errors
def test_a_failing_write_holds_back_the_acknowledgement_of_every_later_batch(
    gated: tuple[Rig, GatedSink, Rules],
) -> None:
    rig, sink, rules = gated
    sink.fail = True
    first, second = two_batches_in_flight(rig, sink, rules)
    for _ in range(3):  # three failed tries of batch 1
        sink.answer.release()
        assert sink.entered.acquire(timeout=10)
    assert rig.source.acked == [] and rig.pipeline.errors == 3
    sink.fail = False
    sink.answer.release(2)  # batch 1 stored at last, then batch 2
    stored_in_order(rig, sink, first, second)


def test_stopping_stores_what_was_processed_and_leaves_the_rest_to_the_broker(
    gated: tuple[Rig, GatedSink, Rules],
) -> None:
    rig, sink, rules = gated
    first, second = two_batches_in_flight(rig, sink, rules)
    stopper = threading.Thread(target=rig.pipeline.stop)
    stopper.start()
    sink.answer.release(2)
    stopper.join(10)
    assert not stopper.is_alive()
    stored_in_order(rig, sink, first, second)  # the batch in hand and the one waiting
    third = rig.put("estate/sunrise/lift/L1/telemetry", {"floor": 3})
    assert rig.source.depth == 1 and third.mid not in rig.source.acked


def test_a_slow_write_does_not_hold_up_the_rules_until_write_ahead_messages_wait(tmp_path: Path) -> None:
    """InfluxDB taking its time: the rules go on with the next batches (alerts keep going out),
    up to ``write_ahead`` processed messages not yet stored; past that the pipeline waits.
    Acknowledgements still wait for storage, in order."""
    sink, rules = GatedSink(), Rules()
    rig = Rig(tmp_path, sink)
    rig.pipeline = Pipeline(
        rig.source, rig.registry, sink, rig.dead, rig.metrics, idle_s=0.01, consumers=[rules], write_ahead=3
    )
    try:
        items = [rig.put("estate/sunrise/lift/L1/telemetry", {"floor": 1})]
        rig.pipeline.start()
        assert sink.entered.acquire(timeout=10)  # batch 1 is being written, and stays so
        for floor in (2, 3, 4):  # 1 is being written, 2 and 3 wait; 4 is processed and in hand
            items.append(rig.put("estate/sunrise/lift/L1/telemetry", {"floor": floor}))
            wait_until(lambda f=floor: rules.seen[-1:] == [f], timeout=10, message=f"batch {floor} waited")
        items.append(rig.put("estate/sunrise/lift/L1/telemetry", {"floor": 5}))
        # Bounded, the pipeline waits with 4 in hand and 5 stays queued; unbounded, 5 is taken.
        wait_until(lambda: rig.pipeline.waiting_for_storage or rig.source.depth == 0, timeout=10)
        assert rules.seen == [1, 2, 3, 4], "more than write_ahead batches ran ahead of the writer"
        assert rig.source.depth == 1 and rig.source.acked == []
        sink.answer.release(5)
        wait_until(lambda: rig.source.acked == [i.mid for i in items], timeout=10)
        assert [r.fields["floor"] for r in sink.readings] == [1, 2, 3, 4, 5]
    finally:
        sink.answer.release(10)
        rig.pipeline.stop()


def test_batches_waiting_for_the_writer_are_written_together(tmp_path: Path) -> None:
    """One request to InfluxDB for what waited, not one per small batch."""
    sink, rules = GatedSink(), Rules()
    rig = Rig(tmp_path, sink)
    rig.pipeline = Pipeline(
        rig.source, rig.registry, sink, rig.dead, rig.metrics, idle_s=0.01, consumers=[rules]
    )
    try:
        items = [rig.put("estate/sunrise/lift/L1/telemetry", {"floor": 1})]
        rig.pipeline.start()
        assert sink.entered.acquire(timeout=10)  # batch 1 is being written
        for floor in (2, 3, 4):
            items.append(rig.put("estate/sunrise/lift/L1/telemetry", {"floor": floor}))
            wait_until(lambda f=floor: rules.seen[-1:] == [f], timeout=10)
        wait_until(lambda: rig.pipeline._unstored == 4, timeout=10)  # 2, 3 and 4 handed over
        sink.answer.release(2)
        wait_until(lambda: rig.source.acked == [i.mid for i in items], timeout=10)
        assert sink.writes == [[1], [2, 3, 4]]
    finally:
        sink.answer.release(10)
        rig.pipeline.stop()
