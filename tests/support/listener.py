"""An MQTT subscriber for tests: keeps every JSON message on a topic filter, with its arrival time."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.servers import MosquittoServer


class Listener:
    def __init__(self, broker: MosquittoServer, topic: str, client_id: str = "test-listener") -> None:
        self.received: list[dict[str, Any]] = []
        self.arrived_ns: list[int] = []
        self._lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        at = time.time_ns()
        with self._lock:
            self.received.append({**json.loads(msg.payload), "_topic": msg.topic})
            self.arrived_ns.append(at)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.received)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
