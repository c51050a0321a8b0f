"""Shift handover over HTTP (issue 25): written with what stands open, signed by the incoming
operator once, both names and times kept; a shift with none signed raises an info alarm."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from devices.clock import ManualClock
from gateway.service import Gateway
from tests.api.conftest import auth, feed

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
    assert not [a for a in gateway.alarms.book.open_alerts() if a.rule == MISSING]
    clock.advance(timedelta(minutes=31))
    book.check()
    book.check()  # once, not a repeat each look
    [alarm] = [a for a in gateway.alarms.book.open_alerts() if a.rule == MISSING]
    assert (alarm.severity.value, alarm.count, alarm.estate) == ("info", 1, "sunrise")
    assert "交接班" in alarm.message and "handover" in alarm.message_en
    hid = client.post("/api/handovers", json={}, headers=auth("operator")).json()["id"]
    assert client.post(f"/api/handovers/{hid}/sign", headers=auth("admin")).status_code == 200
    assert not [a for a in gateway.alarms.book.open_alerts() if a.rule == MISSING and a.active]
    clock.advance(timedelta(hours=8, minutes=31))  # the next shift signs nothing
    book.check()
    assert [a for a in gateway.alarms.book.open_alerts() if a.rule == MISSING and a.active]
