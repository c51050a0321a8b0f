"""Lock-step time for testers (``ESTATE_CLOCK_TOPIC``): the gateway's clock follows a simulator's.

The simulator publishes ``{"now": <ISO 8601 with offset | epoch ms>}`` on the clock topic after
the device messages up to that time, at QoS 1 on the connection they use, so the broker hands
them over in that order. The pipeline takes each clock message in its place among the device
messages: it moves the clock (never backwards) and runs the alarm timers' tick there, so a
timer fires only once every message before its time has been seen. Neither side's pauses (a
garbage collection, a virtual machine held back) can then raise a false alarm, and one seed
gives one outcome. Off by default: a production gateway runs on the system clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from devices.clock import DrivenClock, from_ns


class ClockFollower:
    """Moves a :class:`DrivenClock` on the messages of ``topic`` and ticks the alarm engine."""

    def __init__(self, topic: str, clock: DrivenClock, tick: Callable[[], None]) -> None:
        self.topic, self.clock, self._tick = topic, clock, tick
        self.followed = 0

    def follow(self, payload: bytes) -> str | None:
        """Apply one clock message; the reason it is refused, or None."""
        when = parse_now(payload)
        if isinstance(when, str):
            return when
        self.followed += 1
        if self.clock.advance_to(when):
            self._tick()
        return None

    def settle(self) -> None:
        """Everything up to the clock's now is processed and stored (the pipeline's batch)."""
        self.clock.settle(self.clock.now())


def parse_now(payload: bytes) -> datetime | str:
    """The time of a clock message, or why it is not one."""
    try:
        value = json.loads(payload).get("now")
    except (ValueError, AttributeError):
        return 'a clock message is a JSON object {"now": ISO 8601 with offset or epoch ms}'
    if isinstance(value, int) and not isinstance(value, bool):
        return from_ns(value * 1_000_000)
    if not isinstance(value, str):
        return 'a clock message needs "now": ISO 8601 with offset or integer epoch ms'
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return f"clock time {value[:40]!r} is not ISO 8601"
    if when.tzinfo is None:
        return "clock time has no UTC offset"
    return when.astimezone(UTC)  # the gateway's clock is UTC, as every time it stores
