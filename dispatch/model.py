"""Work orders as crews and operators see them (docs/contract.md §7): state, deadlines, history.

An order runs ``open → assigned → accepted → on_site → resolved → closed`` (or ``cancelled``).
Three deadline clocks — accept, arrive, resolve — start when the order is created (a
reassignment restarts the accept clock for the new crew); a clock that runs out is ``breached``,
once. Every change is a history entry with who and when.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from alerts.model import Note, Noted, NoteParam, note_fields
from devices.base import Severity, Trade


class OrderState(StrEnum):
    OPEN = "open"  # no crew could be found: an operator assigns one
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    ON_SITE = "on_site"
    RESOLVED = "resolved"  # the crew says it is fixed; a device order waits for its telemetry
    CLOSED = "closed"
    CANCELLED = "cancelled"


#: States in which a crew still has something to do (or telemetry has still to confirm).
LIVE_STATES = frozenset(
    {OrderState.OPEN, OrderState.ASSIGNED, OrderState.ACCEPTED, OrderState.ON_SITE, OrderState.RESOLVED}
)


class Step(StrEnum):
    """The three deadline clocks, in the order a crew meets them."""

    ACCEPT = "accept"
    ARRIVE = "arrive"
    RESOLVE = "resolve"


#: The state an order reaches when a step is done.
STEP_STATE = {
    Step.ACCEPT: OrderState.ACCEPTED,
    Step.ARRIVE: OrderState.ON_SITE,
    Step.RESOLVE: OrderState.RESOLVED,
}


class OrderAction(StrEnum):
    CREATE = "create"
    ASSIGN = "assign"
    REASSIGN = "reassign"
    ACCEPT = "accept"
    ARRIVE = "arrive"
    RESOLVE = "resolve"
    CLOSE = "close"
    CANCEL = "cancel"
    REOPEN = "reopen"
    BREACH = "breach"
    ESCALATE = "escalate"
    LINK = "link"  # another alert of the same device joined the order
    SEVERITY = "severity"


class Source(StrEnum):
    ALERT = "alert"  # created automatically by the rule's dispatch policy
    OPERATOR = "operator"  # an operator dispatched an alert
    REPORT = "report"  # a manual report, e.g. a resident's 报修 entered by staff
    PLAN = "plan"  # planned (preventive) maintenance from the equipment ledger (assets/)


class OrderKind(StrEnum):
    """Preventive maintenance is shown apart from breakdowns (the board, the crew page)."""

    BREAKDOWN = "breakdown"
    MAINTENANCE = "maintenance"


@dataclass(frozen=True)
class OrderEntry(Noted):
    at: datetime
    by: str
    action: OrderAction
    note: str = ""
    code: str = ""
    params: dict[str, NoteParam] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "by": self.by, "action": self.action.value, **self.note_json()}


@dataclass
class WorkOrder:
    id: int
    estate: str
    building: str | None
    device: str | None
    alert: int | None
    #: The alert key (``estate/device/rule``) the order repairs: a repeat of it reopens the order.
    alert_key: str | None
    rule: str | None
    trade: Trade
    crew: str | None
    severity: Severity
    state: OrderState
    title: str
    description: str
    source: Source
    category: str | None
    created_at: datetime
    accept_due: datetime | None = None
    arrive_due: datetime | None = None
    resolve_due: datetime | None = None
    accepted_at: datetime | None = None
    arrived_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    breached: list[Step] = field(default_factory=list)
    #: Crews this order has been with, in order: escalation goes to one not tried yet.
    crews_tried: list[str] = field(default_factory=list)
    reopened: int = 0
    history: list[OrderEntry] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def kind(self) -> OrderKind:
        return OrderKind.MAINTENANCE if self.source is Source.PLAN else OrderKind.BREAKDOWN

    def due(self, step: Step) -> datetime | None:
        return {Step.ACCEPT: self.accept_due, Step.ARRIVE: self.arrive_due, Step.RESOLVE: self.resolve_due}[
            step
        ]

    def done_at(self, step: Step) -> datetime | None:
        return {Step.ACCEPT: self.accepted_at, Step.ARRIVE: self.arrived_at, Step.RESOLVE: self.resolved_at}[
            step
        ]

    def set_due(self, step: Step, when: datetime | None) -> None:
        setattr(self, f"{step.value}_due", when)

    def set_done(self, step: Step, when: datetime | None) -> None:
        done = {Step.ACCEPT: "accepted_at", Step.ARRIVE: "arrived_at", Step.RESOLVE: "resolved_at"}[step]
        setattr(self, done, when)

    def record(self, at: datetime, by: str, action: OrderAction, note: str | Note = "") -> OrderEntry:
        entry = OrderEntry(at, by, action, *note_fields(note))
        self.history.append(entry)
        return entry

    def to_json(self, *, with_history: bool = True) -> dict[str, Any]:
        """The work-order JSON of docs/contract.md §7, with when each step was done."""
        body: dict[str, Any] = {
            "id": self.id,
            "estate": self.estate,
            "building": self.building,
            "device": self.device,
            "alert": self.alert,
            "rule": self.rule,
            "trade": self.trade.value,
            "crew": self.crew,
            "severity": self.severity.value,
            "state": self.state.value,
            "title": self.title,
            # An order from an alert is titled with the alert's zh-CN message and described by
            # its English one: the English page shows that as the title.
            "title_en": self.title if self.source is Source.REPORT else self.description or self.title,
            "description": self.description,
            "source": self.source.value,
            "kind": self.kind.value,
            "category": self.category,
            "created_at": self.created_at.isoformat(),
            "deadlines": {step.value: _iso(self.due(step)) for step in Step},
            "done": {step.value: _iso(self.done_at(step)) for step in Step},
            "closed_at": _iso(self.closed_at),
            "breached": [step.value for step in self.breached],
            "reopened": self.reopened,
        }
        if with_history:
            body["history"] = [h.to_json() for h in self.history]
        return body


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None
