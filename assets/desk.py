"""The maintenance desk: planned work orders from the ledger's plans, records that close them, and
the ledger's alarms (a plan overdue, a certificate expiring or expired, the calendar running out).

One of the alert book's extensions, so it runs on the alarm core's thread (alerts/owner.py):
``tick`` (from the engine's tick) looks at the schedule at most every ``check_every``; a record
(from a crew, or a device's own ``maintenance`` / ``cleaned`` / ``sampled`` event) moves the plan
on; ``write`` stores the changes in the book's transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection

from alerts.book import RANK, AlertBook, Raise
from alerts.model import Action, Alert, alert_key
from alerts.rules import RuleBase
from assets.ledger import Asset, AssetKey, build_ledger
from assets.model import (
    CALENDAR_RULE,
    CERT_EXPIRED_RULE,
    CERT_EXPIRING_RULE,
    CERT_WARN_DAYS,
    OVERDUE_RULE,
    PlanKey,
    PlanState,
    Record,
)
from assets.plans import ALARMED_BY, RECORD_EVENTS, Plan, add_interval, subtract_lead
from assets.store import LedgerStore
from devices.base import FieldValue, Severity
from devices.clock import Clock
from devices.inventory import Inventory
from devices.ledger import AssetKind
from devices.workdays import WARN_BEFORE
from dispatch.desk import Dispatcher, OrderError

BY = "ledger"
#: Severity of an expired certificate: a lift's inspection certificate is critical (特种设备安全法:
#: a lift past its inspection must not run), others major.
EXPIRED_SEVERITY = {(AssetKind.LIFT, "inspection"): Severity.CRITICAL}
#: The alarm engine's rule as it applies in an estate (None: not there, or switched off).
RuleLookup = Callable[[str, str], RuleBase | None]
#: Tells the alarm engine of a record that a compliance rule counts from: (estate, device, event, when).
RecordHook = Callable[[str, str, str, datetime], None]


class LedgerError(ValueError):
    """A record that cannot be taken as asked (a 422 at the API)."""


class LedgerNotFound(LedgerError):
    pass


class MaintenanceDesk:
    def __init__(
        self,
        inventory: Inventory,
        book: AlertBook,
        dispatcher: Dispatcher,
        store: LedgerStore,
        clock: Clock,
        check_every: timedelta = timedelta(minutes=10),
        *,
        alarm_rule: RuleLookup | None = None,
        on_record: RecordHook | None = None,
    ) -> None:
        self.inventory, self.book, self.dispatcher, self.store, self.clock = (
            inventory,
            book,
            dispatcher,
            store,
            clock,
        )
        self.check_every = check_every
        self._alarm_rule, self._on_record = alarm_rule, on_record
        self.assets: dict[AssetKey, Asset] = build_ledger(inventory)
        self.states: dict[PlanKey, PlanState] = {}
        self._ids = store.ids()
        self._next_check: datetime | None = None
        self._dirty: dict[PlanKey, PlanState] = {}
        self._records: list[Record] = []
        book.extensions.append(self)

    # -- start-up and queries ------------------------------------------------------------------
    def start(self) -> None:
        """Load the schedule; a plan never seen before counts from today (or a later install date)."""
        stored = {s.key: s for s in self.store.states()}
        with self.book.guard:
            now = self.clock.now()
            for asset in self.assets.values():
                today = self._today(asset.estate, now)
                for plan in asset.plans:
                    key = (asset.estate, asset.id, plan.id)
                    state = stored.get(key)
                    if state is None:
                        # An asset installed before the ledger knew it has no record to count from:
                        # its first visit is due one interval after the ledger starts, not at once.
                        since = max(asset.installed or today, today)
                        state = PlanState(*key, since, self._next(asset.estate, since, plan))
                        self._dirty[key] = state
                    self.states[key] = state
            self._next_check = now
        self.book.flush()

    # -- the book's extension ------------------------------------------------------------------
    def observe(self, alert: Alert, action: Action) -> None:
        return None

    def tick(self, now: datetime) -> None:
        if self._next_check is None or now < self._next_check:
            return
        self._next_check = now + self.check_every
        for key, state in self.states.items():
            asset = self.assets.get(key[:2])
            plan = asset.plan(key[2]) if asset else None
            if asset is not None and plan is not None:
                self._check_plan(asset, plan, state, now)
        for asset in self.assets.values():
            self._check_certificates(asset, now)
        for estate in self.inventory.estates:
            self._check_calendar(estate.id, now)

    def has_changes(self) -> bool:
        return bool(self._dirty or self._records)

    def write(self, conn: Connection) -> None:
        self.store.write(conn, list(self._dirty.values()), self._records)

    def committed(self) -> Callable[[], None]:
        self._dirty, self._records = {}, []
        return lambda: None

    # -- the schedule ----------------------------------------------------------------------------
    def _today(self, estate: str, now: datetime) -> date:
        found = self.inventory.estate(estate)
        return now.astimezone(found.tz).date() if found else now.date()

    def _next(self, estate: str, since: date, plan: Plan) -> date:
        return add_interval(since, plan.every, self.inventory.calendar_for(estate))

    def _end_of(self, estate: str, day: date) -> datetime:
        found = self.inventory.estate(estate)
        tz = found.tz if found else None
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)

    def _check_plan(self, asset: Asset, plan: Plan, state: PlanState, now: datetime) -> None:
        today = self._today(asset.estate, now)
        if state.order is not None and state.order not in self.dispatcher.live:
            state.order = None  # cancelled by an operator: a new one is made below
            self._dirty[state.key] = state
        lead_day = subtract_lead(state.due, plan.lead, self.inventory.calendar_for(asset.estate))
        if state.order is None and today >= lead_day:
            order = self.dispatcher.plan(
                estate=asset.estate,
                building=asset.building,
                device=asset.id if asset.device else None,
                trade=plan.trade,
                title=f"{asset.label} {plan.task}（{state.due.isoformat()} 前）",
                description=f"{plan.task_en}: {asset.id}, due {state.due.isoformat()} [{plan.id}]",
                due=self._end_of(asset.estate, state.due),
            )
            state.order = order.id
            self._dirty[state.key] = state
        if today <= state.due:
            return
        first = not state.overdue
        if first:
            state.overdue = True
            self._dirty[state.key] = state
        if self._alarmed_elsewhere(asset, plan):
            return  # an estate's opt-in compliance rule raises it (assets/plans.py ALARMED_BY)
        severity = plan.overdue_severity
        if plan.worse_after is not None and plan.worse_severity is not None:
            worse_from = add_interval(state.due, plan.worse_after, self.inventory.calendar_for(asset.estate))
            if today > worse_from and RANK[plan.worse_severity] > RANK[severity]:
                severity = plan.worse_severity
        if not first:  # raised already: again only to make it worse (once: the book keeps the worst)
            if severity is plan.overdue_severity:
                return
            open_ = self.book.open_alert(self._overdue_key(asset))
            if open_ is None or not open_.active or RANK[severity] <= RANK[open_.severity]:
                return
        days = (today - state.due).days
        self.book.raise_(
            self._raise(
                asset,
                OVERDUE_RULE,
                severity,
                f"{asset.label}{plan.task}已逾期 {days} 天（应于 {state.due.isoformat()} 完成）",
                f"{asset.id}: {plan.task_en} overdue by {days} day(s) (due {state.due.isoformat()})",
                subject=asset.id,
            )
        )

    @staticmethod
    def _overdue_key(asset: Asset) -> str:
        """One overdue alarm per asset, whichever of its plans is late."""
        return alert_key(asset.estate, asset.id if asset.device else None, OVERDUE_RULE, asset.id)

    def _alarmed_elsewhere(self, asset: Asset, plan: Plan) -> bool:
        """Whether a compliance rule of the catalogue, on in the asset's estate, is this device
        plan's overdue alarm (then the ledger raises none: one source, not two)."""
        found = ALARMED_BY.get(plan.id)
        if found is None or not asset.device or self._alarm_rule is None:
            return False
        return self._alarm_rule(asset.estate, found[0]) is not None

    def _raise(
        self, asset: Asset, rule: str, severity: Severity, zh: str, en: str, subject: str | None
    ) -> Raise:
        # An asset without telemetry is not a device of the alert model: named as the subject.
        kind, device = (asset.kind.value, asset.id) if asset.device else (None, None)
        return Raise(asset.estate, asset.building, device, kind, rule, severity, zh, en, subject=asset.id)

    def _check_certificates(self, asset: Asset, now: datetime) -> None:
        """One alarm per asset and rule (the alert key is estate/asset/rule): the worst of its
        certificates; it clears once none is expired (expiring) any more."""
        if not asset.certificates:
            return
        today = self._today(asset.estate, now)
        expired = [c for c in asset.certificates if today > c.expires]
        soon = today + timedelta(days=CERT_WARN_DAYS)
        expiring = [c for c in asset.certificates if today <= c.expires <= soon]
        severity = max(
            (EXPIRED_SEVERITY.get((asset.kind, c.kind), Severity.MAJOR) for c in expired),
            key=RANK.__getitem__,
            default=Severity.MAJOR,
        )
        names = "、".join(f"{c.kind} {c.number}（{c.expires}）" for c in expired or expiring)
        names_en = ", ".join(f"{c.kind} {c.number} ({c.expires})" for c in expired or expiring)
        zh, en = f"{asset.label}证书已过期：{names}", f"{asset.id}: certificate expired: {names_en}"
        self._hold(asset, CERT_EXPIRED_RULE, bool(expired), severity, zh, en)
        zh, en = (
            f"{asset.label}证书 30 天内到期：{names}",
            f"{asset.id}: certificate due within 30 days: {names_en}",
        )
        self._hold(asset, CERT_EXPIRING_RULE, bool(expiring), Severity.MINOR, zh, en)

    def _hold(self, asset: Asset, rule: str, holds: bool, severity: Severity, zh: str, en: str) -> None:
        """Raise while ``holds`` (once: a repeat would count up), clear when it no longer does."""
        key = alert_key(asset.estate, asset.id, rule)
        open_ = self.book.open_alert(key)
        if holds and (open_ is None or not open_.active):
            self.book.raise_(self._raise(asset, rule, severity, zh, en, None))
        elif not holds and open_ is not None and open_.active:
            self.book.clear(key, BY, "certificate renewed")

    def _check_calendar(self, estate: str, now: datetime) -> None:
        calendar = self.inventory.calendar_for(estate)
        today = self._today(estate, now)
        end = calendar.coverage_end(today)
        ending = calendar.needs_schedule and (end is None or today >= end - WARN_BEFORE)
        key = alert_key(estate, None, CALENDAR_RULE)
        open_ = self.book.open_alert(key)
        if ending and (open_ is None or not open_.active):
            until = end.isoformat() if end else f"{today.year - 1}-12-31"
            self.book.raise_(
                Raise(
                    estate,
                    None,
                    None,
                    None,
                    CALENDAR_RULE,
                    Severity.INFO,
                    f"节假日日历只到 {until}：之后的工作日时限按保守算法计算"
                    "（仅周一至周五，并避开往年法定假日），请更新 chinesecalendar 或在清单中填写假日",
                    f"The holiday calendar ends on {until}: working-day deadlines after it are computed "
                    "conservatively (Monday-Friday, past years' holidays off); update chinesecalendar or "
                    "list the holidays in the inventory",
                )
            )
        elif not ending and open_ is not None and open_.active:
            self.book.clear(key, BY, "calendar updated")

    # -- records -----------------------------------------------------------------------------------
    def record(
        self,
        estate: str,
        asset_id: str,
        *,
        by: str,
        plan_id: str | None = None,
        task: str = "",
        done_on: date | None = None,
        readings: Mapping[str, float] | None = None,
        note: str = "",
        source: str = "crew",
    ) -> Record:
        """A record of work done (on the alarm core's thread); the
        plan moves on from the record's date, its order is closed, its overdue alarm cleared."""
        with self.book.guard:
            asset = self.assets.get((estate, asset_id))
            if asset is None:
                raise LedgerNotFound(f"no asset {asset_id!r} in estate {estate!r}")
            plan = asset.plan(plan_id) if plan_id is not None else None
            if plan_id is not None and plan is None:
                known = ", ".join(p.id for p in asset.plans) or "none"
                raise LedgerError(f"asset {asset_id!r} has no plan {plan_id!r} (its plans: {known})")
            now = self.clock.now()
            today = self._today(estate, now)
            done = done_on or today
            if done > today:
                raise LedgerError(f"done_on {done} is in the future")
            record = Record(
                self._ids.take(),
                estate,
                asset_id,
                plan_id,
                task or (plan.task if plan else ""),
                done,
                now,
                by,
                source,
                readings=dict(readings or {}),
                note=note,
            )
            if plan is not None:
                self._move_on(asset, plan, record)
                self._tell_engine(asset, plan, record)
            self._records.append(record)
            return record

    def _tell_engine(self, asset: Asset, plan: Plan, record: Record) -> None:
        """A crew's record of a plan whose alarm is a compliance rule moves that rule's clock on
        (a device's own event already has; a visit entered late counts from its own day)."""
        found = ALARMED_BY.get(plan.id)
        if found is None or not asset.device or record.source == "device" or self._on_record is None:
            return
        found_estate = self.inventory.estate(asset.estate)
        tz = found_estate.tz if found_estate else UTC
        at = min(self.clock.now(), datetime.combine(record.done_on, time(12), tzinfo=tz).astimezone(UTC))
        self._on_record(asset.estate, asset.id, found[1], at)

    def _move_on(self, asset: Asset, plan: Plan, record: Record) -> None:
        state = self.states[(asset.estate, asset.id, plan.id)]
        if state.recorded and record.done_on < state.since:  # older than the last record: it stands
            record.next_due = state.due
            return
        if state.order is not None and state.order in self.dispatcher.live:
            # Not a planned order any more (an operator's change): the record is kept all the same.
            with contextlib.suppress(OrderError):
                self.dispatcher.complete_planned(state.order, record.by, f"record {record.id}")
            record.work_order = state.order
        state.since, state.due, state.order, state.recorded = (
            record.done_on,
            self._next(asset.estate, record.done_on, plan),
            None,
            True,
        )
        record.next_due = state.due
        if state.overdue:
            state.overdue = False
            others = [s for k, s in self.states.items() if k[:2] == asset.key and s.overdue]
            if not others:  # one overdue alarm per asset: it clears when none of its plans is late
                self.book.clear(self._overdue_key(asset), record.by, f"record {record.id}")
        self._dirty[state.key] = state
        self._next_check = self.clock.now()  # the next order may be due at once (a short interval)

    def on_event(
        self, estate: str, device: str, event: str, fields: Mapping[str, FieldValue], now: datetime
    ) -> None:
        """A device's ``maintenance``, ``cleaned`` or ``sampled`` event is a record (engine hook,
        on the alarm core's thread)."""
        if event not in RECORD_EVENTS or (estate, device) not in self.assets:
            return
        plan_id = RECORD_EVENTS[event]
        asset = self.assets[(estate, device)]
        if plan_id is not None and asset.plan(plan_id) is None:
            plan_id = None  # the plan is switched off here: still a line of the ledger
        technician = fields.get("technician")
        readings = {
            k: float(v) for k, v in fields.items() if isinstance(v, int | float) and not isinstance(v, bool)
        }
        self.record(
            estate,
            device,
            by=str(technician) if technician else f"device:{device}",
            plan_id=plan_id,
            task=event,
            readings=readings,
            note=f"device event {event}",
            source="device",
        )


def next_dues(states: Iterable[PlanState]) -> dict[AssetKey, date]:
    """Each asset's earliest next due date (for the ledger's list)."""
    dues: dict[AssetKey, date] = {}
    for state in states:
        current = dues.get((state.estate, state.asset))
        dues[(state.estate, state.asset)] = state.due if current is None else min(current, state.due)
    return dues
