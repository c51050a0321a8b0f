"""The operator story in a real browser (issue 6, acceptance 2): Debian's headless Chromium, driven
by Playwright, against ``estate-gateway run`` and real mosquitto.

A lift door fault is published → the alarm appears in the console live, without a reload → the operator
acknowledges and dispatches it → on the crew page the lift crew accepts, arrives and resolves →
the lift reports the fault cleared and the order closes. Screenshots of both pages (in both
languages) are saved under ``artifacts/screenshots/``.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.api.browser import browser, needs_chromium
from tests.support.gateway import REPO, GatewayProcess, Publisher
from tests.support.servers import MosquittoServer, wait_until

SHOTS = REPO / "artifacts" / "screenshots"
OPERATOR, CREW = "operator-token-for-the-console", "crew-token-for-the-lift-team"
TOKENS = f"""\
tokens:
  - {{name: 值班员小李, role: operator, token: "{OPERATOR}"}}
  - {{name: 王师傅, role: crew, crew: lift-team, token: "{CREW}"}}
"""
DOOR_FAULT = ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "door_open_failure"})
DOOR_CLEARED = ("estate/sunrise/lift/L1/event", {"type": "fault_cleared", "code": "door_open_failure"})
# Locally a machine without chromium skips this; in CI (scripts/check.sh installs it) it must run.
pytestmark = needs_chromium
__all__ = ["browser"]  # the fixture: Debian's chromium with the flags it needs offline


def _login(page: Page, url: str, token: str, errors: list[str]) -> None:
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.get_by_test_id("login-token").fill(token)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("stream-status")).to_have_attribute("data-state", "connected", timeout=10_000)


def _shot(page: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _console_sees_acks_and_dispatches(
    console: Page, proc: GatewayProcess, publisher: Publisher
) -> dict[str, Any]:
    """A fault is published; the alarm appears without a reload; acknowledged, then dispatched."""
    row = console.locator('[data-testid="alarm-row"][data-rule="lift.door_failure"]')
    sent = time.monotonic()
    publisher.send(*DOOR_FAULT)
    expect(row).to_be_visible(timeout=10_000)
    # The figure is printed, not asserted: the 1 s target is measured by benchmarks/alert_latency.py
    # (a timed assertion failed on a busy CI machine at 2.3 s, which says nothing of the console).
    print(f"fault published → alarm row visible in the console: {(time.monotonic() - sent) * 1000:.0f} ms")
    expect(row).to_have_attribute("data-state", "active")

    row.get_by_test_id("ack").click()
    console.get_by_test_id("note").fill("已通知维保")
    console.get_by_test_id("confirm").click()
    expect(row).to_have_attribute("data-state", "acknowledged")
    row.get_by_test_id("dispatch").click()
    console.get_by_test_id("confirm").click()  # the crew left empty: the on-duty crew
    wait_until(lambda: proc.api("/api/workorders"), timeout=10)
    [order] = proc.api("/api/workorders")
    assert (order["crew"], order["rule"], order["source"]) == ("lift-team", "lift.door_failure", "operator")
    expect(row).to_contain_text(str(order["id"]))
    acked = proc.api(f"/api/alerts/{order['alert']}")
    assert (acked["acknowledged_by"], acked["history"][1]["note"]) == ("值班员小李", "已通知维保")
    return order


def _crew_steps_through(crew: Page, proc: GatewayProcess, order: dict[str, Any]) -> None:
    """The lift crew accepts, arrives and resolves, each with a note."""
    card = crew.locator(f'[data-testid="order-card"][data-order-id="{order["id"]}"]')
    expect(card).to_be_visible()
    expect(card.get_by_test_id("countdown").first).to_be_visible()
    _shot(crew, "crew-page-new-order-zh")  # with the countdown to its deadline
    for step, state in (("accept", "accepted"), ("arrive", "on_site"), ("resolve", "resolved")):
        card.get_by_test_id("order-note").fill(f"{step} — 王师傅")
        card.get_by_test_id(step).click()
        if step == "resolve":  # it asks first (issue 25)
            crew.get_by_test_id("confirm").click()
        expect(card).to_have_attribute("data-state", state)
    history = proc.api(f"/api/workorders/{order['id']}")["history"]
    assert [(h["action"], h["by"], h["note"]) for h in history][-3:] == [
        ("accept", "王师傅", "accept — 王师傅"),
        ("arrive", "王师傅", "arrive — 王师傅"),
        ("resolve", "王师傅", "resolve — 王师傅; 等待设备遥测确认恢复 / waiting for the device's telemetry"),
    ]


def test_operator_story_in_the_browser(tmp_path: Path, mosquitto: MosquittoServer, browser: Browser) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(TOKENS, encoding="utf-8")
    env = {"ESTATE_MQTT_URL": mosquitto.url, "ESTATE_TOKENS_FILE": str(tokens)}
    proc = GatewayProcess(tmp_path / "gw", env)
    proc.start()
    publisher = Publisher(mosquitto.host, mosquitto.port)
    errors: list[str] = []
    try:
        console = browser.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        _login(console, f"{proc.url}/", OPERATOR, errors)
        order = _console_sees_acks_and_dispatches(console, proc, publisher)
        console_shot = _shot(console, "console-alarms-zh")

        crew = browser.new_page(viewport={"width": 420, "height": 860}, locale="zh-CN")
        _login(crew, f"{proc.url}/crew", CREW, errors)
        _crew_steps_through(crew, proc, order)
        crew_shot = _shot(crew, "crew-page-zh")

        # The lift says the door works again: the order closes, live on the crew page.
        publisher.send(*DOOR_CLEARED)
        card = crew.locator(f'[data-testid="order-card"][data-order-id="{order["id"]}"]')
        expect(card).to_have_attribute("data-state", "closed", timeout=10_000)
        console.goto(f"{proc.url}/#/orders")
        board_card = console.locator(f'[data-testid="order-card"][data-order-id="{order["id"]}"]')
        expect(board_card).to_have_attribute("data-state", "closed")
        _shot(console, "console-orders-zh")

        # English: the same pages, switched.
        crew.get_by_test_id("lang-switch").click()
        expect(crew.locator("html")).to_have_attribute("lang", "en")
        _shot(crew, "crew-page-en")
        console.goto(f"{proc.url}/#/alarms")
        console.get_by_test_id("lang-switch").click()
        expect(console.locator("html")).to_have_attribute("lang", "en")
        _shot(console, "console-alarms-en")
        assert console_shot.stat().st_size > 10_000 and crew_shot.stat().st_size > 10_000
        assert errors == [], errors
    finally:
        proc.kill()
        publisher.close()


def test_the_live_indicator_turns_red_when_the_gateway_is_not_processing(
    tmp_path: Path, mosquitto: MosquittoServer, browser: Browser
) -> None:
    """Issue 20: the stream's socket can stay up while the gateway has stopped processing; the
    header must not keep saying "实时已连接". The console reads /health (here answered 503 as a
    failing gateway answers it, tests/integration/test_poison.py) and the gateway's self-alarm
    events on the stream."""
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(TOKENS, encoding="utf-8")
    proc = GatewayProcess(
        tmp_path / "gw", {"ESTATE_MQTT_URL": mosquitto.url, "ESTATE_TOKENS_FILE": str(tokens)}
    )
    proc.start()
    errors: list[str] = []
    failing = {
        "ok": False,
        "broker": {"ok": True},
        "stages": {"ok": False, "rules": {"ok": False, "last_error": "OSError: the database is gone"}},
    }
    try:
        console = browser.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        _login(console, f"{proc.url}/", OPERATOR, errors)
        status = console.get_by_test_id("stream-status")
        expect(status).to_have_text("实时已连接")
        console.route(
            "**/health",
            lambda route: route.fulfill(status=503, json=failing),  # the gateway's 503
        )
        console.reload()  # the console looks at /health as it loads, then every 10 s
        expect(status).to_have_attribute("data-state", "degraded", timeout=10_000)
        expect(status).to_have_text("网关异常：未在处理")
        expect(status).to_have_attribute("title", "stages: rules (OSError: the database is gone)")
        _shot(console, "console-gateway-not-processing-zh")
        console.unroute("**/health")
        console.reload()
        expect(status).to_have_attribute("data-state", "connected", timeout=10_000)
        assert [e for e in errors if "503" not in e] == [], errors
    finally:
        proc.kill()


def test_ctrl_c_with_a_console_open_ends_the_stream_and_exits_in_seconds(
    tmp_path: Path, mosquitto: MosquittoServer, browser: Browser
) -> None:
    """Issue 25, defect 3: with a console open, Ctrl-C left the process alive for over 70 s (uvicorn
    waited for the event stream to end) while the header still said "实时已连接". Now the stream
    ends when the stop is asked for: the process exits in seconds and the header says so."""
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(TOKENS, encoding="utf-8")
    proc = GatewayProcess(
        tmp_path / "gw", {"ESTATE_MQTT_URL": mosquitto.url, "ESTATE_TOKENS_FILE": str(tokens)}
    )
    proc.start()
    errors: list[str] = []
    try:
        console = browser.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        _login(console, f"{proc.url}/", OPERATOR, errors)
        status = console.get_by_test_id("stream-status")
        expect(status).to_have_text("实时已连接")
        assert proc.proc is not None
        asked = time.monotonic()
        proc.proc.send_signal(signal.SIGINT)
        code = proc.proc.wait(timeout=15)
        took = time.monotonic() - asked
        print(f"Ctrl-C with a console open → process gone in {took:.1f} s")
        assert code == 130 and took < 10, (code, took, proc.log_text()[-2000:])
        expect(status).not_to_have_attribute("data-state", "connected", timeout=5_000)
        expect(status).to_have_text("正在重连…")
    finally:
        proc.kill()
