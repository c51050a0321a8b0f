"""MQTT over TLS (issue 21): ``mqtts://`` with a CA file and a client certificate, against a real
mosquitto TLS listener with certificates made for the test; the settings that configure it."""

from __future__ import annotations

import json
import logging
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives import serialization
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError

from gateway.mqtt import BrokerAddress, Inbound, MqttClient, _ReadAhead
from gateway.receiver import ProcessReceiver
from gateway.settings import Settings
from tests.support.gateway import GatewayProcess
from tests.support.servers import MosquittoServer, MosquittoTls, wait_until
from tests.support.tls import Pki, make_pki

TOPIC = "estate/+/+/+/telemetry"


# ------------------------------------------------------------------------------ settings


def test_mqtts_and_the_tls_files_are_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pki = make_pki(tmp_path / "pki")
    (tmp_path / "password").write_text("s3cret:@/#%\n")
    monkeypatch.setenv("ESTATE_MQTT_URL", "mqtts://gateway@broker.example")
    monkeypatch.setenv("ESTATE_MQTT_PASSWORD_FILE", str(tmp_path / "password"))
    monkeypatch.setenv("ESTATE_MQTT_CA_FILE", str(pki.ca))
    monkeypatch.setenv("ESTATE_MQTT_CERT_FILE", str(pki.client_cert))
    monkeypatch.setenv("ESTATE_MQTT_KEY_FILE", str(pki.client_key))
    address = BrokerAddress.from_settings(Settings())
    assert (address.host, address.port, address.tls) == ("broker.example", 8883, True)
    assert (address.username, address.password) == ("gateway", "s3cret:@/#%")  # the line, unquoted
    assert (address.ca_file, address.cert_file, address.key_file) == (pki.ca, pki.client_cert, pki.client_key)
    assert "s3cret" not in repr(address) and "s3cret" not in str(address)
    assert str(address) == "mqtts://broker.example:8883"


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"mqtt_url": "mqtt://u@h", "mqtt_ca_file": "CA"}, "need an mqtts:// URL"),
        ({"mqtt_url": "mqtts://u@h", "mqtt_key_file": "CA"}, "needs mqtt_cert_file"),
        ({"mqtt_url": "mqtts://h", "mqtt_password_file": "PW"}, "needs a user"),
        ({"mqtt_url": "mqtts://u:pw@h", "mqtt_password_file": "PW"}, "give only one"),
        ({"mqtt_url": "mqtts://u@h", "mqtt_ca_file": "missing"}, "does not point to a file"),
        ({"mqtt_url": "https://u:hunter2@h"}, "expected mqtt://"),
        ({"mqtt_url": "mqtt://u:hunter2@h:99999"}, "port"),
    ],
)
def test_a_wrong_mqtt_setting_is_refused_without_echoing_it(
    tmp_path: Path, fields: dict[str, str], why: str
) -> None:
    (tmp_path / "CA").write_text("x")
    (tmp_path / "PW").write_text("hunter2")
    paths = {k: str(tmp_path / v) if k.endswith("_file") else v for k, v in fields.items()}
    with pytest.raises(ValidationError, match=why) as refused:
        Settings(**paths)  # type: ignore[arg-type]
    assert "hunter2" not in str(refused.value)  # an error printed at start-up shows no password


def _encrypted_key(pki: Pki, path: Path) -> Path:
    key = serialization.load_pem_private_key(pki.client_key.read_bytes(), password=None)
    encryption = serialization.BestAvailableEncryption(b"passphrase")
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    path.write_bytes(pem)
    return path


