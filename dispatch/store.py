"""Persistence of work orders and their history (SQLAlchemy: SQLite or PostgreSQL).

Orders are written in the same transaction as the alert changes that caused them (the alert
book calls :meth:`OrderStore.write` with its connection), so a crash can never leave an alert
pointing at an order that was not stored, nor an order without its alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)

from alerts.store import (
    Ids,
    as_utc,
    create_tables,
    history_rows,
    history_table,
    next_id,
    only_estates,
    read_history,
    ts_column,
    upsert,
)
from devices.base import Severity, Trade
from dispatch.model import LIVE_STATES, OrderAction, OrderEntry, OrderState, Source, Step, WorkOrder

metadata = MetaData()


orders_t = Table(
    "work_orders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("estate", String(64), nullable=False, index=True),
    Column("building", String(64)),
    Column("device", String(64)),
    Column("alert", Integer),
    Column("alert_key", String(200), index=True),
    Column("rule", String(64)),
    Column("trade", String(32), nullable=False),
    Column("crew", String(64), index=True),
    Column("severity", String(16), nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("source", String(16), nullable=False),
    Column("category", String(64)),
    ts_column("created_at", nullable=False, index=True),
    ts_column("accept_due"),
    ts_column("arrive_due"),
    ts_column("resolve_due"),
    ts_column("accepted_at"),
    ts_column("arrived_at"),
    ts_column("resolved_at"),
    ts_column("closed_at"),
    Column("breached", JSON, nullable=False),
    Column("crews_tried", JSON, nullable=False),
    Column("reopened", Integer, nullable=False),
)

order_history_t = history_table("work_order_history", metadata, "order_id")

_TIMES = (
    "created_at",
    "accept_due",
    "arrive_due",
    "resolve_due",
    "accepted_at",
    "arrived_at",
    "resolved_at",
    "closed_at",
)


def _row(order: WorkOrder) -> dict[str, Any]:
    return {
        "id": order.id,
        "estate": order.estate,
        "building": order.building,
        "device": order.device,
        "alert": order.alert,
        "alert_key": order.alert_key,
        "rule": order.rule,
        "trade": order.trade.value,
        "crew": order.crew,
        "severity": order.severity.value,
        "state": order.state.value,
        "title": order.title,
        "description": order.description,
        "source": order.source.value,
        "category": order.category,
        **{name: getattr(order, name) for name in _TIMES},
        "breached": [step.value for step in order.breached],
        "crews_tried": list(order.crews_tried),
        "reopened": order.reopened,
    }


def _order(r: Any) -> WorkOrder:
    order = WorkOrder(
        id=r.id,
        estate=r.estate,
        building=r.building,
        device=r.device,
        alert=r.alert,
        alert_key=r.alert_key,
        rule=r.rule,
        trade=Trade(r.trade),
        crew=r.crew,
        severity=Severity(r.severity),
        state=OrderState(r.state),
        title=r.title,
        description=r.description,
        source=Source(r.source),
        category=r.category,
        created_at=r.created_at,
        breached=[Step(s) for s in r.breached],
        crews_tried=list(r.crews_tried),
        reopened=r.reopened,
    )
    for name in _TIMES:
        setattr(order, name, as_utc(getattr(r, name)))
    return order


class OrderStore:
    """``owned``: the estates this gateway instance owns (None: all); see ``AlertStore``."""

    def __init__(self, engine: Engine, owned: frozenset[str] | None = None) -> None:
        self.engine, self.owned = engine, owned
        create_tables(engine, metadata)

    def _mine(self, stmt: Any) -> Any:
        return only_estates(stmt, orders_t.c.estate, self.owned)

    def next_id(self) -> int:
        return next_id(self.engine, orders_t.c.id)

    def ids(self) -> Ids:
        """Where new orders take their ids (shared safely between instances on PostgreSQL)."""
        return Ids.for_table(self.engine, "work_orders", orders_t.c.id)

    def _upsert(self) -> Any:
        return upsert(self.engine, orders_t, "id")

    def write(
        self, conn: Connection, orders: Iterable[WorkOrder], history: Sequence[tuple[int, OrderEntry]]
    ) -> None:
        """Upsert changed orders and append their history, inside the caller's transaction."""
        rows = [_row(order) for order in orders]
        if rows:
            conn.execute(self._upsert(), rows)
        if history:
            conn.execute(insert(order_history_t), history_rows("order_id", history))

    def _load(self, stmt: Any) -> list[WorkOrder]:
        with self.engine.connect() as conn:
            orders = [_order(r) for r in conn.execute(stmt)]
            if orders:
                by_id = {o.id: o for o in orders}
                for h in read_history(conn, order_history_t, "order_id", by_id):
                    by_id[h.owner].history.append(OrderEntry(h.at, h.by, OrderAction(h.action), h.note))
        return orders

    def live(self) -> list[WorkOrder]:
        """Orders still under way (not closed or cancelled): their clocks run."""
        states = [s.value for s in LIVE_STATES]
        return self._load(
            self._mine(select(orders_t).where(orders_t.c.state.in_(states)).order_by(orders_t.c.id))
        )

    def get(self, order_id: int) -> WorkOrder | None:
        found = self._load(self._mine(select(orders_t).where(orders_t.c.id == order_id)))
        return found[0] if found else None

    def closed_since(self, since: datetime) -> list[tuple[str, int, datetime]]:
        """(alert key, id, closed at) of device orders closed at or after ``since``: the ones a
        returning fault may reopen. Just those columns, no history."""
        t = orders_t
        stmt = (
            select(t.c.alert_key, t.c.id, t.c.closed_at)
            .where(t.c.state == OrderState.CLOSED.value, t.c.closed_at >= since, t.c.alert_key.is_not(None))
            .order_by(t.c.closed_at)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(self._mine(stmt))
            return [(r.alert_key, r.id, as_utc(r.closed_at) or r.closed_at) for r in rows]

    def query(
        self,
        estate: str | None = None,
        state: str | None = None,
        crew: str | None = None,
        estates: frozenset[str] | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        limit: int = 500,
    ) -> list[WorkOrder]:
        t = orders_t
        stmt = select(t).order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)
        for column, value in ((t.c.estate, estate), (t.c.state, state), (t.c.crew, crew)):
            if value is not None:
                stmt = stmt.where(column == value)
        if estates:
            stmt = stmt.where(t.c.estate.in_(estates))
        if created_from is not None:
            stmt = stmt.where(t.c.created_at >= created_from)
        if created_to is not None:
            stmt = stmt.where(t.c.created_at < created_to)
        return self._load(self._mine(stmt))
