"""The alarm engine's I/O: alert transitions published on MQTT, and the once-a-second tick.

The scheduler only triggers (APScheduler, one interval job); all logic stays in ``alerts``.
"""

from __future__ import annotations

import json
import logging

from apscheduler.schedulers.background import BackgroundScheduler

from alerts.engine import AlarmEngine
from alerts.model import Action, Alert
from gateway.mqtt import Publisher

log = logging.getLogger(__name__)

#: A repeat only raises the count: not a state change, so not published (SPEC §3: "on every state
#: change"); the count is in the next published state and in the API.
_QUIET = frozenset({Action.REPEAT})


class MqttAlertPublisher:
    """Publishes the alert JSON on ``estate/{estate}/alerts`` at QoS 1 on every state change."""

    def __init__(self, publisher: Publisher) -> None:
        self._publisher = publisher

    def notify(self, alert: Alert, action: Action) -> None:
        if action in _QUIET:
            return
        body = json.dumps({**alert.to_json(), "action": action.value}, ensure_ascii=False)
        self._publisher.publish(f"estate/{alert.estate}/alerts", body.encode(), qos=1)


class Ticker:
    """Calls ``engine.tick`` every ``interval_s``; an exception is logged, never kills the job."""

    def __init__(self, engine: AlarmEngine, interval_s: float = 1.0) -> None:
        self._engine = engine
        self._scheduler = BackgroundScheduler(timezone="UTC")
        self._scheduler.add_job(
            self._tick, "interval", seconds=interval_s, max_instances=1, coalesce=True, id="alarm-tick"
        )

    def _tick(self) -> None:
        try:
            self._engine.tick()
        except Exception:
            log.exception("alarm tick failed")

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        self._scheduler.shutdown(wait=True)
