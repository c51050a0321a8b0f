"""The built-in profiles' payloads as the vendors' devices send them: for the simulators (a
scenario's vendor devices), the tests' samples and the benchmark. The inverse of the decoders."""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from datetime import datetime
from xml.sax.saxutils import escape

from profiles.config import ModbusParams, RegisterType, WordOrder
from profiles.modbus import READ_HOLDING, frame

HIKVISION_NS = "http://www.hikvision.com/ver20/XMLSchema"


def hikvision_xml(event_type: str, state: str, at: datetime, channel: int = 1) -> bytes:
    """An ISAPI ``EventNotificationAlert`` as an NVR pushes it (``state``: active or inactive)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<EventNotificationAlert version="2.0" xmlns="{HIKVISION_NS}">\n'
        "<ipAddress>192.168.1.64</ipAddress>\n<portNo>80</portNo>\n<protocol>HTTP</protocol>\n"
        "<macAddress>44:19:b6:00:00:01</macAddress>\n"
        f"<channelID>{channel}</channelID>\n<dateTime>{at.isoformat(timespec='seconds')}</dateTime>\n"
        f"<activePostCount>1</activePostCount>\n<eventType>{escape(event_type)}</eventType>\n"
        f"<eventState>{escape(state)}</eventState>\n"
        f"<eventDescription>{escape(event_type)} alarm</eventDescription>\n"
        "</EventNotificationAlert>\n"
    ).encode()


def hikvision_json(event_type: str, state: str, at: datetime, channel: int = 1) -> bytes:
    """The same alert in ISAPI's JSON form (newer firmware's ``format=json``)."""
    alert = {
        "ipAddress": "192.168.1.64",
        "portNo": 80,
        "protocol": "HTTP",
        "channelID": channel,
        "dateTime": at.isoformat(timespec="seconds"),
        "activePostCount": 1,
        "eventType": event_type,
        "eventState": state,
        "eventDescription": f"{event_type} alarm",
    }
    return json.dumps(alert).encode()


def dahua_line(code: str, action: str, index: int = 0, data: Mapping[str, object] | None = None) -> str:
    """One line of Dahua's event stream: ``Code=VideoLoss;action=Start;index=0``."""
    line = f"Code={code};action={action};index={index}"
    return line + (f";data={json.dumps(data)}" if data else "")


def dahua_stream(*lines: str, boundary: str = "myboundary") -> bytes:
    """Lines as the attach stream's multipart parts carry them (the parts' headers included)."""
    parts = []
    for line in lines:
        body = f"{line}\r\n"
        parts.append(f"--{boundary}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n{body}")
    return "".join(parts).encode()


def dahua_json(code: str, action: str, index: int = 0, **extra: object) -> bytes:
    return json.dumps({"Code": code, "Action": action, "Index": index, **extra}).encode()


_PACK = {
    RegisterType.INT16: (">h", -(2**15), 2**15 - 1),
    RegisterType.UINT16: (">H", 0, 2**16 - 1),
    RegisterType.INT32: (">i", -(2**31), 2**31 - 1),
    RegisterType.UINT32: (">I", 0, 2**32 - 1),
}


def modbus_response(params: ModbusParams, values: Mapping[str, float | int]) -> bytes:
    """A read-holding-registers response carrying ``values`` through the register map (a field
    without a value reads 0), CRC and all."""
    words = max(start + register.type.words for start, register in params.layout)
    data = bytearray(words * 2)
    for start, register in params.layout:
        raw = (float(values.get(register.field, 0)) - register.offset) / register.scale
        if register.type is RegisterType.FLOAT32:
            chunk = struct.pack(">f", raw)
        else:
            fmt, low, high = _PACK[register.type]
            chunk = struct.pack(fmt, min(high, max(low, round(raw))))
        if register.type.words == 2 and register.word_order is WordOrder.LITTLE:
            chunk = chunk[2:] + chunk[:2]
        data[start * 2 : start * 2 + len(chunk)] = chunk
    return frame(params.unit, READ_HOLDING, bytes([len(data)]) + bytes(data))


def modbus_exception(unit: int, code: int = 11) -> bytes:
    """An exception response (function 3 | 0x80): 11, the gateway's target did not respond."""
    return frame(unit, READ_HOLDING | 0x80, bytes([code]))
