"""Deadline clocks: durations in elapsed time and working days, policy selection, the defaults."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.base import Severity, Trade
from devices.inventory import CalendarSource, DurationUnit, HolidayCalendar, SlaDuration, SlaPolicy
from dispatch.deadlines import (
    CATEGORIES,
    COMMON_AREA,
    DEFAULT_POLICIES,
    EMERGENCY,
    SIMPLE_LIGHTING,
    Clock,
    add_duration,
    deadlines,
    select_clocks,
)
from dispatch.model import Step

SHANGHAI = ZoneInfo("Asia/Shanghai")
CST = timezone(timedelta(hours=8))  # a fixed +08:00, to write expected local instants plainly
#: Monday to Friday only: the package's schedule off (devices/workdays.py is tested in tests/devices).
NO_HOLIDAYS = HolidayCalendar(source=CalendarSource.NONE)

#: 2026 Chinese public holidays and make-up working days (调休), as in devices/samples/sunrise.yaml.
CN_2026 = HolidayCalendar.model_validate(
    {
        "holidays": [
            "2026-01-01", "2026-01-02", "2026-01-03",
            "2026-02-15", "2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19",
            "2026-02-20", "2026-02-21", "2026-02-22", "2026-02-23",
            "2026-04-04", "2026-04-05", "2026-04-06",
            "2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04", "2026-05-05",
            "2026-06-19", "2026-06-20", "2026-06-21",
            "2026-09-25", "2026-09-26", "2026-09-27",
            "2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05", "2026-10-06", "2026-10-07",
        ],
        "workdays": ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"],
    }
)  # fmt: skip

#: Only the National Day week and its make-up Saturday.
NATIONAL_DAY = HolidayCalendar(
    source=CalendarSource.NONE,
    holidays=[date(2026, 10, d) for d in range(1, 8)],
    workdays=[date(2026, 10, 10)],
)

_DURATION = re.compile(r"(\d+)(m|h|d|wd)")


def dur(text: str) -> SlaDuration:
    """``"30m"`` → ``SlaDuration(30, MINUTES)``, parsed here rather than by the code under test."""
    match = _DURATION.fullmatch(text)
    assert match is not None, text
    return SlaDuration(int(match[1]), DurationUnit(match[2]))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def cst(*args: int) -> datetime:
    """A +08:00 wall time, i.e. Asia/Shanghai's (no DST since 1991)."""
    return datetime(*args, tzinfo=CST)


def wd(start: datetime, amount: int, calendar: HolidayCalendar = NO_HOLIDAYS) -> datetime:
    return add_duration(start, SlaDuration(amount, DurationUnit.WORKING_DAYS), SHANGHAI, calendar)


# --- add_duration: elapsed time ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("1m", timedelta(minutes=1)),
        ("5m", timedelta(minutes=5)),
        ("30m", timedelta(minutes=30)),
        ("90m", timedelta(minutes=90)),
        ("1h", timedelta(hours=1)),
        ("2h", timedelta(hours=2)),
        ("24h", timedelta(hours=24)),
        ("1d", timedelta(days=1)),
        ("2d", timedelta(hours=48)),
        ("7d", timedelta(days=7)),
    ],
)
def test_elapsed_units_add_exact_time(text: str, delta: timedelta) -> None:
    start = utc(2026, 11, 20, 15, 30, 12, 345678)
    due = add_duration(start, dur(text), SHANGHAI, CN_2026)
    assert due == start + delta
    assert due.utcoffset() == timedelta(0)


def test_elapsed_days_ignore_weekends_and_holidays() -> None:
    # 2d from the eve of National Day runs straight through the holidays: 48 h, not working days.
    start = utc(2026, 9, 30, 2, 0)
    assert add_duration(start, dur("2d"), SHANGHAI, NATIONAL_DAY) == utc(2026, 10, 2, 2, 0)
    # Friday afternoon + 1d is Saturday afternoon.
    friday = utc(2026, 11, 20, 6, 0)
    assert add_duration(friday, dur("1d"), SHANGHAI, NO_HOLIDAYS) == utc(2026, 11, 21, 6, 0)


@pytest.mark.parametrize(
    ("text", "delta"),
    [("45m", timedelta(minutes=45)), ("3h", timedelta(hours=3)), ("2d", timedelta(days=2))],
)
def test_elapsed_units_do_not_depend_on_the_calendar_or_zone(text: str, delta: timedelta) -> None:
    start = utc(2026, 10, 1, 0, 0)
    assert add_duration(start, dur(text), SHANGHAI, NATIONAL_DAY) == start + delta
    assert add_duration(start, dur(text), ZoneInfo("America/New_York"), NO_HOLIDAYS) == start + delta


# --- add_duration: working days ---------------------------------------------------------------


