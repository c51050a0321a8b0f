"""Issue 20: no message and no failing store can blind the gateway, and ``/health`` tells the truth.

Against real mosquitto: the payloads that killed the pipeline thread (1,000 ``[``, a 5,000-digit
integer) on a telemetry topic and retained on a status topic are dead letters, acknowledged, and
an entrapment published after them is raised; after a restart, the retained one is read again and
is a dead letter again. A store that raises on one flush loses no reading and no alert, turns
``/health`` 503 with the stage named, raises the self-alarm, and clears both when it works again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerts.store import AlertStore
from devices.loader import load_inventory
from gateway.service import build_gateway
from gateway.sinks.sql import SqlSink
from tests.support.gateway import SPEC_EXAMPLE, LiveGateway, Publisher, gateway_settings
from tests.support.listener import Listener
from tests.support.servers import MosquittoServer, wait_until

LIFT = "estate/sunrise/lift/L1/telemetry"
STATUS = "estate/sunrise/lift/L1/status"
POISON = [b"[" * 1000, b'{"floor": ' + b"7" * 5000 + b"}"]
ENTRAPMENT = {"type": "fault", "code": "entrapment"}


def _alerts(proc: Any) -> list[tuple[str, str]]:
    return [(a["device"], a["rule"]) for a in proc.api("/api/alerts")]


def test_poison_payloads_are_dead_letters_and_alarms_still_rise(live_gateway: LiveGateway) -> None:
    proc, publisher = live_gateway
    pid = proc.proc.pid if proc.proc else None
    for payload in POISON:
        publisher.send(LIFT, payload)
        publisher.client.publish(STATUS, payload, qos=1, retain=True)  # survives a fresh session
    publisher.send("estate/sunrise/lift/L1/event", ENTRAPMENT)
    publisher.wait_all_acked()
    sent = time.monotonic()
    wait_until(lambda: ("L1", "lift.entrapment") in _alerts(proc), timeout=15)
    raised_after = time.monotonic() - sent
    counts = proc.api("/api/deadletters")["counts"]
    assert counts == {"malformed_json": 2, "bad_status": 2}, counts
    details = {i["detail"] for i in proc.api("/api/deadletters", limit=10)["items"]}
    assert any("nested too deep" in d for d in details) and any(
        "number literal too long" in d for d in details
    )
    health = httpx.get(f"{proc.url}/health", timeout=5)
    assert health.status_code == 200 and health.json()["stages"]["ok"], health.text
    assert proc.proc is not None and proc.proc.pid == pid and proc.proc.poll() is None  # nothing restarted
    print(f"entrapment raised {raised_after:.3f} s after the poison was acknowledged")

    # A restart reads the retained poison again first: a dead letter again, and the gateway goes on.
    proc.kill()
    proc.start()
    publisher.send("estate/sunrise/water_tank/T1/event", {"type": "hatch_open"})
    publisher.wait_all_acked()
    wait_until(lambda: ("T1", "water.hatch_open") in _alerts(proc), timeout=15)
    assert proc.api("/api/deadletters")["counts"]["bad_status"] == 3  # the retained one, read once more
    assert httpx.get(f"{proc.url}/health", timeout=5).status_code == 200


class FailingOnce:
    """Wraps the alert store's ``save``: the ``fail_at``-th call raises, the others go through."""

    def __init__(self, store: AlertStore, fail_at: int) -> None:
        self.calls, self.fail_at, self._save = 0, fail_at, store.save
        self.failing = True

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.calls += 1
        if self.failing and self.calls >= self.fail_at:
            raise OSError("injected: the database is gone")
        self._save(*args, **kwargs)


@pytest.mark.expect_errors
def test_a_store_failing_on_a_flush_loses_nothing_and_health_says_so(
    tmp_path: Path, mosquitto: MosquittoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = gateway_settings(tmp_path, mosquitto.url, stage_alarm_after=1)
    gateway = build_gateway(settings, load_inventory(SPEC_EXAMPLE))
    store = gateway.alarms.book.store
    alarms = Listener(mosquitto, f"gateway/{settings.instance}/alarm", "self-alarm-listener")
    publisher = Publisher(mosquitto.host, mosquitto.port)
    gateway.start()  # its start-up flushes (the ledger's schedule) go through
    failing = FailingOnce(store, fail_at=1)  # the first flush after: the first batch's
    monkeypatch.setattr(store, "save", failing)
    try:
        assert gateway.mqtt.wait_connected(10) and alarms.subscribed.wait(10)
        publisher.send("estate/sunrise/lift/L1/event", ENTRAPMENT)
        publisher.send(LIFT, {"floor": 3})
        publisher.wait_all_acked()
        wait_until(lambda: failing.calls >= 1, timeout=10)
        wait_until(lambda: not gateway.health()["ok"], timeout=10)
        health = gateway.health()
        assert health["stages"]["rules"]["ok"] is False
        assert health["stages"]["rules"]["last_error"] == "OSError: injected: the database is gone"
        assert health["stages"]["self_alarms"] == ["rules"]
        wait_until(lambda: len(alarms.snapshot()) >= 1, timeout=10)
        raised = alarms.snapshot()[0]
        assert (raised["rule"], raised["state"], raised["stage"]) == (
            "gateway.stage_failed",
            "active",
            "rules",
        )
        assert raised["severity"] == "critical" and raised["error"].startswith("OSError")
        assert store.query("sunrise") == []  # not saved yet: kept in the book for the next flush

        failing.failing = False  # the database is back: the next flush (the next batch) saves what waited
        publisher.send(LIFT, {"floor": 4})
        wait_until(lambda: [a.rule for a in store.query("sunrise")] == ["lift.entrapment"], timeout=10)
        wait_until(lambda: gateway.health()["ok"], timeout=10)
        assert gateway.health()["stages"]["self_alarms"] == []
        wait_until(lambda: len(alarms.snapshot()) >= 2, timeout=10)
        assert alarms.snapshot()[1]["state"] == "cleared"

        def floors() -> list[object]:
            return [
                p.fields["floor"]
                for p in SqlSink(gateway.engine).query("sunrise", "L1")
                if "floor" in p.fields
            ]

        wait_until(lambda: floors() == [3, 4], timeout=10, message=lambda: str(floors()))
        assert [a.work_order is not None for a in store.query("sunrise")] == [True]  # one order
        assert len(gateway.dispatcher.store.query("sunrise")) == 1
    finally:
        gateway.stop()
        publisher.close()
        alarms.close()
