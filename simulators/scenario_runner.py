"""Running a scenario against a live gateway: simulated devices over MQTT, faults at their times,
and the REST API polled until every expectation is decided.

Time is the gateway's: the run starts at the gateway's clock (``GET /health`` → ``clock.now``) and
follows it at the gateway's speed (wall seconds = simulated seconds / speed), so a device message
stamped ``ts`` arrives when the gateway's clock says ``ts``. The world simulator
(:mod:`simulators.world`) is imported only when installed; without it only ``publish`` steps run.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TextIO

from devices.inventory import Inventory
from simulators.scenario import LoadedScenario, Step, format_duration
from simulators.scenario_checks import Snapshot, Verdict, build_checks, never_shown, render
from simulators.scenario_io import Broker, GatewayApi, GatewayClock, RunError, SimTime
from simulators.scenario_lockstep import LockStep

#: Exit codes of ``estate-sim scenario``.
PASSED, FAILED, UNUSABLE = 0, 1, 2
#: Wall seconds between two looks at the API, and between two looks at the world's clock.
POLL_S, TICK_S = 0.25, 0.02
#: Wall seconds to wait at the end for the broker to acknowledge what was sent.
ACK_WAIT_S = 5.0


class Message(Protocol):
    @property
    def at(self) -> datetime: ...
    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def retain(self) -> bool: ...
    @property
    def qos(self) -> int: ...


class WorldLike(Protocol):
    """What the runner needs of :class:`simulators.world.World`."""

    def advance(self, until: datetime) -> Sequence[Message]: ...
    def inject(self, estate: str, device: str, fault: str, **params: Any) -> None: ...
    def clear(self, estate: str, device: str, fault: str) -> None: ...


def make_world(inventory: Inventory, seed: int, start: datetime) -> WorldLike | None:
    try:
        from simulators.world import World  # noqa: PLC0415 - optional until the world simulator lands
    except ImportError:
        return None
    world: WorldLike = World(inventory, seed=seed, start=start)
    return world


@dataclass
class Baseline:
    """What the gateway held before the run: not the scenario's doing."""

    alerts: set[int] = field(default_factory=set)
    orders: set[int] = field(default_factory=set)
    deadletters: dict[str, int] = field(default_factory=dict)


