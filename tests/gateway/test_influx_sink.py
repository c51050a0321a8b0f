"""The InfluxDB sink's retry, spool, ordered replay and refusal handling, over a typed fake writer.

The real server path is tested in tests/integration against InfluxDB 1.6.7.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.base import Channel, FieldValue, Kind, Reading
from gateway.sinks.influx import InfluxSink, LineEncoder, WriteError, to_line
from gateway.sinks.spool import Spool, SpooledBatch
from tests.support.servers import wait_until


class FakeWriter:
    """Records bodies; ``down`` makes every write fail as a connection error would."""

    def __init__(self) -> None:
        self.down = False
        self.refuse_with: int | None = None
        self.bodies: list[str] = []
        self.attempts = 0
        self._lock = threading.Lock()

    def write_lines(self, body: str) -> None:
        with self._lock:
            self.attempts += 1
            if self.refuse_with is not None:
                raise WriteError("refused", permanent=True, status=self.refuse_with)
            if self.down:
                raise WriteError("connection refused", permanent=False)
            self.bodies.append(body)

    def ping(self) -> bool:
        return not self.down

    def close(self) -> None:
        return None

    def lines(self) -> list[str]:
        with self._lock:
            return [line for body in self.bodies for line in body.split("\n")]


def reading(i: int) -> Reading:
    return Reading("sunrise", Kind.LIFT, "L1", Channel.TELEMETRY, "B1", 1_000 + i, {"floor": i})


def make_sink(tmp_path: Path, writer: FakeWriter, refused: list[str] | None = None) -> InfluxSink:
    sink = InfluxSink(
        writer,
        Spool(tmp_path / "spool"),
        retries=2,
        backoff_s=0.0,
        replay_backoff_max_s=0.01,
        on_rejected=lambda body, why: (refused if refused is not None else []).append(body),
    )
    sink.start()
    return sink


def test_line_protocol_keeps_field_types_and_tags() -> None:
    line = to_line(
        Reading(
            "sunrise",
            Kind.WATER_TANK,
            "T1",
            Channel.TELEMETRY,
            "B1",
            42,
            {"level_pct": 80.0, "ph": 7, "ok": True, "note": 'a "b"'},
        )
    )
    assert (
        line
        == 'water_tank,building=B1,device=T1,estate=sunrise level_pct=80,note="a \\"b\\"",ok=true,ph=7i 42'
    )


def test_write_goes_straight_through_when_up(tmp_path: Path) -> None:
    writer = FakeWriter()
    sink = make_sink(tmp_path, writer)
    sink.write([reading(i) for i in range(3)])
    sink.close()
    assert len(writer.bodies) == 1  # one batch, one request
    assert sink.stats.points_written == 3
    assert sink.spool.batches == 0


def test_failed_batch_is_retried_whole_then_spooled_and_replayed_in_order(tmp_path: Path) -> None:
    writer = FakeWriter()
    writer.down = True
    sink = make_sink(tmp_path, writer)
    sink.write([reading(i) for i in range(0, 5)])
    assert writer.attempts >= 3  # first try + 2 retries before spooling
    sink.write([reading(i) for i in range(5, 10)])  # spool not empty: goes behind, no direct try
    assert sink.spool.batches == 2 and sink.spool.points == 10
    writer.down = False
    wait_until(lambda: sink.spool.batches == 0, timeout=10)
    sink.write([reading(i) for i in range(10, 12)])
    sink.close()
    times = [int(line.rsplit(" ", 1)[1]) for line in writer.lines()]
    assert times == [1_000 + i for i in range(12)]  # every reading once, in order
    assert sink.stats.batches_replayed == 2


def test_spool_survives_a_restart_and_is_replayed(tmp_path: Path) -> None:
    writer = FakeWriter()
    writer.down = True
    sink = make_sink(tmp_path, writer)
    sink.write([reading(i) for i in range(4)])
    sink.close()
    # A new process: same spool directory, server back.
    writer2 = FakeWriter()
    sink2 = make_sink(tmp_path, writer2)
    wait_until(lambda: sink2.spool.batches == 0, timeout=10)
    sink2.close()
    assert [int(line.rsplit(" ", 1)[1]) for line in writer2.lines()] == [1_000, 1_001, 1_002, 1_003]


@pytest.mark.expect_errors
def test_refused_batch_is_kept_aside_not_retried_forever(tmp_path: Path) -> None:
    writer = FakeWriter()
    writer.refuse_with = 400
    refused: list[str] = []
    sink = make_sink(tmp_path, writer, refused)
    sink.write([reading(1)])
    sink.close()
    assert writer.attempts == 1
    assert len(refused) == 1 and "floor=1i" in refused[0]
    kept = list((tmp_path / "spool" / "rejected").iterdir())
    assert len(kept) == 1 and "floor=1i" in kept[0].read_text()
    assert sink.stats.batches_rejected == 1


def test_spool_leftover_tmp_file_is_discarded_and_order_is_by_sequence(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append("a 1", 1)
    spool.append("b 2", 1)
    (tmp_path / "0000000000000003-1.tmp").write_text("half written")
    reopened = Spool(tmp_path)
    first = reopened.oldest()
    assert first is not None and first.read() == "a 1"
    assert reopened.batches == 2
    assert not list(tmp_path.glob("*.tmp"))
    second = SpooledBatch(tmp_path / "0000000000000002-1.lp", 2, 1)
    with pytest.raises(RuntimeError, match="oldest"):
        reopened.remove(second)  # replay order cannot be skipped
    assert second.path.exists()


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_IDS = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
_VALUES = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    _TEXT,
)


@given(
    kind=st.sampled_from(list(Kind)),
    estate=_IDS,
    device=_IDS,
    building=_TEXT,
    fields=st.dictionaries(_TEXT.filter(bool), _VALUES, max_size=6),
    time_ns=st.integers(0, 2**62),
)
def test_the_encoder_writes_what_influxdb_clients_point_writes(
    kind: Kind, estate: str, device: str, building: str, fields: dict[str, FieldValue], time_ns: int
) -> None:
    reading = Reading(estate, kind, device, Channel.TELEMETRY, building, time_ns, fields)
    encoder = LineEncoder(max_entries=3)  # small: the caches start again often
    assert encoder.line(reading) == to_line(reading)
    assert encoder.line(reading) == to_line(reading)  # from the caches


def test_a_batch_is_one_body_of_lines() -> None:
    readings = [reading(i) for i in range(3)]
    assert LineEncoder().lines(readings) == "\n".join(to_line(r) for r in readings)
