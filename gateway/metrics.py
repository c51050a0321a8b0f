"""Prometheus metrics of one gateway instance (its own registry: no global state)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from devices.base import Kind
from gateway.ingest import Reason


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "estate_messages",
            "MQTT messages handled, by device kind and outcome (stored, rejected, unregistered: tracked, "
            "not stored)",
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
        self.broker_dropped = Counter(
            "estate_broker_dropped_messages",
            "Messages the MQTT broker accepted and then dropped, by its own $SYS count",
            registry=self.registry,
        )
        self.broker_dropping = Gauge(
            "estate_broker_dropping",
            "1 while the self-alarm gateway.broker_dropping is active",
            registry=self.registry,
        )
        self.mqtt_connected = Gauge(
            "estate_mqtt_connected", "1 while connected to the MQTT broker", registry=self.registry
        )
        self.core_queue_depth = Gauge(
            "estate_core_queue_depth",
            "Commands (batches, ticks, operator actions) waiting for the alarm core's thread",
            registry=self.registry,
        )
        self.core_busy_seconds = Gauge(
            "estate_core_busy_seconds",
            "How long the alarm core's command under way has waited and run (0 when idle)",
            registry=self.registry,
        )
        # Pre-create label sets so every series is visible at 0 before the first event.
        for kind in Kind:
            for outcome in ("stored", "rejected", "unregistered"):
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

    def bind_core(self, depth: Callable[[], float], busy_s: Callable[[], float]) -> None:
        """The alarm core's queue and its command under way (alerts/owner.py)."""
        self.core_queue_depth.set_function(depth)
        self.core_busy_seconds.set_function(busy_s)

    def bind_stages(
        self,
        stages: Callable[[], dict[str, dict[str, Any]]],
        behind_s: Callable[[], float],
        last_write: Callable[[], float | None],
    ) -> None:
        """The stages' health (gateway.stages) as read at scrape time."""
        self.registry.register(_StageCollector(stages, behind_s, last_write))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _StageCollector(Collector):
    def __init__(
        self,
        stages: Callable[[], dict[str, dict[str, Any]]],
        behind_s: Callable[[], float],
        last_write: Callable[[], float | None],
    ) -> None:
        self._stages, self._behind_s, self._last_write = stages, behind_s, last_write

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "estate_stage_up", "1 while a stage is alive and not failing", labels=["stage"]
        )
        failures = CounterMetricFamily(
            "estate_stage_failures", "Failures a stage caught and went on from", labels=["stage"]
        )
        for name, facts in self._stages().items():
            up.add_metric([name], 1.0 if facts["ok"] else 0.0)
            failures.add_metric([name], float(facts["failures"]))
        yield up
        yield failures
        yield GaugeMetricFamily(
            "estate_rules_behind_seconds",
            "Wall seconds the rules are behind the oldest message they have not seen",
            value=self._behind_s(),
        )
        last = self._last_write()
        yield GaugeMetricFamily(
            "estate_last_store_write_timestamp_seconds",
            "When a batch was last stored and acknowledged (Unix time; 0: not yet)",
            value=last or 0.0,
        )
