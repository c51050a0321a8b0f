"""``modbus-rtu``: read-holding-registers responses as a DTU forwards them, binary or hex text."""

from __future__ import annotations

import struct

import pytest

from gateway.ingest import Reason
from profiles.config import ModbusParams
from profiles.encode import modbus_exception, modbus_response
from profiles.modbus import crc16, frame
from tests.profiles.helpers import MODBUS, RECEIVED_NS, read, readings, refused

PARAMS = ModbusParams.model_validate(MODBUS)
VALUES = {
    "level_pct": 81.5,
    "chlorine_mg_l": 0.42,
    "temperature_c": -3.5,
    "ph": 7.25,
    "pressure_mpa": 0.345678,
}
EXPECTED = [("telemetry", VALUES)]


def test_the_crc_is_modbus_crc16() -> None:
    """The specification's own example: 01 03 00 00 00 0A → CRC C5 CD (low byte first)."""
    assert crc16(bytes.fromhex("01030000000A")).to_bytes(2, "little") == bytes.fromhex("C5CD")


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(modbus_response(PARAMS, VALUES), id="binary"),
        pytest.param(modbus_response(PARAMS, VALUES).hex().encode(), id="hex"),
        pytest.param(modbus_response(PARAMS, VALUES).hex(" ").upper().encode() + b"\r\n", id="hex-spaced"),
    ],
)
def test_a_response_becomes_one_telemetry_reading(payload: bytes) -> None:
    assert readings("T1", payload) == EXPECTED


def test_word_order_and_signed_types_are_read_as_mapped() -> None:
    """The float32 low word first (CDAB), int16 negative, uint32 high word first, by hand."""
    data = struct.pack(">HHh", 815, 420, -35)
    ph = struct.pack(">f", 7.25)
    data += ph[2:] + ph[:2] + struct.pack(">I", 345678)
    assert modbus_response(PARAMS, VALUES) == frame(1, 3, bytes([len(data)]) + data)


def test_it_has_no_time_of_its_own_and_takes_the_receive_time() -> None:
    """An RTU frame carries no timestamp: the reading is at the receive time (docs/contract.md §3.6)."""
    result = read("T1", modbus_response(PARAMS, VALUES))
    assert isinstance(result, list) and result[0].time_ns == RECEIVED_NS


def test_on_the_dtus_own_topic_it_is_the_device_of_that_vendor_id() -> None:
    result = read("T2", modbus_response(PARAMS, VALUES))
    assert isinstance(result, list) and (result[0].estate, result[0].device) == ("sunrise", "T2")


def test_an_exception_response_is_the_devices_communication_fault() -> None:
    assert readings("T1", modbus_exception(1, 11)) == [("status", {"status": "offline"})]


GOOD = modbus_response(PARAMS, VALUES)


@pytest.mark.parametrize(
    ("payload", "reason", "words"),
    [
        pytest.param(GOOD[:-2] + bytes([GOOD[-2] ^ 1, GOOD[-1]]), Reason.BAD_FRAME, "CRC", id="bad-crc"),
        pytest.param(GOOD.hex()[:-1].encode(), Reason.BAD_FRAME, "odd number", id="hex-odd"),
        pytest.param(b"\x01\x03", Reason.BAD_FRAME, "shorter", id="short"),
        pytest.param(frame(2, 3, GOOD[2:-2]), Reason.BAD_FRAME, "unit 2", id="other-unit"),
        pytest.param(frame(1, 4, GOOD[2:-2]), Reason.BAD_FRAME, "function 4", id="other-function"),
        pytest.param(
            frame(1, 3, bytes([20]) + GOOD[3:-2]), Reason.BAD_FRAME, "byte count 20", id="count-wrong"
        ),
        pytest.param(
            frame(1, 3, b"\x04\x00\x01\x00\x02"), Reason.PROFILE_MISMATCH, "beyond", id="too-few-registers"
        ),
        pytest.param(
            frame(1, 3, bytes([GOOD[2]]) + struct.pack(">H", 2000) + GOOD[5:-2]),
            Reason.OUT_OF_RANGE,
            "level_pct",
            id="level-200-pct",
        ),
        pytest.param(
            frame(1, 3, bytes([GOOD[2]]) + GOOD[3:9] + b"\x00\x00\x7f\xc0" + GOOD[13:-2]),
            Reason.NAN_OR_INFINITY,
            "ph",
            id="float-nan",
        ),
    ],
)
def test_bad_frames_are_dead_letters_naming_the_profile(payload: bytes, reason: Reason, words: str) -> None:
    letter = refused("T1", payload)
    assert letter.reason is reason
    assert letter.detail.startswith("modbus-rtu: ") and words in letter.detail, letter.detail


def test_a_binary_frames_excerpt_is_hex() -> None:
    letter = refused("T1", GOOD[:-1] + b"\xff")
    assert letter.excerpt.startswith("hex: 01 03 0e")
