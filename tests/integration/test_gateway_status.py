"""SPEC §3: ``gateway/{instance}/status`` is retained ``online``; the last will says ``offline`` when
the gateway dies, and a clean stop says it too."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.gateway import GatewayProcess
from tests.support.servers import MosquittoServer, wait_until


class StatusWatcher:
    def __init__(self, broker: MosquittoServer, topic: str) -> None:
        self.seen: list[tuple[str, bool]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="status-watcher")
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.seen.append((msg.payload.decode(), bool(msg.retain)))

    def last(self) -> str | None:
        with self._lock:
            return self.seen[-1][0] if self.seen else None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_retained_online_and_last_will_offline(tmp_path: Path, mosquitto: MosquittoServer) -> None:
    proc = GatewayProcess(tmp_path / "gw", {"ESTATE_MQTT_URL": mosquitto.url, "ESTATE_INSTANCE": "gw-a"})
    proc.start()
    watcher = StatusWatcher(mosquitto, "gateway/gw-a/status")
    try:
        wait_until(lambda: watcher.last() == "online", timeout=10)
        assert watcher.seen[0] == ("online", True)  # a late subscriber gets it: retained
        proc.kill()
        wait_until(lambda: watcher.last() == "offline", timeout=10)  # the broker sent the will
        proc.start()
        wait_until(lambda: watcher.last() == "online", timeout=10)
        proc.terminate()
        wait_until(lambda: watcher.last() == "offline", timeout=10)  # a clean stop says so too
        assert proc.proc is not None and proc.proc.returncode == 130  # Ctrl-C's status, and quietly:
        assert "Traceback" not in proc.log_text()
    finally:
        proc.kill()
        watcher.close()
