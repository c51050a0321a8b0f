"""The notification stage: reads the alarm core's outbox as consumer ``notify``, records one
delivery per channel and event, and delivers them. One thread for the intake (stage ``notify``)
and one per channel (stage ``notify.{channel}``), so a vendor that hangs until its timeout delays
only its own channel; none of them dies on an exception.

Intake writes the deliveries first and moves the outbox cursor after, so a restart re-reads at
most the chunk in hand, and the deliveries' unique ``(channel, event_id)`` keeps it from adding
them twice. Delivery then works from the deliveries table alone: what was pending before a
SIGKILL is pending after it. A request in flight at the moment of the kill is the one thing that
can go out twice (its answer was never recorded); a webhook receiver tells it by its event id.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from devices.clock import Clock
from devices.inventory import Inventory
from notify.alarm import ChannelAlarm
from notify.delivery import ChannelWorker
from notify.messages import Words
from notify.routing import RANK, Router, notice, seen_to
from notify.store import Delivery, DeliveryStore

log = logging.getLogger(__name__)

CONSUMER = "notify"
STAGE = "notify"


class OutboxRow(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def event_id(self) -> str: ...
    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> bytes: ...


class OutboxReader(Protocol):
    def pending(self, consumer: str, limit: int = 500) -> list[Any]: ...

    def done(self, consumer: str, last_id: int) -> None: ...

    def backlog(self, consumer: str) -> int: ...


class StageRecord(Protocol):
    def stage(self, name: str, thread: threading.Thread | None = None) -> object: ...

    def failed(self, name: str, exc: BaseException) -> None: ...

    def succeeded(self, name: str) -> None: ...


class Notifier:
    def __init__(
        self,
        outbox: OutboxReader,
        store: DeliveryStore,
        router: Router,
        inventory: Inventory,
        workers: Mapping[str, ChannelWorker],
        words: Words,
        clock: Clock,
        stages: StageRecord,
        alarm: ChannelAlarm,
        *,
        chunk: int = 500,
        poll_s: float = 0.1,
        idle_s: float = 1.0,
    ) -> None:
        self.outbox, self.store, self.router, self.inventory = outbox, store, router, inventory
        self.workers, self.words, self.clock = dict(workers), words, clock
        self.stages, self.alarm = stages, alarm
        self.chunk, self.poll_s, self.idle_s = chunk, poll_s, idle_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def intake_once(self) -> int:
        """Record the deliveries of the next chunk of outbox rows and wake their channels; how
        many rows were read."""
        rows = self.outbox.pending(CONSUMER, self.chunk)
        if not rows:
            return 0
        now = self.clock.now()
        deliveries = self._deliveries(rows, now)
        self.store.add(deliveries)
        if seen := self._seen_to(rows):
            self.store.cancel_waiting(seen, now, "acknowledged, shelved, suppressed or closed meanwhile")
        self.outbox.done(CONSUMER, rows[-1].id)
        for channel in {d["channel"] for d in deliveries}:
            self.workers[channel].wake.set()
        return len(rows)

    def _deliveries(self, rows: list[OutboxRow], now: datetime) -> list[dict[str, Any]]:
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for row in rows:
            try:
                found = notice(row.event_id, row.topic, row.payload, self.inventory)
            except (ValueError, KeyError, TypeError) as exc:  # not what the core writes: skipped, said
                log.warning("outbox row %s is not a notice: %s", row.id, type(exc).__name__)
                continue
            if found is None:
                continue
            for target in self.router.targets(found, now):
                if target.channel not in self.workers:
                    continue
                out.setdefault(
                    (target.channel, found.event_id),
                    {
                        "channel": target.channel,
                        "event_id": found.event_id,
                        "event": found.event.value,
                        "estate": found.estate,
                        "alert_id": found.alert_id,
                        "order_id": found.order_id,
                        "severity": found.severity.value,
                        "rank": RANK[found.severity],
                        "language": target.language,
                        "topic": row.topic,
                        "payload": row.payload,
                        "created_at": now,
                        "due_at": target.due_at,
                        "recipients": json.dumps(target.to, ensure_ascii=False) if target.to else None,
                    },
                )
        return list(out.values())

    @staticmethod
    def _seen_to(rows: list[OutboxRow]) -> set[int]:
        found = set()
        for row in rows:
            try:
                alert = seen_to(row.topic, row.payload)
            except (ValueError, KeyError, TypeError):
                continue  # said once already by _deliveries
            if alert is not None:
                found.add(alert)
        return found

    def deliver_once(self) -> int:
        """Let each channel send what is due, in turn; how many requests were made (tests and
        ``run_once``; the running notifier gives each channel its own thread)."""
        return sum(self._deliver(worker) for worker in self.workers.values())

    def _deliver(self, worker: ChannelWorker) -> int:
        try:
            worker.run_tests(self.clock.now, self.words)
            made = worker.step(self.clock.now())
        except Exception as exc:  # the database, say: the stage says so, the next round retries
            log.exception("delivering on channel %s failed", worker.id)
            self.stages.failed(f"{STAGE}.{worker.id}", exc)
            return 0
        self.stages.succeeded(f"{STAGE}.{worker.id}")
        return made

    def request_test(self, channel: str, by: str, timeout_s: float = 20.0) -> str:
        """Send a test message on ``channel`` from its own thread (the channel's state has one
        owner); what came of it. KeyError: no such channel; queue.Full: too many waiting."""
        return self.workers[channel].request_test(by, timeout_s)

    def run_once(self) -> int:
        """One round on the caller's thread: intake until the outbox is drained, then each
        channel. Raises what intake raises."""
        while self.intake_once() == self.chunk and not self._stop.is_set():
            pass
        return self.deliver_once()

    def _intake_loop(self) -> None:
        while not self._stop.is_set():
            try:
                while self.intake_once() == self.chunk and not self._stop.is_set():
                    pass
                self.stages.succeeded(STAGE)
            except Exception as exc:
                log.exception("the notifier's intake failed")
                self.stages.failed(STAGE, exc)
            self._stop.wait(self.poll_s)

    def _channel_loop(self, worker: ChannelWorker) -> None:
        """One channel's thread: a channel that hangs until its timeout delays only itself."""
        while not self._stop.is_set():
            if self._deliver(worker) == 0:
                worker.wake.wait(self.idle_s)  # new rows, a test message or stop wake it
                worker.wake.clear()

    def start(self) -> None:
        self._threads = [threading.Thread(target=self._intake_loop, name="notifier", daemon=True)]
        self.stages.stage(STAGE, self._threads[0])
        for worker in self.workers.values():
            thread = threading.Thread(
                target=self._channel_loop, args=(worker,), name=f"notify-{worker.id}", daemon=True
            )
            self.stages.stage(f"{STAGE}.{worker.id}", thread)
            self._threads.append(thread)
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for worker in self.workers.values():
            worker.wake.set()
        for thread in self._threads:
            thread.join(timeout=15)
        for worker in self.workers.values():
            worker.channel.close()

    def deliveries(self, **query: Any) -> list[Delivery]:
        """The deliveries, newest first (``DeliveryStore.listing``'s filters)."""
        return self.store.listing(**query)

    def health(self) -> dict[str, Any]:
        channels = {w.id: w.health() for w in self.workers.values()}
        return {
            "ok": all(c["ok"] for c in channels.values()),
            "backlog": self.outbox.backlog(CONSUMER),
            "channels": channels,
            "self_alarms": sorted(self.alarm.active()),
        }
