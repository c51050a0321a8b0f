"""Issue 21, item 1, against real mosquitto: while the gateway is away its persistent session
queues messages at the broker, which keeps only ``max_queued_messages`` of them (1,000 by
default) and drops the rest after having acknowledged them to the devices.

With mosquitto's defaults the loss is no longer silent: the gateway reads the broker's own count
and raises ``gateway.broker_dropping`` with the number in ``/health``, ``/metrics`` and the alarm.
With the limits of ``deploy/mosquitto/mosquitto.conf`` nothing is lost at all.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from devices.loader import load_inventory
from gateway.db import make_engine, readings
from gateway.service import build_gateway
from gateway.settings import Settings
from gateway.sinks.influx import InfluxSink
from tests.support.gateway import SPEC_EXAMPLE, GatewayProcess, Publisher, TopicWatcher, gateway_settings
from tests.support.servers import InfluxV2Target, MosquittoServer, wait_until

LIFT = "estate/sunrise/lift/L1/telemetry"
DEPLOY_CONF = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "mosquitto.conf"
AWAY = 2_500  # readings sent while the gateway is down


def _broker(tmp_path: Path, limits: list[str]) -> MosquittoServer:
    # No test tuning (the suite's brokers queue without limit): mosquitto's defaults plus ``limits``.
    base = ["allow_anonymous true", "persistence true", "autosave_interval 1", "sys_interval 1"]
    return MosquittoServer(tmp_path / "mosquitto", tuning=False, extra_config=[*base, *limits])


def _stored(proc: GatewayProcess) -> int:
    engine = make_engine(Settings(data_dir=proc.workdir / "data").resolved_database_url)
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(readings)).scalar_one())


def _health(proc: GatewayProcess) -> dict[str, object]:
    body: dict[str, object] = httpx.get(f"{proc.url}/health", timeout=5).json()
    return body


def _away_then_back(tmp_path: Path, broker: MosquittoServer) -> GatewayProcess:
    """Start the gateway (its session subscribes), stop it, send AWAY readings, start it again."""
    proc = GatewayProcess(tmp_path / "gw", {"ESTATE_MQTT_URL": broker.url})
    proc.start()
    proc.terminate()
    publisher = Publisher(broker.host, broker.port)
    try:
        start_ms = time.time_ns() // 1_000_000 - AWAY
        for i in range(AWAY):
            publisher.send(LIFT, {"floor": i % 30, "ts": start_ms + i})
        publisher.wait_all_acked()  # the broker has accepted every one of them
    finally:
        publisher.close()
    proc.launch()  # not start(): that waits for a healthy broker check, which a loss makes false
    wait_until(lambda: _responds(proc), timeout=30)
    return proc


def _responds(proc: GatewayProcess) -> bool:
    try:
        _health(proc)
    except (httpx.HTTPError, ValueError):
        return False
    return True


def test_drops_at_the_broker_raise_gateway_broker_dropping_with_the_count(tmp_path: Path) -> None:
    with _broker(tmp_path, []) as broker:
        alarms = TopicWatcher(broker, "gateway/test-gw/alarm")
        proc = _away_then_back(tmp_path, broker)
        try:
            wait_until(lambda: _stored(proc) == 1_000, timeout=30)  # what the broker kept
            wait_until(lambda: _health(proc)["broker"]["dropped"] > 0, timeout=30)  # type: ignore[index]
            health = _health(proc)
            broker_check = health["broker"]
            assert isinstance(broker_check, dict)
            assert broker_check["dropped"] == AWAY - 1_000  # every lost reading is accounted for
            assert broker_check["ok"] is False and broker_check["dropping"] is True
            assert health["ok"] is False
            assert "gateway.broker_dropping" in health["stages"]["self_alarms"]  # type: ignore[index]
            metrics = httpx.get(f"{proc.url}/metrics", timeout=5).text
            assert f"estate_broker_dropped_messages_total {AWAY - 1_000:.1f}" in metrics
            assert "estate_broker_dropping 1.0" in metrics
            wait_until(lambda: bool(alarms.payloads()), timeout=10)
            alarm = json.loads(alarms.payloads()[0])
            assert (alarm["rule"], alarm["state"], alarm["severity"]) == (
                "gateway.broker_dropping",
                "active",
                "critical",
            )
            assert alarm["dropped"] == AWAY - 1_000

            # The count is kept: a restart does not report the same loss again.
            proc.terminate()
            proc.launch()
            wait_until(lambda: _responds(proc), timeout=30)
            wait_until(lambda: _health(proc)["broker"]["stats"] == "seen", timeout=30)  # type: ignore[index]
            wait_until(lambda: _health(proc)["broker"]["ok"] is True, timeout=30)  # type: ignore[index]
            again = _health(proc)["broker"]
            assert isinstance(again, dict)
            assert (again["dropped"], again["dropping"], again["broker_count"]) == (0, False, AWAY - 1_000)
        finally:
            proc.kill()
            alarms.close()
            assert "Outgoing messages are being dropped" in broker.log_text()


def _deploy_limits() -> list[str]:
    """The queue limits the shipped production config sets."""
    wanted = re.compile(r"^(max_queued_messages|max_queued_bytes|max_inflight_messages)\s+\S+$")
    lines = [line.strip() for line in DEPLOY_CONF.read_text().splitlines()]
    limits = [line for line in lines if wanted.match(line)]
    assert any(line.startswith("max_queued_messages") for line in limits), DEPLOY_CONF
    return limits


def test_with_the_shipped_limits_nothing_is_lost(tmp_path: Path) -> None:
    with _broker(tmp_path, _deploy_limits()) as broker:
        proc = _away_then_back(tmp_path, broker)
        try:
            wait_until(lambda: _stored(proc) == AWAY, timeout=60)
            wait_until(lambda: _health(proc)["broker"]["stats"] == "seen", timeout=30)  # type: ignore[index]
            wait_until(lambda: _health(proc)["broker"]["ok"] is True, timeout=30)  # type: ignore[index]
            broker_check = _health(proc)["broker"]
            assert isinstance(broker_check, dict)
            assert (broker_check["dropped"], broker_check["broker_count"]) == (0, 0)
        finally:
            proc.kill()
        assert "Outgoing messages are being dropped" not in broker.log_text()


INFLUX_DOWN = 6_000  # readings sent as fast as the broker takes them while InfluxDB is down


def _influx_count(target: InfluxV2Target) -> int:
    rows = target.query('SELECT count("floor") FROM "lift"')
    return int(rows[0]["count"]) if rows else 0  # type: ignore[call-overload]


@pytest.mark.expect_errors  # InfluxDB's absence, and (mosquitto's defaults) the loss, are errors
@pytest.mark.parametrize("limits", ["mosquitto defaults", "deploy/mosquitto"])
def test_influxdb_down_while_readings_pour_in(tmp_path: Path, influx_v2: InfluxV2Target, limits: str) -> None:
    """Item 1 as measured: InfluxDB down while readings pour in. The first batch is retried before
    it is spooled (acknowledgements wait meanwhile), and the broker queues what arrives: with its
    defaults (20 in flight, 1,000 queued) it drops the rest, and the gateway says how many; with
    the shipped limits nothing is lost. Either way stored + dropped = sent."""
    shipped = _deploy_limits() if limits == "deploy/mosquitto" else []
    with _broker(tmp_path, shipped) as broker:
        settings = gateway_settings(tmp_path, broker.url, influx_v2, write_backoff_s=1.0)
        gateway = build_gateway(settings, load_inventory(SPEC_EXAMPLE))
        assert gateway.broker_watch is not None
        publisher = Publisher(broker.host, broker.port)
        gateway.start()
        try:
            assert gateway.mqtt.wait_connected(10)
            influx_v2.server.stop()
            start_ms = time.time_ns() // 1_000_000 - INFLUX_DOWN
            for i in range(INFLUX_DOWN):
                publisher.send(LIFT, {"floor": i % 30, "ts": start_ms + i})
            publisher.wait_all_acked()  # the broker has accepted every one
            influx_v2.server.start()
            counter = gateway.broker_watch.counter
            sink = gateway.sink
            assert isinstance(sink, InfluxSink)

            def settled() -> bool:
                return (
                    gateway.mqtt.depth == 0 and sink.spool.batches == 0 and gateway.broker_watch is not None
                )

            def accounted() -> bool:
                # The broker's count also takes copies of the gateway's own messages (its alerts on
                # estate/{e}/alerts, which its estate/# subscription receives) dropped meanwhile.
                own = gateway.health()["outbox"]["delivered"]
                return INFLUX_DOWN <= _influx_count(influx_v2) + counter.lost <= INFLUX_DOWN + own

            wait_until(lambda: settled() and accounted(), timeout=90)
            if limits == "deploy/mosquitto":
                assert counter.lost == 0 and _influx_count(influx_v2) == INFLUX_DOWN
            else:
                assert counter.lost > 0 and counter.dropping
                assert "gateway.broker_dropping" in gateway.stages.alarms()
                assert gateway.health()["broker"]["dropped"] == counter.lost
        finally:
            gateway.stop()
            publisher.close()
