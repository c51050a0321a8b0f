"""Raw MQTT message → validated :class:`Reading`, or a :class:`Rejection` with its reason.

Pure: no I/O, time passed in. Tolerant of devices (unknown fields ignored), strict about values
(docs/contract.md §11): every rejection names one :class:`Reason` so it can be counted and dead-lettered.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from pydantic import ValidationError
from pydantic_core import from_json

from devices.base import ID_PATTERN, Channel, FieldValue, Kind, KindSpec, Payload, Reading
from devices.clock import to_ns
from devices.registry import REGISTRY
from profiles.base import VENDOR_EVENT, Message, ProfileError, Target
from profiles.route import RAW_CHANNEL, VendorRouter

log = logging.getLogger(__name__)
TOPIC_ROOT = "estate"
#: The gateway subscribes to everything under estate/ and judges the shape itself: a topic with a
#: level more or less than estate/{estate}/{kind}/{device}/{channel} is a dead letter ``bad_topic``,
#: not a message nobody sees. Its own alert messages (estate/{estate}/alerts) come back to it and
#: are let go (:func:`own_publication`).
DEVICE_TOPIC_FILTER = "estate/#"
EXCERPT_BYTES = 512


class Reason(StrEnum):
    """Why a message was not stored; the label of the dead-letter counter."""

    BAD_TOPIC = "bad_topic"
    BAD_ID = "bad_id"
    UNKNOWN_KIND = "unknown_kind"
    UNKNOWN_CHANNEL = "unknown_channel"
    OVERSIZED = "oversized"
    BAD_ENCODING = "bad_encoding"
    MALFORMED_JSON = "malformed_json"
    NOT_AN_OBJECT = "not_an_object"
    NAN_OR_INFINITY = "nan_or_infinity"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    MISSING_FIELD = "missing_field"
    UNKNOWN_EVENT = "unknown_event"
    BAD_TIMESTAMP = "bad_timestamp"
    TIMESTAMP_OUT_OF_RANGE = "timestamp_out_of_range"
    BAD_STATUS = "bad_status"
    KIND_MISMATCH = "kind_mismatch"
    STORAGE_REJECTED = "storage_rejected"
    UNKNOWN_REFERENCE = "unknown_reference"  # a patrol scan naming a checkpoint or guard not in the inventory
    #: A new unregistered device beyond the estate's cap (``ESTATE_UNREGISTERED_MAX``).
    UNREGISTERED_OVERFLOW = "unregistered_overflow"
    #: The decoder itself failed on this message (a bug, not the device's fault): kept, never fatal.
    DECODE_FAILED = "decode_failed"
    #: The rules failed on this reading (stored all the same: the data is good, our rules broke).
    RULES_FAILED = "rules_failed"
    # A vendor payload its profile could not read (docs/contract.md §3.6); the detail names the profile.
    BAD_FRAME = "bad_frame"  # a binary frame: bad CRC, too short, another unit or function
    BAD_XML = "bad_xml"  # not well-formed XML
    XML_FORBIDDEN = "xml_forbidden"  # a DTD, an entity (billion laughs), an external reference
    PROFILE_MISMATCH = "profile_mismatch"  # readable, but not what the profile reads
    NO_PROFILE = "no_profile"  # raw from a device without a profile; a vendor id no device has


@dataclass(frozen=True, slots=True)
class Rejection:
    topic: str
    reason: Reason
    detail: str
    excerpt: str
    received_ns: int
    #: The estate it belongs to where known: a canonical topic's, or the device a profile's own
    #: topic (``dtu/{vendor_id}/up``) named. None: no estate (an unknown vendor id, a bad topic).
    estate: str | None = None

    def of_estate(self) -> str | None:
        """Its estate, from ``estate`` or else from a canonical topic (``estate/{estate}/…``)."""
        return self.estate or topic_estate(self.topic)


def topic_estate(topic: str) -> str | None:
    """The estate a topic names (``estate/{estate}/…``), or None."""
    root, _, rest = topic.partition("/")
    estate = rest.partition("/")[0]
    return estate[:64] if root == TOPIC_ROOT and estate and "/" in rest else None


class Topic(NamedTuple):
    estate: str
    kind: Kind
    device: str
    channel: Channel


class KnownDevice(Protocol):
    """What the inventory says of a device, as the decoder needs it (the device table's own
    entries answer it, so a lookup builds nothing)."""

    @property
    def kind(self) -> Kind: ...

    @property
    def building(self) -> str: ...

    @property
    def estate(self) -> str: ...

    @property
    def id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A :class:`KnownDevice` on its own (tests, tools)."""

    kind: Kind
    building: str
    estate: str
    id: str


