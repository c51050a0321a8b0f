"""The broker tells on itself: messages it dropped become the self-alarm ``gateway.broker_dropping``.

A broker that keeps a persistent session's messages while the gateway is away (or slow) keeps only
so many: mosquitto's ``max_queued_messages`` defaults to 1,000 and beyond it the broker drops what
it had already acknowledged to the device, logging "Outgoing messages are being dropped" and
nothing else. The gateway cannot see those messages, so it watches the broker's own count instead:
mosquitto publishes ``$SYS/broker/publish/messages/dropped`` (every ``sys_interval`` seconds,
10 by default) to any client the ACL lets read ``$SYS/broker/#``.

A second, small MQTT connection (clean session, no will) subscribes to it. A count that rose
since the last one seen is a loss: counted in ``estate_broker_dropped_messages_total``, shown in
``/health`` (``broker.ok`` false) and raised as a critical self-alarm on
``gateway/{instance}/alarm`` and the event stream, cleared once the count has stood still for
``clear_after_s``. The last count seen is kept in a small file of the data directory, so drops
that happened while the gateway was down are reported when it comes back, and old ones are not
reported again; a count lower than the last one means the broker restarted (its count starts
at 0 again).

Other brokers: EMQX counts ``messages.dropped`` in its own metrics (HTTP API and Prometheus
endpoint, not this topic layout); watch that one there. A broker that offers no ``$SYS`` count
shows in ``/health`` as ``broker.stats: "not offered"`` after ``offered_within_s``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.mqtt import BrokerAddress
from gateway.stages import Stages, wall_iso

log = logging.getLogger(__name__)

BROKER_DROPPING = "gateway.broker_dropping"
DROPPED_TOPIC = "$SYS/broker/publish/messages/dropped"


class DropCounter:
    """The arithmetic, with no MQTT: counts seen → messages lost, alarm raised or cleared.

    ``observe`` is called with each count the broker publishes; ``check`` with the passing of
    time (the alarm clears after ``clear_after_s`` without a new loss)."""

    def __init__(
        self,
        instance: str,
        stages: Stages,
        state_file: Path | None,
        *,
        clear_after_s: float = 600.0,
        wall: Callable[[], float] = time.time,
        on_lost: Callable[[int], None] = lambda n: None,
    ) -> None:
        self.instance, self.stages, self.state_file = instance, stages, state_file
        self.clear_after_s, self._wall, self._on_lost = clear_after_s, wall, on_lost
        self._lock = threading.Lock()
        self.last_count: int | None = self._load()
        self.lost = 0  # since this start
        self.last_loss_at: float | None = None
        self.first_seen_at: float | None = None
        self.dropping = False

    def observe(self, count: int) -> None:
        """A count the broker published."""
        with self._lock:
            now = self._wall()
            if self.first_seen_at is None:
                self.first_seen_at = now
            previous = self.last_count
            # Lower than before: the broker restarted, and counts from 0 again.
            new = count if previous is None or count < previous else count - previous
            self.last_count = count
            raise_it = False
            if new > 0:
                self.lost += new
                self.last_loss_at = now
                raise_it = not self.dropping
                self.dropping = True
            lost_now = self.lost
        if count != previous:
            self._save(count)
        if new > 0:
            self._on_lost(new)
            log.error(
                "the MQTT broker dropped %d message(s) it had accepted (%d since this start): its "
                "queue for the gateway is full (deploy/mosquitto/README.md)",
                new,
                lost_now,
            )
        if raise_it:
            self._announce(active=True)
        self.check()

    def check(self) -> None:
        """Clear the alarm once no loss has been seen for ``clear_after_s``."""
        with self._lock:
            quiet = self.last_loss_at is not None and self._wall() - self.last_loss_at >= self.clear_after_s
            clear = self.dropping and quiet
            if clear:
                self.dropping = False
        if clear:
            self._announce(active=False)

    def facts(self) -> dict[str, Any]:
        with self._lock:
            return {
                "dropping": self.dropping,
                "dropped": self.lost,
                "broker_count": self.last_count,
                "last_drop": wall_iso(self.last_loss_at),
            }

    def _announce(self, *, active: bool) -> None:
        facts = self.facts()
        self.stages.self_alarm(
            BROKER_DROPPING,
            "broker",
            active=active,
            details={
                "dropped": facts["dropped"],
                "broker_count": facts["broker_count"],
                "error": f"the broker dropped {facts['dropped']} message(s) it had accepted from devices",
            },
        )

    def _load(self) -> int | None:
        if self.state_file is None:
            return None
        try:
            value = json.loads(self.state_file.read_text())["broker_count"]
            return int(value) if isinstance(value, int) and value >= 0 else None
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring %s (%s): the broker's next count is taken as new", self.state_file, exc)
            return None

    def _save(self, count: int) -> None:
        if self.state_file is None:
            return
        try:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"broker_count": count}))
            tmp.replace(self.state_file)
        except OSError:  # the count still works in memory; a restart may report a loss again
            log.exception("could not keep the broker's drop count in %s", self.state_file)


class BrokerWatch:
    """The MQTT side: a clean session subscribed to the broker's drop count, feeding a
    :class:`DropCounter`; a timer thread clears the alarm when the count stands still."""

    def __init__(
        self,
        address: BrokerAddress,
        instance: str,
        counter: DropCounter,
        *,
        offered_within_s: float = 60.0,
        every_s: float = 10.0,
    ) -> None:
        self.counter, self.offered_within_s, self.every_s = counter, offered_within_s, every_s
        self.address = address
        self.messages = 0
        self._started_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"estate-gateway-{instance}-watch", clean_session=True
        )
        address.configure(self._client)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            client.subscribe(DROPPED_TOPIC, qos=0)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:  # paho's thread must not die on a strange payload
            count = int(msg.payload.decode("ascii").strip())
            if count < 0:
                raise ValueError(f"negative count {count}")
        except ValueError as exc:
            log.warning("ignoring %s = %r: %s", msg.topic, msg.payload[:40], exc)
            return
        self.messages += 1
        try:
            self.counter.observe(count)
        except Exception:
            log.exception("the broker watch failed on a count")

    def facts(self) -> dict[str, Any]:
        facts = self.counter.facts()
        waited = self._started_at is not None and time.time() - self._started_at > self.offered_within_s
        stats = "seen" if self.messages else ("not offered" if waited else "waiting")
        return {"stats": stats, **facts}

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.counter.check()
            except Exception:
                log.exception("the broker watch's check failed")

    def start(self) -> None:
        self._started_at = time.time()
        self._client.connect_async(self.address.host, self.address.port, keepalive=60)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._loop, name="broker-watch", daemon=True)
        self.counter.stages.stage("broker-watch", self._thread)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._client.disconnect()
        self._client.loop_stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
