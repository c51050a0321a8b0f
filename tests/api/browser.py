"""What the console's browser tests share (issue 25): the API of a real gateway object served in
process by uvicorn on a free port, with a token for each role; Debian's Chromium driven by
Playwright; logging in as a role. The gateway's clock is a manual one set to the wall time, so the
browser's countdowns and the gateway's deadlines agree."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from api.app import create_app
from api.auth import TokenBook
from devices.clock import ManualClock
from gateway.service import Gateway
from tests.api.conftest import TOKENS
from tests.support.gateway import REPO

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = REPO / "docs" / "screenshots"
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"), reason="Debian's chromium is not installed"
)


def wall_clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


class Served:
    """The gateway's API at ``url``; ``call`` makes a request as one of tests/api/conftest's tokens."""

    def __init__(self, url: str) -> None:
        self.url = url

    def call(self, method: str, path: str, token: str = "operator", **kw: Any) -> Any:
        response = httpx.request(
            method, f"{self.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10, **kw
        )
        response.raise_for_status()
        return response.json()

    def call_status(self, method: str, path: str, token: str = "operator", **kw: Any) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=10, **kw).status_code


@pytest.fixture
def served(gateway: Gateway) -> Iterator[Served]:
    book = TokenBook()
    for token, principal in TOKENS.items():
        book.add(token, principal)
    app = create_app(gateway, book, manage_lifecycle=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{sock.getsockname()[1]}")
    finally:
        gateway.events.close()  # the event streams end: the server need not wait for them
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def open_page(
    browser: Browser,
    url: str,
    token: str,
    *,
    lang: str = "zh-CN",
    width: int = 1440,
    height: int = 900,
    errors: list[str] | None = None,
    live: bool = True,
) -> Page:
    """A page logged in with ``token`` in ``lang``; ``live``: wait for the event stream."""
    page = browser.new_page(viewport={"width": width, "height": height}, locale=lang)
    if errors is not None:
        page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script(f"localStorage.setItem('estate.lang', {lang!r})")
    # This gateway has no broker (its /health says so): the header's live state is about the stream.
    page.route("**/health", lambda route: route.fulfill(status=200, json={"ok": True}))
    page.goto(url)
    page.get_by_test_id("login-token").fill(token)
    page.get_by_test_id("login-submit").click()
    if live:
        expect(page.get_by_test_id("stream-status")).to_have_attribute(
            "data-state", "connected", timeout=10_000
        )
    return page


def shot(page: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
