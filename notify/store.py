"""Every notification, one row per channel and event id (same database as the alerts).

The row is written before the outbox cursor moves and is unique per ``(channel, event_id)``, so a
restart re-reading outbox rows adds nothing twice; the row's status then says what became of it:
``pending`` (waiting: rate limit, quiet hours, retry), ``sent``, ``merged`` (went out in a digest,
``digest`` says which), ``failed`` (the channel refused that message for good). The rows are the
alarm's notification history (``GET /api/notifications?alert=``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from alerts.store import as_utc, create_tables, ts_column


class Status(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    MERGED = "merged"
    FAILED = "failed"
    CANCELLED = "cancelled"  # waited (a delay, quiet hours) for an alarm someone saw to meanwhile


notify_metadata = MetaData()

deliveries_t = Table(
    "notifications",
    notify_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instance", String(64), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("event_id", String(32), nullable=False),
    Column("event", String(32), nullable=False),
    Column("estate", String(64), nullable=False, index=True),
    Column("alert_id", Integer, index=True),
    Column("order_id", Integer),
    Column("severity", String(16), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("language", String(8), nullable=False),
    Column("topic", String(300), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    ts_column("created_at", nullable=False),
    ts_column("due_at", nullable=False),
    ts_column("sent_at"),
    Column("result", String(300)),
    Column("digest", String(40)),
    #: Who, by name, when a route named people on duty (JSON list); NULL: the channel's own list.
    Column("recipients", String(2000)),
    #: Set just before its request, cleared with the answer: still set after a restart, the request
    #: was in flight when the gateway died and may have gone out (the retry says so).
    ts_column("in_flight_at"),
    UniqueConstraint("channel", "event_id", name="uq_notifications_channel_event"),
    sqlite_autoincrement=True,
)


@dataclass(frozen=True)
class Delivery:
    id: int
    channel: str
    event_id: str
    event: str
    estate: str
    alert_id: int | None
    order_id: int | None
    severity: str
    language: str
    topic: str
    payload: bytes
    status: str
    attempts: int
    created_at: datetime
    due_at: datetime
    sent_at: datetime | None
    result: str | None
    digest: str | None
    to: tuple[str, ...] = ()
    in_flight_at: datetime | None = None

    def public(self) -> dict[str, Any]:
        """What the API shows (no payload: the alert itself is at /api/alerts)."""
        fields = ("id", "channel", "event_id", "event", "estate", "alert_id", "order_id", "severity")
        body = {name: getattr(self, name) for name in fields}
        return body | {
            "status": self.status,
            "attempts": self.attempts,
            "created_at": self.created_at,
            "sent_at": self.sent_at,
            "result": self.result,
            "digest": self.digest,
            "to": list(self.to),
        }


class DeliveryStore:
    def __init__(self, engine: Engine, instance: str) -> None:
        self.engine, self.instance = engine, instance
        create_tables(engine, notify_metadata)

    def add(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert new deliveries; one already there (same channel and event id) is left alone."""
        if not rows:
            return
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(deliveries_t).on_conflict_do_nothing(index_elements=["channel", "event_id"])
        with self.engine.begin() as conn:
            conn.execute(
                stmt,
                [{"instance": self.instance, "status": Status.PENDING, "attempts": 0, **r} for r in rows],
            )

    def due(self, channel: str, now: datetime, limit: int) -> list[Delivery]:
        """Pending deliveries of ``channel`` due by ``now``: the most severe first, then oldest."""
        c = deliveries_t.c
        stmt = (
            select(deliveries_t)
            .where(
                c.instance == self.instance, c.channel == channel, c.status == Status.PENDING, c.due_at <= now
            )
            .order_by(c.rank.desc(), c.id)
            .limit(limit)
        )
        return self._rows(stmt)

    def finish(
        self, ids: Collection[int], status: Status, at: datetime, result: str, digest: str | None = None
    ) -> None:
        c = deliveries_t.c
        values = {
            "status": status,
            "in_flight_at": None,
            "sent_at": at,
            "result": result[:300],
            "digest": digest,
            "attempts": c.attempts + 1,
        }
        with self.engine.begin() as conn:
            conn.execute(update(deliveries_t).where(c.id.in_(list(ids))).values(**values))

    def attempted(self, ids: Collection[int], result: str) -> None:
        """A try that failed for now: counted, the reason kept, still pending."""
        c = deliveries_t.c
        with self.engine.begin() as conn:
            conn.execute(
                update(deliveries_t)
                .where(c.id.in_(list(ids)))
                .values(attempts=c.attempts + 1, result=result[:300], in_flight_at=None)
            )

    def in_flight(self, ids: Collection[int], at: datetime) -> None:
        """About to send these: a restart that finds the mark knows the request may have gone out."""
        c = deliveries_t.c
        with self.engine.begin() as conn:
            conn.execute(update(deliveries_t).where(c.id.in_(list(ids))).values(in_flight_at=at))

    def cancel_waiting(self, alert_ids: Collection[int], now: datetime, why: str) -> int:
        """Drop what waits (due later than ``now``) for these alerts; how many rows."""
        c = deliveries_t.c
        stmt = (
            update(deliveries_t)
            .where(
                c.instance == self.instance,
                c.alert_id.in_(list(alert_ids)),
                c.status == Status.PENDING,
                c.due_at > now,
            )
            .values(status=Status.CANCELLED, result=why[:300])
        )
        with self.engine.begin() as conn:
            return int(conn.execute(stmt).rowcount)

    def requests_since(self, channel: str, since: datetime) -> list[datetime]:
        """When ``channel`` made its requests since ``since`` (a digest counts once): primes the
        rate limit after a restart."""
        c = deliveries_t.c
        stmt = (
            select(func.min(c.sent_at))
            .where(c.instance == self.instance, c.channel == channel, c.sent_at >= since)
            .group_by(func.coalesce(c.digest, c.event_id))
        )
        with self.engine.connect() as conn:
            return sorted(
                t.replace(tzinfo=UTC) if t.tzinfo is None else t for (t,) in conn.execute(stmt) if t
            )

    def pending(self, channel: str) -> int:
        c = deliveries_t.c
        stmt = select(func.count()).where(
            c.instance == self.instance, c.channel == channel, c.status == Status.PENDING
        )
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def listing(
        self,
        *,
        estates: Collection[str] | None,
        estate: str | None = None,
        alert: int | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[Delivery]:
        """Newest first; ``estates`` is the caller's scope (None: all)."""
        c = deliveries_t.c
        stmt = select(deliveries_t).order_by(c.id.desc()).limit(limit)
        if estates is not None:
            stmt = stmt.where(c.estate.in_(list(estates)))
        if estate is not None:
            stmt = stmt.where(c.estate == estate)
        if alert is not None:
            stmt = stmt.where(c.alert_id == alert)
        if before_id is not None:
            stmt = stmt.where(c.id < before_id)
        return self._rows(stmt)

    def count(
        self, *, estates: Collection[str] | None, estate: str | None = None, alert: int | None = None
    ) -> int:
        """How many :meth:`listing` finds, all pages together."""
        c = deliveries_t.c
        stmt = select(func.count()).select_from(deliveries_t)
        if estates is not None:
            stmt = stmt.where(c.estate.in_(list(estates)))
        if estate is not None:
            stmt = stmt.where(c.estate == estate)
        if alert is not None:
            stmt = stmt.where(c.alert_id == alert)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def _rows(self, stmt: Any) -> list[Delivery]:
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        out = []
        for r in rows:
            d = {k: v for k, v in r.items() if k not in ("instance", "rank")}
            d["payload"] = bytes(d["payload"])
            d["to"] = tuple(json.loads(d.pop("recipients") or "[]"))
            for name in ("created_at", "due_at", "sent_at", "in_flight_at"):
                d[name] = as_utc(d[name]) if d[name] is not None else None
            out.append(Delivery(**d))
        return out
