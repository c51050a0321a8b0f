"""The real stores on a real PostgreSQL (``gateway.db.make_engine`` with a ``postgresql://`` URL).

The unit tests run every store on SQLite; these check what PostgreSQL adds: its own column types
(timestamptz, jsonb, json, bigint), its dialect's upserts, timestamps coming back in the session's
time zone, strings it refuses (NUL), and a database server that can go away and come back.
Everything written is read back through a fresh engine and store and compared with its types.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

import tests.alerts.harness as alerts_harness
from alerts.model import Action, AlertState
from alerts.store import AlertStore, MaintenanceWindow
from devices.base import Channel, Kind, Reading, Trade
from devices.clock import from_ns, to_ns
from dispatch.model import OrderAction, OrderState, Step
from dispatch.store import OrderStore
from gateway.db import make_engine
from gateway.deadletters import DeadLetter, DeadLetterStore
from gateway.ingest import DeviceInfo, Reason, Rejection, decode
from gateway.sinks.sql import SqlSink, StoredPoint
from tests.alerts.harness import Harness
from tests.dispatch.harness import DispatchHarness
from tests.support.servers import PostgresServer

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)  # the dispatch harness's start: Monday 10:00 in Shanghai
NS = to_ns(datetime(2026, 1, 5, 8, 0, 0, 123456, tzinfo=UTC)) + 789  # nanoseconds no float can hold


# ----------------------------------------------------------------------------- helpers

Connect = Callable[[], Engine]


@pytest.fixture
def connect(pg_url: str) -> Iterator[Connect]:
    """A new engine (own pool) on the test's database per call, all disposed at the end."""
    engines: list[Engine] = []

    def new_engine() -> Engine:
        engine = make_engine(pg_url)
        engines.append(engine)
        return engine

    yield new_engine
    for engine in engines:
        engine.dispose()


