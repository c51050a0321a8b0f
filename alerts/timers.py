"""One timer abstraction for the alarm core's deadlines: escalations and shelve expiries (the alert
book), rule on-delays (the engine), work-order clocks (the dispatch desk).

Keys due at times, in time order (ties in the order they were set). Setting a key again does not
move its earlier entry: each owner checks, when a key comes due, whether it still stands (an
alert acknowledged since, an order whose deadline moved), which costs one look per stale entry
instead of a search on every change. Devices' offline deadlines, which every message replaces,
keep their own timing wheel (alerts/staleness.py: O(1) to move, 100,000 devices).

Not thread-safe: it belongs to the alarm core's one thread (alerts/owner.py), like the rest.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime
from itertools import count
from typing import Generic, TypeVar

#: When: a datetime (the book, the desk) or nanoseconds since the epoch (the engine's hot path).
T = TypeVar("T", datetime, int)
K = TypeVar("K")


class Timers(Generic[T, K]):
    def __init__(self) -> None:
        self._heap: list[tuple[T, int, K]] = []
        self._seq = count()

    def at(self, due: T, key: K) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), key))

    def due(self, now: T) -> Iterator[tuple[T, K]]:
        """Take each entry due at ``now`` or before, earliest first, with its time. An entry set
        while this runs (due by ``now``) comes out in the same pass."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, _, key = heapq.heappop(heap)
            yield due, key

    def __len__(self) -> int:
        return len(self._heap)
