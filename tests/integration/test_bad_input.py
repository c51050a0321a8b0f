"""Acceptance 5 end to end: bad input over real MQTT is counted by reason, dead-lettered, never
stored, and the gateway keeps ingesting; an unknown device is listed as unregistered."""

from __future__ import annotations

import json
import time
from collections import Counter

import httpx

from gateway.db import make_engine
from gateway.settings import Settings
from gateway.sinks.sql import SqlSink
from tests.support.gateway import LiveGateway
from tests.support.servers import wait_until

LIFT = "estate/sunrise/lift/L1/telemetry"
TANK = "estate/sunrise/water_tank/T1/telemetry"
NOW_MS = time.time_ns() // 1_000_000

BAD: list[tuple[str, bytes, str]] = [
    (LIFT, b"{floor: 3", "malformed_json"),
    (LIFT, b"[3]", "not_an_object"),
    (LIFT, b"\xc3\x28{}", "bad_encoding"),
    (LIFT, b'{"floor": "third"}', "wrong_type"),
    (LIFT, b'{"speed_m_s": NaN}', "nan_or_infinity"),
    (LIFT, b'{"speed_m_s": Infinity}', "nan_or_infinity"),
    (TANK, b'{"level_pct": 180}', "out_of_range"),
    ("estate/sunrise/escalator/E1/telemetry", b'{"floor": 1}', "unknown_kind"),
    ("estate/sunrise/lift/L1/debug", b'{"floor": 1}', "unknown_channel"),
    (LIFT, json.dumps({"floor": 1, "pad": "x" * (70 * 1024)}).encode(), "oversized"),
    ("estate/sunrise/lift/L 1/telemetry", b'{"floor": 1}', "bad_id"),
    ("estate/朝阳/lift/L1/telemetry", b'{"floor": 1}', "bad_id"),
    ("estate/sunrise/lift/" + "L" * 65 + "/telemetry", b'{"floor": 1}', "bad_id"),
    (LIFT, json.dumps({"floor": 1, "ts": NOW_MS + 86_400_000}).encode(), "timestamp_out_of_range"),
    (LIFT, json.dumps({"floor": 1, "ts": "1999-01-01T00:00:00+08:00"}).encode(), "timestamp_out_of_range"),
    (LIFT, b'{"floor": 1, "ts": "2026-11-22 08:00"}', "bad_timestamp"),
    ("estate/sunrise/lift/L1/event", b'{"type": "levitation"}', "unknown_event"),
    ("estate/sunrise/lift/L1/event", b'{"type": "fault"}', "missing_field"),
    ("estate/sunrise/lift/L1/status", b"sleepy", "bad_status"),
    ("estate/sunrise/cctv/L1/heartbeat", b'{"recording": true}', "kind_mismatch"),
    # Outside estate/+/+/+/+: once neither counted nor kept.
    ("estate/sunrise/lift/L1", b'{"floor": 1}', "bad_topic"),
    ("estate/sunrise/lift/L1/telemetry/extra", b'{"floor": 1}', "bad_topic"),
    ("estate/sunrise", b'{"floor": 1}', "bad_topic"),
]


def test_bad_input_is_dead_lettered_and_ingest_goes_on(live_gateway: LiveGateway) -> None:
    proc, publisher = live_gateway
    for topic, payload, _reason in BAD:
        publisher.send(topic, payload)
    publisher.send(LIFT, {"floor": 4, "ts": NOW_MS})  # after all that, a good one
    publisher.send("estate/sunrise/lift/L99/telemetry", {"floor": 2})  # not in the inventory
    publisher.send("estate/sunrise/alerts", {"id": 1})  # the shape of the gateway's own: let go
    publisher.wait_all_acked()
    wait_until(lambda: sum(proc.api("/api/deadletters")["counts"].values()) >= len(BAD), timeout=30)
    page = proc.api("/api/deadletters", limit=100)
    assert page["counts"] == dict(Counter(reason for _t, _p, reason in BAD))
    item = next(i for i in page["items"] if i["reason"] == "wrong_type")
    assert item["topic"] == LIFT and "third" in item["excerpt"] and "floor" in item["detail"]

    wait_until(lambda: proc.api("/api/devices/sunrise/L1")["latest"].get("floor") == 4, timeout=10)
    sink = SqlSink(make_engine(Settings(data_dir=proc.workdir / "data").resolved_database_url))
    stored = {
        (p.device, json.dumps(p.fields, sort_keys=True))
        for p in sink.query("sunrise", "L1") + sink.query("sunrise", "L99") + sink.query("sunrise", "T1")
    }
    assert stored == {("L1", '{"floor": 4}')}  # an unregistered device is listed, not stored

    unregistered = proc.api("/api/devices", status="unregistered")
    assert [(d["estate"], d["id"], d["kind"]) for d in unregistered] == [("sunrise", "L99", "lift")]

    metrics = httpx.get(f"{proc.url}/metrics").text
    assert 'estate_dead_letters_total{reason="nan_or_infinity"} 2.0' in metrics
    assert 'estate_messages_total{kind="lift",outcome="stored"} 1.0' in metrics
    assert 'estate_messages_total{kind="lift",outcome="unregistered"} 1.0' in metrics
    assert 'estate_dead_letters_total{reason="bad_topic"} 3.0' in metrics
