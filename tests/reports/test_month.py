"""Acceptance (issue 24): a simulated month, lock-step and unpaced, gives 30 daily rollups per estate
whose figures match a recomputation from the raw records; the month summary is the sum of its days
and the district the sum of its estates.

The gateway is the real one (``build_gateway``: pipeline, alarm engine, dispatch, patrol record,
rollups) on a driven clock (``ESTATE_CLOCK_TOPIC``, gateway/driven.py), fed in-process through its
MQTT hand-off queue: the world's messages of each 2 simulated minutes, then the clock message of
that time, as ``estate-sim`` sends them in lock-step (simulators/lockstep.py) but with a clock
message every 2 simulated minutes rather than every second (the alarm timers fire on those
ticks). Heartbeats are fed sparsely, as ``tests/simulators/feed.py`` does: a lift, lamp or camera
report that repeats the device's state is skipped unless the device has not been fed for 2
heartbeats. The rollup job runs once each simulated window after every local midnight, as its
thread would.

Faults through the month (``FAULTS``) keep the KPIs off 100 %: an entrapment, a lift power loss, a
silent camera, a failed lamp and a silent one, a night round walked alone, a skipped round, a
chlorine drop and a door held open; the test plays the crews: maple's crew takes, reaches and
resolves each alarm's work order within the 30-minute window it appears in, pine's accepts and
never comes, so its orders miss their deadlines.

The lift terminals are the bulk of a small estate's messages; the month's building is a quiet
low-rise (a lift called a fifth as often as the simulator's default, a waiting car reported every
5 minutes): this keeps the month to CI time and changes nothing the rollups count.

The inventory is tests/reports/month.yaml (two estates of a street of a district).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

import simulators.kinds.lift as lift_sim
from alerts.model import Action, Alert
from alerts.patrol_records import verdicts_t
from api.app import create_app
from api.auth import Principal, Role, TokenBook
from devices.clock import clock_message
from devices.inventory import Estate, Inventory
from devices.loader import load_inventory
from dispatch.model import OrderState, Source, WorkOrder
from gateway.mqtt import Inbound
from gateway.service import Gateway, build_gateway
from gateway.settings import Settings
from reports.daily import OUT_OF_SERVICE
from reports.store import COUNTS
from simulators.world import Message, World

pytestmark = pytest.mark.slow

INVENTORY = Path(__file__).with_name("month.yaml")
TZ_DAY = date(2026, 4, 1)  # April: 30 days, Asia/Shanghai has no daylight saving
DAYS = 30
CLOCK_TOPIC = "month-test/clock"
TICK = timedelta(minutes=2)
WINDOW = timedelta(minutes=30)
THINNED = {"lift", "light", "cctv"}
NOT_STATE = {"floor", "speed_m_s", "power_w", "lux", "ts"}


@dataclass(frozen=True)
class Fault:
    day: int  # day of April
    at: time  # local
    estate: str
    device: str
    fault: str
    hours: float  # how long it lasts (0: a fault that does not last)


FAULTS = [
    Fault(3, time(10), "maple", "L1", "entrapment", 0.75),
    Fault(5, time(8), "pine", "CAM2", "silent", 6),
    Fault(6, time(21), "maple", "H1", "lone_guard", 3),
    Fault(8, time(20), "maple", "LP2", "lamp_failure", 96),
    Fault(10, time(14), "pine", "L1", "power_loss", 1),
    Fault(14, time(12), "pine", "LP3", "silent", 48),
    Fault(18, time(8), "pine", "H1", "skip_round", 3),
    Fault(20, time(9), "maple", "WT1", "chlorine_low", 3),
    Fault(22, time(15), "maple", "D1", "held_open", 0.5),
    Fault(25, time(23, 30), "pine", "L1", "entrapment", 1),  # across local midnight
]


def local(estate: Estate, day: date, at: time = time(0)) -> datetime:
    return datetime.combine(day, at, tzinfo=estate.tz).astimezone(UTC)


@dataclass(eq=False)
class Month:
    """The month as it ran: the gateway (stopped nowhere: its stores are read after) and counts."""

    gateway: Gateway
    inventory: Inventory
    fed: int = 0
    skipped: int = 0
    rollup_runs: int = 0
    orders_met: int = 0
    orders_left: int = 0
    _last: dict[str, tuple[datetime, dict[str, Any]]] = field(default_factory=dict)
    _mid: int = 0

    def news(self, message: Message) -> bool:
        _, estate, kind, device, channel = message.topic.split("/")
        if kind not in THINNED or channel not in ("telemetry", "heartbeat"):
            return True
        state = {k: v for k, v in json.loads(message.payload).items() if k not in NOT_STATE}
        config = self.inventory.device(estate, device)
        heartbeat = timedelta(seconds=(config.effective_heartbeat_s() or 0) if config else 0)
        last = self._last.get(message.topic)
        if last is not None and last[1] == state and message.at - last[0] < 2 * heartbeat:
            return False
        self._last[message.topic] = (message.at, state)
        return True

    def put(self, topic: str, payload: bytes) -> None:
        self._mid = self._mid % 65_535 + 1  # MQTT packet ids are 16-bit
        self.gateway.mqtt.put(Inbound(topic, payload, 0, self._mid, 1))

    def send(self, messages: list[Message], start: datetime, until: datetime) -> None:
        """Each tick's messages, then its clock message (lock-step), then process them all."""
        i, t = 0, start
        while t < until:
            t = min(t + TICK, until)
            while i < len(messages) and messages[i].at <= t:
                if self.news(messages[i]):
                    self.put(messages[i].topic, messages[i].payload)
                    self.fed += 1
                else:
                    self.skipped += 1
                i += 1
            self.put(CLOCK_TOPIC, clock_message(t))
        while self.gateway.mqtt.depth:
            self.gateway.pipeline.run_once()

    @cache  # noqa: B019 - one month, read after it ran
    def orders(self, estate: str) -> list[WorkOrder]:
        """The estate's work orders, as stored."""
        return self.gateway.dispatcher.store.query(estate, limit=100_000)

    @cache  # noqa: B019
    def rounds(self, estate: str) -> list[Any]:
        """The estate's closed rounds (status, closed_at), as stored in the patrol record."""
        t = verdicts_t
        with self.gateway.engine.connect() as conn:
            return list(conn.execute(select(t.c.status, t.c.closed_at).where(t.c.estate == estate)))

    def crews(self) -> None:
        """maple's crew meets each alarm's order within the window; pine's accepts and never comes."""
        desk = self.gateway.dispatcher
        for order in list(desk.live.values()):
            if order.source is not Source.ALERT:
                continue  # planned maintenance (the equipment ledger) is not this test's
            if order.state in (OrderState.ASSIGNED, OrderState.OPEN) and order.crew is not None:
                desk.accept(order.id, "crew")
                if order.estate == "pine":
                    self.orders_left += 1
            if order.estate == "maple" and order.state is OrderState.ACCEPTED:
                desk.arrive(order.id, "crew")
                desk.resolve(order.id, "crew", "fixed")
                self.orders_met += 1


