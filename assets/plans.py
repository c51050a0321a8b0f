"""Maintenance plans per asset class (the standards each cites), changed by the inventory's
``maintenance`` settings.

A plan says what is done to an asset, how often (``every``: days, working days, months or years),
how long ahead its planned work order is made (``lead``), which trade's crew does it and how bad
it is when it is late (``maintenance.overdue``). The next due date counts from the last record's
date (or, before any record, from the install date, else from when the ledger first saw it).
"""

from __future__ import annotations

import calendar as month_calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from devices.base import Severity, Trade
from devices.inventory import HolidayCalendar, Inventory, RefIssue
from devices.ledger import AssetKind, Interval, IntervalUnit, PlanSetting

K = AssetKind


@dataclass(frozen=True)
class Plan:
    id: str
    kind: AssetKind
    task: str  # zh-CN
    task_en: str
    every: Interval
    lead: Interval
    trade: Trade
    overdue_severity: Severity
    standard: str
    #: Readings a record of it should carry (shown on the form; a record without them is kept).
    readings: tuple[str, ...] = ()
    enabled: bool = True
    #: Late by more than this past the due day, the overdue alarm becomes ``worse_severity``
    #: (a tank not cleaned for over 12 months: major, docs/rules.md §9).
    worse_after: Interval | None = None
    worse_severity: Severity | None = None


def _i(text: str) -> Interval:
    return Interval(int(text.rstrip("dwmoy")), IntervalUnit(text.lstrip("0123456789")))


def _plan(
    id_: str, kind: AssetKind, task: str, task_en: str, every: str, lead: str, trade: Trade, sev: Severity,
    standard: str, **kw: object,
) -> Plan:  # fmt: skip
    return Plan(id_, kind, task, task_en, _i(every), _i(lead), trade, sev, standard, **kw)  # type: ignore[arg-type]


MN, MJ = Severity.MINOR, Severity.MAJOR
T = Trade

DEFAULT_PLANS: tuple[Plan, ...] = (
    _plan("lift.maintenance", K.LIFT, "电梯半月维保", "lift maintenance (every 15 days)", "15d", "3d",
          T.LIFT, MN, "TSG T5002: maintenance at most 15 days apart"),
    _plan("lift.inspection", K.LIFT, "电梯年度定期检验", "lift annual statutory inspection", "1y", "30d",
          T.LIFT, MJ, "TSG T7001 / 特种设备安全法: periodic inspection every year"),
    _plan("water.cleaning", K.WATER_TANK, "水箱清洗消毒并取样检测", "tank cleaning and sampling",
          "6mo", "14d", T.WATER, MN,
          "estate service standard (seed): tanks cleaned every 6 months, sampled; > 12 months major",
          readings=("chlorine_mg_l", "turbidity_ntu"), worse_after=_i("6mo"), worse_severity=MJ),
    _plan("fire.extinguisher_check", K.FIRE_EXTINGUISHER, "灭火器月度检查", "extinguisher monthly check",
          "1mo", "5d", T.SECURITY, MN, "GB 50444 (extinguishers checked monthly)"),
    _plan("fire.hose_box_check", K.HOSE_BOX, "消火栓箱月度检查", "hose box monthly check", "1mo", "5d",
          T.SECURITY, MN, "GB 25201 (fire facilities checked monthly)"),
    _plan("septic.inspection", K.SEPTIC_TANK, "化粪池季度检查", "septic tank quarterly check", "3mo", "7d",
          T.WATER, MN, "estate service standard (seed): septic tanks checked quarterly"),
    _plan("septic.emptying", K.SEPTIC_TANK, "化粪池年度清掏", "septic tank yearly emptying", "1y", "14d",
          T.WATER, MN, "estate service standard (seed): septic tanks emptied yearly"),
    _plan("well.dredging", K.WELL, "雨污水井年度疏通", "rain/sewage well yearly dredging", "1y", "14d",
          T.WATER, MN, "estate service standard (seed): wells dredged yearly"),
    _plan("drain.dredging", K.DRAIN, "排水管道年度疏通", "drain yearly dredging", "1y", "14d", T.WATER, MN,
          "estate service standard (seed): drains dredged yearly"),
    _plan("lightning.test", K.LIGHTNING_ROD, "防雷装置年度检测", "lightning protection yearly test", "1y",
          "30d", T.ELECTRICAL, MJ, "GB/T 21431: lightning protection tested yearly"),
)  # fmt: skip
PLANS_BY_ID = {plan.id: plan for plan in DEFAULT_PLANS}
#: Device events that are records (of a plan, or alone: a tank's ``sampled``).
RECORD_EVENTS: dict[str, str | None] = {
    "maintenance": "lift.maintenance",
    "cleaned": "water.cleaning",
    "sampled": None,
}
#: Device plans with an opt-in compliance rule in the catalogue, counting days since the device's
#: own record event (docs/rules.md §9). The rules are off by default: the ledger's
#: ``maintenance.overdue`` is the alarm of every plan (issue 26). An estate that switches one on
#: (``rules: {lift.maintenance_overdue: {enabled: true}}``) makes it the one source of that plan's
#: alarm instead: the ledger then raises no ``maintenance.overdue`` for the plan, and a crew's
#: record moves the rule's clock on.
ALARMED_BY: dict[str, tuple[str, str]] = {
    "lift.maintenance": ("lift.maintenance_overdue", "maintenance"),
    "water.cleaning": ("water.cleaning_overdue", "cleaned"),
}


