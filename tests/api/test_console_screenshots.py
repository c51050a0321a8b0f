"""Every view of the console in both languages at 1440 and 1024 px, and the crew page at 390 px, in
Debian's Chromium (issue 25): each is drawn without a page error and saved under docs/screenshots/
(linked from the README: docs/screenshots/README.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from devices.clock import ManualClock
from gateway.service import Gateway
from tests.api.browser import SHOTS, Served, browser, needs_chromium, open_page, served, wall_clock
from tests.api.conftest import feed

__all__ = ["browser", "served"]
pytestmark = needs_chromium

#: name → the hash it is at (ids filled in once the data exists).
VIEWS = {
    "alarms": "#/alarms",
    "alarm": "#/alarm/{alert}",
    "plan": "#/plan",
    "overview": "#/overview",
    "device": "#/device/sunrise/T1",
    "patrols": "#/patrols",
    "orders": "#/orders",
    "order": "#/order/{order}",
    "journal": "#/journal",
    "handovers": "#/handover",
    "handover": "#/handover/{handover}",
    "windows": "#/windows",
    "report": "#/report",
    "deadletters": "#/deadletters",
    "wall": "#/wall",
    "kpis": "#/kpis",
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(wall_clock().now() - timedelta(hours=2))


def _seed(served: Served, gateway: Gateway, clock: ManualClock) -> dict[str, int]:
    for i in range(12):
        feed(
            gateway,
            (
                "estate/sunrise/water_tank/T1/telemetry",
                {"level_pct": 60.0 + i, "chlorine_mg_l": 0.5 - i * 0.02},
            ),
        )
        clock.advance(timedelta(minutes=10))
    feed(
        gateway,
        ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "entrapment"}),
        ("estate/sunrise/water_tank/T1/event", {"type": "hatch_open"}),
        ("estate/sunrise/access/D1/event", {"type": "forced_open"}),
        ("estate/sunrise/lift/L1/telemetry", b"{oops"),
    )
    orders = served.call("GET", "/api/workorders", params={"crew": "lift-team"})
    served.call("POST", f"/api/workorders/{orders[0]['id']}/accept", token="crew", json={"note": "十分钟到"})
    alert = served.call("GET", "/api/alerts")[0]["id"]
    served.call(
        "POST", "/api/workorders", json={"estate": "sunrise", "trade": "water", "title": "B1 地下室漏水"}
    )
    handover = served.call("POST", "/api/handovers", json={"notes": "L1 困人已派单，维保在途"})["id"]
    served.call("POST", f"/api/handovers/{handover}/sign", token="admin", json={"note": "收到"})
    served.call(
        "POST",
        "/api/maintenance-windows",
        json={
            "estate": "sunrise",
            "device": "L1",
            "start": "2030-01-01T08:00:00+08:00",
            "end": "2030-01-01T12:00:00+08:00",
            "reason": "年检",
        },
    )
    return {"alert": alert, "order": int(orders[0]["id"]), "handover": handover}


def _settle(page: Page) -> None:
    """Drawn: something in the view, and nothing still loading."""
    expect(page.locator("#main > *").first).to_be_visible()
    expect(page.get_by_text("加载中…").or_(page.get_by_text("Loading…"))).to_have_count(0, timeout=10_000)


def test_every_view_in_both_languages_at_two_widths(
    served: Served, gateway: Gateway, clock: ManualClock, browser: Browser
) -> None:
    ids = _seed(served, gateway, clock)
    errors: list[str] = []
    SHOTS.mkdir(parents=True, exist_ok=True)
    for lang, short in (("zh-CN", "zh"), ("en", "en")):
        for width in (1440, 1024):
            page = open_page(browser, served.url, "operator", lang=lang, width=width, errors=errors)
            for name, target in VIEWS.items():
                page.goto(f"{served.url}/{target.format(**ids)}")
                _settle(page)
                page.screenshot(path=str(SHOTS / f"console-{name}-{short}-{width}.png"))
            page.close()
        crew = open_page(
            browser, f"{served.url}/crew", "crew", lang=lang, width=390, height=844, errors=errors
        )
        expect(crew.locator('[data-testid="order-card"]').first).to_be_visible()
        crew.screenshot(path=str(SHOTS / f"crew-{short}-390.png"), full_page=True)
        crew.close()
    assert errors == []
