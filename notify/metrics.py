"""``/metrics``: notifications sent, merged into digests and failed, per channel."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter

OUTCOMES = ("sent", "merged", "failed")


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry | None, channels: Iterable[str] = ()) -> None:
        self.counter = Counter(
            "estate_notifications",
            "Notification requests sent, deliveries merged into a digest, and failed requests, by channel",
            ["channel", "outcome"],
            registry=registry,
        )
        for channel in channels:
            for outcome in OUTCOMES:
                self.counter.labels(channel, outcome)

    def count(self, channel: str, outcome: str, n: int = 1) -> None:
        self.counter.labels(channel, outcome).inc(n)

    def value(self, channel: str, outcome: str) -> float:
        return float(self.counter.labels(channel, outcome)._value.get())
