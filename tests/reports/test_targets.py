"""KPI targets an estate sets for itself (inventory ``kpi_targets``; defaults: docs/contract.md
§8.1), shown with the daily rollups and the summaries; and ``GET /api/kpis/daily`` counting days
in the estate's local time, not UTC."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Principal, Role, TokenBook
from devices.clock import ManualClock
from devices.inventory import Inventory
from devices.loader import InventoryError, load_inventory
from gateway.service import Gateway, build_gateway
from gateway.settings import Settings
from reports.daily import TARGETS, common_targets, targets_for
from tests.support.gateway import SPEC_EXAMPLE

AUTH = {"Authorization": "Bearer manager"}


def spec(**estate: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SPEC_EXAMPLE.read_text(encoding="utf-8"))
    data["estates"][0].update(estate)
    return data


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()  # 2026-01-05 08:00 UTC: 16:00 in Shanghai


@pytest.fixture
def gateway(tmp_path: Path, clock: ManualClock) -> Gateway:
    inventory = load_inventory(write(tmp_path, spec(kpi_targets={"lamp_intact_pct": 90, "stale": 2})))
    settings = Settings(
        mqtt_url="mqtt://127.0.0.1:9", data_dir=tmp_path, instance="t", mqtt_receiver="thread"
    )
    gw = build_gateway(settings, inventory, clock=clock)
    gw.alarms.start()
    gw.dispatcher.start()
    return gw


@pytest.fixture
def client(gateway: Gateway) -> Iterator[TestClient]:
    book = TokenBook()
    book.add("manager", Principal("manager", Role.MANAGER))
    with TestClient(create_app(gateway, book, manage_lifecycle=False)) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("targets", "problem"),
    [
        ({"lamp_intact": 90}, "kpi_targets.lamp_intact"),  # not a KPI
        ({"lamp_intact_pct": 101}, "less than or equal to 100"),
        ({"stale": -1}, "greater than or equal to 0"),
    ],
)
def test_a_target_that_is_not_one_is_refused(tmp_path: Path, targets: dict[str, Any], problem: str) -> None:
    with pytest.raises(InventoryError) as refused:
        load_inventory(write(tmp_path, spec(kpi_targets=targets)))
    assert problem in str(refused.value)


def test_an_estates_targets_replace_the_defaults_and_a_region_shares_only_common_ones() -> None:
    data = spec(kpi_targets={"lamp_intact_pct": 90})
    data["estates"].append(
        {**data["estates"][0], "id": "other", "kpi_targets": {"lamp_intact_pct": 90, "stale": 1}}
    )
    inventory = Inventory.model_validate(data)
    mine, other = inventory.estates
    assert targets_for(mine)["lamp_intact_pct"].value == 90 and targets_for(mine)["stale"] is TARGETS["stale"]
    assert targets_for(mine)["lamp_intact_pct"].source == "estate sunrise: inventory kpi_targets"
    both = common_targets([mine, other])
    assert both["lamp_intact_pct"].value == 90  # the same in both
    assert both["stale"] is TARGETS["stale"]  # one sets its own, the other not: the default
    assert TARGETS["lamp_intact_pct"].value == 95.0 and TARGETS["repair_timely_pct"].value == 90.0


def test_the_rollups_and_summaries_show_the_estates_targets(
    client: TestClient, gateway: Gateway, clock: ManualClock
) -> None:
    clock.advance(timedelta(hours=8, minutes=5))  # past midnight in Shanghai
    gateway.alarms.tick()
    assert gateway.reports is not None and gateway.reports.catch_up() == 1
    body = client.get("/api/kpis/daily", params={"estate": "sunrise"}, headers=AUTH).json()
    [row] = body["days"]
    assert row["targets"]["lamp_intact_pct"] == {
        "target": 90.0,
        "kind": "min",
        "source": "estate sunrise: inventory kpi_targets",
        "met": True,
    }
    assert row["targets"]["stale"]["target"] == 2.0 and row["detail"]["targets"]["stale"] == 2.0
    assert row["targets"]["repair_timely_pct"] == {**TARGETS["repair_timely_pct"].to_json(), "met": None}
    assert body["targets"]["lamp_intact_pct"]["target"] == 90.0
    summary = client.get(
        "/api/kpis/summary", params={"estate": "sunrise", "start": "2026-01-05"}, headers=AUTH
    )
    kpis = summary.json()["kpis"]
    assert kpis["lamp_intact_pct"]["target"] == 90.0 and kpis["lamp_intact_pct"]["met"] is True
    assert kpis["camera_online_pct"]["target"] == 95.0


def test_the_daily_default_ends_with_the_estates_yesterday_not_utcs(
    client: TestClient, gateway: Gateway, clock: ManualClock
) -> None:
    """At 2026-01-05 17:00 UTC it is 01:00 on the 6th in Shanghai: the 5th has ended there and is
    the last day shown by default (in UTC, the 5th has not ended: it was left out)."""
    clock.advance(timedelta(hours=9))
    gateway.alarms.tick()
    assert gateway.reports is not None and gateway.reports.catch_up() == 1
    body = client.get("/api/kpis/daily", params={"estate": "sunrise"}, headers=AUTH).json()
    assert body["stop"] == "2026-01-06" and body["start"] == "2025-12-07"
    assert [r["day"] for r in body["days"]] == ["2026-01-05"]
    everyone = client.get("/api/kpis/daily", headers=AUTH).json()
    assert everyone["stop"] == "2026-01-06"
