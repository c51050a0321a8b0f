"""Driving a gateway in lock-step time (its ``ESTATE_CLOCK_TOPIC``): after the device messages up
to each whole simulated second, a clock message for that second, on the same connection at QoS 1,
so the gateway takes them in that order (gateway/driven.py). The gateway's clock then never runs
ahead of the devices, nor behind them, whatever either side's pauses."""

from __future__ import annotations

from collections.abc import Iterable
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
