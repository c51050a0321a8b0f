"""Daily KPI rollups: each estate's day computed from the SQL stores (alerts with their history,
work orders, the patrol record) and stored in ``kpi_daily`` just after the estate's local midnight.

The job reads only the stores, never the alarm engine's memory or lock: however long it takes, the
alarms do not wait (issue 20). :class:`RollupJob` wakes every ``every_s`` (default 60 s) and
rolls up every estate-day that has ended since the last one stored (at most ``MAX_DAYS`` back;
with nothing stored, from the day the gateway started). A past day is recomputed by
``POST /api/kpis/rollups`` (admin); the new figures replace the old.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from alerts.patrol_records import PatrolRecords
from alerts.store import AlertStore
from devices.clock import Clock
from devices.inventory import Estate, Inventory
from dispatch.store import OrderStore
from gateway.stages import Stages
from reports.daily import DayInputs, day_bounds, estate_day
from reports.store import RollupStore

log = logging.getLogger(__name__)

STAGE = "rollups"
MAX_DAYS = 400
#: How far back an order may have been created and still be decided in the day (a bound on the
#: query; an order open longer than this has long missed its deadlines).
ORDER_LOOKBACK = timedelta(days=90)


def positions_of(inventory: Inventory) -> dict[str, str]:
    """Estate id → operator position id: the inventory's ``positions`` (the first that lists an
    estate), else the estate's own id (one desk per estate)."""
    out = {e.id: e.id for e in inventory.estates}
    for position in reversed(inventory.positions):
        for estate in position.estates:
            if estate in out:
                out[estate] = position.id
    return out


class Rollups:
    @classmethod
    def on_database(
        cls, engine: Engine, inventory: Inventory, clock: Clock, owned: frozenset[str] | None = None
    ) -> Rollups:
        """The rollups over a gateway's database, without the gateway (``estate-gateway rollup``)."""
        return cls(
            inventory,
            AlertStore(engine, owned),
            OrderStore(engine, owned),
            PatrolRecords(engine, owned),
            RollupStore(engine, owned),
            clock,
        )

    def __init__(
        self,
        inventory: Inventory,
        alerts: AlertStore,
        orders: OrderStore,
        patrols: PatrolRecords,
        store: RollupStore,
        clock: Clock,
    ) -> None:
        self.inventory, self.alerts, self.orders, self.patrols = inventory, alerts, orders, patrols
        self.store, self.clock = store, clock
        self.positions = positions_of(inventory)
        #: With nothing stored yet, rollups begin with the day this gateway started on.
        self.since = clock.now()

    def members(self, position: str) -> list[str]:
        return [e for e, p in self.positions.items() if p == position]

    def compute(self, estate: Estate, day: date) -> dict[str, Any]:
        """The figures of ``estate``'s local ``day``, from the stores as they are now."""
        start, stop = day_bounds(estate, day)
        position = self.positions.get(estate.id, estate.id)
        position_alerts = self.alerts.overlapping(
            None, start, stop, estates=frozenset(self.members(position))
        )
        orders = self.orders.query(
            estate.id, created_from=start - ORDER_LOOKBACK, created_to=stop, limit=1_000_000
        )
        return estate_day(
            DayInputs(
                estate,
                day,
                [a for a in position_alerts if a.estate == estate.id],
                position,
                position_alerts,
                orders,
                self.patrols.closed_between([estate.id], start, stop),
            )
        )

    def recompute(
        self,
        estate_ids: Iterable[str] | None,
        first: date,
        last: date,
        on_day: Callable[[dict[str, Any]], None] | None = None,
    ) -> int:
        """Compute and store ``first``..``last`` (local days, inclusive) of these estates (None: all),
        each day stored as soon as computed and then handed to ``on_day``; raises ValueError for
        an unknown estate or more than ``MAX_DAYS`` days."""
        if last < first or (last - first).days >= MAX_DAYS:
            raise ValueError(f"give first ≤ last, at most {MAX_DAYS} days")
        estates = self._estates(estate_ids)
        done = 0
        for estate in estates:
            day = first
            while day <= last:
                row = self.compute(estate, day)
                self.store.save([row], self.clock.now())
                done += 1
                if on_day is not None:
                    on_day(row)
                day += timedelta(days=1)
        return done

    def _estates(self, estate_ids: Iterable[str] | None) -> list[Estate]:
        if estate_ids is None:
            return list(self.inventory.estates)
        found = [(e, self.inventory.estate(e)) for e in estate_ids]
        unknown = [e for e, estate in found if estate is None]
        if unknown:
            raise ValueError(f"unknown estates: {', '.join(unknown)}")
        return [estate for _, estate in found if estate is not None]

    def catch_up(self, now: datetime | None = None) -> int:
        """Roll up every estate-day ended by ``now`` (default: the clock's) and not yet stored."""
        now = now or self.clock.now()
        done = 0
        for estate in self.inventory.estates:
            yesterday = now.astimezone(estate.tz).date() - timedelta(days=1)
            last = self.store.last_day(estate.id)
            oldest = yesterday - timedelta(days=MAX_DAYS - 1)
            first = max(last + timedelta(days=1) if last else self.since.astimezone(estate.tz).date(), oldest)
            day = first
            while day <= yesterday:
                self.store.save([self.compute(estate, day)], now)
                done += 1
                day += timedelta(days=1)
        return done

    def daily(self, estates: Iterable[str], first: date, last: date) -> list[dict[str, Any]]:
        return self.store.days(estates, first, last)


class RollupJob:
    """The rollups' own thread: a failure is counted on the stage ``rollups`` (``/health``, the
    self-alarm) and the day is tried again at the next wake-up."""

    def __init__(self, run: Callable[[], int], stages: Stages, *, every_s: float = 60.0) -> None:
        self.run, self.stages, self.every_s = run, stages, every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        try:
            done = self.run()
        except Exception as exc:
            log.exception("KPI rollup failed")
            self.stages.failed(STAGE, exc)
            return 0
        self.stages.succeeded(STAGE)
        if done:
            log.info("KPI rollups: %d estate-days stored", done)
        return done

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.run_once()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="rollups", daemon=True)
        self.stages.stage(STAGE, self._thread)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
