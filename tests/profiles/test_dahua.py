"""``dahua-event``: the lines of Dahua's event stream (eventManager.cgi attach) and their JSON form."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.ingest import Reason
from profiles.encode import dahua_json, dahua_line, dahua_stream
from tests.profiles.helpers import RECEIVED_NS, read, readings, refused

INFO = {"event": "vendor_event", "vendor_type": "VideoMotion", "vendor_state": "active", "vendor_channel": 0}

SAMPLES = [
    pytest.param(
        b"Code=VideoLoss;action=Start;index=0", [("event", {"event": "video_loss"})], id="videoloss-start"
    ),
    pytest.param(
        b"Code=VideoLoss;action=Stop;index=0", [("heartbeat", {"recording": True})], id="videoloss-stop"
    ),
    pytest.param(
        b"Code=VideoBlind;action=Start;index=2", [("event", {"event": "video_loss"})], id="videoblind"
    ),
    pytest.param(
        b"Code=StorageFailure;action=Start;index=0", [("event", {"event": "disk_failure"})], id="storage"
    ),
    pytest.param(
        b"Code=StorageNotExist;action=Start;index=0", [("event", {"event": "disk_failure"})], id="no-disk"
    ),
    pytest.param(
        b"Code=StorageFailure;action=Stop;index=0", [("heartbeat", {"disk_ok": True})], id="storage-back"
    ),
    pytest.param(b"Heartbeat", [("heartbeat", {})], id="keepalive"),
    pytest.param(dahua_line("VideoMotion", "Start").encode(), [("event", INFO)], id="unknown-kept-as-info"),
    pytest.param(
        dahua_stream(dahua_line("VideoLoss", "Start", 1), "Heartbeat", dahua_line("StorageFailure", "Start")),
        [("event", {"event": "video_loss"}), ("heartbeat", {}), ("event", {"event": "disk_failure"})],
        id="multipart-stream",
    ),
    pytest.param(dahua_json("VideoLoss", "Start"), [("event", {"event": "video_loss"})], id="json"),
    pytest.param(
        b'{"Events": [{"Code": "StorageLowSpace", "Action": "Start"},'
        b' {"Code": "VideoLoss", "Action": "Stop"}]}',
        [("event", {"event": "disk_failure"}), ("heartbeat", {"recording": True})],
        id="json-list",
    ),
]


@pytest.mark.parametrize(("payload", "expected"), SAMPLES)
def test_samples_become_canonical_readings(
    payload: bytes, expected: list[tuple[str, dict[str, object]]]
) -> None:
    assert readings("NVR2", payload) == expected


def test_local_time_is_read_in_the_estates_zone_and_utc_as_epoch_seconds() -> None:
    """LocaleTime is the device's wall clock (Asia/Shanghai, +08:00); UTC is epoch seconds."""
    line = dahua_line("VideoLoss", "Start", data={"LocaleTime": "2026-03-02 09:59:00"}).encode()
    local = read("NVR2", line)
    assert isinstance(local, list) and local[0].time_ns == RECEIVED_NS - 60 * 1_000_000_000
    at = int(datetime(2026, 3, 2, 1, 58, tzinfo=UTC).timestamp())
    utc = read("NVR2", dahua_json("VideoLoss", "Start", UTC=at))
    assert isinstance(utc, list) and utc[0].time_ns == at * 1_000_000_000


@pytest.mark.parametrize(
    ("payload", "reason", "words"),
    [
        pytest.param(
            b"--myboundary\r\nContent-Type: text/plain\r\n",
            Reason.PROFILE_MISMATCH,
            "no Code=",
            id="no-event",
        ),
        pytest.param(b"Code=VideoLoss;index=0", Reason.PROFILE_MISMATCH, "is not Start/Stop", id="no-action"),
        pytest.param(
            b"Code=VideoLoss;action=Start;junk", Reason.PROFILE_MISMATCH, "is not key=value", id="junk"
        ),
        pytest.param(
            b"Code=VideoLoss;action=Start;data={oops",
            Reason.MALFORMED_JSON,
            "data= is not JSON",
            id="bad-data",
        ),
        pytest.param(
            b'{"Code": "VideoLoss", "Action": "Start"',
            Reason.MALFORMED_JSON,
            "malformed JSON",
            id="json-broken",
        ),
        pytest.param(b'[{"Action": "Start"}]', Reason.PROFILE_MISMATCH, "without Code", id="json-no-code"),
        pytest.param(b"\xff\xfeCode=VideoLoss", Reason.PROFILE_MISMATCH, "not UTF-8", id="binary"),
        pytest.param(
            dahua_line("VideoLoss", "Start", data={"LocaleTime": "02/03/2026"}).encode(),
            Reason.PROFILE_MISMATCH,
            "LocaleTime",
            id="bad-local-time",
        ),
        pytest.param(("Heartbeat\n" * 65).encode(), Reason.PROFILE_MISMATCH, "at most 64", id="too-many"),
    ],
)
def test_bad_payloads_are_dead_letters_naming_the_profile(payload: bytes, reason: Reason, words: str) -> None:
    letter = refused("NVR2", payload)
    assert letter.reason is reason
    assert letter.detail.startswith("dahua-event: ") and words in letter.detail
