"""Delivers the outbox (alerts/outbox.py) to MQTT: alert messages on ``estate/{estate}/alerts``,
work orders on ``crew/{crew}/orders``, at QoS 1, in commit order.

A chunk of rows is published, then the relay waits until the broker has acknowledged all of it
(``sync``) before it moves the consumer's cursor. A chunk is never published twice by a running
relay: while the broker is away paho keeps it and sends it after the reconnect. Only a relay
killed between the acknowledgement and the cursor's commit sends a chunk again at the next start;
the messages carry the same ``event_id`` then. The relay never dies: a failure is counted on the
``outbox`` stage (``/health``, the self-alarm) and retried.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from alerts.outbox import Outbox
from gateway.stages import Stages

log = logging.getLogger(__name__)

CONSUMER = "mqtt"


class ConfirmingPublisher(Protocol):
    @property
    def connected(self) -> bool: ...

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None: ...

    def sync(self, timeout_s: float) -> bool: ...


class OutboxRelay:
    def __init__(
        self,
        outbox: Outbox,
        mqtt: ConfirmingPublisher,
        stages: Stages,
        *,
        chunk: int = 500,
        confirm_s: float = 10.0,
        idle_s: float = 1.0,
    ) -> None:
        self.outbox, self.mqtt, self.stages = outbox, mqtt, stages
        self.chunk, self.confirm_s, self.idle_s = chunk, confirm_s, idle_s
        self.delivered = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def relay_once(self) -> int:
        """Deliver the next chunk, if connected; how many rows were confirmed."""
        if not self.mqtt.connected:
            return 0
        rows = self.outbox.pending(CONSUMER, self.chunk)
        if not rows:  # the outbox was read: nothing to deliver is working (an outage is over)
            self.stages.succeeded("outbox")
            return 0
        for row in rows:
            self.mqtt.publish(row.topic, row.payload, qos=1)
        while not self.mqtt.sync(self.confirm_s):
            self.stages.failed(
                "outbox",
                TimeoutError(f"the broker has not acknowledged {len(rows)} messages in {self.confirm_s:g} s"),
            )
            if self._stop.is_set():
                return 0  # unconfirmed: the next start sends them again
        self.outbox.done(CONSUMER, rows[-1].id)
        self.stages.succeeded("outbox")
        self.delivered += len(rows)
        return len(rows)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                while self.relay_once() == self.chunk and not self._stop.is_set():
                    pass  # a backlog: the next chunk at once
            except Exception as exc:  # the database away, say: counted, told, tried again
                log.exception("relaying the outbox failed")
                self.stages.failed("outbox", exc)
            self.outbox.wait(self.idle_s)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="outbox-relay", daemon=True)
        self.stages.stage("outbox", self._thread)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the chunk in hand; what is unconfirmed stays for the next start."""
        self._stop.set()
        self.outbox.wake()
        if self._thread is not None:
            self._thread.join(timeout=15)
