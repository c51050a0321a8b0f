"""Judging a scenario's expectations against what the gateway's API shows, and saying why not.

Pure: the runner hands each check a :class:`Snapshot` (the API's alerts, work orders, patrol rounds
and dead-letter counts at one instant of simulated time); a check passes the first time it holds
inside its window, fails once its window has passed (or at once, for something that must never
happen), and keeps the closest actual items so a failure can show expected against actual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from simulators.scenario import (
    AlertExpect,
    DeadLetterExpect,
    LoadedScenario,
    NoAlert,
    OrderExpect,
    PatrolExpect,
    format_duration,
)

Item = Mapping[str, Any]
#: Closest actual items shown under a failure.
SHOWN = 5


@dataclass(frozen=True)
class Snapshot:
    """The gateway as the API showed it, ``offset`` of simulated time after the scenario's start.
    ``alerts``/``orders`` leave out those open before the run; ``deadletters`` counts new ones."""

    start: datetime
    offset: timedelta
    alerts: Sequence[Item] = ()
    orders: Sequence[Item] = ()
    rounds: Sequence[Item] = ()
    deadletters: Mapping[str, int] = field(default_factory=dict)
    #: Every alert by id, those of before the run too (a work order's clocks start at its alert).
    alerts_by_id: Mapping[int, Item] = field(default_factory=dict)


class Verdict(StrEnum):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"


class Check:
    """One expectation being watched; subclasses say what matches and how an item reads."""

    #: Simulated time after the start by which it must have held (None: judged at the end).
    deadline: timedelta | None = None
    after: timedelta = timedelta(0)

    def __init__(self, title: str) -> None:
        self.title = title
        self.verdict = Verdict.PENDING
        self.at: timedelta | None = None
        self.why = ""
        self.expected: dict[str, str] = {}
        self.closest: list[tuple[dict[str, str], set[str]]] = []
        self.empty_note = "none at all"

    def observe(self, snap: Snapshot) -> None:
        if self.verdict is not Verdict.PENDING:
            return
        if self.deadline is not None and snap.offset > self.deadline:
            self._fail("not seen in time")
            return
        self._observe(snap)

    def finish(self, snap: Snapshot) -> None:
        """The run is over: anything still pending is decided now."""
        if self.verdict is Verdict.PENDING:
            self._finish(snap)

    def _observe(self, snap: Snapshot) -> None:
        raise NotImplementedError

    def _finish(self, snap: Snapshot) -> None:
        self._fail("not seen before the run ended")

    def _pass(self, offset: timedelta) -> None:
        self.verdict, self.at = Verdict.PASSED, offset

    def _fail(self, why: str) -> None:
        self.verdict, self.why = Verdict.FAILED, why

    def _keep_closest(self, rows: list[tuple[dict[str, str], set[str]]]) -> None:
        self.closest = sorted(rows, key=lambda row: len(row[1]))[:SHOWN]


def _mismatches(expected: Mapping[str, str], actual: Mapping[str, str]) -> set[str]:
    return {name for name, value in expected.items() if actual.get(name) != value}


def _text(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _relative(when: str | None, base: datetime) -> str:
    if when is None:
        return "null"
    return format_duration(datetime.fromisoformat(when) - base)


class _MatchCheck(Check):
    """Holds when one item matches every expected field, at some instant in [after, within]."""

    def __init__(self, title: str, expected: dict[str, str], within: timedelta, after: timedelta) -> None:
        span = f"between +{format_duration(after)} and +" if after else "within "
        super().__init__(f"{title} {span}{format_duration(within)}")
        self.expected, self.deadline, self.after = expected, within, after

    def _items(self, snap: Snapshot) -> Sequence[Item]:
        raise NotImplementedError

    def _row(self, item: Item, snap: Snapshot) -> dict[str, str]:
        raise NotImplementedError

    def _observe(self, snap: Snapshot) -> None:
        rows = [
            (row, _mismatches(self.expected, row)) for row in (self._row(i, snap) for i in self._items(snap))
        ]
        if snap.offset < self.after:
            return
        if any(not wrong for _, wrong in rows):
            self._pass(snap.offset)
        else:
            self._keep_closest(rows)


class AlertCheck(_MatchCheck):
    def __init__(self, expect: AlertExpect, default_estate: str) -> None:
        wanted = {"rule": expect.rule, "estate": expect.estate or default_estate}
        if not expect.any_device:
            wanted["device"] = _text(expect.device)
        for name in ("severity", "state", "active"):
            if (value := getattr(expect, name)) is not None:
                wanted[name] = _text(value)
        super().__init__(f"alert {_describe(wanted, default_estate)}", wanted, expect.within, expect.after)
        self.empty_note = "no alerts at all"

    def _items(self, snap: Snapshot) -> Sequence[Item]:
        return snap.alerts

    def _row(self, item: Item, snap: Snapshot) -> dict[str, str]:
        return alert_row(item, snap.start)


class OrderCheck(_MatchCheck):
    def __init__(self, expect: OrderExpect, default_estate: str) -> None:
        wanted = {"crew": _text(expect.crew), "estate": expect.estate or default_estate}
        for name in ("rule", "device", "state", "severity"):
            if (value := getattr(expect, name)) is not None:
                wanted[name] = _text(value)
        for clock, due in expect.deadlines.items():
            wanted[clock] = "null" if due is None else format_duration(due)
        super().__init__(
            f"work order {_describe(wanted, default_estate)}", wanted, expect.within, expect.after
        )
        self.empty_note = "no work orders at all"

    def _items(self, snap: Snapshot) -> Sequence[Item]:
        return snap.orders

    def _row(self, item: Item, snap: Snapshot) -> dict[str, str]:
        row = {
            name: _text(item.get(name)) for name in ("crew", "estate", "rule", "device", "state", "severity")
        }
        alert = snap.alerts_by_id.get(item.get("alert") or -1)
        base = datetime.fromisoformat(alert["raised_at"] if alert else item["created_at"])
        for clock in ("accept", "arrive", "resolve"):
            row[clock] = _relative(item.get("deadlines", {}).get(clock), base)
        return row


class PatrolCheck(_MatchCheck):
    def __init__(self, expect: PatrolExpect, default_estate: str) -> None:
        self.round = {
            "estate": expect.estate or default_estate,
            "plan": expect.plan,
            "window": expect.window,
            "number": str(expect.number),
        }
        wanted = {**self.round, "status": expect.status}
        super().__init__(
            f"patrol round {_describe(wanted, default_estate)}", wanted, expect.within, expect.after
        )
        self.empty_note = "no patrol rounds at all"

    def _items(self, snap: Snapshot) -> Sequence[Item]:
        """The first such round not over before the run began (rounds of several days share numbers)."""
        current = [r for r in snap.rounds if datetime.fromisoformat(r["end"]) >= snap.start]
        same = [r for r in current if not _mismatches(self.round, self._row(r, snap))]
        first = min(same, key=lambda r: r["start"], default=None)
        return [first] if first is not None else current

    def _row(self, item: Item, snap: Snapshot) -> dict[str, str]:
        row = {name: _text(item.get(name)) for name in ("estate", "plan", "window", "status")}
        row["number"] = _text(item.get("index", -1) + 1)
        row["starts"] = "+" + _relative(item.get("start"), snap.start)
        return row


def never_shown(history: Sequence[Item]) -> bool:
    """From an alert's history: raised suppressed and never unsuppressed (an alarm suppressed by
    design that returned to normal under it, and closed)."""
    raised = next((h for h in history if h.get("action") == "raise"), None)
    hidden = raised is not None and str(raised.get("note", "")).startswith("suppressed")
    return hidden and not any(h.get("action") == "unsuppress" for h in history)


class NoAlertCheck(Check):
    """Fails the moment a matching alert is seen raised (not merely suppressed) in its period."""

    def __init__(self, expect: NoAlert, default_estate: str) -> None:
        self.match: dict[str, str] = {"estate": expect.estate or default_estate}
        if expect.rule is not None:
            self.match["rule"] = expect.rule
        if expect.device is not None:
            self.match["device"] = expect.device
        what = "no alert at all" if expect.any else f"no alert {expect.rule}"
        scope = f" on {expect.device}" if expect.device else ""
        until = f" before +{format_duration(expect.until)}" if expect.until is not None else ""
        super().__init__(f"{what}{scope}{until}")
        self.until = expect.until
        self.expected = {"none": "raised"}
        self.empty_note = ""

    def _observe(self, snap: Snapshot) -> None:
        found = [a for a in snap.alerts if self._violates(a, snap.start)]
        if found:
            self.closest = [(alert_row(a, snap.start), set()) for a in found[:SHOWN]]
            self._fail(f"{len(found)} raised")
        elif self.until is not None and snap.offset >= self.until:
            self._pass(snap.offset)

    def _violates(self, alert: Item, start: datetime) -> bool:
        hidden = alert.get("state") == "suppressed" or alert.get("never_shown") is True
        if hidden or _mismatches(self.match, {k: _text(alert.get(k)) for k in self.match}):
            return False
        raised = datetime.fromisoformat(alert["raised_at"])
        return self.until is None or raised - start < self.until

    def _finish(self, snap: Snapshot) -> None:
        self._observe(snap)
        if self.verdict is Verdict.PENDING:
            self._pass(snap.offset)


class DeadLetterCheck(Check):
    """Exactly ``count`` new dead letters of the reason: passes when reached, fails when exceeded."""

    def __init__(self, expect: DeadLetterExpect) -> None:
        super().__init__(f"{expect.count} dead letter(s) {expect.reason}")
        self.reason, self.count, self.deadline = expect.reason, expect.count, expect.within
        self.expected = {"reason": expect.reason, "count": str(expect.count)}
        self.empty_note = "no dead letters at all"
        self.settle = expect.count == 0  # zero can only be judged at the end

    def _observe(self, snap: Snapshot) -> None:
        got = self._got(snap)
        self.closest = [
            ({"reason": r, "count": str(n)}, {"count"} if r == self.reason else {"reason"})
            for r, n in sorted(snap.deadletters.items())
        ]
        if got > self.count:
            self._fail(f"{got} seen")
        elif got == self.count and not self.settle:
            self._pass(snap.offset)

    def _got(self, snap: Snapshot) -> int:
        if self.reason == "any":
            return sum(snap.deadletters.values())
        return snap.deadletters.get(self.reason, 0)

    def _finish(self, snap: Snapshot) -> None:
        self._observe(snap)
        if self.verdict is Verdict.PENDING:
            got = self._got(snap)
            if got == self.count:
                self._pass(snap.offset)
            else:
                self._fail(f"{got} seen")


def _describe(fields: Mapping[str, str], default_estate: str | None = None) -> str:
    """``rule=… device=…``; the estate only when it is not the scenario's default one."""
    return " ".join(
        f"{name}={value}"
        for name, value in fields.items()
        if not (name == "estate" and value == default_estate)
    )


