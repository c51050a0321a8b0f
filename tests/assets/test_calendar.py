"""The working-day calendar from chinesecalendar (2026), the inventory's lists (2027), and a year
neither covers: conservative deadlines, the check-config warning and the info alarm."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from assets.model import CALENDAR_RULE
from devices.base import Severity
from devices.inventory import DurationUnit, HolidayCalendar, SlaDuration
from devices.workdays import package_covers
from dispatch.deadlines import add_duration
from estate_gateway.cli import calendar_warnings
from tests.assets.test_year import _sample

SHANGHAI = ZoneInfo("Asia/Shanghai")
CST = timezone(timedelta(hours=8))
PACKAGE = HolidayCalendar()
#: 2027 as an operator would list it before the package has it (hypothetical schedule: the
#: National Day week and a make-up Saturday, 9 Oct).
LISTS_2027 = HolidayCalendar.model_validate(
    {"holidays": [f"2027-10-0{d}" for d in range(1, 8)], "workdays": ["2027-10-09"]}
)


def wd(start: datetime, amount: int, calendar: HolidayCalendar) -> datetime:
    return add_duration(start, SlaDuration(amount, DurationUnit.WORKING_DAYS), SHANGHAI, calendar)


def cst(*args: int) -> datetime:
    return datetime(*args, tzinfo=CST)


@pytest.mark.parametrize(
    ("start", "amount", "due"),
    [
        # National Day 2026: 1-7 Oct off, Thu 8 and Fri 9 work, Sat 10 Oct is a make-up working day.
        (cst(2026, 9, 30, 10), 3, cst(2026, 10, 11)),
        # Spring Festival 2026: Sat 14 Feb is a make-up working day, 15-23 Feb off.
        (cst(2026, 2, 13, 10), 1, cst(2026, 2, 15)),
        (cst(2026, 2, 13, 10), 2, cst(2026, 2, 25)),  # Tue 24 Feb is the next one
        # Mid-Autumn 2026 (25-27 Sep) and the make-up Sunday 20 Sep.
        (cst(2026, 9, 19, 10), 1, cst(2026, 9, 21)),
        (cst(2026, 9, 24, 10), 1, cst(2026, 9, 29)),  # Fri 25 off, weekend off: Mon 28
    ],
)
def test_2026_deadlines_come_from_the_package(start: datetime, amount: int, due: datetime) -> None:
    assert package_covers(2026)
    assert wd(start, amount, PACKAGE) == due


def test_2027_from_the_inventory_lists_override_the_package() -> None:
    # Thu 30 Sep: Oct 1-7 off (listed), Fri 8 works (Mon-Fri), Sat 9 listed make-up day, Mon 11.
    assert wd(cst(2027, 9, 30, 10), 3, LISTS_2027) == cst(2027, 10, 12)


def test_an_uncovered_year_is_conservative_never_plain_monday_to_friday() -> None:
    assert not package_covers(2027)  # chinesecalendar 1.11 ends with 2026: this is the real case
    # Plain Mon-Fri would give Mon 4 Oct. Conservatively 1-8 Oct are off (2024-2026 holidays by
    # date: 2025's National Day ran to 8 Oct) and no make-up Saturday counts: Mon 11, Tue 12, Wed 13.
    assert wd(cst(2027, 9, 30, 10), 3, PACKAGE) == cst(2027, 10, 14)
    # New Year 2027: 1-3 Jan off by the pattern, so a Thursday 31 Dec order's first day is Mon 4 Jan.
    assert wd(cst(2026, 12, 31, 10), 1, PACKAGE) == cst(2027, 1, 5)


def test_check_config_warns_when_coverage_ends(tmp_path: Path) -> None:
    h = _sample(tmp_path)
    (warning,) = calendar_warnings(h.inventory, date(2026, 12, 7))
    assert "ends on 2026-12-31" in warning and "conservatively" in warning
    assert calendar_warnings(h.inventory, date(2026, 10, 31)) == []  # 61 days ahead: quiet
    assert "does not cover 2027" in calendar_warnings(h.inventory, date(2027, 3, 1))[0]
    listed = h.inventory.model_copy(update={"calendar": LISTS_2027})
    assert calendar_warnings(listed, date(2027, 3, 1)) == []  # the operator listed 2027


def test_the_gateway_raises_an_info_alarm_60_days_before_coverage_ends(tmp_path: Path) -> None:
    h = _sample(tmp_path)  # from 1 Jan 2026
    key = f"sunrise/-/{CALENDAR_RULE}"
    h.clock.set(datetime(2026, 10, 31, 0, 0, tzinfo=UTC))  # 1 Nov 00:00 is 60 days before 31 Dec
    h.book.tick()
    h.book.flush()
    assert h.book.open_alert(key) is None
    h.clock.advance(timedelta(hours=16))  # 1 Nov, 00:00 local
    h.book.tick()
    h.book.flush()
    alert = h.book.open_alert(key)
    assert alert is not None and alert.severity is Severity.INFO and "2026-12-31" in alert.message_en