def run_month(tmp_path: Path) -> Month:
    inventory = load_inventory(INVENTORY)
    first = inventory.estates[0]
    start, end = local(first, TZ_DAY), local(first, TZ_DAY + timedelta(days=DAYS), time(0, 30))
    settings = Settings(
        mqtt_url="mqtt://127.0.0.1:9",
        data_dir=tmp_path,
        instance="month-test",
        mqtt_receiver="thread",
        clock_topic=CLOCK_TOPIC,
        clock_start=start,
    )
    gateway = build_gateway(settings, inventory)
    gateway.alarms.start()  # the engine, dispatch and the maintenance ledger, as Gateway.start does
    gateway.dispatcher.start()
    assert gateway.ledger is not None and gateway.rollup_job is not None
    gateway.ledger.start()
    month = Month(gateway, inventory)
    world = World(inventory, seed=24, start=start)
    events: list[tuple[datetime, str, Fault]] = []
    for f in FAULTS:
        estate = inventory.estate(f.estate)
        assert estate is not None
        began = local(estate, TZ_DAY.replace(day=f.day), f.at)
        events.append((began, "inject", f))
        if f.hours:
            events.append((began + timedelta(hours=f.hours), "clear", f))
    events.sort(key=lambda e: e[0])
    last_day = {e.id: start.astimezone(e.tz).date() for e in inventory.estates}
    while world.now < end:
        horizon = min(world.now + WINDOW, end)
        while events and events[0][0] <= horizon:
            at, what, f = events.pop(0)
            before = world.now
            month.send(world.advance(at), before, at)
            if what == "inject":
                world.inject(f.estate, f.device, f.fault)
            else:
                world.clear(f.estate, f.device, f.fault)
        before = world.now
        month.send(world.advance(horizon), before, horizon)
        month.crews()
        today = {e.id: horizon.astimezone(e.tz).date() for e in inventory.estates}
        if today != last_day:  # a local midnight has passed: the rollup job's wake-up
            gateway.rollup_job.run_once()
            month.rollup_runs += 1
            last_day = today
    return month


