"""The gateway's MQTT connection against real mosquitto: it reports itself connected only once the
broker has granted its subscriptions, so nothing a device sends after that is lost to it."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.mqtt import Inbound, MqttClient, _ReadAhead
from tests.support.gateway import Publisher
from tests.support.servers import MosquittoServer, wait_until

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


def test_a_kept_session_is_connected_while_its_backlog_drains(
    client: MqttClient, mosquitto: MosquittoServer
) -> None:
    """After an outage the broker sends the session's backlog before the SUBACK of the new
    SUBSCRIBE; the gateway is connected (its subscription is in the session) all the while."""
    client.start()
    assert client.wait_connected(10)
    client.stop()  # the session and its subscription stay on the broker
    publisher = Publisher(mosquitto.host, mosquitto.port)
    try:
        for n in range(300):  # three times the hand-off queue: paho waits until the pipeline takes
            publisher.send(f"estate/sunrise/lift/L{n}/telemetry", {"floor": 1})
        publisher.wait_all_acked()
    finally:
        publisher.close()
    again = MqttClient(mosquitto.url, "t-subscribe", [TOPIC], queue_size=100)
    try:
        again.start()
        assert again.wait_connected(10), "reported disconnected while the backlog waits to be taken"
        wait_until(lambda: again.depth == 100, timeout=10)  # full: paho waits, the SUBACK behind
        assert again.connected
        taken = 0
        while taken < 300 and (batch := again.get_batch(1000, timeout_s=10)):
            again.ack(batch)
            taken += len(batch)
        assert taken == 300
    finally:
        while again.get_batch(1000, timeout_s=0.2):  # a paho thread waiting on a full queue can stop
            pass
        again.stop()


# paho read ahead (gateway.mqtt._ReadAhead / _Paho): one recv serves many packets.


@pytest.fixture
def socket_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    near, far = socket.socketpair()
    near.setblocking(False)
    yield near, far
    near.close()
    far.close()


def test_read_ahead_serves_small_reads_from_one_recv(
    socket_pair: tuple[socket.socket, socket.socket],
) -> None:
    near, far = socket_pair
    ahead = _ReadAhead(near, size=64)
    far.sendall(b"\x30\x05hello\x30\x03abc")
    assert ahead.recv(1) == b"\x30"
    assert ahead.pending() == 11  # the rest came with the first read, waiting in the buffer
    assert [ahead.recv(1), ahead.recv(5), ahead.recv(1), ahead.recv(1)] == [
        b"\x05",
        b"hello",
        b"\x30",
        b"\x03",
    ]
    assert ahead.recv(10) == b"abc"  # short, as a socket's recv may be; paho reads the rest later
    assert ahead.pending() == 0
    with pytest.raises(BlockingIOError):  # nothing buffered and nothing on the socket: paho's AGAIN
        ahead.recv(1)
    far.sendall(b"xy")
    assert ahead.recv(1) == b"x"
    far.close()
    assert [ahead.recv(1), ahead.recv(1)] == [b"y", b""]  # then the end of the connection
    assert ahead.fileno() == near.fileno()  # the rest is the socket's (paho selects on it)


def test_a_burst_read_ahead_is_all_delivered_and_acknowledged_in_one_write(tmp_path: Path) -> None:
    """Hundreds of messages come in one read; all of them are handed off without waiting for more
    traffic (paho would wait in ``select`` on a socket that has nothing left), and one combined
    PUBACK write acknowledges them: the next start of the session gets none of them again."""
    broker = MosquittoServer(tmp_path / "open-broker", extra_config=("max_inflight_messages 0",))
    broker.start()
    try:
        first = MqttClient(broker.url, "t-burst", [TOPIC], queue_size=5_000)
        first.start()
        assert first.wait_connected(10)
        publisher = Publisher(broker.host, broker.port)
        try:
            for n in range(2_000):
                publisher.send(f"estate/sunrise/lift/L{n}/telemetry", {"n": n})
            publisher.wait_all_acked()
        finally:
            publisher.close()
        got: list[Inbound] = []
        while len(got) < 2_000 and (batch := first.get_batch(5_000, timeout_s=5)):
            got.extend(batch)
        assert [json.loads(i.payload)["n"] for i in got] == list(range(2_000))
        first.ack(got)
        first.stop()
        again = MqttClient(broker.url, "t-burst", [TOPIC], queue_size=5_000)
        again.start()
        try:
            assert again.wait_connected(10)
            assert again.get_batch(10, timeout_s=1.0) == []
        finally:
            again.stop()
    finally:
        broker.kill()


def test_a_clean_stop_is_not_logged_as_a_lost_connection(
    client: MqttClient, caplog: pytest.LogCaptureFixture
) -> None:
    client.start()
    assert client.wait_connected(10)
    with caplog.at_level(logging.INFO, logger="gateway.mqtt"):
        client.stop()
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "gateway.mqtt"]
    assert (logging.INFO, "MQTT disconnected (stopping)") in said
    assert not [m for level, m in said if level >= logging.WARNING], said


def test_receive_times_never_repeat_even_when_the_clock_stands_still() -> None:
    """Two readings of one device without ts at one time would be one InfluxDB point."""
    client = MqttClient("mqtt://127.0.0.1:1", "t-stamp", ["estate/#"], queue_size=10, clock_ns=lambda: 5)
    assert [client._stamp() for _ in range(3)] == [5, 6, 7]


def test_user_and_password_are_percent_decoded_and_the_password_is_never_shown() -> None:
    from gateway.mqtt import BrokerAddress, redacted  # noqa: PLC0415

    url = "mqtt://gw%40sunrise:p%40ss%3Aw%2Frd%231%25x@broker.local:8883"
    address = BrokerAddress.parse(url)
    assert (address.username, address.password) == ("gw@sunrise", "p@ss:w/rd#1%x")
    assert (address.host, address.port) == ("broker.local", 8883)
    assert redacted(url) == "mqtt://gw%40sunrise:***@broker.local:8883"
    assert redacted("mqtt://127.0.0.1:1883") == "mqtt://127.0.0.1:1883"


def test_every_acknowledgement_matches_a_tracked_publish(client: MqttClient) -> None:
    """The status ``online`` is tracked like any publish: an untracked one's acknowledgement stayed
    behind as "early" and, once paho's message ids wrapped, would have passed for another
    message's, so ``sync`` (and the outbox cursor) would have moved before the broker had it."""
    client.start()
    assert client.wait_connected(10)
    client.publish("gateway/t-subscribe/probe", b"x", qos=1)
    assert client.sync(10)
    assert client._early == set() and client._outstanding == set()


