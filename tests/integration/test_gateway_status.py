"""docs/contract.md §3.4: ``gateway/{instance}/status`` is retained ``online``; the last will says
``offline`` when the gateway dies, and a clean stop says it too."""

from __future__ import annotations

from pathlib import Path

from tests.support.gateway import GatewayProcess, TopicWatcher
from tests.support.servers import MosquittoServer, wait_until


def test_retained_online_and_last_will_offline(tmp_path: Path, mosquitto: MosquittoServer) -> None:
    proc = GatewayProcess(tmp_path / "gw", {"ESTATE_MQTT_URL": mosquitto.url, "ESTATE_INSTANCE": "gw-a"})
    proc.start()
    watcher = TopicWatcher(mosquitto, "gateway/gw-a/status")
    try:
        wait_until(lambda: watcher.last() == b"online", timeout=10)
        assert watcher.seen[0] == (b"online", True)  # a late subscriber gets it: retained
        proc.kill()
        wait_until(lambda: watcher.last() == b"offline", timeout=10)  # the broker sent the will
        proc.start()
        wait_until(lambda: watcher.last() == b"online", timeout=10)
        proc.terminate()
        wait_until(lambda: watcher.last() == b"offline", timeout=10)  # a clean stop says so too
        assert proc.proc is not None and proc.proc.returncode == 130  # Ctrl-C's status, and quietly:
        assert "Traceback" not in proc.log_text()
    finally:
        proc.kill()
        watcher.close()
