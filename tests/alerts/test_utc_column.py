"""Every stored time is UTC (alerts/store.py ``UtcDateTime``): a time given with an offset — a
lock-step clock message at +08:00, an API parameter — reads back as the same instant, on SQLite
(which keeps no zone) and on PostgreSQL, and is compared as that instant in a query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select

from alerts.store import ts_column
from gateway.db import make_engine

SHANGHAI = timezone(timedelta(hours=8))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_time_with_an_offset_is_stored_as_its_instant(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path}/t.db" if backend == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    table = Table("times", MetaData(), Column("id", Integer, primary_key=True), ts_column("at"))
    table.metadata.create_all(engine)
    midnight = datetime(2026, 1, 17, 0, 0, tzinfo=SHANGHAI)  # 16 January 16:00 UTC
    naive_utc = datetime(2026, 1, 16, 17, 0)  # naive: taken as UTC
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": 1, "at": midnight}, {"id": 2, "at": naive_utc}])
    with engine.connect() as conn:
        rows = {r.id: r.at for r in conn.execute(select(table.c.id, table.c.at))}
        before = conn.execute(
            select(table.c.id).where(table.c.at < datetime(2026, 1, 17, 0, 30, tzinfo=SHANGHAI))
        )
        early = sorted(before.scalars())
    assert rows[1] == midnight and rows[1].tzinfo is UTC and rows[1].hour == 16
    assert rows[2] == naive_utc.replace(tzinfo=UTC)
    assert early == [1]  # 16:00 UTC is before 16:30 UTC; 17:00 UTC is not
    engine.dispose()
