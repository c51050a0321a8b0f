"""Issue 21 (items 3 and 4): a broker account whose password holds ``@ : / # %`` connects when
the URL percent-encodes it, and no log line of the run shows the password."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

from tests.support.gateway import GatewayProcess
from tests.support.servers import MosquittoServer, wait_until

USER, PASSWORD = "gw-sunrise", "p@ss:w/rd#1%x"


def test_a_percent_encoded_password_connects_and_is_never_logged(tmp_path: Path) -> None:
    passwords = tmp_path / "passwords"
    passwords.touch()
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    subprocess.run([tool, "-b", str(passwords), USER, PASSWORD], check=True, capture_output=True)
    passwords.chmod(0o644)
    broker = MosquittoServer(
        tmp_path / "mosquitto", extra_config=["allow_anonymous false", f"password_file {passwords}"]
    )
    broker.start()
    url = f"mqtt://{quote(USER, safe='')}:{quote(PASSWORD, safe='')}@{broker.host}:{broker.port}"
    proc = GatewayProcess(tmp_path / "gw", {"ESTATE_MQTT_URL": url})
    try:
        proc.start()  # waits for /health to say the broker is connected: the password was right
        wait_until(lambda: proc.api("/health")["broker"]["ok"], timeout=10)
        proc.terminate()
        log = proc.log_text()
        assert "broker mqtt://gw-sunrise:***@" in log  # the start-up line, redacted
        for secret in (PASSWORD, quote(PASSWORD, safe=""), "p@ss"):
            assert secret not in log
        assert f"u'{USER}'" in broker.log_text() or USER in broker.log_text()  # it did log in as the user
    finally:
        proc.kill()
        broker.kill()
