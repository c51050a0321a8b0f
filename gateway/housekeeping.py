"""Retention, off the hot path: jobs that drop what is kept only for a while (dead letters today),
run on a thread of their own every ``every_s``. A job that fails is counted on the stage
``housekeeping`` (``/health``, the self-alarm) and tried again at the next round."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from gateway.stages import Stages

log = logging.getLogger(__name__)

STAGE = "housekeeping"


class Housekeeping:
    def __init__(
        self,
        jobs: Sequence[tuple[str, Callable[[], int]]],
        stages: Stages,
        *,
        every_s: float = 600.0,
        first_s: float = 60.0,
    ) -> None:
        self.jobs, self.stages, self.every_s, self.first_s = list(jobs), stages, every_s, first_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict[str, int]:
        """Run every job once; what each dropped (a failed job is left out)."""
        done: dict[str, int] = {}
        for name, job in self.jobs:
            try:
                done[name] = job()
            except Exception as exc:
                log.exception("housekeeping job %s failed", name)
                self.stages.failed(STAGE, exc)
                continue
            if done[name]:
                log.info("housekeeping: %s dropped %d", name, done[name])
        if len(done) == len(self.jobs):
            self.stages.succeeded(STAGE)
        return done

    def _loop(self) -> None:
        wait = self.first_s
        while not self._stop.wait(wait):
            self.run_once()
            wait = self.every_s

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="housekeeping", daemon=True)
        self.stages.stage(STAGE, self._thread)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
