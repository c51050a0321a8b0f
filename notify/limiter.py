"""Each channel's rate: at most ``per_min`` requests in any 60 s (a sliding window, as the robots
count), and the channel's retry clock after a failure."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

WINDOW = timedelta(seconds=60)


class RateWindow:
    def __init__(self, per_min: int) -> None:
        self.per_min = per_min
        self._times: deque[datetime] = deque()

    def prime(self, times: Iterable[datetime]) -> None:
        """Requests made before a restart still count against the minute."""
        self._times.extend(sorted(times))

    def free(self, now: datetime) -> int:
        while self._times and self._times[0] <= now - WINDOW:
            self._times.popleft()
        return max(0, self.per_min - len(self._times))

    def note(self, now: datetime) -> None:
        self._times.append(now)


@dataclass
class Backoff:
    """When a failing channel is tried next: ``base_s`` doubling up to ``max_s``, or what the
    vendor asked for (its "too fast" codes), whichever is later."""

    base_s: float = 1.0
    max_s: float = 60.0
    failures: int = 0
    retry_at: datetime | None = field(default=None)

    def failed(self, now: datetime, at_least_s: float | None = None) -> datetime:
        self.failures += 1
        wait = min(self.max_s, self.base_s * 2 ** (self.failures - 1))
        self.retry_at = now + timedelta(seconds=max(wait, at_least_s or 0.0))
        return self.retry_at

    def succeeded(self) -> None:
        self.failures, self.retry_at = 0, None

    def waiting(self, now: datetime) -> bool:
        return self.retry_at is not None and now < self.retry_at
