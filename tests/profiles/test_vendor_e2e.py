"""Vendor devices end to end (docs/contract.md §3.6), against real mosquitto and a real
``estate-gateway run``: an ISAPI NVR's video loss raises and clears the alarm a canonical camera
would; a Modbus tank behind a DTU (on the profile's own topic) raises the water rule; a Dahua event
pushed over HTTP raises ``disk_failure``; a bad CRC and garbage XML are dead letters naming their
profile; and the gateway keeps ingesting throughout (the canonical devices beside them too)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from profiles.config import ModbusParams
from profiles.encode import dahua_line, hikvision_json, hikvision_xml, modbus_response
from tests.support.gateway import GatewayProcess, Publisher
from tests.support.servers import MosquittoServer, wait_until

SIM_TOKEN = "vendor-e2e-simulator-token"
NVR_TOKEN = "nvr2-own-push-token-0001"
IMEI = "861234567890123"
REGISTERS: dict[str, Any] = {
    "unit": 1,
    "registers": [
        {"field": "level_pct", "type": "uint16", "scale": 0.1},
        {"field": "chlorine_mg_l", "type": "uint16", "scale": 0.001},
        {"field": "turbidity_ntu", "type": "uint16", "scale": 0.01},
        {"field": "ph", "type": "float32", "word_order": "little"},
    ],
}
INVENTORY: dict[str, Any] = {
    "profiles": [{"name": "dtu-modbus", "builtin": "modbus-rtu", "topic": "dtu/{vendor_id}/up"}],
    "estates": [
        {
            "id": "sunrise",
            "name": "朝阳小区",
            "buildings": ["B1"],
            # The 15-minute on-delay is the scenario's (simulators/scenarios/vendor-devices.yaml, on
            # simulated time); here two readings below 0.05 are enough.
            "rules": {"water.chlorine_low": {"for_s": 0}},
            "devices": [
                {"id": "NVR1", "kind": "cctv", "building": "B1", "profile": "hikvision-isapi"},
                {
                    "id": "NVR2",
                    "kind": "cctv",
                    "building": "B1",
                    "profile": "dahua-event",
                    "ingest_token_sha256": hashlib.sha256(NVR_TOKEN.encode()).hexdigest(),
                },
                {"id": "CAM9", "kind": "cctv", "building": "B1"},  # a canonical camera beside them
                {
                    "id": "T1",
                    "kind": "water_tank",
                    "building": "B1",
                    "profile": "dtu-modbus",
                    "vendor_id": IMEI,
                    "modbus": REGISTERS,
                },
            ],
        }
    ],
    "crews": [{"id": "water-team", "trades": ["water"], "estates": ["sunrise"]}],
}
TANK = {"level_pct": 75.0, "turbidity_ntu": 0.3, "ph": 7.2}


def _gateway(tmp_path: Path, mosquitto: MosquittoServer) -> GatewayProcess:
    inventory, tokens = tmp_path / "inventory.yaml", tmp_path / "tokens.yaml"
    inventory.write_text(yaml.safe_dump(INVENTORY, allow_unicode=True), encoding="utf-8")
    tokens.write_text(yaml.safe_dump({"tokens": [{"name": "sim", "role": "simulator", "token": SIM_TOKEN}]}))
    env = {
        "ESTATE_MQTT_URL": mosquitto.url,
        "ESTATE_INVENTORY": str(inventory),
        "ESTATE_TOKENS_FILE": str(tokens),
    }
    return GatewayProcess(tmp_path / "gw", env)


def _alert(proc: GatewayProcess, rule: str, device: str) -> dict[str, Any] | None:
    items = proc.api("/api/alerts", estate="sunrise")
    items = items["items"] if isinstance(items, dict) else items
    return next((a for a in items if a["rule"] == rule and a["device"] == device), None)


def _active(proc: GatewayProcess, rule: str, device: str, active: bool) -> bool:
    found = _alert(proc, rule, device)
    return found is not None and found["active"] is active


def test_vendor_devices_raise_clear_and_dead_letter(tmp_path: Path, mosquitto: MosquittoServer) -> None:
    proc = _gateway(tmp_path, mosquitto)
    proc.start()
    publisher = Publisher(mosquitto.host, mosquitto.port)
    try:
        now = datetime.now(UTC)
        # Hikvision NVR: video loss (XML), then the keep-alive saying video is back (JSON form).
        publisher.send("estate/sunrise/cctv/NVR1/raw", hikvision_xml("videoloss", "active", now))
        wait_until(lambda: _active(proc, "cctv.video_loss", "NVR1", True), timeout=20)
        # Poison between them: a bad CRC on the DTU's topic and garbage XML from the NVR.
        good = modbus_response(ModbusParams.model_validate(REGISTERS), {**TANK, "chlorine_mg_l": 0.6})
        publisher.send(f"dtu/{IMEI}/up", good[:-2] + bytes([good[-2] ^ 0xFF, good[-1]]))
        publisher.send("estate/sunrise/cctv/NVR1/raw", b"<EventNotificationAlert><eventType>vid")
        publisher.send("estate/sunrise/cctv/NVR1/raw", hikvision_json("videoloss", "inactive", now))
        wait_until(lambda: _active(proc, "cctv.video_loss", "NVR1", False), timeout=20)

        # The tank's DTU: two Modbus responses with free chlorine below 0.05 mg/L (hex text this time).
        low = modbus_response(ModbusParams.model_validate(REGISTERS), {**TANK, "chlorine_mg_l": 0.03})
        publisher.send(f"dtu/{IMEI}/up", low)
        publisher.send(f"dtu/{IMEI}/up", low.hex(" ").upper())
        wait_until(lambda: _active(proc, "water.chlorine_low", "T1", True), timeout=20)
        assert proc.api("/api/devices/sunrise/T1")["latest"]["chlorine_mg_l"] == 0.03

        # The Dahua NVR pushes its event line to the alarm-centre URL, with its own token.
        line = dahua_line("StorageFailure", "Start").encode()
        url = f"{proc.url}/api/ingest/sunrise/NVR2"
        answer = httpx.post(url, params={"token": NVR_TOKEN}, content=line, timeout=10)
        assert answer.status_code == 202, answer.text
        assert answer.json() == {"topic": "estate/sunrise/cctv/NVR2/raw", "bytes": len(line)}
        wait_until(lambda: _active(proc, "cctv.disk_failure", "NVR2", True), timeout=20)

        # Ingest went on: the canonical camera beside them is still taken.
        publisher.send("estate/sunrise/cctv/CAM9/heartbeat", {"recording": True, "disk_ok": True})
        wait_until(lambda: proc.api("/api/devices/sunrise/CAM9")["status"] == "online", timeout=20)

        publisher.wait_all_acked()
        wait_until(lambda: len(proc.api("/api/deadletters")["items"]) >= 2, timeout=20)
        letters = {d["reason"]: d for d in proc.api("/api/deadletters")["items"]}
        assert set(letters) == {"bad_frame", "bad_xml"}
        assert letters["bad_frame"]["topic"] == f"dtu/{IMEI}/up"
        assert letters["bad_frame"]["detail"].startswith("dtu-modbus: CRC")
        assert letters["bad_frame"]["excerpt"].startswith("hex: 01 03")
        assert letters["bad_xml"]["detail"].startswith("hikvision-isapi: not well-formed XML")
        assert "<eventType>vid" in letters["bad_xml"]["excerpt"]
        assert proc.proc is not None and proc.proc.poll() is None
        metrics = httpx.get(f"{proc.url}/metrics", timeout=10).text
        assert 'estate_dead_letters_total{reason="bad_frame"} 1.0' in metrics
    finally:
        publisher.close()
        proc.kill()


def test_http_push_is_refused_without_the_right_token(tmp_path: Path, mosquitto: MosquittoServer) -> None:
    proc = _gateway(tmp_path, mosquitto)
    proc.start()
    try:
        url = f"{proc.url}/api/ingest/sunrise/NVR2"
        body = b"Code=VideoLoss;action=Start;index=0"
        assert httpx.post(url, content=body, timeout=10).status_code == 401
        assert httpx.post(url, params={"token": "x" * 20}, content=body, timeout=10).status_code == 401
        admin = {"Authorization": "Bearer test-admin-token"}
        assert httpx.post(url, headers=admin, content=body, timeout=10).status_code == 403
        sim = {"Authorization": f"Bearer {SIM_TOKEN}"}
        assert httpx.post(url, headers=sim, content=b"x" * (64 * 1024 + 1), timeout=10).status_code == 413
        assert httpx.post(f"{proc.url}/api/ingest/sunrise/CAM9", headers=sim, content=body).status_code == 404
        assert httpx.post(url, headers=sim, content=body, timeout=10).status_code == 202
        wait_until(lambda: _active(proc, "cctv.video_loss", "NVR2", True), timeout=20)
        assert proc.api("/api/deadletters")["items"] == []
    finally:
        proc.kill()
