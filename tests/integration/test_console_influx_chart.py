"""Issue 24's console part, with the production path: a device's chart in Debian's Chromium read
from a real InfluxDB 1.6.7 (written through the 2.x shim, read with InfluxQL) — a week of a
tank's chlorine, its unit and the rules' thresholds; the screenshot is kept in docs/screenshots/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from devices.loader import load_inventory
from gateway.service import Gateway, build_gateway
from tests.api.browser import Served, browser, needs_chromium, open_page, served, shot
from tests.support.gateway import SPEC_EXAMPLE, Publisher, gateway_settings
from tests.support.servers import InfluxV2Target, MosquittoServer, wait_until

__all__ = ["browser", "served"]
pytestmark = needs_chromium

TANK = "estate/sunrise/water_tank/T1/telemetry"
HOURS = 7 * 24
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


def test_a_week_of_chlorine_from_influxdb_with_unit_and_thresholds(
    served: Served, mosquitto: MosquittoServer, influx_v2: InfluxV2Target, browser: Browser
) -> None:
    now_ns = time.time_ns()
    first_ns = now_ns - now_ns % H_NS - (HOURS - 1) * H_NS
    publisher = Publisher(mosquitto.host, mosquitto.port)
    try:
        for i in range(HOURS):
            # A daily swing between 0.25 and 0.85 mg/L, dipping under the 0.2 pre-alarm on day 5.
            chlorine = 0.55 + 0.3 * ((i % 24) - 12) / 12 - (0.2 if 96 <= i < 102 else 0.0)
            at_ms = (first_ns + i * H_NS) // 1_000_000
            publisher.send(
                TANK, {"chlorine_mg_l": round(max(chlorine, 0.0), 3), "level_pct": 70.0, "ts": at_ms}
            )
        publisher.wait_all_acked()
    finally:
        publisher.close()
    count = 'SELECT count("chlorine_mg_l") FROM "water_tank"'
    wait_until(lambda: (influx_v2.query(count) or [{"count": 0}])[0]["count"] == HOURS, timeout=30)

    page = open_page(browser, served.url, "operator")
    page.goto(f"{served.url}/#/device/sunrise/T1")
    page.get_by_test_id("chart-field").select_option("chlorine_mg_l")
    page.get_by_test_id("period-7d").click()
    chart = page.get_by_test_id("chart")
    expect(chart).to_have_attribute("data-period", "7d")
    expect(chart).to_have_attribute("data-field", "chlorine_mg_l")
    points = page.get_by_test_id("chart-points")
    expect(points).to_contain_text("3 条规则阈值")
    # 30-minute buckets over 7 days of hourly readings: one point per reading.
    assert int(points.inner_text().split()[0]) == HOURS
    expect(chart.get_by_test_id("chart-unit")).to_have_text("mg/L")
    expect(chart.get_by_test_id("threshold")).to_have_count(3)
    shot(page, "console-device-chart-influx-zh-1440")
