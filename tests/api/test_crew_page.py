"""The crew page on a phone, in Debian's Chromium (issue 25 defect 11): "in progress" counts only
the orders in the crew's hands, "resolve" asks first, and a new critical order stays on screen
(and sounds) until it is opened."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from devices.clock import ManualClock
from gateway.service import Gateway
from tests.api.browser import Served, browser, needs_chromium, open_page, served, shot, wall_clock
from tests.api.conftest import feed

__all__ = ["browser", "served"]
pytestmark = needs_chromium

LIFT_EVENT = "estate/sunrise/lift/L1/event"
TRAPPED = (LIFT_EVENT, {"type": "fault", "code": "entrapment"})
DOOR = (LIFT_EVENT, {"type": "fault", "code": "door_open_failure"})


@pytest.fixture
def clock() -> ManualClock:
    return wall_clock()


def _door_order(served: Served, gateway: Gateway) -> int:
    feed(gateway, DOOR)
    [alert] = served.call("GET", "/api/alerts")
    order = served.call("POST", f"/api/alerts/{alert['id']}/dispatch", json={"crew": "lift-team"})
    return int(order["id"])


def test_in_progress_counts_the_orders_in_hand_and_resolve_asks_first(
    served: Served, gateway: Gateway, browser: Browser
) -> None:
    first = _door_order(served, gateway)
    served.call("POST", f"/api/workorders/{first}/accept", token="crew")
    page = open_page(browser, f"{served.url}/crew", "crew", width=390, height=844)
    summary = page.locator(".summary")
    expect(summary).to_have_text("1 张进行中")
    card = page.locator(f'[data-testid="order-card"][data-order-id="{first}"]')
    card.get_by_test_id("resolve").click()
    page.get_by_test_id("cancel").click()  # thought better of it
    expect(card).to_have_attribute("data-state", "accepted")
    card.get_by_test_id("resolve").click()
    page.get_by_test_id("confirm").click()
    # Resolved: it waits for the lift's telemetry, not for the crew. Not "in progress" any more.
    expect(card).to_have_attribute("data-state", "resolved")
    expect(summary).to_have_text("0 张进行中")
    assert served.call("GET", f"/api/workorders/{first}")["state"] == "resolved"


def test_a_new_critical_order_stays_on_screen_and_sounds_until_opened(
    served: Served, gateway: Gateway, browser: Browser
) -> None:
    page = open_page(browser, f"{served.url}/crew", "crew", width=390, height=844)
    page.clock.install()
    feed(gateway, TRAPPED)
    banner = page.get_by_test_id("critical-order")
    expect(banner).to_have_count(1)
    expect(banner).to_contain_text("紧急工单")
    assert page.evaluate("window.crewBeeps") == 1
    shot(page, "crew-critical-zh-390")
    page.clock.run_for(60_000)  # a toast is gone after 8 s: the banner is not
    expect(page.get_by_test_id("toast")).to_have_count(0)
    expect(banner).to_be_visible()
    page.reload()  # still there after a reload: not opened yet
    expect(page.get_by_test_id("critical-order")).to_have_count(1)
    page.get_by_test_id("open-critical").click()
    expect(page.get_by_test_id("critical-order")).to_have_count(0)
    page.reload()
    expect(page.locator('[data-testid="order-card"]')).to_have_count(1)
    expect(page.get_by_test_id("critical-order")).to_have_count(0)
