"""One estate-day's KPIs (reports/daily.py) with hand-computed expectations, each wrong case of
issue 24 included: a silent lamp is not working, a night round walked alone is not compliance,
activations (not records) make the alarm load, stale means active > 24 h at the end of the day
whenever raised, and lift availability exists (minutes in service / minutes in the day)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from alerts.kpis import lamp_intact
from alerts.model import Action, Alert, HistoryEntry
from alerts.patrol_plan import RoundStatus
from alerts.patrol_records import Verdict
from devices.base import Severity, Trade
from devices.inventory import Estate, Inventory
from dispatch.model import OrderState, Source, Step, WorkOrder
from reports.daily import TARGETS, DayInputs, day_bounds, decided_at, estate_day
from reports.rollup import positions_of

DAY = date(2026, 3, 2)
TZ_OFFSET = timedelta(hours=8)  # Asia/Shanghai, no daylight saving
H, M = timedelta(hours=1), timedelta(minutes=1)

INVENTORY: dict[str, Any] = {
    "regions": [
        {
            "id": "d1",
            "name": "一区",
            "children": [{"id": "s1", "name": "一街道"}, {"id": "s2", "name": "二街道"}],
        }
    ],
    "positions": [{"id": "desk-1", "estates": ["a", "b"]}],
    "estates": [
        {
            "id": "a",
            "name": "甲",
            "region": "s1",
            "buildings": ["B1"],
            "devices": [
                {"id": "L1", "kind": "lift", "building": "B1"},
                {"id": "L2", "kind": "lift", "building": "B1"},
                {"id": "LC1", "kind": "light", "building": "B1"},
                *({"id": f"LP{i}", "kind": "light", "building": "B1", "parent": "LC1"} for i in range(1, 5)),
                {"id": "NVR1", "kind": "cctv", "building": "B1"},
                {"id": "CAM1", "kind": "cctv", "building": "B1", "parent": "NVR1"},
                {"id": "CAM2", "kind": "cctv", "building": "B1", "parent": "NVR1"},
            ],
        },
        {"id": "b", "name": "乙", "region": "s2"},
        {"id": "c", "name": "丙", "region": "s2"},
    ],
}


@pytest.fixture
def inventory() -> Inventory:
    return Inventory.model_validate(INVENTORY)


@pytest.fixture
def estate(inventory: Inventory) -> Estate:
    found = inventory.estate("a")
    assert found is not None
    return found


def local(hours: float, day: int = 0) -> datetime:
    """Local (UTC+8) time of DAY + ``day`` at ``hours``, in UTC."""
    return datetime.combine(DAY + timedelta(days=day), time(0), tzinfo=UTC) - TZ_OFFSET + hours * H


_ids = iter(range(1, 10_000))


def alert(
    device: str | None,
    rule: str,
    events: list[tuple[datetime, Action]],
    *,
    estate: str = "a",
    severity: Severity = Severity.MAJOR,
) -> Alert:
    history = [HistoryEntry(at, "system", action) for at, action in events]
    return Alert(
        next(_ids),
        estate,
        "B1",
        device,
        None,
        rule,
        severity,
        "m",
        "m",
        raised_at=events[0][0],
        history=history,
    )


def up(at: datetime) -> tuple[datetime, Action]:
    return at, Action.RAISE


def down(at: datetime) -> tuple[datetime, Action]:
    return at, Action.CLEAR


def inputs(estate: Estate, alerts: list[Alert] = (), **kw: Any) -> DayInputs:  # type: ignore[assignment]
    return DayInputs(
        estate,
        DAY,
        [a for a in alerts if a.estate == estate.id],
        kw.pop("position", "desk-1"),
        kw.pop("position_alerts", alerts),
        kw.pop("orders", []),
        kw.pop("verdicts", []),
    )


# -- lamps -------------------------------------------------------------------------------------------


def test_a_silent_lamp_is_unknown_not_working(estate: Estate) -> None:
    alerts = [
        alert("LP1", "light.lamp_out", [up(local(-3))]),  # failed since yesterday, still out
        alert("LP2", "light.offline", [up(local(20))]),  # silent at the end of the day
        alert("LP3", "light.lamp_out", [up(local(2)), down(local(9))]),  # repaired the same day
        alert("LP4", "light.offline", [up(local(1)), down(local(1.5))]),  # back long before midnight
    ]
    row = estate_day(inputs(estate, alerts))
    # 4 lamps (the circuit controller LC1 is not a lamp): 1 failed, 1 unknown, 2 working → 50 %.
    assert (row["lamps_total"], row["lamps_failed"], row["lamps_unknown"], row["lamps_working"]) == (
        4,
        1,
        1,
        2,
    )
    assert row["lamp_intact_pct"] == 50.0  # once 75 %: the silent LP2 counted as working


def test_one_lamp_computation_a_failed_silent_lamp_is_failed() -> None:
    found = lamp_intact(["LP1", "LP2", "LP3"], failed=["LP1", "X9"], silent=["LP1", "LP2"])
    assert (found.total, found.failed, found.unknown, found.working, found.rate) == (3, 1, 1, 1, 0.3333)
    assert lamp_intact([], [], []).rate is None


# -- cameras -----------------------------------------------------------------------------------------


def test_camera_online_rate_counts_camera_minutes_not_the_nvr(estate: Estate) -> None:
    alerts = [
        alert("CAM1", "cctv.offline", [up(local(6)), down(local(12))]),  # 6 h offline
        alert("NVR1", "cctv.offline", [up(local(0))]),  # an NVR is not a camera
    ]
    row = estate_day(inputs(estate, alerts))
    assert row["camera_minutes"] == 2 * 1440
    assert row["camera_online_minutes"] == 2 * 1440 - 360
    assert row["camera_online_pct"] == 87.5


# -- lifts -------------------------------------------------------------------------------------------


def test_lift_availability_minutes_in_service_with_entrapments_and_stoppages_listed(estate: Estate) -> None:
    alerts = [
        alert("L1", "lift.entrapment", [up(local(10)), down(local(10.5))], severity=Severity.CRITICAL),
        alert("L1", "lift.power_loss", [up(local(10.25)), down(local(11))]),  # overlaps: 10:00–11:00
        alert("L1", "lift.special_mode", [up(local(23.5))]),  # fire mode from 23:30, past midnight
        alert("L2", "lift.offline", [up(local(0))]),  # a silent terminal is unknown, not out of service
        alert("L2", "lift.overtravel", [up(local(-5)), down(local(1))]),  # from yesterday until 01:00
    ]
    row = estate_day(inputs(estate, alerts))
    lifts = row["detail"]["lifts"]
    assert lifts["L1"]["in_service_minutes"] == 1440 - 60 - 30
    assert lifts["L2"]["in_service_minutes"] == 1440 - 60
    assert lifts["L1"]["availability_pct"] == round(100 * 1350 / 1440, 2) == 93.75
    assert (row["lift_minutes"], row["lift_service_minutes"]) == (2880, 1350 + 1380)
    assert row["lift_availability_pct"] == round(100 * 2730 / 2880, 2)
    assert row["entrapments"] == 1
    [trapped] = row["detail"]["entrapments"]
    assert trapped == {
        "lift": "L1",
        "rule": "lift.entrapment",
        "from": local(10).isoformat(),
        "to": local(10.5).isoformat(),
    }
    listed = {(p["lift"], p["rule"], p["to"]) for p in row["detail"]["out_of_service"]}
    assert ("L2", "lift.overtravel", local(1).isoformat()) in listed
    assert ("L1", "lift.special_mode", local(24).isoformat()) in listed  # clipped at midnight


def test_one_entrapment_raising_its_fault_code_and_the_suspicion_counts_once(estate: Estate) -> None:
    """A lift's entrapment fault raises ``lift.entrapment`` and ``lift.trapped_suspected``
    together (the simulated month found it counted twice); a later one on the same day is another."""
    alerts = [
        alert("L1", "lift.entrapment", [up(local(10)), down(local(10.5))], severity=Severity.CRITICAL),
        alert("L1", "lift.trapped_suspected", [up(local(10.1)), down(local(10.75))]),
        alert("L1", "lift.trapped_suspected", [up(local(15)), down(local(15.25))]),
    ]
    row = estate_day(inputs(estate, alerts))
    assert row["entrapments"] == 2
    first, second = row["detail"]["entrapments"]
    assert first == {
        "lift": "L1",
        "rule": "lift.entrapment,lift.trapped_suspected",
        "from": local(10).isoformat(),
        "to": local(10.75).isoformat(),
    }
    assert second["rule"] == "lift.trapped_suspected" and second["from"] == local(15).isoformat()
    assert row["lift_service_minutes"] == 2 * 1440 - 45 - 15


# -- repairs -----------------------------------------------------------------------------------------


def order(id_: int, state: OrderState, created: datetime, **kw: Any) -> WorkOrder:
    return WorkOrder(
        id_, "a", "B1", "L1", None, None, None, Trade.LIFT, "lift-team", Severity.MAJOR, state, "t", "d",
        Source.REPORT, None, created, **kw,
    )  # fmt: skip


def test_repair_timeliness_counts_orders_decided_in_the_day(estate: Estate) -> None:
    orders = [
        order(1, OrderState.CLOSED, local(8), resolve_due=local(20), resolved_at=local(12)),  # on time
        order(
            2, OrderState.ON_SITE, local(-30), arrive_due=local(3), breached=[Step.ARRIVE]
        ),  # late at 03:00
        order(3, OrderState.ASSIGNED, local(9), resolve_due=local(30)),  # pending: not decided
        order(4, OrderState.CANCELLED, local(9), resolved_at=local(10)),  # never counts
        order(5, OrderState.RESOLVED, local(-20), resolved_at=local(-2)),  # decided yesterday
        order(
            6,
            OrderState.RESOLVED,
            local(1),
            resolve_due=local(5),
            resolved_at=local(7),
            breached=[Step.RESOLVE],
        ),
    ]
    assert decided_at(orders[5]) == local(5)  # late once its deadline passed, not when resolved
    row = estate_day(inputs(estate, orders=orders))
    assert (row["repairs_decided"], row["repairs_on_time"], row["repair_timely_pct"]) == (3, 1, 33.33)


# -- patrols -----------------------------------------------------------------------------------------


def verdict(number: int, status: RoundStatus, window: str = "night", min_guards: int = 2) -> Verdict:
    start = local(18 + number)
    rid = f"grounds/{DAY}/{window}/{number}"
    return Verdict(
        "a", rid, DAY, "grounds", window, number, start, start + H, min_guards, status, local(6.2, 1)
    )


def test_a_night_round_walked_by_one_guard_does_not_count(estate: Estate) -> None:
    verdicts = [
        verdict(1, RoundStatus.COMPLETED),
        verdict(2, RoundStatus.LATE),
        verdict(3, RoundStatus.SHORT_HANDED),  # every checkpoint, one guard: once counted as done
        verdict(4, RoundStatus.MISSED),
    ]
    row = estate_day(inputs(estate, verdicts=verdicts))
    assert (row["rounds_closed"], row["rounds_done"], row["patrol_compliance_pct"]) == (4, 2, 50.0)


# -- alarms ------------------------------------------------------------------------------------------


def test_alarm_load_per_position_floods_stale_chattering_and_bad_actors(estate: Estate) -> None:
    chatty_events = [up(local(10))]
    for k in range(1, 12):  # 11 returns: 12 activations of one alert in 10:00–10:10
        chatty_events += [down(local(10) + (k * 50 - 20) * timedelta(seconds=1))]
        chatty_events += [(local(10) + k * 50 * timedelta(seconds=1), Action.REACTIVATE)]
    chatty_events.append((local(10.1), Action.CHATTERING))
    chatty = alert("LP1", "light.lamp_out", chatty_events, severity=Severity.INFO)
    stale = alert("L1", "lift.door_failure", [up(local(-7))], severity=Severity.MINOR)  # 31 h at midnight
    young = alert("L2", "lift.door_failure", [up(local(1))], severity=Severity.MINOR)  # 23 h: not stale
    others = [alert(f"D{i}", "access.forced", [up(local(10.05))], estate="b") for i in range(3)]
    alerts = [chatty, stale, young, *others]
    row = estate_day(inputs(estate, alerts))
    assert row["activations"] == 12 + 1  # activations, not the 3 records of the estate
    assert row["position_activations"] == 12 + 1 + 3  # the desk watches estates a and b
    assert row["periods"] == 144
    assert row["alarms_per_10min"] == round(13 / 144, 4)
    assert row["position_per_10min"] == round(16 / 144, 4)
    # 10:00–10:10 holds 12 + 3 = 15 > 10 activations at the desk: one flooded period of 144.
    assert (row["flood_periods"], row["flood_pct"]) == (1, round(100 / 144, 2))
    assert row["stale"] == 1  # raised yesterday, active > 24 h at the end of the day
    assert row["chattering"] == 1
    top = row["detail"]["bad_actors"][0]
    assert top == {"estate": "a", "source": "LP1", "rule": "light.lamp_out", "activations": 12}
    assert len(row["detail"]["bad_actors"]) == 2  # the stale alarm raised yesterday made none today


def test_positions_default_to_one_per_estate(inventory: Inventory) -> None:
    assert positions_of(inventory) == {"a": "desk-1", "b": "desk-1", "c": "c"}


def test_a_daylight_saving_day_has_its_own_length() -> None:
    paris = Estate.model_validate({"id": "p", "name": "P", "timezone": "Europe/Paris"})
    start, stop = day_bounds(paris, date(2026, 3, 29))
    assert stop - start == 23 * H
    row = estate_day(DayInputs(paris, date(2026, 3, 29), [], "p", [], [], []))
    assert row["periods"] == 138 and row["lamp_intact_pct"] is None


def test_every_figure_has_a_target_from_the_standards() -> None:
    assert TARGETS["lamp_intact_pct"].value == 95.0 and TARGETS["lamp_intact_pct"].met(94.9) is False
    assert TARGETS["repair_timely_pct"].value == 90.0
    assert TARGETS["position_per_10min"].met(1.0) is True and TARGETS["flood_pct"].met(1.5) is False
    assert TARGETS["camera_online_pct"].met(None) is None
