"""History notes the gateway writes, in the page's language (issue 25, "every message the product
writes exists in both languages"), crews and patrol plans by their display names in both languages,
and the crew page's notes under each order — in Debian's Chromium."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, expect

from devices.clock import ManualClock
from devices.loader import load_inventory
from gateway.service import Gateway, build_gateway
from gateway.settings import Settings
from tests.api.browser import Served, browser, needs_chromium, open_page, served, shot, wall_clock
from tests.api.conftest import feed
from tests.support.gateway import SPEC_EXAMPLE

__all__ = ["browser", "served"]
pytestmark = needs_chromium

TRAPPED = ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "entrapment"})
DOOR = ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "door_open_failure"})


@pytest.fixture
def clock() -> ManualClock:
    return wall_clock()


@pytest.fixture
def gateway(tmp_path: Path, clock: ManualClock) -> Gateway:
    """The API tests' gateway, its inventory giving crews and the patrol plan display names."""
    spec = yaml.safe_load(SPEC_EXAMPLE.read_text(encoding="utf-8"))
    names = {"lift-team": ("电梯维保组", "Lift crew"), "electric-team": ("强电组", "Electrical crew")}
    for crew in spec["crews"]:
        if crew["id"] in names:
            crew["name"], crew["name_en"] = names[crew["id"]]
    [plan] = spec["estates"][0]["patrols"]
    plan["name"], plan["name_en"] = "园区巡更", "Grounds round"
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


def _history(served: Served, order_id: int) -> list[dict[str, Any]]:
    return list(served.call("GET", f"/api/workorders/{order_id}")["history"])


def _missed_and_reassigned(served: Served, gateway: Gateway, clock: ManualClock) -> tuple[int, int]:
    """An entrapment sent to the lift crew by itself, its accept deadline missed, accepted with a
    note, then reassigned to the electricians (another trade): (alert id, order id)."""
    feed(gateway, TRAPPED)
    [alert] = served.call("GET", "/api/alerts")
    [order] = served.call("GET", "/api/workorders")
    clock.set(datetime.fromisoformat(str(order["deadlines"]["accept"])) + timedelta(seconds=1))
    gateway.alarms.tick()
    served.call("POST", f"/api/workorders/{order['id']}/accept", token="crew", json={"note": "十分钟到"})
    served.call(
        "POST", f"/api/workorders/{order['id']}/reassign", json={"crew": "electric-team", "note": "就近"}
    )
    return int(alert["id"]), int(order["id"])


def test_notes_the_gateway_writes_are_stored_as_codes_and_shown_in_both_languages(
    served: Served, gateway: Gateway, clock: ManualClock, browser: Browser
) -> None:
    alert_id, order_id = _missed_and_reassigned(served, gateway, clock)
    history = {e["action"]: e for e in _history(served, order_id)}
    # The API keeps the text for its clients and old rows, and gives the code with its parameters.
    breach = history["breach"]
    assert breach["code"] == "deadlineMissed" and breach["params"]["step"] == "accept"
    assert breach["note"] == f"accept deadline {breach['params']['time']} missed"
    assert history["assign"]["code"] == "assigned" and history["assign"]["params"] == {"crew": "lift-team"}
    assert history["reassign"]["params"]["otherTrade"] == "lift"
    assert history["reassign"]["params"]["why"] == "就近"
    assert "code" not in history["accept"]  # a person's note is theirs, as typed
    # Stored so: a gateway built anew on the same database reads the codes back.
    gateway.dispatcher.live.clear()
    stored = gateway.dispatcher.store.get(order_id)
    assert stored is not None
    assert [e.code for e in stored.history if e.action.value == "breach"] == ["deadlineMissed"]

    time = breach["params"]["time"]
    page = open_page(browser, f"{served.url}/#/order/{order_id}", "operator")
    table = page.get_by_test_id("history")
    expect(table).to_contain_text(f"接单时限 {time} 已超")
    expect(table).to_contain_text("派给 电梯维保组")
    expect(table).to_contain_text("电梯维保组 → 强电组（非电梯班组）；接单")
    expect(table).to_contain_text("来源：告警自动派单")
    expect(table).not_to_contain_text("deadline")
    expect(table).not_to_contain_text("lift-team")
    shot(page, "console-order-notes-zh-1440")
    page.goto(f"{served.url}/#/alarm/{alert_id}")
    expect(page.get_by_test_id("history")).to_contain_text(f"工单 #{order_id}")

    page = open_page(browser, f"{served.url}/#/order/{order_id}", "operator", lang="en")
    table = page.get_by_test_id("history")
    expect(table).to_contain_text(f"Accept deadline {time} missed")
    expect(table).to_contain_text("assigned to Lift crew")
    expect(table).to_contain_text("Lift crew → Electrical crew (not a Lift crew)")
    expect(table).to_contain_text("source: alarm (automatic)")
    expect(table).not_to_contain_text("电梯")
    expect(page.get_by_test_id("order-card")).to_contain_text("Electrical crew")
    page.goto(f"{served.url}/#/alarm/{alert_id}")
    expect(page.get_by_test_id("history")).to_contain_text(f"work order #{order_id}")


