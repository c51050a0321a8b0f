"""Every query of the Grafana dashboards in deploy/grafana/ runs against the real servers and returns
rows: InfluxQL against InfluxDB 1.6.7 holding readings written as the gateway writes them (its
decoder and line writer), SQL against PostgreSQL holding the gateway's own tables (alerts with their
history, ``kpi_daily`` rolled up by reports/). Template variables are filled from their own queries,
and Grafana's macros are expanded as Grafana does ($timeFilter, $__interval, $__timeFilter,
$__time, $__timeGroupAlias)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import yaml
from sqlalchemy import text

from alerts.model import Action, Alert, HistoryEntry
from alerts.patrol_records import PatrolRecords
from alerts.store import AlertStore
from devices.base import Severity
from devices.clock import ManualClock, to_ns
from devices.loader import load_inventory
from dispatch.store import OrderStore
from gateway.db import make_engine
from gateway.ingest import Rejection, decode
from gateway.sinks.influx import to_line
from gateway.state import DeviceRegistry
from reports.rollup import Rollups
from reports.store import RollupStore
from tests.support.gateway import REPO, SPEC_EXAMPLE
from tests.support.servers import InfluxDatabase

GRAFANA = REPO / "deploy" / "grafana"
NOW = datetime.now(UTC).replace(microsecond=0)


def dashboards() -> list[dict[str, Any]]:
    return [
        json.loads(p.read_text(encoding="utf-8")) for p in sorted((GRAFANA / "dashboards").glob("*.json"))
    ]


def queries(dashboard: dict[str, Any], kind: str) -> list[str]:
    """The panel queries of one datasource type: InfluxQL (``query``) or SQL (``rawSql``)."""
    key = "query" if kind == "influxdb" else "rawSql"
    return [
        t[key]
        for p in dashboard["panels"]
        for t in p["targets"]
        if t["datasource"]["type"] == kind and t.get(key)
    ]


def variables(dashboard: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [v for v in dashboard["templating"]["list"] if v["datasource"]["type"] == kind]


def fill(query: str, values: dict[str, list[str]]) -> str:
    """Variables as Grafana fills them: a regex ``/^$v$/`` takes ``(a|b)``, a quoted '$v' one value."""
    for name, chosen in values.items():
        query = query.replace(f"/^${name}$/", "/^(" + "|".join(map(re.escape, chosen)) + ")$/")
        query = query.replace(f"'${name}'", "'" + chosen[0].replace("'", "''") + "'")
    return query


def influxql(query: str) -> str:
    return query.replace("$timeFilter", "time > now() - 2d").replace("$__interval", "5m")


def sql(query: str, start: datetime, stop: datetime) -> str:
    span = f"BETWEEN '{start.isoformat()}' AND '{stop.isoformat()}'"
    query = re.sub(r"\$__timeFilter\(([\w.]+)\)", rf"\1 {span}", query)
    query = re.sub(r"\$__time\(([\w.]+)\)", r'\1::timestamptz AS "time"', query)

    def group(match: re.Match[str]) -> str:
        seconds = {"m": 60, "h": 3600}[match.group(3)] * int(match.group(2))
        column = match.group(1)
        return f'to_timestamp(floor(extract(epoch from {column}) / {seconds}) * {seconds}) AS "time"'

    return re.sub(r"\$__timeGroupAlias\(([\w.]+), '(\d+)([mh])'\)", group, query)


def test_the_provisioning_names_both_datasources_the_dashboards_use() -> None:
    config = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "estate.yaml").read_text())
    provided = {(d["type"], d["uid"]) for d in config["datasources"]}
    used = {
        (t["datasource"]["type"], t["datasource"]["uid"])
        for d in dashboards()
        for p in d["panels"]
        for t in p["targets"]
    }
    assert used == provided
    assert [d["uid"] for d in dashboards()] == ["estate-alarm-load", "estate-devices", "estate-kpis"]
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "estate.yaml").read_text())
    assert provider["providers"][0]["type"] == "file"


def _write_readings(influx_db: InfluxDatabase) -> None:
    inventory = load_inventory(SPEC_EXAMPLE)
    registry = DeviceRegistry(inventory)
    messages = [
        ("estate/sunrise/lift/L1/telemetry", {"floor": 3, "direction": "up", "speed_m_s": 1.5}),
        ("estate/sunrise/water_tank/T1/telemetry", {"level_pct": 80, "chlorine_mg_l": 0.4, "ph": 7.2}),
        ("estate/sunrise/light/LP1/telemetry", {"on": True, "lamp_ok": True, "power_w": 35.5}),
    ]  # fmt: skip
    lines = []
    for minutes in range(0, 120, 10):
        at = NOW - timedelta(minutes=minutes)
        for topic, body in messages:
            payload = json.dumps({**body, "ts": at.isoformat()}).encode()
            reading = decode(topic, payload, to_ns(NOW), registry.lookup)
            assert not isinstance(reading, Rejection), reading
            lines.append(to_line(reading))
    influx_db.write_lines("\n".join(lines))


def test_every_influxql_query_returns_rows(influx_db: InfluxDatabase) -> None:
    _write_readings(influx_db)
    [board] = [d for d in dashboards() if queries(d, "influxdb")]
    values: dict[str, list[str]] = {}
    for variable in variables(board, "influxdb"):  # in order: device's query uses $estate
        rows = influx_db.query(fill(variable["query"], values))
        values[variable["name"]] = sorted({str(r["value"]) for r in rows})
        assert values[variable["name"]], variable["query"]
    assert values == {"estate": ["sunrise"], "device": ["L1", "LP1", "T1"]}
    for query in queries(board, "influxdb"):
        assert influx_db.query(influxql(fill(query, values))), query


def _seed_operations(pg_url: str) -> None:
    engine = make_engine(pg_url)
    alerts = AlertStore(engine)
    door = Alert(
        1, "sunrise", "B1", "D1", "access", "access.forced", Severity.MAJOR, "门被强行打开", "Door forced",
        NOW - timedelta(days=2), active=False, cleared_at=NOW - timedelta(hours=1),
    )  # fmt: skip
    steps = [(NOW - timedelta(hours=h), Action.RAISE if h % 2 else Action.REACTIVATE) for h in range(1, 30)]
    alerts.save([door], [(1, HistoryEntry(at, "system", action)) for at, action in steps], {})
    clock = ManualClock(NOW)
    rollups = Rollups(
        load_inventory(SPEC_EXAMPLE),
        alerts,
        OrderStore(engine),
        PatrolRecords(engine),
        RollupStore(engine),
        clock,
    )
    today = NOW.date()
    assert rollups.recompute(None, today - timedelta(days=10), today - timedelta(days=1)) == 10
    engine.dispose()


@pytest.mark.parametrize("board", ["estate-kpis", "estate-alarm-load"])
def test_every_sql_query_returns_rows(pg_url: str, board: str) -> None:
    _seed_operations(pg_url)
    [dashboard] = [d for d in dashboards() if d["uid"] == board]
    engine = make_engine(pg_url)
    start, stop = NOW - timedelta(days=30), NOW
    with engine.connect() as conn:
        values: dict[str, list[str]] = {}
        for variable in variables(dashboard, "grafana-postgresql-datasource"):
            values[variable["name"]] = [str(r[0]) for r in conn.execute(text(variable["query"]))]
        assert values == {"estate": ["sunrise"]}
        for query in queries(dashboard, "grafana-postgresql-datasource"):
            rows = conn.execute(text(sql(fill(query, values), start, stop))).all()
            assert rows, query
    engine.dispose()


def test_the_kpi_figures_grafana_charts_are_the_rollups(pg_url: str) -> None:
    _seed_operations(pg_url)
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT day, lamp_intact_pct, lift_availability_pct FROM kpi_daily ORDER BY day")
        ).all()
    engine.dispose()
    assert len(rows) == 10 and rows[0][0] == NOW.date() - timedelta(days=10)
    # No lamp or lift was heard from in these seeded days and no alarm said so: they count as working.
    assert {(r[1], r[2]) for r in rows} == {(100.0, 100.0)}
    assert isinstance(rows[0][0], date)