class Runner:
    def __init__(
        self, loaded: LoadedScenario, api: GatewayApi, broker: Broker, seed: int | None, out: TextIO
    ) -> None:
        self.loaded, self.scenario = loaded, loaded.scenario
        self.api, self.broker, self.out = api, broker, out
        self.seed = self.scenario.seed if seed is None else seed
        self.checks = build_checks(loaded)
        expect = self.scenario.expect
        self.wants_orders, self.wants_rounds = bool(expect.workorders), bool(expect.patrols)
        self.wants_deadletters = bool(expect.deadletters)
        self.baseline = Baseline()
        #: Closed alerts that were never shown (raised suppressed, closed back to normal under it).
        self._unseen: dict[int, bool] = {}
        #: The most the gateway's rules were seen behind its messages (wall seconds, from /health).
        self.gateway_behind_s = 0.0

    def prepare(self) -> None:
        """What the gateway held before the run (read before the clock starts: it takes time)."""
        self.baseline = self._baseline()

    def run(self, clock: SimTime) -> int:
        world = make_world(self.loaded.inventory, self.seed, clock.start)
        self._say(
            f"started at {clock.start.isoformat()} (gateway clock), speed {clock.speed:g}"
            + ("" if world else "; no world simulator: only publish steps")
        )
        devices = Devices(self, world, clock, list(self.scenario.ordered_steps()))
        devices.start()
        end = self._min_run()
        try:
            while True:
                devices.raise_failure()
                snap = self.snapshot(clock)
                for check in self.checks:
                    check.observe(snap)
                if (
                    devices.steps_done
                    and snap.offset >= end
                    and all(c.verdict is not Verdict.PENDING or c.deadline is None for c in self.checks)
                ):
                    break
                time.sleep(POLL_S)
        finally:
            devices.stop()
        devices.raise_failure()
        final = self.snapshot(clock)
        for check in self.checks:
            check.finish(final)
        return self._report(
            final.offset,
            f"timing: messages left at most {devices.late.total_seconds():.1f} s late, the gateway's rules "
            f"were at most {self.gateway_behind_s * self.scenario.speed:.1f} s behind them (simulated)",
        )

    def _min_run(self) -> timedelta:
        """The run lasts until the last step, the scenario's duration and every no_alerts period."""
        s = self.scenario
        times = [step.at for step in s.steps] + [n.until for n in s.expect.no_alerts if n.until is not None]
        return max([*times, s.duration or timedelta(0)], default=timedelta(0))

    def _apply(self, step: Step, world: WorldLike | None, at: timedelta) -> None:
        when = f"+{format_duration(at)}"
        if step.publish is not None:
            self.broker.publish(
                step.publish.topic, step.publish.body(), step.publish.qos, step.publish.retain
            )
            self._say(f"{when:>8}  publish {step.publish.topic}")
            return
        if world is None:
            raise RunError("fault and clear steps need simulators.world (not installed)")
        estate, device = self.loaded.estate_of(step.estate), step.device or ""
        try:
            self._change(world, step, estate, device, when)
        except ValueError as exc:  # the world refuses a fault its device cannot have
            raise RunError(f"step at {when}: {exc}") from None

    def _change(self, world: WorldLike, step: Step, estate: str, device: str, when: str) -> None:
        where = f"{estate}/{device}" if device else f"estate {estate}"  # no device: estate-wide
        if step.fault is not None:
            world.inject(estate, device, step.fault, **step.params)
            params = " ".join(f"{k}={v}" for k, v in step.params.items())
            self._say(f"{when:>8}  fault {step.fault} on {where} {params}".rstrip())
        elif step.clear is not None:
            world.clear(estate, device, step.clear)
            self._say(f"{when:>8}  clear {step.clear} on {where}")

    def _baseline(self) -> Baseline:
        return Baseline(
            {a["id"] for a in self.api.get("/api/alerts", limit=5000)},
            {o["id"] for o in self.api.get("/api/workorders", limit=5000)} if self.wants_orders else set(),
            dict(self.api.get("/api/deadletters", limit=1)["counts"]),
        )

    def snapshot(self, clock: SimTime) -> Snapshot:
        """What the API shows now, as of the moment the first request leaves."""
        start, offset = clock.start, clock.now() - clock.start
        behind = self.api.get("/health").get("queue", {}).get("behind_s", 0.0)
        self.gateway_behind_s = max(self.gateway_behind_s, float(behind))
        return self.snapshot_at(start, offset)

    def snapshot_at(self, start: datetime, offset: timedelta) -> Snapshot:
        """What the API shows, taken as its state at ``start + offset``."""
        alerts = self.api.get("/api/alerts", limit=5000)
        orders = self.api.get("/api/workorders", limit=5000) if self.wants_orders else []
        counts = self.api.get("/api/deadletters", limit=1)["counts"] if self.wants_deadletters else {}
        new_counts = {r: n - self.baseline.deadletters.get(r, 0) for r, n in counts.items()}
        return Snapshot(
            start,
            offset,
            [self._seen(a) for a in alerts if a["id"] not in self.baseline.alerts],
            [o for o in orders if o["id"] not in self.baseline.orders],
            self._rounds(start, offset) if self.wants_rounds else [],
            {r: n for r, n in new_counts.items() if n},
            {a["id"]: a for a in alerts},
        )

    def _seen(self, alert: dict[str, Any]) -> dict[str, Any]:
        """A closed alert nobody acknowledged may never have been shown: its history says
        (read once: a closed alert does not change)."""
        if alert.get("state") != "closed" or alert.get("acknowledged"):
            return alert
        if alert["id"] not in self._unseen:
            history = self.api.get(f"/api/alerts/{alert['id']}").get("history", [])
            self._unseen[alert["id"]] = never_shown(history)
        return {**alert, "never_shown": self._unseen[alert["id"]]}

    def _rounds(self, start: datetime, offset: timedelta) -> list[dict[str, Any]]:
        rounds: list[dict[str, Any]] = []
        for estate in self.loaded.inventory.estates:
            if not estate.patrols:
                continue
            first = (start - timedelta(days=1)).astimezone(estate.tz).date()
            last = (start + offset).astimezone(estate.tz).date()
            day = first
            while day <= last:
                for record in self.api.get("/api/patrols", estate=estate.id, date=day.isoformat()):
                    rounds += [{**r, "estate": record["estate"]} for r in record["rounds"]]
                day += timedelta(days=1)
        return rounds

    def _report(self, offset: timedelta, timing: str) -> int:
        self._say(f"ended at +{format_duration(offset)}; {self.broker.sent} messages sent")
        self._say(timing)
        print(file=self.out)
        for check in self.checks:
            for line in render(check):
                print(line, file=self.out)
        failed = sum(c.verdict is not Verdict.PASSED for c in self.checks)
        total = len(self.checks)
        verdict = (
            f"FAIL: {failed} of {total} expectations not met"
            if failed
            else f"PASS: all {total} expectations met"
        )
        print(f"\n{self.scenario.name}: {verdict}", file=self.out, flush=True)
        return FAILED if failed else PASSED

    def _say(self, text: str) -> None:
        print(f"[{self.scenario.name}] {text}", file=self.out, flush=True)


