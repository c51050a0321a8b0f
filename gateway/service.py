"""Builds the gateway's parts from settings and starts and stops them in order.

Nothing here runs at import time; :func:`build_gateway` is the factory the CLI and tests use.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Engine

from alerts.alarm_policy import alarm_policy
from alerts.book import AlertBook
from alerts.catalogue import DEFAULT_RULES
from alerts.engine import AlarmEngine
from alerts.handovers import HandoverBook
from alerts.outbox import Outbox
from alerts.owner import Owner
from alerts.patrol_records import PatrolRecords
from alerts.store import AlertStore
from alerts.stream import EventHub
from assets.desk import MaintenanceDesk
from assets.plans import RECORD_EVENTS
from assets.store import LedgerStore
from devices.base import Reading
from devices.clock import Clock, DrivenClock, ScaledClock, SystemClock, to_ns
from devices.inventory import Inventory
from dispatch.desk import Dispatcher, DispatchPolicy
from dispatch.store import OrderStore
from gateway.alerting import StreamOrders, Ticker
from gateway.broker_watch import BrokerWatch, DropCounter
from gateway.core import AlarmCore, OwnedRules
from gateway.db import make_engine, ping
from gateway.deadletters import DeadLetterStore
from gateway.driven import ClockFollower
from gateway.history import History, InfluxQLHistory, SqlHistory
from gateway.housekeeping import Housekeeping
from gateway.ingest import (
    DEVICE_TOPIC_FILTER,
    EXCERPT_BYTES,
    Limits,
    Reason,
    Rejection,
    estate_topic_filter,
    excerpt,
)
from gateway.metrics import GatewayMetrics
from gateway.mqtt import BrokerAddress, MqttClient
from gateway.outbox_relay import CONSUMER, OutboxRelay
from gateway.pipeline import Pipeline
from gateway.receiver import ProcessReceiver
from gateway.settings import Settings
from gateway.sinks import ReadingSink
from gateway.sinks.influx import InfluxClientWriter, InfluxSink
from gateway.sinks.spool import Spool
from gateway.sinks.sql import SqlSink
from gateway.stages import HealthReporter, Stages, wall_iso
from gateway.state import DeviceRegistry
from notify.build import build_notifier
from notify.notifier import CONSUMER as NOTIFY
from notify.notifier import Notifier
from profiles.route import VendorRouter
from reports.rollup import RollupJob, Rollups
from reports.store import RollupStore

log = logging.getLogger(__name__)

#: Python's thread switch interval while a gateway runs (docs/benchmarks.md, issue 20).
SWITCH_INTERVAL_S = 0.001


@dataclass
class Gateway:
    settings: Settings
    inventory: Inventory
    clock: Clock
    engine: Engine
    registry: DeviceRegistry
    dead_letters: DeadLetterStore
    metrics: GatewayMetrics
    sink: ReadingSink
    mqtt: MqttClient | ProcessReceiver
    pipeline: Pipeline
    alarms: AlarmEngine
    dispatcher: Dispatcher
    ticker: Ticker | None  # None: the clock is driven, the clock messages tick
    events: EventHub
    stages: Stages
    relay: OutboxRelay
    housekeeping: Housekeeping
    #: The alarm state's one owner (alerts/owner.py) and the API's door to it.
    core: AlarmCore
    started: bool = field(default=False)
    reporter: HealthReporter | None = field(default=None)
    broker_watch: BrokerWatch | None = field(default=None)
    #: A device's reading history, from the store that holds it (SQL or InfluxDB).
    history: History | None = field(default=None)
    notifier: Notifier | None = field(default=None)
    #: Daily KPI rollups (reports/) and the patrol record they and the patrol routes read.
    reports: Rollups | None = field(default=None)
    #: Shift handovers (交接班) and the missing-handover check (alerts/handovers.py).
    handovers: HandoverBook | None = field(default=None)
    rollup_job: RollupJob | None = field(default=None)
    #: The equipment ledger and planned maintenance (assets/).
    ledger: MaintenanceDesk | None = field(default=None)
    _switch_interval: float = field(default=0.005, repr=False)

    def start(self) -> None:
        self.events.open()  # a gateway stopped and started again in one process streams again
        # Each batch and tick crosses to the alarm core's thread and back. While another thread
        # computes (the writer encoding a batch, a KPI request), each crossing waits for Python's
        # switch interval: 5 ms by default, two a round trip (8.7 ms measured; 2.2 ms at 1 ms).
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, SWITCH_INTERVAL_S))
        owner = self.core.owner
        owner.start()
        self.stages.stage("rules", owner.thread)  # the rules run on the owner's thread
        owner.call(self.alarms.start)  # open alerts and their timers first: readings may raise at once
        owner.call(self.dispatcher.start)  # live work orders and their clocks
        if self.ledger is not None:
            owner.call(self.ledger.start)  # the maintenance schedule (after the orders it refers to)
        # What start-up built (inventory, rules, open alerts and orders) lives as long as the
        # gateway: out of the cyclic collector's sight, its full collections (every few seconds
        # under load, every thread stopped) no longer walk it. Reference counting still frees it.
        gc.collect()
        gc.freeze()
        self.sink.start()
        self.pipeline.start()
        self.mqtt.start()
        self.relay.start()
        if self.notifier is not None:
            self.notifier.start()
        self.housekeeping.start()
        if self.rollup_job is not None:
            self.rollup_job.start()
        if self.broker_watch is not None:
            self.broker_watch.start()
        if self.ticker is not None:
            self.ticker.start()
        self.reporter = HealthReporter(self.settings.instance, self.health, self.mqtt)
        self.reporter.start()
        self.started = True

    def stop(self) -> None:
        # The event streams end first, started or not: the web server serving this gateway (in
        # process, or the CLI's) then has no response that waits for browsers to hang up.
        self.events.close()
        if not self.started:
            return
        if self.reporter is not None:
            self.reporter.stop()
        self.housekeeping.stop()
        if self.rollup_job is not None:
            self.rollup_job.stop()
        if self.broker_watch is not None:
            self.broker_watch.stop()
        if self.ticker is not None:
            self.ticker.stop()
        if self.notifier is not None:
            self.notifier.stop()  # what it has not delivered stays pending for the next start
        self.relay.stop()  # what it has not delivered stays in the outbox for the next start
        self.mqtt.stop()
        self.pipeline.stop()
        self.core.owner.stop()  # after the pipeline and the ticks: what they sent is done first
        self.sink.close()
        if self.history is not None:
            self.history.close()
        gc.unfreeze()
        sys.setswitchinterval(self._switch_interval)
        self.started = False

    def now_ns(self) -> int:
        return to_ns(self.clock.now())

    def push_raw(self, topic: str, payload: bytes, timeout_s: float) -> bool:
        """A payload a device pushed over HTTP (``POST /api/ingest``), published QoS 1 on its ``raw``
        topic; True once the broker acknowledged it (durably queued for the pipeline), False when
        the broker is not connected or did not answer in ``timeout_s``."""
        if not self.mqtt.connected:
            return False
        self.mqtt.publish(topic, payload, qos=1)
        return self.mqtt.sync(timeout_s)

    def _broker_health(self) -> dict[str, Any]:
        """Connected, and not dropping messages it accepted (gateway.broker_watch)."""
        watch = self.broker_watch.facts() if self.broker_watch is not None else {"stats": "not watched"}
        return {
            "ok": self.mqtt.connected and not watch.get("dropping", False),
            "detail": f"{self.mqtt.address.host}:{self.mqtt.address.port}",
            **watch,
        }

    def health(self) -> dict[str, Any]:
        sink = self.sink.health()
        behind = _behind_s(self.pipeline, self.clock, self.settings.clock_speed)
        stages = self.stages.snapshot()
        database_problem = ping(self.engine)
        checks: dict[str, dict[str, Any]] = {
            "broker": self._broker_health(),
            "database": {
                "ok": database_problem is None,
                "detail": database_problem or self.engine.dialect.name,
            },
            "readings": {"ok": sink.ok, "sink": sink.name, "detail": sink.detail},
            "spool": {
                "ok": True,  # a spool is the sink absorbing an outage; "readings" says if it is down
                "batches": sink.spool_batches,
                "points": sink.spool_points,
            },
            "queue": {
                "ok": behind <= self.settings.health_lag_s,
                "depth": self.mqtt.depth,
                # How far the rules are behind the messages (wall seconds); past health_lag_s: 503.
                "behind_s": round(behind, 3),
                "bound_s": self.settings.health_lag_s,
            },
            "core": {
                # The alarm core's thread (alerts/owner.py): alive, and not stuck on one command.
                "ok": (self.core.owner.running or not self.started)
                and self.core.owner.busy_s() <= self.settings.health_lag_s,
                **self.core.owner.facts(),
                "bound_s": self.settings.health_lag_s,
            },
            "outbox": _readable(
                lambda: {
                    "ok": True,  # a relay that cannot deliver shows as the failing stage "outbox"
                    "backlog": self.relay.outbox.backlog(CONSUMER),
                    "delivered": self.relay.delivered,
                }
            ),
            **({"notifications": _readable(self.notifier.health)} if self.notifier is not None else {}),
            "stages": {
                "ok": all(stage["ok"] for stage in stages.values()),
                **stages,
                "last_store_write": wall_iso(self.pipeline.last_stored_at),
                "self_alarms": self.stages.alarms(),
            },
        }
        clock: dict[str, Any] = {
            "now": self.clock.now().isoformat(),
            "speed": getattr(self.clock, "speed", 1.0),
        }
        if isinstance(self.clock, DrivenClock):
            clock |= {"topic": self.settings.clock_topic, "settled": self.clock.settled.isoformat()}
        return {
            "ok": all(c["ok"] for c in checks.values()),
            "instance": self.settings.instance,
            "clock": clock,
            **checks,
        }


def _readable(part: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A part of ``/health`` that reads the database (a backlog count): while the database is
    down it is reported as not ok with why, never an exception that makes ``/health`` a 500."""
    try:
        return part()
    except Exception as exc:
        first = (str(exc).splitlines() or [""])[0][:200]
        return {"ok": False, "detail": f"cannot be read: {type(exc).__name__}: {first}"}


