"""``hikvision-isapi``: EventNotificationAlert samples in the shapes ISAPI documents (XML and JSON,
alone and inside a multipart body) and their canonical readings; malformed ones and XML bombs are
dead letters naming the profile."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest

from gateway.ingest import Reason
from profiles.encode import hikvision_json, hikvision_xml
from tests.profiles.helpers import RECEIVED, RECEIVED_NS, read, readings, refused

SHANGHAI = timezone(timedelta(hours=8))
AT = RECEIVED - timedelta(seconds=30)

SAMPLES = [
    pytest.param(
        hikvision_xml("videoloss", "active", AT), [("event", {"event": "video_loss"})], id="videoloss-active"
    ),
    pytest.param(
        hikvision_xml("videoloss", "inactive", AT),
        [("heartbeat", {"recording": True})],
        id="keepalive-inactive",
    ),
    pytest.param(
        hikvision_xml("diskerror", "active", AT), [("event", {"event": "disk_failure"})], id="diskerror"
    ),
    pytest.param(
        hikvision_xml("diskfull", "active", AT), [("event", {"event": "disk_failure"})], id="diskfull"
    ),
    pytest.param(
        hikvision_xml("hdError", "active", AT), [("event", {"event": "disk_failure"})], id="hdError"
    ),
    pytest.param(
        hikvision_xml("diskerror", "inactive", AT), [("heartbeat", {"disk_ok": True})], id="disk-back"
    ),
    pytest.param(
        hikvision_xml("VMD", "active", AT, channel=3),
        [
            (
                "event",
                {
                    "event": "vendor_event",
                    "vendor_type": "VMD",
                    "vendor_state": "active",
                    "vendor_channel": 3,
                },
            )
        ],
        id="motion-info",
    ),
    pytest.param(
        hikvision_xml("linedetection", "inactive", AT),
        [
            (
                "event",
                {
                    "event": "vendor_event",
                    "vendor_type": "linedetection",
                    "vendor_state": "inactive",
                    "vendor_channel": 1,
                },
            )
        ],
        id="line-crossing-info",
    ),
    pytest.param(
        hikvision_json("shelteralarm", "active", AT),
        [
            (
                "event",
                {
                    "event": "vendor_event",
                    "vendor_type": "shelteralarm",
                    "vendor_state": "active",
                    "vendor_channel": 1,
                },
            )
        ],
        id="unknown-type-kept",
    ),
    pytest.param(
        hikvision_json("videoloss", "active", AT), [("event", {"event": "video_loss"})], id="json-form"
    ),
    pytest.param(
        b'{"EventNotificationAlert": {"eventType": "videoloss", "eventState": "inactive"}}',
        [("heartbeat", {"recording": True})],
        id="json-wrapped",
    ),
    pytest.param(
        b"--boundary\r\nContent-Type: application/xml\r\n\r\n"
        + hikvision_xml("videoloss", "active", AT).split(b"\n", 1)[1]
        + b"\r\n--boundary\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0JFIF\r\n--boundary--",
        [("event", {"event": "video_loss"})],
        id="multipart-with-picture",
    ),
]


@pytest.mark.parametrize(("payload", "expected"), SAMPLES)
def test_samples_become_canonical_readings(
    payload: bytes, expected: list[tuple[str, dict[str, object]]]
) -> None:
    assert readings("NVR1", payload) == expected


def test_the_time_offset_is_honoured() -> None:
    """dateTime 10:00:00+08:00 is 02:00:00 UTC: the reading's time, not the receive time."""
    result = read(
        "NVR1", hikvision_xml("videoloss", "active", RECEIVED.astimezone(SHANGHAI) - timedelta(minutes=1))
    )
    assert not isinstance(result, Exception) and isinstance(result, list)
    assert result[0].time_ns == RECEIVED_NS - 60 * 1_000_000_000
    no_time = read("NVR1", b'{"eventType": "videoloss", "eventState": "active"}')
    assert isinstance(no_time, list) and no_time[0].time_ns == RECEIVED_NS


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<EventNotificationAlert><eventType>&lol9;</eventType></EventNotificationAlert>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<EventNotificationAlert><eventType>&xxe;</eventType></EventNotificationAlert>"""


@pytest.mark.parametrize(
    ("payload", "reason", "words"),
    [
        pytest.param(BILLION_LAUGHS, Reason.XML_FORBIDDEN, "refused unread", id="billion-laughs"),
        pytest.param(EXTERNAL_ENTITY, Reason.XML_FORBIDDEN, "refused unread", id="external-entity"),
        pytest.param(
            b"<EventNotificationAlert><eventType>vid", Reason.BAD_XML, "not well-formed", id="truncated"
        ),
        pytest.param(b"\x00\x01garbage", Reason.BAD_XML, "not well-formed", id="garbage"),
        pytest.param(
            b"<ResponseStatus><statusCode>1</statusCode></ResponseStatus>",
            Reason.PROFILE_MISMATCH,
            "root element",
            id="other-root",
        ),
        pytest.param(
            b"<EventNotificationAlert><eventState>active</eventState></EventNotificationAlert>",
            Reason.PROFILE_MISMATCH,
            "without eventType",
            id="no-type",
        ),
        pytest.param(
            b'{"eventType": "videoloss", "eventState": "active"',
            Reason.MALFORMED_JSON,
            "malformed JSON",
            id="json-broken",
        ),
        pytest.param(b"[1, 2]", Reason.PROFILE_MISMATCH, "not an EventNotificationAlert", id="json-list"),
        pytest.param(
            b'{"eventType": "videoloss", "dateTime": "2026-03-02T10:00:00"}',
            Reason.BAD_TIMESTAMP,
            "no UTC offset",
            id="time-without-offset",
        ),
        pytest.param(
            b'{"eventType": "videoloss", "dateTime": "2021-03-02T10:00:00+08:00"}',
            Reason.TIMESTAMP_OUT_OF_RANGE,
            "past",
            id="time-years-ago",
        ),
    ],
)
def test_bad_payloads_are_dead_letters_naming_the_profile(payload: bytes, reason: Reason, words: str) -> None:
    letter = refused("NVR1", payload)
    assert letter.reason is reason
    assert letter.detail.startswith("hikvision-isapi: ") and words in letter.detail
    assert letter.excerpt  # the raw excerpt is kept
