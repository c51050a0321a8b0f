"""Shift handover (交接班): the outgoing operator writes what the next shift takes over — the open
and shelved alarms, overdue work orders and patrol exceptions as they stand (taken by the gateway
at that moment, not typed), and free-text notes — and the incoming operator signs it off. Both
names and times are kept.

A control-room shift is at most 8 hours: when none has been signed for longer than that (and a
grace), an info alarm ``console.handover_missing`` is raised for each estate until one is.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, Text, insert, select, update

from alerts.book import AlertBook, Raise
from alerts.model import alert_key
from alerts.owner import Owner, OwnerBusy
from alerts.store import as_utc, create_tables, ts_column
from devices.base import Severity
from devices.clock import Clock
from devices.inventory import Inventory

log = logging.getLogger(__name__)

SHIFT = timedelta(hours=8)
GRACE = timedelta(minutes=30)
MISSING_RULE = "console.handover_missing"
MISSING_SUBJECT = "handover"

metadata = MetaData()
handovers_t = Table(
    "handovers",
    metadata,
    Column("id", Integer, primary_key=True),
    ts_column("written_at", nullable=False, index=True),
    Column("written_by", String(64), nullable=False),
    Column("estates", Text, nullable=False),  # JSON list; empty: every estate
    Column("notes", Text, nullable=False),
    Column("snapshot", Text, nullable=False),  # JSON: what stood open when it was written
    ts_column("signed_at"),
    Column("signed_by", String(64)),
    Column("sign_note", Text),
)


class HandoverError(Exception):
    """A handover that cannot be signed (already signed, or by its own writer)."""


class HandoverNotFound(HandoverError):
    pass


@dataclass
class Handover:
    id: int
    written_at: datetime
    written_by: str
    estates: list[str]
    notes: str
    snapshot: dict[str, Any]
    signed_at: datetime | None = None
    signed_by: str | None = None
    sign_note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "written_at": self.written_at.isoformat(),
            "written_by": self.written_by,
            "estates": self.estates,
            "notes": self.notes,
            "snapshot": self.snapshot,
            "signed_at": self.signed_at.isoformat() if self.signed_at else None,
            "signed_by": self.signed_by,
            "sign_note": self.sign_note,
        }


def _row(r: Any) -> Handover:
    return Handover(
        r.id,
        as_utc(r.written_at) or r.written_at,
        r.written_by,
        json.loads(r.estates),
        r.notes,
        json.loads(r.snapshot),
        as_utc(r.signed_at),
        r.signed_by,
        r.sign_note,
    )


class HandoverBook:
    """The handovers, stored; and the check that raises the missing-handover alarm."""

    def __init__(
        self,
        engine: Engine,
        book: AlertBook,
        inventory: Inventory,
        clock: Clock,
        *,
        shift: timedelta = SHIFT,
        grace: timedelta = GRACE,
        owner: Owner | None = None,
        timeout_s: float | None = None,
    ) -> None:
        """``shift`` and ``grace``: the settings ``handover_shift_h`` and ``handover_grace_min``;
        ``owner``: the alarm core's (alerts/owner.py), which raises and clears the alarm (none:
        an owner without a thread, which runs it in the caller's); ``timeout_s``: how long a
        signature waits for the core to clear the alarm (the API's ``ESTATE_CORE_TIMEOUT_S``)."""
        self.engine, self.book, self.inventory, self.clock = engine, book, inventory, clock
        self.owner = owner or Owner(book.guard)
        self.timeout_s = timeout_s
        self.shift, self.grace = shift, grace
        create_tables(engine, metadata)
        #: Shifts are counted from the gateway's start when nothing was ever signed.
        self.started = clock.now()

    def write(self, by: str, estates: list[str], notes: str, snapshot: dict[str, Any]) -> Handover:
        now = self.clock.now()
        with self.engine.begin() as conn:
            new_id = conn.execute(
                insert(handovers_t).values(
                    written_at=now,
                    written_by=by,
                    estates=json.dumps(estates),
                    notes=notes,
                    snapshot=json.dumps(snapshot, ensure_ascii=False),
                )
            ).inserted_primary_key
        assert new_id is not None
        return Handover(int(new_id[0]), now, by, estates, notes, snapshot)

    def sign(self, handover_id: int, by: str, note: str) -> Handover:
        found = self.get(handover_id)
        if found is None:
            raise HandoverNotFound(f"no handover {handover_id}")
        if found.signed_at is not None:
            raise HandoverError(f"handover {handover_id} was signed by {found.signed_by} already")
        if found.written_by == by:
            raise HandoverError("the incoming operator signs a handover, not the one who wrote it")
        now = self.clock.now()
        t = handovers_t
        with self.engine.begin() as conn:
            done = conn.execute(
                update(t)
                .where(t.c.id == handover_id, t.c.signed_at.is_(None))
                .values(signed_at=now, signed_by=by, sign_note=note)
            ).rowcount
        if done != 1:  # signed meanwhile by someone else
            raise HandoverError(f"handover {handover_id} was signed already")
        try:
            self.check(self.timeout_s)
        except OwnerBusy:  # the signature is stored: the next check (housekeeping) clears the alarm
            log.warning(
                "handover %s signed; the alarm core is busy, its alarm clears at the next check", handover_id
            )
        return Handover(**{**vars(found), "signed_at": now, "signed_by": by, "sign_note": note})

    def get(self, handover_id: int) -> Handover | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(handovers_t).where(handovers_t.c.id == handover_id)).first()
        return _row(r) if r is not None else None

    def query(self, start: datetime, stop: datetime, limit: int) -> list[Handover]:
        t = handovers_t
        stmt = (
            select(t)
            .where(t.c.written_at >= start, t.c.written_at < stop)
            .order_by(t.c.written_at.desc(), t.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(stmt)]

    def last_signed(self) -> datetime | None:
        t = handovers_t
        with self.engine.connect() as conn:
            found = conn.execute(select(t.c.signed_at).order_by(t.c.signed_at.desc()).limit(1)).scalar()
        return as_utc(found)

    def check(self, timeout_s: float | None = None) -> int:
        """Raise the missing-handover alarm for every estate when no handover was signed in the
        last shift (``shift`` and ``grace``, 8 h and 30 min by default), or clear it. A
        housekeeping job (waiting for the core as long as it takes): returns 0 (drops nothing)."""
        since = self.last_signed() or self.started  # read here; the alarm is the owner's
        self.owner.call(lambda: self._alarm(since), timeout_s)
        return 0

    def _alarm(self, since: datetime) -> None:
        now = self.clock.now()
        missing = now - since > self.shift + self.grace
        hours = f"{self.shift.total_seconds() / 3600:g}"
        for estate in self.inventory.estates:
            key = alert_key(estate.id, None, MISSING_RULE, MISSING_SUBJECT)
            open_ = self.book.open_alert(key)
            if missing and (open_ is None or not open_.active):
                local = since.astimezone(estate.tz)
                self.book.raise_(
                    Raise(
                        estate.id,
                        None,
                        None,
                        None,
                        MISSING_RULE,
                        Severity.INFO,
                        f"自 {local:%m-%d %H:%M} 起超过 {hours} 小时未签署交接班",
                        f"No shift handover signed since {local:%m-%d %H:%M} (over {hours} h)",
                        subject=MISSING_SUBJECT,
                    )
                )
            elif not missing and open_ is not None and open_.active:
                self.book.clear(key, note="交接班已签署 / handover signed")
        self.book.flush()