@pytest.mark.parametrize(
    "bad", ["ca_not_pem", "key_of_another_certificate", "encrypted_key", "empty_password"]
)
def test_a_bad_tls_or_password_file_stops_the_start_with_its_name(tmp_path: Path, bad: str) -> None:
    """Refused by the settings, not later in paho: in the receiver process it would be a crash
    after start-up, and an encrypted key makes OpenSSL ask for its passphrase on a terminal."""
    pki = make_pki(tmp_path / "pki")
    (tmp_path / "garbage").write_text("not a certificate\n")
    (tmp_path / "empty").write_text("\n")
    fields: dict[str, Path] = {
        "ca_not_pem": {"mqtt_ca_file": tmp_path / "garbage"},
        "key_of_another_certificate": {"mqtt_cert_file": pki.client_cert, "mqtt_key_file": pki.server_key},
        "encrypted_key": {
            "mqtt_cert_file": pki.client_cert,
            "mqtt_key_file": _encrypted_key(pki, tmp_path / "encrypted.key"),
        },
        "empty_password": {"mqtt_password_file": tmp_path / "empty"},
    }[bad]
    why = {
        "ca_not_pem": "mqtt_ca_file .*garbage: not PEM CA certificates",
        "key_of_another_certificate": "mqtt_cert_file/mqtt_key_file: .*key values mismatch",
        "encrypted_key": "mqtt_cert_file/mqtt_key_file: .*the key is encrypted",
        "empty_password": "mqtt_password_file is empty",
    }[bad]
    with pytest.raises(ValidationError, match=why):
        Settings(mqtt_url="mqtts://gw@broker.example", **fields)  # type: ignore[arg-type]


# ----------------------------------------------------------------------- the read-ahead


class _PlainLike:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def recv(self, _bufsize: int) -> bytes:
        return self.chunks.pop(0)


class _TlsLike(_PlainLike):
    """A socket holding decrypted bytes of its own, as an SSL socket may."""

    def __init__(self, chunks: list[bytes], held: int) -> None:
        super().__init__(chunks)
        self.held = held

    def pending(self) -> int:
        return self.held


def test_the_read_ahead_adds_what_a_tls_socket_holds_to_its_own() -> None:
    """paho does not wait in ``select`` while ``pending()`` says bytes wait; bytes a TLS socket
    has decrypted are not on the wire, so the wrapper must count them too, or they wait for the
    next packet (or the keep-alive)."""
    ahead = _ReadAhead(_TlsLike([b"abcdef"], held=7))
    assert ahead.pending() == 7  # nothing read ahead: only what the TLS socket holds
    assert ahead.recv(2) == b"ab"
    assert ahead.pending() == 4 + 7
    plain = _ReadAhead(_PlainLike([b"abc"]))  # a plain socket has no pending()
    assert plain.recv(1) == b"a" and plain.pending() == 2


def test_a_tls_read_failure_is_reported_and_raised() -> None:
    seen: list[OSError] = []

    class Refusing:
        def recv(self, _bufsize: int) -> bytes:
            raise ssl.SSLError(
                1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required"
            )

    with pytest.raises(ssl.SSLError):
        _ReadAhead(Refusing(), on_error=seen.append).recv(1)
    assert len(seen) == 1 and "certificate required" in str(seen[0])

    class Empty:
        def recv(self, _bufsize: int) -> bytes:
            raise ssl.SSLWantReadError()

    with pytest.raises(ssl.SSLWantReadError):  # nothing to read yet: paho's, not a failure
        _ReadAhead(Empty(), on_error=seen.append).recv(1)
    assert len(seen) == 1


# ------------------------------------------------------------------ against mosquitto/TLS


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_broker(tmp_path: Path, pki: Pki) -> Iterator[MosquittoServer]:
    """A TLS listener that wants a client certificate; ``max_inflight_messages 0``: a session's
    backlog comes all at once (large TLS reads)."""
    tls = MosquittoTls(pki.ca, pki.server_cert, pki.server_key, require_certificate=True)
    server = MosquittoServer(tmp_path / "mosquitto-tls", tls=tls, extra_config=("max_inflight_messages 0",))
    server.start()
    yield server
    server.kill()


def _address(
    broker: MosquittoServer, pki: Pki, *, ca: Path | None = None, cert: bool = True
) -> BrokerAddress:
    assert broker.tls_port is not None
    return BrokerAddress(
        broker.host,
        broker.tls_port,
        tls=True,
        ca_file=ca or pki.ca,
        cert_file=pki.client_cert if cert else None,
        key_file=pki.client_key if cert else None,
    )


