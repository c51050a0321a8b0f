"""Driving a gateway in lock-step time (its ``ESTATE_CLOCK_TOPIC``): after the device messages up
to each whole simulated second, a clock message for that second, on the same connection at QoS 1,
so the gateway takes them in that order (gateway/driven.py). The gateway's clock then never runs
ahead of the devices, nor behind them, whatever either side's pauses."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from devices.clock import clock_message
from simulators.kinds.base import Message

SECOND = timedelta(seconds=1)


class Timed(Protocol):
    @property
    def at(self) -> datetime: ...


M = TypeVar("M", bound=Timed)


class Ticks:
    """Clock messages for ``topic``, one a simulated second after ``start``, merged into the
    world's stream (``last``: the latest one given out)."""

    def __init__(self, topic: str, start: datetime) -> None:
        self.topic, self.last = topic, start
        self.sent = 0  # clock messages given out

    def merge(self, messages: Iterable[M], until: datetime) -> list[M | Message]:
        """``messages`` (in time order, none after ``until``) with the ticks up to ``until``: each
        tick after every message of its time and before any later one."""
        out: list[M | Message] = []
        for message in messages:
            out += self._up_to(message.at, inclusive=False)
            out.append(message)
        return out + self._up_to(until, inclusive=True)

    def _up_to(self, when: datetime, *, inclusive: bool) -> list[Message]:
        out = []
        after = self.last + SECOND
        while after < when or (inclusive and after == when):
            out.append(Message(after, self.topic, clock_message(after)))
            self.sent += 1
            self.last, after = after, after + SECOND
        return out

    def is_tick(self, message: Message) -> bool:
        return message.topic == self.topic


class Publisher(Protocol):
    def publish(self, message: Message) -> None: ...


class Advancing(Protocol):
    now: datetime

    def advance(self, until: datetime) -> Sequence[Message]: ...


#: Simulated time sent in one go before the runner looks at the gateway's watermark.
WINDOW = timedelta(seconds=60)
#: Windows that may be sent and not yet settled: the next is sent while the gateway works off the
#: last, and the broker never holds more than this many windows for it.
IN_FLIGHT = 2


def drive_lockstep(
    world: Advancing,
    sink: Publisher,
    ticks: Ticks,
    wait_settled: Callable[[datetime], object],
    *,
    end: datetime | None,
    stop: threading.Event,
    window: timedelta = WINDOW,
    on_window: Callable[[datetime, int], None] = lambda _at, _sent: None,
) -> int:
    """Unpaced lock-step: the world's messages go out a ``window`` at a time with their clock
    messages, as fast as the gateway settles them. Before a window is sent, the gateway must have
    settled (``wait_settled``: processed, ticked and stored everything up to a time) at the end of
    the window ``IN_FLIGHT`` before it. The outcome cannot depend on either side's speed: the
    gateway's clock moves only on the clock messages. Returns the device messages sent."""
    sent = 0
    unsettled: deque[datetime] = deque()
    while not stop.is_set() and (end is None or world.now < end):
        horizon = world.now + window if end is None else min(world.now + window, end)
        for message in ticks.merge(world.advance(horizon), horizon):
            sink.publish(message)
            sent += not ticks.is_tick(message)
        unsettled.append(horizon)
        on_window(horizon, sent)
        if len(unsettled) >= IN_FLIGHT:
            wait_settled(unsettled.popleft())
    if unsettled and not stop.is_set():
        wait_settled(unsettled[-1])
    return sent
