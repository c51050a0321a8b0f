"""The console's equipment ledger (设备台账, issue 26) in Debian's Chromium, on the sample estate
(devices/samples/sunrise.yaml): every asset listed, those without telemetry too (extinguishers, the
septic tank); an expired and an expiring certificate highlighted; an asset's page with its plans,
its planned and breakdown orders apart and a record made through the API; both languages without
raw codes; the CSV exports downloaded with the UTF-8 byte-order mark."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, Page, expect

from devices.clock import ManualClock
from devices.loader import load_inventory
from estate_gateway.cli import sample_inventory_path
from gateway.service import Gateway, build_gateway
from gateway.settings import Settings
from tests.api.browser import SHOTS, Served, browser, needs_chromium, open_page, served, wall_clock

__all__ = ["browser", "served"]
pytestmark = needs_chromium

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: Keys of the dictionary or enum values that would show if a translation were missing.
RAW = re.compile(
    r"\b(?:ledger|assetKind|interval|recordSource|certKind|nav)\.\w+|"
    r"\b(?:fire_extinguisher|hose_box|septic_tank|water_tank|lightning_rod|pump_room|power_room|"
    r"water\.cleaning|lift\.maintenance|on_site)\b"
)


@pytest.fixture
def clock() -> ManualClock:
    return wall_clock()


def _today(clock: ManualClock) -> date:
    return clock.now().astimezone(SHANGHAI).date()


@pytest.fixture
def gateway(tmp_path: Path, clock: ManualClock) -> Gateway:
    """The sample estate, its first lift's inspection certificate expired three days ago and the
    second's expiring in ten days (the sample's own run to 2027)."""
    data = yaml.safe_load(sample_inventory_path().read_text(encoding="utf-8"))
    today = _today(clock)
    expiry = {"L-B1-1": today - timedelta(days=3), "L-B1-2": today + timedelta(days=10)}
    for asset in data["estates"][0]["assets"]:
        if asset["id"] in expiry:
            asset["certificates"][0]["expires"] = expiry[asset["id"]]
    path = tmp_path / "sunrise.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    settings = Settings(
        mqtt_url="mqtt://127.0.0.1:9", data_dir=tmp_path, instance="ledger-test", mqtt_receiver="thread"
    )
    gw = build_gateway(settings, load_inventory(path), clock=clock)
    gw.alarms.start()
    gw.dispatcher.start()
    assert gw.ledger is not None
    gw.ledger.start()
    return gw


def _ledger(browser: Browser, served: Served, lang: str = "zh-CN", errors: list[str] | None = None) -> Page:
    page = open_page(browser, served.url, "operator", lang=lang, errors=errors)
    page.goto(f"{served.url}/#/ledger")
    return page


def _no_raw_codes(page: Page) -> None:
    text = page.locator("#main").inner_text()
    assert not RAW.findall(text), RAW.findall(text)[:10]


def test_the_ledger_lists_every_asset_and_highlights_certificates(
    served: Served, browser: Browser, clock: ManualClock
) -> None:
    errors: list[str] = []
    assets = served.call("GET", "/api/assets?estate=sunrise&limit=1000")
    assert len(assets) > 300 and any(not a["device"] for a in assets)
    page = _ledger(browser, served, errors=errors)
    rows = page.get_by_test_id("ledger-row")
    expect(rows).to_have_count(len(assets))
    expect(page.get_by_test_id("ledger-summary")).to_contain_text(f"共 {len(assets)} 项")
    # An asset without telemetry: listed with its kind in words and its next due.
    extinguisher = page.locator('[data-testid="ledger-row"][data-id="FE-B1"]')
    expect(extinguisher).to_contain_text("灭火器")
    expect(extinguisher).to_contain_text("B1栋各层灭火器")
    expect(extinguisher).to_contain_text("无监测")
    [listed] = [a for a in assets if a["id"] == "FE-B1"]
    assert listed["next_due"] > _today(clock).isoformat()  # its monthly check, counted from today
    expect(extinguisher.get_by_test_id("next-due")).to_have_text(listed["next_due"])
    expect(page.locator('[data-testid="ledger-row"][data-id="SEPTIC-1"]')).to_contain_text("化粪池")
    # The certificates: expired (red), expiring within 30 days (amber), valid (plain).
    expired = page.locator('[data-testid="ledger-row"][data-id="L-B1-1"] [data-testid="cert"]')
    expect(expired).to_have_attribute("data-state", "expired")
    expect(expired).to_have_class(re.compile(r"\bcert-expired\b"))
    expect(expired).to_contain_text("已过期 3 天")
    expiring = page.locator('[data-testid="ledger-row"][data-id="L-B1-2"] [data-testid="cert"]')
    expect(expiring).to_have_attribute("data-state", "expiring")
    expect(expiring).to_contain_text("10 天后到期")
    valid = page.locator('[data-testid="ledger-row"][data-id="L-B2-1"] [data-testid="cert"]')
    expect(valid).to_have_attribute("data-state", "valid")
    colours = [c.evaluate("e => getComputedStyle(e).backgroundColor") for c in (expired, expiring, valid)]
    assert len(set(colours)) == 3, colours  # each state looks different
    expect(page.locator('[data-testid="ledger-row"][data-id="L-B1-1"]')).to_contain_text("奥的斯 GeN2")
    expect(page.locator('[data-testid="ledger-row"][data-id="L-B1-1"]')).to_contain_text("王师傅")
    _no_raw_codes(page)
    page.screenshot(path=str(SHOTS / "console-ledger-zh-1440.png"))
    # Filters: by kind, and by text (in the words the page shows).
    page.get_by_test_id("ledger-kind").select_option("fire_extinguisher")
    expect(rows).to_have_count(6)
    page.get_by_test_id("ledger-search").fill("B3栋")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", "FE-B3")
    page.get_by_test_id("ledger-kind").select_option("")
    page.get_by_test_id("ledger-search").fill("化粪池")
    expect(rows).to_have_count(1)
    page.get_by_test_id("ledger-search").fill("没有这台设备")
    expect(rows).to_have_count(0)
    expect(page.locator("table.ledger .empty")).to_have_text("没有符合条件的设备。")
    assert errors == []


def test_the_asset_page_shows_a_record_made_through_the_api(served: Served, browser: Browser) -> None:
    record = served.call(
        "POST",
        "/api/assets/T1/records?estate=sunrise",
        json={
            "plan": "water.cleaning",
            "readings": {"chlorine_mg_l": 0.45, "turbidity_ntu": 0.3},
            "note": "清洗后取样送检",
        },
    )
    jpeg = b"\xff\xd8\xff\xe0" + b"x" * 2000
    put = httpx.put(
        f"{served.url}/api/assets/records/{record['id']}/photo",
        content=jpeg,
        headers={"Authorization": "Bearer operator", "Content-Type": "image/jpeg"},
        timeout=10,
    )
    assert put.status_code == 200, put.text
    page = _ledger(browser, served)
    page.locator('[data-testid="ledger-row"][data-id="T1"] [data-testid="asset-link"]').click()
    expect(page).to_have_url(re.compile(r"#/asset/T1\?estate=sunrise$"))
    row = page.locator(f'[data-testid="record-row"][data-id="{record["id"]}"]')
    expect(row).to_contain_text("水箱清洗消毒并取样检测")
    expect(row.get_by_test_id("record-readings")).to_have_text("余氯 0.45 mg/L；浊度 0.3 NTU")
    expect(row).to_contain_text("operator")
    expect(row).to_contain_text("清洗后取样送检")
    expect(row).to_contain_text(record["done_on"])
    expect(row).to_contain_text("班组记录")
    plan = page.locator('[data-testid="plan-row"][data-plan="water.cleaning"]')
    expect(plan).to_contain_text("6 个月")
    expect(plan.get_by_test_id("plan-due")).to_have_text(record["next_due"])
    expect(page.get_by_test_id("asset-title")).to_have_text("T1")
    # The photo: fetched with the token (a plain link could not send it) and opened in a tab.
    with page.expect_popup() as popup:
        row.get_by_test_id("photo-link").click()
    photo = popup.value
    photo.wait_for_url(re.compile(r"^blob:"))
    size = photo.evaluate("async () => (await (await fetch(location.href)).arrayBuffer()).byteLength")
    assert size == len(jpeg)
    photo.close()
    _no_raw_codes(page)


def test_the_asset_page_lists_planned_and_breakdown_orders_apart(
    served: Served, gateway: Gateway, browser: Browser, clock: ManualClock
) -> None:
    """A lift's planned order (made 3 days before its 15-day maintenance is due) apart from a
    breakdown, both on its page; the crew's record closes the planned one."""
    page = open_page(browser, served.url, "operator")
    clock.advance(timedelta(days=13))
    gateway.alarms.tick()
    orders = served.call("GET", "/api/maintenance/orders?estate=sunrise")
    assert len(orders) == 12  # each lift's
    [planned] = [o for o in orders if o["device"] == "L-B1-1"]
    report = {"estate": "sunrise", "device": "L-B1-1", "title": "B1栋1号客梯轿厢照明不亮"}
    breakdown = served.call("POST", "/api/workorders", json=report)  # a resident's report (报修)
    assert breakdown["kind"] == "breakdown"
    page.goto(f"{served.url}/#/asset/L-B1-1?estate=sunrise")
    expect(page.locator('[data-testid="planned-orders"] [data-testid="asset-order"]')).to_have_count(1)
    expect(page.locator(f'[data-testid="planned-orders"] [data-id="{planned["id"]}"]')).to_contain_text(
        "已派单"
    )
    breakdown_rows = page.locator('[data-testid="breakdown-orders"] [data-testid="asset-order"]')
    expect(breakdown_rows).to_have_count(1)
    expect(breakdown_rows).to_contain_text("轿厢照明不亮")
    expect(page.locator(f'[data-testid="breakdown-orders"] [data-id="{planned["id"]}"]')).to_have_count(0)
    expect(page.locator('[data-testid="plan-row"][data-plan="lift.maintenance"]')).to_contain_text(
        f"#{planned['id']}"
    )
    done = served.call(
        "POST", f"/api/maintenance/orders/{planned['id']}/record", token="crew", json={"note": "曳引机检查"}
    )
    page.reload()
    lift_record = page.locator(f'[data-testid="record-row"][data-id="{done["id"]}"]')
    expect(lift_record).to_contain_text("电梯半月维保")
    expect(lift_record).to_contain_text(f"#{planned['id']}")
    expect(lift_record).to_contain_text("crew")
    maintenance = page.locator('[data-testid="plan-row"][data-plan="lift.maintenance"]')
    expect(maintenance).to_contain_text(done["done_on"])  # its last visit: the record
    expect(maintenance.get_by_test_id("plan-due")).to_have_text(done["next_due"])
    inspection = page.locator('[data-testid="plan-row"][data-plan="lift.inspection"]')
    expect(inspection).to_contain_text("尚无记录")  # never visited: no date passed off as one
    expect(page.locator(f'[data-testid="planned-orders"] [data-id="{planned["id"]}"]')).to_contain_text(
        "已关闭"
    )
    # The certificate expired three days before the gateway's clock moved: still red here.
    expect(page.locator('[data-testid="asset"] [data-testid="cert"]')).to_have_attribute(
        "data-state", "expired"
    )
    _no_raw_codes(page)