def quiet_gap_s(hour: int) -> float:
    """A quiet low-rise: a lift called a fifth as often as in the simulator's default building."""
    return 5 * DEFAULT_GAP_S(hour)


DEFAULT_GAP_S = lift_sim.demand_gap_s


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Month]:
    # The lift terminals are the bulk of the messages (a report every 5 s while moving): a quieter
    # building whose terminals report a waiting car every 5 minutes keeps the month to CI time.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lift_sim, "demand_gap_s", quiet_gap_s)
        patch.setattr(lift_sim, "IDLE_REPORT_S", 300.0)
        yield run_month(tmp_path_factory.mktemp("month"))


@pytest.fixture(scope="module")
def client(month: Month) -> Iterator[TestClient]:
    book = TokenBook()
    book.add("manager", Principal("manager", Role.MANAGER))
    with TestClient(create_app(month.gateway, book, manage_lifecycle=False)) as test_client:
        yield test_client


def rows_of(month: Month) -> list[dict[str, Any]]:
    assert month.gateway.reports is not None
    return month.gateway.reports.daily(None, TZ_DAY, TZ_DAY + timedelta(days=DAYS - 1))


# -- the recomputation from the raw records, independent of reports/daily.py -------------------------
def spans(alert: Alert, start: datetime, stop: datetime) -> list[tuple[datetime, datetime]]:
    """Active spans from the history: a raise or return opens one, a clear or close ends it."""
    out, since = [], None
    for h in sorted(alert.history, key=lambda h: h.at):
        if h.action in (Action.RAISE, Action.REACTIVATE) and since is None:
            since = h.at
        elif h.action in (Action.CLEAR, Action.CLOSE) and since is not None:
            out.append((since, h.at))
            since = None
    if since is not None:
        out.append((since, stop))
    return [(max(a, start), min(b, stop)) for a, b in out if b > start and a < stop]


def union_minutes(parts: list[tuple[datetime, datetime]]) -> float:
    total, reach = 0.0, None
    for a, b in sorted(parts):
        begin = max(a, reach) if reach is not None else a
        if b > begin:
            total += (b - begin).total_seconds()
        reach = max(reach or b, b)
    return total / 60


