"""Work orders in the console, in Debian's Chromium (issue 25): an order's own page with the crew's
notes and its history (a `#3` link opens that order, not the board), the overdue-order alarm that
names its order's device and links the order, the closed alarms, a warning before a lift order goes
to the electricians, and a layout that holds at 1024 px with a long note."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Browser, expect

from devices.clock import ManualClock
from gateway.service import Gateway
from tests.api.browser import Served, browser, needs_chromium, open_page, served, shot, wall_clock
from tests.api.conftest import feed, tick

__all__ = ["browser", "served"]
pytestmark = needs_chromium

LIFT_EVENT = "estate/sunrise/lift/L1/event"
TRAPPED = (LIFT_EVENT, {"type": "fault", "code": "entrapment"})
DOOR = (LIFT_EVENT, {"type": "fault", "code": "door_open_failure"})
DOOR_CLEARED = (LIFT_EVENT, {"type": "fault_cleared", "code": "door_open_failure"})
LONG_NOTE = "到场检查发现门机皮带老化断裂，已更换新皮带并调整门刀间隙，" * 12


@pytest.fixture
def clock() -> ManualClock:
    return wall_clock()


def _order(served: Served, gateway: Gateway) -> dict[str, object]:
    feed(gateway, TRAPPED)
    [order] = served.call("GET", "/api/workorders")
    return order


def test_an_order_link_opens_the_order_with_the_crew_notes_and_history(
    served: Served, gateway: Gateway, browser: Browser
) -> None:
    """Defect 6: crew notes and an order's history were nowhere in the UI; `#3` opened the board."""
    order = _order(served, gateway)
    served.call("POST", f"/api/workorders/{order['id']}/accept", token="crew", json={"note": "十分钟到"})
    page = open_page(browser, served.url, "operator")
    row = page.locator('[data-testid="alarm-row"][data-rule="lift.entrapment"]')
    row.get_by_test_id("order-link").click()
    expect(page).to_have_url(f"{served.url}/#/order/{order['id']}")
    detail = page.get_by_test_id("order-detail")
    expect(detail).to_have_attribute("data-order-id", str(order["id"]))
    expect(page.get_by_test_id("crew-notes")).to_contain_text("接单 · crew")
    expect(page.get_by_test_id("crew-notes")).to_contain_text("十分钟到")
    history = page.get_by_test_id("history")
    expect(history).to_contain_text("创建")
    expect(history).to_contain_text("派给班组")
    # Live: the crew arrives with a note; the page follows without a reload.
    served.call("POST", f"/api/workorders/{order['id']}/arrive", token="crew", json={"note": "已到现场"})
    expect(page.get_by_test_id("crew-notes")).to_contain_text("已到现场")
    shot(page, "console-order-zh-1440")


def test_the_overdue_order_alarm_names_the_device_links_the_order_and_offers_no_dispatch(
    served: Served, gateway: Gateway, clock: ManualClock, browser: Browser
) -> None:
    """Defect 10: it showed no device, no order, and a dispatch button."""
    order = _order(served, gateway)
    accept_due = datetime.fromisoformat(str(order["deadlines"]["accept"]))  # type: ignore[index]
    clock.set(accept_due + timedelta(seconds=1))
    tick(gateway)
    [breach] = [a for a in served.call("GET", "/api/alerts") if a["rule"] == "workorder.overdue"]
    assert breach["subject"] == f"WO{order['id']}/accept"
    page = open_page(browser, served.url, "operator")
    row = page.locator(f'[data-testid="alarm-row"][data-alert-id="{breach["id"]}"]')
    expect(row.get_by_test_id("device-link")).to_have_text("L1")
    expect(row.get_by_test_id("order-link")).to_have_attribute("href", f"#/order/{order['id']}")
    expect(row.get_by_test_id("dispatch")).to_have_count(0)
    # And the API refuses it too (409), whatever a page offers.
    refused = served.call_status("POST", f"/api/alerts/{breach['id']}/dispatch")
    assert refused == 409


