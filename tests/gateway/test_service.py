"""The gateway factory wires settings into its parts."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devices.loader import load_inventory
from gateway.service import build_gateway
from gateway.settings import Settings
from tests.support.gateway import SPEC_EXAMPLE


def test_the_reopen_period_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESTATE_REOPEN_WITHIN_H", "2.5")
    settings = Settings(mqtt_url="mqtt://127.0.0.1:9", data_dir=tmp_path, instance="t")
    gateway = build_gateway(settings, load_inventory(SPEC_EXAMPLE))
    assert gateway.dispatcher.policy.reopen_within == timedelta(hours=2.5)
    assert gateway.dispatcher in gateway.alarms.book.extensions  # it sees every alert change


def test_a_reopen_period_must_be_positive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESTATE_REOPEN_WITHIN_H", "0")
    with pytest.raises(ValueError, match="reopen_within_h"):
        Settings()


def test_simulated_time_for_testers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wall = [1000.0]
    monkeypatch.setattr("devices.clock.time.monotonic", lambda: wall[0])
    monkeypatch.setenv("ESTATE_CLOCK_SPEED", "60")
    monkeypatch.setenv("ESTATE_CLOCK_START", "2026-01-05T08:00:00+08:00")
    settings = Settings(mqtt_url="mqtt://127.0.0.1:9", data_dir=tmp_path, instance="t")
    gateway = build_gateway(settings, load_inventory(SPEC_EXAMPLE))
    assert gateway.clock.now() == datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
    wall[0] += 2.5  # 2.5 wall seconds are 150 simulated ones
    assert gateway.clock.now() == datetime(2026, 1, 5, 0, 2, 30, tzinfo=UTC)
    assert gateway.health()["clock"] == {"now": "2026-01-05T00:02:30+00:00", "speed": 60.0}


def test_a_naive_clock_start_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESTATE_CLOCK_START", "2026-01-05T08:00:00")
    with pytest.raises(ValueError, match="UTC offset"):
        Settings()


def test_what_start_up_built_is_kept_out_of_the_collectors_full_passes(tmp_path: Path) -> None:
    """A full collection walked the whole heap (~100-140 ms every few seconds under load in the
    alert-latency benchmark, every thread stopped); what start-up built is frozen out of it."""
    settings = Settings(
        mqtt_url="mqtt://127.0.0.1:9", data_dir=tmp_path, instance="t", mqtt_receiver="thread"
    )
    gateway = build_gateway(settings, load_inventory(SPEC_EXAMPLE))
    gc.unfreeze()
    gateway.start()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # the inventory, the rules, the app: the heap as it was started
        assert not any(obj is gateway.inventory for obj in gc.get_objects())  # not walked again
    finally:
        gateway.stop()
    assert gc.get_freeze_count() == 0  # a stopped gateway's objects are the collector's again
