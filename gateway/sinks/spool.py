"""Append-only on-disk queue of line-protocol batches, kept while InfluxDB is unreachable.

One file a batch, named ``{sequence:016d}-{points}.lp``; written to a temporary name, fsynced and
renamed, so a batch is either whole on disk or absent, even after SIGKILL. Batches are replayed
oldest first. A batch the server refuses for good is moved to ``rejected/`` rather than deleted.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SpooledBatch:
    path: Path
    sequence: int
    points: int

    def read(self) -> str:
        return self.path.read_text(encoding="utf-8")


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.rejected_dir = directory / "rejected"
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._batches: deque[SpooledBatch] = deque(self._scan())
        self._points = sum(b.points for b in self._batches)
        self._next = self._batches[-1].sequence + 1 if self._batches else 1

    def _scan(self) -> list[SpooledBatch]:
        for leftover in self.directory.glob("*.tmp"):
            leftover.unlink()  # a write cut short by a crash: never acknowledged, so never owed
        found = []
        for path in self.directory.glob("*.lp"):
            seq, _, points = path.stem.partition("-")
            found.append(SpooledBatch(path, int(seq), int(points)))
        return sorted(found, key=lambda b: b.sequence)

    def append(self, body: str, points: int) -> SpooledBatch:
        with self._lock:
            batch = SpooledBatch(self.directory / f"{self._next:016d}-{points}.lp", self._next, points)
            self._next += 1
            tmp = batch.path.with_suffix(".tmp")
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, batch.path)
            self._fsync_dir()
            self._batches.append(batch)
            self._points += points
            return batch

    def _fsync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def oldest(self) -> SpooledBatch | None:
        with self._lock:
            return self._batches[0] if self._batches else None

    def remove(self, batch: SpooledBatch) -> None:
        """Forget a batch once the server holds it."""
        self._drop(batch)
        batch.path.unlink(missing_ok=True)

    def reject(self, batch: SpooledBatch) -> Path:
        """Set aside a batch the server refuses for good; kept on disk for an operator."""
        self._drop(batch)
        target = self.rejected_dir / batch.path.name
        os.replace(batch.path, target)
        return target

    def keep_rejected(self, body: str) -> Path:
        """Keep a batch refused on its first write (it never entered the spool)."""
        with self._lock:
            target = self.rejected_dir / f"{self._next:016d}-direct.lp"
            self._next += 1
        target.write_text(body, encoding="utf-8")
        return target

    def _drop(self, batch: SpooledBatch) -> None:
        with self._lock:
            if not self._batches or self._batches[0] != batch:
                raise RuntimeError("only the oldest spooled batch can leave the spool")
            self._batches.popleft()
            self._points -= batch.points

    @property
    def batches(self) -> int:
        return len(self._batches)

    @property
    def points(self) -> int:
        return self._points

    def __bool__(self) -> bool:
        return bool(self._batches)