def recompute(month: Month, estate: Estate, day: date) -> dict[str, Any]:
    gw = month.gateway
    start, stop = local(estate, day), local(estate, day + timedelta(days=1))
    alerts = gw.alarms.book.store.overlapping(estate.id, start, stop)
    end = stop - timedelta(microseconds=1)

    def down_at_end(rule: str) -> set[str]:
        return {
            a.device or ""
            for a in alerts
            if a.rule == rule and any(b <= end < e for b, e in spans(a, start, stop))
        }

    lamps = {d.id for d in estate.devices if d.kind.value == "light" and d.parent}
    failed = lamps & down_at_end("light.lamp_out")
    unknown = (lamps & down_at_end("light.offline")) - failed
    minutes = (stop - start).total_seconds() / 60
    cameras = [d.id for d in estate.devices if d.kind.value == "cctv" and d.parent]
    camera_off = sum(
        union_minutes(
            [s for a in alerts if a.device == c and a.rule == "cctv.offline" for s in spans(a, start, stop)]
        )
        for c in cameras
    )
    lifts = [d.id for d in estate.devices if d.kind.value == "lift"]
    lift_off = sum(
        union_minutes(
            [
                s
                for a in alerts
                if a.device == lift and a.rule in OUT_OF_SERVICE
                for s in spans(a, start, stop)
            ]
        )
        for lift in lifts
    )
    orders = month.orders(estate.id)
    decided, on_time = 0, 0
    for o in orders:
        if o.state is OrderState.CANCELLED:
            continue
        missed = [d for s in o.breached if (d := o.due(s)) is not None]
        at = (
            min(missed)
            if missed
            else (o.resolved_at if o.state in (OrderState.RESOLVED, OrderState.CLOSED) else None)
        )
        if at is not None and start <= at < stop:
            decided += 1
            on_time += not o.breached
    rounds = month.rounds(estate.id)
    closed = [r for r in rounds if start <= r.closed_at.replace(tzinfo=r.closed_at.tzinfo or UTC) < stop]
    activations = sum(
        1
        for a in alerts
        for h in a.history
        if h.action in (Action.RAISE, Action.REACTIVATE) and start <= h.at < stop
    )
    return {
        "lamps_total": len(lamps),
        "lamps_failed": len(failed),
        "lamps_unknown": len(unknown),
        "lamps_working": len(lamps) - len(failed) - len(unknown),
        "camera_minutes": round(minutes * len(cameras), 3),
        "camera_online_minutes": round(minutes * len(cameras) - camera_off, 3),
        "lift_minutes": round(minutes * len(lifts), 3),
        "lift_service_minutes": round(minutes * len(lifts) - lift_off, 3),
        "repairs_decided": decided,
        "repairs_on_time": on_time,
        "rounds_closed": len(closed),
        "rounds_done": sum(1 for r in closed if r.status in ("completed", "late")),
        "activations": activations,
    }


# -- the tests ------------------------------------------------------------------------------------
def test_a_month_gives_thirty_rollups_per_estate(month: Month) -> None:
    rows = rows_of(month)
    for estate in month.inventory.estates:
        days = [r["day"] for r in rows if r["estate"] == estate.id]
        assert days == [TZ_DAY + timedelta(days=i) for i in range(DAYS)], estate.id
    assert month.rollup_runs == DAYS  # one wake-up after each local midnight
    assert month.fed > 100_000 and month.orders_met and month.orders_left


def test_each_stored_day_equals_a_recomputation_from_the_raw_records(month: Month) -> None:
    rows = rows_of(month)
    checked = 0
    for row in rows:
        estate = month.inventory.estate(row["estate"])
        assert estate is not None
        expected = recompute(month, estate, row["day"])
        assert {k: row[k] for k in expected} == expected, (row["estate"], row["day"])
        checked += 1
    assert checked == 2 * DAYS


def by_day(month: Month, estate: str) -> dict[int, dict[str, Any]]:
    return {r["day"].day: r for r in rows_of(month) if r["estate"] == estate}


