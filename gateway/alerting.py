"""The alarm engine's I/O: work-order changes on the event stream, and the once-a-second tick.
(Alert and work-order messages for MQTT go through the outbox: alerts/outbox.py and
gateway/outbox_relay.py.)

The scheduler only triggers (APScheduler, one interval job); all logic stays in ``alerts``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from apscheduler.schedulers.background import BackgroundScheduler

from alerts.stream import EventHub
from dispatch.model import OrderAction

log = logging.getLogger(__name__)


class StreamOrders:
    """Work-order changes on the event stream (type ``workorder``), with the crews concerned."""

    def __init__(self, hub: EventHub) -> None:
        self._hub = hub

    def notify(self, order: dict[str, Any], action: OrderAction, crews: Sequence[str]) -> None:
        self._hub.publish(
            "workorder", order["estate"], {**order, "action": action.value, "crews": list(crews)}
        )


class Ticks(Protocol):
    def tick(self) -> None: ...


class Ticker:
    """Calls ``engine.tick`` (a command to the alarm core's owner: gateway/core.py) every
    ``interval_s``; an exception is logged, never kills the job.

    The engine's timers (offline deadlines, on-delays such as a door held open) must not outrun
    the messages that would stop them, so a tick waits in two cases:

    * a pause of the whole process (a long garbage collection, a virtual machine its host held
      back) shows as a late tick. Messages that arrived meanwhile are still waiting to be read:
      timers wait for as long as the pause lasted plus ``late_s``. Without that, every device
      would be flagged offline after a pause longer than its deadline, although it never stopped
      talking;
    * the rules lag behind the messages (``behind``: wall seconds since the oldest message they
      have not seen arrived), e.g. while a slow disk holds up the batch before: timers wait while
      that is more than ``late_s``. A door's "closed" stuck in the queue raises no held-open.
      Under an overload that lasts, they wait at most ``max_hold_s`` and then run anyway (logged):
      late alarms beat none.
    """

    def __init__(
        self,
        engine: Ticks,
        interval_s: float = 1.0,
        *,
        late_s: float = 0.5,
        behind: Callable[[], float] = lambda: 0.0,
        max_hold_s: float = 30.0,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._interval_s, self._late_s, self._wall = interval_s, late_s, wall
        self._behind, self._max_hold_s = behind, max_hold_s
        self._last: float | None = None
        self._hold_until = 0.0
        self._behind_since: float | None = None
        self._overrun = False  # held max_hold_s and running anyway
        self._scheduler = BackgroundScheduler(timezone="UTC")
        self._scheduler.add_job(
            self._tick, "interval", seconds=interval_s, max_instances=1, coalesce=True, id="alarm-tick"
        )

    def _tick(self) -> None:
        now = self._wall()
        if self._last is not None:
            paused = now - self._last - self._interval_s
            if paused > self._late_s:
                self._hold_until = max(self._hold_until, now + paused + self._late_s)
                log.warning(
                    "the gateway was paused %.1f s: alarm timers wait for the messages of that time", paused
                )
        self._last = now
        if now < self._hold_until or self._lagging(now):
            return
        try:
            self._engine.tick()
        except Exception:
            log.exception("alarm tick failed")

    def _lagging(self, now: float) -> bool:
        """True while the rules are behind the messages by more than ``late_s`` (at most
        ``max_hold_s`` in a row)."""
        behind = self._behind()
        if behind <= self._late_s:
            if self._overrun:
                log.warning("the rules caught up with the messages: alarm timers are on time again")
            self._behind_since, self._overrun = None, False
            return False
        if self._behind_since is None:
            self._behind_since = now
        held = now - self._behind_since
        if held <= self._max_hold_s:
            return True
        if not self._overrun:
            self._overrun = True
            log.warning(
                "the rules are %.1f s behind the messages for %.0f s: alarm timers run anyway", behind, held
            )
        return False

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        self._scheduler.shutdown(wait=True)
