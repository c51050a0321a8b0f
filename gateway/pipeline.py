"""The ingest stage: messages → decode → device state → consumers (rules) → sink → acknowledge.

One thread processes batches in arrival order; a writer thread stores and acknowledges them in
the same order, behind it by at most ``write_ahead`` messages (so the rules go on while InfluxDB
answers), writing what waits in one request. A batch is acknowledged to the broker only after its
readings are durable (stored or spooled) and its dead letters are stored, so a crash anywhere
makes the broker redeliver rather than lose.

Nothing stops the loop (gateway.stages): a message the decoder or the device state fails on is a
dead letter ``decode_failed``; a consumer (the rules) that raises is reported and the batch goes
on to storage (the alert book keeps what it could not save for its next flush); storage that fails
is retried until it works; the loop itself catches whatever is left. Each shows in ``/health``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol

from devices.base import Kind, Reading
from devices.clock import to_ns
from devices.kinds.patrol import PatrolEvent
from gateway.deadletters import DeadLetterStore
from gateway.driven import ClockFollower
from gateway.ingest import (
    VENDOR_REASONS,
    Limits,
    Reason,
    Rejection,
    decode,
    decode_vendor,
    excerpt,
    failed,
    own_publication,
    rejected,
)
from gateway.metrics import GatewayMetrics
from gateway.mqtt import Inbound, MessageSource
from gateway.sinks import ReadingSink
from gateway.stages import Stages
from gateway.state import DeviceRegistry
from profiles.route import VendorRouter

log = logging.getLogger(__name__)
KIND_NAMES = frozenset(k.value for k in Kind)


class ReadingConsumer(Protocol):
    """A later stage fed every valid reading of a batch (the alarm engine, patrols)."""

    def consume(self, readings: Sequence[Reading]) -> None: ...


class Pipeline:
    def __init__(
        self,
        source: MessageSource,
        registry: DeviceRegistry,
        sink: ReadingSink,
        dead_letters: DeadLetterStore,
        metrics: GatewayMetrics,
        *,
        limits: Limits = Limits(),
        batch_size: int = 5_000,
        idle_s: float = 0.2,
        retry_s: float = 1.0,
        consumers: Sequence[ReadingConsumer] = (),
        follower: ClockFollower | None = None,
        write_ahead: int = 20_000,
        stages: Stages | None = None,
        store_unregistered: bool = False,
        checkpoints: Mapping[str, frozenset[str]] | None = None,
        vendor: VendorRouter | None = None,
    ) -> None:
        self._source = source
        #: The inventory's vendor devices (docs/contract.md §3.6): asked only about a message the
        #: canonical decoder refused for its topic, so the canonical path pays nothing for it.
        self._vendor = vendor
        self._store_unregistered = store_unregistered
        #: The patrol checkpoints of each estate that plans patrols: a scan naming another is a
        #: dead letter ``unknown_reference``, not a reading (it belongs to no round).
        self._checkpoints = dict(checkpoints or {})
        self._registry = registry
        self._sink = sink
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._limits = limits
        self._batch_size = batch_size
        self._idle_s = idle_s
        self._retry_s = retry_s
        self._consumers = list(consumers)
        self._follower = follower
        self.stages = stages or Stages("pipeline")
        for name in ("pipeline", "rules", "store"):
            self.stages.stage(name)
        #: Wall time (time.time) the last batch was stored and acknowledged.
        self.last_stored_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Messages processed and not yet stored, at most ``write_ahead`` (or one batch, however
        # large): a slow write (InfluxDB flushing its cache took 100-250 ms, several writes in a
        # row, in the alert-latency benchmark) does not hold up the rules, so alerts keep going
        # out; acknowledgements still wait for storage. Counted in messages, not batches: under
        # a steady load batches are small, and eight of them had covered only ~150 ms.
        self._handoff: queue.Queue[_Batch | None] = queue.Queue()
        self._write_ahead = write_ahead
        self._unstored = 0
        self._room = threading.Condition()
        #: True while the pipeline holds a processed batch the writer has no room for yet.
        self.waiting_for_storage = False
        self.batches = 0
        self.errors = 0
        #: When the oldest message of the batch in hand was received, until the rules have seen it.
        self._in_hand_ns: int | None = None

    def oldest_unseen_ns(self) -> int | None:
        """When the oldest message the rules have not seen yet was received (in the hand-off queue
        or in the batch being decoded); None when they are up to date. Read from the ticker's
        thread: the alarm timers wait while the rules lag behind the messages (gateway.alerting)."""
        in_hand = self._in_hand_ns
        return in_hand if in_hand is not None else self._source.oldest_ns()

    def process(self, items: Sequence[Inbound]) -> tuple[list[Reading], list[Rejection]]:
        """Decode one batch and apply it to device state and consumers (done once per batch)."""
        if self._follower is not None:
            return self._process_following(items, self._follower)
        readings: list[Reading] = []
        rejections: list[Rejection] = []
        self._decode(items, readings, rejections)
        self._feed(readings)
        return readings, rejections

    def _decode(self, items: Sequence[Inbound], readings: list[Reading], rejections: list[Rejection]) -> None:
        lookup, limits, observe = self._registry.lookup, self._limits, self._registry.observe
        for item in items:
            try:
                result = decode(item.topic, item.payload, item.received_ns, lookup, limits)
                if isinstance(result, Rejection):
                    if self._vendor is not None and result.reason in VENDOR_REASONS:
                        # *item[:3]: its topic, payload and receive time
                        vendor = decode_vendor(*item[:3], self._vendor, limits)
                        if vendor is not None:
                            self._take_vendor(item, vendor, readings, rejections)
                            continue
                    if result.reason is not Reason.BAD_TOPIC or not own_publication(item.topic):
                        rejections.append(result)
                    continue  # the gateway's own alert message, back through estate/#: let go
                if not observe(result, item.received_ns):
                    rejections.append(self._overflow(item))
                    continue
                if result.event == PatrolEvent.SCAN and (why := self._unknown_checkpoint(result)):
                    reason = Reason.UNKNOWN_REFERENCE
                    rejections.append(rejected(item.topic, item.payload, item.received_ns, reason, why))
                    continue
            except Exception as exc:  # decode never raises; the device state must not either
                log.exception("the device state failed on a message of %s", item.topic[:200])
                rejections.append(failed(item.topic, item.payload, item.received_ns, exc))
                continue
            readings.append(result)

    def _take_vendor(
        self,
        item: Inbound,
        result: list[Reading] | Rejection,
        readings: list[Reading],
        rejections: list[Rejection],
    ) -> None:
        """A vendor payload's readings (its devices are registered: always observed), or its dead letter."""
        if isinstance(result, Rejection):
            rejections.append(result)
            return
        for reading in result:
            self._registry.observe(reading, item.received_ns)
        readings.extend(result)

    def _unknown_checkpoint(self, reading: Reading) -> str | None:
        known = self._checkpoints.get(reading.estate)
        checkpoint = reading.fields.get("checkpoint")
        if known is None or reading.kind is not Kind.PATROL or checkpoint in known:
            return None
        return f"checkpoint {str(checkpoint)[:64]!r} is not in the inventory of estate {reading.estate}"

    def _overflow(self, item: Inbound) -> Rejection:
        cap = self._registry.max_unregistered
        why = (
            f"the estate has {cap} unregistered devices already "
            "(ESTATE_UNREGISTERED_MAX): add this one to the inventory"
        )
        return rejected(item.topic, item.payload, item.received_ns, Reason.UNREGISTERED_OVERFLOW, why)

    def _feed(self, readings: Sequence[Reading]) -> None:
        for consumer in self._consumers:
            try:
                consumer.consume(readings)
            except Exception as exc:
                # The readings were applied (a reading the rules fail on is isolated inside them);
                # what failed is saving or announcing the changes, which the alert book keeps for
                # its next flush (the next batch or tick). Storage and acknowledgement go on.
                log.exception("the rules failed on a batch of %d readings", len(readings))
                self.stages.failed("rules", exc)
            else:
                self.stages.succeeded("rules")

    def _process_following(
        self, items: Sequence[Inbound], follower: ClockFollower
    ) -> tuple[list[Reading], list[Rejection]]:
        """Lock-step time (gateway.driven): the device messages between two clock messages are
        taken at the clock's time, as received then, and each clock message ticks in its place."""
        readings: list[Reading] = []
        rejections: list[Rejection] = []
        segment: list[Inbound] = []
        fed = 0
        for item in [*items, None]:
            if item is not None and item.topic != follower.topic:
                segment.append(item)
                continue
            received_ns = to_ns(follower.clock.now())
            self._decode([i._replace(received_ns=received_ns) for i in segment], readings, rejections)
            if len(readings) > fed:
                self._feed(readings[fed:])
            fed, segment = len(readings), []
            if item is not None and (why := follower.follow(item.payload)) is not None:
                rejections.append(
                    Rejection(item.topic, Reason.BAD_TIMESTAMP, why, excerpt(item.payload), received_ns)
                )
        return readings, rejections

    def persist(self, readings: Sequence[Reading], rejections: Sequence[Rejection]) -> None:
        """Make a decoded batch durable; raises if the sink or database cannot take it."""
        # A bare heartbeat is life, not a point; an unregistered device's readings are not stored
        # unless asked (made-up ids would each be a new InfluxDB series).
        store_all = self._store_unregistered
        points = [r for r in readings if r.fields and (r.registered or store_all)]
        self._sink.write(points)
        self._dead_letters.add_many(rejections)
        self._count(readings, rejections, len(points))

    def _count(self, readings: Sequence[Reading], rejections: Sequence[Rejection], points: int) -> None:
        # Counted per batch, then one increment per label set: a counter's lock and label lookup
        # per message cost more than the rest of the counting.
        m = self._metrics
        store_all = self._store_unregistered
        stored = Counter(r.kind for r in readings if r.registered or store_all)
        for stored_kind, count in stored.items():
            m.messages.labels(stored_kind.value, "stored").inc(count)
        if stored.total() < len(readings):
            unstored = Counter(r.kind for r in readings if not (r.registered or store_all))
            for unstored_kind, count in unstored.items():
                m.messages.labels(unstored_kind.value, "unregistered").inc(count)
        reasons, rejected = Counter[str](), Counter[str]()
        for rej in rejections:
            reasons[rej.reason.value] += 1
            kind = rej.topic.split("/")[2] if rej.topic.count("/") == 4 else "unknown"
            rejected[kind if kind in KIND_NAMES else "unknown"] += 1
        for reason, count in reasons.items():
            m.dead_letters.labels(reason).inc(count)
        for name, count in rejected.items():
            m.messages.labels(name, "rejected").inc(count)
        m.points_written.labels(self._sink.name).inc(points)

    def run_once(self) -> int:
        """Take one batch, process it, store it and acknowledge it; how many messages it held."""
        work = self._take()
        if work is None:
            return 0
        self._store(work)
        return len(work.items)

    def _take(self) -> _Batch | None:
        items = self._source.get_batch(self._batch_size, self._idle_s)
        if not items:
            return None
        self._in_hand_ns = items[0].received_ns
        try:
            readings, rejections = self.process(items)
        finally:
            self._in_hand_ns = None
        return _Batch(items, readings, rejections)

    def _store(self, work: _Batch) -> bool:
        """Make a processed batch durable, then acknowledge it; False if stopped first."""
        while True:
            try:
                self.persist(work.readings, work.rejections)
                break
            except Exception as exc:
                # Storage failed in a way the sink could not absorb (disk full, database gone).
                # Keep the batch and retry it: the broker will not resend unacknowledged
                # messages on a live connection. Stopping leaves it unacknowledged: the
                # broker redelivers it to the next start.
                self.errors += 1
                log.exception("storing a batch failed; retrying")
                self.stages.failed("store", exc)
                if self._stop.wait(self._retry_s):
                    return False
        self.stages.succeeded("store")
        self.last_stored_at = time.time()
        try:
            self._source.ack(work.items)
        except Exception as exc:  # stored, not acknowledged: the broker redelivers it (a duplicate)
            log.exception("acknowledging a stored batch failed")
            self.stages.failed("store", exc)
        if self._follower is not None:
            self._follower.settle()
        self.batches += 1
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._run()
            except Exception as exc:  # a bug in the loop itself: reported, and the loop goes on
                log.exception("the pipeline loop failed; it goes on")
                self.stages.failed("pipeline", exc)
                self._stop.wait(self._retry_s)

    def _run(self) -> None:
        if self._follower is not None:
            # Lock-step time: a clock position is settled once all before it is stored, so
            # batches are taken one after the other.
            while not self._stop.is_set():
                self.run_once()
            return
        # Batches are written while the next are processed (on a busy gateway the write waited
        # on InfluxDB's answer, a third of a batch's time, with the pipeline idle). The writer
        # stores and acknowledges in arrival order; at most ``write_ahead`` processed messages
        # wait for it.
        writer = threading.Thread(target=self._write_loop, name="pipeline-writer", daemon=True)
        self.stages.stage("store", writer)
        writer.start()
        while not self._stop.is_set():
            work = self._take()
            while work is not None and not self._put(work):
                if self._stop.is_set() or not writer.is_alive():
                    work = None  # never acknowledged: the broker redelivers it
        while writer.is_alive() and not self._put(None):
            pass  # the writer stores every batch handed over, then stops
        writer.join()

    def _put(self, work: _Batch | None) -> bool:
        size = len(work.items) if work is not None else 0

        def room() -> bool:
            return self._unstored == 0 or self._unstored + size <= self._write_ahead

        with self._room:
            if not room():
                self.waiting_for_storage = True
                if not self._room.wait_for(room, timeout=0.5):
                    return False
            self.waiting_for_storage = False
            self._unstored += size
        self._handoff.put(work)
        return True

    def _write_loop(self) -> None:
        carried: _Batch | None = None
        stopping = False
        while not stopping:
            work = carried if carried is not None else self._handoff.get()
            if work is None:
                return
            # Whatever else waits is written with it, up to a batch's size: one request to
            # InfluxDB, not one per small batch (a writer behind on many small writes fell
            # further behind, and alerts waited seconds for room).
            carried, batches, size = None, [work], len(work.items)
            while size < self._batch_size and not stopping:
                try:
                    more = self._handoff.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True  # after this write
                elif size + len(more.items) > self._batch_size:
                    carried = more
                    break
                else:
                    batches.append(more)
                    size += len(more.items)
            if len(batches) > 1:
                work = _Batch(
                    [i for b in batches for i in b.items],
                    [r for b in batches for r in b.readings],
                    [r for b in batches for r in b.rejections],
                )
            if not self._store(work):
                return  # stopped while storage failed: what is left stays unacknowledged
            with self._room:
                self._unstored -= size
                self._room.notify_all()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="pipeline", daemon=True)
        self.stages.stage("pipeline", self._thread)
        # "rules" is the alarm core's stage: its thread is the owner's (gateway/service.py).
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current batch (and those processed, written first). What is still queued was
        never acknowledged: the broker redelivers it to the next start of this persistent session."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


class _Batch(NamedTuple):
    items: Sequence[Inbound]
    readings: list[Reading]
    rejections: list[Rejection]