def build_sink(
    settings: Settings, engine: Engine, dead_letters: DeadLetterStore, clock: Clock
) -> ReadingSink:
    if not settings.influx_url:
        return SqlSink(engine)

    def keep_refused(body: str, why: str) -> None:
        # The server refused the data itself (e.g. a field type conflict): keep it visible.
        rejection = Rejection(
            "influxdb", Reason.STORAGE_REJECTED, why[:2000], excerpt(body.encode()), to_ns(clock.now())
        )
        dead_letters.add_many([rejection])

    writer = InfluxClientWriter(
        settings.influx_url,
        settings.influx_token.get_secret_value(),
        settings.influx_org,
        settings.influx_bucket,
    )
    return InfluxSink(
        writer,
        Spool(settings.spool_dir),
        retries=settings.write_retries,
        backoff_s=settings.write_backoff_s,
        replay_backoff_max_s=settings.replay_backoff_max_s,
        on_rejected=keep_refused,
    )


def settings_clock(settings: Settings) -> Clock:
    """The system clock; or, for testers (``ESTATE_CLOCK_SPEED``/``_START``), simulated time,
    which follows a simulator's clock messages when ``ESTATE_CLOCK_TOPIC`` is set."""
    if settings.clock_topic:
        return DrivenClock(settings.clock_start or datetime.now(UTC), settings.clock_speed)
    if settings.clock_speed == 1.0 and settings.clock_start is None:
        return SystemClock()
    return ScaledClock(settings.clock_start or datetime.now(UTC), settings.clock_speed)


