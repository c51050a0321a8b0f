"""Driving a real gateway from tests: in-process, or as an ``estate-gateway run`` subprocess
configured only through the environment variables of docs/contract.md §12, plus a QoS 1 device publisher."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.settings import Settings
from tests.support.servers import InfluxV2Target, MosquittoServer, free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
SPEC_EXAMPLE = REPO / "devices" / "samples" / "spec_example.yaml"
ADMIN_TOKEN = "test-admin-token"


def gateway_settings(
    tmp_path: Path, mqtt_url: str, influx: InfluxV2Target | None = None, **extra: Any
) -> Settings:
    """Settings for an in-process gateway: own data dir and instance, InfluxDB if given."""
    if influx is not None:
        extra |= {
            "influx_url": influx.url,
            "influx_token": influx.token,
            "influx_org": influx.org,
            "influx_bucket": influx.bucket,
        }
    instance = f"t-{uuid.uuid4().hex[:6]}"
    return Settings(mqtt_url=mqtt_url, data_dir=tmp_path / "data", instance=instance, api_port=0, **extra)


class Publisher:
    """A device-side MQTT client: QoS 1, persistent session, counts the broker's PUBACKs.

    Acks are tracked through ``on_publish`` rather than ``MQTTMessageInfo.is_published()``, which
    raises for messages queued while disconnected (paho still sends those after reconnecting).
    """

    def __init__(self, host: str, port: int, client_id: str = "test-devices") -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self._lock = threading.Lock()
        self._pending: set[int] = set()
        self._acked: set[int] = set()
        self.client.on_publish = self._on_publish
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        with self._lock:
            self._acked.add(mid)

    def send(self, topic: str, payload: bytes | str | dict[str, Any], qos: int = 1) -> None:
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        # Never hold our lock around publish(): paho calls on_publish from its own thread
        # while holding its locks, and would wait for ours.
        info = self.client.publish(topic, payload, qos=qos)
        if qos > 0:
            with self._lock:
                self._pending.add(info.mid)

    def _all_acked(self) -> bool:
        # mids are unique below 65,536 messages per publisher: enough for every test here.
        with self._lock:
            return self._pending <= self._acked

    def wait_all_acked(self, timeout: float = 60.0) -> None:
        wait_until(self._all_acked, timeout=timeout, message="the broker did not acknowledge every message")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class TopicWatcher:
    """Subscribes to a topic filter and keeps every (payload, retained) that arrives."""

    def __init__(self, broker: MosquittoServer, topic: str) -> None:
        self.seen: list[tuple[bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"watcher-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.seen.append((bytes(msg.payload), bool(msg.retain)))

    def payloads(self) -> list[bytes]:
        with self._lock:
            return [payload for payload, _ in self.seen]

    def last(self) -> bytes | None:
        with self._lock:
            return self.seen[-1][0] if self.seen else None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class GatewayProcess:
    """``estate-gateway run`` in a subprocess, configured by environment variables only."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.env = {
            **os.environ,
            "ESTATE_API_HOST": "127.0.0.1",
            "ESTATE_API_PORT": str(self.port),
            "ESTATE_ADMIN_TOKEN": ADMIN_TOKEN,
            "ESTATE_DATA_DIR": str(workdir / "data"),
            "ESTATE_INSTANCE": "test-gw",
            "ESTATE_INVENTORY": str(SPEC_EXAMPLE),
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "gateway.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.launch()
        wait_until(self._healthy_or_dead, timeout=timeout)
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"gateway exited {self.proc.returncode}:\n{self.log_text()[-3000:]}")

    def launch(self) -> None:
        """Start the process and return at once (``start`` also waits until it is healthy)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it for its lifetime
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "estate_gateway.cli", "run"],
            env=self.env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def _healthy_or_dead(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            return True
        try:
            return bool(httpx.get(f"{self.url}/health", timeout=2).json()["broker"]["ok"])
        except (httpx.HTTPError, ValueError, KeyError):
            return False

    def api(self, path: str, **params: Any) -> Any:
        """GET as admin, ``params`` as the query; the JSON answer (an error status raises)."""
        response = httpx.get(
            f"{self.url}{path}", params=params, timeout=10, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        response.raise_for_status()
        return response.json()

    def post(self, path: str, **body: Any) -> Any:
        """POST as admin, ``body`` as JSON; the JSON answer (an error status raises)."""
        response = httpx.post(
            f"{self.url}{path}", json=body, timeout=10, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        response.raise_for_status()
        return response.json()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=30)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Pacer:
    """Publishes a numbered series of lift readings from a background thread."""

    def __init__(self, publisher: Publisher, total: int, topic: str, start_ms: int) -> None:
        self.publisher, self.total, self.topic, self.start_ms = publisher, total, topic, start_ms
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for i in range(self.total):
            if self._stop.wait(0.001):
                return
            self.publisher.send(self.topic, {"floor": i % 30, "ts": self.start_ms + i})
            self.sent += 1

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float = 120) -> None:
        self._thread.join(timeout)


#: The ``live_gateway`` fixture: ``estate-gateway run`` on the test's mosquitto, and a device-side
#: publisher (both stopped after the test).
LiveGateway = tuple[GatewayProcess, Publisher]