def test_acknowledging_a_cleared_alarm_closes_it_where_it_can_be_found(
    served: Served, gateway: Gateway, browser: Browser
) -> None:
    """Defect 10: the alarm vanished with no closed-alarm view."""
    feed(gateway, DOOR, DOOR_CLEARED)
    page = open_page(browser, served.url, "operator")
    row = page.locator('[data-testid="alarm-row"][data-rule="lift.door_failure"]')
    expect(row).to_have_attribute("data-state", "cleared")
    alert_id = row.get_attribute("data-alert-id")
    row.get_by_test_id("ack").click()
    page.get_by_test_id("confirm").click()
    expect(row).to_have_count(0)
    toast = page.get_by_test_id("toast")
    expect(toast).to_contain_text(f"告警 #{alert_id} 已确认并关闭")
    page.get_by_test_id("filter-state").select_option("closed")
    closed = page.locator(f'[data-testid="alarm-row"][data-alert-id="{alert_id}"]')
    expect(closed).to_have_attribute("data-state", "closed")
    closed.locator("td.message").click()
    expect(page.get_by_test_id("history")).to_contain_text("关闭")


def test_reassigning_to_a_crew_of_another_trade_warns_first(
    served: Served, gateway: Gateway, browser: Browser
) -> None:
    """Defect 13: a lift order went to the electrical crew without a word."""
    order = _order(served, gateway)
    page = open_page(browser, served.url, "operator")
    page.goto(f"{served.url}/#/orders")
    card = page.locator(f'.board [data-testid="order-card"][data-order-id="{order["id"]}"]')
    card.get_by_test_id("reassign").click()
    page.get_by_test_id("crew").select_option("electric-team")
    warning = page.get_by_test_id("trade-warning")
    expect(warning).to_contain_text("不是电梯班组")
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("dialog-error")).to_contain_text("再次点击")
    assert served.call("GET", f"/api/workorders/{order['id']}")["crew"] == "lift-team"
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("dialog-error")).to_have_count(0)
    moved = served.call("GET", f"/api/workorders/{order['id']}")
    assert moved["crew"] == "electric-team"
    assert "不同工种" in moved["history"][-1]["note"]


def test_a_lift_crew_needs_no_confirmation(served: Served, gateway: Gateway, browser: Browser) -> None:
    order = _order(served, gateway)
    page = open_page(browser, served.url, "operator")
    page.goto(f"{served.url}/#/order/{order['id']}")
    page.get_by_test_id("order-detail").get_by_test_id("cancel-order").click()
    page.get_by_test_id("cancel").click()
    page.get_by_test_id("order-detail").get_by_test_id("reassign").click()
    page.get_by_test_id("crew").select_option("lift-team")
    expect(page.get_by_test_id("trade-warning")).to_be_hidden()


def test_the_layout_holds_at_1024_px_with_a_long_note(
    served: Served, gateway: Gateway, browser: Browser
) -> None:
    """Defect 8: headers wrapped one character per line, the last column was cut, a long note
    widened the history past the screen."""
    order = _order(served, gateway)
    feed(gateway, DOOR, ("estate/sunrise/water_tank/T1/event", {"type": "hatch_open"}))
    served.call("POST", f"/api/workorders/{order['id']}/accept", token="crew", json={"note": LONG_NOTE})
    page = open_page(browser, served.url, "operator", width=1024, height=768)
    expect(page.locator('[data-testid="alarm-row"]')).to_have_count(3)
    heights = page.locator("table.alarms thead th").evaluate_all(
        "ths => ths.filter(th => th.offsetParent).map(th => th.getBoundingClientRect().height)"
    )
    assert max(heights) < 40, heights  # one line each
    wrap = page.locator(".table-wrap").first
    assert wrap.evaluate("w => w.scrollWidth <= w.clientWidth + 1"), (
        "the alarm table is wider than the screen"
    )
    shot(page, "console-alarms-longnote-zh-1024")
    page.goto(f"{served.url}/#/order/{order['id']}")
    expect(page.get_by_test_id("history")).to_contain_text("门机皮带")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), (
        "the page scrolls sideways"
    )
