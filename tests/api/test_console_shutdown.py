"""An in-process ``Gateway.stop()`` ends the event streams (issue 25 defect 3, in-process): the
console open on it shows it is no longer live at once, the web server serving it has no stream left
to wait for, and a gateway started again in the same process streams again."""

from __future__ import annotations

import threading
import time

import httpx
from playwright.sync_api import Browser, expect

from gateway.service import Gateway
from tests.api.browser import Served, browser, needs_chromium, open_page, served

__all__ = ["browser", "served"]
pytestmark = needs_chromium


def test_stopping_the_gateway_ends_the_streams_and_the_console_says_so(
    served: Served, gateway: Gateway, browser: Browser
) -> None:
    page = open_page(browser, served.url, "operator")  # live: the header says connected
    ended: list[float] = []
    connected = threading.Event()

    def listen() -> None:
        headers = {"Authorization": "Bearer operator"}
        with httpx.stream("GET", f"{served.url}/api/stream", headers=headers, timeout=30) as response:
            for _ in response.iter_bytes():
                connected.set()  # the stream's first frame (its id) is in
        ended.append(time.monotonic())

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert connected.wait(timeout=10)
    stopped = time.monotonic()
    gateway.stop()
    listener.join(timeout=10)
    assert ended and ended[0] - stopped < 5, "the stream outlived Gateway.stop()"
    expect(page.get_by_test_id("stream-status")).not_to_have_attribute(
        "data-state", "connected", timeout=10_000
    )

    # Started again in the same process: its streams stay open and the console is live again.
    gateway.events.open()
    expect(page.get_by_test_id("stream-status")).to_have_attribute("data-state", "connected", timeout=15_000)
