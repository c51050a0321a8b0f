"""Bounded API parameters: ids, instants and periods that a request may name.

Every id is a positive integer up to 2,147,483,647, what every id column holds (SQL ``INTEGER``,
PostgreSQL's 4-byte ``integer``): a larger one is a 422, never a database overflow (a 500); every
instant lies in [2000-01-01, 2100-01-01) (0001 or 9999 is a 422, not an overflow in a later
``- timedelta``); a period is ordered and at most ``MAX_PERIOD`` long, so no request can ask for
a millennium of work (issue 20: a 1,000-year KPI request held the alarms for 32 s).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import HTTPException, Path, Query
from pydantic import AfterValidator

MAX_ID = 2**31 - 1
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_PERIOD = timedelta(days=400)
#: The most items a list answers with at once (devices, dead letters): the rest is a page away.
MAX_PAGE = 1000


def _in_range(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("needs a UTC offset, e.g. 2026-11-22T08:00:00+08:00")
    if not EARLIEST <= value < LATEST:
        raise ValueError("must lie between 2000-01-01 and 2100-01-01")
    return value


def _day_in_range(value: date) -> date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError("must lie between 2000-01-01 and 2100-01-01")
    return value


#: An instant a request may name (ISO 8601 with offset).
Instant = Annotated[datetime, AfterValidator(_in_range)]
#: A local date a request may name (YYYY-MM-DD).
Day = Annotated[date, AfterValidator(_day_in_range)]
AlertId = Annotated[int, Path(ge=1, le=MAX_ID, description="An alert's id")]
OrderId = Annotated[int, Path(ge=1, le=MAX_ID, description="A work order's id")]
BeforeId = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Page back from this id")]
#: How many items a page holds (the default is the route's).
PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Items in this page, 1 to {MAX_PAGE}")]


def period(
    start: datetime | None, stop: datetime | None, now: datetime, default: timedelta = timedelta(hours=24)
) -> tuple[datetime, datetime]:
    """``(start, stop)``: stop defaults to ``now``, start to ``default`` before stop; a 422 (with
    a message naming the parameter) unless each has its offset and lies in range, start < stop and
    the period is at most 400 days."""
    for name, value in (("start", start), ("stop", stop)):
        if value is not None:
            try:
                _in_range(value)
            except ValueError as exc:
                raise HTTPException(422, f"{name} {exc}") from None
    stop = stop or now
    start = start or max(stop - default, EARLIEST)
    if start >= stop:
        raise HTTPException(422, "start must be before stop")
    if stop - start > MAX_PERIOD:
        raise HTTPException(422, f"a period is at most {MAX_PERIOD.days} days: ask for it in parts")
    return start, stop
