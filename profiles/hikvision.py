"""``hikvision-isapi``: an ISAPI ``EventNotificationAlert`` (XML, or its JSON form) as an NVR or
camera pushes it to an alarm centre (HTTP "Notify Surveillance Center") or through an MQTT bridge.

- ``videoloss`` active → event ``video_loss``; ``videoloss`` inactive is also what NVRs send every
  few seconds as a keep-alive: a sign of life whose video is present, so a heartbeat with
  ``recording: true`` — which clears ``cctv.video_loss`` as a canonical camera's keepalive does;
- ``diskfull`` / ``diskerror`` / ``hdError`` active → ``disk_failure``; inactive → ``disk_ok: true``;
- anything else (``VMD``, ``linedetection``, ``fielddetection``, a type we do not know) is kept as
  the info event ``vendor_event`` (stored, raises nothing): never refused.

A multipart body (the XML part of a picture upload) is read from its ``<EventNotificationAlert``.
"""

from __future__ import annotations

from typing import Any

from devices.base import Channel
from profiles.base import (
    VENDOR_EVENT,
    Failure,
    Message,
    ProfileError,
    Target,
    local,
    parse_json,
    parse_xml,
    xml_to_data,
)

_ROOT = "EventNotificationAlert"
_DISK = frozenset({"diskfull", "diskerror", "hderror"})


def decode(payload: bytes, target: Target) -> list[Message]:
    body = payload.lstrip()
    alert = _from_json(body) if body[:1] in (b"{", b"[") else _from_xml(body)
    return [_message(alert)]


def _from_xml(body: bytes) -> dict[str, Any]:
    start = body.find(b"<" + _ROOT.encode())
    if start > 0 and not body.startswith(b"<?xml"):
        end = body.find(b"</" + _ROOT.encode() + b">", start)
        body = body[start : end + len(_ROOT) + 3] if end > 0 else body[start:]
    root = parse_xml(body)
    if local(root.tag) != _ROOT:
        raise ProfileError(Failure.PROFILE_MISMATCH, f"root element {local(root.tag)[:64]!r}, not {_ROOT}")
    data = xml_to_data(root)
    return data if isinstance(data, dict) else {}


def _from_json(body: bytes) -> dict[str, Any]:
    data = parse_json(body)
    if isinstance(data, dict) and isinstance(data.get(_ROOT), dict):
        data = data[_ROOT]
    if not isinstance(data, dict):
        raise ProfileError(Failure.PROFILE_MISMATCH, f"JSON {type(data).__name__}, not an {_ROOT} object")
    return data


def _text(alert: dict[str, Any], name: str) -> str | None:
    value = alert.get(name)
    return None if value is None or isinstance(value, dict | list) else str(value).strip()


def _message(alert: dict[str, Any]) -> Message:
    event_type, state = _text(alert, "eventType"), _text(alert, "eventState")
    if not event_type:
        raise ProfileError(Failure.PROFILE_MISMATCH, f"{_ROOT} without eventType")
    active = (state or "active").lower() != "inactive"
    data: dict[str, Any] = {}
    if (when := _text(alert, "dateTime")) is not None:
        data["ts"] = when
    lowered = event_type.lower()
    if lowered == "videoloss":
        if active:
            return Message(Channel.EVENT, {"type": "video_loss", **data})
        return Message(Channel.HEARTBEAT, {"recording": True, **data})
    if lowered in _DISK:
        if active:
            return Message(Channel.EVENT, {"type": "disk_failure", **data})
        return Message(Channel.HEARTBEAT, {"disk_ok": True, **data})
    data |= {"vendor_type": event_type[:64], "vendor_state": "active" if active else "inactive"}
    channel = _text(alert, "channelID") or _text(alert, "dynChannelID")
    if channel is not None and channel.isdigit():
        data["vendor_channel"] = int(channel)
    return Message(Channel.EVENT, {"type": VENDOR_EVENT, **data})