class TlsDevice:
    """A device-side client over TLS (its own certificate), counting the broker's PUBACKs."""

    def __init__(self, broker: MosquittoServer, pki: Pki, *, subscribe: str | None = None) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dev-{uuid.uuid4().hex[:8]}")
        self.client.tls_set(ca_certs=str(pki.ca), certfile=str(pki.client_cert), keyfile=str(pki.client_key))
        self.client.max_inflight_messages_set(200)
        self.acked = 0
        self.received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self._subscribe = subscribe
        self.client.on_connect = self._on_connect
        assert broker.tls_port is not None
        self.client.connect(broker.host, broker.tls_port)
        self.client.loop_start()
        assert self._connected.wait(10)

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        if self._subscribe:
            client.subscribe(self._subscribe, 1)
        self._connected.set()

    def _on_publish(self, *_: Any) -> None:
        with self._lock:
            self.acked += 1

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, bytes(msg.payload)))

    def send_all(self, messages: list[tuple[str, bytes]]) -> None:
        for topic, payload in messages:
            self.client.publish(topic, payload, qos=1)
        wait_until(lambda: self.acked >= len(messages), timeout=120, message=lambda: f"{self.acked} acked")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


Receiver = MqttClient | ProcessReceiver


def _receiver(mode: str, address: BrokerAddress, instance: str) -> Receiver:
    if mode == "process":
        return ProcessReceiver(address, instance, [TOPIC], queue_size=5_000, batch_size=1_000)
    return MqttClient(address, instance, [TOPIC], queue_size=5_000)


def _take(receiver: Receiver, count: int) -> list[Inbound]:
    got: list[Inbound] = []
    while len(got) < count and (batch := receiver.get_batch(5_000, timeout_s=20)):
        receiver.ack(batch)
        got.extend(batch)
    return got


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["thread", "process"])
def test_a_backlog_of_20000_comes_whole_and_in_order_over_tls(
    tls_broker: MosquittoServer, pki: Pki, mode: str
) -> None:
    """The read-ahead wraps paho's TLS socket: a 20,000-message backlog, sent by mosquitto all at
    once, arrives whole and in order, in both receiver modes, without waiting on keep-alives."""
    instance = f"t-tls-{mode}-{uuid.uuid4().hex[:6]}"
    first = _receiver(mode, _address(tls_broker, pki), instance)
    first.start()
    assert first.wait_connected(15)
    first.stop()  # the persistent session now keeps what comes while the gateway is away
    device = TlsDevice(tls_broker, pki)
    total = 20_000
    device.send_all(
        [(f"estate/e/lift/L{n % 7}/telemetry", json.dumps({"n": n}).encode()) for n in range(total)]
    )
    device.close()
    again = _receiver(mode, _address(tls_broker, pki), instance)
    started = time.monotonic()
    again.start()
    try:
        got = _take(again, total)
        took = time.monotonic() - started
        assert [json.loads(i.payload)["n"] for i in got] == list(range(total))
        assert took < 25, f"{took:.1f} s: bytes waited in the TLS socket for a keep-alive (30 s)"
    finally:
        again.stop()


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["thread", "process"])
def test_the_gateway_over_mqtts_stores_readings_and_publishes_alerts(
    tmp_path: Path, tls_broker: MosquittoServer, pki: Pki, mode: str
) -> None:
    """``estate-gateway run`` with ESTATE_MQTT_URL=mqtts://… and the CA, certificate and key
    files: connected, a reading stored, an alert published, all over TLS."""
    env = {
        "ESTATE_MQTT_URL": tls_broker.tls_url,
        "ESTATE_MQTT_CA_FILE": str(pki.ca),
        "ESTATE_MQTT_CERT_FILE": str(pki.client_cert),
        "ESTATE_MQTT_KEY_FILE": str(pki.client_key),
        "ESTATE_MQTT_RECEIVER": mode,
    }
    proc = GatewayProcess(tmp_path / "gw", env)
    device = TlsDevice(tls_broker, pki, subscribe="estate/+/alerts")
    try:
        proc.start()  # waits until /health says the broker is connected
        device.send_all(
            [
                ("estate/sunrise/lift/L1/telemetry", json.dumps({"floor": 7}).encode()),
                ("estate/sunrise/water_tank/T1/event", json.dumps({"type": "hatch_open"}).encode()),
            ]
        )
        wait_until(lambda: proc.api("/api/devices/sunrise/L1")["latest"].get("floor") == 7, timeout=15)
        wait_until(lambda: device.received, timeout=15, message="no alert came over TLS")
        topic, payload = device.received[0]
        assert topic == "estate/sunrise/alerts" and json.loads(payload)["rule"] == "water.hatch_open"
        assert "mqtts://127.0.0.1" in proc.log_text()  # "MQTT connected to mqtts://…"
    finally:
        proc.kill()
        device.close()


