"""Prometheus metrics of one gateway instance (its own registry: no global state)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from devices.base import Kind
from gateway.ingest import Reason


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "estate_messages",
            "MQTT messages handled, by device kind and outcome (stored, rejected)",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "estate_dead_letters", "Messages rejected, by reason", ["reason"], registry=self.registry
        )
        self.points_written = Counter(
            "estate_points_written",
            "Readings written to the time-series sink",
            ["sink"],
            registry=self.registry,
        )
        self.queue_overflow = Counter(
            "estate_queue_overflow",
            "Times the MQTT hand-off queue was full and the MQTT thread had to wait (backpressure)",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "estate_queue_depth", "Messages waiting in the MQTT hand-off queue", registry=self.registry
        )
        self.spool_batches = Gauge(
            "estate_spool_batches", "Batches spooled to disk awaiting InfluxDB", registry=self.registry
        )
        self.spool_points = Gauge(
            "estate_spool_points", "Readings spooled to disk awaiting InfluxDB", registry=self.registry
        )
        self.devices = Gauge("estate_devices_tracked", "Devices with state in memory", registry=self.registry)
        self.mqtt_connected = Gauge(
            "estate_mqtt_connected", "1 while connected to the MQTT broker", registry=self.registry
        )
        # Pre-create label sets so every series is visible at 0 before the first event.
        for kind in Kind:
            for outcome in ("stored", "rejected"):
                self.messages.labels(kind.value, outcome)
        for reason in Reason:
            self.dead_letters.labels(reason.value)

    def bind_gauges(
        self,
        queue_depth: Callable[[], float],
        spool_batches: Callable[[], float],
        spool_points: Callable[[], float],
        devices: Callable[[], float],
        connected: Callable[[], float],
    ) -> None:
        """Gauges read their value at scrape time."""
        self.queue_depth.set_function(queue_depth)
        self.spool_batches.set_function(spool_batches)
        self.spool_points.set_function(spool_points)
        self.devices.set_function(devices)
        self.mqtt_connected.set_function(connected)

    def render(self) -> bytes:
        return generate_latest(self.registry)