def build_gateway(settings: Settings, inventory: Inventory, clock: Clock | None = None) -> Gateway:
    """The gateway's parts. With ``ESTATE_ESTATES`` (scale-out) the instance sees only its own
    estates: the inventory is cut down to them, it subscribes to their topics only, and it reads
    back only their alerts and orders from a database it may share with other instances.
    Raises ValueError for an owned estate that is not in the inventory."""
    clock = clock or settings_clock(settings)
    owned = settings.owned_estates
    # Vendor devices (docs/contract.md §3.6): from the whole inventory, so that a profile topic's
    # message from another instance's estate is let go rather than dead-lettered.
    vendor = VendorRouter(inventory, owned)
    if owned is not None:
        inventory = inventory.only(owned)
    engine = make_engine(settings.resolved_database_url)
    metrics = GatewayMetrics()
    registry = DeviceRegistry(inventory, max_unregistered=settings.unregistered_max)
    dead_letters = DeadLetterStore(engine, owned)
    sink = build_sink(settings, engine, dead_letters, clock)
    topics = [DEVICE_TOPIC_FILTER] if owned is None else [estate_topic_filter(e) for e in sorted(owned)]
    topics += vendor.subscriptions()
    receiver = ProcessReceiver if settings.mqtt_receiver == "process" else MqttClient
    mqtt = receiver(
        BrokerAddress.from_settings(settings),
        settings.instance,
        [*topics, settings.clock_topic] if settings.clock_topic else topics,
        queue_size=settings.queue_size,
        on_overflow=metrics.queue_overflow.inc,
        # The system clock's nanoseconds directly: this runs for every message.
        clock_ns=time.time_ns if isinstance(clock, SystemClock) else lambda: to_ns(clock.now()),
    )
    events = EventHub()
    pages = bool(inventory.notifications.channels)
    outbox = Outbox(engine, settings.instance, (CONSUMER, NOTIFY) if pages else (CONSUMER,))
    # The inventory's alarm-management figures, and each estate's own (alerts/alarm_policy.py).
    book = AlertBook(
        AlertStore(engine, owned), clock, [events], policy=alarm_policy(inventory), outbox=outbox
    )

    def keep(topic: str, reason: Reason, why: str, shown: str = "") -> None:
        """A dead letter the rules found (not the pipeline): stored and counted at once."""
        dead_letters.add_many([Rejection(topic, reason, why, shown, to_ns(clock.now()))])
        metrics.dead_letters.labels(reason.value).inc()

    def unknown_reference(estate: str, handset: str, why: str) -> None:
        keep(f"estate/{estate}/patrol/{handset}/event", Reason.UNKNOWN_REFERENCE, why)

    def rules_failed(reading: Reading, exc: Exception) -> None:
        topic = f"estate/{reading.estate}/{reading.kind}/{reading.device}/{reading.channel}"
        why = f"the rules failed on this reading: {type(exc).__name__}: {str(exc)[:200]}"
        keep(
            topic,
            Reason.RULES_FAILED,
            why,
            json.dumps(reading.fields, ensure_ascii=False, default=str)[:EXCERPT_BYTES],
        )

    alarms = AlarmEngine(
        inventory,
        book,
        clock,
        DEFAULT_RULES,
        registry.latest,
        dead_letter=unknown_reference,
        rule_failed=rules_failed,
    )
    dispatcher = Dispatcher(
        inventory,
        book,
        OrderStore(engine, owned),
        clock,
        alarms.rule,
        [StreamOrders(events)],
        DispatchPolicy(reopen_within=timedelta(hours=settings.reopen_within_h)),
    )
    ledger = MaintenanceDesk(
        inventory,
        book,
        dispatcher,
        LedgerStore(engine, owned),
        clock,
        alarm_rule=alarms.rule,  # a compliance rule that is a plan's overdue alarm (assets/plans.py)
        on_record=alarms.note_record,
    )
    alarms.hook_events(RECORD_EVENTS, ledger.on_event)
    stages = Stages(settings.instance, alarm_after=settings.stage_alarm_after)
    # One thread owns the alarm state (alerts/owner.py): batches, ticks and operator actions are
    # its commands; a posted command that fails counts against the rules stage.
    owned_rules = OwnedRules(
        owner := Owner(book.guard, maxsize=settings.core_queue, on_failure=partial(stages.failed, "rules")),
        alarms,
    )
    follower = _follower(settings, clock, owned_rules)
    limits = Limits(settings.max_payload_bytes, settings.max_future_s, settings.max_past_s)
    stages.attach(mqtt, events)
    pipeline = Pipeline(
        mqtt,
        registry,
        sink,
        dead_letters,
        metrics,
        limits=limits,
        batch_size=settings.batch_size,
        consumers=[owned_rules],
        follower=follower,
        stages=stages,
        store_unregistered=settings.store_unregistered,
        checkpoints={e.id: frozenset(c.id for c in e.checkpoints) for e in inventory.estates if e.patrols},
        vendor=vendor,
    )
    spool = getattr(sink, "spool", None)
    metrics.bind_gauges(
        queue_depth=lambda: mqtt.depth,
        spool_batches=lambda: spool.batches if spool else 0,
        spool_points=lambda: spool.points if spool else 0,
        devices=lambda: len(registry),
        connected=lambda: 1.0 if mqtt.connected else 0.0,
    )
    metrics.bind_core(lambda: owner.depth, owner.busy_s)
    metrics.bind_stages(
        stages.snapshot,
        lambda: _behind_s(pipeline, clock, settings.clock_speed),
        lambda: pipeline.last_stored_at,
    )
    watch = None
    if settings.broker_watch:
        counter = DropCounter(
            settings.instance,
            stages,
            settings.data_dir / "broker-drops.json",
            on_lost=metrics.broker_dropped.inc,
        )
        watch = BrokerWatch(BrokerAddress.from_settings(settings), settings.instance, counter)
        metrics.broker_dropping.set_function(lambda: 1.0 if counter.dropping else 0.0)
    patrol_records = PatrolRecords(engine, owned)
    reports = Rollups(
        inventory, book.store, dispatcher.store, patrol_records, RollupStore(engine, owned), clock
    )
    return Gateway(
        settings,
        inventory,
        clock,
        engine,
        registry,
        dead_letters,
        metrics,
        sink,
        mqtt,
        pipeline,
        alarms,
        dispatcher,
        None if follower else _ticker(owned_rules, pipeline, clock, settings.clock_speed),
        events,
        stages,
        OutboxRelay(outbox, mqtt, stages),
        Housekeeping(
            [
                ("dead letters", _dead_letter_retention(dead_letters, settings, clock)),
                ("unregistered devices", _unregistered_expiry(registry, settings, clock)),
                ("patrol record", _patrol_retention(patrol_records, settings, clock)),
                ("shift handover", (handovers := _handovers(engine, owner, book, inventory, settings)).check),
            ],
            stages,
        ),
        AlarmCore(owner, alarms, dispatcher, ledger, timeout_s=settings.core_timeout_s),
        broker_watch=watch,
        reports=reports,
        handovers=handovers,
        rollup_job=RollupJob(reports.catch_up, stages),
        ledger=ledger,
        history=_history(settings, sink),
        notifier=build_notifier(
            inventory,
            engine,
            settings.instance,
            clock,
            outbox,
            stages,
            env=os.environ,
            registry=metrics.registry,
            mqtt=mqtt,
            stream=events,
        ),
    )


