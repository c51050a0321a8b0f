"""Settings from environment variables (docs/contract.md §12); a settings file may add to them.

Built once by :func:`load_settings`, never at import time.
"""

from __future__ import annotations

import socket
import ssl
import sys
from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, FilePath, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    # hide_input_in_errors: an error must not print the value it refused (a URL holds a password).
    model_config = SettingsConfigDict(
        env_prefix="ESTATE_", extra="forbid", frozen=True, hide_input_in_errors=True
    )

    inventory: Path | None = Field(None, description="Path of the inventory YAML (docs/contract.md §4).")
    mqtt_url: str = Field(
        "mqtt://127.0.0.1:1883",
        description="Broker URL mqtt://[user[:password]@]host[:1883] or, over TLS, mqtts://…[:8883]; "
        "user and password percent-encoded.",
    )
    mqtt_password_file: FilePath | None = Field(
        None,
        description="A file holding the broker password (one line), for the user named in the URL; "
        "instead of a password in the URL.",
    )
    mqtt_ca_file: FilePath | None = Field(
        None,
        description="mqtts: PEM CA certificate(s) the broker's certificate must chain to (default: "
        "the system's).",
    )
    mqtt_cert_file: FilePath | None = Field(
        None, description="mqtts: PEM client certificate, for a broker that asks for one."
    )
    mqtt_key_file: FilePath | None = Field(
        None, description="mqtts: PEM private key of the client certificate (if not in the cert file)."
    )
    database_url: str = Field(
        "", description="sqlite:///path or postgresql://…; default: SQLite in the data directory."
    )
    influx_url: str = Field("", description="InfluxDB URL; empty: readings go to the SQL database.")
    influx_token: SecretStr = Field(SecretStr(""), description="InfluxDB API token.")
    influx_org: str = Field("estate", description="InfluxDB organisation.")
    influx_bucket: str = Field("estate", description="InfluxDB bucket for readings.")
    api_host: str = Field("127.0.0.1", description="Address the HTTP API listens on.")
    api_port: int = Field(8000, ge=0, le=65535, description="Port of the HTTP API (0: any free port).")
    admin_token: SecretStr = Field(SecretStr(""), description="Bootstrap admin bearer token.")
    tokens_file: Path | None = Field(
        None, description="YAML of API tokens with roles, estate scope and crews (README: API tokens)."
    )

    # All optional; docs/contract.md §12 lists every setting (tests/test_docs_contract.py checks it).
    instance: str = Field(
        default_factory=socket.gethostname,
        description="Gateway instance name: MQTT client id and gateway/{instance}/status.",
    )
    data_dir: Path = Field(Path("estate-data"), description="Where the spool and default SQLite live.")
    queue_size: int = Field(20_000, ge=10, description="Bound of the MQTT → pipeline hand-off queue.")
    mqtt_receiver: Literal["thread", "process"] = Field(
        "process",
        description="Where paho runs: a thread of the gateway, or a process of its own (on several "
        "cores paho and the pipeline then run side by side).",
    )
    batch_size: int = Field(5_000, ge=1, description="Most messages processed and written as one batch.")
    flush_ms: int = Field(200, ge=1, description="Longest a message waits for its batch to fill.")
    max_payload_bytes: int = Field(64 * 1024, ge=1, description="Larger payloads are dead-lettered.")
    max_future_s: int = Field(300, ge=0, description="A ts further ahead than this is rejected.")
    max_past_s: int = Field(7 * 86_400, ge=0, description="A ts older than this is rejected.")
    write_retries: int = Field(3, ge=0, description="Retries of a failed batch before it is spooled.")
    write_backoff_s: float = Field(0.5, ge=0, description="First retry delay; doubles each retry.")
    replay_backoff_max_s: float = Field(30.0, gt=0, description="Longest wait between replay tries.")
    clock_speed: float = Field(
        1.0, gt=0, description="For testers: the gateway's time runs this many times faster (simulation)."
    )
    clock_start: datetime | None = Field(
        None, description="For testers: the simulated time at start-up (ISO 8601 with offset; default now)."
    )
    clock_topic: str = Field(
        "",
        description="For testers: the gateway's clock follows a simulator's clock messages on this MQTT "
        "topic (lock-step time, README: Simulators); it starts at clock_start and clock_speed is only "
        "the pace asked of the simulator. Empty: the clock runs by itself.",
    )
    estates: str = Field(
        "",
        description="Scale-out: the estates this instance owns, comma-separated (empty: all).",
    )
    reopen_within_h: float = Field(
        24.0, gt=0, description="A fault returning this long after its work order closed reopens it."
    )
    health_lag_s: float = Field(
        30.0,
        gt=0,
        description="/health answers 503 when the rules are this many wall seconds behind the messages.",
    )
    dead_letter_days: float = Field(30.0, gt=0, description="Dead letters are kept this many days.")
    dead_letter_max_rows: int = Field(
        100_000, ge=1, description="At most this many dead letters are kept (the oldest go first)."
    )
    core_queue: int = Field(
        256,
        ge=1,
        le=100_000,
        description="Commands (batches, ticks, operator actions) that may wait for the alarm core's thread.",
    )
    core_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="An operator action waiting this long for the alarm core gets 503 (try again).",
    )
    stage_alarm_after: int = Field(
        3, ge=1, description="Failures in a row of a stage before the self-alarm gateway.stage_failed."
    )
    broker_watch: bool = Field(
        True,
        description="Watch the broker's own count of dropped messages ($SYS/broker/publish/messages/"
        "dropped, mosquitto) and raise gateway.broker_dropping when it rises.",
    )
    unregistered_max: int = Field(
        1_000,
        ge=0,
        description="Unregistered devices tracked per estate; a new one beyond is dead-lettered "
        "(unregistered_overflow).",
    )
    unregistered_days: float = Field(
        7.0, gt=0, description="An unregistered device silent this many days is forgotten."
    )
    handover_shift_h: float = Field(
        8.0,
        gt=0,
        le=24,
        description="A control-room shift: no handover signed for this long (plus the grace) raises "
        "console.handover_missing.",
    )
    handover_grace_min: float = Field(
        30.0, ge=0, le=600, description="Minutes past a shift before the missing handover is raised."
    )
    patrol_keep_days: int = Field(
        400, ge=3, le=3660, description="Patrol rounds and scans are kept this many days (printable record)."
    )
    store_unregistered: bool = Field(
        False,
        description="Store the readings of unregistered devices too (each made-up id would be a new "
        "InfluxDB series); by default they are tracked and listed, not stored, until added to the inventory.",
    )

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"mqtt", "tcp", "mqtts"} or not parts.hostname:
            raise ValueError("expected mqtt://[user[:password]@]host:port or mqtts://…")
        try:
            parts.port  # noqa: B018 - raises for a port that is not a number or out of range
        except ValueError:
            raise ValueError("the port is not a number between 0 and 65535") from None
        return value

    @model_validator(mode="after")
    def _mqtt_credentials(self) -> Settings:
        parts = urlsplit(self.mqtt_url)
        tls = parts.scheme == "mqtts"
        if not tls and (self.mqtt_ca_file or self.mqtt_cert_file or self.mqtt_key_file):
            raise ValueError("mqtt_ca_file, mqtt_cert_file and mqtt_key_file need an mqtts:// URL")
        if self.mqtt_key_file and not self.mqtt_cert_file:
            raise ValueError("mqtt_key_file needs mqtt_cert_file (the certificate of that key)")
        if self.mqtt_password_file and not parts.username:
            raise ValueError("mqtt_password_file needs a user in mqtt_url (mqtt://user@host)")
        if self.mqtt_password_file and parts.password is not None:
            raise ValueError("a password in mqtt_url and mqtt_password_file: give only one")
        if self.mqtt_password_file and not _first_line(self.mqtt_password_file):
            raise ValueError("mqtt_password_file is empty")
        _check_tls_files(self.mqtt_ca_file, self.mqtt_cert_file, self.mqtt_key_file)
        return self

    @field_validator("clock_topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if value and (any(c in value for c in "+#\0") or value.startswith("estate/")):
            raise ValueError("a plain topic outside estate/…, without wildcards, e.g. estate-sim/clock")
        return value

    @field_validator("clock_start")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give the start with its UTC offset, e.g. 2026-01-05T08:00:00+08:00")
        return value

    @property
    def owned_estates(self) -> frozenset[str] | None:
        """The estates this instance owns, or None for all."""
        owned = frozenset(e.strip() for e in self.estates.split(",") if e.strip())
        return owned or None

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'estate.db'}"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"


