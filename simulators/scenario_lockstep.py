"""A scenario against a gateway in lock-step time (its ``ESTATE_CLOCK_TOPIC``): the runner drives
the gateway's clock, so what the gateway does is decided by the messages alone.

Between two looks at the API the devices' messages and the steps go out, unpaced (as fast as the
gateway settles), with a clock message every simulated second (simulators.lockstep); then the runner waits
until the gateway has settled at that time (``/health`` → ``clock.settled``: every message up to
it processed, ticked and stored) and reads the API as of that time. The gateway's clock cannot
move while the runner looks, and a pause or the speed of either side only changes how long the
run takes: one seed, one outcome. The scenario's speed sets how often the runner looks.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from simulators.lockstep import Ticks
from simulators.scenario import Step
from simulators.scenario_checks import Snapshot, Verdict
from simulators.scenario_io import GatewayClock

if TYPE_CHECKING:
    from simulators.scenario_runner import Message, Runner, WorldLike

#: Wall seconds a gateway may take to settle at a time the runner has sent (a backlog to work off).
SETTLE_S = 120.0
#: Wall seconds between two looks at the API at the scenario's speed (at least 1 simulated second).
LOOK_S = 0.25


def look_every(speed: float) -> timedelta:
    """Simulated time between two looks: 15 s at x60, in whole seconds."""
    return timedelta(seconds=min(15, max(1, round(LOOK_S * speed))))


class LockStep:
    def __init__(self, runner: Runner, clock: GatewayClock, topic: str, world: WorldLike | None) -> None:
        self.runner, self.topic, self.world = runner, topic, world
        self.start, self.speed = clock.now, clock.speed
        self.ticks = Ticks(topic, self.start)
        self.steps: list[Step] = list(runner.scenario.ordered_steps())
        self.slowest_settle = 0.0

    def run(self) -> int:
        r, every = self.runner, look_every(self.speed)
        r._say(
            f"started at {self.start.isoformat()} (gateway clock), speed {self.speed:g}, "
            f"lock-step: the runner drives the gateway's clock on {self.topic}"
        )
        end, offset = r._min_run(), timedelta(0)
        while True:
            offset += every
            snap = self._look(offset)
            for check in r.checks:
                check.observe(snap)
            if (
                not self.steps
                and offset >= end
                and all(c.verdict is not Verdict.PENDING or c.deadline is None for c in r.checks)
            ):
                break
        for check in r.checks:
            check.finish(snap)
        return r._report(
            offset,
            f"timing: lock-step on the gateway's clock ({self.ticks.sent} clock messages among those sent); "
            f"it settled at most {self.slowest_settle:.2f} wall s after each look's time was sent",
        )

    def _look(self, offset: timedelta) -> Snapshot:
        """Send everything up to ``start + offset``, wait for the gateway to settle there, read."""
        now = self.start + offset
        while self.steps and self.steps[0].at <= offset:
            step = self.steps.pop(0)
            self._send(self._advance(self.start + step.at))
            self.runner._apply(step, self.world, step.at)
        self._send(self._advance(now))
        waited = self.runner.api.wait_settled(now, SETTLE_S)
        self.slowest_settle = max(self.slowest_settle, waited)
        return self.runner.snapshot_at(self.start, offset)

    def _advance(self, until: datetime) -> list[Message]:
        messages = self.world.advance(until) if self.world is not None else []
        return self.ticks.merge(messages, until)

    def _send(self, messages: list[Message]) -> None:
        """At once, unpaced: the gateway's clock waits for them, and the look that follows waits
        for the gateway to settle."""
        broker = self.runner.broker
        for message in messages:
            broker.publish(message.topic, message.payload, message.qos, message.retain)
