"""The scenario runner's two connections and its clock: the gateway's REST API with the tester's
token, the devices' side of MQTT, and the gateway's simulated time followed locally."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class RunError(Exception):
    """The scenario cannot run against this gateway or broker (exit code 2)."""


class GatewayApi:
    """The few REST calls a scenario needs, with the tester's bearer token."""

    def __init__(self, url: str, token: str | None) -> None:
        """``token`` None: no Authorization header (enough for ``/health``)."""
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def get(self, path: str, **params: Any) -> Any:
        try:
            response = self._http.get(path, params={k: v for k, v in params.items() if v is not None})
        except httpx.HTTPError as exc:
            raise RunError(f"gateway {self.url} unreachable: {exc}") from None
        if response.status_code in (401, 403):
            raise RunError(
                f"gateway refused the token for {path} ({response.status_code}): {response.text[:200]}"
            )
        if response.status_code >= 400:
            raise RunError(f"gateway answered {response.status_code} for {path}: {response.text[:200]}")
        return response.json()

    def wait_ready(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` wall seconds for the gateway to answer ``/health`` connected to
        its broker (so a runner started beside it loses no simulated time to its own start-up)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if self.get("/health").get("broker", {}).get("ok"):
                    return
                why = "not connected to its broker"
            except RunError as exc:
                why = str(exc)
            if time.monotonic() >= deadline:
                raise RunError(f"gateway {self.url} not ready within {timeout_s:g} s: {why}")
            time.sleep(0.05)

    def clock(self) -> GatewayClock:
        """The gateway's clock as ``/health`` shows it, and the local monotonic instant of that."""
        before = time.monotonic()
        health = self.get("/health")
        after = time.monotonic()
        clock = health.get("clock") or {}
        if "now" not in clock:
            raise RunError(f"gateway {self.url} does not show its clock in /health (too old a gateway?)")
        settled = clock.get("settled")
        return GatewayClock(
            datetime.fromisoformat(clock["now"]),
            float(clock.get("speed", 1.0)),
            (before + after) / 2,
            clock.get("topic") or None,
            datetime.fromisoformat(settled) if settled else None,
        )

    def wait_settled(self, when: datetime, timeout_s: float) -> float:
        """Wait until a driven gateway has processed, ticked and stored everything up to ``when``
        (``/health`` → ``clock.settled``); the wall seconds that took. Raises RunError after
        ``timeout_s``."""
        began = time.monotonic()
        while True:
            settled = self.clock().settled
            if settled is None:
                raise RunError(f"gateway {self.url} no longer follows a clock topic")
            if settled >= when:
                return time.monotonic() - began
            if time.monotonic() - began > timeout_s:
                raise RunError(
                    f"gateway {self.url} did not follow the clock to {when.isoformat()} within "
                    f"{timeout_s:g} s (it is at {settled.isoformat()})"
                )
            time.sleep(0.005)

    def close(self) -> None:
        self._http.close()


class Broker:
    """The devices' side of MQTT: one connection, QoS as each message asks, acks counted."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp", ""):
            raise RunError(f"broker URL {url!r}: use mqtt://host:port")
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"estate-sim-scenario-{uuid.uuid4().hex[:8]}"
        )
        self._client.max_inflight_messages_set(1000)
        self._client.max_queued_messages_set(0)
        if parts.username:
            self._client.username_pw_set(parts.username, parts.password)
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._expected = self._acked = 0
        self.sent = 0
        self._client.on_connect = self._on_connect
        self._client.on_publish = self._on_publish
        try:
            self._client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
        except OSError as exc:
            raise RunError(f"broker {url} unreachable: {exc}") from None
        self._client.loop_start()
        if not self._connected.wait(10):
            self.close()
            raise RunError(f"broker {url} did not accept the connection")

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            self._connected.set()

    def _on_publish(self, _c: mqtt.Client, _u: Any, _mid: int, _rc: Any, _p: Any) -> None:
        with self._lock:
            self._acked += 1

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        # Counted, not tracked by message id: ids wrap after 65,535 messages. Our lock is never
        # held around publish(), since paho calls on_publish holding its own locks.
        self._client.publish(topic, payload, qos=qos, retain=retain)
        self.sent += 1
        with self._lock:
            self._expected += 1  # paho reports QoS 0 messages as published too, once written

    def unacked(self) -> int:
        with self._lock:
            return self._expected - self._acked

    def close(self, wait_s: float = 0.0) -> None:
        deadline = time.monotonic() + wait_s
        while self.unacked() and time.monotonic() < deadline:
            time.sleep(0.02)
        self._client.disconnect()
        self._client.loop_stop()


@dataclass(frozen=True)
class GatewayClock:
    """What ``/health`` says of the gateway's clock. ``topic``: the clock topic of a gateway in
    lock-step time (ESTATE_CLOCK_TOPIC), which the runner then drives; ``settled``: how far it has
    processed everything."""

    now: datetime
    speed: float
    at: float  # local monotonic instant of ``now``
    topic: str | None = None
    settled: datetime | None = None


@dataclass
class SimTime:
    """The gateway's simulated clock, followed locally: ``start`` at ``origin`` (monotonic)."""

    start: datetime
    speed: float
    origin: float

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self.origin) * self.speed)

    def wall_until(self, when: datetime) -> float:
        return max(0.0, (when - self.now()).total_seconds() / self.speed)
