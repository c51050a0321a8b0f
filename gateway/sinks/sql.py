"""Readings → the SQL database, used when no InfluxDB is configured (the embedded default).

Same model as InfluxDB: measurement per kind, estate/building/device, typed fields, and one row per
(measurement, estate, device, time): a second write at the same instant merges its fields into the
row, as InfluxDB merges a point, so replays never duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite

from devices.base import FieldValue, Reading
from gateway.db import ping
from gateway.db import readings as readings_table
from gateway.sinks import SinkHealth, SinkStats


@dataclass(frozen=True)
class StoredPoint:
    measurement: str
    estate: str
    building: str
    device: str
    time_ns: int
    fields: dict[str, FieldValue]


class SqlSink:
    name = "sql"

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.stats = SinkStats()

    def _upsert(self) -> Any:
        table = readings_table
        stmt: Any
        merged: Any
        if self._engine.dialect.name == "postgresql":
            stmt = postgresql.insert(table)
            merged = table.c.fields.op("||")(stmt.excluded.fields)
        else:
            stmt = sqlite.insert(table)
            merged = func.json_patch(table.c.fields, stmt.excluded.fields)
        return stmt.on_conflict_do_update(
            index_elements=["measurement", "estate", "device", "time_ns"], set_={"fields": merged}
        )

    def write(self, readings: Sequence[Reading]) -> None:
        rows = [
            {
                "measurement": r.measurement,
                "estate": r.estate,
                "device": r.device,
                "time_ns": r.time_ns,
                "building": r.building,
                "fields": dict(r.fields),
            }
            for r in readings
        ]
        if not rows:
            return
        with self._engine.begin() as conn:
            conn.execute(self._upsert(), rows)
        self.stats.points_written += len(rows)
        self.stats.batches_written += 1

    def query(
        self,
        estate: str,
        device: str,
        start_ns: int | None = None,
        stop_ns: int | None = None,
        limit: int = 1000,
        measurement: str | None = None,
    ) -> list[StoredPoint]:
        t = readings_table
        stmt = select(t).where(t.c.estate == estate, t.c.device == device)
        if measurement is not None:
            stmt = stmt.where(t.c.measurement == measurement)
        if start_ns is not None:
            stmt = stmt.where(t.c.time_ns >= start_ns)
        if stop_ns is not None:
            stmt = stmt.where(t.c.time_ns < stop_ns)
        stmt = stmt.order_by(t.c.time_ns).limit(limit)
        with self._engine.connect() as conn:
            return [
                StoredPoint(r.measurement, r.estate, r.building, r.device, r.time_ns, dict(r.fields))
                for r in conn.execute(stmt)
            ]

    def count(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(readings_table)).scalar_one())

    def health(self) -> SinkHealth:
        problem = ping(self._engine)
        return SinkHealth(self.name, problem is None, problem or self._engine.dialect.name)

    def start(self) -> None:
        return None

    def close(self) -> None:
        return None
