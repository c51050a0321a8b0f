"""``estate-gateway profile test``: what an installer runs on site with a captured sample."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from estate_gateway.cli import main
from profiles.config import ModbusParams
from profiles.encode import hikvision_xml, modbus_response
from tests.profiles.helpers import INVENTORY, MODBUS


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(INVENTORY, allow_unicode=True), encoding="utf-8")
    return path


def test_a_sample_prints_its_readings(
    inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = tmp_path / "alarm.xml"
    sample.write_bytes(hikvision_xml("videoloss", "active", datetime.now(UTC)))
    code = main(["profile", "test", "--inventory", str(inventory), "--device", "NVR1", str(sample)])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("event     ") and '{"event": "video_loss"}' in out


def test_a_keepalive_is_shown_as_a_sign_of_life(
    inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = tmp_path / "frame.hex"
    sample.write_text(modbus_response(ModbusParams.model_validate(MODBUS), {"level_pct": 50}).hex(" "))
    assert main(["profile", "test", "--inventory", str(inventory), "--device", "T1", str(sample)]) == 0
    assert '"level_pct": 50.0' in capsys.readouterr().out
    sample.write_text("Heartbeat")
    assert main(["profile", "test", "--inventory", str(inventory), "--device", "NVR2", str(sample)]) == 0
    assert "(a sign of life)" in capsys.readouterr().out


def test_a_bad_sample_prints_the_dead_letter_and_exits_1(
    inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = tmp_path / "frame.bin"
    good = modbus_response(ModbusParams.model_validate(MODBUS), {"level_pct": 50})
    sample.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))
    assert main(["profile", "test", "--inventory", str(inventory), "--device", "T1", str(sample)]) == 1
    assert capsys.readouterr().out.startswith("dead letter bad_frame: modbus-rtu: CRC")


def test_a_device_without_profile_or_unknown_exits_2(
    inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = tmp_path / "x"
    sample.write_text("{}")
    assert main(["profile", "test", "--inventory", str(inventory), "--device", "CAM1", str(sample)]) == 2
    assert "has no profile" in capsys.readouterr().err
    assert main(["profile", "test", "--inventory", str(inventory), "--device", "ZZ", str(sample)]) == 2
    assert "no such device" in capsys.readouterr().err