def _first_line(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None


def _refuse_encrypted() -> str:
    raise ValueError("the key is encrypted")


def _check_tls_files(ca: Path | None, cert: Path | None, key: Path | None) -> None:
    """Loaded once here so that a bad file stops the start with its name (paho would fail later,
    in the receiver process, or ask for a key's passphrase on a terminal the service has not)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca is not None:
        try:
            context.load_verify_locations(cafile=str(ca))
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"mqtt_ca_file {ca}: not PEM CA certificates ({exc})") from None
    if cert is not None:
        try:
            context.load_cert_chain(str(cert), str(key) if key else None, password=_refuse_encrypted)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ValueError(
                f"mqtt_cert_file/mqtt_key_file: not a PEM certificate with its unencrypted key ({exc})"
            ) from None


def load_settings(env_file: Path | None = None) -> Settings:
    """Settings from the environment; ``env_file`` (KEY=value lines) adds to it."""
    return Settings(_env_file=env_file)


def command_settings(settings_file: str | None, config: str | None) -> tuple[Settings, Path] | None:
    """The settings and the inventory's path a command (``run``, ``rollup``) works with, from its
    ``--settings`` and ``--config``; None when there are none, the reason said on stderr."""
    try:
        settings = load_settings(Path(settings_file) if settings_file else None)
    except ValidationError as exc:
        print(f"settings: {exc}", file=sys.stderr)
        return None
    path = Path(config) if config else settings.inventory
    if path is None:
        print("no inventory: set ESTATE_INVENTORY or pass --config FILE", file=sys.stderr)
        return None
    return settings, path
