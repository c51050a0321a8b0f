"""Deadline clocks of work orders (docs/contract.md §7; each rule's defaults are shown in docs/rules.md).

Durations are written ``30m``, ``2h``, ``2d`` or ``5wd``:

- minutes, hours and days are elapsed time (``2d`` is 48 hours after the order was created);
- working days follow the holiday calendar (public holidays off, make-up working days 调休 on; the
  chinesecalendar package by default, the inventory's lists over it, and a year neither covers
  computed conservatively — Monday to Friday, past years' holidays off: devices/workdays.py):
  ``3wd`` is due at the end of the third working day after the day the order was created, in the
  estate's time zone — so an order made on the eve of a week's holiday is not due during it.

For each clock (accept, arrive, resolve) the most specific policy that sets it wins: one naming
the alert rule, then one for a category of manual report, then trade and severity together, then
either alone, then a catch-all; the earlier wins a tie. The estate's own policies are looked at
first, then the inventory's: a default below sets a clock only where none of them does, so an
estate that writes "critical lift orders resolved in 4 h" gets 4 h for an entrapment too, and one
estate's figure never leaks into another's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from devices.base import Severity, Trade
from devices.inventory import DurationUnit, HolidayCalendar, SlaDuration, SlaPolicy
from dispatch.model import Step

#: Manual-report categories with their own default clocks.
COMMON_AREA = "common_area"  # 公共部位报修: done ≤ 3 working days
EMERGENCY = "emergency"  # 急修: on site ≤ 1 h, done ≤ 24 h
SIMPLE_LIGHTING = "simple_lighting"  # lamp, holder, switch: ≤ 24 h (docs/rules.md §5)
CATEGORIES = (COMMON_AREA, EMERGENCY, SIMPLE_LIGHTING)


def _policy(id_: str, **kw: object) -> SlaPolicy:
    return SlaPolicy.model_validate({"id": id_, **kw})


#: The estate service standard, TSG T5002 (lifts), the municipal lighting rules; "practice" where
#: they give no figure.
DEFAULT_POLICIES: tuple[SlaPolicy, ...] = (
    # TSG T5002: entrapment rescue on site ≤ 30 min (cities); accept at once (practice: 5 min).
    _policy(
        "default-lift-entrapment",
        rules=["lift.entrapment", "lift.trapped_suspected"],
        accept="5m",
        arrive="30m",
        resolve="24h",
    ),
    # GB 5749-2022 / CJJ 140 (docs/rules.md: water.chlorine_low): free chlorine below 0.05 mg/L is
    # on site within 30 min, not the generic emergency repair's 1 h.
    _policy("default-water-chlorine", rules=["water.chlorine_low"], accept="5m", arrive="30m", resolve="24h"),
    # Lifts: critical and major faults ≤ 30 min on site; minor ones (doors, silent terminal) ≤ 24 h.
    _policy(
        "default-lift-critical", trade="lift", severity="critical", accept="5m", arrive="30m", resolve="24h"
    ),
    _policy("default-lift-major", trade="lift", severity="major", accept="15m", arrive="30m", resolve="24h"),
    _policy("default-lift-minor", trade="lift", severity="minor", resolve="24h"),
    # Estate service standard: emergency repair (急修) on site ≤ 1 h, common parts done ≤ 24 h.
    _policy("default-emergency", severity="critical", accept="10m", arrive="1h", resolve="24h"),
    _policy("default-emergency-report", category=EMERGENCY, accept="10m", arrive="1h", resolve="24h"),
    # Practice: a major fault (pump, lighting cabinet) seen within 2 h, repaired within a day.
    _policy("default-major", severity="major", accept="30m", arrive="2h", resolve="24h"),
    # Lighting: the estate service standard (simple fault ≤ 2 days, other ≤ 5 working days) and
    # the municipal lighting rules (ordinary ≤ 24 h, serious ≤ 3 working days, urgent ≤ 1 h) name
    # the same faults twice; the stricter figure of each class is kept, which meets both. A lamp out
    # (lamp, holder, switch) is the simple/ordinary fault: ≤ 24 h. Other lighting faults (several
    # lamps or a circuit out, a silent controller, the 完好率 low) are serious: ≤ 3 working days.
    # Major ones (a cabinet or cable) keep practice's tighter 2 h / 24 h of default-major, and
    # leakage (critical) is urgent: on site ≤ 1 h with emergency repair (default-emergency).
    _policy("default-lamp", rules=["light.lamp_out"], resolve="24h"),
    _policy("default-lamp-report", category=SIMPLE_LIGHTING, resolve="24h"),
    _policy("default-lighting", trade="electrical", severity="minor", resolve="3wd"),
    # Estate service standard: common-area repair complaints completed ≤ 3 working days.
    _policy("default-common-area", category=COMMON_AREA, resolve="3wd"),
    # Estate service standard: other faults ≤ 5 working days.
    _policy("default-other", resolve="5wd"),
)


@dataclass(frozen=True)
class Clock:
    duration: SlaDuration
    policy: str  # the policy that set it, for the order's history


def _specificity(policy: SlaPolicy) -> int:
    return (
        8 * bool(policy.rules)
        + 4 * (policy.category is not None)
        + 2 * (policy.trade is not None)
        + (policy.severity is not None)
    )


def _matches(
    policy: SlaPolicy, rule: str | None, trade: Trade, severity: Severity, category: str | None
) -> bool:
    return (
        (not policy.rules or rule in policy.rules)
        and (policy.category is None or policy.category == category)
        and (policy.trade is None or policy.trade is trade)
        and (policy.severity is None or policy.severity is severity)
    )


def select_clocks(
    policies: Iterable[SlaPolicy],
    *,
    rule: str | None,
    trade: Trade,
    severity: Severity,
    category: str | None = None,
    defaults: Iterable[SlaPolicy] = (),
    estate: Iterable[SlaPolicy] = (),
) -> dict[Step, Clock]:
    """Each clock from the most specific matching policy that sets it (earlier wins a tie);
    ``estate``'s first, then ``policies`` for clocks none of those sets, then ``defaults``."""
    clocks: dict[Step, Clock] = {}
    for tier in (estate, policies, defaults):
        matching = [p for p in tier if _matches(p, rule, trade, severity, category)]
        ranked = sorted(enumerate(matching), key=lambda item: (-_specificity(item[1]), item[0]))
        for step in Step:
            for _, policy in ranked:
                duration: SlaDuration | None = getattr(policy, step.value)
                if step not in clocks and duration is not None:
                    clocks[step] = Clock(duration, policy.id)
                    break
    return clocks


def add_duration(start: datetime, duration: SlaDuration, tz: ZoneInfo, calendar: HolidayCalendar) -> datetime:
    """When a clock of ``duration`` started at ``start`` runs out (UTC)."""
    amount, unit = duration
    elapsed = {DurationUnit.MINUTES: 60, DurationUnit.HOURS: 3600, DurationUnit.DAYS: 86400}.get(unit)
    if elapsed is not None:  # elapsed time: in UTC, so a clock change does not stretch it
        return start.astimezone(UTC) + timedelta(seconds=amount * elapsed)
    day, counted = start.astimezone(tz).date(), 0
    while counted < amount:
        day += timedelta(days=1)
        counted += calendar.is_working_day(day)
    # The end of that working day: the local midnight that starts the next day.
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)


def deadlines(
    start: datetime, clocks: dict[Step, Clock], tz: ZoneInfo, calendar: HolidayCalendar
) -> dict[Step, datetime]:
    return {step: add_duration(start, clock.duration, tz, calendar) for step, clock in clocks.items()}
