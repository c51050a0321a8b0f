"""The views an operator looks at and the screens for what only the API had, in Debian's Chromium
(issue 25): the site plan, the wall screen, maintenance windows, a repair report (报修) and the
dead letters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Browser, expect

from devices.clock import ManualClock
from gateway.service import Gateway
from tests.api.browser import Served, browser, needs_chromium, open_page, served, wall_clock
from tests.api.conftest import feed

__all__ = ["browser", "served"]
pytestmark = needs_chromium

TRAPPED = ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "entrapment"})


@pytest.fixture
def clock() -> ManualClock:
    return wall_clock()


def test_the_site_plan_colours_buildings_and_leads_to_the_device(
    served: Served, gateway: Gateway, browser: Browser
) -> None:
    feed(gateway, ("estate/sunrise/water_tank/T1/telemetry", {"level_pct": 70.0}))
    page = open_page(browser, served.url, "operator")
    page.goto(f"{served.url}/#/plan")
    b1 = page.locator('[data-testid="building-tile"][data-building="B1"]')
    expect(b1).to_be_visible()
    expect(b1).not_to_have_attribute("data-state", "sev-critical")
    feed(gateway, TRAPPED)  # live: the building turns red without a reload
    expect(b1).to_have_attribute("data-state", "sev-critical")
    expect(b1.locator('[data-device="L1"]')).to_have_class("chip sev-critical")
    b1.locator('[data-device="L1"]').click()
    expect(page).to_have_url(f"{served.url}/#/device/sunrise/L1")


def test_the_wall_screen_shows_large_live_figures(served: Served, gateway: Gateway, browser: Browser) -> None:
    page = open_page(browser, served.url, "operator", width=1920, height=1080)
    page.goto(f"{served.url}/#/wall")
    expect(page.get_by_test_id("wall-critical").locator(".wall-number")).to_have_text("0")
    feed(gateway, TRAPPED)
    expect(page.get_by_test_id("wall-critical").locator(".wall-number")).to_have_text("1")
    expect(page.get_by_test_id("wall-orders").locator(".wall-number")).to_have_text("1")
    expect(page.locator("header.topbar")).to_be_hidden()
    size = (
        page.get_by_test_id("wall-critical")
        .locator(".wall-number")
        .evaluate("e => getComputedStyle(e).fontSize")
    )
    assert float(size.removesuffix("px")) >= 64
    page.get_by_text("退出大屏").click()
    expect(page.locator("header.topbar")).to_be_visible()


def test_maintenance_windows_are_entered_and_listed(served: Served, browser: Browser) -> None:
    page = open_page(browser, served.url, "operator")
    page.goto(f"{served.url}/#/windows")
    page.get_by_test_id("window-new").click()
    page.get_by_test_id("window-device").fill("L1")
    page.get_by_test_id("window-start").fill("2030-01-01T08:00")
    page.get_by_test_id("window-end").fill("2030-01-01T12:00")
    page.get_by_test_id("reason").fill("年检")
    page.get_by_test_id("confirm").click()
    row = page.get_by_test_id("window-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("年检")
    [stored] = served.call("GET", "/api/maintenance-windows")
    assert (stored["device"], stored["reason"], stored["created_by"]) == ("L1", "年检", "operator")
    # A bad device is refused with the reason in the dialog, and nothing is stored.
    page.get_by_test_id("window-new").click()
    page.get_by_test_id("window-device").fill("NOPE")
    page.get_by_test_id("window-start").fill("2030-01-02T08:00")
    page.get_by_test_id("window-end").fill("2030-01-02T12:00")
    page.get_by_test_id("reason").fill("x")
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("dialog-error")).to_have_text("输入有误，请检查后重试")
    assert len(served.call("GET", "/api/maintenance-windows")) == 1


def test_a_repair_report_becomes_a_work_order(served: Served, browser: Browser) -> None:
    page = open_page(browser, served.url, "operator")
    page.goto(f"{served.url}/#/report")
    page.get_by_test_id("report-submit").click()
    expect(page.get_by_test_id("report-error")).to_have_text("请填写报修内容。")
    page.get_by_test_id("report-title").fill("B1 地下室漏水")
    page.get_by_test_id("report-trade").select_option("water")
    page.get_by_test_id("report-submit").click()
    expect(page.get_by_test_id("report-row")).to_contain_text("B1 地下室漏水")
    [order] = served.call("GET", "/api/workorders")
    assert (order["title"], order["trade"], order["source"], order["crew"]) == (
        "B1 地下室漏水",
        "water",
        "report",
        "water-team",
    )


def test_dead_letters_are_listed_with_their_reason_in_words(
    served: Served, gateway: Gateway, browser: Browser
) -> None:
    feed(gateway, ("estate/sunrise/lift/L1/telemetry", b"{oops"))
    page = open_page(browser, served.url, "operator")
    page.goto(f"{served.url}/#/deadletters")
    row = page.get_by_test_id("deadletter-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("JSON 格式错误")
    expect(row).to_contain_text("estate/sunrise/lift/L1/telemetry")


def test_kpi_trends_per_estate_with_their_targets(served: Served, gateway: Gateway, browser: Browser) -> None:
    """Issue 24's "Reports": the daily rollups (GET /api/kpis/daily) over 30 or 90 days, a line
    per figure with its target."""
    today = gateway.clock.now().astimezone(gateway.inventory.estates[0].tz).date()
    served.call(
        "POST",
        "/api/kpis/rollups",
        token="admin",
        json={"start": (today - timedelta(days=5)).isoformat(), "stop": today.isoformat()},
    )
    page = open_page(browser, served.url, "manager")
    page.goto(f"{served.url}/#/kpis")
    lamps = page.locator('[data-testid="trend"][data-figure="lamp_intact_pct"]')
    expect(lamps.locator("svg.chart")).to_be_visible()
    expect(lamps.get_by_test_id("threshold")).to_have_attribute("data-value", "95")
    expect(page.get_by_test_id("trend")).to_have_count(6)
    page.get_by_test_id("trend-range").select_option("90")
    expect(lamps.locator("svg.chart")).to_be_visible()
