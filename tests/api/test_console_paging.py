"""The console reads the paged device list whole (issue 21, item 5): in Debian's Chromium, the
overview follows the ``Link`` to the next page until the last one. The API is served in process
by uvicorn on a free port; the browser's requests for the list are cut to pages of 3 devices."""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Page, Route, expect, sync_playwright

from api.app import create_app
from api.auth import Principal, Role, TokenBook
from gateway.service import Gateway
from tests.api.conftest import feed

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
TOKEN = "console-paging-operator-token"
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"), reason="Debian's chromium is not installed"
)


@pytest.fixture
def served(gateway: Gateway) -> Iterator[str]:
    book = TokenBook()
    book.add(TOKEN, Principal("operator", Role.OPERATOR))
    app = create_app(gateway, book, manage_lifecycle=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


def test_the_overview_lists_every_page_of_devices(served: str, gateway: Gateway) -> None:
    feed(gateway, *((f"estate/sunrise/lift/X{n}/telemetry", {"floor": 1}) for n in range(4)))
    asked: list[str] = []

    def small_pages(route: Route) -> None:
        url = route.request.url
        asked.append(url)
        route.continue_(url=url if "limit=" in url else f"{url}{'&' if '?' in url else '?'}limit=3")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page: Page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route(re.compile(r".*/api/devices(\?.*)?$"), small_pages)
            # No event stream: its server side waits up to 15 s for events, and so would the teardown.
            page.route(re.compile(r".*/api/stream$"), lambda route: route.abort())
            page.goto(served)
            page.get_by_test_id("login-token").fill(TOKEN)
            page.get_by_test_id("login-submit").click()
            page.goto(f"{served}/#/overview")
            # 8 devices of the inventory and 4 unregistered: 12, in 4 pages of 3.
            expect(page.get_by_text(re.compile(r"^12 (devices|台设备)$"))).to_be_visible(timeout=15_000)
            assert errors == []
        finally:
            browser.close()
    assert len(asked) == 4, asked  # the first page and three more by their links
