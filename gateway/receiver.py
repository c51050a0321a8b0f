"""MQTT in a process of its own (``ESTATE_MQTT_RECEIVER=process``).

paho-mqtt costs about as much CPU a message as the whole pipeline behind it (reading packets,
building a message object, sending the PUBACK), and in one process the two share one interpreter
lock. Here the connection lives in a child process (``python -m gateway.receiver``, which imports
paho and this package's MQTT module only, ~25 MB; a ``multiprocessing`` spawn would import the
whole gateway again through its main module, ~100 MB): it runs the
same :class:`~gateway.mqtt.MqttClient` and forwards what it receives in batches through a pipe;
the gateway takes them, stamps them with its own clock, and sends back the acknowledgements and
its publishes. On two cores paho and the pipeline then run side by side.

The guarantees are those of the thread receiver: messages in arrival order, acknowledged only
when the pipeline says so, a bounded hand-off (the parent holds at most ``queue_size``; past it
the child waits, then paho, then the broker through TCP), ``online``/``offline`` status with a
last will. If the gateway dies the child sees its pipe close and exits without a clean
disconnect, so the broker publishes the will and keeps the session's unacknowledged messages.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from gateway.mqtt import BrokerAddress, ConnectionState, Inbound, MqttClient, QueueSource

log = logging.getLogger(__name__)

#: What the child sends: a batch of (topic, payload, mid, qos) with how often paho waited on a
#: full queue since the last one, or the connection's state.
_BATCH, _STATE = "batch", "state"
#: What the gateway sends: acknowledgements [(mid, qos)], a publish, a sync (token, timeout:
#: answered with _SYNCED, token, whether the broker acknowledged every publish before it), or stop.
_ACK, _PUBLISH, _SYNC, _STOP = "ack", "publish", "sync", "stop"
_SYNCED = "synced"


def main() -> None:  # pragma: no cover - the child process; tested through ProcessReceiver
    """``python -m gateway.receiver UP DOWN``: file descriptors of the pipes to and from the
    gateway. The settings come as the first message down (a password stays out of ``ps``)."""
    up = Connection(int(sys.argv[1]), readable=False)
    down = Connection(int(sys.argv[2]), writable=False)
    try:
        config = down.recv()
    except (OSError, EOFError):
        os._exit(1)
    _child(up=up, down=down, **config)


def _child(
    address: BrokerAddress,
    instance: str,
    subscriptions: list[str],
    queue_size: int,
    batch_size: int,
    up: Connection,
    down: Connection,
) -> None:  # pragma: no cover - runs in the child process; tested through ProcessReceiver
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overflows = 0

    def overflow() -> None:
        nonlocal overflows
        overflows += 1

    client = MqttClient(address, instance, subscriptions, queue_size=queue_size, on_overflow=overflow)
    send_lock = threading.Lock()
    stopping = threading.Event()

    def send(message: tuple[Any, ...]) -> None:
        with send_lock:
            up.send(message)

    def forward() -> None:
        nonlocal overflows
        connected = False
        try:
            while not stopping.is_set():
                if client.connected != connected:
                    connected = client.connected
                    send((_STATE, connected))
                items = client.get_batch(batch_size, 0.05)
                if items:
                    waited, overflows = overflows, 0
                    rows = [(i.topic, i.payload, i.received_ns, i.mid, i.qos) for i in items]
                    send((_BATCH, rows, waited))
        except (OSError, EOFError):
            os._exit(1)  # the gateway is gone: no clean disconnect, the broker sends the will

    client.start()
    threading.Thread(target=forward, name="forward", daemon=True).start()
    while True:
        try:
            command = down.recv()
        except (OSError, EOFError):
            os._exit(1)
        if command[0] == _ACK:
            client.ack_ids(command[1])
        elif command[0] == _PUBLISH:
            client.publish(command[1], command[2], qos=command[3], retain=command[4])
        elif command[0] == _SYNC:  # answered from a thread: the acknowledgements come meanwhile
            token, timeout_s = command[1], command[2]
            threading.Thread(
                target=lambda t=token, w=timeout_s: send((_SYNCED, t, client.sync(w))), daemon=True
            ).start()
        else:
            stopping.set()
            # paho may be waiting on a full queue; empty it so it can take the DISCONNECT (what
            # was not acknowledged is redelivered to the next start of the session).
            threading.Thread(target=_discard, args=(client, stopping), daemon=True).start()
            client.stop()
            return


def _discard(client: MqttClient, stopping: threading.Event) -> None:  # pragma: no cover - child
    while stopping.is_set():
        client.get_batch(10_000, 0.05)


class ProcessReceiver(QueueSource, ConnectionState):
    """The gateway's MQTT connection run in a child process; the interface of ``MqttClient``."""

    def __init__(
        self,
        broker: BrokerAddress | str,
        instance: str,
        subscriptions: Sequence[str],
        *,
        queue_size: int,
        batch_size: int = 1_000,
        on_overflow: Callable[[], None] = lambda: None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        QueueSource.__init__(self, queue_size, on_overflow)
        ConnectionState.__init__(self)
        self.address = BrokerAddress.parse(broker) if isinstance(broker, str) else broker
        self.status_topic = f"gateway/{instance}/status"
        self._instance, self._subscriptions = instance, list(subscriptions)
        self._queue_size, self._batch_size = queue_size, batch_size
        self._clock_ns = clock_ns
        self._last_ns = 0
        self._send_lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._up_read: Connection | None = None
        self._down_write: Connection | None = None
        self._reader: threading.Thread | None = None
        self._stopped = False
        self._syncs = threading.Condition()
        self._sync_token = 0
        self._synced: dict[int, bool] = {}
        self._waiting: set[int] = set()  # tokens whose caller still waits

    # The reader thread: batches from the child into the bounded hand-off.
    def _read(self, up: Connection) -> None:
        while True:
            try:
                message = up.recv()
            except (OSError, EOFError):
                self._connected.clear()
                if not self._stopped and self._process is not None:
                    log.error("the MQTT receiver process ended (exit code %s)", self._process.wait(5))
                return
            if message[0] == _STATE:
                (self._connected.set if message[1] else self._connected.clear)()
                continue
            if message[0] == _SYNCED:
                with self._syncs:
                    if message[1] in self._waiting:  # an answer after its caller gave up is dropped
                        self._synced[message[1]] = message[2]
                        self._syncs.notify_all()
                continue
            _, rows, waited = message
            for _ in range(waited):
                self._on_overflow()
            # While the pipeline is behind this waits, and so do the child, paho, then TCP.
            self.put_many(self._stamped(rows), lambda: self._stopped)

    def _stamped(self, rows: list[tuple[str, bytes, int, int, int]]) -> list[Inbound]:
        """The batch on the gateway's clock: each message as long before now as the child received
        it before the batch's last, and strictly increasing (a reading without ``ts`` is stored at
        its receive time: one stamp for a whole batch made a device's readings in it one point)."""
        now, last_child, previous = self._clock_ns(), rows[-1][2], self._last_ns
        items = []
        for topic, payload, child_ns, mid, qos in rows:
            at = max(now - (last_child - child_ns), previous + 1)
            items.append(Inbound(topic, payload, at, mid, qos))
            previous = at
        self._last_ns = previous
        return items

    def _send(self, message: object) -> None:
        if self._down_write is None:
            raise OSError("the MQTT receiver is not started")
        with self._send_lock:
            self._down_write.send(message)

    def ack(self, items: Sequence[Inbound]) -> None:
        if items and not self._stopped:
            try:
                self._send((_ACK, [(i.mid, i.qos) for i in items]))
            except OSError:
                log.warning("the MQTT receiver is gone; %d messages stay unacknowledged", len(items))

    # Publisher
    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        try:
            self._send((_PUBLISH, topic, payload, qos, retain))
        except OSError:
            log.warning("the MQTT receiver is gone; not published to %s", topic)

    def sync(self, timeout_s: float) -> bool:
        """Wait until the broker has acknowledged every message published so far (in the child's
        paho); False after ``timeout_s`` or if the receiver is gone."""
        with self._syncs:
            self._sync_token += 1
            token = self._sync_token
            self._waiting.add(token)
        try:
            self._send((_SYNC, token, timeout_s))
            with self._syncs:
                self._syncs.wait_for(lambda: token in self._synced or self._stopped, timeout_s + 5)
        except OSError:
            pass
        with self._syncs:
            self._waiting.discard(token)
            return self._synced.pop(token, False)

    def start(self) -> None:
        up_read, up_write = os.pipe()
        down_read, down_write = os.pipe()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "gateway.receiver", str(up_write), str(down_read)],
            pass_fds=(up_write, down_read),
        )
        os.close(up_write)  # the child holds them now: its exit closes the pipe for the reader
        os.close(down_read)
        self._up_read = Connection(up_read, writable=False)
        self._down_write = Connection(down_write, readable=False)
        self._send(
            {
                "address": self.address,  # the password too: down the pipe, never in argv
                "instance": self._instance,
                "subscriptions": self._subscriptions,
                "queue_size": self._queue_size,
                "batch_size": self._batch_size,
            }
        )
        self._reader = threading.Thread(
            target=self._read, args=(self._up_read,), name="mqtt-receiver", daemon=True
        )
        self._reader.start()

    def stop(self) -> None:
        """Say ``offline`` and disconnect (in the child); what was not acknowledged is redelivered
        to the next start of the session."""
        self._stopped = True
        with self._syncs:
            self._syncs.notify_all()  # a relay waiting on a sync gives up
        with self._queue.not_full:
            self._queue.not_full.notify_all()  # a reader waiting on a full hand-off gives up
        process = self._process
        if process is not None and process.poll() is None:
            try:
                self._send((_STOP,))
                process.wait(15)
            except OSError:
                pass
            except subprocess.TimeoutExpired:
                log.warning("the MQTT receiver did not stop in 15 s; killing it")
                process.kill()
                process.wait(5)
        self._connected.clear()
        if self._reader is not None:
            self._reader.join(5)
        for end in (self._up_read, self._down_write):
            if end is not None:
                end.close()


if __name__ == "__main__":
    main()
