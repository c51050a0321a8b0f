"""Readings → InfluxDB 2.x/3.x (or 1.8+) through ``influxdb-client``.

A batch is written whole. A failed batch is retried with exponential backoff; if the server stays
down it is spooled to disk, and from then on every new batch goes behind it in the spool, so the
order of writes is kept. A replay thread drains the spool oldest first once the server answers.
``write`` returns only when a batch is on the server or on disk: the pipeline acknowledges the
MQTT messages after that, so a crash at any point loses no reading. Replaying a batch twice is
harmless: InfluxDB keeps one point per series and timestamp.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write.point import Point
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from devices.base import Reading
from gateway.sinks import SinkHealth, SinkStats
from gateway.sinks.spool import Spool, SpooledBatch

log = logging.getLogger(__name__)


class WriteError(Exception):
    """A write that did not land. ``permanent``: the server refused the data itself (4xx)."""

    def __init__(self, message: str, *, permanent: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status = status


class LineWriter(Protocol):
    """The HTTP seam: write a line-protocol body, raise :class:`WriteError` on failure."""

    def write_lines(self, body: str) -> None: ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...


#: Line-protocol escapes, the same as influxdb-client's ``Point`` uses.
_ESCAPE_KEY = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"})
_ESCAPE_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"})
_ESCAPE_STRING = str.maketrans({'"': r"\"", "\\": r"\\"})


def _tag_value(value: str) -> str:
    escaped = value.translate(_ESCAPE_KEY)
    return escaped + " " if escaped.endswith("\\") else escaped


class LineEncoder:
    """Readings → InfluxDB line protocol, exactly as ``influxdb-client``'s ``Point`` writes them
    (a property test holds the two to the same output), with each series' measurement and tags,
    and each field name, escaped once rather than for every reading. ``Point`` cost 27 µs a
    reading, a fifth of the pipeline's CPU; this costs ~3 µs (docs/benchmarks.md). The caches
    are bounded: when full they start again."""

    def __init__(self, max_entries: int = 500_000) -> None:
        self._series: dict[tuple[str, str, str, str], str] = {}
        self._keys: dict[str, str] = {}
        self._max = max_entries

    def series(self, measurement: str, estate: str, device: str, building: str) -> str:
        key = (measurement, estate, device, building)
        prefix = self._series.get(key)
        if prefix is None:
            tags = [("building", building), ("device", device), ("estate", estate)]
            text = ",".join(f"{k}={_tag_value(v)}" for k, v in tags if v)
            prefix = measurement.translate(_ESCAPE_MEASUREMENT) + ("," + text if text else "") + " "
            if len(self._series) >= self._max:
                self._series.clear()
            self._series[key] = prefix
        return prefix

    def _key(self, name: str) -> str:
        escaped = self._keys.get(name)
        if escaped is None:
            if len(self._keys) >= self._max:
                self._keys.clear()
            escaped = self._keys[name] = name.translate(_ESCAPE_KEY)
        return escaped

    def line(self, reading: Reading) -> str:
        """One line; "" when the reading has no field to store (as ``Point`` does)."""
        fields = []
        keys = self._keys
        for name, value in sorted(reading.fields.items()):
            if isinstance(value, float):
                if not math.isfinite(value):
                    continue
                text = str(value)
                if text.endswith(".0"):
                    text = text[:-2]
            elif value is True or value is False:
                text = "true" if value else "false"
            elif isinstance(value, int):
                text = f"{value}i"
            else:
                text = '"' + str(value).translate(_ESCAPE_STRING) + '"'
            fields.append(f"{keys.get(name) or self._key(name)}={text}")
        if not fields:
            return ""
        prefix = self.series(reading.measurement, reading.estate, reading.device, reading.building)
        return f"{prefix}{','.join(fields)} {reading.time_ns}"

    def lines(self, readings: Sequence[Reading]) -> str:
        """One line-protocol body for a batch."""
        line = self.line
        return "\n".join([line(r) for r in readings])


def to_line(reading: Reading) -> str:
    """The reference encoding through ``influxdb-client``'s ``Point`` (tests compare against it)."""
    point = Point(reading.measurement).tag("estate", reading.estate).tag("device", reading.device)
    if reading.building:
        point.tag("building", reading.building)
    for name, value in reading.fields.items():
        point.field(name, value)
    line: str = point.time(reading.time_ns, WritePrecision.NS).to_line_protocol()
    return line


