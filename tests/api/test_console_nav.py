"""Role-aware navigation (issue 25): each role sees in the console's header only the views its
token may use, as ``GET /api/me`` says, and a link to any other view lands on its first view
instead of failing under an error — in Debian's Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.api.browser import Served, browser, needs_chromium, open_page, served

__all__ = ["browser", "served"]
pytestmark = needs_chromium

EVERY = ["#/alarms", "#/plan", "#/overview", "#/patrols", "#/orders", "#/journal", "#/handover", "#/kpis"]
EVERY_MORE = ["#/ledger", "#/windows", "#/report", "#/deadletters", "#/wall"]
#: token → (main navigation, under "more").
SEEN = {
    "operator": (EVERY, EVERY_MORE),
    "admin": (EVERY, EVERY_MORE),
    "manager": (EVERY, EVERY_MORE),  # reads everything, acts on none of the alarms (buttons hidden)
    "simulator": (
        ["#/alarms", "#/plan", "#/overview", "#/patrols", "#/orders"],
        ["#/windows", "#/deadletters", "#/wall"],
    ),
}


@pytest.mark.parametrize("token", sorted(SEEN))
def test_each_role_sees_only_the_views_it_may_use(served: Served, browser: Browser, token: str) -> None:
    main, more = SEEN[token]
    can = set(served.call("GET", "/api/me", token=token)["can"])
    page = open_page(browser, served.url, token)
    nav = page.locator("#header nav > a[data-nav]")
    expect(nav).to_have_count(len(main))
    assert [a.get_attribute("data-nav") for a in nav.all()] == main
    under = page.locator("#header .more-menu a[data-nav]")
    assert [a.get_attribute("data-nav") for a in under.all()] == more
    if "journal:read" not in can:
        # A bookmark to a view it may not use: its first view, no error.
        page.goto(f"{served.url}/#/journal")
        expect(page).to_have_url(f"{served.url}/#/alarms")
        expect(page.get_by_test_id("filter-search")).to_be_visible()  # the alarm list
        expect(page.locator("#main .error")).to_have_count(0)


def test_a_crew_token_on_the_console_gets_no_views_but_its_page(served: Served, browser: Browser) -> None:
    page = open_page(browser, served.url, "crew", live=False)
    expect(page.get_by_test_id("wrong-page")).to_be_visible()
    expect(page.locator("#header nav a[data-nav]")).to_have_count(0)
