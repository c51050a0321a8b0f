"""``modbus-rtu``: a Modbus RTU response to "read holding registers" (function 3) as a DTU forwards
it, binary or as a hex string (``01 03 04 00 7B 00 0C 8A 3C``), CRC-16/MODBUS checked (the ``crc``
package). The device's ``modbus`` parameters map the registers to telemetry fields
(``{unit, registers: [{field, type, scale, offset, word_order, at}]}``).

- a bad CRC, a short frame, another unit or function: dead letter ``bad_frame``;
- an exception response (function | 0x80): the instrument behind the DTU does not answer — the
  device says ``offline``, which raises its offline alarm (the communication fault) at once; the
  next good response brings it back.
"""

from __future__ import annotations

import re
import struct

from crc import Calculator, Crc16

from devices.base import Channel
from profiles.base import Failure, Message, ProfileError, Target
from profiles.config import ModbusParams, RegisterType, WordOrder
from profiles.config import field_type as canonical_type

READ_HOLDING = 0x03
_CRC = Calculator(Crc16.MODBUS.value, optimized=True)  # table-driven: ~20 µs a frame in pure Python
_HEX = re.compile(rb"[0-9A-Fa-f\s]+")
_FORMATS = {
    RegisterType.INT16: ">h",
    RegisterType.UINT16: ">H",
    RegisterType.INT32: ">i",
    RegisterType.UINT32: ">I",
    RegisterType.FLOAT32: ">f",
}
#: Modbus exception codes, for the dead letter's words.
EXCEPTIONS = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "slave device failure",
    6: "slave device busy",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


def crc16(data: bytes) -> int:
    return int(_CRC.checksum(data))


def frame(unit: int, function: int, body: bytes) -> bytes:
    """A frame with its CRC (low byte first, as Modbus sends it): for tests and simulators."""
    head = bytes([unit, function]) + body
    return head + crc16(head).to_bytes(2, "little")


def decode(payload: bytes, target: Target) -> list[Message]:
    params = target.modbus
    if params is None:  # check-config refuses it; a profile never trusts that
        raise ProfileError(Failure.NO_PROFILE, "the device has no modbus parameters")
    raw = _bytes(payload)
    if len(raw) < 5:
        raise ProfileError(Failure.BAD_FRAME, f"{len(raw)} bytes: shorter than any Modbus RTU response")
    body, sent = raw[:-2], int.from_bytes(raw[-2:], "little")
    if (computed := crc16(body)) != sent:
        raise ProfileError(Failure.BAD_FRAME, f"CRC {sent:04X} in the frame, {computed:04X} computed")
    unit, function = body[0], body[1]
    if unit != params.unit:
        raise ProfileError(Failure.BAD_FRAME, f"a response of unit {unit}, the device is unit {params.unit}")
    if function == READ_HOLDING | 0x80:
        code = body[2]
        return [Message(Channel.STATUS, {"status": "offline", "modbus_exception": code})]
    if function != READ_HOLDING:
        raise ProfileError(Failure.BAD_FRAME, f"function {function}, not read holding registers (3)")
    count = body[2]
    data = body[3:]
    if count != len(data) or count % 2:
        raise ProfileError(Failure.BAD_FRAME, f"byte count {count}, {len(data)} data bytes")
    return [Message(Channel.TELEMETRY, _fields(data, params, target))]


def _bytes(payload: bytes) -> bytes:
    """The frame: the payload itself, or the bytes its hex text spells."""
    if _HEX.fullmatch(payload):
        digits = b"".join(payload.split())
        if len(digits) % 2:
            raise ProfileError(Failure.BAD_FRAME, "hex text with an odd number of digits")
        return bytes.fromhex(digits.decode())
    return payload


def _fields(data: bytes, params: ModbusParams, target: Target) -> dict[str, object]:
    words = len(data) // 2
    out: dict[str, object] = {}
    for start, register in params.layout:
        end = start + register.type.words
        if end > words:
            raise ProfileError(
                Failure.PROFILE_MISMATCH, f"{register.field}: register {start} beyond the {words} returned"
            )
        chunk = data[start * 2 : end * 2]
        if register.type.words == 2 and register.word_order is WordOrder.LITTLE:
            chunk = chunk[2:] + chunk[:2]
        (raw,) = struct.unpack(_FORMATS[register.type], chunk)
        value = raw * register.scale + register.offset
        wanted = canonical_type(target.kind, register.field)
        out[register.field] = round(value) if wanted is int else round(float(value), 6)
    return out