class InfluxClientWriter:
    """:class:`LineWriter` over ``influxdb-client``'s synchronous write API."""

    def __init__(self, url: str, token: str, org: str, bucket: str, timeout_ms: int = 10_000) -> None:
        # retries=False: the sink owns retrying, so a batch is retried whole and then spooled.
        self._client = InfluxDBClient(url=url, token=token, org=org, timeout=timeout_ms, retries=False)
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._bucket = bucket
        self._org = org

    def write_lines(self, body: str) -> None:
        try:
            # Lines carry nanosecond times: the API's default precision.
            self._write_api.write(bucket=self._bucket, org=self._org, record=body)
        except ApiException as exc:
            status = int(exc.status or 0)
            permanent = 400 <= status < 500 and status not in (408, 429)
            raise WriteError(
                f"InfluxDB answered {status}: {exc.body or exc.reason}", permanent=permanent, status=status
            ) from exc
        except Exception as exc:  # connection refused, reset, timeout: all worth a retry
            raise WriteError(f"InfluxDB unreachable: {type(exc).__name__}: {exc}", permanent=False) from exc

    def ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except Exception:
            return False

    def close(self) -> None:
        self._client.close()


#: Waits up to the given seconds; returns True if the sink is closing (an Event's ``wait``).
Waiter = Callable[[float], bool]


class InfluxSink:
    name = "influxdb"

    def __init__(
        self,
        writer: LineWriter,
        spool: Spool,
        *,
        retries: int = 3,
        backoff_s: float = 0.5,
        replay_backoff_max_s: float = 30.0,
        on_rejected: Callable[[str, str], None] | None = None,
    ) -> None:
        self._writer = writer
        self.spool = spool
        self._retries = retries
        self._backoff_s = backoff_s
        self._replay_backoff_max_s = replay_backoff_max_s
        self._on_rejected = on_rejected or (lambda body, why: None)
        self.stats = SinkStats()
        self.encoder = LineEncoder()
        self._closing = threading.Event()
        self._spooled = threading.Event()
        self._replayer: threading.Thread | None = None
        self._last_error = ""
        # One writer at a time: the pipeline's direct writes and the replayer never interleave.
        self._write_lock = threading.Lock()

    def start(self) -> None:
        self._replayer = threading.Thread(target=self._replay_loop, name="influx-replay", daemon=True)
        self._replayer.start()
        if self.spool:
            self._spooled.set()

    def close(self) -> None:
        self._closing.set()
        self._spooled.set()
        if self._replayer is not None:
            self._replayer.join(timeout=10)
        self._writer.close()

    def write(self, readings: Sequence[Reading]) -> None:
        if not readings:
            return
        body = self.encoder.lines(readings)
        if self.spool:  # keep order: nothing overtakes what is already spooled
            self._to_spool(body, len(readings))
            return
        try:
            self._write_with_retries(body, len(readings))
        except WriteError as exc:
            if exc.permanent:
                self.spool.keep_rejected(body)
                self._reject_body(body, str(exc))
            else:
                self._to_spool(body, len(readings))

    def _write_with_retries(self, body: str, points: int) -> None:
        delay = self._backoff_s
        for attempt in range(self._retries + 1):
            try:
                self._write_once(body, points)
                return
            except WriteError as exc:
                if exc.permanent or attempt == self._retries or self._closing.wait(delay):
                    raise
                delay *= 2

    def _write_once(self, body: str, points: int) -> None:
        with self._write_lock:
            try:
                self._writer.write_lines(body)
            except WriteError as exc:
                self.stats.write_failures += 1
                self._last_error = str(exc)
                raise
        self._last_error = ""
        self.stats.points_written += points
        self.stats.batches_written += 1

    def _to_spool(self, body: str, points: int) -> None:
        self.spool.append(body, points)
        self.stats.batches_spooled += 1
        self._spooled.set()

    def _reject_body(self, body: str, why: str) -> None:
        self.stats.batches_rejected += 1
        log.error("InfluxDB refused a batch for good (%s); kept as a dead letter", why)
        self._on_rejected(body, why)

    def _replay_loop(self) -> None:
        delay = self._backoff_s or 0.1
        while not self._closing.is_set():
            batch = self.spool.oldest()
            if batch is None:
                self._spooled.clear()
                if self.spool.oldest() is None:  # appended between the look and the clear?
                    self._spooled.wait()
                continue
            if self._replay_one(batch):
                delay = self._backoff_s or 0.1
            elif self._closing.wait(delay):
                return
            else:
                delay = min(delay * 2, self._replay_backoff_max_s)

    def _replay_one(self, batch: SpooledBatch) -> bool:
        body = batch.read()
        try:
            self._write_once(body, batch.points)
        except WriteError as exc:
            if not exc.permanent:
                return False
            self.spool.reject(batch)
            self._reject_body(body, str(exc))
            return True
        self.spool.remove(batch)
        self.stats.batches_replayed += 1
        return True

    def health(self) -> SinkHealth:
        reachable = self._writer.ping()
        detail = "reachable" if reachable else f"unreachable {self._last_error}".strip()
        return SinkHealth(self.name, reachable, detail, self.spool.batches, self.spool.points)
