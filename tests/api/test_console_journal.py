"""The journal, the shift handover and the alarm list's tools in Debian's Chromium (issue 25): a
handover written, signed by the next operator and printed; the journal's CSV downloaded and read
back (UTF-8 with a byte-order mark, Chinese intact); filters, search, sorting, per-severity counts
and one acknowledgement for many alarms."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from devices.clock import ManualClock
from gateway.service import Gateway
from tests.api.browser import Served, browser, needs_chromium, open_page, served, shot, wall_clock
from tests.api.conftest import feed

__all__ = ["browser", "served"]
pytestmark = needs_chromium

LIFT_EVENT = "estate/sunrise/lift/L1/event"
DOOR = (LIFT_EVENT, {"type": "fault", "code": "door_open_failure"})
DOOR_CLEARED = (LIFT_EVENT, {"type": "fault_cleared", "code": "door_open_failure"})
HATCH = ("estate/sunrise/water_tank/T1/event", {"type": "hatch_open"})
OVERSPEED = (LIFT_EVENT, {"type": "fault", "code": "overspeed"})


@pytest.fixture
def clock() -> ManualClock:
    return wall_clock()


def test_a_handover_written_signed_by_the_next_operator_and_printed(
    served: Served, gateway: Gateway, browser: Browser
) -> None:
    feed(gateway, DOOR, HATCH)
    outgoing = open_page(browser, served.url, "operator")
    outgoing.goto(f"{served.url}/#/handover")
    outgoing.get_by_test_id("handover-write").click()
    outgoing.get_by_test_id("handover-notes").fill("T1 水箱人孔待物业核实；L1 维保明早到")
    outgoing.get_by_test_id("confirm").click()
    handover = outgoing.get_by_test_id("handover")
    expect(outgoing.get_by_test_id("handover-signer")).to_have_text("未签收")
    expect(outgoing.get_by_test_id("handover-sign")).to_have_count(0)  # not by its writer
    expect(handover.locator('[data-section="open_alarms"] li')).to_have_count(2)
    hid = outgoing.url.rsplit("/", 1)[1]

    incoming = open_page(browser, served.url, "admin")  # the next shift's operator
    incoming.goto(f"{served.url}/#/handover")
    row = incoming.locator(f'[data-testid="handover-row"][data-id="{hid}"]')
    expect(row).to_contain_text("未签收")
    row.get_by_role("link").click()
    incoming.get_by_test_id("handover-sign").click()
    incoming.get_by_test_id("note").fill("已阅，接班")
    incoming.get_by_test_id("confirm").click()
    expect(incoming.get_by_test_id("handover-signer")).to_contain_text("admin 于")
    expect(incoming.get_by_test_id("handover-writer")).to_contain_text("operator ·")
    # Printed: the print layout hides the console around it and keeps both names and the notes.
    incoming.emulate_media(media="print")
    expect(incoming.locator("header.topbar")).to_be_hidden()
    expect(incoming.get_by_test_id("handover-sign")).to_have_count(0)
    printable = incoming.get_by_test_id("handover").inner_text()
    assert "operator" in printable and "admin 于" in printable and "L1 维保明早到" in printable
    pdf = incoming.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 5_000
    shot(incoming, "console-handover-print-zh")
    stored = served.call("GET", f"/api/handovers/{hid}")
    assert (stored["written_by"], stored["signed_by"], stored["sign_note"]) == (
        "operator",
        "admin",
        "已阅，接班",
    )


def test_the_journal_lists_a_period_and_exports_csv_that_excel_reads(
    served: Served, gateway: Gateway, browser: Browser, tmp_path: Path
) -> None:
    feed(gateway, DOOR, DOOR_CLEARED)
    [alert] = served.call("GET", "/api/alerts")
    served.call("POST", f"/api/alerts/{alert['id']}/ack", json={"note": "已复位"})  # cleared + acked: closed
    page = open_page(browser, served.url, "operator")
    page.goto(f"{served.url}/#/journal")
    row = page.locator(f'[data-testid="journal-row"][data-type="alert"][data-id="{alert["id"]}"]')
    expect(row).to_contain_text("L1电梯开/关门故障（开门故障）")
    page.get_by_test_id("journal-search").fill("没有这条")
    page.get_by_test_id("journal-show").click()
    expect(page.get_by_test_id("journal-row")).to_have_count(0)
    page.get_by_test_id("journal-search").fill("")
    page.get_by_test_id("journal-show").click()
    expect(row).to_be_visible()
    with page.expect_download() as download:
        page.get_by_test_id("journal-csv").click()
    path = tmp_path / "journal.csv"
    download.value.save_as(path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads it as UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    [found] = [r for r in rows if r["编号"] == str(alert["id"])]
    assert (found["类型"], found["设备"], found["确认人/班组"]) == ("alert", "L1", "operator")
    assert found["内容"] == "L1电梯开/关门故障（开门故障）"
    shot(page, "console-journal-zh-1440")


def test_filters_search_sorting_counts_and_one_acknowledgement_for_many(
    served: Served, gateway: Gateway, browser: Browser
) -> None:
    feed(gateway, DOOR, HATCH, OVERSPEED)
    page = open_page(browser, served.url, "operator")
    rows = page.locator('[data-testid="alarm-row"]')
    expect(rows).to_have_count(3)
    expect(page.get_by_test_id("count-major")).to_have_attribute("data-n", "2")
    page.get_by_test_id("filter-kind").select_option("water_tank")
    expect(rows).to_have_count(1)
    page.get_by_test_id("filter-kind").select_option("")
    page.get_by_test_id("filter-search").fill("超速")
    expect(rows).to_have_count(1)
    page.get_by_test_id("filter-search").fill("")
    page.get_by_test_id("count-critical").click()  # a severity's count filters by it
    expect(rows).to_have_count(int(page.get_by_test_id("count-critical").get_attribute("data-n") or 0))
    page.get_by_test_id("count-critical").click()
    expect(rows).to_have_count(3)
    page.locator('th[data-sort="alarms.device"]').click()
    devices = rows.evaluate_all("rs => rs.map(r => r.querySelector('[data-testid=device-link]').textContent)")
    assert devices == sorted(devices)
    page.locator('th[data-sort="alarms.device"]').click()
    devices = rows.evaluate_all("rs => rs.map(r => r.querySelector('[data-testid=device-link]').textContent)")
    assert devices == sorted(devices, reverse=True)
    boxes = page.get_by_test_id("select")
    for i in range(boxes.count()):
        boxes.nth(i).check()
    page.get_by_test_id("bulk-ack").click()
    page.get_by_test_id("note").fill("夜班统一确认")
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("alarm-summary")).to_contain_text("0 条待确认")
    acked = [a for a in served.call("GET", "/api/alerts") if a["acknowledged_by"] == "operator"]
    assert len(acked) == boxes.count() or len(acked) >= 2
    for a in acked:
        assert served.call("GET", f"/api/alerts/{a['id']}")["history"][-1]["note"] in ("夜班统一确认", "")
