"""The ``kpi_daily`` table: one row per estate and local day, flat figures (numerators,
denominators, percentages) that Grafana's SQL and the period sums read directly, and a JSON
``detail`` (per lift, entrapments, out-of-service periods, bad actors, priority mix)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Date, Engine, Float, Integer, MetaData, String, Table, select
from sqlalchemy.dialects.postgresql import JSONB

from alerts.store import as_utc, create_tables, only_estates, ts_column, upsert

metadata = MetaData()
_Json = JSON().with_variant(JSONB(), "postgresql")

#: Counts summed over days and estates (numerators and denominators).
COUNTS = (
    "lamps_total",
    "lamps_working",
    "lamps_failed",
    "lamps_unknown",
    "camera_minutes",
    "camera_online_minutes",
    "lift_minutes",
    "lift_service_minutes",
    "entrapments",
    "repairs_decided",
    "repairs_on_time",
    "rounds_closed",
    "rounds_done",
    "activations",
    "position_activations",
    "periods",
    "flood_periods",
    "stale",
    "chattering",
)
#: Figures of the day (percentages, rates), recomputed from the counts for longer periods.
FIGURES = (
    "lamp_intact_pct",
    "camera_online_pct",
    "lift_availability_pct",
    "repair_timely_pct",
    "patrol_compliance_pct",
    "alarms_per_10min",
    "position_per_10min",
    "flood_pct",
)
_FLOATS = {"camera_minutes", "camera_online_minutes", "lift_minutes", "lift_service_minutes"}

kpi_daily_t = Table(
    "kpi_daily",
    metadata,
    Column("estate", String(64), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("region", String(64)),
    Column("position", String(64), nullable=False),
    ts_column("computed_at", nullable=False),
    *(Column(name, Float if name in _FLOATS else Integer, nullable=False) for name in COUNTS),
    *(Column(name, Float) for name in FIGURES),
    Column("detail", _Json, nullable=False),
)


class RollupStore:
    """``owned``: the estates of this gateway instance (None: all)."""

    def __init__(self, engine: Engine, owned: frozenset[str] | None = None) -> None:
        self.engine, self.owned = engine, owned
        create_tables(engine, metadata)

    def save(self, rows: Sequence[Mapping[str, Any]], computed_at: datetime) -> None:
        """Insert or replace the rows of (estate, day): a recomputed day replaces the old figures."""
        if rows:
            with self.engine.begin() as conn:
                stmt = upsert(self.engine, kpi_daily_t, "estate", "day")
                conn.execute(stmt, [{**row, "computed_at": computed_at} for row in rows])

    def days(self, estates: Iterable[str] | None, first: date, last: date) -> list[dict[str, Any]]:
        """Rows of ``first``..``last`` (inclusive), by estate then day."""
        t = kpi_daily_t
        stmt = select(t).where(t.c.day >= first, t.c.day <= last).order_by(t.c.estate, t.c.day)
        if estates is not None:
            stmt = stmt.where(t.c.estate.in_(list(estates)))
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(only_estates(stmt, t.c.estate, self.owned))]
        for row in rows:
            row["computed_at"] = as_utc(row["computed_at"])
        return rows

    def last_day(self, estate: str) -> date | None:
        """The latest day rolled up for ``estate``."""
        t = kpi_daily_t
        with self.engine.connect() as conn:
            found = conn.execute(
                select(t.c.day).where(t.c.estate == estate).order_by(t.c.day.desc()).limit(1)
            )
            day = found.scalar_one_or_none()
        return day if isinstance(day, date) else None
