"""Time comes from an injected clock: the system clock in production, a manual one in tests."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ScaledClock:
    """Simulated time for testers: starts at ``start`` and runs ``speed`` times faster than the
    wall clock (a gateway and a simulator at the same speed and start agree, so an hour-long
    on-delay takes a minute at speed 60)."""

    def __init__(self, start: datetime, speed: float) -> None:
        if start.tzinfo is None:
            raise ValueError("ScaledClock needs a timezone-aware start")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start, self.speed = start.astimezone(UTC), speed
        self._origin = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._origin) * self.speed)

    def wall_seconds(self, simulated: timedelta) -> float:
        """How long ``simulated`` time takes on the wall clock."""
        return simulated.total_seconds() / self.speed


class ManualClock:
    """A clock that only moves when told to; thread-safe so a pipeline thread may read it."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | float) -> datetime:
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        with self._lock:
            self._now += step
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when


class DrivenClock(ManualClock):
    """Time in lock-step with a simulator (``ESTATE_CLOCK_TOPIC``): it moves only when a clock
    message is processed, in order with the device messages around it, and never backwards. A
    pause of either side then changes nothing a test can see: neither side's time moves while it
    is held. ``settled`` is the latest time up to which every message has been processed, ticked
    and stored (what a scenario runner waits for before it looks); ``speed`` is only the pace the
    simulator is asked to keep."""

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        super().__init__(start.astimezone(UTC))
        self.speed = speed
        self._settled = self._now

    def advance_to(self, when: datetime) -> bool:
        """Move to ``when`` if that is later; False (and no move) otherwise."""
        with self._lock:
            if when <= self._now:
                return False
            self._now = when
            return True

    def settle(self, when: datetime) -> None:
        with self._lock:
            self._settled = max(self._settled, when)

    @property
    def settled(self) -> datetime:
        with self._lock:
            return self._settled


def clock_message(when: datetime) -> bytes:
    """What a simulator publishes on a driven gateway's clock topic to move it to ``when``."""
    return b'{"now": "%s"}' % when.astimezone(UTC).isoformat().encode()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ns(when: datetime) -> int:
    """UTC epoch nanoseconds of an aware datetime, exact (no float rounding)."""
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def from_ns(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1_000)
