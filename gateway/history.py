"""A device's reading history, from whichever store holds it: the SQL database or InfluxDB.

Both answer the same question the same way: the device's points in ``[start, stop)``, oldest
first, at most ``limit`` of them, optionally one field only, optionally downsampled to one point
per ``every`` bucket (stamped at the bucket's start; numbers averaged, booleans and text the last
value of the bucket).

InfluxDB is asked in InfluxQL over ``/query``, the v1-compatible endpoint that InfluxDB 1.8+,
2.x (through its DBRP mapping of the bucket) and 3.x all serve, with the token as
``Authorization: Token …``; the downsampling is done by the server (``GROUP BY time(…)``), so a
30-day chart moves only its buckets. Measurement per kind, tags ``estate``/``device``/
``building``: what :mod:`gateway.sinks.influx` writes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from devices.base import FieldValue, Kind
from gateway.sinks.sql import SqlSink

log = logging.getLogger(__name__)

#: (time_ns, fields), oldest first.
Rows = list[tuple[int, dict[str, FieldValue]]]

#: The most raw rows the SQL store scans for one downsampled answer (~200 B each in memory).
SQL_SCAN_LIMIT = 200_000
_TAGS = frozenset({"estate", "device", "building"})


class HistoryError(Exception):
    """The store could not answer (down, or refused the query): the API says 503."""


class History(Protocol):
    def readings(
        self,
        estate: str,
        kind: Kind,
        device: str,
        start_ns: int,
        stop_ns: int,
        *,
        every_ns: int | None = None,
        field: str | None = None,
        limit: int = 1000,
    ) -> Rows: ...

    def close(self) -> None: ...


def downsample(rows: Rows, bucket_ns: int) -> Rows:
    """One row per time bucket (stamped at its start): numbers averaged, other values the last."""
    buckets: dict[int, dict[str, list[FieldValue]]] = {}
    for time_ns, fields in rows:
        bucket = buckets.setdefault(time_ns - time_ns % bucket_ns, {})
        for name, value in fields.items():
            bucket.setdefault(name, []).append(value)
    out: Rows = []
    for start, values in sorted(buckets.items()):
        merged: dict[str, FieldValue] = {}
        for name, seen in values.items():
            numbers = [v for v in seen if isinstance(v, int | float) and not isinstance(v, bool)]
            merged[name] = round(sum(numbers) / len(numbers), 6) if len(numbers) == len(seen) else seen[-1]
        out.append((start, merged))
    return out


class SqlHistory:
    """History from the SQL store. Downsampling is done here over the whole period (at most
    ``scan_limit`` raw points), then ``limit`` applies to the buckets."""

    def __init__(self, sink: SqlSink, scan_limit: int = SQL_SCAN_LIMIT) -> None:
        self.sink, self.scan_limit = sink, scan_limit

    def close(self) -> None:
        """Nothing of its own to close (the sink's engine is the gateway's)."""

    def readings(
        self,
        estate: str,
        kind: Kind,
        device: str,
        start_ns: int,
        stop_ns: int,
        *,
        every_ns: int | None = None,
        field: str | None = None,
        limit: int = 1000,
    ) -> Rows:
        scan = limit if every_ns is None and field is None else self.scan_limit
        points = self.sink.query(estate, device, start_ns, stop_ns, scan, measurement=kind.value)
        rows: Rows = [
            (p.time_ns, {field: p.fields[field]} if field else dict(p.fields))
            for p in points
            if field is None or field in p.fields
        ]
        if every_ns is not None:
            rows = downsample(rows, every_ns)
        return rows[:limit]


class InfluxQLHistory:
    """History from InfluxDB, in InfluxQL over ``/query``."""

    def __init__(
        self,
        url: str,
        database: str,
        token: str = "",
        *,
        timeout_s: float = 10.0,
        field_types_ttl_s: float = 300.0,
        transport: httpx.BaseTransport | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        headers = {"Authorization": f"Token {token}"} if token else {}
        self._client = httpx.Client(
            base_url=url.rstrip("/"), headers=headers, timeout=timeout_s, transport=transport
        )
        self.database = database
        self._ttl_s, self._monotonic = field_types_ttl_s, monotonic
        self._types: dict[str, tuple[float, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def readings(
        self,
        estate: str,
        kind: Kind,
        device: str,
        start_ns: int,
        stop_ns: int,
        *,
        every_ns: int | None = None,
        field: str | None = None,
        limit: int = 1000,
    ) -> Rows:
        where = (
            f'WHERE "estate" = {_string(estate)} AND "device" = {_string(device)} '
            f"AND time >= {int(start_ns)} AND time < {int(stop_ns)}"
        )
        measurement = _ident(kind.value)
        if every_ns is None:
            selected = _ident(field) if field else "*"
            q = f"SELECT {selected} FROM {measurement} {where} ORDER BY time ASC LIMIT {int(limit)}"
        else:
            types = self.field_types(kind)
            names = [field] if field else sorted(types)
            if field and field not in types:
                return []
            if not names:
                return []
            parts = [
                f"{'mean' if types[n] in ('float', 'integer') else 'last'}({_ident(n)}) AS {_ident(n)}"
                for n in names
            ]
            q = (
                f"SELECT {', '.join(parts)} FROM {measurement} {where} "
                f"GROUP BY time({int(every_ns)}ns) fill(none) LIMIT {int(limit)}"
            )
        rows: Rows = []
        for series in self._series(q):
            columns: list[str] = series.get("columns", [])
            for values in series.get("values") or []:
                record = dict(zip(columns, values, strict=True))
                time_ns = int(record.pop("time"))
                fields = {k: _value(v) for k, v in record.items() if v is not None and k not in _TAGS}
                if fields:
                    rows.append((time_ns, fields))
        return rows

    def field_types(self, kind: Kind) -> dict[str, str]:
        """The measurement's fields and their InfluxDB types (float, integer, boolean, string),
        asked of the server and kept ``field_types_ttl_s`` (a new field shows after that)."""
        now = self._monotonic()
        with self._lock:
            cached = self._types.get(kind.value)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        types: dict[str, str] = {}
        for series in self._series(f"SHOW FIELD KEYS FROM {_ident(kind.value)}"):
            for key, kind_of in series.get("values") or []:
                types[str(key)] = str(kind_of)
        with self._lock:
            self._types[kind.value] = (now, types)
        return types

    def _series(self, q: str) -> list[dict[str, Any]]:
        try:
            response = self._client.get("/query", params={"db": self.database, "q": q, "epoch": "ns"})
        except httpx.HTTPError as exc:
            raise HistoryError(f"InfluxDB unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise HistoryError(f"InfluxDB answered {response.status_code}: {response.text[:300]}")
        try:
            results = response.json().get("results", [])
        except ValueError as exc:
            raise HistoryError(f"InfluxDB answered something not JSON: {response.text[:200]!r}") from exc
        series: list[dict[str, Any]] = []
        for result in results:
            if "error" in result:
                raise HistoryError(f"InfluxDB refused the query: {result['error']}")
            series.extend(result.get("series", []))
        return series


def _ident(name: str) -> str:
    """An InfluxQL identifier, double-quoted."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _string(value: str) -> str:
    """An InfluxQL string literal, single-quoted."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _value(value: Any) -> FieldValue:
    # InfluxDB's JSON writes a float with an integral value as an integer (20.0 as 20): a mean or
    # a reading of a float field may come back as an int; both are numbers to the API's JSON.
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)
