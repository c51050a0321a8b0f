"""The notification stage's factory (called by gateway/service.py's ``build_gateway``)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from devices.clock import Clock
from devices.inventory import Inventory
from notify.alarm import AlarmPublisher, ChannelAlarm, StreamPublisher
from notify.channels import build_channels
from notify.delivery import ChannelWorker
from notify.limiter import Backoff
from notify.messages import Words
from notify.metrics import NotifyMetrics
from notify.notifier import Notifier, OutboxReader, StageRecord
from notify.routing import Router
from notify.store import DeliveryStore


def build_notifier(
    inventory: Inventory,
    engine: Engine,
    instance: str,
    clock: Clock,
    outbox: OutboxReader,
    stages: StageRecord,
    *,
    env: Mapping[str, str],
    registry: CollectorRegistry | None = None,
    mqtt: AlarmPublisher | None = None,
    stream: StreamPublisher | None = None,
    backoff_s: float = 1.0,
    backoff_max_s: float = 60.0,
    poll_s: float = 0.1,
) -> Notifier | None:
    """None when the inventory has no channels. Raises MissingSecret (a ValueError) when a
    channel's environment variable is not set."""
    section = inventory.notifications
    if not section.channels:
        return None
    channels = build_channels(section.channels, env, clock.now)
    store = DeliveryStore(engine, instance)
    alarm = ChannelAlarm(instance, mqtt, stream)
    metrics = NotifyMetrics(registry, channels)
    words = Words(inventory, section.console_url)
    workers = {
        c.id: ChannelWorker(
            channels[c.id],
            c.rate_per_min,
            store,
            words,
            inventory,
            alarm,
            metrics,
            backoff=Backoff(backoff_s, backoff_max_s),
        )
        for c in section.channels
    }
    router = Router(section.routes, inventory)
    return Notifier(outbox, store, router, inventory, workers, words, clock, stages, alarm, poll_s=poll_s)