def test_an_old_plain_text_note_still_reads_and_an_unknown_code_shows_its_text(
    served: Served, gateway: Gateway, clock: ManualClock, browser: Browser
) -> None:
    """Rows written before codes (text only) and codes newer than the page: the text, translated
    where the page knows it."""
    _, order_id = _missed_and_reassigned(served, gateway, clock)
    page = open_page(browser, f"{served.url}/#/order/{order_id}", "operator")
    expect(page.get_by_test_id("history")).to_contain_text("接单时限")

    def old(route: Any) -> None:
        body = route.fetch().json()
        for entry in body["history"]:
            if entry["action"] == "breach":
                entry.pop("code"), entry.pop("params")  # an old row: text only
            if entry["action"] == "assign":
                entry["code"] = "newerThanThisPage"
        route.fulfill(json=body)

    page.route(f"**/api/workorders/{order_id}", old)
    page.reload()
    table = page.get_by_test_id("history")
    expect(table).to_contain_text("接单时限")  # the old English text, said in Chinese by its pattern
    expect(table).to_contain_text("lift-team")  # the unknown code: its text


def test_the_crew_page_shows_each_orders_notes_in_its_language(
    served: Served, gateway: Gateway, clock: ManualClock, browser: Browser
) -> None:
    feed(gateway, DOOR)
    [alert] = served.call("GET", "/api/alerts")
    order = served.call("POST", f"/api/alerts/{alert['id']}/dispatch", json={"crew": "lift-team"})
    served.call("POST", f"/api/workorders/{order['id']}/accept", token="crew", json={"note": "十分钟到"})
    # The list gives the history only when asked (the crew page asks).
    assert "history" not in served.call("GET", "/api/workorders", token="crew")[0]
    [listed] = served.call("GET", "/api/workorders?with_history=true", token="crew")
    assert [e["action"] for e in listed["history"]][-1] == "accept"

    page = open_page(browser, f"{served.url}/crew", "crew", width=390, height=844)
    card = page.locator(f'[data-testid="order-card"][data-order-id="{order["id"]}"]')
    notes = card.get_by_test_id("card-notes")
    expect(notes).to_contain_text("接单 · crew：十分钟到")
    # Live: the order is reassigned to them again with a reason (a note the gateway writes, in
    # words), then the crew arrives.
    served.call("POST", f"/api/workorders/{order['id']}/reassign", json={"crew": "lift-team", "note": "再派"})
    expect(notes).to_contain_text("电梯维保组 → 电梯维保组")
    served.call("POST", f"/api/workorders/{order['id']}/accept", token="crew")
    served.call("POST", f"/api/workorders/{order['id']}/arrive", token="crew", json={"note": "已到现场"})
    expect(notes.get_by_test_id("crew-note")).to_have_count(3)
    expect(notes.get_by_test_id("crew-note").first).to_contain_text("已到现场")  # newest first
    shot(page, "crew-notes-zh-390")

    page = open_page(browser, f"{served.url}/crew", "crew", lang="en", width=390, height=844)
    notes = page.locator(f'[data-testid="order-card"][data-order-id="{order["id"]}"]').get_by_test_id(
        "card-notes"
    )
    expect(notes).to_contain_text("Lift crew → Lift crew")
    expect(notes).to_contain_text("accepted · crew：十分钟到")
    expect(page.locator(".brand")).to_contain_text("Lift crew")
    shot(page, "crew-notes-en-390")


def test_patrol_plans_show_their_names_in_both_languages(
    served: Served, gateway: Gateway, browser: Browser
) -> None:
    plans = served.call("GET", "/api/patrols/plans")
    assert plans == [
        {
            "estate": "sunrise",
            "id": "grounds",
            "name": "园区巡更",
            "name_en": "Grounds round",
            "route": ["CP1", "CP2"],
        }
    ]
    assert served.call_status("GET", "/api/patrols/plans", token="crew") == 403
    for lang, name in (("zh-CN", "园区巡更"), ("en", "Grounds round")):
        page = open_page(browser, f"{served.url}/#/patrols", "operator", lang=lang)
        expect(page.get_by_test_id("plan-name").first).to_contain_text(name)
        page.close()
