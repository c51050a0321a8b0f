"""Proof that the server fixtures are real: real clients against real mosquitto, influxd and
PostgreSQL."""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException
from paho.mqtt.client import ConnectFlags, DisconnectFlags, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from tests.support.servers import (
    InfluxDatabase,
    InfluxV1Server,
    InfluxV2Target,
    MosquittoServer,
    PostgresServer,
    ServerBinaryMissingError,
    ServerStartError,
    wait_until,
)

# ----------------------------------------------------------------------------- helpers


def http_get(url: str) -> tuple[int, Any]:
    """GET ``url``; return (status, parsed JSON body or None)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, body = err.code, err.read()
    return status, (json.loads(body) if body else None)


class MqttRecorder:
    """A paho-mqtt 2.x client (callback API v2) that records what happens to it."""

    def __init__(self, client_id: str, *, clean_session: bool) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
        )
        self.lock = threading.Lock()
        self.messages: list[MQTTMessage] = []
        self.connacks: list[tuple[bool, int]] = []  # (session_present, reason code)
        self.granted_qos: list[int] = []
        self.connected = False
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(
        self, _c: mqtt.Client, _u: object, flags: ConnectFlags, rc: ReasonCode, _p: Properties | None
    ) -> None:
        with self.lock:
            self.connacks.append((flags.session_present, rc.value))
            self.connected = rc.value == 0

    def _on_disconnect(
        self, _c: mqtt.Client, _u: object, _f: DisconnectFlags, _rc: ReasonCode, _p: Properties | None
    ) -> None:
        with self.lock:
            self.connected = False

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, _mid: int, codes: list[ReasonCode], _p: Properties | None
    ) -> None:
        with self.lock:
            self.granted_qos.extend(code.value for code in codes)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: MQTTMessage) -> None:
        with self.lock:
            self.messages.append(msg)

    def connect(self, broker: MosquittoServer) -> None:
        self.client.connect(broker.host, broker.port, keepalive=30)
        self.client.loop_start()
        wait_until(lambda: self.connected, 5, message=f"no CONNACK from {broker.url}")

    def disconnect(self) -> None:
        self.client.disconnect()
        wait_until(lambda: not self.connected, 5, message="no disconnect")
        self.client.loop_stop()

    def payloads(self) -> list[str]:
        with self.lock:
            return [m.payload.decode() for m in self.messages]


# ------------------------------------------------------------------------- InfluxDB 2.x


def test_influxdb_client_writes_all_field_types_through_shim(influx_v2: InfluxV2Target) -> None:
    base = 1_700_000_000_123_456_789  # odd nanosecond digits: nothing may round them
    points = [
        Point("climate")
        .tag("device", "th-01")
        .tag("site", "block A")
        .field("count", 42)
        .field("big", 2**53 + 1)  # not representable as a float
        .field("temp", 21.5)
        .field("ratio", 0.1)
        .field("ok", True)
        .field("label", 'Zähler "Süd", a=b\\c')
        .time(base, WritePrecision.NS),
        Point("climate")
        .tag("device", "th-02")
        .tag("site", "block A")
        .field("count", -7)
        .field("big", -(2**62))
        .field("temp", -3.25)
        .field("ratio", 1e-9)
        .field("ok", False)
        .field("label", "")
        .time(base + 1, WritePrecision.NS),
    ]
    with InfluxDBClient(url=influx_v2.url, token=influx_v2.token, org=influx_v2.org) as client:
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket=influx_v2.bucket, org=influx_v2.org, record=points, write_precision=WritePrecision.NS
        )

    rows = influx_v2.query('SELECT * FROM "climate" GROUP BY * ORDER BY time')
    expected: list[dict[str, object]] = [
        {
            "name": "climate",
            "device": "th-01",
            "site": "block A",
            "time": base,
            "count": 42,
            "big": 2**53 + 1,
            "temp": 21.5,
            "ratio": 0.1,
            "ok": True,
            "label": 'Zähler "Süd", a=b\\c',
        },
        {
            "name": "climate",
            "device": "th-02",
            "site": "block A",
            "time": base + 1,
            "count": -7,
            "big": -(2**62),
            "temp": -3.25,
            "ratio": 1e-9,
            "ok": False,
            "label": "",
        },
    ]
    assert rows == expected
    # == would accept 1 == 1.0 == True: compare the types too.
    assert [{k: type(v) for k, v in row.items()} for row in rows] == [
        {k: type(v) for k, v in row.items()} for row in expected
    ]
    assert influx_v2.shim.write_requests == 1
    assert influx_v2.shim.points_forwarded == 2
    write = influx_v2.shim.writes[0]
    assert (write.org, write.bucket, write.precision) == ("test-org", influx_v2.bucket, "ns")
    assert write.status == 204
    assert write.authorization == "Token test-token"


def test_shim_forwards_gzip_and_upstream_errors(influx_v2: InfluxV2Target) -> None:
    target = influx_v2
    with InfluxDBClient(url=target.url, token=target.token, org=target.org, enable_gzip=True) as client:
        write_api = client.write_api(write_options=SYNCHRONOUS)
        write_api.write(target.bucket, record="m,k=v f=1i 1000000000", write_precision=WritePrecision.S)
        with pytest.raises(ApiException) as excinfo:
            write_api.write(bucket="no_such_db", record="m f=1i")
        assert client.ping()

    assert excinfo.value.status == 404
    assert "database not found" in excinfo.value.body
    assert influx_v2.shim.writes[0].content_encoding == "gzip"
    # precision=s was translated: 1000000000 s is 10**18 ns
    assert influx_v2.query("SELECT f, k FROM m") == [{"name": "m", "time": 10**18, "f": 1, "k": "v"}]
    assert influx_v2.shim.write_requests == 2
    assert influx_v2.shim.points_forwarded == 1


def test_shim_answers_503_while_influxd_is_down(influx_v2: InfluxV2Target) -> None:
    shim, server = influx_v2.shim, influx_v2.server
    status, health = http_get(f"{shim.url}/health")
    assert (status, health["status"]) == (200, "pass")

    with InfluxDBClient(url=influx_v2.url, token=influx_v2.token, org=influx_v2.org) as client:
        write_api = client.write_api(write_options=SYNCHRONOUS)
        write_api.write(bucket=influx_v2.bucket, record="outage,phase=before v=1i 1")

        server.stop()
        try:
            status, health = http_get(f"{shim.url}/health")
            assert (status, health["status"]) == (503, "fail")
            assert http_get(f"{shim.url}/ping")[0] == 503
            with pytest.raises(ApiException) as excinfo:
                write_api.write(bucket=influx_v2.bucket, record="outage,phase=during v=2i 2")
            assert excinfo.value.status == 503
            assert "unreachable" in excinfo.value.body
        finally:
            server.start()

        status, health = http_get(f"{shim.url}/health")
        assert (status, health["status"]) == (200, "pass")
        write_api.write(bucket=influx_v2.bucket, record="outage,phase=after v=3i 3")

    rows = influx_v2.query("SELECT v, phase FROM outage")
    assert [(r["time"], r["phase"], r["v"]) for r in rows] == [(1, "before", 1), (3, "after", 3)]
    assert shim.write_requests == 3
    assert shim.points_forwarded == 2


# ------------------------------------------------------------------------- InfluxDB 1.x


def test_influx_v1_restart_and_kill_keep_ports_and_data(tmp_path: Path) -> None:
    with InfluxV1Server(tmp_path / "influxd") as server:
        port, rpc_port = server.port, server.rpc_port
        server.create_database("plant")
        server.write_lines("plant", "m v=1i 1\nm v=2i 2")
        server.restart()
        server.write_lines("plant", "m v=3i 3")
        server.kill()  # SIGKILL: the WAL is fsynced per write, so nothing is lost
        server.start()
        assert (server.port, server.rpc_port) == (port, rpc_port)
        assert "plant" in server.databases()
        assert [r["v"] for r in server.query("plant", "SELECT v FROM m")] == [1, 2, 3]


def test_influx_v1_json_gives_integral_floats_as_ints(influx_db: InfluxDatabase) -> None:
    """A known InfluxDB 1.x trait the product tests must allow for: 20.0 comes back as 20."""
    influx_db.write_lines("m f=20.0,g=20.5 5")
    [row] = influx_db.query("SELECT f, g FROM m")
    assert row == {"name": "m", "time": 5, "f": 20, "g": 20.5}
    assert type(row["f"]) is int
    assert [r["name"] for r in influx_db.server.query("", "SHOW MEASUREMENTS ON " + influx_db.name)] == ["m"]


def test_missing_binary_fails_with_setup_hint(tmp_path: Path) -> None:
    with pytest.raises(ServerBinaryMissingError, match=r"scripts/check\.sh"):
        MosquittoServer(tmp_path, binary=tmp_path / "no-mosquitto")
    with pytest.raises(ServerBinaryMissingError, match=r"scripts/check\.sh"):
        InfluxV1Server(tmp_path, binary=tmp_path / "no-influxd")
    with pytest.raises(ServerBinaryMissingError, match=r"install -y .*postgresql"):
        PostgresServer(tmp_path, binary=tmp_path / "no-postgres")


# --------------------------------------------------------------------------- mosquitto


def test_persistent_session_survives_broker_restart(mosquitto: MosquittoServer) -> None:
    topic = "estate/fixture-test/readings"
    subscriber = MqttRecorder("fixture-test-subscriber", clean_session=False)
    publisher = MqttRecorder("fixture-test-publisher", clean_session=True)
    try:
        subscriber.connect(mosquitto)
        subscriber.client.subscribe(topic, qos=1)
        wait_until(lambda: subscriber.granted_qos, 5, message="no SUBACK")
        assert subscriber.granted_qos == [1]
        subscriber.disconnect()

        publisher.connect(mosquitto)
        infos = [publisher.client.publish(topic, f"reading-{i}", qos=1) for i in range(50)]
        wait_until(lambda: all(info.is_published() for info in infos), 10, message="PUBACKs missing")
        publisher.disconnect()

        mosquitto.restart()  # SIGTERM saves the queued messages; start reloads them
        assert mosquitto.persistence_file.exists()
        assert "Saving in-memory database" in mosquitto.log_text()

        subscriber.connect(mosquitto)  # same client id, clean_session=False, no new SUBSCRIBE
        wait_until(
            lambda: len(subscriber.payloads()) >= 50,
            10,
            message=lambda: f"got {len(subscriber.payloads())} of 50 queued messages",
        )
        assert subscriber.connacks[-1] == (True, 0)  # session_present after the restart
        assert subscriber.payloads() == [f"reading-{i}" for i in range(50)]
        assert {m.qos for m in subscriber.messages} == {1}
    finally:
        for recorder in (subscriber, publisher):
            recorder.client.disconnect()
            recorder.client.loop_stop()


def test_mosquitto_fixture_basics(mosquitto: MosquittoServer) -> None:
    assert mosquitto.url == f"mqtt://127.0.0.1:{mosquitto.port}"
    port = mosquitto.port
    mosquitto.kill()
    assert not mosquitto.is_running
    mosquitto.start()
    assert mosquitto.port == port
    recorder = MqttRecorder("fixture-basics", clean_session=True)
    try:
        recorder.connect(mosquitto)
    finally:
        recorder.client.disconnect()
        recorder.client.loop_stop()
    assert "mosquitto version 2.0" in mosquitto.log_text()


# -------------------------------------------------------------------------- PostgreSQL


def test_postgres_restart_and_kill_keep_port_and_data(tmp_path: Path) -> None:
    with PostgresServer(tmp_path / "postgres") as server:
        port, data_dir = server.port, server.data_dir
        assert server.binary.parent.parent.parent == Path("/usr/lib/postgresql")
        server.create_database("plant")
        server.query("plant", "CREATE TABLE m (v bigint)")
        server.query("plant", "INSERT INTO m VALUES (1), (2)")
        with psycopg.connect(server.url("plant")) as idle:  # a client that stays connected
            server.restart()  # a fast shutdown does not wait for it
            with pytest.raises(psycopg.OperationalError):
                idle.execute("SELECT 1")
        assert "received fast shutdown request" in server.log_text()
        server.query("plant", "INSERT INTO m VALUES (3)")
        server.kill()  # SIGKILL right after a commit: nothing committed is lost
        assert not server.is_running
        server.start()
        assert server.port == port
        assert server.databases() == ["plant", "postgres"]
        assert server.query("plant", "SELECT v FROM m ORDER BY v") == [(1,), (2,), (3,)]
        if os.geteuid() == 0:  # initdb refuses root: the data belongs to the postgres user
            assert data_dir.owner() == "postgres" and not data_dir.is_relative_to(tmp_path)
    assert not server.is_running
    assert data_dir.exists() == (os.geteuid() != 0)  # a root run's temporary data dir is removed


def test_postgres_fixture_databases(postgres: PostgresServer, pg_url: str) -> None:
    name = pg_url.rsplit("/", 1)[1]
    assert pg_url == f"postgresql://estate@127.0.0.1:{postgres.port}/{name}"
    assert name.startswith("test_postgres_fixture_databases_") and name in postgres.databases()
    with psycopg.connect(pg_url) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
        encoding = conn.execute("SHOW server_encoding").fetchone()
    assert version is not None and int(version[0]) // 10000 == int(postgres.binary.parent.parent.name)
    assert encoding == ("UTF8",)

    postgres.create_database("Scratch Pad")  # any name: it is quoted
    with psycopg.connect(postgres.url("Scratch Pad"), autocommit=True) as conn:
        conn.execute("SELECT 1")
        postgres.drop_database("Scratch Pad")  # while someone is connected to it
        with pytest.raises(psycopg.errors.AdminShutdown):
            conn.execute("SELECT 1")
    assert "Scratch Pad" not in postgres.databases()
    with pytest.raises(psycopg.OperationalError, match='database "Scratch Pad" does not exist'):
        postgres.query("Scratch Pad", "SELECT 1")


def test_postgres_fixture_comes_back_after_a_test_stopped_it(postgres: PostgresServer, pg_url: str) -> None:
    postgres.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg_url, connect_timeout=2)
    # Left stopped on purpose: the fixtures start it again (same port, same data) for the next test.


def test_postgres_fixture_after_the_stop(postgres: PostgresServer, pg_url: str) -> None:
    assert postgres.is_running
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (pg_url.rsplit("/", 1)[1],)


def test_postgres_bad_start_reports_the_log(tmp_path: Path) -> None:
    server = PostgresServer(tmp_path / "postgres")
    try:
        server.start()
        server.stop()
        # A setting postgres refuses: it exits during start-up and says why in its log.
        with (server.data_dir / "postgresql.auto.conf").open("a") as conf:
            conf.write("max_connections = 'lots'\n")
        with pytest.raises(
            ServerStartError, match=r"(?s)exited with code 1 during start-up.*max_connections"
        ):
            server.start()
        assert not server.is_running
    finally:
        server.close()
