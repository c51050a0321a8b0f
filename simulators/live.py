"""A world in real time (``estate-sim run``): each message is published when the wall clock
reaches its simulated time divided by the speed, over one shared MQTT connection at QoS 1.

Device timestamps follow simulated time, so a gateway judging them must run on the same clock
(``ESTATE_CLOCK_SPEED`` and ``ESTATE_CLOCK_START``, unless the speed is 1 and the start now).
The world runs a little ahead (``window_s`` of wall time) and each message waits for its moment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from simulators.world import Message, World


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> Broker:
        """``mqtt://[user[:password]@]host[:port]`` (the gateway's ESTATE_MQTT_URL form)."""
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
            raise ValueError(f"broker {url!r} is not mqtt://[user[:password]@]host[:port]")
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        return cls(parts.hostname, parts.port or 1883, user, password)


class Sink(Protocol):
    def publish(self, message: Message) -> None: ...


class MqttSink:
    """One paho connection for every device (so no per-device last will); QoS 1 as each message
    says. Callbacks only count acknowledgements."""

    def __init__(self, broker: Broker, client_id: str) -> None:
        self.sent = 0
        self._acked = 0
        self._lock = threading.Lock()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if broker.username is not None:
            self._client.username_pw_set(broker.username, broker.password)
        self._client.max_inflight_messages_set(1000)
        self._client.on_publish = self._on_publish
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()

    def _on_publish(self, *_: Any) -> None:
        with self._lock:
            self._acked += 1

    @property
    def acknowledged(self) -> int:
        with self._lock:
            return self._acked

    def publish(self, message: Message) -> None:
        self._client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain)
        self.sent += 1

    def close(self, timeout_s: float = 10.0) -> None:
        """Wait (a while) for the broker to acknowledge what was sent, then disconnect."""
        deadline = time.monotonic() + timeout_s
        while self.acknowledged < self.sent and time.monotonic() < deadline:
            time.sleep(0.02)
        self._client.disconnect()
        self._client.loop_stop()


@dataclass(frozen=True)
class Progress:
    simulated: datetime
    sent: int


def drive(
    world: World,
    sink: Sink,
    *,
    speed: float,
    stop: threading.Event,
    duration_s: float | None = None,
    progress: Callable[[Progress], None] = lambda _p: None,
    every_s: float = 10.0,
    window_s: float = 0.2,
    wall: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], bool] | None = None,
) -> int:
    """Publish the world's messages on time until ``stop``, or ``duration_s`` simulated seconds.
    Returns how many device messages were published. ``wall`` and ``sleep`` (which returns True
    when stopped) are the wall clock's, replaceable in tests. A gateway in lock-step time is driven
    unpaced instead (:func:`simulators.lockstep.drive_lockstep`)."""
    wait = sleep or stop.wait
    if speed <= 0:
        raise ValueError("speed must be positive")
    start, origin = world.now, wall()
    end = start + timedelta(seconds=duration_s) if duration_s is not None else None
    sent, next_report = 0, origin + every_s

    def wall_of(when: datetime) -> float:
        return origin + (when - start).total_seconds() / speed

    def report(simulated: datetime) -> None:
        nonlocal next_report
        if wall() >= next_report:
            progress(Progress(simulated, sent))
            next_report += every_s * max(1, int((wall() - next_report) // every_s) + 1)

    while not stop.is_set():
        horizon = start + timedelta(seconds=(wall() - origin + window_s) * speed)
        if end is not None:
            horizon = min(horizon, end)
        messages = world.advance(horizon)
        for message in messages:
            if wait(max(0.0, wall_of(message.at) - wall())):
                return sent
            sink.publish(message)
            sent += 1
            report(message.at)
        if end is not None and world.now >= end:
            break
        report(start + timedelta(seconds=(wall() - origin) * speed))
        if wait(max(0.0, wall_of(world.now) - wall() - window_s / 2)):
            break
    return sent
