"""The console under load (issue 25 acceptance): ``/`` with 300 devices and 200 open alarms, and the
alarm list with 2,000 open alarms, in Debian's Chromium.

``python -m benchmarks.console_load`` prints the figures (docs/benchmarks.md keeps them).

* an in-process gateway (SQLite) with one estate of ``--devices`` devices in 10 buildings (lifts,
  tanks, doors, lamps, cameras in equal parts), served by uvicorn on a free port;
* ``--alarms`` open alarms raised through the alert book as the rules would, then ``/`` loaded
  ``--loads`` times in a fresh page (token already saved): the time from navigation start until
  every alarm row is drawn (the list, its counts and the badge), the median and the worst;
* then ``--flood`` open alarms in all, and in the loaded list: the time for a search keystroke, a
  sort by device and a severity filter to redraw, and for a new alarm raised in the gateway to
  appear through the event stream;
* the page weight: every file ``/`` loads, as sent and gzip-compressed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
import yaml
from playwright.sync_api import Page, sync_playwright

from alerts.book import Raise
from api.app import create_app
from api.auth import Principal, Role, TokenBook
from api.routes.pages import STATIC_DIR
from benchmarks.ingest_drain import machine
from devices.base import Severity
from devices.clock import SystemClock
from devices.loader import load_inventory
from gateway.service import Gateway, build_gateway
from gateway.settings import Settings

TOKEN = "benchmark-operator-token"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
#: Each kind of device and its id prefix.
KINDS = [("lift", "L"), ("water_tank", "T"), ("access", "D"), ("light", "LP"), ("cctv", "C")]
SEVERITIES = [Severity.CRITICAL, Severity.MAJOR, Severity.MINOR, Severity.INFO]


def inventory(path: Path, devices: int) -> Path:
    per = devices // len(KINDS)
    rows = [
        {"id": f"{prefix}{i:03d}", "kind": kind, "building": f"B{i % 10 + 1}"}
        for kind, prefix in KINDS
        for i in range(per)
    ]
    doc = {
        "estates": [
            {
                "id": "bench",
                "name": "压测小区",
                "timezone": "Asia/Shanghai",
                "buildings": [f"B{i}" for i in range(1, 11)],
                "devices": rows,
            }
        ],
        "crews": [{"id": "lift-team", "trades": ["lift"], "estates": ["bench"]}],
    }
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def raise_alarms(gateway: Gateway, first: int, count: int) -> None:
    """``count`` open alarms on the estate's devices, rule after rule (a device may carry several)."""
    devices = gateway.inventory.estates[0].devices
    book = gateway.alarms.book
    for n in range(first, first + count):
        device = devices[n % len(devices)]
        rule = f"bench.r{n // len(devices)}"
        book.raise_(
            Raise(
                "bench",
                device.building,
                device.id,
                device.kind.value,
                rule,
                SEVERITIES[n % 4],
                f"{device.id} 压测告警 {n}",
                f"{device.id} benchmark alarm {n}",
            )
        )
    book.flush()


def serve(gateway: Gateway) -> tuple[str, uvicorn.Server, threading.Thread]:
    book = TokenBook()
    book.add(TOKEN, Principal("压测值班员", Role.OPERATOR))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(gateway, book, manage_lifecycle=False),
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread


def page_weight() -> dict[str, int]:
    html = (STATIC_DIR / "console.html").read_text(encoding="utf-8")
    files = {"console.html", *re.findall(r"/static/([\w.]+)", html)}
    for script in STATIC_DIR.glob("*.js"):
        files |= set(re.findall(r'from "\./([\w.]+)"', script.read_text(encoding="utf-8")))
    sizes = {name: (STATIC_DIR / name).read_bytes() for name in sorted(files) if (STATIC_DIR / name).exists()}
    return {
        "files": len(sizes),
        "bytes": sum(len(b) for b in sizes.values()),
        "gzip_bytes": sum(len(gzip.compress(b)) for b in sizes.values()),
    }


def load_ms(page: Page, url: str, rows: int) -> float:
    page.goto(url)
    page.wait_for_function(
        f"document.querySelectorAll('[data-testid=alarm-row]').length >= {rows}", timeout=30_000
    )
    return float(page.evaluate("performance.now()"))


_REDRAW = """async ([selector, action]) => {
  const tbody = document.querySelector('table.alarms tbody');
  const drawn = new Promise((r) => new MutationObserver((m, o) => { o.disconnect(); r(); })
    .observe(tbody, { childList: true }));
  const t0 = performance.now();
  const el = document.querySelector(selector);
  if (action === 'click') el.click();
  else { el.value = action; el.dispatchEvent(new Event(el.tagName === 'SELECT' ? 'change' : 'input')); }
  await drawn;
  return performance.now() - t0;
}"""


def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"machine": machine(), "page_weight": page_weight()}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            mqtt_url="mqtt://127.0.0.1:9", data_dir=Path(tmp), instance="bench", mqtt_receiver="thread"
        )
        gateway = build_gateway(
            settings, load_inventory(inventory(Path(tmp) / "inv.yaml", args.devices)), clock=SystemClock()
        )
        gateway.alarms.start()
        gateway.dispatcher.start()
        raise_alarms(gateway, 0, args.alarms)
        url, server, thread = serve(gateway)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
                context.add_init_script(f"localStorage.setItem('estate.token', {TOKEN!r})")
                context.route("**/health", lambda route: route.fulfill(status=200, json={"ok": True}))
                times = []
                for _ in range(args.loads):
                    page = context.new_page()
                    times.append(load_ms(page, f"{url}/", args.alarms))
                    page.close()
                out["load"] = {
                    "devices": args.devices,
                    "alarms": args.alarms,
                    "runs": args.loads,
                    "median_ms": round(statistics.median(times)),
                    "max_ms": round(max(times)),
                }
                raise_alarms(gateway, args.alarms, args.flood - args.alarms)
                page = context.new_page()
                shown = min(args.flood, 300)  # the list draws 300 rows, the rest on request
                first = load_ms(page, f"{url}/", shown)
                redraw = {
                    "search": page.evaluate(_REDRAW, ["[data-testid=filter-search]", "B3"]),
                    "clear_search": page.evaluate(_REDRAW, ["[data-testid=filter-search]", ""]),
                    "sort_by_device": page.evaluate(_REDRAW, ['th[data-sort="alarms.device"]', "click"]),
                    "filter_severity": page.evaluate(_REDRAW, ["[data-testid=filter-severity]", "critical"]),
                }
                page.evaluate(_REDRAW, ["[data-testid=filter-severity]", ""])
                # The next alarm's text searched for: its row is the one row to appear.
                page.evaluate(_REDRAW, ["[data-testid=filter-search]", f"压测告警 {args.flood}"])
                before = time.monotonic()
                raise_alarms(gateway, args.flood, 1)
                page.wait_for_function("document.querySelectorAll('[data-testid=alarm-row]').length === 1")
                out["flood"] = {
                    "alarms": args.flood + 1,
                    "load_ms": round(first),
                    **{f"{k}_ms": round(v) for k, v in redraw.items()},
                    "stream_event_to_row_ms": round((time.monotonic() - before) * 1000),
                }
                browser.close()
        finally:
            gateway.events.close()
            server.should_exit = True
            thread.join(timeout=20)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=300)
    parser.add_argument("--alarms", type=int, default=200)
    parser.add_argument("--flood", type=int, default=2000)
    parser.add_argument("--loads", type=int, default=5)
    print(json.dumps(run(parser.parse_args()), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
