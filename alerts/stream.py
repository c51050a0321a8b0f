"""The event stream offered to the API: every alert transition (later, work-order changes), in order,
with ids a client can resume from.

Ids are ``{boot}-{sequence}``: the boot part changes when the gateway restarts, so a client that
comes back with an id from an earlier run is told to reload rather than silently missing
events. A bounded ring keeps the recent past for resuming; a client further behind than the ring
is told the same.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from alerts.model import Action, Alert, notification


@dataclass(frozen=True)
class StreamEvent:
    id: str
    type: str  # "alert" (and, with dispatch, "workorder"); "reset": reload, the past is gone
    estate: str
    data: dict[str, Any]


class EventHub:
    def __init__(self, capacity: int = 10_000, boot: str | None = None) -> None:
        self.boot = boot or f"{time.time_ns():x}"
        self._ring: deque[tuple[int, StreamEvent]] = deque(maxlen=capacity)
        self._seq = 0
        self._changed = threading.Condition()
        #: Set at shutdown: waiting clients are woken and their streams end, so the web server
        #: need not wait for browsers to hang up (a console kept it alive for over a minute).
        self.closed = False

    def notify(self, alert: Alert, actions: tuple[Action, ...]) -> None:
        """The alert book's notifier: every batch of transitions, repeats included (the console
        shows counts)."""
        self.publish("alert", alert.estate, notification(alert, actions))

    def publish(self, type_: str, estate: str, data: dict[str, Any]) -> StreamEvent:
        with self._changed:
            self._seq += 1
            event = StreamEvent(f"{self.boot}-{self._seq}", type_, estate, data)
            self._ring.append((self._seq, event))
            self._changed.notify_all()
            return event

    def close(self) -> None:
        """The gateway is stopping: every stream ends now (its clients show "reconnecting")."""
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    def open(self) -> None:
        """The gateway starts (again, in the same process): streams stay open."""
        with self._changed:
            self.closed = False

    def position(self) -> str:
        """The id of the latest event: where a new client starts."""
        with self._changed:
            return f"{self.boot}-{self._seq}"

    def _resume_point(self, last_id: str | None) -> int | None:
        """The sequence to continue after, or None when the client must reload."""
        if not last_id:
            return self._seq  # a new client: from now on
        boot, _, seq = last_id.rpartition("-")
        if boot != self.boot or not seq.isdigit():
            return None
        after = int(seq)
        oldest = self._ring[0][0] if self._ring else self._seq + 1
        return after if after >= oldest - 1 and after <= self._seq else None

    def wait(self, last_id: str | None, timeout: float) -> tuple[list[StreamEvent], str]:
        """Events after ``last_id`` (waiting up to ``timeout`` for one), and the id to send next time.
        A client that cannot resume gets one ``reset`` event."""
        with self._changed:
            after = self._resume_point(last_id)
            if after is None:
                reset = StreamEvent(
                    f"{self.boot}-{self._seq}", "reset", "", {"reason": "reload: events were missed"}
                )
                return [reset], reset.id
            self._changed.wait_for(lambda: self._seq > after or self.closed, timeout=timeout)
            events = [event for seq, event in self._ring if seq > after]
            return events, (events[-1].id if events else f"{self.boot}-{after}")
