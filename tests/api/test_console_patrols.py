"""The patrol board in Debian's Chromium (issue 25 defect 12): a round whose window has begun is
under way, and one whose checkpoints came due unscanned says how many it missed so far (it
showed 未开始); plans are named in words with their route, not by a raw id."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, expect

from devices.clock import ManualClock
from gateway.service import Gateway
from tests.api.browser import Served, browser, needs_chromium, open_page, served, shot
from tests.api.conftest import tick

__all__ = ["browser", "served"]
pytestmark = needs_chromium

#: 08:25 in the estate: the first day round (06:00–10:00) had CP1 due at 08:00 (grace 10 min).
AT = datetime(2026, 12, 8, 8, 25, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(AT - timedelta(hours=3))


def test_a_round_under_way_with_a_missed_checkpoint_says_so(
    served: Served, gateway: Gateway, clock: ManualClock, browser: Browser
) -> None:
    tick(gateway)  # the tracker watches from 05:25
    clock.set(AT)
    tick(gateway)
    page = open_page(browser, served.url, "operator", live=False)
    page.clock.install(time=AT)
    page.goto(f"{served.url}/#/patrols")
    first = page.locator('[data-testid="round"][data-round="grounds/2026-12-08/day/1"]')
    expect(first).to_have_attribute("data-status", "in_progress")
    expect(first.get_by_test_id("round-status")).to_have_text("进行中 · 已漏检 1 点")
    later = page.locator('[data-testid="round"][data-round="grounds/2026-12-08/day/3"]')
    expect(later.get_by_test_id("round-status")).to_have_text("未开始")
    plan = page.get_by_test_id("plan-name").first
    expect(plan).to_contain_text("小区外围巡更")
    expect(plan).to_contain_text("CP1 → CP2")
    shot(page, "console-patrols-zh-1440")
