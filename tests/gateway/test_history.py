"""A device's history from InfluxDB (real 1.6.7, InfluxQL over /query) and from SQL: the same
answers for the same points, raw and downsampled, bounded, one field or all."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from devices.base import Channel, FieldValue, Kind, Reading
from gateway.db import make_engine
from gateway.history import History, HistoryError, InfluxQLHistory, SqlHistory
from gateway.sinks.influx import LineEncoder
from gateway.sinks.sql import SqlSink
from tests.support.servers import InfluxDatabase

T0 = 1_796_000_400 * 10**9  # a whole hour: buckets start at it
MIN = 60 * 10**9


def _readings() -> list[Reading]:
    """Lift L1: a reading every 20 s for 10 minutes (floor counts up, door alternates), a tank."""
    out = []
    for i in range(30):
        fields: dict[str, FieldValue] = {
            "floor": i,
            "speed_m_s": 0.5 + i / 10,
            "door": "open" if i % 2 else "closed",
        }
        out.append(Reading("sunrise", Kind.LIFT, "L1", Channel.TELEMETRY, "B1", T0 + i * 20 * 10**9, fields))
    out.append(Reading("sunrise", Kind.LIFT, "L2", Channel.TELEMETRY, "B1", T0, {"floor": 99}))
    out.append(Reading("sunrise", Kind.WATER_TANK, "L1", Channel.TELEMETRY, "B1", T0, {"level_pct": 50.0}))
    return out


@pytest.fixture
def influx(influx_db: InfluxDatabase) -> InfluxQLHistory:
    influx_db.write_lines(LineEncoder().lines(_readings()))
    history = InfluxQLHistory(influx_db.server.url, influx_db.name)
    yield history  # type: ignore[misc]
    history.close()


@pytest.fixture
def sql(tmp_path: Path) -> SqlHistory:
    sink = SqlSink(make_engine(f"sqlite:///{tmp_path / 'r.db'}"))
    sink.write(_readings())
    return SqlHistory(sink)


@pytest.fixture(params=["influx", "sql"])
def history(request: pytest.FixtureRequest) -> History:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def test_raw_points_oldest_first_bounded(history: History) -> None:
    rows = history.readings("sunrise", Kind.LIFT, "L1", T0, T0 + 10 * MIN, limit=4)
    assert [t for t, _ in rows] == [T0 + i * 20 * 10**9 for i in range(4)]
    assert rows[1][1] == {"floor": 1, "speed_m_s": 0.6, "door": "open"}


def test_the_period_is_start_inclusive_stop_exclusive(history: History) -> None:
    rows = history.readings("sunrise", Kind.LIFT, "L1", T0 + 20 * 10**9, T0 + 60 * 10**9)
    assert [f["floor"] for _, f in rows] == [1, 2]


def test_one_field(history: History) -> None:
    rows = history.readings("sunrise", Kind.LIFT, "L1", T0, T0 + MIN, field="door")
    assert rows == [
        (T0, {"door": "closed"}),
        (T0 + 20 * 10**9, {"door": "open"}),
        (T0 + 40 * 10**9, {"door": "closed"}),
    ]


def test_downsampled_numbers_are_averaged_and_text_is_the_last(history: History) -> None:
    rows = history.readings("sunrise", Kind.LIFT, "L1", T0, T0 + 10 * MIN, every_ns=2 * MIN)
    assert [t for t, _ in rows] == [T0 + k * 2 * MIN for k in range(5)]
    first = rows[0][1]  # readings 0..5: floors 0..5, speeds 0.5..1.0, the last door "open"
    assert first["floor"] == pytest.approx(2.5) and first["speed_m_s"] == pytest.approx(0.75)
    assert first["door"] == "open"


def test_downsampling_covers_the_whole_period_before_the_bound(history: History) -> None:
    rows = history.readings("sunrise", Kind.LIFT, "L1", T0, T0 + 10 * MIN, every_ns=5 * MIN, limit=2)
    assert [f["floor"] for _, f in rows] == [pytest.approx(7.0), pytest.approx(22.0)]


def test_another_device_or_kind_is_not_mixed_in(history: History) -> None:
    assert [f for _, f in history.readings("sunrise", Kind.LIFT, "L2", T0, T0 + MIN)] == [{"floor": 99}]
    tank = history.readings("sunrise", Kind.WATER_TANK, "L1", T0, T0 + MIN)
    assert tank == [(T0, {"level_pct": 50})]  # InfluxDB's JSON writes 50.0 as 50


def test_an_unknown_field_or_device_is_empty(history: History) -> None:
    assert history.readings("sunrise", Kind.LIFT, "L1", T0, T0 + MIN, field="nope") == []
    assert history.readings("sunrise", Kind.LIFT, "L1", T0, T0 + MIN, field="nope", every_ns=MIN) == []
    assert history.readings("sunrise", Kind.LIFT, "L9", T0, T0 + MIN, every_ns=MIN) == []


def test_quotes_in_ids_cannot_change_the_query(influx: InfluxQLHistory) -> None:
    assert influx.readings("sunrise' OR 'a'='a", Kind.LIFT, "L1", T0, T0 + MIN) == []
    assert influx.readings("sunrise", Kind.LIFT, 'L1" OR "x', T0, T0 + MIN, field='floor"') == []


def test_influxdb_down_or_refusing_is_a_history_error(influx_db: InfluxDatabase) -> None:
    refused = InfluxQLHistory(influx_db.server.url, "no_such_database")
    with pytest.raises(HistoryError, match="database not found"):
        refused.readings("sunrise", Kind.LIFT, "L1", T0, T0 + MIN)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    gone = InfluxQLHistory("http://127.0.0.1:9", "db", transport=httpx.MockTransport(down))
    with pytest.raises(HistoryError, match="unreachable"):
        gone.readings("sunrise", Kind.LIFT, "L1", T0, T0 + MIN)
    garbled = InfluxQLHistory(
        "http://127.0.0.1:9",
        "db",
        transport=httpx.MockTransport(lambda r: httpx.Response(200, text="<html>")),
    )
    with pytest.raises(HistoryError, match="not JSON"):
        garbled.readings("sunrise", Kind.LIFT, "L1", T0, T0 + MIN)


def test_the_token_is_sent_and_field_types_are_kept_a_while(influx_db: InfluxDatabase) -> None:
    seen: list[httpx.Request] = []
    now = [0.0]

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.params["q"].startswith("SHOW FIELD KEYS"):
            series = [
                {"name": "lift", "columns": ["fieldKey", "fieldType"], "values": [["floor", "integer"]]}
            ]
        else:
            series = [{"name": "lift", "columns": ["time", "floor"], "values": [[T0, 3]]}]
        return httpx.Response(200, json={"results": [{"statement_id": 0, "series": series}]})

    history = InfluxQLHistory(
        "http://127.0.0.1:9",
        "estate",
        "s3cret",
        transport=httpx.MockTransport(answer),
        monotonic=lambda: now[0],
    )
    for _ in range(2):
        assert history.readings("sunrise", Kind.LIFT, "L1", T0, T0 + MIN, every_ns=MIN) == [
            (T0, {"floor": 3})
        ]
    assert [r.url.params["q"].split()[0] for r in seen] == ["SHOW", "SELECT", "SELECT"]
    now[0] = 301.0
    history.readings("sunrise", Kind.LIFT, "L1", T0, T0 + MIN, every_ns=MIN)
    assert [r.url.params["q"].split()[0] for r in seen][3] == "SHOW"
    assert all(r.headers["Authorization"] == "Token s3cret" for r in seen)
    assert "GROUP BY time(60000000000ns)" in seen[1].url.params["q"]
