"""``dahua-event``: the events of a Dahua camera or NVR, as its event stream
(``/cgi-bin/eventManager.cgi?action=attach``) carries them — one line each,
``Code=VideoLoss;action=Start;index=0`` (optionally ``;data={...}``), between multipart headers and
``Heartbeat`` lines — or in their JSON form, ``{"Code": ..., "Action": ..., "Index": ...}`` (one
object, a list of them, or ``{"Events": [...]}``).

- ``VideoLoss`` and ``VideoBlind`` (the lens covered: no usable picture) Start → ``video_loss``;
  Stop → a heartbeat with ``recording: true`` (clears it, as a canonical camera's keepalive does);
- ``StorageFailure``, ``StorageNotExist``, ``StorageLowSpace`` Start → ``disk_failure``; Stop →
  ``disk_ok: true``;
- ``Heartbeat`` → a sign of life; any other code → the info event ``vendor_event``.

Time: ``LocaleTime`` (``2026-03-02 10:00:00``, the device's wall clock: read in the estate's time
zone) or ``UTC`` (epoch seconds) of the JSON form or of a line's ``data``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from devices.base import Channel
from profiles.base import VENDOR_EVENT, Failure, Message, ProfileError, Target, parse_json

_LOSS = frozenset({"videoloss", "videoblind"})
_DISK = frozenset({"storagefailure", "storagenotexist", "storagelowspace"})
_MAX_EVENTS = 64


def decode(payload: bytes, target: Target) -> list[Message]:
    body = payload.strip()
    events = _json_events(body) if body[:1] in (b"{", b"[") else _line_events(body)
    if not events:
        raise ProfileError(Failure.PROFILE_MISMATCH, "no Code=…;action=… line and no Heartbeat")
    if len(events) > _MAX_EVENTS:
        raise ProfileError(
            Failure.PROFILE_MISMATCH, f"{len(events)} events in one payload (at most {_MAX_EVENTS})"
        )
    return [_message(event, target) for event in events]


def _json_events(body: bytes) -> list[dict[str, Any]]:
    data = parse_json(body)
    if isinstance(data, dict) and isinstance(data.get("Events"), list):
        data = data["Events"]
    items = data if isinstance(data, list) else [data]
    if not all(isinstance(item, dict) for item in items):
        raise ProfileError(Failure.PROFILE_MISMATCH, "JSON events must be objects with Code and Action")
    return [{str(k).lower(): v for k, v in item.items()} for item in items]


def _line_events(body: bytes) -> list[dict[str, Any]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(Failure.PROFILE_MISMATCH, f"event lines are not UTF-8: {exc.reason}") from None
    events: list[dict[str, Any]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.lower() == "heartbeat":
            events.append({"code": "Heartbeat"})
        elif line.startswith("Code="):
            events.append(_line(line))
        # else: a multipart boundary or header (--myboundary, Content-Type: …): not an event
    return events


def _line(line: str) -> dict[str, Any]:
    head, _, data = line.partition(";data=")
    event: dict[str, Any] = {}
    for part in head.split(";"):
        key, sep, value = part.partition("=")
        if not sep:
            raise ProfileError(Failure.PROFILE_MISMATCH, f"{part[:64]!r} is not key=value")
        event[key.strip().lower()] = value.strip()
    if data:
        try:
            extra = json.loads(data)
        except (json.JSONDecodeError, RecursionError, ValueError):
            raise ProfileError(Failure.MALFORMED_JSON, "the line's data= is not JSON") from None
        if isinstance(extra, dict):
            event["data"] = {str(k).lower(): v for k, v in extra.items()}
    return event


def _message(event: dict[str, Any], target: Target) -> Message:
    code = event.get("code")
    if not isinstance(code, str) or not code:
        raise ProfileError(Failure.PROFILE_MISMATCH, "an event without Code")
    data = _time(event, target)
    lowered = code.lower()
    if lowered == "heartbeat":
        return Message(Channel.HEARTBEAT, data)
    action = str(event.get("action", "")).lower()
    if action not in ("start", "stop", "pulse"):
        raise ProfileError(
            Failure.PROFILE_MISMATCH, f"{code[:64]}: action {action[:32]!r} is not Start/Stop/Pulse"
        )
    stop = action == "stop"
    if lowered in _LOSS:
        return Message(Channel.HEARTBEAT, {"recording": True, **data}) if stop else _event("video_loss", data)
    if lowered in _DISK:
        return Message(Channel.HEARTBEAT, {"disk_ok": True, **data}) if stop else _event("disk_failure", data)
    data |= {"vendor_type": code[:64], "vendor_state": "inactive" if stop else "active"}
    index = event.get("index")
    if (isinstance(index, int) and not isinstance(index, bool)) or (
        isinstance(index, str) and index.isdigit()
    ):
        data["vendor_channel"] = int(index)
    return _event(VENDOR_EVENT, data)


def _event(type_: str, data: dict[str, Any]) -> Message:
    return Message(Channel.EVENT, {"type": type_, **data})


def _time(event: dict[str, Any], target: Target) -> dict[str, Any]:
    data = event.get("data")
    source: dict[str, Any] = data if isinstance(data, dict) else event
    local_time, utc = source.get("localetime"), source.get("utc")
    if isinstance(local_time, str):
        try:
            wall = datetime.strptime(local_time, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise ProfileError(
                Failure.PROFILE_MISMATCH, f"LocaleTime {local_time[:40]!r} is not Y-m-d H:M:S"
            ) from None
        return {"ts": wall.replace(tzinfo=target.tz).isoformat()}
    if isinstance(utc, int) and not isinstance(utc, bool):
        return {"ts": utc * 1000}
    return {}
