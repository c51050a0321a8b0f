"""deploy/mosquitto/ under test (issue 21): real mosquitto with the shipped ACL and the shipped
limits (only the listeners and paths are templated), a password file made with the shipped
recipe, and the gateway logging in over TLS. A device account publishes into its own estate only;
the gateway's alerts reach a subscriber; and no secret of the run shows in a log line, /health,
/metrics or an API answer."""

from __future__ import annotations

import json
import os
import pwd
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.gateway import REPO, GatewayProcess
from tests.support.servers import (
    DEFAULT_MOSQUITTO,
    InfluxV2Target,
    MosquittoServer,
    MosquittoTls,
    free_port,
    wait_for_port,
    wait_until,
)
from tests.support.tls import Pki, make_pki

pytestmark = pytest.mark.integration
DEPLOY = REPO / "deploy" / "mosquitto"
#: Lines of the shipped mosquitto.conf a test replaces: listeners, their TLS files, paths, logging.
TEMPLATED = (
    "listener",
    "cafile",
    "certfile",
    "keyfile",
    "tls_version",
    "require_certificate",
    "password_file",
    "acl_file",
    "persistence_location",
    "log_",
    "connection_messages",
    "pid_file",
)
#: Unique per run, so that finding one in a log is never a coincidence.
SECRET = uuid.uuid4().hex[:10]
PASSWORDS = {
    "gateway": f"gw-{SECRET}:@/#%",
    "sunrise": f"dev-sunrise-{SECRET}",
    "moonlight": f"dev-moonlight-{SECRET}",
    "viewer": f"viewer-{SECRET}",
}


def shipped_settings() -> list[str]:
    """The shipped mosquitto.conf without its listeners, paths and logging."""
    lines = [line.strip() for line in (DEPLOY / "mosquitto.conf").read_text().splitlines()]
    return [line for line in lines if line and not line.startswith(("#", *TEMPLATED))]


def test_the_shipped_config_sets_the_limits_its_readme_works_out() -> None:
    settings = dict(line.split(None, 1) for line in shipped_settings())
    assert settings["allow_anonymous"] == "false" and settings["persistence"] == "true"
    assert settings["message_size_limit"] == "65536" and settings["sys_interval"] == "10"
    assert int(settings["max_queued_messages"]) > 1000  # mosquitto's default dropped readings
    assert int(settings["max_queued_bytes"]) > 0 and int(settings["max_inflight_messages"]) >= 1000
    readme = (DEPLOY / "README.md").read_text()
    for key in ("max_queued_messages", "max_queued_bytes", "max_inflight_messages", "autosave_interval"):
        shown = f"{int(settings[key]):,}"
        assert shown in readme, f"README.md does not work out {key} {settings[key]} ({shown})"


def test_the_shipped_config_loads_whole_with_only_its_paths_and_ports_rewritten(
    tmp_path: Path, pki: Pki
) -> None:
    """Every line as shipped, the TLS listener's too: mosquitto starts and serves both listeners,
    and a TLS client logs in with a password."""
    tls_port, plain_port = free_port(), free_port()
    rewrites = {
        "listener 1883 127.0.0.1": f"listener {plain_port} 127.0.0.1",
        "listener 8883": f"listener {tls_port} 127.0.0.1",
        "/etc/mosquitto/certs/ca.crt": str(pki.ca),
        "/etc/mosquitto/certs/server.crt": str(pki.server_cert),
        "/etc/mosquitto/certs/server.key": str(pki.server_key),
        "/etc/mosquitto/passwd": str(make_password_file(tmp_path / "passwd")),
        "/etc/mosquitto/acl": str(DEPLOY / "acl"),
        "/var/lib/mosquitto/": f"{tmp_path}/",
        "/var/log/mosquitto/mosquitto.log": str(tmp_path / "mosquitto.log"),
        "/run/mosquitto/mosquitto.pid": str(tmp_path / "mosquitto.pid"),
    }
    text = (DEPLOY / "mosquitto.conf").read_text()
    for shipped, here in rewrites.items():
        assert shipped in text
        text = text.replace(shipped, here)
    if os.geteuid() == 0:
        text += f"user {pwd.getpwuid(0).pw_name}\n"  # else it drops to "mosquitto", who cannot read tmp
    (tmp_path / "mosquitto.conf").write_text(text)
    broker = subprocess.Popen([str(DEFAULT_MOSQUITTO), "-c", str(tmp_path / "mosquitto.conf")])
    try:
        wait_for_port("127.0.0.1", plain_port)
        wait_for_port("127.0.0.1", tls_port)
        client = mqtt.Client(CallbackAPIVersion.VERSION2)
        client.tls_set(ca_certs=str(pki.ca))
        client.username_pw_set("viewer", PASSWORDS["viewer"])
        client.connect("127.0.0.1", tls_port)
        connected: list[bool] = []
        client.on_connect = lambda _c, _u, _f, reason, _p: connected.append(not reason.is_failure)
        wait_until(lambda: client.loop(0.1) != 0 or connected, timeout=10)
        assert connected == [True]
        client.disconnect()
    finally:
        broker.kill()
        broker.wait()