#: Looks a device up in the inventory: (estate, device) → what it says, or None when unregistered.
DeviceLookup = Callable[[str, str], KnownDevice | None]


class _Reject(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Limits:
    max_payload_bytes: int = 64 * 1024
    max_future_s: int = 300
    max_past_s: int = 7 * 86_400


_KINDS = {kind.value: kind for kind in Kind}
_CHANNELS = {channel.value: channel for channel in Channel}


def parse_topic(topic: str, lookup: DeviceLookup) -> tuple[Topic, KnownDevice | None]:
    """The topic's parts, and what the inventory says of its device (None: unregistered).

    A registered device's ids are known to be valid: only an unregistered one's are matched
    against the pattern (that took ~0.6 µs of every message)."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != TOPIC_ROOT:
        raise _Reject(Reason.BAD_TOPIC, "expected estate/{estate}/{kind}/{device}/{channel}")
    _, estate, kind, device, channel = parts
    info = lookup(estate, device)
    if info is None:
        for name, value in (("estate", estate), ("device", device)):
            if not ID_PATTERN.fullmatch(value):
                raise _Reject(Reason.BAD_ID, f"{name} id {value[:80]!r} is not [A-Za-z0-9_-]{{1,64}}")
    parsed_kind = _KINDS.get(kind)
    if parsed_kind is None:
        raise _Reject(Reason.UNKNOWN_KIND, f"unknown kind {kind[:64]!r}")
    parsed_channel = _CHANNELS.get(channel)
    if parsed_channel is None:
        raise _Reject(Reason.UNKNOWN_CHANNEL, f"unknown channel {channel[:64]!r}")
    if info is not None:  # the device table's own strings: a reading leaves no copy of them behind
        estate, device = info.estate, info.id
    return Topic(estate, parsed_kind, device, parsed_channel), info


def estate_topic_filter(estate: str) -> str:
    """The subscription of an instance that owns ``estate`` (scale-out)."""
    return f"{TOPIC_ROOT}/{estate}/#"


def own_publication(topic: str) -> bool:
    """Whether ``topic`` is one the gateway publishes under estate/ itself (estate/{estate}/alerts):
    such a message is not a device's and is neither stored nor dead-lettered."""
    parts = topic.split("/")
    return len(parts) == 3 and parts[0] == TOPIC_ROOT and parts[2] == "alerts"


def _refuse_constant(name: str) -> Any:
    raise _Reject(Reason.NAN_OR_INFINITY, f"{name} is not a number JSON allows")


#: One decoder for all (``json.loads`` with an option builds a new decoder at every call).
_JSON = json.JSONDecoder(parse_constant=_refuse_constant)


def _parse_json(payload: bytes) -> Any:
    """pydantic-core's JSON parser (Rust, ~1 µs for a device's payload; the standard library's
    takes ~4–6 µs). It refuses what is not strict JSON, NaN and Infinity included; whatever it
    refuses goes to the standard library's parser, whose errors name the reason precisely."""
    try:
        return from_json(payload, allow_inf_nan=False)
    except ValueError:
        return _parse_json_exactly(payload)


def _parse_json_exactly(payload: bytes) -> Any:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Reject(Reason.BAD_ENCODING, f"payload is not UTF-8: {exc.reason}") from None
    try:
        return _JSON.decode(text)
    except json.JSONDecodeError as exc:
        raise _Reject(Reason.MALFORMED_JSON, f"malformed JSON: {exc.msg} at {exc.pos}") from None
    except RecursionError:  # ~1,000 levels of [ or {: the parser recurses once a level
        raise _Reject(Reason.MALFORMED_JSON, "malformed JSON: nested too deep") from None
    except ValueError as exc:  # an integer literal past Python's 4,300-digit conversion limit
        raise _Reject(Reason.MALFORMED_JSON, f"malformed JSON: number literal too long ({exc})") from None


_PYDANTIC_REASONS: dict[str, Reason] = {
    "finite_number": Reason.NAN_OR_INFINITY,
    "greater_than": Reason.OUT_OF_RANGE,
    "greater_than_equal": Reason.OUT_OF_RANGE,
    "less_than": Reason.OUT_OF_RANGE,
    "less_than_equal": Reason.OUT_OF_RANGE,
    "too_short": Reason.OUT_OF_RANGE,
    "too_long": Reason.OUT_OF_RANGE,
    "missing": Reason.MISSING_FIELD,
}


def _validate(model: type[Payload], data: dict[str, Any]) -> Payload:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        reason = _PYDANTIC_REASONS.get(first["type"], Reason.WRONG_TYPE)
        raise _Reject(reason, f"{where}: {first['msg']}") from None


def parse_ts(value: Any, received_ns: int, limits: Limits) -> int:
    """The reading time in UTC ns: ISO 8601 with offset, or integer epoch milliseconds."""
    if value is None:
        return received_ns
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _Reject(Reason.BAD_TIMESTAMP, "ts must be ISO 8601 with offset or integer epoch ms")
    if isinstance(value, int):
        ts_ns = value * 1_000_000
    else:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise _Reject(Reason.BAD_TIMESTAMP, f"ts {value[:40]!r} is not ISO 8601") from None
        if when.tzinfo is None:
            raise _Reject(Reason.BAD_TIMESTAMP, "ts has no UTC offset")
        ts_ns = to_ns(when)
    if ts_ns > received_ns + limits.max_future_s * 1_000_000_000:
        raise _Reject(Reason.TIMESTAMP_OUT_OF_RANGE, "ts is too far in the future")
    if ts_ns < received_ns - limits.max_past_s * 1_000_000_000:
        raise _Reject(Reason.TIMESTAMP_OUT_OF_RANGE, "ts is too far in the past")
    return ts_ns


_STATUS_VALUES = {"online", "offline"}


def _status_fields(payload: bytes) -> dict[str, Any]:
    """``status`` is a bare ``online``/``offline``; a JSON string or {"status": …} is accepted too."""
    raw = payload.strip()
    if raw in (b"online", b"offline"):
        return {"status": raw.decode()}
    try:
        data = _parse_json(payload)
    except _Reject:
        raise _Reject(Reason.BAD_STATUS, "status must be 'online' or 'offline'") from None
    value = data.get("status") if isinstance(data, dict) else data
    if not isinstance(value, str) or value not in _STATUS_VALUES:
        raise _Reject(Reason.BAD_STATUS, "status must be 'online' or 'offline'")
    out: dict[str, Any] = {"status": value}
    if isinstance(data, dict) and "ts" in data:
        out["ts"] = data["ts"]
    return out


def _fields_for(
    spec: KindSpec, channel: Channel, data: dict[str, Any]
) -> tuple[dict[str, FieldValue], str | None]:
    if channel is Channel.TELEMETRY:
        return _validate(spec.telemetry, data).stored_fields(), None
    if channel is Channel.HEARTBEAT:
        return _validate(spec.heartbeat, data).stored_fields(), None
    if channel is Channel.STATUS:
        return {"status": str(data["status"])}, None
    event_type = data.get("type")
    model = spec.events.get(event_type) if isinstance(event_type, str) else None
    if model is None or not isinstance(event_type, str):
        raise _Reject(Reason.UNKNOWN_EVENT, f"unknown {spec.kind} event type {str(event_type)[:64]!r}")
    return {"event": event_type, **_validate(model, data).stored_fields()}, event_type


def excerpt(payload: bytes) -> str:
    return payload[:EXCERPT_BYTES].decode("utf-8", errors="backslashreplace")


def decode(
    topic: str, payload: bytes, received_ns: int, lookup: DeviceLookup, limits: Limits = Limits()
) -> Reading | Rejection:
    """Validate and normalise one message; never raises, whatever the message holds."""
    try:
        return _decode(topic, payload, received_ns, lookup, limits)
    except _Reject as rej:
        return rejected(topic, payload, received_ns, rej.reason, rej.detail)
    except Exception as exc:  # a decoder bug must cost one message, never the pipeline (docs/contract.md §11)
        log.exception("decoding a message on %s failed", topic[:200])
        return failed(topic, payload, received_ns, exc)


def failed(topic: str, payload: bytes, received_ns: int, exc: Exception) -> Rejection:
    """The dead letter of a message the gateway itself failed on (``decode_failed``)."""
    detail = f"the gateway could not process it: {type(exc).__name__}: {str(exc)[:200]}"
    return rejected(topic, payload, received_ns, Reason.DECODE_FAILED, detail)


def rejected(topic: str, payload: bytes, received_ns: int, reason: Reason, detail: str) -> Rejection:
    """The dead letter of a message: its topic (at most 512 characters) and an excerpt."""
    return Rejection(topic[:512], reason, detail, excerpt(payload), received_ns)


def _decode(topic: str, payload: bytes, received_ns: int, lookup: DeviceLookup, limits: Limits) -> Reading:
    parsed, info = parse_topic(topic, lookup)
    if len(payload) > limits.max_payload_bytes:
        raise _Reject(Reason.OVERSIZED, f"payload of {len(payload)} bytes > {limits.max_payload_bytes}")
    if parsed.channel is Channel.STATUS:
        data = _status_fields(payload)
    else:
        data = _parse_json(payload)
        if not isinstance(data, dict):
            raise _Reject(Reason.NOT_AN_OBJECT, "payload must be one JSON object")
    time_ns = parse_ts(data.pop("ts", None), received_ns, limits)
    if info is not None and info.kind is not parsed.kind:
        raise _Reject(Reason.KIND_MISMATCH, f"device is a {info.kind} in the inventory, not a {parsed.kind}")
    fields, event = _fields_for(REGISTRY[parsed.kind], parsed.channel, data)
    if b"\\u0000" in payload:  # the only way JSON puts a NUL in a string; no store keeps one
        for name, value in fields.items():
            if isinstance(value, str) and "\x00" in value:
                raise _Reject(Reason.WRONG_TYPE, f"{name}: text must not contain NUL (\\u0000)")
    return Reading(
        estate=parsed.estate,
        kind=parsed.kind,
        device=parsed.device,
        channel=parsed.channel,
        building=info.building if info else "",
        time_ns=time_ns,
        fields=fields,
        event=event,
        registered=info is not None,
    )


# -- vendor payloads (docs/contract.md §3.6) ------------------------------------------------------

#: The canonical decoder's reasons for a topic a profile may read: ``.../raw``, a profile's own topic.
VENDOR_REASONS = frozenset({Reason.BAD_TOPIC, Reason.UNKNOWN_CHANNEL})


def decode_vendor(
    topic: str, payload: bytes, received_ns: int, router: VendorRouter, limits: Limits = Limits()
) -> list[Reading] | Rejection | None:
    """A vendor payload the canonical decoder refused for its topic: its readings, or its dead letter
    naming the profile; None when the topic is neither ``raw`` nor a profile's (the refusal stands).
    Never raises, whatever the payload holds."""
    profile, estate = "?", None
    try:
        target = _vendor_target(topic, router)
        if target is None:
            return None
        profile, estate = target.profile, target.estate
        if len(payload) > limits.max_payload_bytes:
            raise _Reject(Reason.OVERSIZED, f"payload of {len(payload)} bytes > {limits.max_payload_bytes}")
        messages = router.decode(payload, target)
        return [_vendor_reading(target, message, received_ns, limits) for message in messages]
    except _Elsewhere:
        return []  # a device of an estate another instance owns (scale-out): its owner reads it
    except ProfileError as exc:
        reason = Reason(exc.failure.value)
        return _vendor_rejected(topic, payload, received_ns, reason, f"{profile}: {exc.detail}", estate)
    except _Reject as rej:
        detail = rej.detail if profile == "?" else f"{profile}: {rej.detail}"
        return _vendor_rejected(topic, payload, received_ns, rej.reason, detail, estate)
    except Exception as exc:  # a profile's bug costs one message, never the pipeline
        log.exception("profile %s failed on a message of %s", profile, topic[:200])
        detail = f"{profile}: the gateway could not process it: {type(exc).__name__}: {str(exc)[:200]}"
        return _vendor_rejected(topic, payload, received_ns, Reason.DECODE_FAILED, detail, estate)


class _Elsewhere(Exception):
    """The topic is a profile's, of a device another gateway instance owns."""


def _vendor_target(topic: str, router: VendorRouter) -> Target | None:
    parts = topic.split("/")
    if len(parts) == 5 and parts[0] == TOPIC_ROOT and parts[4] == RAW_CHANNEL:
        _, estate, kind, device, _ = parts
        target = router.device(estate, device)
        if target is None:
            why = f"{device[:64]!r} of {estate[:64]!r} has no profile in the inventory"
            raise _Reject(Reason.NO_PROFILE, why)
        if target.kind.value != kind:
            why = f"device is a {target.kind} in the inventory, not a {kind[:64]}"
            raise _Reject(Reason.KIND_MISMATCH, why)
        return target
    found = router.by_topic(topic)
    if found is None:
        raise _Reject(Reason.NO_PROFILE, "no device of the inventory has this topic's vendor_id")
    if found is True:
        raise _Elsewhere
    return None if found is False else found


def _vendor_reading(target: Target, message: Message, received_ns: int, limits: Limits) -> Reading:
    """A profile's canonical message, validated as if the device had published it itself."""
    channel, data = message.channel, dict(message.data)
    time_ns = parse_ts(data.pop("ts", None), received_ns, limits)
    event: str | None = None
    if channel is Channel.STATUS:
        fields: dict[str, FieldValue] = {"status": str(data["status"])}
    elif channel is Channel.EVENT and data.get("type") == VENDOR_EVENT:
        fields, event = _vendor_event(data), VENDOR_EVENT
    else:
        fields, event = _fields_for(REGISTRY[target.kind], channel, data)
    where = (target.estate, target.kind, target.device, channel, target.building)
    return Reading(*where, time_ns, fields, event)


def _vendor_event(data: dict[str, Any]) -> dict[str, FieldValue]:
    """An event of no canonical meaning (a camera's motion detection): kept, raises nothing."""
    fields: dict[str, FieldValue] = {"event": VENDOR_EVENT}
    for name in ("vendor_type", "vendor_state"):
        value = data.get(name)
        if isinstance(value, str) and value and "\x00" not in value:
            fields[name] = value[:64]
    channel = data.get("vendor_channel")
    if isinstance(channel, int) and not isinstance(channel, bool) and 0 <= channel < 100_000:
        fields["vendor_channel"] = channel
    return fields


def vendor_excerpt(payload: bytes) -> str:
    """The excerpt of a vendor payload: its text, or hex for a binary frame."""
    try:
        return payload.decode("utf-8")[:EXCERPT_BYTES]
    except UnicodeDecodeError:
        return "hex: " + payload[: EXCERPT_BYTES // 3].hex(" ")


def _vendor_rejected(
    topic: str, payload: bytes, received_ns: int, reason: Reason, detail: str, estate: str | None = None
) -> Rejection:
    return Rejection(topic[:512], reason, detail[:500], vendor_excerpt(payload), received_ns, estate)
