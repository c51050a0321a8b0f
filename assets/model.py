"""Maintenance records and the schedule of each asset's plans."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

OVERDUE_RULE = "maintenance.overdue"
CERT_EXPIRED_RULE = "asset.certificate_expired"
CERT_EXPIRING_RULE = "asset.certificate_expiring"
CALENDAR_RULE = "calendar.coverage_ending"
#: A certificate is warned about this many days before it expires.
CERT_WARN_DAYS = 30

PlanKey = tuple[str, str, str]  # (estate, asset, plan)


@dataclass
class PlanState:
    """Where one asset's plan stands: counted from ``since``, due ``due``, the order made for it.
    ``recorded``: ``since`` is a record's date (else the day the ledger first saw the asset, or its
    install date: the first record, even of an earlier day, counts from its own date)."""

    estate: str
    asset: str
    plan: str
    since: date
    due: date
    order: int | None = None
    overdue: bool = False
    recorded: bool = False

    @property
    def key(self) -> PlanKey:
        return (self.estate, self.asset, self.plan)

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "last_done": self.since.isoformat(),  # or, before any record, what it counts from
            "recorded": self.recorded,
            "next_due": self.due.isoformat(),
            "work_order": self.order,
            "overdue": self.overdue,
        }


@dataclass
class Record:
    """What a crew (or a device's own event) did to an asset: a line of the ledger."""

    id: int
    estate: str
    asset: str
    plan: str | None
    task: str
    done_on: date
    at: datetime
    by: str
    source: str  # crew | device
    work_order: int | None = None
    readings: dict[str, float] = field(default_factory=dict)
    note: str = ""
    next_due: date | None = None
    photo: str | None = None  # a file name under the data dir's photos/, never the bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "estate": self.estate,
            "asset": self.asset,
            "plan": self.plan,
            "task": self.task,
            "done_on": self.done_on.isoformat(),
            "at": self.at.isoformat(),
            "by": self.by,
            "source": self.source,
            "work_order": self.work_order,
            "readings": dict(self.readings),
            "note": self.note,
            "next_due": self.next_due.isoformat() if self.next_due else None,
            "photo": self.photo is not None,
        }
