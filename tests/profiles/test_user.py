"""User-defined profiles: a lift IoT terminal's JSON (GB/T 24476 data items) and an access
controller's XML, read through JMESPath paths, value maps, unit conversion and event rules."""

from __future__ import annotations

import json

import pytest

from gateway.ingest import Reason
from tests.profiles.helpers import RECEIVED_NS, read, readings, refused


def lift(**data: object) -> bytes:
    return json.dumps({"devId": "LIFT-0001", "time": "2026-03-02T09:59:30+08:00", "data": data}).encode()


def test_telemetry_fields_are_read_mapped_and_converted() -> None:
    payload = lift(curFloor=7, doorState=1, speed=150, hasPerson=1, runCount=18000)
    assert readings("L1", payload) == [
        ("telemetry", {"floor": 7, "door": "open", "speed_m_s": 1.5, "passenger": True}),
    ]
    result = read("L1", payload)
    assert isinstance(result, list) and result[0].time_ns == RECEIVED_NS - 30 * 1_000_000_000


def test_event_rules_give_events_beside_the_telemetry() -> None:
    assert readings("L1", lift(curFloor=3, alarm=1)) == [
        ("telemetry", {"floor": 3}),
        ("event", {"event": "fault", "code": "entrapment"}),
    ]
    assert readings("L1", lift(alarm=8)) == [("event", {"event": "fault", "code": "overspeed"})]
    assert readings("L1", lift(alarm="1")) == [("event", {"event": "fault", "code": "entrapment"})]


def test_a_payload_with_nothing_mapped_is_a_sign_of_life() -> None:
    assert readings("L1", lift(runCount=5)) == [("heartbeat", {})]


def test_xml_is_read_by_element_and_attribute() -> None:
    payload = b"""<?xml version="1.0"?>
<Msg xmlns="urn:acs"><Status><Door>1</Door></Status>
<Event kind="card"><Type>denied</Type><Card>00123</Card></Event></Msg>"""
    assert readings("D1", payload) == [
        ("telemetry", {"door": "open"}),
        ("event", {"event": "denied", "card": "00123"}),
    ]
    forced = b'<Msg><Status><Door>1</Door></Status><Event kind="forced"/></Msg>'
    assert readings("D1", forced) == [("telemetry", {"door": "open"}), ("event", {"event": "forced"})]


@pytest.mark.parametrize(
    ("device", "payload", "reason", "words"),
    [
        pytest.param(
            "L1",
            lift(doorState=7),
            Reason.PROFILE_MISMATCH,
            "door: value '7' is not in its map",
            id="unmapped",
        ),
        pytest.param(
            "L1", lift(curFloor="third"), Reason.PROFILE_MISMATCH, "floor: 'third' is not a number", id="text"
        ),
        pytest.param("L1", lift(curFloor={"n": 3}), Reason.PROFILE_MISMATCH, "gives a dict", id="object"),
        pytest.param("L1", lift(curFloor="nan"), Reason.PROFILE_MISMATCH, "not a number", id="nan-text"),
        pytest.param("L1", lift(speed=10_000), Reason.OUT_OF_RANGE, "speed_m_s", id="out-of-range"),
        pytest.param("L1", b"{not json", Reason.MALFORMED_JSON, "malformed JSON", id="malformed"),
        pytest.param("D1", b"<Msg><Status><Door>1</Door>", Reason.BAD_XML, "not well-formed", id="bad-xml"),
        pytest.param(
            "D1",
            b'<!DOCTYPE m [<!ENTITY e SYSTEM "http://example.invalid/x">]><Msg>&e;</Msg>',
            Reason.XML_FORBIDDEN,
            "refused unread",
            id="external-entity",
        ),
    ],
)
def test_what_the_profile_cannot_read_is_a_dead_letter(
    device: str, payload: bytes, reason: Reason, words: str
) -> None:
    letter = refused(device, payload)
    assert letter.reason is reason
    assert words in letter.detail and letter.detail.split(":")[0] in ("lift-gbt24476", "door-xml")