@pytest.mark.integration
def test_a_broker_certificate_from_another_ca_is_refused_and_said(
    tls_broker: MosquittoServer, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "gateway.mqtt")
    client = MqttClient(_address(tls_broker, pki, ca=pki.other_ca), "t-wrong-ca", [TOPIC], queue_size=10)
    client.start()
    try:
        wait_until(lambda: "certificate verify failed" in caplog.text, timeout=10)
        assert not client.connected
        [record] = [r for r in caplog.records if "certificate verify failed" in r.getMessage()]
        assert record.levelno == logging.WARNING and "mqtts://127.0.0.1:" in record.getMessage()
    finally:
        client.stop()


@pytest.mark.integration
def test_the_gateway_with_a_wrong_ca_says_so_and_reports_disconnected(
    tmp_path: Path, tls_broker: MosquittoServer, pki: Pki
) -> None:
    """The process receiver (the default): its warning in the gateway's log, /health and
    /metrics say disconnected."""
    env = {"ESTATE_MQTT_URL": tls_broker.tls_url, "ESTATE_MQTT_CA_FILE": str(pki.other_ca)}
    proc = GatewayProcess(tmp_path / "gw", env)
    proc.launch()
    try:
        wait_until(lambda: "certificate verify failed" in proc.log_text(), timeout=30)
        wait_until(lambda: _answers(f"{proc.url}/health"), timeout=30)
        health = httpx.get(f"{proc.url}/health", timeout=5)
        assert health.status_code == 503 and health.json()["broker"]["ok"] is False
        assert "estate_mqtt_connected 0.0" in httpx.get(f"{proc.url}/metrics", timeout=5).text
        line = next(x for x in proc.log_text().splitlines() if "certificate verify failed" in x)
        assert "WARNING" in line and "MQTT connection to mqtts://127.0.0.1:" in line
    finally:
        proc.kill()


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return False
    return True


@pytest.mark.integration
def test_a_listener_that_requires_a_client_certificate_refuses_one_without(
    tls_broker: MosquittoServer, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "gateway.mqtt")
    without = MqttClient(_address(tls_broker, pki, cert=False), "t-no-cert", [TOPIC], queue_size=10)
    without.start()
    try:
        wait_until(lambda: "certificate required" in caplog.text, timeout=10)
        assert not without.connected
    finally:
        without.stop()
    with_cert = MqttClient(_address(tls_broker, pki), "t-cert", [TOPIC], queue_size=10)
    with_cert.start()
    try:
        assert with_cert.wait_connected(10)
    finally:
        with_cert.stop()


@pytest.mark.integration
def test_the_receiver_process_gets_the_password_down_its_pipe_not_in_its_argv(
    tmp_path: Path, pki: Pki
) -> None:
    """A broker that refuses anonymous clients: the child logs in (so it has the password) and
    its command line, which ``ps`` shows to every user, does not hold it."""
    password = f"pw-{uuid.uuid4().hex[:8]}"
    passwd = tmp_path / "passwd"
    script = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "mosquitto_passwd.py"
    subprocess.run(
        [sys.executable, str(script), "--stdin", str(passwd), "gw"], input=password, text=True, check=True
    )
    tls = MosquittoTls(pki.ca, pki.server_cert, pki.server_key)
    broker = MosquittoServer(tmp_path / "mosquitto", tls=tls, password_file=passwd, allow_anonymous=False)
    broker.start()
    address = replace(_address(broker, pki, cert=False), username="gw", password=password)
    receiver = ProcessReceiver(address, "t-argv", [TOPIC], queue_size=10)
    try:
        receiver.start()
        assert receiver.wait_connected(15)
        assert receiver._process is not None
        argv = Path(f"/proc/{receiver._process.pid}/cmdline").read_bytes()
        assert b"gateway.receiver" in argv and password.encode() not in argv
    finally:
        receiver.stop()
        broker.kill()
