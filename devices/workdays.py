"""The working-day calendar of China: official holidays and make-up working days (调休).

The source is the ``chinesecalendar`` package (import ``chinese_calendar``), which carries the
State Council's schedule for each year it knows; the inventory's own ``holidays`` / ``workdays``
lists override it day by day. A year the package does not know (its schedule is published each
November, so the next year is often missing in December) is never silently Monday–Friday: it is
computed **conservatively**, so that no working-day deadline falls earlier than it really is:

- only Monday to Friday can be working days (a make-up Saturday or Sunday is not counted);
- every day that was an official holiday in any of the last three covered years, by month and
  day, is a day off (this covers the fixed holidays and the spread of the lunar ones — Spring
  Festival, Qingming, Dragon Boat, Mid-Autumn — that move by a few weeks from year to year).

A deadline computed so can only be later than the real one (more days off), never earlier: a crew
is never shown as late because the calendar ran out. ``check-config`` warns about such a year and
the gateway raises the info alarm ``calendar.coverage_ending`` 60 days before coverage ends.

Pure data, no I/O: the package's tables are loaded once, on first use.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta

import chinese_calendar

#: How many covered years lend their holidays to the conservative pattern of an uncovered one.
PATTERN_YEARS = 3
#: The info alarm is raised this long before the calendar's coverage ends.
WARN_BEFORE = timedelta(days=60)


@functools.cache
def package_years() -> tuple[int, int]:
    """The first and last year the package's schedule covers."""
    days = chinese_calendar.holidays.keys() | chinese_calendar.workdays.keys()
    years = {day.year for day in days}
    return min(years), max(years)


def package_covers(year: int) -> bool:
    first, last = package_years()
    return first <= year <= last


@functools.cache
def _fallback_days_off() -> frozenset[tuple[int, int]]:
    """(month, day) of every official holiday in the last ``PATTERN_YEARS`` covered years."""
    _, last = package_years()
    years = range(last - PATTERN_YEARS + 1, last + 1)
    return frozenset((d.month, d.day) for d in chinese_calendar.holidays if d.year in years)


def package_working_day(day: date) -> bool:
    """The package's answer for a covered year, the conservative one for any other."""
    if package_covers(day.year):
        return bool(chinese_calendar.is_workday(day))
    return day.weekday() < 5 and (day.month, day.day) not in _fallback_days_off()


def coverage_end(own_years: frozenset[int], today: date) -> date | None:
    """The last day of the run of covered years that starts with ``today``'s year (None when that
    year itself is not covered). A year is covered by the package or by the inventory's own lists
    (``own_years``: the years in which the inventory names at least one holiday)."""
    year = today.year
    if not (package_covers(year) or year in own_years):
        return None
    while package_covers(year + 1) or year + 1 in own_years:
        year += 1
    return date(year, 12, 31)