def make_password_file(path: Path) -> Path:
    """With the shipped recipe for a host without mosquitto_passwd (password on stdin)."""
    for user, password in PASSWORDS.items():
        subprocess.run(
            [sys.executable, str(DEPLOY / "mosquitto_passwd.py"), "--stdin", str(path), user],
            input=password + "\n",
            text=True,
            check=True,
        )
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def broker(tmp_path: Path, pki: Pki) -> Iterator[MosquittoServer]:
    server = MosquittoServer(
        tmp_path / "mosquitto",
        tls=MosquittoTls(pki.ca, pki.server_cert, pki.server_key),
        password_file=make_password_file(tmp_path / "passwd"),
        acl_file=DEPLOY / "acl",  # the shipped file itself
        allow_anonymous=False,
        tuning=False,  # the limits are the shipped ones, nothing of the test defaults
        extra_config=shipped_settings(),
    )
    server.start()
    yield server
    server.kill()


class Account:
    """A client logged in as ``user`` on the plain listener, recording what it receives."""

    def __init__(self, broker: MosquittoServer, user: str, subscribe: tuple[str, ...] = ()) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-{uuid.uuid4().hex[:6]}")
        self.client.username_pw_set(user, PASSWORDS[user])
        self.received: list[tuple[str, bytes]] = []
        self.acked = 0
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._subscriptions = subscribe
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        if subscribe:
            assert self._subscribed.wait(10), f"{user} was not subscribed"

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        assert not reason.is_failure, reason
        if self._subscriptions:
            client.subscribe([(topic, 1) for topic in self._subscriptions])

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, bytes(msg.payload)))

    def _on_publish(self, *_: Any) -> None:
        with self._lock:
            self.acked += 1

    def send(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        """Publish at QoS 1 in order; mosquitto acknowledges a refused one too (MQTT 3.1.1)."""
        for topic, payload in messages:
            self.client.publish(topic, json.dumps(payload), qos=1)
        wait_until(lambda: self.acked >= len(messages), timeout=10)

    def topics(self) -> list[str]:
        with self._lock:
            return [topic for topic, _ in self.received]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class Run:
    broker: MosquittoServer
    gateway: GatewayProcess
    admin: str


def start_gateway(
    tmp_path: Path, broker: MosquittoServer, pki: Pki, *, in_url: bool = False, **env: str
) -> Run:
    """The gateway as the ``gateway`` account over TLS; the password from a file, or in the URL."""
    password = PASSWORDS["gateway"]
    env = {"ESTATE_MQTT_CA_FILE": str(pki.ca), "ESTATE_ADMIN_TOKEN": f"admin-{SECRET}", **env}
    url = broker.tls_url.replace("mqtts://", "mqtts://gateway@")
    if in_url:
        env["ESTATE_MQTT_URL"] = url.replace("gateway@", f"gateway:{quote(password, safe='')}@")
    else:
        (tmp_path / "mqtt-password").write_text(password + "\n")
        env |= {"ESTATE_MQTT_URL": url, "ESTATE_MQTT_PASSWORD_FILE": str(tmp_path / "mqtt-password")}
    gateway = GatewayProcess(tmp_path / "gw", env)
    gateway.start()  # waits for /health to say connected: the gateway account logged in
    return Run(broker, gateway, env["ESTATE_ADMIN_TOKEN"])


def get(run: Run, path: str, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {run.admin}"}
    return httpx.get(f"{run.gateway.url}{path}", params=params, headers=headers, timeout=10)


def _metric_sum(metrics: str, name: str) -> float:
    return sum(float(m) for m in re.findall(rf"^{name}\{{[^}}]*\}} (\S+)$", metrics, re.MULTILINE))


def test_a_device_account_publishes_into_its_own_estate_only(
    tmp_path: Path, broker: MosquittoServer, pki: Pki
) -> None:
    run = start_gateway(tmp_path, broker, pki)
    viewer = Account(broker, "viewer", ("estate/#", "gateway/#"))
    sunrise = Account(broker, "sunrise")
    try:
        sunrise.send(
            [
                ("estate/moonlight/lift/L1/telemetry", {"floor": 3}),  # another estate
                ("estate/sunrise/alerts", {"rule": "forged"}),  # the gateway's topic
                ("gateway/test-gw/status", {"forged": True}),
                ("estate/sunrise/lift/L1/telemetry", {"floor": 5}),  # its own: the one let through
            ]
        )
        # A client's messages are handled in order: once the last is stored, the others had
        # been stored before it, had they been let through.
        wait_until(lambda: get(run, "/api/devices/sunrise/L1").json()["latest"].get("floor") == 5, timeout=15)
        wait_until(lambda: "estate/sunrise/lift/L1/telemetry" in viewer.topics(), timeout=10)
        assert [t for t in viewer.topics() if t.startswith("estate/")] == ["estate/sunrise/lift/L1/telemetry"]
        metrics = get(run, "/metrics").text
        assert _metric_sum(metrics, "estate_messages_total") == 1  # the gateway saw one message
        assert _metric_sum(metrics, "estate_dead_letters_total") == 0
        moonlight = Account(broker, "moonlight")  # its own estate is open to the other account
        moonlight.send([("estate/moonlight/lift/M1/telemetry", {"floor": 1})])
        wait_until(lambda: "estate/moonlight/lift/M1/telemetry" in viewer.topics(), timeout=10)
        moonlight.close()
    finally:
        run.gateway.kill()
        viewer.close()
        sunrise.close()


def test_the_gateway_accounts_alerts_and_status_reach_a_subscriber(
    tmp_path: Path, broker: MosquittoServer, pki: Pki
) -> None:
    """And what a device account may not read: the other readings, the alerts, ``$SYS``
    (mosquitto 2.0 grants the subscription and delivers nothing the ACL does not allow)."""
    run = start_gateway(tmp_path, broker, pki)
    viewer = Account(broker, "viewer", ("estate/+/alerts", "gateway/#"))
    statistics = Account(broker, "gateway", ("$SYS/broker/#",))  # what the broker watch reads
    sunrise = Account(broker, "sunrise", ("estate/#", "$SYS/broker/#"))
    try:
        sunrise.send([("estate/sunrise/water_tank/T1/event", {"type": "hatch_open"})])
        wait_until(lambda: "estate/sunrise/alerts" in viewer.topics(), timeout=15, message="no alert came")
        alert = next(json.loads(p) for t, p in viewer.received if t == "estate/sunrise/alerts")
        assert alert["rule"] == "water.hatch_open" and alert["estate"] == "sunrise"
        assert ("gateway/test-gw/status", b"online") in viewer.received  # retained, delivered
        wait_until(lambda: "$SYS/broker/version" in statistics.topics(), timeout=15)
        assert sunrise.topics() == []
    finally:
        run.gateway.kill()
        for account in (viewer, statistics, sunrise):
            account.close()


@pytest.mark.parametrize("where", ["url", "file"])
def test_no_secret_of_a_run_shows_in_its_logs_health_metrics_or_api(
    tmp_path: Path, broker: MosquittoServer, pki: Pki, influx_v2: InfluxV2Target, where: str
) -> None:
    """The broker password (percent-encoded in the URL, or in a file), the admin token and the
    InfluxDB token, all in use in one run; none shows anywhere the run writes or answers."""
    influx_token = f"influx-{SECRET}"
    influx = {
        "ESTATE_INFLUX_URL": influx_v2.url,
        "ESTATE_INFLUX_TOKEN": influx_token,
        "ESTATE_INFLUX_ORG": influx_v2.org,
        "ESTATE_INFLUX_BUCKET": influx_v2.bucket,
    }
    run = start_gateway(tmp_path, broker, pki, in_url=where == "url", **influx)
    sunrise = Account(broker, "sunrise")
    try:
        sunrise.send(
            [
                ("estate/sunrise/lift/L1/telemetry", {"floor": 2}),
                ("estate/sunrise/water_tank/T1/event", {"type": "hatch_open"}),
                ("estate/sunrise/lift/L1/telemetry", {"floor": "high"}),  # a dead letter
            ]
        )
        wait_until(lambda: get(run, "/api/alerts").json(), timeout=15)
        wait_until(lambda: influx_v2.shim.writes, timeout=15, message="nothing written to InfluxDB")
        assert influx_v2.shim.writes[0].authorization == f"Token {influx_token}"  # the token is in use
        answers = [get(run, path) for path in ANSWERS]
        assert all(a.status_code in (200, 503) for a in answers), [(a.url, a.status_code) for a in answers]
        run.gateway.terminate()  # the stop's lines too
        texts = {"log": run.gateway.log_text(), **{str(a.url): a.text for a in answers}}
        assert "MQTT connected to mqtts://127.0.0.1" in texts["log"]  # the log is the run's
        gateway_password = PASSWORDS["gateway"]
        secrets = [
            gateway_password,
            quote(gateway_password, safe=""),
            run.admin,
            influx_token,
            SECRET,  # any part of any of them
        ]
        leaks = [(where_, s) for where_, text in texts.items() for s in secrets if s in text]
        assert not leaks
    finally:
        run.gateway.kill()
        sunrise.close()


#: What the secrets test reads: the public endpoints, the pages, and the API lists and items.
ANSWERS = (
    "/health",
    "/metrics",
    "/",
    "/crew",
    "/openapi.json",
    "/api/estates",
    "/api/devices",
    "/api/devices/sunrise/L1",
    "/api/alerts",
    "/api/workorders",
    "/api/deadletters",
)


def test_the_gateway_account_may_put_an_http_push_on_its_raw_topic_only(broker: MosquittoServer) -> None:
    """POST /api/ingest answers 202 once the broker took the body on estate/{e}/{k}/{d}/raw: the
    shipped ACL must let the gateway write there (a refused QoS 1 publish is acknowledged and
    dropped), and nowhere else a device writes."""
    viewer = Account(broker, "viewer", ("estate/#",))
    gateway = Account(broker, "gateway")
    try:
        gateway.send(
            [
                ("estate/sunrise/cctv/NVR1/telemetry", {"forged": True}),  # a device's topic: refused
                ("estate/sunrise/cctv/NVR1/raw", {"Code": "StorageFailure", "Action": "Start"}),
            ]
        )
        wait_until(lambda: "estate/sunrise/cctv/NVR1/raw" in viewer.topics(), timeout=5)
        assert viewer.topics() == ["estate/sunrise/cctv/NVR1/raw"]
    finally:
        viewer.close()
        gateway.close()
