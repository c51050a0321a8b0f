"""The gateway's MQTT connection against real mosquitto: it reports itself connected only once the
broker has granted its subscriptions, so nothing a device sends after that is lost to it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.mqtt import MqttClient
from tests.support.gateway import Publisher
from tests.support.servers import MosquittoServer

TOPIC = "estate/+/+/+/telemetry"


@pytest.fixture
def client(mosquitto: MosquittoServer) -> Iterator[MqttClient]:
    mqtt_client = MqttClient(mosquitto.url, "t-subscribe", [TOPIC], queue_size=100)
    yield mqtt_client
    mqtt_client.stop()


def hold_subscribe(client: MqttClient) -> threading.Event:
    """Keep the client's SUBSCRIBE from leaving until the returned event is set: a slow broker or a
    busy gateway, made deterministic."""
    paho = client._client
    send = paho.subscribe
    release = threading.Event()

    def later(*args: Any, **kwargs: Any) -> None:
        def go() -> None:
            release.wait(10)
            send(*args, **kwargs)

        threading.Thread(target=go, daemon=True).start()

    paho.subscribe = later  # type: ignore[method-assign]
    return release


def test_connected_means_subscribed(client: MqttClient) -> None:
    release = hold_subscribe(client)
    client.start()
    assert not client.wait_connected(1.0), "connected before the broker granted the subscription"
    release.set()
    assert client.wait_connected(10)


def test_a_message_sent_once_connected_reaches_the_gateway_however_slow_the_subscription(
    client: MqttClient, mosquitto: MosquittoServer
) -> None:
    release = hold_subscribe(client)
    threading.Timer(0.5, release.set).start()
    client.start()
    assert client.wait_connected(10)
    publisher = Publisher(mosquitto.host, mosquitto.port)
    try:
        publisher.send("estate/sunrise/lift/L1/telemetry", {"floor": 3})
        publisher.wait_all_acked()
    finally:
        publisher.close()
    batch = client.get_batch(10, timeout_s=10)
    assert [item.topic for item in batch] == ["estate/sunrise/lift/L1/telemetry"]
    assert b'"floor": 3' in batch[0].payload