def test_a_session_kept_from_the_five_level_filter_drops_it(tmp_path: Path) -> None:
    """Earlier versions subscribed to estate/+/+/+/+ and the broker keeps that in the session;
    beside estate/# a broker may deliver every message twice (MQTT 3.1.1 allows a copy per
    matching subscription; mosquitto 2.0 sends one), so the old filter is unsubscribed."""
    logged = ("log_type subscribe", "log_type unsubscribe")
    with MosquittoServer(tmp_path / "broker", extra_config=logged) as broker:
        old = MqttClient(broker.url, "t-upgrade", ["estate/+/+/+/+"], queue_size=100)
        old.start()
        assert old.wait_connected(10)
        old.stop()
        new = MqttClient(broker.url, "t-upgrade", ["estate/#", "estate-sim/clock"], queue_size=100)
        new.start()
        publisher = Publisher(broker.host, broker.port)
        try:
            assert new.wait_connected(10)
            wait_until(lambda: "estate-gateway-t-upgrade estate/+/+/+/+" in broker.log_text(), timeout=10)
            publisher.send("estate/s/lift/L1/telemetry", {"floor": 1})
            publisher.send("estate/s/lift/L1/telemetry", {"floor": 2})  # after every copy of 1
            seen: list[Inbound] = []

            def got_the_marker() -> bool:
                seen.extend(new.get_batch(100, 0.05))
                return any(json.loads(i.payload)["floor"] == 2 for i in seen)

            wait_until(got_the_marker, timeout=10)
            assert [json.loads(i.payload)["floor"] for i in seen] == [1, 2]
        finally:
            publisher.close()
            new.stop()
