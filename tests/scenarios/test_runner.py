"""The scenario runner's own behaviour, against a typed fake of the gateway's API and the broker
(the library suite runs it against the real ones)."""

from __future__ import annotations

import io
import json
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from simulators.scenario import load_scenario
from simulators.scenario_io import Broker, GatewayApi, GatewayClock, SimTime
from simulators.scenario_lockstep import LockStep
from simulators.scenario_runner import PASSED, Runner, make_world

SCENARIO = """\
name: slow-poll
inventory: sample:spec_example
speed: 60
duration: 1m
clock_start: "2026-03-02T10:00:00+08:00"
steps:
  - {at: 30s, publish: {topic: estate/sunrise/lift/L1/event, payload: {type: fault, code: entrapment}}}
expect:
  deadletters:
    - {reason: any, count: 0}
"""
STEP_TOPIC = "estate/sunrise/lift/L1/event"
#: Long enough never to pass in a working run; it bounds how long a broken one takes to fail.
GIVE_UP_S = 10.0


class FakeBroker:
    def __init__(self) -> None:
        self.sent = 0
        self.topics: list[str] = []
        self.step_sent = threading.Event()

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        self.sent += 1
        self.topics.append(topic)
        if topic == STEP_TOPIC:
            self.step_sent.set()


class HangingApi:
    """A gateway whose alert list hangs, once past the start, until the step's message is out: a
    runner that published from the thread that polls would never get it out (a slow API, at x60,
    held the devices back by simulated minutes)."""

    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self.alert_polls = 0
        self.step_out_while_hanging: bool | None = None

    def get(self, path: str, **_params: Any) -> Any:
        if path == "/api/alerts":
            self.alert_polls += 1
            if self.alert_polls == 3 and self.step_out_while_hanging is None:
                self.step_out_while_hanging = self.broker.step_sent.wait(GIVE_UP_S)
            return []
        if path == "/api/deadletters":
            return {"counts": {}}
        if path == "/health":
            return {"queue": {"behind_s": 0.0}}
        raise AssertionError(f"unexpected GET {path}")


def test_a_hanging_poll_does_not_hold_the_devices_back(tmp_path: Path) -> None:
    path = tmp_path / "slow-poll.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    loaded = load_scenario(path)
    broker = FakeBroker()
    api = HangingApi(broker)
    out = io.StringIO()
    runner = Runner(loaded, cast(GatewayApi, api), cast(Broker, broker), None, out)
    runner.prepare()
    start = datetime.fromisoformat("2026-03-02T10:00:00+08:00")
    assert runner.run(SimTime(start, 60.0, time.monotonic())) == PASSED, out.getvalue()
    assert api.step_out_while_hanging is True
    # The world's devices went on too: every device of the estate said it is online.
    assert sum(t.endswith("/status") for t in broker.topics) == len(loaded.inventory.estates[0].devices)
    assert "timing: messages left at most" in out.getvalue()


class LaggingDrivenApi(GatewayApi):
    """A gateway in lock-step time that settles one ``/health`` look late: it has processed the
    clock messages the broker took only by the look after. Records, for each read of the alerts,
    where the gateway had settled and the latest clock message sent. (The real API class with
    its ``get`` replaced: its clock reading and waiting are under test.)"""

    def __init__(self, broker: RecordingBroker, start: datetime) -> None:  # no HTTP client
        self.url = "http://gateway.invalid"
        self.broker, self.start = broker, start
        self.settled = start
        self.reads: list[tuple[datetime, datetime]] = []

    def get(self, path: str, **_params: Any) -> Any:
        if path == "/health":
            shown, self.settled = self.settled, self.broker.latest_tick or self.start
            return {
                "clock": {
                    "now": shown.isoformat(),
                    "speed": 600.0,
                    "topic": CLOCK,
                    "settled": shown.isoformat(),
                }
            }
        if path == "/api/alerts":
            self.reads.append((self.settled, self.broker.latest_tick or self.start))
            return []
        if path == "/api/deadletters":
            return {"counts": {}}
        raise AssertionError(f"unexpected GET {path}")


CLOCK = "estate-sim/clock/test"


class RecordingBroker(FakeBroker):
    def __init__(self) -> None:
        super().__init__()
        self.latest_tick: datetime | None = None
        self.after_step_tick: datetime | None = None  # the clock when the step's message went out

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        super().publish(topic, payload, qos, retain)
        if topic == CLOCK:
            self.latest_tick = datetime.fromisoformat(json.loads(payload)["now"])
        elif topic == STEP_TOPIC:
            self.after_step_tick = self.latest_tick


def test_in_lockstep_the_runner_reads_the_api_only_once_the_gateway_has_settled(tmp_path: Path) -> None:
    path = tmp_path / "lockstep.yaml"
    path.write_text(SCENARIO.replace("speed: 60", "speed: 600"), encoding="utf-8")
    loaded = load_scenario(path)
    start = datetime.fromisoformat("2026-03-02T10:00:00+08:00")
    broker = RecordingBroker()
    api = LaggingDrivenApi(broker, start)
    runner = Runner(loaded, api, cast(Broker, broker), None, io.StringIO())
    runner.prepare()
    clock = GatewayClock(start, 600.0, time.monotonic(), CLOCK, start)
    code = LockStep(runner, clock, CLOCK, make_world(loaded.inventory, 1, start)).run()
    out = cast(io.StringIO, runner.out).getvalue()
    assert code == PASSED, out
    looks = [start + timedelta(seconds=15 * n) for n in range(1, 5)]
    assert [settled for settled, _ in api.reads[1:]] == looks  # (the first read: the baseline)
    assert all(settled == sent for settled, sent in api.reads[1:])  # never ahead of the gateway
    ticks = [t for t in broker.topics if t == CLOCK]
    assert len(ticks) == 60  # one a simulated second up to the last look
    assert broker.after_step_tick == start + timedelta(seconds=30)  # the step at +30s, at its time
    assert "timing: lock-step on the gateway's clock (60 clock messages among those sent)" in out
