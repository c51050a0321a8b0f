"""``notify.channel_failed``: the gateway's own alarm when a channel cannot page anyone.

Mirrors ``gateway.stage_failed`` (gateway/stages.py): critical, on ``gateway/{instance}/alarm`` and
the event stream (type ``gateway``), around the alert book on purpose (the channel that failed may
be the one that would have carried an alarm about it). Raised once per channel, not per alarm:
when its key is wrong (at once) or when it has failed for ``after_s`` in a row (down); cleared by
the channel's next success.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime
from typing import Any, Protocol

log = logging.getLogger(__name__)

CHANNEL_FAILED = "notify.channel_failed"


class AlarmPublisher(Protocol):
    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None: ...


class StreamPublisher(Protocol):
    def publish(self, type_: str, estate: str, data: dict[str, Any]) -> object: ...


class ChannelAlarm:
    def __init__(
        self,
        instance: str,
        mqtt: AlarmPublisher | None = None,
        stream: StreamPublisher | None = None,
    ) -> None:
        self.instance, self._mqtt, self._stream = instance, mqtt, stream
        self._active: dict[str, str] = {}
        self._lock = threading.Lock()
        self.raised = 0

    def active(self) -> dict[str, str]:
        """Channel → the error that raised its alarm."""
        with self._lock:
            return dict(self._active)

    def raise_(self, channel: str, error: str, at: datetime) -> None:
        with self._lock:
            if channel in self._active:
                return
            self._active[channel] = error
            self.raised += 1
        self._announce(channel, error, at, active=True)

    def clear(self, channel: str, at: datetime) -> None:
        with self._lock:
            error = self._active.pop(channel, None)
        if error is not None:
            self._announce(channel, error, at, active=False)

    def _announce(self, channel: str, error: str, at: datetime, *, active: bool) -> None:
        body = {
            "rule": CHANNEL_FAILED,
            "severity": "critical",
            "state": "active" if active else "cleared",
            "instance": self.instance,
            "channel": channel,
            "error": error,
            "at": at.isoformat(),
        }
        (log.critical if active else log.warning)(
            "self-alarm %s %s: channel %s (%s)", CHANNEL_FAILED, body["state"], channel, error
        )
        if self._mqtt is not None:
            try:
                self._mqtt.publish(
                    f"gateway/{self.instance}/alarm", json.dumps(body, ensure_ascii=False).encode(), qos=1
                )
            except Exception:  # the broker may be away too: /health still tells
                log.exception("publishing the self-alarm failed")
        if self._stream is not None:
            self._stream.publish("gateway", "", body)
