"""Each processing stage's health, and the gateway's own alarm when one keeps failing.

A stage never dies (STYLE 15): a failure is caught where it happens, counted here, and the stage
goes on. What a stage cannot do for a while shows in ``/health`` (503, the stage named, the
exception's type), in ``/metrics``, and, after ``alarm_after`` failures in a row, as a critical
self-alarm ``gateway.stage_failed`` on ``gateway/{instance}/alarm`` and the event stream, cleared
by the stage's next success. The self-alarm goes around the alert book on purpose: a failing
database is one of the things it must be able to report.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from gateway.mqtt import Publisher as AlarmPublisher

log = logging.getLogger(__name__)

STAGE_FAILED = "gateway.stage_failed"


class StreamPublisher(Protocol):
    def publish(self, type_: str, estate: str, data: dict[str, Any]) -> object: ...


@dataclass
class Stage:
    """One stage's record. Written by the stage's own thread, read by ``/health``'s: each field is
    one assignment (atomic in CPython); ``snapshot`` copies them under a lock all the same."""

    name: str
    failures: int = 0  # in a row
    total_failures: int = 0
    last_error: str | None = None
    failing_since: float | None = None  # wall (time.time) of the first failure in a row
    last_ok: float | None = None  # wall of the last success
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def alive(self) -> bool:
        return self.thread is None or self.thread.is_alive()

    @property
    def ok(self) -> bool:
        return self.alive and self.failures == 0


class Stages:
    """The stages' records and the self-alarm. ``failed`` and ``succeeded`` are called by the
    stages (cheap: a success after a success only stores a time)."""

    def __init__(
        self,
        instance: str,
        *,
        alarm_after: int = 3,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.instance, self.alarm_after, self._wall = instance, alarm_after, wall
        self._stages: dict[str, Stage] = {}
        self._lock = threading.Lock()
        self._alarmed: set[str] = set()
        #: Other self-alarms (e.g. gateway.broker_dropping), by rule, while active.
        self._others: set[str] = set()
        self._publishers: list[AlarmPublisher] = []
        self._streams: list[StreamPublisher] = []

    def attach(self, mqtt: AlarmPublisher | None = None, stream: StreamPublisher | None = None) -> None:
        if mqtt is not None:
            self._publishers.append(mqtt)
        if stream is not None:
            self._streams.append(stream)

    def stage(self, name: str, thread: threading.Thread | None = None) -> Stage:
        with self._lock:
            stage = self._stages.setdefault(name, Stage(name))
            if thread is not None:
                stage.thread = thread
            return stage

    def succeeded(self, name: str) -> None:
        stage = self._stages.get(name) or self.stage(name)
        stage.last_ok = self._wall()
        if stage.failures == 0:
            return
        log.warning("stage %s works again after %d failure(s)", name, stage.failures)
        with self._lock:
            stage.failures, stage.failing_since = 0, None
            clear = name in self._alarmed
            self._alarmed.discard(name)
        if clear:
            self._announce(stage, active=False)

    def failed(self, name: str, exc: BaseException) -> None:
        """Count a failure (the caller logs it, with its traceback)."""
        stage = self._stages.get(name) or self.stage(name)
        with self._lock:
            stage.failures += 1
            stage.total_failures += 1
            stage.last_error = f"{type(exc).__name__}: {str(exc)[:300]}"
            if stage.failing_since is None:
                stage.failing_since = self._wall()
            raise_it = stage.failures >= self.alarm_after and name not in self._alarmed
            if raise_it:
                self._alarmed.add(name)
        if raise_it:
            self._announce(stage, active=True)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            stages = list(self._stages.values())
        return {s.name: _facts(s) for s in stages}

    def alarms(self) -> list[str]:
        """The active self-alarms: the failing stages by name, the others by rule."""
        with self._lock:
            return sorted(self._alarmed) + sorted(self._others)

    def self_alarm(self, rule: str, subject: str, *, active: bool, details: dict[str, Any]) -> None:
        """Raise or clear a self-alarm other than a stage's (the caller says when), announced the
        same way: critical, on ``gateway/{instance}/alarm`` and the event stream."""
        with self._lock:
            if active == (rule in self._others):
                return
            (self._others.add if active else self._others.discard)(rule)
        body: dict[str, Any] = {
            "rule": rule,
            "severity": "critical",
            "state": "active" if active else "cleared",
        }
        body |= {"instance": self.instance, "subject": subject, **details, "at": wall_iso(self._wall())}
        (log.critical if active else log.warning)(
            "self-alarm %s %s: %s (%s)", rule, body["state"], subject, details.get("error")
        )
        self._send(body)

    def _announce(self, stage: Stage, *, active: bool) -> None:
        body = {
            "rule": STAGE_FAILED,
            "severity": "critical",
            "state": "active" if active else "cleared",
            "instance": self.instance,
            "stage": stage.name,
            "error": stage.last_error,
            "failures": stage.total_failures,
            "alive": stage.alive,
            "at": wall_iso(self._wall()),
        }
        (log.critical if active else log.warning)(
            "self-alarm %s %s: stage %s (%s)", STAGE_FAILED, body["state"], stage.name, stage.last_error
        )
        self._send(body)

    def _send(self, body: dict[str, Any]) -> None:
        payload = json.dumps(body, ensure_ascii=False).encode()
        for mqtt in self._publishers:
            try:
                mqtt.publish(f"gateway/{self.instance}/alarm", payload, qos=1, retain=False)
            except Exception:  # the broker may be what failed: /health still tells
                log.exception("publishing the self-alarm failed")
        for stream in self._streams:
            stream.publish("gateway", "", body)


def wall_iso(wall: float | None) -> str | None:
    """A wall time (``time.time``) as ISO 8601 in UTC, like every other time in ``/health``."""
    return None if wall is None else datetime.fromtimestamp(wall, UTC).isoformat()


def _facts(stage: Stage) -> dict[str, Any]:
    return {
        "ok": stage.ok,
        "alive": stage.alive,
        "failures_in_a_row": stage.failures,
        "failures": stage.total_failures,
        "last_error": stage.last_error,
        "failing_since": wall_iso(stage.failing_since),
        "last_ok": wall_iso(stage.last_ok),
    }


class HealthReporter:
    """Publishes a summary of ``/health`` on ``gateway/{instance}/health`` (retained JSON) as it
    starts and every ``every_s``: a monitoring system watching MQTT sees a gateway that is
    connected but not processing (the self-alarm on ``gateway/{instance}/alarm`` comes at once).
    ``gateway/{instance}/status`` keeps the plain ``online`` / ``offline`` of docs/contract.md §3.4
    (its last will), which consumers compare as a string."""

    def __init__(
        self,
        instance: str,
        health: Callable[[], dict[str, Any]],
        publisher: AlarmPublisher,
        every_s: float = 10.0,
    ) -> None:
        self.topic = f"gateway/{instance}/health"
        self._health, self._publisher, self._every_s = health, publisher, every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.published = 0

    def report(self) -> dict[str, Any]:
        """Publish the summary now; what was published."""
        summary = summarise(self._health())
        self._publisher.publish(self.topic, json.dumps(summary).encode(), qos=1, retain=True)
        self.published += 1
        return summary

    def _loop(self) -> None:
        while True:
            try:
                self.report()
            except Exception:  # a reporter must not die either: the next look tries again
                log.exception("publishing the health summary failed")
            if self._stop.wait(self._every_s):
                return

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="health-reporter", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def summarise(health: dict[str, Any]) -> dict[str, Any]:
    """``/health`` in a few fields: ok, what is failing, the lag, the queue and the last write."""
    failing = sorted(
        name for name, check in health.items() if isinstance(check, dict) and check.get("ok") is False
    )
    stages = health.get("stages", {})
    failing += sorted(
        f"stages.{name}" for name, s in stages.items() if isinstance(s, dict) and s.get("ok") is False
    )
    queue = health.get("queue", {})
    return {
        "ok": bool(health.get("ok")),
        "instance": health.get("instance"),
        "failing": failing,
        "behind_s": queue.get("behind_s"),
        "queue_depth": queue.get("depth"),
        "spool_points": health.get("spool", {}).get("points"),
        "last_store_write": stages.get("last_store_write"),
        "self_alarms": stages.get("self_alarms", []),
        "at": wall_iso(time.time()),
    }
