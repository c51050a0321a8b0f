"""Acceptance 3 and 4: no reading lost to an InfluxDB outage, a gateway SIGKILL, or a broker restart.

The outage test keeps InfluxDB down for a real 5 s (``ESTATE_TEST_OUTAGE_S`` to change it), with the
write and replay backoff shortened to match: the thing under test is a real server's absence, not
a clock of ours.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from devices.loader import load_inventory
from gateway.db import make_engine
from gateway.service import build_gateway
from gateway.settings import Settings
from gateway.sinks.influx import InfluxSink
from gateway.sinks.sql import SqlSink
from tests.support.gateway import (
    SPEC_EXAMPLE,
    GatewayProcess,
    LiveGateway,
    Pacer,
    Publisher,
    gateway_settings,
)
from tests.support.servers import InfluxV2Target, MosquittoServer, wait_until

OUTAGE_S = float(os.environ.get("ESTATE_TEST_OUTAGE_S", "5"))
LIFT = "estate/sunrise/lift/L1/telemetry"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _influx_count(target: InfluxV2Target) -> int:
    rows = target.query('SELECT count("floor") FROM "lift"')
    return int(rows[0]["count"]) if rows else 0  # type: ignore[call-overload]


@pytest.mark.slow
def test_influx_down_while_10000_readings_arrive(
    tmp_path: Path, mosquitto: MosquittoServer, influx_v2: InfluxV2Target
) -> None:
    total = 10_000
    settings = gateway_settings(
        tmp_path, mosquitto.url, influx_v2, write_backoff_s=0.2, replay_backoff_max_s=2.0
    )
    gateway = build_gateway(settings, load_inventory(SPEC_EXAMPLE))
    sink = gateway.sink
    assert isinstance(sink, InfluxSink)
    publisher = Publisher(mosquitto.host, mosquitto.port)
    gateway.start()
    try:
        assert gateway.mqtt.wait_connected(10)
        influx_v2.server.stop()
        down_since = time.monotonic()
        start_ms = _now_ms() - total
        for i in range(total):
            publisher.send(LIFT, {"floor": i % 30, "ts": start_ms + i})
        publisher.wait_all_acked()
        wait_until(lambda: sink.spool.points == total, timeout=OUTAGE_S + 60)
        assert _influx_count_safe(influx_v2) is None  # still down: nothing can have been written
        remaining = OUTAGE_S - (time.monotonic() - down_since)
        wait_until(lambda: time.monotonic() - down_since >= OUTAGE_S, timeout=max(remaining, 0) + 5)
        influx_v2.server.start()
        wait_until(lambda: sink.spool.batches == 0, timeout=120)
        assert _influx_count(influx_v2) == total
        assert sink.stats.points_written == total  # each reading reached the server exactly once
    finally:
        gateway.stop()
        publisher.close()


def _influx_count_safe(target: InfluxV2Target) -> int | None:
    try:
        return _influx_count(target)
    except Exception:
        return None


def _spooled_points(data_dir: Path) -> int:
    return sum(int(p.stem.split("-")[1]) for p in (data_dir / "spool").glob("*.lp"))


def test_sigkill_with_a_full_spool_then_restart(
    tmp_path: Path, mosquitto: MosquittoServer, influx_v2: InfluxV2Target
) -> None:
    total = 3_000
    proc = GatewayProcess(
        tmp_path / "gw",
        {
            "ESTATE_MQTT_URL": mosquitto.url,
            "ESTATE_INFLUX_URL": influx_v2.url,
            "ESTATE_INFLUX_TOKEN": influx_v2.token,
            "ESTATE_INFLUX_ORG": influx_v2.org,
            "ESTATE_INFLUX_BUCKET": influx_v2.bucket,
            "ESTATE_WRITE_BACKOFF_S": "0.1",
            "ESTATE_REPLAY_BACKOFF_MAX_S": "1",
        },
    )
    proc.start()
    publisher = Publisher(mosquitto.host, mosquitto.port)
    try:
        influx_v2.server.stop()
        start_ms = _now_ms() - total
        for i in range(total):
            publisher.send(LIFT, {"floor": i % 30, "ts": start_ms + i})
        publisher.wait_all_acked()
        data_dir = tmp_path / "gw" / "data"
        wait_until(lambda: _spooled_points(data_dir) == total, timeout=60)
        proc.kill()
        influx_v2.server.start()
        proc.start()
        wait_until(lambda: _spooled_points(data_dir) == 0, timeout=60)
        wait_until(lambda: _influx_count(influx_v2) == total, timeout=30)
        assert _influx_count(influx_v2) == total
        health = proc.api("/health")
        assert health["spool"]["points"] == 0
    finally:
        proc.kill()
        publisher.close()


def test_sigkill_mid_stream_loses_nothing(live_gateway: LiveGateway) -> None:
    """Killed while messages are queued in memory: they were never acknowledged, so the broker
    redelivers them to the restarted gateway's persistent session."""
    total = 3_000
    proc, publisher = live_gateway
    pacer = Pacer(publisher, total, LIFT, _now_ms() - total)
    pacer.start()
    wait_until(lambda: pacer.sent >= total // 3, timeout=60)
    proc.kill()
    pacer.join()
    publisher.wait_all_acked()
    proc.start()
    sqlite = Settings(data_dir=proc.workdir / "data").resolved_database_url
    sink = SqlSink(make_engine(sqlite))
    wait_until(lambda: sink.count() >= total, timeout=60)
    assert sink.count() == total  # one row per reading: none lost, none twice


def test_mosquitto_restart_while_devices_publish(tmp_path: Path, mosquitto: MosquittoServer) -> None:
    total = 3_000
    gateway = build_gateway(
        gateway_settings(tmp_path, mosquitto.url, write_backoff_s=0.2, replay_backoff_max_s=2.0),
        load_inventory(SPEC_EXAMPLE),
    )
    sink = gateway.sink
    assert isinstance(sink, SqlSink)
    publisher = Publisher(mosquitto.host, mosquitto.port)
    gateway.start()
    try:
        assert gateway.mqtt.wait_connected(10)
        pacer = Pacer(publisher, total, LIFT, _now_ms() - total)
        pacer.start()
        wait_until(lambda: pacer.sent >= total // 3, timeout=60)
        mosquitto.restart()
        pacer.join()
        publisher.wait_all_acked(timeout=120)
        wait_until(lambda: sink.count() >= total, timeout=60)
        assert sink.count() == total
    finally:
        gateway.stop()
        publisher.close()
