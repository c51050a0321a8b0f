"""The world's messages through the gateway's own path, without a broker: the decoder, device
state, and a real alarm engine (SQLite alert store) on a manual clock that follows simulated time;
with ``ledger``, the dispatch desk and the equipment ledger too (planned maintenance).

This is what ``estate-sim run`` feeds a gateway, minus the wall-clock pacing: each message is
decoded as received at its simulated time, and the engine ticks once per simulated ``tick_s``
as the gateway's 1 s ticker would.

``sparse`` (for long runs) feeds heartbeats sparsely: a lift, lamp or camera report that only
repeats the device's state (leaving aside readings no rule looks at: floor, speed, power, lux)
is skipped unless the device has not been fed for 2 heartbeats, well inside the 3 that make it
offline. Every message is still decoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from alerts.book import AlertBook
from alerts.catalogue import DEFAULT_RULES
from alerts.engine import AlarmEngine
from alerts.model import Alert
from alerts.store import AlertStore
from assets.desk import MaintenanceDesk
from assets.plans import RECORD_EVENTS
from assets.store import LedgerStore
from devices.base import Channel, FieldValue, Kind, Reading
from devices.clock import ManualClock, to_ns
from devices.inventory import Inventory
from dispatch.desk import Dispatcher
from dispatch.store import OrderStore
from gateway.db import make_engine
from gateway.ingest import Rejection, decode
from gateway.state import DeviceRegistry
from simulators.world import Message, World
from tests.alerts.harness import Recorder

THINNED = frozenset({Kind.LIFT, Kind.LIGHT, Kind.CCTV})
NOT_STATE = frozenset({"floor", "speed_m_s", "power_w", "lux"})


@dataclass
class Seen:
    """What went through the feed: messages, readings, rejections, unknown patrol references."""

    messages: list[Message] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    unknown_references: list[tuple[str, str, str]] = field(default_factory=list)


class Feed:
    def __init__(
        self,
        tmp_path: Path,
        inventory: Inventory,
        start: datetime,
        *,
        seed: int = 1,
        keep: bool = True,
        sparse: bool = False,
        ledger: bool = False,
    ) -> None:
        self.inventory = inventory
        self.sparse = sparse
        self.fed = 0
        self._last: dict[tuple[str, str], tuple[int, dict[str, FieldValue]]] = {}
        self._raw: dict[str, bytes] = {}  # topic → the last payload fed, without its ts
        self.world = World(inventory, seed=seed, start=start)
        self.clock = ManualClock(start)
        self.registry = DeviceRegistry(inventory)
        self.recorder = Recorder()
        self.seen = Seen()
        self.keep = keep  # keep every message and reading (a long run may not want to)
        store = AlertStore(make_engine(f"sqlite:///{tmp_path / 'alerts.db'}"))
        self.book = AlertBook(store, self.clock, [self.recorder])
        self.engine = AlarmEngine(
            inventory,
            self.book,
            self.clock,
            DEFAULT_RULES,
            self.registry.latest,
            dead_letter=lambda *ref: self.seen.unknown_references.append(ref),
        )
        self.engine.start()
        self.ledger: MaintenanceDesk | None = None
        if ledger:  # planned maintenance and its maintenance.overdue, wired as gateway/service.py does
            desk = Dispatcher(
                inventory, self.book, OrderStore(store.engine), self.clock, self.engine.rule, []
            )
            self.ledger = MaintenanceDesk(
                inventory,
                self.book,
                desk,
                LedgerStore(store.engine),
                self.clock,
                alarm_rule=self.engine.rule,
                on_record=self.engine.note_record,
            )
            self.engine.hook_events(RECORD_EVENTS, self.ledger.on_event)
            desk.start()
            self.ledger.start()
        self._last_tick = start

    @property
    def now(self) -> datetime:
        return self.world.now

    def run(self, seconds: float, *, tick_s: float = 1.0, batched: bool = False) -> list[Message]:
        """Advance the world ``seconds`` and feed every message; returns the messages.

        ``batched``: as the gateway's pipeline does under load, the messages of each ``tick_s``
        are decoded into device state together, then consumed in one batch at its end, then the
        engine ticks; otherwise each message is consumed at its own time."""
        until = self.world.now + timedelta(seconds=seconds)
        messages = self.world.advance(until)
        step = timedelta(seconds=tick_s)
        if batched:
            self._batches(messages, until, step)
        else:
            for message in messages:
                self._tick_until(message.at, step)
                self.clock.set(message.at)
                self._consume([message])
        self._tick_until(until, step)
        self.clock.set(until)
        if self.keep:
            self.seen.messages += messages
        return messages

    def _batches(self, messages: list[Message], until: datetime, step: timedelta) -> None:
        i = 0
        while i < len(messages):
            end = min(self._last_tick + step, until)
            first = i
            while i < len(messages) and messages[i].at <= end:
                i += 1
            self.clock.set(end)
            self._consume(messages[first:i])
            if end == self._last_tick + step:
                self._last_tick = end
                self.engine.tick()

    def _tick_until(self, when: datetime, step: timedelta) -> None:
        while self._last_tick + step <= when:
            self._last_tick += step
            self.clock.set(self._last_tick)
            self.engine.tick()

    def _consume(self, messages: list[Message]) -> None:
        readings = [r for r in map(self._decode, messages) if r is not None]
        if readings:
            self.engine.consume(readings)

    def _decode(self, message: Message) -> Reading | None:
        """Decode into device state, as the pipeline does; None for a rejected or skipped one."""
        received = to_ns(message.at)
        if self.sparse and self._repeat(message, received):
            return None
        result = decode(message.topic, message.payload, received, self.registry.lookup)
        if isinstance(result, Rejection):
            self.seen.rejections.append(result)
            return None
        if self.keep:
            self.seen.readings.append(result)
        self._raw[message.topic] = message.payload.rpartition(b'"ts"')[0]
        if self.sparse and not self._news(result):
            return None
        self.fed += 1
        self.registry.observe(result, received)
        return result

    def _repeat(self, message: Message, received: int) -> bool:
        """A report that repeats the last one decoded word for word (but for ``ts``) is skipped
        without decoding it, as ``_news`` would skip it after decoding."""
        _, estate, kind, device, channel = message.topic.split("/")
        if channel not in ("telemetry", "heartbeat") or Kind(kind) not in THINNED:
            return False
        if self._raw.get(message.topic) != message.payload.rpartition(b'"ts"')[0]:
            return False
        last_ns = self._last.get((estate, device), (0, {}))[0]
        return received - last_ns < 2 * self._heartbeat_ns(estate, device)

    def _heartbeat_ns(self, estate: str, device: str) -> int:
        config = self.inventory.device(estate, device)
        heartbeat = config.effective_heartbeat_s() if config else None
        return (heartbeat or 0) * 1_000_000_000

    def _news(self, reading: Reading) -> bool:
        key = (reading.estate, reading.device)
        last_ns, last_state = self._last.get(key, (0, {}))
        if reading.kind not in THINNED or reading.channel not in (Channel.TELEMETRY, Channel.HEARTBEAT):
            self._last[key] = (reading.time_ns, last_state)
            return True
        state = {k: v for k, v in reading.fields.items() if k not in NOT_STATE}
        recent = reading.time_ns - last_ns < 2 * self._heartbeat_ns(reading.estate, reading.device)
        if state == last_state and recent:
            return False
        self._last[key] = (reading.time_ns, state)
        return True

    # -- what the engine says --------------------------------------------------------------------
    def alerts(self) -> list[Alert]:
        return self.book.open_alerts()