def test_working_day_is_the_end_of_the_next_working_day_in_local_time() -> None:
    # Tuesday 2026-11-17 10:00 local: 1wd is the end of Wednesday, i.e. Thursday 00:00 +08:00.
    due = wd(cst(2026, 11, 17, 10, 0), 1)
    assert due == cst(2026, 11, 19, 0, 0)
    assert due == utc(2026, 11, 18, 16, 0)
    assert due.tzinfo is UTC


def test_working_days_count_from_the_creation_day_not_the_creation_time() -> None:
    # Early and late on the same local day give the same deadline.
    early = wd(cst(2026, 11, 17, 0, 0), 2)
    late = wd(cst(2026, 11, 17, 23, 59, 59), 2)
    assert early == late == cst(2026, 11, 20, 0, 0)


@pytest.mark.parametrize(
    ("amount", "due"),
    [
        (1, cst(2026, 11, 24, 0, 0)),  # Monday 23rd
        (2, cst(2026, 11, 25, 0, 0)),  # Tuesday 24th
        (3, cst(2026, 11, 26, 0, 0)),  # Wednesday 25th
        (5, cst(2026, 11, 28, 0, 0)),  # Friday 27th
        (6, cst(2026, 12, 1, 0, 0)),  # Monday 30th: the second weekend skipped too
    ],
)
def test_friday_order_skips_the_weekend(amount: int, due: datetime) -> None:
    friday = cst(2026, 11, 20, 10, 0)
    assert friday.weekday() == 4
    assert wd(friday, amount) == due


def test_weekend_order_counts_from_monday() -> None:
    saturday = cst(2026, 11, 21, 10, 0)
    sunday = cst(2026, 11, 22, 10, 0)
    assert wd(saturday, 1) == wd(sunday, 1) == cst(2026, 11, 24, 0, 0)  # end of Monday 23rd


def test_order_spanning_national_day_lands_on_the_make_up_saturday() -> None:
    # Wed 30 Sep: 1–7 Oct are off; Thu 8 (1), Fri 9 (2), make-up Sat 10 (3) → due Sun 11 00:00.
    start = cst(2026, 9, 30, 10, 0)
    assert wd(start, 1, NATIONAL_DAY) == cst(2026, 10, 9, 0, 0)
    assert wd(start, 2, NATIONAL_DAY) == cst(2026, 10, 10, 0, 0)
    assert wd(start, 3, NATIONAL_DAY) == cst(2026, 10, 11, 0, 0)
    assert wd(start, 3, NATIONAL_DAY) == utc(2026, 10, 10, 16, 0)
    # Sun 11 is a weekend day: the 4th working day is Mon 12.
    assert wd(start, 4, NATIONAL_DAY) == cst(2026, 10, 13, 0, 0)


def test_same_order_without_the_calendar_would_fall_in_the_holiday() -> None:
    start = cst(2026, 9, 30, 10, 0)
    assert wd(start, 3, NO_HOLIDAYS) == cst(2026, 10, 6, 0, 0)  # Thu 1, Fri 2, Mon 5
    assert wd(start, 3, NO_HOLIDAYS) != wd(start, 3, NATIONAL_DAY)


def test_deadline_on_spring_festival_make_up_saturday() -> None:
    # Thu 12 Feb 2026: Fri 13 (1), make-up Sat 14 (2); 15–23 Feb off, Tue 24 (3).
    thursday = cst(2026, 2, 12, 9, 0)
    assert wd(thursday, 1, CN_2026) == cst(2026, 2, 14, 0, 0)
    assert wd(thursday, 2, CN_2026) == cst(2026, 2, 15, 0, 0)
    assert wd(thursday, 3, CN_2026) == cst(2026, 2, 25, 0, 0)
    # ... and the make-up Saturday 28 Feb after it: Tue 24 .. Fri 27 (3..6), Sat 28 (7), Mon 2 Mar (8).
    assert wd(thursday, 7, CN_2026) == cst(2026, 3, 1, 0, 0)
    assert wd(thursday, 8, CN_2026) == cst(2026, 3, 3, 0, 0)


def test_order_created_on_a_holiday() -> None:
    # Sat 3 Oct is inside the holiday: the next working day is Thu 8.
    assert wd(cst(2026, 10, 3, 14, 0), 1, CN_2026) == cst(2026, 10, 9, 0, 0)
    # A weekday holiday (Thu 1 Jan) counts from the next working day too: Sun 4 Jan is a make-up day.
    assert wd(cst(2026, 1, 1, 8, 0), 1, CN_2026) == cst(2026, 1, 5, 0, 0)
    assert wd(cst(2026, 1, 1, 8, 0), 2, CN_2026) == cst(2026, 1, 6, 0, 0)  # Mon 5


