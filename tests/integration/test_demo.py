"""Acceptance 1: ``estate-gateway demo`` needs no services; within 30 s ``GET /api/devices``
lists readings from all six kinds."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import httpx

from devices.base import Kind
from tests.support.servers import free_port, wait_until


def test_demo_shows_all_six_kinds_within_30_s(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "estate_gateway.cli",
            "demo",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    stdout = proc.stdout
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")), daemon=True).start()
    try:
        token = wait_until(lambda: _token(lines, "operator"), timeout=30, message=lambda: "".join(lines))

        def kinds_with_readings() -> set[str]:
            response = httpx.get(
                f"http://127.0.0.1:{port}/api/devices",
                timeout=5,
                headers={"Authorization": f"Bearer {token}"},
            )
            return {d["kind"] for d in response.json() if d["latest"]}

        wait_until(lambda: kinds_with_readings() == {k.value for k in Kind}, timeout=30)

        def rules() -> set[str]:
            response = httpx.get(
                f"http://127.0.0.1:{port}/api/alerts", timeout=5, headers={"Authorization": f"Bearer {token}"}
            )
            return {a["rule"] for a in response.json()}

        wait_until(lambda: "light.lamp_out" in rules(), timeout=40)  # the first scripted incident (20 s)
        banner = "".join(lines)
        assert f"http://127.0.0.1:{port}/api/devices" in banner
        assert "INFO transitions" not in banner  # the operator's console is not a debug log
        response = httpx.get(f"http://127.0.0.1:{port}/api/devices", timeout=5)
        assert response.status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _token(lines: list[str], name: str) -> str | None:
    for line in list(lines):
        parts = line.split()
        if len(parts) == 2 and parts[0] == name:
            return parts[1]
    return None
