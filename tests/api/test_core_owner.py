"""The API and the alarm core's single owner (alerts/owner.py, gateway/core.py): reads never wait
for it, actions run on its thread, and an action it cannot take in time is a clear 503."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from alerts.owner import NotOwner
from gateway.service import Gateway
from tests.api.conftest import auth, feed, hold_core

TRAPPED = ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "entrapment"})


@pytest.fixture
def running(gateway: Gateway) -> Iterator[Gateway]:
    """The gateway's alarm core on its own thread, as ``Gateway.start`` runs it."""
    gateway.core.owner.start()
    yield gateway
    gateway.core.owner.stop()


def test_readings_raise_on_the_owners_thread_and_the_state_is_refused_to_others(
    client: TestClient, running: Gateway
) -> None:
    feed(running, TRAPPED)  # the pipeline's batch is a command: the engine ran on the owner
    [alert] = client.get("/api/alerts", headers=auth("operator")).json()
    assert alert["rule"] == "lift.entrapment"
    with pytest.raises(NotOwner):
        running.alarms.book.open_alerts()  # the test's thread may not reach into the state


def test_while_the_core_is_busy_reads_answer_and_an_action_is_503_then_done_once(
    client: TestClient, running: Gateway
) -> None:
    feed(running, TRAPPED)
    [alert] = client.get("/api/alerts", headers=auth("operator")).json()
    running.core.timeout_s = 0.2
    release = hold_core(running)
    try:
        # Reads go to the stores: answered while the owner is busy.
        assert client.get(f"/api/alerts/{alert['id']}", headers=auth("operator")).json()["state"] == "active"
        assert client.get("/api/estates/sunrise/summary", headers=auth("operator")).status_code == 200
        busy = client.post(f"/api/alerts/{alert['id']}/ack", headers=auth("operator"))
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
        assert "nothing was changed" in busy.json()["detail"]
        core = running.health()["core"]
        assert core["busy_s"] > 0 and core["alive"]
    finally:
        release.set()
    done = client.post(f"/api/alerts/{alert['id']}/ack", headers=auth("operator"))
    assert done.status_code == 200 and done.json()["state"] == "acknowledged"
    acks = [h for h in done.json()["history"] if h["action"] == "ack"]
    assert len(acks) == 1  # the refused try never ran


def test_a_work_order_step_runs_as_a_command_and_its_errors_keep_their_codes(
    client: TestClient, running: Gateway
) -> None:
    feed(running, TRAPPED)
    [alert] = client.get("/api/alerts", headers=auth("operator")).json()
    order = client.post(f"/api/alerts/{alert['id']}/dispatch", headers=auth("operator"))
    assert order.status_code in (201, 409)  # an entrapment may be dispatched already
    again = client.post(f"/api/alerts/{alert['id']}/dispatch", headers=auth("operator"))
    assert again.status_code == 409
    assert client.post("/api/alerts/999999/ack", headers=auth("operator")).status_code == 404
