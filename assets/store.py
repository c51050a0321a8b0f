"""Persistence of the ledger's records and plan schedules (SQLAlchemy: SQLite or PostgreSQL).

Written in the alert book's transaction (the desk is one of its extensions): a record, the order
it closed and the overdue alarm it cleared are stored together or not at all. Photos are files
on disk (assets/photos.py); a row holds only the file's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Date,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)

from alerts.store import Ids, as_utc, create_tables, only_estates, ts_column, upsert
from assets.model import PlanState, Record

metadata = MetaData()

records_t = Table(
    "maintenance_records",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("estate", String(64), nullable=False, index=True),
    Column("asset", String(64), nullable=False, index=True),
    Column("plan", String(64)),
    Column("task", Text, nullable=False),
    Column("done_on", Date, nullable=False, index=True),
    ts_column("at", nullable=False),
    Column("by", String(64), nullable=False),
    Column("source", String(16), nullable=False),
    Column("work_order", Integer),
    Column("readings", JSON, nullable=False),
    Column("note", Text, nullable=False),
    Column("next_due", Date),
    Column("photo", String(100)),
)

plans_t = Table(
    "maintenance_plans",
    metadata,
    Column("estate", String(64), primary_key=True),
    Column("asset", String(64), primary_key=True),
    Column("plan", String(64), primary_key=True),
    Column("since", Date, nullable=False),
    Column("due", Date, nullable=False),
    Column("work_order", Integer),
    Column("overdue", Boolean, nullable=False),
    #: ``since`` is a record's date (PlanState.recorded); null in rows from before it was kept: taken
    #: as recorded (the schedule those rows hold stands against an older record, as it did).
    Column("recorded", Boolean),
)


def _record(r: Any) -> Record:
    return Record(
        r.id, r.estate, r.asset, r.plan, r.task, r.done_on, as_utc(r.at) or r.at, r.by, r.source,
        r.work_order, dict(r.readings), r.note, r.next_due, r.photo,
    )  # fmt: skip


class LedgerStore:
    def __init__(self, engine: Engine, owned: frozenset[str] | None = None) -> None:
        self.engine, self.owned = engine, owned
        create_tables(engine, metadata)
        self._upsert_plans = upsert(engine, plans_t, "estate", "asset", "plan")

    def ids(self) -> Ids:
        return Ids.for_table(self.engine, "maintenance_records", records_t.c.id)

    def write(self, conn: Connection, states: Sequence[PlanState], records: Sequence[Record]) -> None:
        """Inside the alert book's transaction."""
        if states:
            rows = [
                {"estate": s.estate, "asset": s.asset, "plan": s.plan, "since": s.since, "due": s.due,
                 "work_order": s.order, "overdue": s.overdue, "recorded": s.recorded}
                for s in states
            ]  # fmt: skip
            conn.execute(self._upsert_plans, rows)
        if records:
            conn.execute(
                insert(records_t),
                [r.to_json() | {"done_on": r.done_on, "at": r.at, "next_due": r.next_due, "photo": r.photo}
                 for r in records],
            )  # fmt: skip

    def states(self) -> list[PlanState]:
        stmt = only_estates(select(plans_t), plans_t.c.estate, self.owned)
        with self.engine.connect() as conn:
            return [
                PlanState(
                    r.estate,
                    r.asset,
                    r.plan,
                    r.since,
                    r.due,
                    r.work_order,
                    r.overdue,
                    r.recorded is not False,
                )
                for r in conn.execute(stmt)
            ]

    def records(
        self,
        estate: str | None = None,
        asset: str | None = None,
        start: date | None = None,
        stop: date | None = None,
        limit: int = 1000,
    ) -> list[Record]:
        t = records_t
        stmt = select(t).order_by(t.c.done_on.desc(), t.c.id.desc()).limit(limit)
        for column, value in ((t.c.estate, estate), (t.c.asset, asset)):
            if value is not None:
                stmt = stmt.where(column == value)
        if start is not None:
            stmt = stmt.where(t.c.done_on >= start)
        if stop is not None:
            stmt = stmt.where(t.c.done_on < stop)
        with self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(only_estates(stmt, t.c.estate, self.owned))]

    def record(self, record_id: int) -> Record | None:
        stmt = select(records_t).where(records_t.c.id == record_id)
        with self.engine.connect() as conn:
            found = conn.execute(only_estates(stmt, records_t.c.estate, self.owned)).first()
        return _record(found) if found is not None else None

    def set_photo(self, record_id: int, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(records_t).where(records_t.c.id == record_id).values(photo=name))