def test_order_created_on_a_make_up_working_day_does_not_count_it() -> None:
    # Created on the make-up Saturday 10 Oct: the creation day never counts; Mon 12 is the first.
    assert wd(cst(2026, 10, 10, 9, 0), 1, CN_2026) == cst(2026, 10, 13, 0, 0)


def test_late_evening_local_order() -> None:
    # 23:30 +08:00 on Friday 20 Nov is 15:30 UTC the same day: counts from Friday, due end of Monday.
    start = cst(2026, 11, 20, 23, 30)
    assert start.astimezone(UTC) == utc(2026, 11, 20, 15, 30)
    assert wd(start.astimezone(UTC), 1) == cst(2026, 11, 24, 0, 0) == utc(2026, 11, 23, 16, 0)


def test_local_date_ahead_of_utc_date_counts_from_the_local_day() -> None:
    # 00:30 +08:00 on Tuesday 24 Nov is 16:30 UTC on Monday 23 Nov. The creation day is the
    # estate's Tuesday: 1wd is the end of Wednesday 25 (the UTC date would give the end of Tuesday).
    start = utc(2026, 11, 23, 16, 30)
    assert start.astimezone(SHANGHAI).date() == date(2026, 11, 24)
    assert wd(start, 1) == cst(2026, 11, 26, 0, 0) == utc(2026, 11, 25, 16, 0)


def test_utc_friday_evening_is_a_saturday_order_in_shanghai() -> None:
    # 17:00 UTC Friday 20 Nov is 01:00 Saturday in Shanghai: 1wd is Monday's end, 2wd Tuesday's.
    start = utc(2026, 11, 20, 17, 0)
    assert wd(start, 1) == cst(2026, 11, 24, 0, 0)
    assert wd(start, 2) == cst(2026, 11, 25, 0, 0)


def test_working_days_use_the_given_zone() -> None:
    # The same instant is Monday evening in New York and Tuesday morning in Shanghai.
    start = utc(2026, 11, 24, 0, 30)
    new_york = ZoneInfo("America/New_York")
    in_ny = add_duration(start, dur("1wd"), new_york, NO_HOLIDAYS)
    in_sh = add_duration(start, dur("1wd"), SHANGHAI, NO_HOLIDAYS)
    assert in_ny == datetime(2026, 11, 25, 0, 0, tzinfo=new_york)  # end of Tuesday 24th, NY
    assert in_sh == cst(2026, 11, 26, 0, 0)  # end of Wednesday 25th, Shanghai
    assert in_ny.tzinfo is UTC
    assert in_sh.tzinfo is UTC


def test_working_day_deadline_across_a_dst_change_is_local_midnight() -> None:
    # New York leaves DST on Sunday 1 Nov 2026: the deadline is midnight EST (-05:00), not EDT.
    new_york = ZoneInfo("America/New_York")
    friday = datetime(2026, 10, 30, 12, 0, tzinfo=new_york)
    due = add_duration(friday, dur("1wd"), new_york, NO_HOLIDAYS)
    assert due == utc(2026, 11, 3, 5, 0)  # Tuesday 3 Nov 00:00 -05:00
    assert due.astimezone(new_york).time() == time(0)


# --- deadlines ---------------------------------------------------------------------------------


def test_deadlines_gives_one_datetime_per_clock() -> None:
    start = cst(2026, 9, 30, 10, 0).astimezone(UTC)
    clocks = {
        Step.ACCEPT: Clock(dur("10m"), "a"),
        Step.ARRIVE: Clock(dur("2h"), "b"),
        Step.RESOLVE: Clock(dur("3wd"), "c"),
    }
    assert deadlines(start, clocks, SHANGHAI, NATIONAL_DAY) == {
        Step.ACCEPT: utc(2026, 9, 30, 2, 10),
        Step.ARRIVE: utc(2026, 9, 30, 4, 0),
        Step.RESOLVE: cst(2026, 10, 11, 0, 0),
    }


def test_deadlines_only_for_the_clocks_given() -> None:
    start = utc(2026, 11, 20, 2, 0)
    assert deadlines(start, {}, SHANGHAI, NO_HOLIDAYS) == {}
    only = deadlines(start, {Step.RESOLVE: Clock(dur("5wd"), "x")}, SHANGHAI, NO_HOLIDAYS)
    assert only == {Step.RESOLVE: cst(2026, 11, 28, 0, 0)}  # Fri 20 → Mon..Fri 23–27


