"""The alert-latency benchmark's load generator encodes MQTT itself: its packets must be what
mosquitto and a paho subscriber take as the messages meant, and its count of PUBACKs true."""

from __future__ import annotations

import pytest

from benchmarks.mqtt_blast import Blaster, publish_packet
from tests.support.gateway import TopicWatcher
from tests.support.servers import MosquittoServer, wait_until

pytestmark = pytest.mark.integration


def test_publish_packet_encodes_a_long_payload_length_in_several_bytes() -> None:
    packet = publish_packet("a/b", b"x" * 200, mid=7)
    # fixed header 0x32 (PUBLISH, QoS 1), remaining length 2+3+2+200 = 207 = 0xCF 0x01
    assert packet[:3] == b"\x32\xcf\x01"
    assert packet[3:8] == b"\x00\x03a/b" and packet[8:10] == b"\x00\x07"
    assert packet[10:] == b"x" * 200


def test_every_message_arrives_as_published_and_every_ack_is_counted(mosquitto: MosquittoServer) -> None:
    messages = [
        (f"estate/e1/lift/L{n}/telemetry", b'{"n": %d, "pad": "%s"}' % (n, b"p" * n)) for n in range(300)
    ]
    watcher = TopicWatcher(mosquitto, "estate/#")
    try:
        # Subscribed once a probe comes back (connected alone is before the SUBACK).
        def probe_seen() -> bool:
            watcher.client.publish("estate/probe", b"probe", qos=1)
            return b"probe" in watcher.payloads()

        wait_until(probe_seen, timeout=10)
        blaster = Blaster(mosquitto.host, mosquitto.port, messages, client_id="t-blast")
        blaster.run(rate=2_000, duration_s=0.6)  # 1,200 messages: the pool of 300 four times over
        assert blaster.sent == 1_200
        assert blaster.acked == 1_200

        def received() -> list[bytes]:
            return [p for p in watcher.payloads() if p != b"probe"]

        wait_until(lambda: len(received()) >= 1_200, timeout=10)
        assert received() == [payload for _, payload in messages] * 4
    finally:
        watcher.close()