@pytest.fixture
def harness_on_postgres(connect: Connect, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every alert or dispatch harness made in the test keeps its store in the test's PostgreSQL
    database (the harnesses build a SQLite URL of their own and take no engine)."""
    monkeypatch.setattr(alerts_harness, "make_engine", lambda _sqlite_url: connect())


def db_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def utc_datetimes(value: object) -> list[datetime]:
    """Every datetime in an alert, work order, window or history entry; each must be aware UTC."""
    found = [v for v in vars(value).values() if isinstance(v, datetime)]
    for entry in getattr(value, "history", []):
        found.append(entry.at)
    for when in found:
        assert when.utcoffset() == timedelta(0), f"{when!r} is not UTC"
    return found


def types(value: object) -> Any:
    """The type of every field, recursively: == accepts 1 == 1.0 == True, this does not."""
    if isinstance(value, dict):
        return {k: types(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [types(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: types(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return type(value)


# ------------------------------------------------------------------------------ schema


def test_tables_get_postgres_types(connect: Connect, postgres: PostgresServer, pg_url: str) -> None:
    engine = connect()
    AlertStore(engine)
    OrderStore(engine)
    assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
    rows = postgres.query(
        db_name(pg_url),
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'public'",
    )
    column = {(table, name): kind for table, name, kind in rows}
    assert column["alerts", "raised_at"] == "timestamp with time zone"
    assert column["alert_history", "at"] == "timestamp with time zone"
    assert column["work_orders", "resolve_due"] == "timestamp with time zone"
    assert column["readings", "fields"] == "jsonb"  # merged with || on a repeat write
    assert column["readings", "time_ns"] == "bigint"
    assert column["device_facts", "at_ns"] == "bigint"
    assert column["patrol_state", "snapshot"] == "json"
    assert column["work_orders", "breached"] == "json"
    assert column["alerts", "escalated"] == "boolean"
    assert column["alerts", "key"] == "character varying"


# ------------------------------------------------------------------------------ alerts


@pytest.mark.usefixtures("harness_on_postgres")
def test_alert_lifecycle_comes_back_equal_from_a_fresh_store(tmp_path: Path, connect: Connect) -> None:
    h = Harness(tmp_path)
    h.clock.advance(timedelta(microseconds=123456))  # sub-second times survive
    h.event("L1", "fault", code="entrapment")  # critical: escalates after 60 s
    h.event("T1", "hatch_open")
    hatch = h.alert("T1", "water.hatch_open")
    trapped = h.alert("L1", "lift.entrapment")
    assert hatch is not None and trapped is not None
    h.book.ack(hatch.id, "值班员李", "保洁开门")
    h.book.flush()
    h.advance(61, step=61)
    h.event("T1", "hatch_closed")  # acknowledged and cleared: closed
    h.event("D1", "forced")
    forced = h.alert("D1", "access.forced")
    assert forced is not None
    h.book.shelve(forced.id, "op", 10, "保安已到场")
    h.book.flush()
    assert trapped.escalated and hatch.state is AlertState.CLOSED and forced.state is AlertState.SHELVED

    store = AlertStore(connect())
    assert store.get(hatch.id) == hatch
    assert store.get(hatch.id + 1000) is None
    opened = store.open_alerts()
    assert sorted(opened, key=lambda a: a.id) == [trapped, forced]
    for before in (hatch, trapped, forced):
        after = store.get(before.id)
        assert after is not None
        assert after.to_json(with_history=True) == before.to_json(with_history=True)
        assert types(after) == types(before)
        assert len(utc_datetimes(after)) == len(utc_datetimes(before))
    assert [e.action for e in hatch.history] == [Action.RAISE, Action.ACK, Action.CLEAR, Action.CLOSE]
    assert Action.ESCALATE in [e.action for e in trapped.history] and forced.shelved_until is not None

    # The filters of GET /alerts, on PostgreSQL's comparisons.
    newest_first = store.query("sunrise")
    assert [a.id for a in newest_first] == sorted((a.id for a in newest_first), reverse=True)
    assert [a.id for a in store.query(state="closed", with_history=True)] == [hatch.id]
    assert store.query(state="closed", with_history=True)[0].history == hatch.history
    assert [a.id for a in store.query(severity="critical")] == [trapped.id]
    assert [a.id for a in store.query(since=forced.raised_at)] == [forced.id]
    assert store.query(estates=frozenset({"elsewhere"})) == []
    assert store.next_id() == max(a.id for a in newest_first) + 1


def test_pending_facts_windows_and_floods_round_trip(connect: Connect) -> None:
    store = AlertStore(connect())
    big = 2**62 + 7  # bigint, beyond any 32-bit integer
    store.set_facts([("sunrise", "L1", "maintenance", NS), ("sunrise", "T1", "cleaning", NS - 1)])
    store.set_facts([("sunrise", "L1", "maintenance", big)])  # upsert: a later one replaces it
    store.save([], [], {"sunrise/T1/water.chlorine_low": (NS, 3), "sunrise/T1/water.ph": (big, 1)})
    store.save([], [], {"sunrise/T1/water.ph": None})  # a condition gone: its on-delay dropped
    start = datetime(2026, 1, 5, 8, 0, 0, 654321, tzinfo=UTC)
    window = store.add_window(
        MaintenanceWindow(0, "sunrise", "B1", None, start, start + timedelta(hours=2), '年检 "B1"', "op")
    )
    estate_wide = store.add_window(
        MaintenanceWindow(0, "sunrise", None, None, start, start + timedelta(minutes=5), "", "op")
    )
    store.flood_started("sunrise", start)
    store.flood_ended("sunrise", start + timedelta(minutes=11))
    store.flood_started("sunrise", start + timedelta(hours=1))

    fresh = AlertStore(connect())
    assert sorted(fresh.facts()) == [
        ("sunrise", "L1", "maintenance", big),
        ("sunrise", "T1", "cleaning", NS - 1),
    ]
    assert fresh.pending() == {"sunrise/T1/water.chlorine_low": (NS, 3)}
    assert (window.id, estate_wide.id) == (1, 2)  # ids from the serial column
    assert sorted(fresh.windows(start), key=lambda w: w.id) == [window, estate_wide]
    assert fresh.windows(start + timedelta(minutes=5)) == [window]  # ends are exclusive
    for stored in fresh.windows(start):
        assert type(stored.id) is int and len(utc_datetimes(stored)) == 2
    floods = fresh.floods("sunrise", start, start + timedelta(days=1))
    assert floods == [(start, start + timedelta(minutes=11)), (start + timedelta(hours=1), None)]
    assert all(when.utcoffset() == timedelta(0) for span in floods for when in span if when is not None)
    assert fresh.floods("sunrise", start + timedelta(minutes=12), start + timedelta(minutes=30)) == []


@pytest.mark.usefixtures("harness_on_postgres")
def test_patrol_snapshot_round_trips_and_a_restart_goes_on_with_it(tmp_path: Path, connect: Connect) -> None:
    night = datetime(2026, 1, 5, 18, 0, tzinfo=SHANGHAI)  # the SPEC example's night window
    alive = ["L1", "T1", "D1", "LC1", "LP1", "NVR1", "CAM1"]

    def at(h: Harness, local: datetime) -> None:
        h.advance((local - h.clock.now()).total_seconds(), keep_alive=alive, step=30)

    first = Harness(tmp_path)
    at(first, night + timedelta(hours=1))
    first.event("H1", "scan", checkpoint="CP1", guards="G1,G2")
    snapshot = first.engine.patrols["sunrise"].snapshot()
    stored = AlertStore(connect()).patrol_snapshots()
    assert stored == {"sunrise": snapshot}  # the JSON column gives back what went in
    assert types(stored["sunrise"]) == types(snapshot)
    assert any(item["scans"] for item in snapshot["rounds"])

    second = Harness(tmp_path, inventory=first.inventory)  # killed and started again on the database
    second.clock.set(first.clock.now())
    at(second, night + timedelta(hours=2, minutes=50))
    second.event("H1", "scan", checkpoint="CP2", guards="G1,G2")
    at(second, night + timedelta(hours=3, minutes=20))
    report = second.engine.patrols["sunrise"].rounds_report(night.date())
    assert next(r for r in report if r["window"] == "night")["status"] == "completed"
    # Stored when a round changes (not at every tick): the rounds are what must match.
    [(estate, latest)] = AlertStore(connect()).patrol_snapshots().items()
    assert (estate, latest["rounds"]) == ("sunrise", second.engine.patrols["sunrise"].snapshot()["rounds"])


@pytest.mark.usefixtures("harness_on_postgres")
def test_times_come_back_in_utc_whatever_the_server_time_zone(
    tmp_path: Path, connect: Connect, postgres: PostgresServer, pg_url: str
) -> None:
    # A server installed in China: initdb takes the machine's zone, Asia/Shanghai.
    postgres.query("postgres", f"ALTER DATABASE \"{db_name(pg_url)}\" SET timezone TO 'Asia/Shanghai'")
    h = DispatchHarness(tmp_path)
    h.event("L1", "fault", code="entrapment")
    order = h.only_order()
    alert = h.alert("L1", "lift.entrapment")
    assert alert is not None

    again = AlertStore(connect()).get(alert.id)
    assert again is not None and again == alert  # the same instants...
    order_again = OrderStore(connect()).get(order.id)
    assert order_again is not None and order_again == order
    # ...and in UTC, as on SQLite: the JSON the API serves does not depend on the database.
    assert again.to_json(with_history=True) == alert.to_json(with_history=True)
    assert order_again.to_json() == order.to_json()


# ---------------------------------------------------------------------------- dispatch


@pytest.mark.usefixtures("harness_on_postgres")
def test_dispatch_orders_history_and_clocks_survive_a_crash(tmp_path: Path, connect: Connect) -> None:
    h = DispatchHarness(tmp_path)
    h.send("L1", passenger=True, door="closed", door_zone=True, direction="stop", floor=3)
    h.event("L1", "fault", code="entrapment")
    order = h.only_order()
    h.clock.advance(timedelta(minutes=3))
    h.desk.accept(order.id, by="王师傅", note="在路上")
    before = h.order(order.id)
    report = h.desk.report(estate="sunrise", trade=Trade.WATER, title="漏水", by="前台", category="emergency")
    h.desk.cancel(report.id, by="op", note="重复")
    del h  # dropped without any shutdown: what was flushed is all there is

    store = OrderStore(connect())
    stored = store.get(order.id)
    assert stored == before
    assert stored is not None and stored.to_json() == before.to_json() and types(stored) == types(before)
    assert len(utc_datetimes(stored)) == len(utc_datetimes(before)) >= 5
    assert stored.crews_tried == ["lift-team"] and type(stored.reopened) is int
    assert [o.id for o in store.live()] == [order.id]  # the cancelled one's clocks stopped
    assert [o.id for o in store.query(created_from=T0, created_to=T0 + timedelta(days=1))] == [
        report.id,
        order.id,
    ]
    assert store.query(created_from=T0 + timedelta(days=1)) == []

    h2 = DispatchHarness(tmp_path, start=T0 + timedelta(minutes=20))
    assert h2.order(order.id).to_json() == before.to_json()
    h2.just_before(T0 + timedelta(minutes=30), step=30)  # the arrival clock runs from the alarm
    assert h2.order(order.id).breached == []
    h2.to(T0 + timedelta(minutes=30))
    assert h2.order(order.id).breached == [Step.ARRIVE]
    h2.desk.arrive(order.id, by="王师傅")
    h2.desk.resolve(order.id, by="王师傅")  # the alert is still active: resolved, not closed yet
    assert OrderStore(connect()).get(order.id) == h2.order(order.id)
    # The lift's fault_cleared clears it, although the restart forgot which code the fault had.
    h2.event("L1", "fault_cleared", code="entrapment")
    closed = OrderStore(connect()).get(order.id)
    assert closed is not None and closed.state is OrderState.CLOSED
    assert closed.breached == [Step.ARRIVE] and type(closed.breached[0]) is Step  # from the JSON column
    assert [e.action for e in closed.history].count(OrderAction.BREACH) == 1
    assert closed == h2.order(order.id)
    assert OrderStore(connect()).closed_since(T0) == [
        ("sunrise/L1/lift.entrapment", order.id, closed.closed_at)
    ]
    assert h2.order_store.next_id() == report.id + 1


# --------------------------------------------------------------------------- the gateway


def rejection(topic: str, payload: bytes) -> Rejection:
    result = decode(topic, payload, NS, lambda e, d: DeviceInfo(Kind.ACCESS, "B1", e, d))
    assert isinstance(result, Rejection), result
    return result


def test_dead_letters_round_trip(connect: Connect) -> None:
    rejections = [
        rejection("estate/sunrise/access/D1/event", b'{"type": "forced", "ts": "yesterday"}'),
        rejection("estate/sunrise/access/D1/event", '{"type": "开门"}'.encode()),
        rejection("estate/sunrise/access/D1/event", b"\xff\xfe not utf-8"),
        rejection("estate/" + "x" * 600, b"{}"),  # topic cut to the column's 512 characters
    ]
    store = DeadLetterStore(connect())
    store.add_many(rejections)
    store.add_many([])

    fresh = DeadLetterStore(connect())
    stored = fresh.list()
    expected = [
        DeadLetter(i, from_ns(r.received_ns), r.topic, r.reason.value, r.detail, r.excerpt, r.of_estate())
        for i, r in reversed(list(enumerate(rejections, start=1)))
    ]
    assert stored == expected
    assert types(stored) == types(expected)
    assert all(d.received_at.tzinfo is UTC for d in stored)
    assert len(stored[0].topic) == 512 and stored[1].excerpt == "\\xff\\xfe not utf-8"
    assert [d.id for d in fresh.list(limit=2, before_id=4)] == [3, 2]
    assert [d.id for d in fresh.list(reason=Reason.UNKNOWN_EVENT.value)] == [2]
    assert fresh.counts() == {
        Reason.BAD_TIMESTAMP.value: 1,
        Reason.UNKNOWN_EVENT.value: 1,
        Reason.BAD_ENCODING.value: 1,
        Reason.BAD_TOPIC.value: 1,
    }


def test_dead_letter_of_a_payload_with_a_nul_byte(connect: Connect) -> None:
    bad = rejection("estate/sunrise/access/D1/event", b'{"type": "forced"\x00}')
    assert bad.reason is Reason.MALFORMED_JSON
    store = DeadLetterStore(connect())
    store.add_many([bad])
    [stored] = DeadLetterStore(connect()).list()
    assert stored.reason == Reason.MALFORMED_JSON.value and "forced" in stored.excerpt


def reading(device: str, time_ns: int, fields: dict[str, Any], kind: Kind = Kind.WATER_TANK) -> Reading:
    return Reading("sunrise", kind, device, Channel.TELEMETRY, "B1", time_ns, fields)


def test_sql_sink_keeps_field_types_and_merges_repeats(connect: Connect) -> None:
    fields: dict[str, Any] = {
        "level_pct": 20.0,  # an integral float stays a float in jsonb
        "chlorine_mg_l": 0.1,
        "ph": 1e-9,
        "count": 2**53 + 1,  # not representable as a float
        "negative": -(2**62),
        "pump_on": True,
        "hatch": False,
        "note": 'Zähler "Süd", a=b\\c 余氯',
        "empty": "",
    }
    sink = SqlSink(connect())
    sink.write([reading("T1", NS, fields), reading("T1", NS + 1, {"level_pct": 21.5})])
    # The same instant again, in one batch and in the next: merged into the row, not duplicated.
    sink.write([reading("T1", NS, {"level_pct": 19.0, "ph": 7}), reading("T1", NS, {"turbidity_ntu": 3})])
    sink.write([])

    fresh = SqlSink(connect())
    points = fresh.query("sunrise", "T1")
    merged = {**fields, "level_pct": 19.0, "ph": 7, "turbidity_ntu": 3}
    expected = [
        StoredPoint("water_tank", "sunrise", "B1", "T1", NS, merged),
        StoredPoint("water_tank", "sunrise", "B1", "T1", NS + 1, {"level_pct": 21.5}),
    ]
    assert points == expected
    assert types(points) == types(expected)
    assert fresh.query("sunrise", "T1", start_ns=NS + 1) == expected[1:]
    assert fresh.query("sunrise", "T1", stop_ns=NS + 1) == expected[:1]
    assert fresh.count() == 2
    assert (sink.stats.points_written, sink.stats.batches_written) == (4, 2)
    health = fresh.health()
    assert (health.ok, health.detail) == (True, "postgresql")


def test_a_string_field_with_nul_is_stored_or_dead_lettered(connect: Connect) -> None:
    payload = b'{"type": "denied", "card": "A\\u0000B"}'
    decoded = decode(
        "estate/sunrise/access/D1/event", payload, NS, lambda e, d: DeviceInfo(Kind.ACCESS, "B1", e, d)
    )
    if isinstance(decoded, Reading):  # kept as it came: the sink must take it
        SqlSink(connect()).write([decoded])
        assert [p.fields for p in SqlSink(connect()).query("sunrise", "D1")] == [dict(decoded.fields)]
    else:  # refused by the decoder: a dead letter like any bad input
        DeadLetterStore(connect()).add_many([decoded])
        assert [d.reason for d in DeadLetterStore(connect()).list()] == [decoded.reason.value]


def test_sql_sink_reports_and_survives_a_database_outage(connect: Connect, postgres: PostgresServer) -> None:
    sink = SqlSink(connect())
    sink.write([reading("T1", NS, {"level_pct": 50.0})])
    postgres.stop()  # a fast shutdown: the pooled connection is closed under the sink
    try:
        health = sink.health()
        assert not health.ok and "OperationalError" in health.detail
        with pytest.raises(OperationalError):
            sink.write([reading("T1", NS + 1, {"level_pct": 51.0})])
    finally:
        postgres.start()
    # pool_pre_ping: the engine replaces its dead connections; nothing written was lost.
    sink.write([reading("T1", NS + 2, {"level_pct": 52.0})])
    assert sink.health().ok
    assert [(p.time_ns, p.fields) for p in sink.query("sunrise", "T1")] == [
        (NS, {"level_pct": 50.0}),
        (NS + 2, {"level_pct": 52.0}),
    ]


def test_instances_starting_together_create_the_tables_once(pg_url: str) -> None:
    """Scale-out instances started at once on a fresh database: each finds the tables missing;
    without the schema lock all but one failed on PostgreSQL's catalogue (a unique violation)."""
    n = 6
    barrier = threading.Barrier(n)
    engines: list[Engine] = []
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            engines.append(make_engine(pg_url))
            AlertStore(engines[-1])
            OrderStore(engines[-1])
        except BaseException as exc:  # every failure is reported, not only the first
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for engine in engines:
        engine.dispose()
    assert errors == []
    assert len(engines) == n