def test_deadlines_of_selected_default_clocks() -> None:
    start = utc(2026, 11, 20, 2, 0)
    clocks = select_clocks(
        DEFAULT_POLICIES, rule="lift.entrapment", trade=Trade.LIFT, severity=Severity.CRITICAL
    )
    assert deadlines(start, clocks, SHANGHAI, CN_2026) == {
        Step.ACCEPT: utc(2026, 11, 20, 2, 5),
        Step.ARRIVE: utc(2026, 11, 20, 2, 30),
        Step.RESOLVE: utc(2026, 11, 21, 2, 0),
    }


# --- property: working days --------------------------------------------------------------------


def _is_working(day: date, holidays: frozenset[date], workdays: frozenset[date]) -> bool:
    """An oracle independent of HolidayCalendar.is_working_day."""
    if day in workdays:
        return True
    return day.weekday() < 5 and day not in holidays


@st.composite
def _calendars(draw: st.DrawFn, around: date) -> tuple[frozenset[date], frozenset[date]]:
    """Holidays and make-up days near ``around`` (up to ~3 months after), disjoint."""
    offsets = st.integers(min_value=-3, max_value=90)
    holidays = frozenset(around + timedelta(days=o) for o in draw(st.sets(offsets, max_size=40)))
    workdays = frozenset(around + timedelta(days=o) for o in draw(st.sets(offsets, max_size=10))) - holidays
    return holidays, workdays


@settings(max_examples=300, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2060, 12, 31), timezones=st.just(UTC)
    ),
    amount=st.integers(min_value=1, max_value=30),
    zone=st.sampled_from(["Asia/Shanghai", "UTC", "Europe/London", "America/New_York", "Asia/Kolkata"]),
    data=st.data(),
)
def test_working_day_deadline_properties(
    start: datetime, amount: int, zone: str, data: st.DataObject
) -> None:
    tz = ZoneInfo(zone)
    created = start.astimezone(tz).date()
    holidays, workdays = data.draw(_calendars(created))
    calendar = HolidayCalendar(
        source=CalendarSource.NONE, holidays=sorted(holidays), workdays=sorted(workdays)
    )

    due = add_duration(start, SlaDuration(amount, DurationUnit.WORKING_DAYS), tz, calendar)

    assert due.utcoffset() == timedelta(0)
    local = due.astimezone(tz)
    assert local.time() == time(0)  # a local midnight
    assert due > start
    last = local.date() - timedelta(days=1)  # the working day whose end the deadline is
    assert last > created
    assert _is_working(last, holidays, workdays)
    counted = sum(
        _is_working(created + timedelta(days=i), holidays, workdays)
        for i in range(1, (last - created).days + 1)
    )
    assert counted == amount


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2060, 12, 31), timezones=st.just(UTC)
    ),
    amount=st.integers(min_value=1, max_value=10_000),
    unit=st.sampled_from([DurationUnit.MINUTES, DurationUnit.HOURS, DurationUnit.DAYS]),
)
def test_elapsed_duration_property(start: datetime, amount: int, unit: DurationUnit) -> None:
    due = add_duration(start, SlaDuration(amount, unit), SHANGHAI, CN_2026)
    seconds = {DurationUnit.MINUTES: 60, DurationUnit.HOURS: 3600, DurationUnit.DAYS: 86400}[unit]
    assert (due - start).total_seconds() == amount * seconds


# --- select_clocks with the defaults -----------------------------------------------------------


def clocks_of(
    rule: str | None,
    trade: Trade,
    severity: Severity,
    category: str | None = None,
    policies: tuple[SlaPolicy, ...] | list[SlaPolicy] = DEFAULT_POLICIES,
) -> dict[str, tuple[str, str]]:
    """``{step: (duration, policy id)}`` for compact, exact comparisons."""
    clocks = select_clocks(policies, rule=rule, trade=trade, severity=severity, category=category)
    for clock in clocks.values():
        assert isinstance(clock.duration, SlaDuration)
        assert isinstance(clock.duration.unit, DurationUnit)
    return {
        step.value: (f"{c.duration.amount}{c.duration.unit.value}", c.policy) for step, c in clocks.items()
    }


def full(accept: str, arrive: str, resolve: str, policy: str) -> dict[str, tuple[str, str]]:
    return {"accept": (accept, policy), "arrive": (arrive, policy), "resolve": (resolve, policy)}


def test_default_categories_are_the_three_named() -> None:
    assert set(CATEGORIES) == {"common_area", "emergency", "simple_lighting"}
    assert (COMMON_AREA, EMERGENCY, SIMPLE_LIGHTING) == ("common_area", "emergency", "simple_lighting")


