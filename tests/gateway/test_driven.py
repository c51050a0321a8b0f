"""Lock-step time (ESTATE_CLOCK_TOPIC): the gateway's clock moves only on a simulator's clock
messages, in their place among the device messages, so timers never outrun the messages before
them. Built by the real factory; messages are handed to its MQTT queue (no broker needed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devices.clock import DrivenClock, clock_message, to_ns
from devices.loader import load_inventory
from gateway.driven import parse_now
from gateway.mqtt import Inbound
from gateway.service import Gateway, build_gateway
from gateway.settings import Settings
from tests.support.gateway import SPEC_EXAMPLE

START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
TOPIC = "estate-sim/clock/t"
DOOR = "estate/sunrise/access/D1/telemetry"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    settings = Settings(
        mqtt_url="mqtt://127.0.0.1:9",
        data_dir=tmp_path,
        instance="t",
        mqtt_receiver="thread",  # its hand-off queue is where the test puts messages
        clock_topic=TOPIC,
        clock_start=START,
        clock_speed=60,
    )
    built = build_gateway(settings, load_inventory(SPEC_EXAMPLE))
    built.alarms.start()
    yield built
    built.engine.dispose()


class Feed:
    """Messages as the broker hands them over, in order; ``stale_ns`` is the arrival stamp paho's
    thread gives them (the driven clock's now, which may lag the stream: it is replaced)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway, self.mid = gateway, 0

    def put(self, topic: str, payload: bytes) -> None:
        self.mid += 1
        self.gateway.mqtt.put(Inbound(topic, payload, to_ns(START), self.mid, 1))

    def at(self, seconds: float) -> None:
        self.put(TOPIC, clock_message(START + timedelta(seconds=seconds)))

    def door(self, state: str) -> None:
        self.put(DOOR, json.dumps({"door": state}).encode())

    def run(self) -> None:
        while self.gateway.pipeline.run_once():
            pass


def held_open(gateway: Gateway) -> list[str]:
    return [a.state.value for a in gateway.alarms.book.open_alerts() if a.rule == "access.held_open"]


def test_a_door_closed_before_the_clock_passes_its_deadline_raises_nothing(gateway: Gateway) -> None:
    feed = Feed(gateway)
    feed.at(1)
    feed.door("open")
    feed.at(30)
    feed.door("closed")  # all in one batch: as after a pause, the clock is far ahead of the door
    feed.at(600)
    feed.run()
    assert gateway.clock.now() == START + timedelta(seconds=600)
    assert held_open(gateway) == []


def test_a_door_left_open_raises_at_the_first_tick_past_its_deadline(gateway: Gateway) -> None:
    feed = Feed(gateway)
    feed.at(1)
    feed.door("open")
    for second in (30, 60, 61, 90):
        feed.at(second)
    feed.run()
    (alert,) = [a for a in gateway.alarms.book.open_alerts() if a.rule == "access.held_open"]
    assert alert.state.value == "active"
    assert alert.raised_at == START + timedelta(seconds=61)  # opened at 1 s, held 60 s


def test_device_messages_are_received_at_the_clock_of_their_place(gateway: Gateway) -> None:
    feed = Feed(gateway)
    feed.at(42)
    feed.put("estate/sunrise/lift/L1/heartbeat", b"{}")
    feed.at(50)
    feed.run()
    device = gateway.registry.get("sunrise", "L1")
    assert device is not None and device.last_seen_ns == to_ns(START + timedelta(seconds=42))


def test_the_clock_never_goes_back_and_is_settled_once_stored(gateway: Gateway) -> None:
    clock = gateway.clock
    assert isinstance(clock, DrivenClock)
    assert clock.settled == START
    feed = Feed(gateway)
    feed.at(120)
    feed.at(60)  # late or repeated: ignored
    feed.run()
    assert clock.now() == clock.settled == START + timedelta(seconds=120)
    health = gateway.health()["clock"]
    assert health["topic"] == TOPIC and health["settled"] == "2026-01-05T00:02:00+00:00"


def test_a_bad_clock_message_is_a_dead_letter_and_moves_nothing(gateway: Gateway) -> None:
    feed = Feed(gateway)
    feed.put(TOPIC, b'{"now": "yesterday"}')
    feed.put(TOPIC, b"not json")
    feed.run()
    assert gateway.clock.now() == START
    assert gateway.dead_letters.counts() == {"bad_timestamp": 2}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"now": "2026-01-05T08:00:00+08:00"}', START),
        (b'{"now": 1767571200000}', START),
        (b'{"now": "2026-01-05T08:00:00"}', "clock time has no UTC offset"),
        (b'{"now": true}', 'a clock message needs "now": ISO 8601 with offset or integer epoch ms'),
        (b"[1]", 'a clock message is a JSON object {"now": ISO 8601 with offset or epoch ms}'),
    ],
)
def test_clock_messages(payload: bytes, expected: datetime | str) -> None:
    parsed = parse_now(payload)
    assert parsed == expected
    if isinstance(parsed, datetime):
        assert parsed.tzinfo is UTC  # stored and shown in UTC, whatever offset the simulator used


def test_without_a_clock_topic_the_gateway_ticks_by_itself(tmp_path: Path) -> None:
    settings = Settings(mqtt_url="mqtt://127.0.0.1:9", data_dir=tmp_path, instance="t")
    gateway = build_gateway(settings, load_inventory(SPEC_EXAMPLE))
    assert gateway.ticker is not None and not isinstance(gateway.clock, DrivenClock)
    assert "topic" not in gateway.health()["clock"]


@pytest.mark.parametrize("topic", ["estate-sim/#", "estate/sunrise/clock", "a/+/b"])
def test_a_clock_topic_must_be_plain_and_outside_the_device_topics(topic: str) -> None:
    with pytest.raises(ValueError, match="without wildcards"):
        Settings(clock_topic=topic)