def test_the_faults_show_where_they_happened_and_nowhere_else(month: Month) -> None:
    maple, pine = by_day(month, "maple"), by_day(month, "pine")
    # Lifts: maple's entrapment on the 3rd; pine's power loss on the 10th, its entrapment over the
    # night of the 25th to the 26th.
    assert maple[3]["entrapments"] == 1 and 0 < maple[3]["lift_availability_pct"] < 100
    assert [d for d, r in maple.items() if r["lift_availability_pct"] != 100] == [3]
    assert [d for d, r in pine.items() if r["lift_availability_pct"] != 100] == [10, 25, 26]
    assert pine[25]["entrapments"] == 1 and pine[10]["entrapments"] == 0
    # Cameras: pine's CAM2 silent for 6 h on the 5th (offline after 3 heartbeats missed).
    assert [d for d, r in pine.items() if r["camera_online_pct"] != 100] == [5]
    assert 4 * 60 < pine[5]["camera_minutes"] - pine[5]["camera_online_minutes"] < 6 * 60
    # Lamps at the end of each day: maple's LP2 failed from the 8th to the 12th (4 of 4 → 3 of 4);
    # pine's LP3 silent from the 14th to the 16th: unknown, not working and not failed.
    assert [d for d, r in maple.items() if r["lamps_failed"]] == [8, 9, 10, 11]
    assert maple[8]["lamp_intact_pct"] == 75.0 and maple[12]["lamp_intact_pct"] == 100.0
    assert [d for d, r in pine.items() if r["lamps_unknown"]] == [14, 15]
    assert pine[14]["lamps_failed"] == 0 and pine[14]["lamp_intact_pct"] == 75.0
    # Patrols: two rounds a day; maple's night round of the 6th walked alone, pine's morning round
    # of the 18th skipped.
    assert all(r["rounds_closed"] == 2 for r in [*maple.values(), *pine.values()])
    assert [d for d, r in maple.items() if r["rounds_done"] < 2] == [6]
    assert [d for d, r in pine.items() if r["rounds_done"] < 2] == [18]
    # Repairs: maple's crew answers within the window, pine's never comes: its orders miss.
    decided = {
        e: sum(r["repairs_decided"] for r in days.values()) for e, days in (("maple", maple), ("pine", pine))
    }
    on_time = {
        e: sum(r["repairs_on_time"] for r in days.values()) for e, days in (("maple", maple), ("pine", pine))
    }
    assert decided["maple"] > 0 and decided["pine"] > on_time["pine"]
    # Stale: pine's missed deadlines stay active (their breach alarms) for days at the month's end.
    assert any(r["stale"] for r in pine.values())


def test_the_month_summary_is_the_sum_of_its_days(month: Month, client: TestClient) -> None:
    rows = rows_of(month)
    for estate in ("maple", "pine"):
        params = {"estate": estate, "period": "month", "start": "2026-04-15"}
        body = client.get(
            "/api/kpis/summary", params=params, headers={"Authorization": "Bearer manager"}
        ).json()
        mine = [r for r in rows if r["estate"] == estate]
        assert body["days"] == DAYS and body["estate_days"] == DAYS
        for name in COUNTS:
            if name == "flood_periods":  # the desk's: in the figure flood_pct, not in the counts
                continue
            assert body["counts"][name] == pytest.approx(sum(r[name] for r in mine)), name
        floods = sum(r["flood_periods"] for r in mine), sum(r["periods"] for r in mine)
        assert body["kpis"]["flood_pct"]["value"] == round(100 * floods[0] / floods[1], 2)
        kpis = body["kpis"]
        lamps = sum(r["lamps_working"] for r in mine), sum(r["lamps_total"] for r in mine)
        assert kpis["lamp_intact_pct"]["value"] == round(100 * lamps[0] / lamps[1], 2)
        rounds = sum(r["rounds_done"] for r in mine), sum(r["rounds_closed"] for r in mine)
        assert kpis["patrol_compliance_pct"]["value"] == round(100 * rounds[0] / rounds[1], 2)
        assert kpis["patrol_compliance_pct"]["met"] is False


def test_the_street_and_district_are_the_sums_of_their_estates(month: Month, client: TestClient) -> None:
    auth = {"Authorization": "Bearer manager"}
    params = {"region": "east-district", "period": "month", "start": "2026-04-01"}
    district = client.get("/api/kpis/summary", params=params, headers=auth).json()
    estates = {
        e: client.get(
            "/api/kpis/summary", params={"estate": e, "period": "month", "start": "2026-04-01"}, headers=auth
        ).json()
        for e in ("maple", "pine")
    }
    [street] = district["children"]
    assert street["region"] == "river-street" and sorted(street["estates"]) == ["maple", "pine"]
    for node in (district, street):
        assert node["estate_days"] == 2 * DAYS
        for name in COUNTS:
            if name in ("position_activations", "periods", "flood_periods"):
                continue  # the desk's: counted once per position-day (each estate is its own desk here)
            total = sum(estates[e]["counts"][name] for e in estates)
            assert node["counts"][name] == pytest.approx(total), name
        assert node["counts"]["periods"] == 2 * DAYS * 144
    assert [c["estate"] for c in street["children"]] == ["maple", "pine"]
