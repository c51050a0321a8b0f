"""A user-defined profile of the inventory (``profiles:``), for a JSON or XML device: each telemetry
field read at a JMESPath (value table, unit conversion, scale and offset), each event rule checked
(``when`` a path equals a value → the event with its fields). XML is read as data first (elements
by local name, attributes ``@name``, see :func:`profiles.base.xml_to_data`), so the same paths
serve both. A payload that yields no field and no event is still a sign of life (a heartbeat).

Nothing is silently dropped: a value its table does not have, or text where a number is wanted, is
a dead letter ``profile_mismatch`` naming the field; a path that finds nothing leaves that field out.
"""

from __future__ import annotations

import math
from typing import Any

from devices.base import Channel, FieldValue
from profiles.base import Failure, Message, ProfileError, Target, parse_json, parse_xml, xml_to_data
from profiles.config import CONVERSIONS, FieldRead, Format, UserProfile, field_type


def decode(payload: bytes, target: Target) -> list[Message]:
    profile = target.user
    if profile is None:
        raise ProfileError(Failure.NO_PROFILE, "the device's profile is not in the inventory")
    document = xml_to_data(parse_xml(payload)) if profile.format is Format.XML else parse_json(payload)
    ts = _ts(profile, document)
    out: list[Message] = []
    fields = {}
    for name, read in profile.telemetry.items():
        value = read.compiled.search(document)
        if value is not None:
            fields[name] = convert(read, value, field_type(target.kind, name), name)
    if fields:
        out.append(Message(Channel.TELEMETRY, {**fields, **ts}))
    for rule in profile.events:
        if _holds(rule.when.compiled.search(document), rule.when.values()):
            data: dict[str, Any] = {"type": rule.type, **rule.fields, **ts}
            for name, read in rule.read.items():
                value = read.compiled.search(document)
                if value is not None:
                    data[name] = convert(read, value, field_type(target.kind, name, rule.type), name)
            out.append(Message(Channel.EVENT, data))
    return out or [Message(Channel.HEARTBEAT, dict(ts))]


def _ts(profile: UserProfile, document: Any) -> dict[str, Any]:
    if profile.ts is None:
        return {}
    value = profile.ts_compiled.search(document) if profile.ts_compiled is not None else None
    if isinstance(value, str) and value.isdigit():
        value = int(value)  # epoch ms as XML text
    return {} if value is None else {"ts": value}


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _holds(found: object, values: list[FieldValue]) -> bool:
    if found is None or isinstance(found, dict | list):
        return False
    for wanted in values:
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (found, wanted))
        if (found == wanted) if numbers else _text(found) == _text(wanted):
            return True
    return False


def convert(read: FieldRead, value: object, wanted: type, name: str) -> FieldValue:
    """The payload's value as the canonical field's type: through the table, or as a number
    converted, scaled and offset. Text that spells a number is a number (XML is all text)."""
    if isinstance(value, dict | list):
        raise ProfileError(Failure.PROFILE_MISMATCH, f"{name}: {read.path} gives a {type(value).__name__}")
    if read.map is not None:
        key = _text(value)
        if key not in read.map:
            raise ProfileError(Failure.PROFILE_MISMATCH, f"{name}: value {key[:40]!r} is not in its map")
        return read.map[key]
    if wanted is str:
        return _text(value)
    if wanted is bool:
        if isinstance(value, bool):
            return value
        raise ProfileError(
            Failure.PROFILE_MISMATCH, f"{name}: {_text(value)[:40]!r} is not true/false (give a map)"
        )
    number = _number(value, name)
    factor, shift = CONVERSIONS[read.convert] if read.convert else (1.0, 0.0)
    result = (number * factor + shift) * read.scale + read.offset
    return round(result) if wanted is int else round(float(result), 6)


def _number(value: object, name: str) -> float | int:
    number: float | int | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value) if value.strip().lstrip("-").isdigit() else float(value)
        except ValueError:
            number = None
    if number is not None and math.isfinite(number):
        return number
    raise ProfileError(Failure.PROFILE_MISMATCH, f"{name}: {_text(value)[:40]!r} is not a number")
