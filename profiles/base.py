"""What a profile gives back (canonical messages) and how it fails (a :class:`ProfileError` whose
reason becomes the dead letter's); the safe parsers every profile shares."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from enum import StrEnum
from typing import Any, NamedTuple
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from devices.base import Channel, Kind
from profiles.config import Builtin, ModbusParams, UserProfile

#: A canonical message's data: what a device would publish as JSON on ``channel`` (``type`` for an
#: event, ``ts`` if it has one; ``status`` for a status).
Data = dict[str, Any]

#: The event a vendor's event of no canonical meaning is kept as (stored, raises nothing): its
#: fields ``vendor_type``, ``vendor_state`` and ``vendor_channel``.
VENDOR_EVENT = "vendor_event"


class Failure(StrEnum):
    """Why a profile could not read a payload: the dead-letter reason (docs/contract.md §11)."""

    BAD_FRAME = "bad_frame"  # a binary frame its profile cannot read (CRC, length, unit, function)
    BAD_XML = "bad_xml"  # not well-formed XML
    XML_FORBIDDEN = "xml_forbidden"  # a DTD or entity declaration, an external reference
    MALFORMED_JSON = "malformed_json"
    PROFILE_MISMATCH = "profile_mismatch"  # readable, but not what its profile reads
    NO_PROFILE = "no_profile"  # a raw payload of a device without a profile, or a vendor id nobody has


class ProfileError(Exception):
    def __init__(self, failure: Failure, detail: str) -> None:
        super().__init__(detail)
        self.failure = failure
        self.detail = detail


class Message(NamedTuple):
    """One canonical message a payload held."""

    channel: Channel
    data: Data


@dataclass(frozen=True)
class Target:
    """The device a payload is for, as its profile needs it."""

    estate: str
    device: str
    kind: Kind
    profile: str
    tz: tzinfo
    modbus: ModbusParams | None = None
    user: UserProfile | None = None
    #: The built-in profile that reads it (None: the user-defined ``user``).
    builtin: Builtin | None = None
    building: str = ""


#: A profile: the payload and its device → canonical messages; raises :class:`ProfileError`.
Decoder = Callable[[bytes, Target], list[Message]]

#: Bound on a payload's XML elements and on JSON nesting: a profile reads a few dozen.
MAX_ELEMENTS = 2_000


def parse_xml(payload: bytes) -> Element:
    """XML without DTDs, entities or external references (``defusedxml``): a billion-laughs or an
    external entity is refused before anything is expanded or fetched."""
    try:
        root = fromstring(payload, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ProfileError(Failure.XML_FORBIDDEN, f"XML with {type(exc).__name__}: refused unread") from None
    except ParseError as exc:
        raise ProfileError(Failure.BAD_XML, f"not well-formed XML: {exc}") from None
    if sum(1 for _ in root.iter()) > MAX_ELEMENTS:
        raise ProfileError(Failure.PROFILE_MISMATCH, f"more than {MAX_ELEMENTS} XML elements")
    return root


def local(tag: str) -> str:
    """An element's name without its namespace (``{http://www.hikvision.com/…}eventType``)."""
    return tag.rsplit("}", 1)[-1]


def xml_to_data(element: Element) -> Any:
    """An element as JSON-like data: text for a leaf, else a dict of children by local name (a
    name met twice: a list), attributes as ``@name``. JMESPath then reads XML as it reads JSON."""
    children = list(element)
    if not children and not element.attrib:
        return (element.text or "").strip()
    out: dict[str, Any] = {f"@{local(k)}": v for k, v in element.attrib.items()}
    for child in children:
        name, value = local(child.tag), xml_to_data(child)
        if name in out:
            existing = out[name]
            out[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            out[name] = value
    text = (element.text or "").strip()
    if text:
        out["#text"] = text
    return out


def parse_json(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except UnicodeDecodeError as exc:
        raise ProfileError(Failure.MALFORMED_JSON, f"not UTF-8: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise ProfileError(Failure.MALFORMED_JSON, f"malformed JSON: {exc.msg} at {exc.pos}") from None
    except (RecursionError, ValueError) as exc:
        raise ProfileError(Failure.MALFORMED_JSON, f"malformed JSON: {type(exc).__name__}") from None
