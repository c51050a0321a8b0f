"""A real alarm engine on a manual clock, fed readings directly (no broker): for rule and lifecycle
tests. The alert store is real SQLite in the test's tmp dir; notifications are recorded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from alerts.book import AlertBook, Policy
from alerts.catalogue import DEFAULT_RULES
from alerts.engine import AlarmEngine
from alerts.model import Action, Alert, alert_key
from alerts.rules import Rule
from alerts.store import AlertStore
from devices.base import Channel, FieldValue, Kind, Reading
from devices.clock import ManualClock, to_ns
from devices.inventory import Inventory
from devices.loader import load_inventory
from gateway.db import make_engine
from tests.support.gateway import SPEC_EXAMPLE

#: The catalogue with its opt-in rules switched on (the compliance rules a ledger plan stands for).
ALL_RULES: list[Rule] = [r.model_copy(update={"enabled": True}) for r in DEFAULT_RULES]


class Recorder:
    """A notifier that keeps every notification (alert json, actions) and, one by one, every
    (alert json, action) it was told of."""

    def __init__(self) -> None:
        self.notifications: list[tuple[dict[str, Any], tuple[Action, ...]]] = []
        self.events: list[tuple[dict[str, Any], Action]] = []

    def notify(self, alert: Alert, actions: tuple[Action, ...]) -> None:
        body = alert.to_json()
        self.notifications.append((body, actions))
        self.events.extend((body, action) for action in actions)

    def actions(self, rule: str | None = None) -> list[Action]:
        return [a for j, a in self.events if rule is None or j["rule"] == rule]


class Harness:
    def __init__(
        self,
        tmp_path: Path,
        inventory: Inventory | None = None,
        rules: Sequence[Rule] = DEFAULT_RULES,
        policy: Policy | None = None,
        db_name: str = "alerts.db",
        start: datetime | None = None,
    ) -> None:
        self.tmp_path = tmp_path
        self.inventory = inventory or load_inventory(SPEC_EXAMPLE)
        self.clock = ManualClock(start)
        self.recorder = Recorder()
        self.values: dict[tuple[str, str], dict[str, FieldValue]] = {}
        self.store = AlertStore(make_engine(f"sqlite:///{tmp_path / db_name}"))
        self.book = AlertBook(self.store, self.clock, [self.recorder], policy)
        self.engine = AlarmEngine(self.inventory, self.book, self.clock, rules, self._latest)
        self.engine.start()

    def _latest(self, estate: str, device: str) -> dict[str, FieldValue]:
        return self.values.get((estate, device), {})

    def reading(
        self, device: str, channel: Channel | str, fields: dict[str, FieldValue], estate: str = "sunrise"
    ) -> Reading:
        config = self.inventory.device(estate, device)
        assert config is not None, f"{device} is not in the inventory"
        channel = Channel(channel)
        event = fields.get("type") if channel is Channel.EVENT else None
        stored = {k: v for k, v in fields.items() if k != "type"}
        if isinstance(event, str):
            stored = {"event": event, **stored}
        return Reading(
            estate,
            Kind(config.kind),
            device,
            channel,
            config.building or "",
            to_ns(self.clock.now()),
            stored,
            event if isinstance(event, str) else None,
        )

    def send(
        self,
        device: str,
        channel: Channel | str = Channel.TELEMETRY,
        estate: str = "sunrise",
        **fields: FieldValue,
    ) -> None:
        """Feed one reading as the pipeline would: latest values first, then the rules."""
        reading = self.reading(device, channel, dict(fields), estate)
        if reading.channel in (Channel.TELEMETRY, Channel.HEARTBEAT):
            self.values.setdefault((estate, device), {}).update(reading.fields)
        self.engine.consume([reading])

    def event(self, device: str, type: str, **fields: FieldValue) -> None:
        self.send(device, Channel.EVENT, type=type, **fields)

    def advance(self, seconds: float, *, keep_alive: Sequence[str] | None = None, step: float = 1.0) -> None:
        """Move the clock in steps, ticking the engine each step (as the 1 s ticker would).

        ``keep_alive``: devices that send a heartbeat each step (default: every device except those
        whose silence the test is about — pass ``[]`` to let everything go quiet)."""
        alive = [d.id for d in self.inventory.estates[0].devices] if keep_alive is None else list(keep_alive)
        remaining = seconds
        while remaining > 1e-9:
            delta = min(step, remaining)
            self.clock.advance(timedelta(seconds=delta))
            remaining -= delta
            for device in alive:
                self.send(device, Channel.HEARTBEAT)
            self.engine.tick()

    def alert(self, device: str | None, rule: str, estate: str = "sunrise") -> Alert | None:
        return self.book.open_alert(alert_key(estate, device, rule))

    def open_rules(self) -> set[tuple[str | None, str]]:
        return {(a.device, a.rule) for a in self.book.open_alerts()}
