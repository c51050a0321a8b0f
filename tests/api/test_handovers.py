"""Shift handover over HTTP (issue 25): written with what stands open, signed by the incoming
operator once, both names and times kept; a shift with none signed raises an info alarm."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from devices.clock import ManualClock
from devices.loader import load_inventory
from gateway.service import Gateway, build_gateway
from gateway.settings import Settings
from tests.api.conftest import auth, feed, hold_core, open_alerts
from tests.support.gateway import SPEC_EXAMPLE

DOOR = ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "door_open_failure"})
MISSING = "console.handover_missing"


def test_write_then_sign_keeps_both_names_and_times(
    client: TestClient, gateway: Gateway, clock: ManualClock
) -> None:
    feed(gateway, DOOR)
    written = client.post("/api/handovers", json={"notes": "3 号楼电梯待维保"}, headers=auth("operator"))
    assert written.status_code == 201, written.text
    body = written.json()
    assert (body["written_by"], body["notes"], body["signed_at"]) == ("operator", "3 号楼电梯待维保", None)
    assert [a["rule"] for a in body["snapshot"]["open_alarms"]] == ["lift.door_failure"]
    clock.advance(timedelta(minutes=5))
    own = client.post(f"/api/handovers/{body['id']}/sign", json={}, headers=auth("operator"))
    assert own.status_code == 409 and "incoming" in own.json()["detail"]
    signed = client.post(f"/api/handovers/{body['id']}/sign", json={"note": "收到"}, headers=auth("admin"))
    assert signed.status_code == 200, signed.text
    assert (signed.json()["signed_by"], signed.json()["sign_note"]) == ("admin", "收到")
    assert signed.json()["signed_at"] == clock.now().isoformat()
    again = client.post(f"/api/handovers/{body['id']}/sign", json={}, headers=auth("admin"))
    assert again.status_code == 409
    [listed] = client.get("/api/handovers", headers=auth("manager")).json()
    assert (listed["written_by"], listed["signed_by"]) == ("operator", "admin")
    assert client.get(f"/api/handovers/{body['id']}", headers=auth("operator")).json() == listed


def test_who_may_write_read_and_sign(client: TestClient) -> None:
    assert client.post("/api/handovers", json={}, headers=auth("manager")).status_code == 403
    assert client.post("/api/handovers", json={}, headers=auth("crew")).status_code == 403
    assert client.get("/api/handovers", headers=auth("crew")).status_code == 403
    outside = client.post("/api/handovers", json={"estates": ["sunrise"]}, headers=auth("other-estate"))
    assert outside.status_code == 403
    hid = client.post("/api/handovers", json={"estates": ["sunrise"]}, headers=auth("operator")).json()["id"]
    assert client.get(f"/api/handovers/{hid}", headers=auth("other-estate")).status_code == 404
    assert client.post(f"/api/handovers/{hid}/sign", headers=auth("other-estate")).status_code == 404
    assert client.get("/api/handovers/424242", headers=auth("operator")).status_code == 404
    assert (
        client.post("/api/handovers", json={"notes": "x" * 8001}, headers=auth("operator")).status_code == 422
    )
    assert (
        client.post("/api/handovers", json={"estates": ["nowhere"]}, headers=auth("admin")).status_code == 422
    )


def test_a_shift_without_a_signed_handover_raises_an_info_alarm_until_one_is_signed(
    client: TestClient, gateway: Gateway, clock: ManualClock
) -> None:
    book = gateway.handovers
    assert book is not None
    clock.advance(timedelta(hours=8))
    book.check()
    assert not [a for a in open_alerts(gateway) if a.rule == MISSING]
    clock.advance(timedelta(minutes=31))
    book.check()
    book.check()  # once, not a repeat each look
    [alarm] = [a for a in open_alerts(gateway) if a.rule == MISSING]
    assert (alarm.severity.value, alarm.count, alarm.estate) == ("info", 1, "sunrise")
    assert "交接班" in alarm.message and "handover" in alarm.message_en
    hid = client.post("/api/handovers", json={}, headers=auth("operator")).json()["id"]
    assert client.post(f"/api/handovers/{hid}/sign", headers=auth("admin")).status_code == 200
    assert not [a for a in open_alerts(gateway) if a.rule == MISSING and a.active]
    clock.advance(timedelta(hours=8, minutes=31))  # the next shift signs nothing
    book.check()
    assert [a for a in open_alerts(gateway) if a.rule == MISSING and a.active]


def test_a_signature_while_the_core_is_busy_is_kept_and_the_next_check_clears_the_alarm(
    client: TestClient, gateway: Gateway, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    book = gateway.handovers
    assert book is not None
    clock.advance(timedelta(hours=8, minutes=31))
    book.check()
    assert [a for a in open_alerts(gateway) if a.rule == MISSING and a.active]
    hid = client.post("/api/handovers", json={}, headers=auth("operator")).json()["id"]
    book.timeout_s = 0.2
    release = hold_core(gateway)
    try:
        signed = client.post(f"/api/handovers/{hid}/sign", headers=auth("admin"))
    finally:
        release.set()
    assert signed.status_code == 200 and signed.json()["signed_by"] == "admin"  # not a 503: it is stored
    assert "clears at the next check" in caplog.text
    assert client.get(f"/api/handovers/{hid}", headers=auth("operator")).json()["signed_by"] == "admin"
    book.check()  # housekeeping's next look
    assert not [a for a in open_alerts(gateway) if a.rule == MISSING and a.active]


def test_the_shift_length_and_grace_are_settings(tmp_path: Path, clock: ManualClock) -> None:
    """ESTATE_HANDOVER_SHIFT_H / ESTATE_HANDOVER_GRACE_MIN (a 12-hour shift, 10 minutes' grace):
    nothing at 12 h 10 min, the alarm just after, saying 12 hours."""
    settings = Settings(
        mqtt_url="mqtt://127.0.0.1:9",
        data_dir=tmp_path,
        instance="api-test",
        mqtt_receiver="thread",
        handover_shift_h=12,
        handover_grace_min=10,
    )
    gw = build_gateway(settings, load_inventory(SPEC_EXAMPLE), clock=clock)
    try:
        assert gw.handovers is not None
        clock.advance(timedelta(hours=12, minutes=10))
        gw.handovers.check()
        assert not [a for a in gw.alarms.book.open_alerts() if a.rule == MISSING]
        clock.advance(timedelta(seconds=1))
        gw.handovers.check()
        [alarm] = [a for a in gw.alarms.book.open_alerts() if a.rule == MISSING]
        assert "12 小时" in alarm.message and "over 12 h" in alarm.message_en
    finally:
        gw.stop()


@pytest.mark.parametrize(
    ("name", "value"), [("handover_shift_h", 0), ("handover_shift_h", 25), ("handover_grace_min", -1)]
)
def test_a_shift_length_out_of_range_is_refused(tmp_path: Path, name: str, value: float) -> None:
    with pytest.raises(ValidationError, match=name):
        Settings(data_dir=tmp_path, **{name: value})  # type: ignore[arg-type]
