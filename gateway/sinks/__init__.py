"""Where readings go: the sink seam, its health, and an in-memory fake for unit tests."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from devices.base import Reading


@dataclass
class SinkStats:
    """Counters a sink keeps; read by /health and /metrics."""

    points_written: int = 0
    batches_written: int = 0
    batches_spooled: int = 0
    batches_replayed: int = 0
    batches_rejected: int = 0
    write_failures: int = 0


@dataclass(frozen=True)
class SinkHealth:
    name: str
    ok: bool
    detail: str
    spool_batches: int = 0
    spool_points: int = 0


class ReadingSink(Protocol):
    """A time-series store. ``write`` returns once the batch is durable (stored or spooled)."""

    name: str
    stats: SinkStats

    def write(self, readings: Sequence[Reading]) -> None: ...

    def health(self) -> SinkHealth: ...

    def start(self) -> None: ...

    def close(self) -> None: ...


@dataclass
class MemorySink:
    """Typed in-memory fake: keeps every reading written, in order."""

    name: str = "memory"
    stats: SinkStats = field(default_factory=SinkStats)
    readings: list[Reading] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def write(self, readings: Sequence[Reading]) -> None:
        with self._lock:
            self.readings.extend(readings)
            self.stats.points_written += len(readings)
            self.stats.batches_written += 1

    def health(self) -> SinkHealth:
        return SinkHealth(self.name, True, "in memory")

    def start(self) -> None:
        return None

    def close(self) -> None:
        return None
