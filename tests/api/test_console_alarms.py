"""The console's alarm list in Debian's Chromium (issue 25): one count of unacknowledged alarms
everywhere, an alarm whose order is cancelled can be dispatched again, each role sees only what
it may do, messages in the page's language, shelving in whole minutes with the time it returns,
the overdue-order alarm, the closed alarms, filters, sorting and the bulk acknowledgement."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from devices.clock import ManualClock
from gateway.service import Gateway
from tests.api.browser import Served, browser, needs_chromium, open_page, served, wall_clock
from tests.api.conftest import feed

__all__ = ["browser", "served"]
pytestmark = needs_chromium

LIFT_EVENT = "estate/sunrise/lift/L1/event"
DOOR = (LIFT_EVENT, {"type": "fault", "code": "door_open_failure"})
DOOR_CLEARED = (LIFT_EVENT, {"type": "fault_cleared", "code": "door_open_failure"})
HATCH = ("estate/sunrise/water_tank/T1/event", {"type": "hatch_open"})


@pytest.fixture
def clock() -> ManualClock:
    return wall_clock()


def _rows(page: Page) -> list[str]:
    return page.locator('[data-testid="alarm-row"]').evaluate_all("rs => rs.map(r => r.dataset.alertId)")


def _alert(served: Served, rule: str) -> dict[str, object]:
    [found] = [a for a in served.call("GET", "/api/alerts") if a["rule"] == rule]
    return found


def test_one_count_of_unacknowledged_alarms_in_the_list_the_badge_and_the_overview(
    served: Served, gateway: Gateway, browser: Browser
) -> None:
    """Defect 1: a cleared but unacknowledged alarm counted by the list and the badge and not by
    the overview (4 vs 0). Now the gateway says which alarms wait (``unacknowledged``) and every
    view counts that, live."""
    errors: list[str] = []
    page = open_page(browser, served.url, "operator", errors=errors)
    feed(gateway, DOOR, DOOR_CLEARED, HATCH)  # one cleared and unacknowledged, one active
    summary = page.get_by_test_id("alarm-summary")
    expect(summary).to_have_text("共 2 条，2 条待确认")
    badge = page.locator('[data-nav="#/alarms"] .count')
    expect(badge).to_have_text("2")
    page.goto(f"{served.url}/#/overview")
    unacked = page.get_by_test_id("overview-unacked")
    expect(unacked).to_have_attribute("data-n", "2")
    # A burst while the overview is open: the three counts move together.
    feed(gateway, ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "overspeed"}))
    expect(unacked).to_have_attribute("data-n", "3")
    expect(badge).to_have_text("3")
    assert sum(1 for a in served.call("GET", "/api/alerts") if a["unacknowledged"]) == 3
    assert errors == []


def test_an_unacknowledged_critical_alarm_that_cleared_stays_above_lesser_ones(
    served: Served, gateway: Gateway, browser: Browser
) -> None:
    """Unacknowledged and critical first (README): an entrapment that cleared before anyone
    answered it still waits, so it is listed above an active major alarm, marked as waiting."""
    page = open_page(browser, served.url, "operator")
    trapped = (LIFT_EVENT, {"type": "fault", "code": "entrapment"})
    freed = (LIFT_EVENT, {"type": "fault_cleared", "code": "entrapment"})
    feed(gateway, trapped, freed)
    feed(gateway, HATCH)
    entrapment, door = _alert(served, "lift.entrapment"), _alert(served, "water.hatch_open")
    assert entrapment["state"] == "cleared" and entrapment["unacknowledged"] and door["state"] == "active"
    rows = page.locator('[data-testid="alarm-row"]')
    expect(rows.first).to_have_attribute("data-alert-id", str(entrapment["id"]))
    assert _rows(page).index(str(entrapment["id"])) < _rows(page).index(str(door["id"]))
    expect(rows.first).to_have_class(re.compile(r"\bunacked\b"))


def test_an_alarm_whose_order_was_cancelled_can_be_dispatched_again(
    served: Served, gateway: Gateway, browser: Browser
) -> None:
    """Defect 2: the cancelled order stayed on the alarm and the dispatch button was gone."""
    page = open_page(browser, served.url, "operator")
    feed(gateway, DOOR)
    row = page.locator('[data-testid="alarm-row"][data-rule="lift.door_failure"]')
    row.get_by_test_id("dispatch").click()
    page.get_by_test_id("confirm").click()
    link = row.get_by_test_id("order-link")
    expect(link).to_be_visible()
    expect(row.get_by_test_id("dispatch")).to_have_count(0)
    order_id = link.inner_text().lstrip("#")
    page.goto(f"{served.url}/#/orders")
    card = page.locator(f'.board [data-testid="order-card"][data-order-id="{order_id}"]')
    card.get_by_test_id("cancel-order").click()
    page.get_by_test_id("note").fill("重复派单")
    page.get_by_test_id("confirm").click()
    page.goto(f"{served.url}/#/alarms")
    expect(row.get_by_test_id("order-link")).to_have_count(0)
    row.get_by_test_id("dispatch").click()
    page.get_by_test_id("confirm").click()
    expect(row.get_by_test_id("order-link")).not_to_have_text(f"#{order_id}")
    history = served.call("GET", f"/api/alerts/{row.get_attribute('data-alert-id')}")["history"]
    assert any("已撤销" in h["note"] for h in history)


@pytest.mark.parametrize("role", ["manager", "simulator"])
def test_a_read_only_role_sees_no_buttons_it_cannot_use(
    served: Served, gateway: Gateway, browser: Browser, role: str
) -> None:
    """Defect 4: a manager saw acknowledge, shelve and dispatch, which failed with an English 403."""
    feed(gateway, DOOR)
    page = open_page(browser, served.url, role)
    row = page.locator('[data-testid="alarm-row"]')
    expect(row).to_have_count(1)
    for action in ("ack", "shelve", "dispatch", "select"):
        expect(row.get_by_test_id(action)).to_have_count(0)
    expect(page.get_by_test_id("bulk-ack")).to_be_hidden()


def test_a_crew_token_on_the_console_is_sent_to_the_crew_page(
    served: Served, gateway: Gateway, browser: Browser
) -> None:
    """Defect 4: a crew token showed an error over "当前没有告警"."""
    errors: list[str] = []
    page = open_page(browser, served.url, "crew", errors=errors, live=False)
    notice = page.get_by_test_id("wrong-page")
    expect(notice).to_contain_text("维修班组")
    expect(notice.get_by_role("link")).to_have_attribute("href", "/crew")
    expect(page.get_by_test_id("alarms-empty")).to_have_count(0)
    expect(page.locator(".error")).to_have_count(0)
    assert errors == []


def test_messages_and_errors_in_the_page_language(served: Served, gateway: Gateway, browser: Browser) -> None:
    """Defect 5: "no alert 99999" and "(door_open_failure)" on a Chinese page; Chinese order titles
    and crew names on an English one."""
    feed(gateway, DOOR)
    page = open_page(browser, served.url, "operator")
    row = page.locator('[data-testid="alarm-row"]')
    expect(row.locator("td.message")).to_have_text("L1电梯开/关门故障（开门故障）")
    page.goto(f"{served.url}/#/alarm/99999")
    expect(page.get_by_test_id("error")).to_have_text("未找到：可能已删除或编号有误")
    alert = _alert(served, "lift.door_failure")
    served.call("POST", f"/api/alerts/{alert['id']}/dispatch", json={"crew": "lift-team"})
    english = open_page(browser, served.url, "operator", lang="en")
    expect(english.locator('[data-testid="alarm-row"] td.message')).to_contain_text("doors fail to open")
    english.goto(f"{served.url}/#/orders")
    card = english.locator('.board [data-testid="order-card"]')
    expect(card.get_by_test_id("order-title")).not_to_contain_text(re.compile(r"[\u4e00-\u9fff]"))
    expect(card.locator(".meta").first).to_contain_text("lift-team")
    expect(card.locator(".meta").first).not_to_contain_text(re.compile(r"[\u4e00-\u9fff]"))
    english.goto(f"{served.url}/#/alarm/99999")
    expect(english.get_by_test_id("error")).to_have_text("no alert 99999")


def test_a_shelved_alarm_shows_when_it_returns_and_whole_minutes_only(
    served: Served, gateway: Gateway, browser: Browser
) -> None:
    """Defect 9: no time of return was shown, and 2.5 minutes were accepted."""
    feed(gateway, DOOR)
    page = open_page(browser, served.url, "operator")
    row = page.locator('[data-testid="alarm-row"]')
    row.get_by_test_id("shelve").click()
    page.get_by_test_id("minutes").fill("2.5")
    page.get_by_test_id("reason").fill("维保在场")
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("dialog-error")).to_have_text("搁置时长须在 1 到 480 分钟之间。")
    alert = _alert(served, "lift.door_failure")
    assert alert["state"] == "active"
    page.get_by_test_id("minutes").fill("45")
    page.get_by_test_id("confirm").click()
    expect(row).to_have_attribute("data-state", "shelved")
    until = row.get_by_test_id("shelved-until")
    expect(until).to_contain_text("恢复")
    expect(until.get_by_test_id("countdown")).to_contain_text(re.compile(r"剩余 4[45]:\d\d"))
    shelved = _alert(served, "lift.door_failure")
    assert shelved["shelved_until"] is not None and shelved["shelve_reason"] == "维保在场"


def test_the_hatch_alarm_does_not_say_no_work_order_beside_its_order(
    served: Served, gateway: Gateway, browser: Browser
) -> None:
    """Defect 14: "（无工单）" beside the work order the rule had just created."""
    feed(gateway, HATCH)
    page = open_page(browser, served.url, "operator")
    row = page.locator('[data-testid="alarm-row"][data-rule="water.hatch_open"]')
    expect(row.get_by_test_id("order-link")).to_be_visible()
    expect(row.locator("td.message")).not_to_contain_text("无工单")
    expect(row.locator("td.message")).to_contain_text("计划作业")