def test_default_policy_ids_are_unique() -> None:
    ids = [p.id for p in DEFAULT_POLICIES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("rule", ["lift.entrapment", "lift.trapped_suspected"])
@pytest.mark.parametrize("severity", list(Severity))
def test_default_lift_entrapment(rule: str, severity: Severity) -> None:
    # TSG T5002: rescue on site ≤ 30 min; accept at once (5 min). The rule wins at any severity.
    assert clocks_of(rule, Trade.LIFT, severity) == full("5m", "30m", "24h", "default-lift-entrapment")


def test_select_clocks_returns_clock_objects() -> None:
    clocks = select_clocks(
        DEFAULT_POLICIES, rule="lift.entrapment", trade=Trade.LIFT, severity=Severity.CRITICAL
    )
    assert clocks == {
        Step.ACCEPT: Clock(SlaDuration(5, DurationUnit.MINUTES), "default-lift-entrapment"),
        Step.ARRIVE: Clock(SlaDuration(30, DurationUnit.MINUTES), "default-lift-entrapment"),
        Step.RESOLVE: Clock(SlaDuration(24, DurationUnit.HOURS), "default-lift-entrapment"),
    }
    assert list(clocks) == [Step.ACCEPT, Step.ARRIVE, Step.RESOLVE]


@pytest.mark.parametrize("rule", ["lift.unintended_movement", "lift.overtravel", None])
def test_default_lift_critical(rule: str | None) -> None:
    assert clocks_of(rule, Trade.LIFT, Severity.CRITICAL) == full("5m", "30m", "24h", "default-lift-critical")


@pytest.mark.parametrize("rule", ["lift.safety_circuit", "lift.stopped_empty", None])
def test_default_lift_major(rule: str | None) -> None:
    # The lift-specific major (15m/30m) beats the general major practice (30m/2h).
    assert clocks_of(rule, Trade.LIFT, Severity.MAJOR) == full("15m", "30m", "24h", "default-lift-major")


@pytest.mark.parametrize("rule", ["lift.door_failure", "lift.offline", None])
def test_default_lift_minor_sets_only_resolve(rule: str | None) -> None:
    assert clocks_of(rule, Trade.LIFT, Severity.MINOR) == {"resolve": ("24h", "default-lift-minor")}


def test_default_lift_info_falls_to_other() -> None:
    assert clocks_of("lift.special_mode", Trade.LIFT, Severity.INFO) == {"resolve": ("5wd", "default-other")}


@pytest.mark.parametrize("trade", [Trade.WATER, Trade.ELECTRICAL, Trade.LOW_VOLTAGE, Trade.SECURITY])
def test_default_critical_of_any_other_trade_is_emergency_repair(trade: Trade) -> None:
    # The estate service standard: 急修 on site ≤ 1 h, done ≤ 24 h.
    assert clocks_of("x.any", trade, Severity.CRITICAL) == full("10m", "1h", "24h", "default-emergency")
    assert clocks_of(None, trade, Severity.CRITICAL) == full("10m", "1h", "24h", "default-emergency")


@pytest.mark.parametrize("trade", [Trade.WATER, Trade.ELECTRICAL, Trade.LOW_VOLTAGE, Trade.SECURITY])
def test_default_major_practice(trade: Trade) -> None:
    assert clocks_of("water.pump_fault", trade, Severity.MAJOR) == full("30m", "2h", "24h", "default-major")


def test_default_lamp_out_rule() -> None:
    # Estate service standard (≤ 2 days) and municipal lighting rules (ordinary ≤ 24 h): the
    # stricter, 24 h; no accept/arrive clock.
    for severity in (Severity.INFO, Severity.MINOR):
        assert clocks_of("light.lamp_out", Trade.ELECTRICAL, severity) == {"resolve": ("24h", "default-lamp")}


def test_default_lamp_out_rule_with_major_severity_takes_the_other_clocks_from_major() -> None:
    # Per-step fallback: the rule policy sets only resolve, so accept/arrive come from default-major.
    assert clocks_of("light.lamp_out", Trade.ELECTRICAL, Severity.MAJOR) == {
        "accept": ("30m", "default-major"),
        "arrive": ("2h", "default-major"),
        "resolve": ("24h", "default-lamp"),
    }


@pytest.mark.parametrize("rule", ["light.circuit_lamps", "light.offline", "light.intact_rate"])
def test_other_lighting_faults_are_serious_three_working_days(rule: str) -> None:
    # The estate standard: other faults ≤ 5 working days; the municipal rules: serious ≤ 3. The stricter.
    assert clocks_of(rule, Trade.ELECTRICAL, Severity.MINOR) == {"resolve": ("3wd", "default-lighting")}


def test_lighting_leakage_is_urgent_on_site_within_an_hour() -> None:
    # Municipal lighting rules: urgent ≤ 1 h (on site, as the estate standard's emergency repair).
    assert clocks_of("light.leakage", Trade.ELECTRICAL, Severity.CRITICAL) == full(
        "10m", "1h", "24h", "default-emergency"
    )


def test_lighting_is_the_only_trade_with_three_working_days_for_minor() -> None:
    assert clocks_of(None, Trade.WATER, Severity.MINOR) == {"resolve": ("5wd", "default-other")}


@pytest.mark.parametrize("severity", [Severity.MINOR, Severity.INFO])
@pytest.mark.parametrize("trade", list(Trade))
def test_default_emergency_report_category(trade: Trade, severity: Severity) -> None:
    assert clocks_of(None, trade, severity, EMERGENCY) == full("10m", "1h", "24h", "default-emergency-report")


def test_default_emergency_report_beats_trade_and_severity() -> None:
    # Category (4) outranks trade+severity (3): a lift major report in the emergency category.
    assert clocks_of(None, Trade.LIFT, Severity.MAJOR, EMERGENCY) == full(
        "10m", "1h", "24h", "default-emergency-report"
    )


def test_default_simple_lighting_category() -> None:
    assert clocks_of(None, Trade.ELECTRICAL, Severity.MINOR, SIMPLE_LIGHTING) == {
        "resolve": ("24h", "default-lamp-report")
    }


def test_default_common_area_category() -> None:
    # The estate service standard: common-area repair complaints completed ≤ 3 working days.
    assert clocks_of(None, Trade.WATER, Severity.MINOR, COMMON_AREA) == {
        "resolve": ("3wd", "default-common-area")
    }


def test_category_report_with_major_severity_mixes_steps() -> None:
    # common_area sets only resolve; a major report still gets the major accept/arrive clocks.
    assert clocks_of(None, Trade.WATER, Severity.MAJOR, COMMON_AREA) == {
        "accept": ("30m", "default-major"),
        "arrive": ("2h", "default-major"),
        "resolve": ("3wd", "default-common-area"),
    }


@pytest.mark.parametrize(
    ("rule", "trade", "severity", "category"),
    [
        ("water.cleaning_overdue", Trade.WATER, Severity.MINOR, None),
        ("cctv.offline", Trade.LOW_VOLTAGE, Severity.MINOR, None),
        ("access.held_open", Trade.LOW_VOLTAGE, Severity.INFO, None),
        (None, Trade.SECURITY, Severity.MINOR, None),
        (None, Trade.WATER, Severity.MINOR, "unknown_category"),
        ("light.on_in_daylight", Trade.ELECTRICAL, Severity.INFO, None),  # energy, not a fault
    ],
)
def test_default_everything_else(
    rule: str | None, trade: Trade, severity: Severity, category: str | None
) -> None:
    # The estate service standard: other faults ≤ 5 working days; no accept or arrive clock.
    assert clocks_of(rule, trade, severity, category) == {"resolve": ("5wd", "default-other")}


# --- select_clocks: specificity, fallback, ties ------------------------------------------------


def policy(id_: str, **kw: object) -> SlaPolicy:
    return SlaPolicy.model_validate({"id": id_, **kw})


def test_no_policies_no_clocks() -> None:
    assert select_clocks([], rule="r", trade=Trade.LIFT, severity=Severity.CRITICAL) == {}


def test_no_matching_policy_no_clocks() -> None:
    policies = [policy("water-only", trade="water", resolve="1h")]
    assert select_clocks(policies, rule=None, trade=Trade.LIFT, severity=Severity.MINOR) == {}


def test_per_step_fallback_to_less_specific_policies() -> None:
    policies = [
        policy("catch-all", accept="1h", arrive="4h", resolve="5wd"),
        policy("by-trade", trade="water", resolve="2d"),
        policy("by-rule", rules=["water.flooding"], arrive="20m"),
    ]
    assert clocks_of("water.flooding", Trade.WATER, Severity.MINOR, policies=policies) == {
        "accept": ("1h", "catch-all"),
        "arrive": ("20m", "by-rule"),
        "resolve": ("2d", "by-trade"),
    }


def test_more_specific_arrive_only_policy_over_the_defaults() -> None:
    estate = [policy("fast-arrival", trade="lift", severity="critical", arrive="15m")]
    assert clocks_of(None, Trade.LIFT, Severity.CRITICAL, policies=[*estate, *DEFAULT_POLICIES]) == {
        "accept": ("5m", "default-lift-critical"),
        "arrive": ("15m", "fast-arrival"),
        "resolve": ("24h", "default-lift-critical"),
    }


def test_inventory_policy_before_defaults_wins_a_tie() -> None:
    estate = [
        policy("lift-critical", trade="lift", severity="critical", accept="2m", arrive="20m", resolve="4h")
    ]
    assert clocks_of(None, Trade.LIFT, Severity.CRITICAL, policies=[*estate, *DEFAULT_POLICIES]) == full(
        "2m", "20m", "4h", "lift-critical"
    )
    # Put after the defaults, the default wins the same tie: order, not the id, decides.
    assert clocks_of(None, Trade.LIFT, Severity.CRITICAL, policies=[*DEFAULT_POLICIES, *estate]) == full(
        "5m", "30m", "24h", "default-lift-critical"
    )


def test_inventory_catch_all_before_defaults_wins_only_the_catch_all_tie() -> None:
    estate = [policy("estate-other", resolve="10wd")]
    merged = [*estate, *DEFAULT_POLICIES]
    assert clocks_of(None, Trade.WATER, Severity.MINOR, policies=merged) == {
        "resolve": ("10wd", "estate-other")
    }
    # A more specific default still beats it.
    assert clocks_of(None, Trade.WATER, Severity.MAJOR, policies=merged) == full(
        "30m", "2h", "24h", "default-major"
    )


def test_tie_goes_to_the_earlier_policy_at_each_specificity() -> None:
    for spec in ({}, {"trade": "lift"}, {"severity": "minor"}, {"trade": "lift", "severity": "minor"}):
        first, second = policy("first", resolve="1h", **spec), policy("second", resolve="2h", **spec)
        assert clocks_of(None, Trade.LIFT, Severity.MINOR, policies=[first, second]) == {
            "resolve": ("1h", "first")
        }
        assert clocks_of(None, Trade.LIFT, Severity.MINOR, policies=[second, first]) == {
            "resolve": ("2h", "second")
        }


def test_specificity_ladder() -> None:
    # Each later policy is more specific than the one before; each is listed first so order alone
    # would favour the less specific one.
    ladder = [
        policy("any", resolve="9h"),
        policy("severity", severity="minor", resolve="8h"),
        policy("trade", trade="lift", resolve="7h"),
        policy("trade-severity", trade="lift", severity="minor", resolve="6h"),
        policy("category", category="common_area", resolve="5h"),
        policy("rule", rules=["lift.door_failure"], resolve="4h"),
    ]
    for n in range(1, len(ladder) + 1):
        head = ladder[:n]
        winner = head[-1]
        policies = [*reversed(head[:-1]), winner]  # the winner last
        got = clocks_of("lift.door_failure", Trade.LIFT, Severity.MINOR, "common_area", policies=policies)
        assert got == {"resolve": (str(winner.resolve), winner.id)}


def test_rule_policy_beats_trade_and_severity() -> None:
    policies = [
        policy("lift-critical", trade="lift", severity="critical", accept="5m", arrive="30m", resolve="4h"),
        policy("overtravel", rules=["lift.overtravel"], resolve="8h"),
    ]
    assert clocks_of("lift.overtravel", Trade.LIFT, Severity.CRITICAL, policies=policies) == {
        "accept": ("5m", "lift-critical"),
        "arrive": ("30m", "lift-critical"),
        "resolve": ("8h", "overtravel"),
    }
    # Another rule of the same trade and severity does not get it.
    assert clocks_of("lift.unintended_movement", Trade.LIFT, Severity.CRITICAL, policies=policies) == full(
        "5m", "30m", "4h", "lift-critical"
    )


def test_rule_policy_beats_category_policy() -> None:
    policies = [
        policy("report", category="emergency", resolve="24h"),
        policy("flood", rules=["water.flooding"], resolve="6h"),
    ]
    got = clocks_of("water.flooding", Trade.WATER, Severity.CRITICAL, EMERGENCY, policies=policies)
    assert got == {"resolve": ("6h", "flood")}


def test_category_beats_trade_and_severity() -> None:
    policies = [
        policy("water-minor", trade="water", severity="minor", resolve="1d"),
        policy("common", category="common_area", resolve="3wd"),
    ]
    assert clocks_of(None, Trade.WATER, Severity.MINOR, COMMON_AREA, policies=policies) == {
        "resolve": ("3wd", "common")
    }


def test_trade_alone_beats_severity_alone() -> None:
    policies = [policy("minor", severity="minor", resolve="1h"), policy("lift", trade="lift", resolve="2h")]
    assert clocks_of(None, Trade.LIFT, Severity.MINOR, policies=policies) == {"resolve": ("2h", "lift")}


def test_category_policy_only_matches_that_category() -> None:
    policies = [policy("common", category="common_area", resolve="3wd")]
    assert clocks_of(None, Trade.WATER, Severity.MINOR, COMMON_AREA, policies=policies) == {
        "resolve": ("3wd", "common")
    }
    assert clocks_of(None, Trade.WATER, Severity.MINOR, None, policies=policies) == {}
    assert clocks_of(None, Trade.WATER, Severity.MINOR, EMERGENCY, policies=policies) == {}
    assert clocks_of("water.level_low", Trade.WATER, Severity.MINOR, policies=policies) == {}


@pytest.mark.parametrize("category", [None, *CATEGORIES])
def test_rule_policy_never_matches_an_order_without_rule(category: str | None) -> None:
    policies = [policy("flood", rules=["water.flooding"], accept="1m", arrive="2m", resolve="3m")]
    assert clocks_of(None, Trade.WATER, Severity.CRITICAL, category, policies=policies) == {}


def test_rule_policy_with_several_rules_matches_each_and_only_those() -> None:
    policies = [policy("pair", rules=["a.one", "a.two"], resolve="1h"), policy("rest", resolve="2h")]
    assert clocks_of("a.one", Trade.LIFT, Severity.MINOR, policies=policies) == {"resolve": ("1h", "pair")}
    assert clocks_of("a.two", Trade.LIFT, Severity.MINOR, policies=policies) == {"resolve": ("1h", "pair")}
    assert clocks_of("a.three", Trade.LIFT, Severity.MINOR, policies=policies) == {"resolve": ("2h", "rest")}
    assert clocks_of("a", Trade.LIFT, Severity.MINOR, policies=policies) == {"resolve": ("2h", "rest")}


def test_trade_and_severity_must_both_match() -> None:
    policies = [policy("lift-critical", trade="lift", severity="critical", resolve="4h")]
    assert clocks_of(None, Trade.LIFT, Severity.MAJOR, policies=policies) == {}
    assert clocks_of(None, Trade.WATER, Severity.CRITICAL, policies=policies) == {}
    assert clocks_of(None, Trade.LIFT, Severity.CRITICAL, policies=policies) == {
        "resolve": ("4h", "lift-critical")
    }


def test_select_clocks_accepts_any_iterable_once() -> None:
    # A generator is consumed once; the result must still be complete.
    gen = (p for p in DEFAULT_POLICIES)
    clocks = select_clocks(gen, rule=None, trade=Trade.WATER, severity=Severity.MAJOR)
    assert {s: c.policy for s, c in clocks.items()} == dict.fromkeys(Step, "default-major")


def test_sunrise_estate_policies_with_defaults() -> None:
    # The sample estate's own policies (devices/samples/sunrise.yaml), ahead of the defaults.
    estate = [
        policy("lift-critical", trade="lift", severity="critical", accept="5m", arrive="30m", resolve="4h"),
        policy("emergency", severity="critical", accept="10m", arrive="1h", resolve="24h"),
        policy(
            "lighting-minor", trade="electrical", severity="minor", accept="2h", arrive="1d", resolve="3wd"
        ),
    ]
    merged = [*estate, *DEFAULT_POLICIES]
    assert clocks_of("lift.overtravel", Trade.LIFT, Severity.CRITICAL, policies=merged) == full(
        "5m", "30m", "4h", "lift-critical"
    )
    assert clocks_of("water.flooding", Trade.WATER, Severity.CRITICAL, policies=merged) == full(
        "10m", "1h", "24h", "emergency"
    )
    assert clocks_of("light.leakage", Trade.ELECTRICAL, Severity.MINOR, policies=merged) == full(
        "2h", "1d", "3wd", "lighting-minor"
    )
    # Rule-specific defaults outrank the estate's trade+severity figures (by design: specificity
    # first, order only at a tie): an entrapment keeps the default 24h resolve, not the estate's 4h,
    # and a lamp out keeps 24h, not 3wd, while accept/arrive fall back to the estate's policy.
    assert clocks_of("lift.entrapment", Trade.LIFT, Severity.CRITICAL, policies=merged) == full(
        "5m", "30m", "24h", "default-lift-entrapment"
    )
    assert clocks_of("light.lamp_out", Trade.ELECTRICAL, Severity.MINOR, policies=merged) == {
        "accept": ("2h", "lighting-minor"),
        "arrive": ("1d", "lighting-minor"),
        "resolve": ("24h", "default-lamp"),
    }


def test_an_estate_policy_comes_before_the_inventory_one_even_when_less_specific() -> None:
    # Every figure a default an operator may change per estate. The estate's own
    # catch-all beats the inventory's trade+severity policy; estates without one keep the latter.
    inventory = [policy("lift-major", trade="lift", severity="major", resolve="12h")]
    estate = [policy("sunrise-all", resolve="6h")]

    def resolve(own: list[SlaPolicy]) -> tuple[str, str]:
        clocks = select_clocks(
            inventory,
            estate=own,
            defaults=DEFAULT_POLICIES,
            rule=None,
            trade=Trade.LIFT,
            severity=Severity.MAJOR,
        )
        c = clocks[Step.RESOLVE]
        return f"{c.duration.amount}{c.duration.unit.value}", c.policy

    assert resolve(estate) == ("6h", "sunrise-all")
    assert resolve([]) == ("12h", "lift-major")