def test_an_overdue_plan_is_highlighted_in_the_ledger_and_on_its_asset(
    served: Served, gateway: Gateway, browser: Browser, clock: ManualClock
) -> None:
    """Each lift's 15-day maintenance with no record: its order made on day 12, overdue on day 16.
    The extinguishers' monthly check, not yet due, is not."""
    clock.advance(timedelta(days=13))
    gateway.alarms.tick()
    clock.advance(timedelta(days=3))
    gateway.alarms.tick()
    listed = served.call("GET", "/api/assets?estate=sunrise&limit=1000")
    overdue = sorted(a["id"] for a in listed if a["overdue"])
    assert overdue == sorted(f"L-B{b}-{c}" for b in range(1, 7) for c in (1, 2))
    page = _ledger(browser, served)
    expect(page.get_by_test_id("ledger-summary")).to_contain_text("逾期 12 项")
    lift = page.locator('[data-testid="ledger-row"][data-id="L-B3-2"]')
    expect(lift).to_have_class(re.compile(r"\boverdue\b"))
    expect(lift.get_by_test_id("next-due")).to_have_attribute("data-overdue", "true")
    expect(lift.get_by_test_id("next-due")).to_contain_text("已逾期")
    extinguisher = page.locator('[data-testid="ledger-row"][data-id="FE-B1"]')
    expect(extinguisher.get_by_test_id("next-due")).to_have_attribute("data-overdue", "false")
    expect(extinguisher).not_to_have_class(re.compile(r"\boverdue\b"))
    lift.get_by_test_id("asset-link").click()
    due = page.locator('[data-testid="plan-row"][data-plan="lift.maintenance"] [data-testid="plan-due"]')
    expect(due).to_have_attribute("data-overdue", "true")
    colour = due.evaluate("e => getComputedStyle(e).color")
    inspection = page.locator(
        '[data-testid="plan-row"][data-plan="lift.inspection"] [data-testid="plan-due"]'
    )
    expect(inspection).to_have_attribute("data-overdue", "false")
    assert colour != inspection.evaluate("e => getComputedStyle(e).color")