def apply_settings(plan: Plan, settings: Iterable[PlanSetting]) -> Plan:
    """``plan`` with each matching setting applied in order (later, more specific ones win)."""
    for s in settings:
        if s.plan != plan.id:
            continue
        changes = {
            name: value
            for name in (
                "every",
                "lead",
                "trade",
                "overdue_severity",
                "worse_after",
                "worse_severity",
                "enabled",
            )
            if (value := getattr(s, name)) is not None
        }
        plan = replace(plan, **changes)
    return plan


def plans_for(kind: AssetKind, *layers: Sequence[PlanSetting]) -> list[Plan]:
    """The enabled plans of an asset class with the settings of each layer (inventory, estate,
    asset), in that order, applied."""
    out = []
    for default in DEFAULT_PLANS:
        if default.kind is kind:
            plan = default
            for layer in layers:
                plan = apply_settings(plan, layer)
            if plan.enabled:
                out.append(plan)
    return out


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later; the month's last day where it is shorter (31 Jan + 1 → 28 Feb)."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return date(year, month, min(day.day, month_calendar.monthrange(year, month)[1]))


def add_interval(day: date, interval: Interval, cal: HolidayCalendar) -> date:
    """The date ``interval`` after ``day`` (working days on the estate's calendar)."""
    amount, unit = interval
    if unit is IntervalUnit.DAYS:
        return day + timedelta(days=amount)
    if unit is IntervalUnit.MONTHS:
        return add_months(day, amount)
    if unit is IntervalUnit.YEARS:
        return add_months(day, 12 * amount)
    counted = 0
    while counted < amount:
        day += timedelta(days=1)
        counted += cal.is_working_day(day)
    return day


def subtract_lead(due: date, lead: Interval, cal: HolidayCalendar) -> date:
    """When the order for a task due on ``due`` is made."""
    amount, unit = lead
    if unit is IntervalUnit.DAYS:
        return due - timedelta(days=amount)
    if unit is IntervalUnit.WORKING_DAYS:
        counted, day = 0, due
        while counted < amount:
            day -= timedelta(days=1)
            counted += cal.is_working_day(day)
        return day
    return add_months(due, -amount * (12 if unit is IntervalUnit.YEARS else 1))


def plan_issues(inventory: Inventory) -> list[RefIssue]:
    """Settings naming a plan that does not exist, or one of another asset class (check-config)."""
    issues: list[RefIssue] = []

    def check(settings: Sequence[PlanSetting], loc: tuple[str | int, ...], kind: AssetKind | None) -> None:
        for i, s in enumerate(settings):
            plan = PLANS_BY_ID.get(s.plan)
            if plan is None:
                known = ", ".join(sorted(PLANS_BY_ID))
                issues.append(RefIssue((*loc, i, "plan"), f"no maintenance plan {s.plan!r} (known: {known})"))
            elif kind is not None and plan.kind is not kind:
                why = f"plan {s.plan!r} is for {plan.kind.value}, not {kind.value}"
                issues.append(RefIssue((*loc, i, "plan"), why))

    check(inventory.maintenance, ("maintenance",), None)
    for e, estate in enumerate(inventory.estates):
        check(estate.maintenance, ("estates", e, "maintenance"), None)
        for a, asset in enumerate(estate.assets):
            device = estate.device(asset.id)
            kind = asset.kind or (AssetKind(device.kind.value) if device else None)
            check(asset.plans, ("estates", e, "assets", a, "plans"), kind)
    return issues