def _follower(settings: Settings, clock: Clock, rules: OwnedRules) -> ClockFollower | None:
    """Lock-step time (gateway/driven.py): the clock messages move the clock and tick the rules."""
    if isinstance(clock, DrivenClock) and settings.clock_topic:
        return ClockFollower(settings.clock_topic, clock, rules.tick)
    return None


def _ticker(alarms: OwnedRules, pipeline: Pipeline, clock: Clock, speed: float) -> Ticker:
    # In simulated time the tick keeps about a simulated second (at most 20 a wall second).
    return Ticker(alarms, interval_s=max(0.05, 1.0 / speed), behind=lambda: _behind_s(pipeline, clock, speed))


def _dead_letter_retention(store: DeadLetterStore, settings: Settings, clock: Clock) -> Callable[[], int]:
    def prune() -> int:
        before = to_ns(clock.now()) - int(settings.dead_letter_days * 86_400 * 1_000_000_000)
        return store.prune(before, settings.dead_letter_max_rows)

    return prune


def _handovers(
    engine: Engine, owner: Owner, book: AlertBook, inventory: Inventory, settings: Settings
) -> HandoverBook:
    """The shift-handover book with the settings' shift length and grace."""
    shift, grace = timedelta(hours=settings.handover_shift_h), timedelta(minutes=settings.handover_grace_min)
    return HandoverBook(
        engine,
        book,
        inventory,
        book.clock,
        shift=shift,
        grace=grace,
        owner=owner,
        timeout_s=settings.core_timeout_s,
    )


def _patrol_retention(records: PatrolRecords, settings: Settings, clock: Clock) -> Callable[[], int]:
    def prune() -> int:
        return records.prune(clock.now().date() - timedelta(days=settings.patrol_keep_days))

    return prune


def _history(settings: Settings, sink: ReadingSink) -> History | None:
    if isinstance(sink, SqlSink):
        return SqlHistory(sink)
    if settings.influx_url:
        return InfluxQLHistory(
            settings.influx_url, settings.influx_bucket, settings.influx_token.get_secret_value()
        )
    return None


def _unregistered_expiry(registry: DeviceRegistry, settings: Settings, clock: Clock) -> Callable[[], int]:
    def forget() -> int:
        return registry.forget_unregistered(to_ns(clock.now()) - int(settings.unregistered_days * 86_400e9))

    return forget


def _behind_s(pipeline: Pipeline, clock: Clock, speed: float) -> float:
    """Wall seconds since the oldest message the rules have not seen arrived (0 when none waits).
    Messages are stamped on arrival with the gateway's clock, which runs ``speed`` times the wall."""
    oldest = pipeline.oldest_unseen_ns()
    return 0.0 if oldest is None else max(0.0, (to_ns(clock.now()) - oldest) / 1e9 / speed)
