"""Offline detection that scales: a timing wheel of per-device deadlines.

A device is offline when its deadline (last message + 3 × heartbeat) passes without a new message.
With ~200k devices neither a scheduler job per device nor a full scan each second will do: the
wheel files each key under the bucket ``floor(deadline / resolution)`` so a sweep only visits the
buckets that came due, and its cost follows the number of devices expiring, not the number tracked.

Not thread-safe by itself, and needs no lock of its own: the caller serialises access (it already
holds a lock around its device state).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class DeadlineWheel(Generic[K]):
    """Keys (e.g. ``(estate, device)``) with one deadline each, in epoch seconds.

    Complexity, with B the number of buckets that exist (or existed since the last sweep) up to
    ``now``: :meth:`touch`, :meth:`remove` and :meth:`deadline` are O(1); :meth:`pop_due` is
    O(expired + B log B + keys in the bucket holding ``now``). Empty seconds cost nothing, so a
    clock jumping hours ahead is no slower than one stepping a second. The bucket holding ``now``
    is scanned whole because its keys fall either side of ``now``; they all fall due within
    ``resolution_s`` anyway (a live device's deadline stays heartbeats ahead), so with one sweep
    per bucket each key is scanned at most twice and the cost still follows the expiring keys.

    Memory per key: one entry in the key → deadline map, one in its bucket, and the deadline float
    (~120 bytes at 200k keys on CPython 3.11; see ``benchmarks/offline_sweep.py``).
    """

    __slots__ = ("_buckets", "_deadlines", "_heap", "_queued", "_resolution")

    def __init__(self, resolution_s: float = 1.0) -> None:
        if not (math.isfinite(resolution_s) and resolution_s > 0):
            raise ValueError(f"resolution_s must be a positive number of seconds, not {resolution_s!r}")
        self._resolution = resolution_s
        self._deadlines: dict[K, float] = {}
        # dicts rather than sets: same O(1) moves, and insertion order makes pop_due deterministic.
        self._buckets: dict[int, dict[K, None]] = {}
        # Bucket indices in time order. An index stays queued after its bucket empties (removing
        # it from the heap would cost O(B)); pop_due skips it. ``_queued`` keeps one heap entry
        # per index, else a key touched back and forth between two future buckets grows the heap.
        self._heap: list[int] = []
        self._queued: set[int] = set()

    def __len__(self) -> int:
        return len(self._deadlines)

    def __contains__(self, key: object) -> bool:
        return key in self._deadlines

    def deadline(self, key: K) -> float | None:
        return self._deadlines.get(key)

    def touch(self, key: K, deadline_s: float) -> None:
        """Set or replace the key's deadline; one already past is due at the next :meth:`pop_due`."""
        if not math.isfinite(deadline_s):
            raise ValueError(f"deadline_s must be finite, not {deadline_s!r}")
        index = self._index(deadline_s)
        old = self._deadlines.get(key)
        self._deadlines[key] = deadline_s
        if old is not None:
            old_index = self._index(old)
            if old_index == index:
                return
            self._unfile(key, old_index)
        self._file(key, index)

    def remove(self, key: K) -> None:
        old = self._deadlines.pop(key, None)
        if old is not None:
            self._unfile(key, self._index(old))

    def pop_due(self, now_s: float) -> list[K]:
        """Forget and return every key whose deadline is <= ``now_s``, earliest bucket first."""
        current = self._index(now_s)
        due: list[K] = []
        while self._heap and self._heap[0] < current:
            index = heapq.heappop(self._heap)
            self._queued.discard(index)
            bucket = self._buckets.pop(index, None)
            if bucket is not None:  # None: emptied by touch/remove since it was queued
                for key in bucket:
                    del self._deadlines[key]
                due.extend(bucket)
        due.extend(self._pop_partial(current, now_s))
        return due

    def _pop_partial(self, index: int, now_s: float) -> list[K]:
        """The due keys of the bucket holding ``now_s``; it keeps its heap entry for later sweeps."""
        bucket = self._buckets.get(index)
        if bucket is None:
            return []
        due = [key for key in bucket if self._deadlines[key] <= now_s]
        for key in due:
            del self._deadlines[key]
            del bucket[key]
        if not bucket:
            del self._buckets[index]
        return due

    def _index(self, when_s: float) -> int:
        return math.floor(when_s / self._resolution)

    def _file(self, key: K, index: int) -> None:
        bucket = self._buckets.get(index)
        if bucket is None:
            bucket = self._buckets[index] = {}
            if index not in self._queued:
                self._queued.add(index)
                heapq.heappush(self._heap, index)
        bucket[key] = None

    def _unfile(self, key: K, index: int) -> None:
        bucket = self._buckets[index]
        del bucket[key]
        if not bucket:
            del self._buckets[index]
