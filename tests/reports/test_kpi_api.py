"""The KPI routes over a real gateway object (SQLite, manual clock): daily rollups stored after
local midnight and recomputed on request, month summaries, the region tree, period bounds, the
patrol record after a restart, and no KPI or patrol read taking the alarm engine's lock."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from devices.clock import ManualClock
from devices.loader import load_inventory
from gateway.service import Gateway, build_gateway
from reports.rollup import RollupJob
from tests.api.conftest import auth, feed, tick
from tests.support.gateway import SPEC_EXAMPLE

TRAPPED = ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "entrapment"})
FREED = ("estate/sunrise/lift/L1/event", {"type": "fault_cleared", "code": "entrapment"})


def _midnight_passes(gateway: Gateway, clock: ManualClock) -> None:
    """08:00 UTC on 2026-01-05 is 16:00 in Shanghai: 8 h 5 min later the local day has ended."""
    clock.advance(timedelta(hours=8, minutes=5))
    tick(gateway)


def test_the_day_is_rolled_up_after_local_midnight_and_served(
    client: TestClient, gateway: Gateway, clock: ManualClock
) -> None:
    feed(gateway, TRAPPED)  # 16:00 local: an entrapment for 30 minutes
    clock.advance(timedelta(minutes=30))
    feed(gateway, FREED)
    assert gateway.reports is not None
    assert gateway.reports.catch_up() == 0  # the day has not ended yet
    _midnight_passes(gateway, clock)
    assert gateway.reports.catch_up() == 1 and gateway.reports.catch_up() == 0  # once per day
    params = {"estate": "sunrise", "start": "2026-01-01", "stop": "2026-01-07"}
    body = client.get("/api/kpis/daily", params=params, headers=auth("manager")).json()
    [row] = body["days"]
    assert row["day"] == "2026-01-05" and row["estate"] == "sunrise" and row["position"] == "sunrise"
    assert row["entrapments"] == 1 and row["lift_service_minutes"] == 1440 - 30
    assert row["lift_availability_pct"] == round(100 * 1410 / 1440, 2)
    assert row["detail"]["entrapments"][0]["lift"] == "L1"
    assert body["targets"]["lift_availability_pct"] == {
        "target": 100.0,
        "kind": "min",
        "source": "estate service standard: passenger lifts run 24 h a day",
    }


def test_a_past_day_is_recomputed_on_request_and_replaces_the_old_figures(
    client: TestClient, gateway: Gateway, clock: ManualClock
) -> None:
    _midnight_passes(gateway, clock)
    assert gateway.reports is not None and gateway.reports.catch_up() == 1
    admin = auth("admin")
    body = {"estate": "sunrise", "start": "2026-01-03", "stop": "2026-01-06"}
    answer = client.post("/api/kpis/rollups", json=body, headers=admin)
    assert answer.status_code == 200 and answer.json()["days"] == 3
    days = client.get("/api/kpis/daily", params={"start": "2026-01-01", "stop": "2026-01-07"}, headers=admin)
    assert [r["day"] for r in days.json()["days"]] == ["2026-01-03", "2026-01-04", "2026-01-05"]
    assert client.post("/api/kpis/rollups", json=body, headers=auth("manager")).status_code == 403
    bad = [
        {**body, "stop": "2026-01-03"},  # start not before stop
        {**body, "start": "2024-01-01"},  # more than 400 days
        {**body, "start": "1999-12-31"},
    ]
    assert [client.post("/api/kpis/rollups", json=b, headers=admin).status_code for b in bad] == [422] * 3
    assert (
        client.post("/api/kpis/rollups", json={**body, "estate": "nowhere"}, headers=admin).status_code == 404
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2026-01-05", "stop": "2026-01-05"}, "start must be before stop"),
        ({"start": "2025-01-01", "stop": "2026-02-06"}, "at most 400 days"),
        ({"start": "1900-01-01"}, "2000-01-01"),
        ({"start": "yesterday"}, "date"),
    ],
)
def test_daily_periods_are_bounded_with_a_clear_message(
    client: TestClient, params: dict[str, str], message: str
) -> None:
    answer = client.get("/api/kpis/daily", params=params, headers=auth("manager"))
    assert answer.status_code == 422 and message in answer.text


def test_month_summary_and_the_region_tree(client: TestClient, gateway: Gateway, clock: ManualClock) -> None:
    assert gateway.reports is not None
    gateway.reports.recompute(None, date(2026, 1, 1), date(2026, 1, 4))
    feed(gateway, TRAPPED)
    clock.advance(timedelta(minutes=60))
    feed(gateway, FREED)
    _midnight_passes(gateway, clock)
    gateway.reports.catch_up()
    manager = auth("manager")
    month = client.get(
        "/api/kpis/summary", params={"estate": "sunrise", "start": "2026-01-20"}, headers=manager
    )
    body = month.json()
    assert (body["start"], body["stop"], body["days"]) == ("2026-01-01", "2026-02-01", 5)
    lifts = body["kpis"]["lift_availability_pct"]
    assert lifts["value"] == round(100 * (5 * 1440 - 60) / (5 * 1440), 2) and lifts["met"] is False
    assert body["counts"]["entrapments"] == 1
    quarter = client.get(
        "/api/kpis/summary",
        params={"region": "xx-district", "period": "quarter", "start": "2026-02-10"},
        headers=manager,
    ).json()
    assert (quarter["start"], quarter["stop"]) == ("2026-01-01", "2026-04-01")
    assert quarter["region"] == "xx-district" and quarter["estates"] == ["sunrise"]
    [street] = quarter["children"]
    assert street["region"] == "street-1" and street["children"] == [{"estate": "sunrise", **_without(body)}]
    assert quarter["kpis"] == street["kpis"] == body["kpis"]
    for params in ({"region": "nowhere"}, {"estate": "sunrise", "region": "street-1"}, {"period": "year"}):
        assert client.get("/api/kpis/summary", params=params, headers=manager).status_code in (404, 422)


def _without(summary: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in summary.items() if k in ("days", "estate_days", "positions", "counts", "kpis")}


def test_the_patrol_record_survives_a_restart(
    client: TestClient, gateway: Gateway, clock: ManualClock, tmp_path: Path
) -> None:
    clock.advance(timedelta(hours=2, minutes=30))  # 18:30 local: the night's first round
    for cp in ("CP1", "CP2"):
        scan = {"type": "scan", "checkpoint": cp, "guards": ["G1"]}  # one guard: short-handed
        feed(gateway, ("estate/sunrise/patrol/H1/event", scan))
        clock.advance(timedelta(minutes=20))
    clock.advance(timedelta(hours=11, minutes=5))
    tick(gateway)
    params = {"estate": "sunrise", "date": "2026-01-05"}
    [before] = client.get("/api/patrols", params=params, headers=auth("operator")).json()
    again = build_gateway(gateway.settings, load_inventory(SPEC_EXAMPLE), clock=clock)
    again.alarms.start()
    client.app.state.gateway = again  # type: ignore[attr-defined]
    clock.advance(timedelta(days=3))  # the tracker keeps two days in memory; the record 400
    again.alarms.tick()
    [after] = client.get("/api/patrols", params=params, headers=auth("operator")).json()
    assert after == before
    first = next(r for r in after["rounds"] if r["id"] == "grounds/2026-01-05/night/1")
    assert first["status"] == "short_handed" and [s["checkpoint"] for s in first["scans"]] == ["CP1", "CP2"]
    assert after["compliance_pct"] == 0.0  # four night rounds closed, none met the plan
    kpis = client.get(
        "/api/kpis",
        params={"estate": "sunrise", "start": "2026-01-05T00:00:00+08:00"},
        headers=auth("manager"),
    )
    assert kpis.json()["patrols"]["sunrise"]["2026-01-05"] == 0.0
    assert again.reports is not None and again.reports.patrols.prune(date(2026, 1, 6)) > 0
    [pruned] = client.get("/api/patrols", params=params, headers=auth("operator")).json()
    assert pruned["compliance_pct"] is None and all(not r["scans"] for r in pruned["rounds"])


class _Forbidden:
    def __enter__(self) -> None:
        raise AssertionError("a read took the alarm engine's lock")

    def __exit__(self, *_: object) -> None:
        return None


def test_no_kpi_or_patrol_read_takes_the_alarm_lock(client: TestClient, gateway: Gateway) -> None:
    gateway.alarms.book.guard = _Forbidden()  # type: ignore[assignment]
    manager = auth("manager")
    long = {"estate": "sunrise", "start": "2025-01-01T00:00:00Z", "stop": "2026-02-05T00:00:00Z"}
    paths = [
        ("/api/kpis", long),
        ("/api/kpis/daily", {"start": "2025-01-01", "stop": "2026-02-05"}),
        ("/api/kpis/summary", {"region": "xx-district", "period": "quarter"}),
        ("/api/patrols", {"estate": "sunrise", "date": "2025-06-01"}),
        ("/api/patrols/report", {"estate": "sunrise", "date": "2025-06-01"}),
        ("/api/estates/sunrise/summary", {}),
    ]
    for path, params in paths:
        assert client.get(path, params=params, headers=manager).status_code == 200, path


@pytest.mark.expect_errors
def test_a_failing_rollup_is_counted_on_its_stage_and_retried(gateway: Gateway, clock: ManualClock) -> None:
    calls = [0]

    def flaky() -> int:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("database gone")
        assert gateway.reports is not None
        return gateway.reports.catch_up()

    job = RollupJob(flaky, gateway.stages)
    _midnight_passes(gateway, clock)
    assert job.run_once() == 0
    assert not gateway.stages.snapshot()["rollups"]["ok"]
    assert job.run_once() == 1
    assert gateway.stages.snapshot()["rollups"]["ok"]