def test_both_languages_render_without_raw_codes(served: Served, browser: Browser) -> None:
    served.call(
        "POST",
        "/api/assets/FE-B2/records?estate=sunrise",
        json={"plan": "fire.extinguisher_check", "note": "压力正常"},
    )
    page = _ledger(browser, served, lang="en")
    expect(page.get_by_test_id("ledger-row")).not_to_have_count(0)
    expect(page.locator("h1")).to_have_text("Equipment ledger")
    expect(page.locator('[data-testid="ledger-row"][data-id="FE-B1"]')).to_contain_text("Fire extinguisher")
    expect(page.locator('[data-testid="ledger-row"][data-id="FE-B1"]')).to_contain_text("No telemetry")
    expect(page.locator('[data-testid="ledger-row"][data-id="L-B1-1"]')).to_contain_text("expired 3 days ago")
    expect(page.locator('[data-testid="ledger-row"][data-id="L-B1-2"]')).to_contain_text("expires in 10 days")
    _no_raw_codes(page)
    page.screenshot(path=str(SHOTS / "console-ledger-en-1440.png"))
    page.goto(f"{served.url}/#/asset/FE-B2?estate=sunrise")
    expect(page.get_by_test_id("record-row")).to_have_count(1)
    expect(page.get_by_test_id("record-row")).to_contain_text("extinguisher monthly check")
    expect(page.get_by_test_id("record-row")).to_contain_text("Crew record")
    expect(page.locator('[data-testid="plan-row"]')).to_contain_text("1 months")
    _no_raw_codes(page)
    # Switched to Chinese on the page: the same asset in Chinese, nothing raw either.
    page.get_by_test_id("lang-switch").click()
    expect(page.get_by_test_id("record-row")).to_contain_text("灭火器月度检查")
    expect(page.locator('[data-testid="plan-row"]')).to_contain_text("1 个月")
    _no_raw_codes(page)


