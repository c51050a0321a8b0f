"""Alerts as operators see them (docs/contract.md §5), with the ISA-18.2 state derived from a few facts.

An alert is open until closed; there is at most one open alert per key ``estate/device/rule``.
Its ``state`` is never stored as a free string: it follows from whether the condition is still
present (``active``), whether someone acknowledged it, and whether it is closed, shelved or
suppressed — so it cannot lie.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from devices.base import Severity


class AlertState(StrEnum):
    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"
    CLOSED = "closed"
    SHELVED = "shelved"
    SUPPRESSED = "suppressed"


class Action(StrEnum):
    """What happened to an alert: the ``action`` of a history entry and of a notification."""

    RAISE = "raise"
    REPEAT = "repeat"
    REACTIVATE = "reactivate"
    CLEAR = "clear"
    ACK = "ack"
    CLOSE = "close"
    SHELVE = "shelve"
    UNSHELVE = "unshelve"
    SUPPRESS = "suppress"
    UNSUPPRESS = "unsuppress"
    ESCALATE = "escalate"
    CHATTERING = "chattering"
    SEVERITY = "severity"
    DISPATCH = "dispatch"


SYSTEM = "system"


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    by: str
    action: Action
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "by": self.by, "action": self.action.value, "note": self.note}


def alert_key(estate: str, device: str | None, rule: str, subject: str | None = None) -> str:
    """``estate/device/rule``; an alert about no device names its ``subject`` instead (a patrol
    round, ``plan/day/window/n[/checkpoint]``), or ``-`` when estate-wide."""
    return f"{estate}/{device or subject or '-'}/{rule}"


@dataclass
class Alert:
    id: int
    estate: str
    building: str | None
    device: str | None
    kind: str | None
    rule: str
    severity: Severity
    message: str
    message_en: str
    raised_at: datetime
    active: bool = True
    acknowledged: bool = False
    count: int = 1
    cleared_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    work_order: int | None = None
    closed_at: datetime | None = None
    shelved_until: datetime | None = None
    shelve_reason: str | None = None
    suppressed_by: str | None = None
    escalate_at: datetime | None = None
    escalated: bool = False
    chattering: bool = False
    #: Latched alerts (e.g. a lift's unintended movement) never clear by themselves.
    latched: bool = False
    #: What the alert is about when it is not a device (a patrol round): part of its key.
    subject: str | None = None
    history: list[HistoryEntry] = field(default_factory=list)

    @property
    def key(self) -> str:
        return alert_key(self.estate, self.device, self.rule, self.subject)

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def state(self) -> AlertState:
        if self.closed_at is not None:
            return AlertState.CLOSED
        if self.shelved_until is not None:
            return AlertState.SHELVED
        if self.suppressed_by is not None:
            return AlertState.SUPPRESSED
        if self.active:
            return AlertState.ACKNOWLEDGED if self.acknowledged else AlertState.ACTIVE
        return AlertState.CLEARED

    @property
    def annunciated(self) -> bool:
        """Shown to operators as needing attention (not shelved, suppressed or closed)."""
        return self.state in (AlertState.ACTIVE, AlertState.ACKNOWLEDGED, AlertState.CLEARED)

    def record(self, at: datetime, by: str, action: Action, note: str = "") -> HistoryEntry:
        entry = HistoryEntry(at, by, action, note)
        self.history.append(entry)
        return entry

    def to_json(self, *, with_history: bool = False) -> dict[str, Any]:
        """The alert JSON of docs/contract.md §5 (``history`` only on the single-alert endpoint)."""
        body: dict[str, Any] = {
            "id": self.id,
            "key": self.key,
            "estate": self.estate,
            "building": self.building,
            "device": self.device,
            "kind": self.kind,
            "rule": self.rule,
            "severity": self.severity.value,
            "state": self.state.value,
            "active": self.active,
            "acknowledged": self.acknowledged,
            "count": self.count,
            "message": self.message,
            "message_en": self.message_en,
            "raised_at": self.raised_at.isoformat(),
            "cleared_at": _iso(self.cleared_at),
            "acknowledged_at": _iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "work_order": self.work_order,
        }
        if with_history:
            body["history"] = [h.to_json() for h in self.history]
        return body


def notification(alert: Alert, actions: Sequence[Action]) -> dict[str, Any]:
    """What is published of an alert after a batch of changes: its JSON as it now stands, every
    ``action`` that led there in order (``actions``, a run of one action as one), and the first that
    is not a repeat as ``action`` (a raise that came with its work order is ``raise``)."""
    return {
        **alert.to_json(),
        "action": next((a for a in actions if a is not Action.REPEAT), Action.REPEAT).value,
        "actions": [a.value for a in actions],
    }


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None
