"""Acceptance of issue 26 on an injected clock: the sample estate's plans over a simulated year.

A lock-step run of the whole estate for a year is too slow for CI (303 devices × 525,600 minutes);
the plan scheduler is driven instead by the alert book's tick on a manual clock every 6 hours,
with a crew that records each planned order on its due day (issue 26 allows this; say so).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from assets.model import CERT_EXPIRED_RULE, CERT_EXPIRING_RULE, OVERDUE_RULE
from devices.base import Severity
from devices.loader import load_inventory
from dispatch.model import OrderState, Source
from estate_gateway.cli import sample_inventory_path
from tests.assets.harness import LedgerHarness

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: 2026-01-01 00:00 in Shanghai.
NEW_YEAR = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)


def _sample(tmp_path: Path, change: dict[str, object] | None = None) -> LedgerHarness:
    data = yaml.safe_load(sample_inventory_path().read_text(encoding="utf-8"))
    for asset in data["estates"][0]["assets"]:
        asset.update((change or {}).get(asset["id"], {}))  # type: ignore[call-overload]
    path = tmp_path / "sunrise.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return LedgerHarness(tmp_path, load_inventory(path), NEW_YEAR)


def _today(h: LedgerHarness) -> date:
    return h.clock.now().astimezone(SHANGHAI).date()


def _record_due_today(h: LedgerHarness, skip: set[tuple[str, str]] = frozenset()) -> None:  # type: ignore[assignment]
    for state in list(h.ledger.states.values()):
        if state.order is not None and state.due == _today(h) and (state.asset, state.plan) not in skip:
            h.ledger.record(state.estate, state.asset, by="crew", plan_id=state.plan, note="done")
    h.book.flush()


def _run(h: LedgerHarness, days: int, skip: set[tuple[str, str]] = frozenset()) -> None:  # type: ignore[assignment]
    for _ in range(days):
        for _ in range(4):
            h.clock.advance(timedelta(hours=6))
            h.book.tick()
            h.book.flush()
            if h.clock.now().astimezone(SHANGHAI).hour == 12:  # the crew comes at noon
                _record_due_today(h, skip)


def test_a_year_of_planned_orders_per_asset_class(tmp_path: Path) -> None:
    h = _sample(tmp_path)
    _run(h, 366)  # to 2027-01-02: the cleanings and inspections due on 1 January are recorded too
    orders = h.order_store.query(limit=100_000)
    planned = [o for o in orders if o.source is Source.PLAN]
    made_2026 = [o for o in planned if o.created_at.astimezone(SHANGHAI).year == 2026]
    by_plan = Counter(
        (o.device or o.description.split(": ")[1].split(",")[0], o.description.rsplit("[", 1)[1][:-1])
        for o in made_2026
    )
    lifts = [f"L-B{b}-{c}" for b in range(1, 7) for c in (1, 2)]
    assert {by_plan[(lift, "lift.maintenance")] for lift in lifts} == {24}
    assert {by_plan[(lift, "lift.inspection")] for lift in lifts} == {1}
    assert {by_plan[(tank, "water.cleaning")] for tank in ("T1", "T2", "T3")} == {2}
    assert {by_plan[(f"FE-B{b}", "fire.extinguisher_check")] for b in range(1, 7)} == {12}
    assert {by_plan[(f"HB-B{b}", "fire.hose_box_check")] for b in range(1, 7)} == {12}
    assert by_plan[("SEPTIC-1", "septic.inspection")] == 4
    assert by_plan[("SEPTIC-1", "septic.emptying")] == 1
    assert by_plan[("WELL-RAIN", "well.dredging")] == 1
    assert by_plan[("LPS-1", "lightning.test")] == 1
    # Each closed by a record, none late: no overdue alarm, every record moved its plan on.
    assert all(o.state is OrderState.CLOSED for o in planned), [o.title for o in planned if o.live]
    records = h.ledger_store.records(limit=100_000)
    assert {r.work_order for r in records} == {o.id for o in planned}
    assert not [a for a in h.book.open_alerts() if a.rule == OVERDUE_RULE]
    lift_orders = [o for o in made_2026 if o.device == "L-B1-1" and "lift.maintenance" in o.description]
    assert {o.crew for o in lift_orders} == {"lift-team"}
    assert min(lift_orders, key=lambda o: o.id).resolve_due == datetime(
        2026, 1, 16, 16, 0, tzinfo=UTC
    )  # end of 16 Jan, local


def test_a_skipped_visit_raises_overdue_on_the_day_after_it_was_due(tmp_path: Path) -> None:
    h = _sample(tmp_path)
    _run(h, 15, skip={("L-B2-1", "lift.maintenance")})  # to 16 Jan 00:00 local: due on the 16th
    key = "sunrise/L-B2-1/maintenance.overdue"  # one per asset
    assert h.book.open_alert(key) is None
    _run(h, 1, skip={("L-B2-1", "lift.maintenance")})  # 16 Jan, to midnight
    alert = h.book.open_alert(key)
    assert alert is not None and alert.severity is Severity.MINOR
    assert alert.raised_at.astimezone(SHANGHAI).date() == date(2026, 1, 17)
    assert [a.key for a in h.book.open_alerts() if a.rule == OVERDUE_RULE] == [key]  # the others were done
    # The late visit is recorded: the alarm clears and the plan counts on from that day.
    record = h.ledger.record("sunrise", "L-B2-1", by="王师傅", plan_id="lift.maintenance")
    h.book.flush()
    assert record.next_due == date(2026, 1, 17) + timedelta(days=15)
    found = h.book.open_alert(key)
    assert found is None or not found.active


def test_a_lift_inspection_certificate_warned_30_days_ahead_then_critical(tmp_path: Path) -> None:
    cert = {"kind": "inspection", "number": "TS-B11-2025", "expires": "2026-02-20"}
    h = _sample(tmp_path, {"L-B1-1": {"certificates": [cert]}})
    _run(h, 20)  # 21 Jan: 30 days ahead of 20 Feb
    warned = h.book.open_alert(f"sunrise/L-B1-1/{CERT_EXPIRING_RULE}")
    assert warned is not None and warned.severity is Severity.MINOR
    assert warned.raised_at.astimezone(SHANGHAI).date() == date(2026, 1, 21)
    _run(h, 31)  # past 20 Feb
    expired = h.book.open_alert(f"sunrise/L-B1-1/{CERT_EXPIRED_RULE}")
    assert expired is not None and expired.active and expired.severity is Severity.CRITICAL
    assert expired.raised_at.astimezone(SHANGHAI).date() == date(2026, 2, 21)
    assert not h.book.open_alert(f"sunrise/L-B1-1/{CERT_EXPIRING_RULE}").active  # type: ignore[union-attr]


def test_a_device_event_is_a_record_that_closes_the_planned_order(tmp_path: Path) -> None:
    h = _sample(tmp_path)
    _run(h, 13)  # the lifts' first orders are made on 13 Jan (3 days' lead)
    order = next(o for o in h.planned() if o.device == "L-B3-2" and "lift.maintenance" in o.description)
    h.event("L-B3-2", "maintenance", technician="刘师傅")
    assert h.desk.find(order.id).state is OrderState.CLOSED  # type: ignore[union-attr]
    (record,) = h.ledger_store.records(asset="L-B3-2")
    assert (record.by, record.source, record.work_order, record.plan) == (
        "刘师傅",
        "device",
        order.id,
        "lift.maintenance",
    )
    h.event("T1", "sampled", chlorine_mg_l=0.4, turbidity_ntu=0.3)
    (sample,) = h.ledger_store.records(asset="T1")
    assert (sample.plan, sample.readings) == (None, {"chlorine_mg_l": 0.4, "turbidity_ntu": 0.3})
