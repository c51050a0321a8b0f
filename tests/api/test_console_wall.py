"""The wall screen's KPIs (issue 25, 大屏): lamp 完好率, camera online rate and lift availability
next to the alarm and order figures, for the estate on screen, rotating through the estates — in
Debian's Chromium, against the figures the API gives (docs/contract.md §8.1)."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, Page, expect

from devices.clock import ManualClock
from devices.loader import load_inventory
from gateway.service import Gateway, build_gateway
from gateway.settings import Settings
from tests.api.browser import Served, browser, needs_chromium, open_page, served, shot, wall_clock
from tests.api.conftest import feed
from tests.support.gateway import SPEC_EXAMPLE

__all__ = ["browser", "served"]
pytestmark = needs_chromium

ROTATE_MS = 15_000  # api/static/site.js
TRAPPED = ("estate/harbour/lift/L1/event", {"type": "fault", "code": "entrapment"})


@pytest.fixture
def clock() -> ManualClock:
    return wall_clock()


@pytest.fixture
def gateway(tmp_path: Path, clock: ManualClock) -> Gateway:
    """Two estates: the spec example's 朝阳小区 and a copy of it, 港湾花园."""
    spec = yaml.safe_load(SPEC_EXAMPLE.read_text(encoding="utf-8"))
    harbour = copy.deepcopy(spec["estates"][0])
    harbour["id"], harbour["name"] = "harbour", "港湾花园"
    spec["estates"].append(harbour)
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    settings = Settings(
        mqtt_url="mqtt://127.0.0.1:9", data_dir=tmp_path, instance="api-test", mqtt_receiver="thread"
    )
    gw = build_gateway(settings, load_inventory(path), clock=clock)
    gw.alarms.start()
    gw.dispatcher.start()
    yield gw  # type: ignore[misc]
    gw.stop()


def _expected(served: Served, estate: str) -> dict[str, str]:
    """The figures the wall should show for an estate, from the API."""
    summary = served.call("GET", f"/api/estates/{estate}/summary")
    days = [
        d
        for d in served.call("GET", f"/api/kpis/daily?estate={estate}")["days"]
        if d["lift_availability_pct"] is not None
    ]

    def pct(rate: Any) -> str:
        return "—" if rate is None else f"{round(rate * 1000) / 10:g}%"

    return {
        "lamp": pct(summary["lamps"]["intact_rate"]),
        "camera": pct(summary["cameras"]["online_rate"]),
        "lift": f"{days[-1]['lift_availability_pct']:g}%" if days else "—",
    }


def _shown(page: Page) -> dict[str, str]:
    return {
        k: page.get_by_test_id(f"wall-kpi-{k}").locator(".wall-number").inner_text()
        for k in ("lamp", "camera", "lift")
    }


def test_the_wall_shows_each_estates_kpis_in_turn(
    served: Served, gateway: Gateway, clock: ManualClock, browser: Browser
) -> None:
    today = clock.now().astimezone(gateway.inventory.estates[0].tz).date()
    # Yesterday: harbour's lift trapped someone for two hours, sunrise's ran all day.
    local_start = clock.now()
    clock.set(local_start - timedelta(hours=20))
    feed(gateway, TRAPPED)
    clock.set(local_start - timedelta(hours=18))
    feed(gateway, ("estate/harbour/lift/L1/event", {"type": "fault_cleared", "code": "entrapment"}))
    clock.set(local_start)
    served.call(
        "POST",
        "/api/kpis/rollups",
        token="admin",
        json={"start": (today - timedelta(days=3)).isoformat(), "stop": today.isoformat()},
    )
    sunrise, harbour = _expected(served, "sunrise"), _expected(served, "harbour")
    assert sunrise["lift"] == "100%" and harbour["lift"] not in ("—", "100%"), (sunrise, harbour)

    page = open_page(browser, served.url, "operator", width=1920, height=1080)
    page.clock.install()
    page.goto(f"{served.url}/#/wall")
    heading = page.locator(".wall-head h1")
    expect(heading).to_have_text("朝阳小区")
    expect(page.get_by_test_id("wall-kpi-lift").locator(".wall-number")).to_have_text(sunrise["lift"])
    assert _shown(page) == sunrise
    expect(page.get_by_test_id("wall-kpi-lamp")).to_contain_text("路灯完好率")
    expect(page.get_by_test_id("wall-kpi-lift")).to_contain_text("电梯可用率")
    expect(page.get_by_test_id("wall-critical")).to_be_visible()  # next to the alarm figures
    shot(page, "console-wall-zh-1920")

    page.clock.run_for(ROTATE_MS)
    expect(heading).to_have_text("港湾花园")
    expect(page.get_by_test_id("wall-kpi-lift").locator(".wall-number")).to_have_text(harbour["lift"])
    assert _shown(page) == harbour

    page = open_page(browser, f"{served.url}/#/wall", "operator", lang="en", width=1920, height=1080)
    expect(page.get_by_test_id("wall-kpi-camera")).to_contain_text("Cameras online")
    expect(page.get_by_test_id("wall-kpi-lift")).to_contain_text("Lift availability")
    shot(page, "console-wall-en-1920")
