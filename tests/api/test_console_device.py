"""A device's page in Debian's Chromium (issue 25 defect 7, issue 24's console part): its values and
"last seen" follow without a reload, and the chart shows 1 h, 24 h, 7 d or 30 d of a field with
its unit and the rules' thresholds as lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, expect

from devices.clock import ManualClock
from gateway.service import Gateway
from tests.api.browser import Served, browser, needs_chromium, open_page, served, shot
from tests.api.conftest import feed

__all__ = ["browser", "served"]
pytestmark = needs_chromium

TANK = "estate/sunrise/water_tank/T1/telemetry"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW - timedelta(hours=3))


def _history(gateway: Gateway, clock: ManualClock) -> None:
    """Three hours of a tank, a reading every 10 minutes, chlorine drifting down to 0.3 mg/L."""
    for i in range(18):
        feed(gateway, (TANK, {"level_pct": 60.0 + i, "chlorine_mg_l": round(0.9 - i * 0.035, 3), "ph": 7.2}))
        clock.advance(timedelta(minutes=10))


def test_the_device_page_is_live_and_charts_a_period_with_unit_and_thresholds(
    served: Served, gateway: Gateway, clock: ManualClock, browser: Browser
) -> None:
    _history(gateway, clock)
    errors: list[str] = []
    page = open_page(browser, served.url, "operator", errors=errors)
    page.clock.install()  # the page's timers move when the test says so
    page.goto(f"{served.url}/#/device/sunrise/T1")
    latest = page.get_by_test_id("latest")
    expect(latest.locator('[data-field="chlorine_mg_l"] td')).to_have_text("0.305 mg/L")
    expect(latest.locator('[data-field="chlorine_mg_l"] th')).to_have_text("余氯")
    page.get_by_test_id("chart-field").select_option("chlorine_mg_l")
    chart = page.get_by_test_id("chart")
    expect(chart.get_by_test_id("chart-unit")).to_have_text("mg/L")
    lines = chart.get_by_test_id("threshold")
    expect(lines).to_have_count(3)  # water.chlorine_low < 0.05, prealarm < 0.2, high > 2.0
    assert sorted(float(v) for v in lines.evaluate_all("ls => ls.map(l => l.dataset.value)")) == [
        0.05,
        0.2,
        2.0,
    ]
    expect(page.get_by_test_id("chart-points")).to_contain_text("个数据点")
    shot(page, "console-device-chart-zh-1440")
    page.get_by_test_id("period-1h").click()
    expect(page.get_by_test_id("period-1h")).to_have_attribute("aria-pressed", "true")
    expect(chart).to_have_attribute("data-period", "1h")
    expect(page.get_by_test_id("chart-points")).to_contain_text("个数据点")
    one_hour = int(page.get_by_test_id("chart-points").inner_text().split()[0])
    assert 5 <= one_hour <= 7, one_hour  # the last hour's six readings, one per 30 s bucket
    # Live: a new reading, and the page shows it at its next look (every 10 s) without a reload.
    last_seen = page.get_by_test_id("last-seen").inner_text()
    clock.set(NOW + timedelta(seconds=30))
    feed(gateway, (TANK, {"level_pct": 80.0, "chlorine_mg_l": 0.15, "ph": 7.1}))
    page.clock.run_for(10_500)
    expect(latest.locator('[data-field="chlorine_mg_l"] td')).to_have_text("0.15 mg/L")
    expect(page.get_by_test_id("last-seen")).not_to_have_text(last_seen)
    assert errors == []
