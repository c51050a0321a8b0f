"""Decoding: every bad-input class of docs/contract.md §11 gets its reason; good input keeps its types."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.base import Channel, Kind, Reading
from devices.clock import to_ns
from gateway.ingest import DeviceInfo, Limits, Reason, Rejection, _parse_json, _Reject, decode

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
NOW_NS = to_ns(NOW)
INVENTORY = {
    ("sunrise", "L1"): DeviceInfo(Kind.LIFT, "B1", "sunrise", "L1"),
    ("sunrise", "T1"): DeviceInfo(Kind.WATER_TANK, "B1", "sunrise", "T1"),
}


def lookup(estate: str, device: str) -> DeviceInfo | None:
    return INVENTORY.get((estate, device))


def run(
    topic: str, payload: bytes | str | dict[str, object], limits: Limits = Limits()
) -> Reading | Rejection:
    if isinstance(payload, dict):
        payload = json.dumps(payload)
    if isinstance(payload, str):
        payload = payload.encode()
    return decode(topic, payload, NOW_NS, lookup, limits)


def reason(topic: str, payload: bytes | str | dict[str, object], limits: Limits = Limits()) -> Reason:
    result = run(topic, payload, limits)
    assert isinstance(result, Rejection), f"expected a rejection, got {result}"
    return result.reason


LIFT = "estate/sunrise/lift/L1/telemetry"
TANK = "estate/sunrise/water_tank/T1/telemetry"


def test_good_telemetry_keeps_types_and_drops_unknown_fields() -> None:
    result = run(LIFT, {"floor": 7, "door": "closed", "passenger": True, "speed_m_s": 1, "vendor_x": 1})
    assert isinstance(result, Reading)
    assert result.fields == {"floor": 7, "door": "closed", "passenger": True, "speed_m_s": 1.0}
    assert isinstance(result.fields["speed_m_s"], float)  # an int on the wire stays a float field
    assert (result.building, result.registered, result.time_ns) == ("B1", True, NOW_NS)


def test_ts_as_iso_with_offset_and_as_epoch_ms() -> None:
    iso = run(LIFT, {"floor": 1, "ts": "2026-11-22T15:59:00.123+08:00"})
    epoch = run(LIFT, {"floor": 1, "ts": to_ns(NOW) // 1_000_000 - 60_000})
    assert isinstance(iso, Reading) and isinstance(epoch, Reading)
    assert iso.time_ns == NOW_NS - 60 * 10**9 + 123 * 10**6
    assert epoch.time_ns == NOW_NS - 60 * 10**9


def test_event_is_stored_with_its_type_and_fields() -> None:
    result = run("estate/sunrise/lift/L1/event", {"type": "fault", "code": "entrapment"})
    assert isinstance(result, Reading)
    assert result.event == "fault"
    assert result.fields == {"event": "fault", "code": "entrapment"}


def test_unregistered_device_is_accepted_and_marked() -> None:
    result = run("estate/sunrise/lift/L99/telemetry", {"floor": 2})
    assert isinstance(result, Reading)
    assert (result.registered, result.building) == (False, "")


@pytest.mark.parametrize("payload", [b"online", b" offline\n", b'"online"', b'{"status": "offline"}'])
def test_status_forms(payload: bytes) -> None:
    result = run("estate/sunrise/lift/L1/status", payload)
    assert isinstance(result, Reading)
    assert result.channel is Channel.STATUS
    assert result.fields["status"] in {"online", "offline"}


@pytest.mark.parametrize(
    ("topic", "payload", "expected"),
    [
        (LIFT, b"{not json", Reason.MALFORMED_JSON),
        (LIFT, b"", Reason.MALFORMED_JSON),
        (LIFT, b"[1, 2]", Reason.NOT_AN_OBJECT),
        (LIFT, b'"floor"', Reason.NOT_AN_OBJECT),
        (LIFT, b"\xff\xfe{}", Reason.BAD_ENCODING),
        (LIFT, {"floor": "seven"}, Reason.WRONG_TYPE),
        (LIFT, {"floor": 7.5}, Reason.WRONG_TYPE),
        (LIFT, {"floor": "7"}, Reason.WRONG_TYPE),  # no coercion: fields never change type
        (LIFT, {"floor": True}, Reason.WRONG_TYPE),
        (LIFT, {"passenger": "yes"}, Reason.WRONG_TYPE),
        (LIFT, {"passenger": 1}, Reason.WRONG_TYPE),
        (LIFT, {"door": "ajar"}, Reason.WRONG_TYPE),
        (LIFT, b'{"speed_m_s": NaN}', Reason.NAN_OR_INFINITY),
        (LIFT, b'{"speed_m_s": Infinity}', Reason.NAN_OR_INFINITY),
        (LIFT, b'{"speed_m_s": -Infinity}', Reason.NAN_OR_INFINITY),
        (LIFT, b'{"speed_m_s": 1e999}', Reason.NAN_OR_INFINITY),
        (TANK, {"level_pct": 150}, Reason.OUT_OF_RANGE),
        (TANK, {"ph": -1}, Reason.OUT_OF_RANGE),
        ("estate/sunrise/elevator/L1/telemetry", {"floor": 1}, Reason.UNKNOWN_KIND),
        ("estate/sunrise/lift/L1/metrics", {"floor": 1}, Reason.UNKNOWN_CHANNEL),
        ("estate/sunrise/lift/L+1/telemetry", {"floor": 1}, Reason.BAD_ID),
        ("estate/sun#rise/lift/L1/telemetry", {"floor": 1}, Reason.BAD_ID),
        ("estate/sunrise/lift/L 1/telemetry", {"floor": 1}, Reason.BAD_ID),
        ("estate/sunrise/lift/电梯1/telemetry", {"floor": 1}, Reason.BAD_ID),
        ("estate/sunrise/lift/" + "L" * 65 + "/telemetry", {"floor": 1}, Reason.BAD_ID),
        ("estate//lift/L1/telemetry", {"floor": 1}, Reason.BAD_ID),
        ("estate/sunrise/lift/L1", {"floor": 1}, Reason.BAD_TOPIC),
        ("estate/sunrise/lift/L1/telemetry/extra", {"floor": 1}, Reason.BAD_TOPIC),
        ("building/sunrise/lift/L1/telemetry", {"floor": 1}, Reason.BAD_TOPIC),
        (LIFT, {"floor": 1, "ts": "2026-11-22T08:00:00"}, Reason.BAD_TIMESTAMP),
        (LIFT, {"floor": 1, "ts": "yesterday"}, Reason.BAD_TIMESTAMP),
        (LIFT, {"floor": 1, "ts": True}, Reason.BAD_TIMESTAMP),
        (LIFT, {"floor": 1, "ts": 1.7e12}, Reason.BAD_TIMESTAMP),
        (LIFT, {"floor": 1, "ts": "2030-01-01T00:00:00+00:00"}, Reason.TIMESTAMP_OUT_OF_RANGE),
        (LIFT, {"floor": 1, "ts": "2001-01-01T00:00:00+00:00"}, Reason.TIMESTAMP_OUT_OF_RANGE),
        (LIFT, {"floor": 1, "ts": 0}, Reason.TIMESTAMP_OUT_OF_RANGE),
        ("estate/sunrise/lift/L1/event", {"type": "explosion"}, Reason.UNKNOWN_EVENT),
        ("estate/sunrise/lift/L1/event", {"code": "entrapment"}, Reason.UNKNOWN_EVENT),
        ("estate/sunrise/lift/L1/event", {"type": "fault"}, Reason.MISSING_FIELD),
        ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "sneeze"}, Reason.WRONG_TYPE),
        ("estate/sunrise/lift/L1/status", b"maybe", Reason.BAD_STATUS),
        ("estate/sunrise/light/L1/telemetry", {"on": True}, Reason.KIND_MISMATCH),
    ],
)
def test_bad_input_gets_its_reason(topic: str, payload: bytes | dict[str, object], expected: Reason) -> None:
    assert reason(topic, payload) is expected


def test_oversized_payload() -> None:
    payload = json.dumps({"floor": 1, "pad": "x" * 70_000})
    assert reason(LIFT, payload) is Reason.OVERSIZED
    assert reason(LIFT, '{"floor": 1}', Limits(max_payload_bytes=5)) is Reason.OVERSIZED


def test_rejection_keeps_topic_excerpt_and_detail() -> None:
    result = run(LIFT, b'{"floor": "x"}')
    assert isinstance(result, Rejection)
    assert result.topic == LIFT
    assert result.excerpt == '{"floor": "x"}'
    assert "floor" in result.detail
    assert result.received_ns == NOW_NS


@settings(max_examples=300, deadline=None)
@given(
    topic=st.one_of(
        st.text(max_size=80),
        st.builds(
            "estate/{}/{}/{}/{}".format,
            st.sampled_from(["sunrise", "x y", ""]),
            st.sampled_from([k.value for k in Kind] + ["bogus"]),
            st.sampled_from(["L1", "T1", "Z9"]),
            st.sampled_from([c.value for c in Channel] + ["nope"]),
        ),
    ),
    payload=st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
            ),
            max_leaves=12,
        ).map(lambda v: json.dumps(v, allow_nan=True).encode()),
    ),
)
def test_decode_never_raises(topic: str, payload: bytes) -> None:
    result = decode(topic, payload, NOW_NS, lookup)
    assert isinstance(result, Reading | Rejection)
    if isinstance(result, Reading):
        for value in result.fields.values():
            assert isinstance(value, bool | int | float | str)
            assert not (isinstance(value, float) and math.isnan(value))


def test_text_with_a_nul_is_refused_and_an_escaped_backslash_is_not() -> None:
    denied = "estate/sunrise/access/D9/event"
    assert reason(denied, b'{"type": "denied", "card": "A\\u0000B"}') is Reason.WRONG_TYPE
    kept = run(denied, b'{"type": "denied", "card": "A\\\\u0000B"}')  # a backslash, then "u0000"
    assert isinstance(kept, Reading) and kept.fields["card"] == "A\\u0000B"


# The fast JSON parser (pydantic-core) reads every payload as the standard library would.

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(value=JSON_VALUES, ascii_only=st.booleans())
def test_the_fast_json_parser_reads_what_the_standard_one_reads(value: object, ascii_only: bool) -> None:
    payload = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert _parse_json(payload) == json.loads(payload)


@settings(max_examples=400, deadline=None)
@given(payload=st.binary(max_size=40) | st.text(max_size=40).map(str.encode))
def test_any_bytes_parse_as_the_standard_parser_says_or_are_refused_with_its_reason(payload: bytes) -> None:
    def refuse(name: str) -> object:
        raise ValueError(name)  # NaN and Infinity: the gateway's reason nan_or_infinity

    try:
        expected = json.loads(payload.decode("utf-8"), parse_constant=refuse)
    except ValueError:  # not UTF-8, not JSON, or NaN/Infinity
        with pytest.raises(_Reject):
            _parse_json(payload)
        return
    assert _parse_json(payload) == expected


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"a": "\\ud800"}', {"a": "\ud800"}),  # a lone surrogate: the fast parser refuses, as before
        (b'{"a": NaN}', Reason.NAN_OR_INFINITY),
        (b'{"a": 1} x', Reason.MALFORMED_JSON),
        (b'\xef\xbb\xbf{"a": 1}', Reason.MALFORMED_JSON),  # a byte-order mark is not JSON
        (b'{"a": "\xff"}', Reason.BAD_ENCODING),
    ],
)
def test_what_the_fast_parser_refuses_gets_the_standard_parsers_answer(
    payload: bytes, expected: object
) -> None:
    if isinstance(expected, Reason):
        with pytest.raises(_Reject) as refused:
            _parse_json(payload)
        assert refused.value.reason is expected
    else:
        assert _parse_json(payload) == expected


def test_a_registered_devices_reading_keeps_the_device_tables_own_ids() -> None:
    """The state and the rules keep a reading's ids: they are the table's strings, so a message
    leaves no copy of them behind (issue 8: memory per device)."""
    info = INVENTORY[("sunrise", "L1")]
    reading = decode("estate/sunrise/lift/L1/telemetry", b'{"floor": 3}', NOW_NS, lookup)
    assert isinstance(reading, Reading)
    assert reading.estate is info.estate
    assert reading.device is info.id


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        (b"[" * 1000, "nested too deep"),  # the ~1 KB message that killed the pipeline thread
        (
            b'{"floor": 1, "extra": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            "nested too deep",
        ),  # in an ignored field
        (b'{"floor": ' + b"1" * 5000 + b"}", "number literal too long"),
        (b'{"ts": ' + b"9" * 4400 + b"}", "number literal too long"),
    ],
    ids=["brackets", "deep-extra", "long-int", "long-ts"],
)
def test_poison_json_is_malformed_json_not_an_exception(payload: bytes, detail: str) -> None:
    result = run(LIFT, payload)
    assert isinstance(result, Rejection)
    assert result.reason is Reason.MALFORMED_JSON
    assert detail in result.detail
    status = run("estate/sunrise/lift/L1/status", payload)  # a retained status is decoded the same way
    assert isinstance(status, Rejection) and status.reason is Reason.BAD_STATUS


@pytest.mark.expect_errors
def test_a_decoder_bug_costs_one_message_as_a_dead_letter(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway import ingest  # noqa: PLC0415 - the module whose helper is broken on purpose

    def broken(*_args: object) -> None:
        raise KeyError("injected")

    monkeypatch.setattr(ingest, "_fields_for", broken)
    result = run(LIFT, {"floor": 3})
    assert isinstance(result, Rejection)
    assert result.reason is Reason.DECODE_FAILED
    assert "KeyError" in result.detail and result.excerpt == '{"floor": 3}'
