"""Alerts as operators see them (docs/contract.md §5), with the ISA-18.2 state derived from a few facts.

An alert is open until closed; there is at most one open alert per key ``estate/device/rule``.
Its ``state`` is never stored as a free string: it follows from whether the condition is still
present (``active``), whether someone acknowledged it, and whether it is closed, shelved or
suppressed — so it cannot lie.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from copy import copy as copy_of
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

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


NoteParam = str | int | float


@dataclass(frozen=True)
class Note:
    """A history note the gateway itself writes: a ``code`` the console says in the page's language
    (``note.<code>`` in api/static/i18n.js) with its ``params``, and the English ``text`` kept for
    API clients and anything that reads notes as text (docs/contract.md §5, "History notes")."""

    code: str
    params: dict[str, NoteParam]
    text: str


def encode_note(note: str | Note) -> str:
    """The stored form of a note: plain text, or for a coded note a JSON object ``{"code",
    "params", "text"}`` in the same column, so old rows (text) read as they always did. A person's
    note that happens to look like such an object is stored wrapped (code ""), never misread."""
    if isinstance(note, Note) and note.code:
        return json.dumps({"code": note.code, "params": note.params, "text": note.text}, ensure_ascii=False)
    text = note.text if isinstance(note, Note) else note
    if text.startswith(_CODED):
        return json.dumps({"code": "", "params": {}, "text": text}, ensure_ascii=False)
    return text


def decode_note(stored: str) -> Note:
    """A stored note as code, params and text (code "" for a person's note and for old rows)."""
    if stored.startswith(_CODED):
        try:
            body = json.loads(stored)
        except ValueError:
            body = None
        if (
            isinstance(body, dict)
            and isinstance(body.get("text"), str)
            and isinstance(body.get("params"), dict)
        ):
            return Note(str(body.get("code") or ""), body["params"], body["text"])
    return Note("", {}, stored)


def coded(code: str, text: str, **params: NoteParam) -> Note:
    """A note the gateway writes: ``coded("covered", f"covered by work order {n}: …", id=n)``."""
    return Note(code, params, text)


_CODED = '{"code": '


class Noted:
    """A history entry's note: ``note`` is its text (what API clients, old rows and anything that
    reads notes see); one the gateway wrote also has a ``code`` and ``params``. An entry made from a
    stored row (``note`` in :func:`encode_note`'s form) is read back into the three; :meth:`stored`
    is the entry as its row keeps it."""

    note: str
    code: str
    params: dict[str, NoteParam]

    def __post_init__(self) -> None:
        if not self.code and self.note.startswith(_CODED):
            found = decode_note(self.note)
            object.__setattr__(self, "note", found.text)
            object.__setattr__(self, "code", found.code)
            object.__setattr__(self, "params", found.params)

    def stored(self) -> Self:
        """This entry with ``note`` in the stored form (for the history table's row)."""
        form = encode_note(Note(self.code, self.params, self.note))
        if form == self.note:
            return self
        copy = copy_of(self)
        object.__setattr__(copy, "note", form)
        return copy

    def note_json(self) -> dict[str, Any]:
        """``note`` (text), and ``code`` with ``params`` when the gateway wrote it."""
        body: dict[str, Any] = {"note": self.note}
        if self.code:
            body["code"], body["params"] = self.code, self.params
        return body


def note_fields(note: str | Note) -> tuple[str, str, dict[str, NoteParam]]:
    """``(note, code, params)`` of a new entry; a person's note that looks stored stays theirs."""
    if isinstance(note, Note) and note.code:
        return note.text, note.code, dict(note.params)
    text = note.text if isinstance(note, Note) else note
    return encode_note(text), "", {}  # wrapped if it looks stored: __post_init__ unwraps it


@dataclass(frozen=True)
class HistoryEntry(Noted):
    at: datetime
    by: str
    action: Action
    note: str = ""
    code: str = ""
    params: dict[str, NoteParam] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "by": self.by, "action": self.action.value, **self.note_json()}


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

    @property
    def unacknowledged(self) -> bool:
        """Waiting for an operator's acknowledgement: annunciated (its condition present or
        returned to normal, ISA-18.2) and not acknowledged. Shelved and suppressed alerts are out of
        sight and not counted. The one definition the list, the badge and the overview count."""
        return not self.acknowledged and self.state in (AlertState.ACTIVE, AlertState.CLEARED)

    def record(self, at: datetime, by: str, action: Action, note: str | Note = "") -> HistoryEntry:
        entry = HistoryEntry(at, by, action, *note_fields(note))
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
            "unacknowledged": self.unacknowledged,
            "closed_at": _iso(self.closed_at),
            "shelved_until": _iso(self.shelved_until),
            "shelve_reason": self.shelve_reason,
            "subject": self.subject,
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