def test_the_csv_exports_download_with_the_utf8_bom(served: Served, browser: Browser, tmp_path: Path) -> None:
    record = served.call(
        "POST",
        "/api/assets/SEPTIC-1/records?estate=sunrise",
        json={"plan": "septic.inspection", "note": "液位正常"},
    )
    page = _ledger(browser, served)
    expect(page.get_by_test_id("ledger-row")).not_to_have_count(0)
    with page.expect_download() as download:
        page.get_by_test_id("ledger-csv").click()
    path = tmp_path / "ledger.csv"
    download.value.save_as(path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:2] == ["小区 estate", "编号 id"]
    by_id = {r[1]: r for r in rows[1:]}
    assert len(by_id) == page.get_by_test_id("ledger-row").count()
    assert by_id["FE-B1"][2] == "fire_extinguisher" and by_id["FE-B1"][5] == "B1栋各层灭火器"
    assert download.value.suggested_filename == "ledger-all.csv"
    with page.expect_download() as year_download:
        page.get_by_test_id("records-csv").click()
    path = tmp_path / "records.csv"
    year_download.value.save_as(path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    records = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [r[1:4] for r in records[1:]] == [["SEPTIC-1", "septic.inspection", "化粪池季度检查"]]
    assert records[1][9] == "液位正常" and records[1][4] == record["done_on"]


def test_only_roles_that_read_assets_get_the_ledger(served: Served, browser: Browser) -> None:
    operator = open_page(browser, served.url, "operator")
    expect(operator.locator('#header [data-nav="#/ledger"]')).to_have_count(1)
    simulator = open_page(browser, served.url, "simulator")
    assert "assets:read" not in served.call("GET", "/api/me", token="simulator")["can"]
    expect(simulator.locator('#header [data-nav="#/ledger"]')).to_have_count(0)
    simulator.goto(f"{served.url}/#/ledger")
    expect(simulator).to_have_url(f"{served.url}/#/alarms")
    expect(simulator.get_by_test_id("ledger-row")).to_have_count(0)
