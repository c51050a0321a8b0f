"""``estate-sim run``: the world in real time over MQTT, its timestamps on simulated time."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices.loader import load_inventory
from simulators.live import Broker, Progress, drive
from simulators.lockstep import Ticks, drive_lockstep
from simulators.world import Message, World
from tests.support.gateway import REPO, SPEC_EXAMPLE, GatewayProcess
from tests.support.servers import MosquittoServer, wait_until

START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai


def run_sim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulators.cli", "run", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_run_publishes_the_world_on_simulated_time(mosquitto: MosquittoServer) -> None:
    received: list[tuple[str, bytes, bool]] = []
    lock, subscribed = threading.Lock(), threading.Event()
    listener = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sim-cli-listener")
    listener.on_subscribe = lambda *_: subscribed.set()

    def keep(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        with lock:
            received.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    listener.on_message = keep
    listener.connect(mosquitto.host, mosquitto.port)
    listener.subscribe("estate/#", qos=1)
    listener.loop_start()
    sunrise = REPO / "devices" / "samples" / "sunrise.yaml"
    try:
        assert subscribed.wait(10)
        args = ["--broker", mosquitto.url, "--inventory", str(sunrise), "--speed", "600", "--duration", "120"]
        args += ["--seed", "4", "--start", START.isoformat()]
        result = run_sim(*args)
        assert result.returncode == 0, result.stderr
        expected = World(load_inventory(sunrise), seed=4, start=START).advance(START + timedelta(seconds=120))
        wait_until(lambda: len(received) >= len(expected), timeout=20)
    finally:
        listener.disconnect()
        listener.loop_stop()
    assert "ESTATE_CLOCK_SPEED=600 ESTATE_CLOCK_START=2026-03-02T02:00:00+00:00" in result.stdout
    assert f"{len(expected):,} messages sent" in result.stdout
    # Exactly the world's messages (the broker keeps each device's order, not the order across them).
    assert Counter((t, p) for t, p, _ in received) == Counter((m.topic, m.payload) for m in expected)
    stamps = [
        datetime.fromisoformat(json.loads(p)["ts"]) for t, p, _ in received if not t.endswith("/status")
    ]
    assert min(stamps) > START and max(stamps) <= START + timedelta(seconds=120)
    assert max(stamps) - min(stamps) > timedelta(seconds=100)  # 2 simulated minutes in 0.2 s of wall time


class Recorded:
    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.published: list[tuple[float, Message]] = []

    def publish(self, message: Message) -> None:
        self.published.append((self.clock[0], message))


def test_each_message_waits_for_its_wall_time_and_progress_comes_every_10_s() -> None:
    clock = [100.0]  # a fake wall clock: sleeping moves it, nothing really waits

    def sleep(seconds: float) -> bool:
        clock[0] += seconds
        return False

    world = World(load_inventory(SPEC_EXAMPLE), start=START)
    sink, progress = Recorded(clock), list[Progress]()
    sent = drive(
        world, sink, speed=60, stop=threading.Event(), duration_s=1800, progress=progress.append,
        wall=lambda: clock[0], sleep=sleep,
    )  # fmt: skip
    assert sent == len(sink.published) > 100 and world.now == START + timedelta(seconds=1800)
    for wall, message in sink.published:
        due = 100.0 + (message.at - START).total_seconds() / 60
        assert due <= wall < due + 1e-6
    assert 29 <= clock[0] - 100.0 <= 31  # 30 simulated minutes at ×60
    assert len(progress) == 2 and [p.sent for p in progress] == sorted(p.sent for p in progress)
    assert all(START < p.simulated <= START + timedelta(seconds=1800) for p in progress)


def test_a_stop_ends_the_run_at_once() -> None:
    stop = threading.Event()
    clock = [0.0]

    def sleep(seconds: float) -> bool:
        clock[0] += seconds
        if clock[0] > 5:
            stop.set()
        return stop.is_set()

    world = World(load_inventory(SPEC_EXAMPLE), start=START)
    sink = Recorded(clock)
    drive(world, sink, speed=10, stop=stop, wall=lambda: clock[0], sleep=sleep)
    assert sink.published and clock[0] < 6


@pytest.mark.parametrize(
    ("url", "broker"),
    [
        ("mqtt://127.0.0.1:1884", Broker("127.0.0.1", 1884)),
        ("mqtt://sim:s%40cret@broker", Broker("broker", 1883, "sim", "s@cret")),
        ("localhost", Broker("localhost", 1883)),
    ],
)
def test_broker_urls(url: str, broker: Broker) -> None:
    assert Broker.from_url(url) == broker


def test_bad_arguments_exit_2() -> None:
    for extra in (["--start", "2026-03-02T10:00:00"], ["--speed", "0"], ["--broker", "http://x"]):
        args = ["--broker", "mqtt://127.0.0.1:1", "--inventory", str(SPEC_EXAMPLE), *extra]
        result = run_sim(*args)
        assert result.returncode == 2, (extra, result.stdout)
        assert "estate-sim run:" in result.stderr


def test_start_and_gateway_exclude_each_other() -> None:
    args = ["--broker", "mqtt://127.0.0.1:1", "--inventory", str(SPEC_EXAMPLE)]
    result = run_sim(*args, "--gateway", "http://127.0.0.1:1", "--start", START.isoformat())
    assert result.returncode == 2 and "--start and --gateway exclude each other" in result.stderr


def test_run_follows_the_gateways_clock(tmp_path: Path, mosquitto: MosquittoServer) -> None:
    gateway = GatewayProcess(
        tmp_path / "gw",
        {
            "ESTATE_MQTT_URL": mosquitto.url,
            "ESTATE_CLOCK_SPEED": "600",
            "ESTATE_CLOCK_START": START.isoformat(),
        },
    )
    gateway.start()
    try:
        args = ["--broker", mosquitto.url, "--inventory", str(SPEC_EXAMPLE), "--gateway", gateway.url]
        other_speed = run_sim(*args, "--speed", "60", "--duration", "60")
        before = datetime.fromisoformat(gateway.api("/health")["clock"]["now"])
        followed = run_sim(*args, "--duration", "600")
        after = datetime.fromisoformat(gateway.api("/health")["clock"]["now"])
        assert followed.returncode == 0, followed.stderr
        sent = int(re.search(r"([\d,]+) messages sent", followed.stdout)[1].replace(",", ""))  # type: ignore[index]
        wait_until(lambda: stored(gateway) >= sent, timeout=20)
        dead = gateway.api("/api/deadletters")["items"]
    finally:
        gateway.kill()
    assert other_speed.returncode == 2 and "runs at ×600: leave out --speed" in other_speed.stderr
    # It started at the gateway's now (not at its start: simulated minutes pass at ×600 while the
    # simulator starts), ran at its speed, and the gateway took every message: no timestamp was out
    # of its range.
    began = datetime.fromisoformat(re.search(r"devices from (\S+) at ×600 ", followed.stdout)[1])  # type: ignore[index]
    assert START < before <= began <= after
    assert f"on the clock of the gateway {gateway.url}" in followed.stdout
    assert sent > 0 and dead == []


def stored(gateway: GatewayProcess) -> int:
    text = httpx.get(f"{gateway.url}/metrics", timeout=5).text
    return sum(
        int(float(v)) for v in re.findall(r'estate_messages_total\{[^}]*outcome="stored"\} (\S+)', text)
    )


def test_ticks_follow_every_message_of_their_second_and_precede_later_ones() -> None:
    ticks = Ticks("estate-sim/clock", START)

    def at(seconds: float) -> Message:
        return Message(START + timedelta(seconds=seconds), "estate/sunrise/lift/L1/heartbeat", b"{}")

    merged = ticks.merge([at(0.5), at(1), at(2.5)], until=START + timedelta(seconds=3))
    shown = [f"{'tick' if ticks.is_tick(m) else 'msg'}@{(m.at - START).total_seconds():g}" for m in merged]
    assert shown == ["msg@0.5", "msg@1", "tick@1", "tick@2", "msg@2.5", "tick@3"]
    assert merged[2].payload == b'{"now": "2026-03-02T02:00:01+00:00"}'
    assert ticks.merge([], until=START + timedelta(seconds=3)) == []  # nothing twice
    assert ticks.sent == 3


def test_driving_a_gateways_clock_sends_a_tick_every_simulated_second() -> None:
    world = World(load_inventory(SPEC_EXAMPLE), start=START)
    sink = Recorded([0.0])
    sent = drive_lockstep(
        world, sink, Ticks("estate-sim/clock", START), lambda _when: None, end=START + timedelta(seconds=300),
        stop=threading.Event(),
    )  # fmt: skip
    ticks = [m.at for _, m in sink.published if m.topic == "estate-sim/clock"]
    assert ticks == [START + timedelta(seconds=s) for s in range(1, 301)]
    assert sent == len(sink.published) - 300 > 0  # device messages only
    latest_tick = START
    for _, message in sink.published:  # no device message after a tick of a later second
        if message.topic == "estate-sim/clock":
            latest_tick = message.at
        else:
            assert message.at > latest_tick


def test_lockstep_sends_a_window_only_once_the_gateway_settled_the_one_before_the_last() -> None:
    """Unpaced, but never more than IN_FLIGHT windows ahead of what the gateway has settled: the
    broker's queue for the gateway stays bounded, whatever the two sides' speeds."""
    world = World(load_inventory(SPEC_EXAMPLE), start=START)
    sink = Recorded([0.0])
    asked: list[tuple[datetime, datetime]] = []  # (settled time waited for, latest tick sent by then)

    def wait_settled(when: datetime) -> None:
        ticks = [m.at for _, m in sink.published if m.topic == "estate-sim/clock"]
        asked.append((when, ticks[-1]))

    end = START + timedelta(seconds=300)
    drive_lockstep(
        world, sink, Ticks("estate-sim/clock", START), wait_settled, end=end, stop=threading.Event()
    )
    minute = timedelta(seconds=60)
    assert [when for when, _ in asked] == [START + k * minute for k in (1, 2, 3, 4, 5)]
    # Each wait came after the next window was sent (two in flight), the last one after the end.
    assert [sent for _, sent in asked] == [START + k * minute for k in (2, 3, 4, 5, 5)]


def test_lockstep_stops_when_told() -> None:
    world = World(load_inventory(SPEC_EXAMPLE), start=START)
    stop = threading.Event()
    windows: list[datetime] = []

    def seen(at: datetime, _sent: int) -> None:
        windows.append(at)
        if len(windows) == 3:
            stop.set()

    drive_lockstep(
        world, Recorded([0.0]), Ticks("estate-sim/clock", START), lambda _w: None, end=None, stop=stop,
        on_window=seen,
    )  # fmt: skip
    assert windows == [START + timedelta(seconds=60 * k) for k in (1, 2, 3)]


def test_run_drives_a_lockstep_gateways_clock(tmp_path: Path, mosquitto: MosquittoServer) -> None:
    gateway = GatewayProcess(
        tmp_path / "gw",
        {
            "ESTATE_MQTT_URL": mosquitto.url,
            "ESTATE_CLOCK_SPEED": "600",
            "ESTATE_CLOCK_START": START.isoformat(),
            "ESTATE_CLOCK_TOPIC": "estate-sim/clock/cli",
        },
    )
    gateway.start()
    try:
        args = ["--broker", mosquitto.url, "--inventory", str(SPEC_EXAMPLE), "--gateway", gateway.url]
        standing = gateway.api("/health")["clock"]
        followed = run_sim(*args, "--duration", "600")
        assert followed.returncode == 0, followed.stderr
        end = START + timedelta(seconds=600)
        wait_until(
            lambda: datetime.fromisoformat(gateway.api("/health")["clock"]["settled"]) >= end, timeout=30
        )
        sent = int(re.search(r"([\d,]+) messages sent", followed.stdout)[1].replace(",", ""))  # type: ignore[index]
        wait_until(lambda: stored(gateway) >= sent, timeout=20)
        final = gateway.api("/health")["clock"]
        dead = gateway.api("/api/deadletters")["items"]
        alerts = gateway.api("/api/alerts")
    finally:
        gateway.kill()
    # The gateway's clock stood still until the simulator drove it, and went exactly as far.
    assert standing["now"] == standing["settled"] == START.isoformat()
    assert final["now"] == final["settled"] == end.isoformat()
    assert f"devices from {START.isoformat()} at ×600" in followed.stdout
    assert "driving the clock of the gateway" in followed.stdout
    assert sent > 0 and dead == [] and alerts == []
