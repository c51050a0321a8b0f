"""Issue 24: with the InfluxDB sink (the production path), a device's history comes back through the
API for 1 h … 30 d, downsampled by InfluxDB itself; once the API answered 501 "query it directly".

Real mosquitto, real InfluxDB 1.6.7 (written through the 2.x shim, read with InfluxQL over /query
as 2.x and 3.x serve it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Principal, Role, TokenBook
from devices.loader import load_inventory
from gateway.service import Gateway, build_gateway
from tests.support.gateway import SPEC_EXAMPLE, Publisher, gateway_settings
from tests.support.servers import InfluxV2Target, MosquittoServer, wait_until

LIFT = "estate/sunrise/lift/L1/telemetry"
HOURS = 30 * 24
H_NS = 3600 * 10**9


@pytest.fixture
def gateway(tmp_path: Path, mosquitto: MosquittoServer, influx_v2: InfluxV2Target) -> Iterator[Gateway]:
    settings = gateway_settings(tmp_path, mosquitto.url, influx_v2, max_past_s=40 * 86_400)
    gw = build_gateway(settings, load_inventory(SPEC_EXAMPLE))
    gw.start()
    try:
        assert gw.mqtt.wait_connected(10)
        yield gw
    finally:
        gw.stop()


def test_history_from_influxdb_for_1_hour_to_30_days(
    gateway: Gateway, mosquitto: MosquittoServer, influx_v2: InfluxV2Target
) -> None:
    now_ns = time.time_ns()
    first_ns = now_ns - now_ns % H_NS - (HOURS - 1) * H_NS  # on the hour, the last one this hour
    floors = {first_ns + i * H_NS: i % 30 for i in range(HOURS)}
    publisher = Publisher(mosquitto.host, mosquitto.port)
    try:
        for at_ns, floor in floors.items():
            publisher.send(LIFT, {"floor": floor, "ts": at_ns // 1_000_000})
        publisher.wait_all_acked()
    finally:
        publisher.close()
    count = 'SELECT count("floor") FROM "lift"'
    wait_until(lambda: (influx_v2.query(count) or [{"count": 0}])[0]["count"] == HOURS, timeout=30)

    book = TokenBook()
    book.add("t", Principal("admin", Role.ADMIN))
    with TestClient(create_app(gateway, book, manage_lifecycle=False)) as client:

        def history(period: timedelta, every: str | None) -> list[tuple[int, float]]:
            stop = datetime.fromtimestamp(now_ns / 1e9, UTC) + timedelta(seconds=1)
            params = {"start": (stop - period).isoformat(), "stop": stop.isoformat(), "field": "floor"}
            if every:
                params["every"] = every
            answer = client.get(
                "/api/devices/sunrise/L1/readings", params=params, headers={"Authorization": "Bearer t"}
            )
            assert answer.status_code == 200, answer.text
            return [
                (int(datetime.fromisoformat(r["time"]).timestamp()), r["fields"]["floor"])
                for r in answer.json()
            ]

        def expected(period: timedelta, bucket_h: int) -> list[tuple[int, float]]:
            since = now_ns + 10**9 - int(period.total_seconds()) * 10**9
            buckets: dict[int, list[int]] = {}
            for at_ns, floor in floors.items():
                if at_ns >= since:
                    buckets.setdefault(at_ns - at_ns % (bucket_h * H_NS), []).append(floor)
            return [(start // 10**9, sum(v) / len(v)) for start, v in sorted(buckets.items())]

        assert history(timedelta(hours=1), None) == expected(timedelta(hours=1), 1)  # the raw point
        assert len(history(timedelta(hours=24), "1h")) == 24
        assert history(timedelta(hours=24), "1h") == expected(timedelta(hours=24), 1)
        week = history(timedelta(days=7), "6h")
        assert week == pytest.approx(expected(timedelta(days=7), 6))
        month = history(timedelta(days=30), "1d")
        assert month == pytest.approx(expected(timedelta(days=30), 24))
        assert 30 <= len(month) <= 31 and sum(1 for _ in floors) == HOURS

        influx_v2.server.stop()  # InfluxDB gone: a clear 503, not a 500 nor an empty chart
        try:
            answer = client.get("/api/devices/sunrise/L1/readings", headers={"Authorization": "Bearer t"})
            assert answer.status_code == 503 and "InfluxDB" in answer.json()["detail"]
        finally:
            influx_v2.server.start()