def alert_row(item: Item, start: datetime) -> dict[str, str]:
    """An alert as a failure shows it: its identifying fields and when it was raised."""
    row = {
        name: _text(item.get(name)) for name in ("rule", "estate", "device", "severity", "state", "active")
    }
    row["raised"] = "+" + _relative(item.get("raised_at"), start)
    return row


Builder = Callable[[Any, str], Check]
_BUILDERS: dict[str, Builder] = {
    "alerts": AlertCheck,
    "no_alerts": NoAlertCheck,
    "workorders": OrderCheck,
    "patrols": PatrolCheck,
    "deadletters": lambda expect, _estate: DeadLetterCheck(expect),
}


def build_checks(loaded: LoadedScenario) -> list[Check]:
    """One check per expectation, in the file's order by group."""
    estate = loaded.estate_of(None)
    expect = loaded.scenario.expect
    return [_BUILDERS[group](item, estate) for group in _BUILDERS for item in getattr(expect, group)]


def render(check: Check) -> list[str]:
    """``✓ title (at +1m05s)`` or ``✗ title — why`` and, for a failure, expected against closest actual."""
    if check.verdict is Verdict.PASSED:
        when = f" (at +{format_duration(check.at)})" if check.at is not None else ""
        return [f"✓ {check.title}{when}"]
    lines = [f"✗ {check.title} — {check.why or check.verdict.value}"]
    if check.expected and not isinstance(check, NoAlertCheck):
        lines.append(f"    expected: {_describe(check.expected)}")
    if not check.closest:
        if check.empty_note:
            lines.append(f"    actual:   {check.empty_note}")
        return lines
    label = "actual:  " if isinstance(check, NoAlertCheck) else "closest: "
    for row, wrong in check.closest:
        marked = " ".join(
            f"{name}={value}" + (f" (≠ {check.expected[name]})" if name in wrong else "")
            for name, value in row.items()
        )
        lines.append(f"    {label} {marked}")
        label = "         "
    return lines
