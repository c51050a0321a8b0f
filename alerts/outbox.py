"""The outbox: messages about alert and work-order changes, written in the same transaction as the
changes themselves, and delivered from there by a relay (gateway/outbox_relay.py).

A change that was stored is announced even if the gateway is killed right after: the message is
in the same commit, and the next start delivers what its consumer had not confirmed. A change
that was not stored is never announced. Each message carries an ``event_id`` (one per change,
shared by the topics it goes to), so a consumer that sees one twice (the relay was killed between
the broker's acknowledgement and its own record of it) can drop the repeat.

Each consumer (``mqtt`` today; the notification channels later) keeps a cursor per instance;
rows every consumer has passed are pruned as the cursor moves. Instances sharing a database
(scale-out) each relay only their own rows.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    select,
)

from alerts.model import Action, Alert, notification
from alerts.store import create_tables, upsert

outbox_metadata = MetaData()

outbox_t = Table(
    "outbox",
    outbox_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instance", String(64), nullable=False, index=True),
    Column("event_id", String(32), nullable=False),
    Column("topic", String(300), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    # Never reuse an id (SQLite would after the table was pruned empty, and a new row would hide
    # behind the cursor). One instance's rows commit in id order: the alarm core's one thread serialises
    # its flushes, and each instance relays only its own rows.
    sqlite_autoincrement=True,
)

cursors_t = Table(
    "outbox_cursors",
    outbox_metadata,
    Column("instance", String(64), primary_key=True),
    Column("consumer", String(32), primary_key=True),
    Column("last_id", BigInteger, nullable=False),
)


@dataclass(frozen=True)
class Event:
    """One change to announce: its body (the alert or work-order JSON) and the topics it goes to."""

    topics: tuple[str, ...]
    body: dict[str, Any]


#: Alert changes that only raise a count: not a state change, so not published (docs/contract.md
#: §3.4: "every change of an alert's state"); the count is in the next published state and in the API.
QUIET = frozenset({Action.REPEAT})


def alert_event(alert: Alert, actions: tuple[Action, ...]) -> Event | None:
    """The alert JSON on ``estate/{estate}/alerts`` after a batch of changes (one message per
    alert per batch: a raise and its work order are one); None for a batch of repeats alone."""
    if QUIET.issuperset(actions):
        return None
    return Event((f"estate/{alert.estate}/alerts",), notification(alert, actions))


def order_event(order: dict[str, Any], action: str, crews: Sequence[str]) -> Event:
    """The work-order JSON on ``crew/{crew}/orders`` of each crew concerned (a reassigned order
    also goes to the crew it left, so their list drops it)."""
    return Event(tuple(f"crew/{crew}/orders" for crew in crews), {**order, "action": action})


@dataclass(frozen=True)
class Row:
    id: int
    event_id: str
    topic: str
    payload: bytes


class Outbox:
    def __init__(self, engine: Engine, instance: str, consumers: Sequence[str] = ("mqtt",)) -> None:
        self.engine, self.instance, self.consumers = engine, instance, tuple(consumers)
        self._wake = threading.Event()
        create_tables(engine, outbox_metadata)

    # -- writing, inside the changes' transaction ------------------------------------------------
    def write(self, conn: Connection, events: Iterable[Event]) -> int:
        """Add the events' messages in ``conn``'s transaction; how many rows."""
        rows = []
        for event in events:
            event_id = uuid.uuid4().hex
            payload = json.dumps({**event.body, "event_id": event_id}, ensure_ascii=False).encode()
            rows += [
                {"instance": self.instance, "event_id": event_id, "topic": topic, "payload": payload}
                for topic in event.topics
            ]
        if rows:
            conn.execute(insert(outbox_t), rows)
        return len(rows)

    def wake(self) -> None:
        """Tell the relay there is something new (called after the commit)."""
        self._wake.set()

    def wait(self, timeout_s: float) -> bool:
        """Wait for ``wake`` (or the timeout); True when woken. Clears the signal."""
        woken = self._wake.wait(timeout_s)
        self._wake.clear()
        return woken

    # -- delivering --------------------------------------------------------------------------------
    def pending(self, consumer: str, limit: int = 500) -> list[Row]:
        """The oldest rows ``consumer`` has not confirmed, in commit order."""
        with self.engine.connect() as conn:
            after = self._cursor(conn, consumer)
            stmt = (
                select(outbox_t.c.id, outbox_t.c.event_id, outbox_t.c.topic, outbox_t.c.payload)
                .where(outbox_t.c.instance == self.instance, outbox_t.c.id > after)
                .order_by(outbox_t.c.id)
                .limit(limit)
            )
            return [Row(r.id, r.event_id, r.topic, bytes(r.payload)) for r in conn.execute(stmt)]

    def done(self, consumer: str, last_id: int) -> None:
        """``consumer`` has delivered every row up to ``last_id``: move its cursor, and drop the
        rows every consumer has passed."""
        with self.engine.begin() as conn:
            row = {"instance": self.instance, "consumer": consumer, "last_id": last_id}
            conn.execute(upsert(self.engine, cursors_t, "instance", "consumer"), [row])
            passed = min(self._cursor(conn, c) for c in self.consumers)
            conn.execute(
                delete(outbox_t).where(outbox_t.c.instance == self.instance, outbox_t.c.id <= passed)
            )

    def backlog(self, consumer: str) -> int:
        """Rows ``consumer`` has still to deliver (``/health``)."""
        with self.engine.connect() as conn:
            after = self._cursor(conn, consumer)
            stmt = select(func.count()).where(outbox_t.c.instance == self.instance, outbox_t.c.id > after)
            return int(conn.execute(stmt).scalar_one())

    def _cursor(self, conn: Connection, consumer: str) -> int:
        stmt = select(cursors_t.c.last_id).where(
            cursors_t.c.instance == self.instance, cursors_t.c.consumer == consumer
        )
        found = conn.execute(stmt).scalar_one_or_none()
        return int(found) if found is not None else 0