class Devices(threading.Thread):
    """The devices' side of a run, in a thread of its own: the world's messages and the steps go
    out on the clock whatever the API polls cost (at x60 a poll held up for 0.5 s would be 30
    simulated seconds of silence). ``late``: the most a message left after its simulated time."""

    def __init__(self, runner: Runner, world: WorldLike | None, clock: SimTime, steps: list[Step]) -> None:
        super().__init__(name="scenario-devices", daemon=True)
        self._runner, self._world, self._clock, self._steps = runner, world, clock, steps
        self._stopping = threading.Event()
        self._failure: BaseException | None = None
        self.late = timedelta(0)

    @property
    def steps_done(self) -> bool:
        return not self._steps

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                self._step(self._clock.now())
                self._stopping.wait(TICK_S)
        except BaseException as exc:  # handed to the polling thread, which reports it
            self._failure = exc

    def _step(self, now: datetime) -> None:
        world, steps, start = self._world, self._steps, self._clock.start
        while steps and start + steps[0].at <= now:
            step = steps[0]
            self._send(world.advance(start + step.at) if world else ())
            self._runner._apply(step, world, step.at)
            steps.pop(0)
        self._send(world.advance(now) if world else ())

    def _send(self, messages: Iterable[Message]) -> None:
        for message in messages:
            self._runner.broker.publish(message.topic, message.payload, message.qos, message.retain)
            self.late = max(self.late, self._clock.now() - message.at)

    def stop(self) -> None:
        self._stopping.set()
        self.join()

    def raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure


def check_clock(loaded: LoadedScenario, clock: GatewayClock) -> None:
    scenario, now, speed = loaded.scenario, clock.now, clock.speed
    if abs(speed - scenario.speed) > 1e-9 * scenario.speed:
        raise RunError(
            f"the scenario runs at speed {scenario.speed:g} but the gateway's clock at {speed:g}: "
            f"start the gateway with ESTATE_CLOCK_SPEED={scenario.speed:g}"
        )
    start = scenario.clock_start
    if start is not None and not start <= now <= start + scenario.clock_slack:
        raise RunError(
            f"the scenario needs the gateway's clock started at {start.isoformat()} "
            f"(ESTATE_CLOCK_START; at most {format_duration(scenario.clock_slack)} ago) "
            f"but it is {now.isoformat()}"
        )


def check_estates(loaded: LoadedScenario, api: GatewayApi) -> None:
    known = {e["id"] for e in api.get("/api/estates")}
    missing = [e.id for e in loaded.inventory.estates if e.id not in known]
    if missing:
        raise RunError(
            f"the gateway does not know estate(s) {', '.join(missing)} (or the token does not reach "
            f"them): run it with ESTATE_INVENTORY={loaded.inventory_path}"
        )


def run_scenario(
    loaded: LoadedScenario,
    gateway: str,
    token: str,
    broker_url: str,
    *,
    seed: int | None = None,
    out: TextIO | None = None,
    wait_s: float = 0.0,
) -> int:
    """Run ``loaded`` against the gateway at ``gateway``; the exit code (0 pass, 1 fail, 2 unusable).
    ``wait_s``: how long the gateway may take to come up (0: it must be up already)."""
    out = out or sys.stdout
    errors = sys.stderr if out is sys.stdout else out
    api = GatewayApi(gateway, token)
    broker: Broker | None = None
    try:
        if wait_s > 0:
            api.wait_ready(wait_s)
        check_clock(loaded, api.clock())
        check_estates(loaded, api)
        broker = Broker(broker_url)
        runner = Runner(loaded, api, broker, seed, out)
        runner.prepare()
        clock = api.clock()  # again: the devices start on it at once, none of them late
        check_clock(loaded, clock)
        if clock.topic is not None:  # lock-step: the runner drives the gateway's clock
            world = make_world(loaded.inventory, runner.seed, clock.now)
            return LockStep(runner, clock, clock.topic, world).run()
        return runner.run(SimTime(clock.now, clock.speed, clock.at))
    except RunError as exc:
        print(f"estate-sim scenario: {exc}", file=errors, flush=True)
        return UNUSABLE
    except Exception:  # a simulator bug: exit 2 (nothing judged), never 1, which blames the gateway
        traceback.print_exc(file=errors)
        print("estate-sim scenario: the run broke down (above); nothing was judged", file=errors, flush=True)
        return UNUSABLE
    finally:
        api.close()
        if broker is not None:
            broker.close(ACK_WAIT_S)
