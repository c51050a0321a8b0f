"""The broker's drop count → gateway.broker_dropping, on an injected wall clock (the MQTT side is
tested against real mosquitto in tests/integration/test_broker_drops.py)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from gateway.broker_watch import BROKER_DROPPING, DROPPED_TOPIC, BrokerWatch, DropCounter
from gateway.mqtt import BrokerAddress
from gateway.stages import Stages


class Published:
    def __init__(self) -> None:
        self.alarms: list[dict[str, object]] = []

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        assert topic == "gateway/gw/alarm"
        self.alarms.append(json.loads(payload))


class Wall:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _counter(tmp_path: Path, wall: Wall, lost: list[int] | None = None) -> tuple[DropCounter, Published]:
    stages, published = Stages("gw", wall=wall), Published()
    stages.attach(published)
    counter = DropCounter(
        "gw",
        stages,
        tmp_path / "broker-drops.json",
        clear_after_s=600,
        wall=wall,
        on_lost=(lost.append if lost is not None else lambda n: None),
    )
    return counter, published


@pytest.mark.expect_errors  # a loss is logged at ERROR
def test_a_rising_count_raises_once_and_clears_after_it_stands_still(tmp_path: Path) -> None:
    wall, lost = Wall(), []
    counter, published = _counter(tmp_path, wall, lost)
    counter.observe(0)
    assert published.alarms == [] and not counter.dropping
    counter.observe(40)
    wall.now += 10
    counter.observe(100)
    assert lost == [40, 60] and counter.lost == 100
    assert [(a["rule"], a["state"], a["dropped"]) for a in published.alarms] == [
        (BROKER_DROPPING, "active", 40)
    ]
    assert counter.stages.alarms() == [BROKER_DROPPING]
    wall.now += 599
    counter.check()
    assert counter.dropping  # not yet quiet for 600 s
    wall.now += 1
    counter.observe(100)
    assert [a["state"] for a in published.alarms] == ["active", "cleared"]
    assert counter.facts()["dropped"] == 100 and counter.stages.alarms() == []


@pytest.mark.expect_errors
def test_a_broker_restart_starts_its_count_again(tmp_path: Path) -> None:
    wall, lost = Wall(), []
    counter, _ = _counter(tmp_path, wall, lost)
    counter.observe(500)  # first sight, nothing kept: reported (the broker says it lost them)
    counter.observe(20)  # lower: the broker restarted and has dropped 20 since
    assert lost == [500, 20]


@pytest.mark.expect_errors
def test_the_last_count_is_kept_across_gateway_restarts(tmp_path: Path) -> None:
    wall = Wall()
    first, _ = _counter(tmp_path, wall)
    first.observe(1_500)
    lost: list[int] = []
    second, published = _counter(tmp_path, wall, lost)
    second.observe(1_500)
    assert lost == [] and published.alarms == []  # the same loss is not reported twice
    second.observe(1_530)
    assert lost == [30]
    assert json.loads((tmp_path / "broker-drops.json").read_text()) == {"broker_count": 1_530}


@pytest.mark.expect_errors
def test_an_unreadable_state_file_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "broker-drops.json").write_text("{not json")
    lost: list[int] = []
    with caplog.at_level(logging.WARNING, logger="gateway.broker_watch"):
        counter, _ = _counter(tmp_path, Wall(), lost)
    assert counter.last_count is None and "broker-drops.json" in caplog.text
    counter.observe(7)
    assert lost == [7]


@pytest.mark.expect_errors
def test_a_state_file_that_cannot_be_written_does_not_stop_the_count(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    stages = Stages("gw")
    counter = DropCounter("gw", stages, blocker / "sub" / "broker-drops.json")  # a file as a directory
    counter.observe(3)
    counter.observe(5)
    assert counter.lost == 5 and counter.dropping


def test_a_strange_payload_is_ignored_and_paho_goes_on(tmp_path: Path) -> None:
    counter, _ = _counter(tmp_path, Wall())
    watch = BrokerWatch(BrokerAddress("127.0.0.1", 1), "gw", counter)
    for payload in (b"many", b"-3", b"\xff"):
        message = mqtt.MQTTMessage(topic=DROPPED_TOPIC.encode())
        message.payload = payload
        watch._on_message(watch._client, None, message)
    assert watch.messages == 0 and counter.last_count is None
    message = mqtt.MQTTMessage(topic=DROPPED_TOPIC.encode())
    message.payload = b"0"
    watch._on_message(watch._client, None, message)
    assert watch.messages == 1 and counter.last_count == 0
    assert watch.facts()["stats"] == "seen"
