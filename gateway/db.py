"""Operational database (SQLAlchemy): SQLite by default, PostgreSQL for production.

Tables are declared here once; each store module works on its own tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB

from alerts.store import create_tables

metadata = MetaData()

JsonType = JSON().with_variant(JSONB(), "postgresql")

#: Readings when no InfluxDB is configured: one row per point, fields as a JSON object.
readings = Table(
    "readings",
    metadata,
    Column("measurement", String(32), primary_key=True),
    Column("estate", String(64), primary_key=True),
    Column("device", String(64), primary_key=True),
    Column("time_ns", BigInteger, primary_key=True),
    Column("building", String(64), nullable=False, default=""),
    Column("fields", JsonType, nullable=False),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_ns", BigInteger, nullable=False),
    Column("topic", String(512), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("excerpt", Text, nullable=False),
    #: Its estate where known (gateway.ingest.Rejection.of_estate); added in place to older tables.
    Column("estate", String(64)),
    Index("ix_dead_letters_reason", "reason"),
    Index("ix_dead_letters_estate", "estate"),
)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets its folder created, WAL mode and a busy timeout."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    create_tables(engine, metadata)
    return engine


def ping(engine: Engine) -> str | None:
    """None when the database answers, else what went wrong (for /health)."""
    try:
        with engine.connect() as conn:
            conn.execute(select(1))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
