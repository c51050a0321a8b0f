"""The alert lifecycle (ISA-18.2 / docs/contract.md §5): one open alert per key, its transitions and timers.

Raise, repeat (count), clear, acknowledge, close, shelve/unshelve, suppress/unsuppress; chattering
(≥ 3 activations in 60 s) marks the alert and adds an on-delay (ISA-18.2): it clears at once,
but comes back only when the cause has lasted the on-delay, so a blip no longer toggles it;
escalation when unacknowledged too long, and flood mode per estate. The figures are a ``Policy``,
with its own for the estates whose inventory changes them (``Policy.estates``). Every change goes
to the alert's history; ``flush`` stores a batch of changes in one transaction, then notifies
(MQTT, the event stream) once per alert changed.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection

from alerts.model import SYSTEM, Action, Alert, HistoryEntry, Note, alert_key, coded
from alerts.outbox import Outbox, alert_event
from alerts.owner import OwnerGuard
from alerts.store import AlertStore, Ids
from alerts.timers import Timers
from devices.base import Severity
from devices.clock import Clock

FLOOD = "flood"
FLOOD_RULE = "alarm_flood"
RANK = {Severity.INFO: 0, Severity.MINOR: 1, Severity.MAJOR: 2, Severity.CRITICAL: 3}


class Notifier(Protocol):
    def notify(self, alert: Alert, actions: tuple[Action, ...]) -> None:
        """Once per alert per batch: ``alert`` as it stands after the batch, ``actions`` what
        happened to it in the batch, in order (a run of one action as one)."""


class Extension(Protocol):
    """Something that acts on alert transitions inside the book's batch (work-order dispatch).

    ``observe`` sees each change before the batch is stored and may change alerts in turn;
    ``write`` stores the extension's own changes in the same transaction; ``committed`` runs after
    it and returns the notifications to send after the commit.
    """

    def observe(self, alert: Alert, action: Action) -> None: ...

    def tick(self, now: datetime) -> None: ...

    def has_changes(self) -> bool: ...

    def write(self, conn: Connection) -> None: ...

    def committed(self) -> Callable[[], None]: ...


class AlertError(ValueError):
    """An operator action that cannot be done as asked (e.g. a bad shelve time)."""


class AlertNotFound(AlertError):
    pass


class AlertClosed(AlertError):
    pass


@dataclass(frozen=True)
class Policy:
    """Alarm-management figures: ISA-18.2 / EEMUA 191 defaults (docs/contract.md §5)."""

    escalate_after: dict[Severity, timedelta | None] = field(
        default_factory=lambda: {
            Severity.CRITICAL: timedelta(minutes=1),
            Severity.MAJOR: timedelta(minutes=5),
            Severity.MINOR: timedelta(minutes=30),
            Severity.INFO: None,
        }
    )
    chatter_count: int = 3
    chatter_window: timedelta = timedelta(seconds=60)
    #: A chattering alert comes back only after its cause has lasted this long (ISA-18.2 on-delay).
    chatter_on_delay: timedelta = timedelta(seconds=60)
    flood_start: int = 10  # more than this many annunciated in the window starts a flood
    flood_end: int = 5  # fewer than this ends it
    flood_window: timedelta = timedelta(minutes=10)
    max_shelve: timedelta = timedelta(hours=8)  # one shift at most
    #: Severity by rule for alarms raised outside the catalogue's rules (the guard tour's).
    severities: Mapping[str, Severity] = field(default_factory=dict)
    #: The estates whose figures differ (alerts/alarm_policy.py): estate id → its whole policy.
    estates: Mapping[str, Policy] = field(default_factory=dict)


@dataclass
class Raise:
    estate: str
    building: str | None
    device: str | None
    kind: str | None
    rule: str
    severity: Severity
    message: str
    message_en: str
    latched: bool = False
    suppressed_by: str | None = None
    subject: str | None = None


class AlertBook:
    def __init__(
        self,
        store: AlertStore,
        clock: Clock,
        notifiers: Sequence[Notifier] = (),
        policy: Policy | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        self.store, self.clock, self.policy = store, clock, policy or Policy()
        self.notifiers = list(notifiers)
        #: Where the batch's messages for MQTT go, in its transaction (alerts/outbox.py); the
        #: ``notifiers`` (the event stream) are told after the commit, from memory.
        self.outbox = outbox
        self.extensions: list[Extension] = []
        #: Not a lock: the owner's guard (alerts/owner.py). The state is the owner thread's alone.
        self.guard = OwnerGuard()
        self._open: dict[str, Alert] = {}
        self._ids = Ids(1)
        self._dirty: dict[int, Alert] = {}
        self._history: list[tuple[int, HistoryEntry]] = []
        self._events: list[tuple[Alert, Action]] = []
        #: How many of ``_events`` the extensions have seen: a flush whose save failed is retried
        #: by the next, which must not show them the same events again (a second work order).
        self._observed = 0
        self.pending: dict[str, tuple[int, int] | None] = {}
        self._activations: dict[str, deque[datetime]] = defaultdict(deque)
        #: Chattering alerts raised again, held until the on-delay ends (a clear drops them).
        self._raise_due: dict[str, tuple[datetime, Raise]] = {}
        self._annunciated: dict[str, deque[datetime]] = defaultdict(deque)
        self.flooding: set[str] = set()
        #: (due, sequence, alert key): escalations and shelve expiries, checked lazily when due,
        #: so a tick costs what is due, not what is open.
        self._due: Timers[datetime, str] = Timers()

    def load(self) -> None:
        with self.guard:
            self._open = {a.key: a for a in self.store.open_alerts()}
            self._ids = self.store.ids()
            self.flooding = {a.estate for a in self._open.values() if a.rule == FLOOD_RULE and a.active}
            for alert in self._open.values():
                for due in (alert.escalate_at, alert.shelved_until):
                    if due is not None:
                        self._at(due, alert.key)

    # -- queries -----------------------------------------------------------------------------
    def open_alert(self, key: str) -> Alert | None:
        return self._open.get(key)

    def open_alerts(self) -> list[Alert]:
        with self.guard:
            return list(self._open.values())

    def find(self, alert_id: int) -> Alert | None:
        """The alert, open (from memory, always current) or closed (from the store)."""
        with self.guard:
            for alert in self._open.values():
                if alert.id == alert_id:
                    return alert
        return self.store.get(alert_id)

    def _by_id(self, alert_id: int) -> Alert:
        alert = self.find(alert_id)
        if alert is None:
            raise AlertNotFound(f"no alert {alert_id}")
        if not alert.is_open:
            raise AlertClosed(f"alert {alert_id} is closed")
        return alert

    # -- changes -----------------------------------------------------------------------------
    def _change(
        self, alert: Alert, action: Action, by: str = SYSTEM, note: str | Note = "", *, log: bool = True
    ) -> None:
        if log:
            self._history.append((alert.id, alert.record(self.clock.now(), by, action, note)))
        self._dirty[alert.id] = alert
        self._events.append((alert, action))

    def raise_(self, r: Raise) -> Alert:
        with self.guard:
            now = self.clock.now()
            key = alert_key(r.estate, r.device, r.rule, r.subject)
            r.severity = self.policy_for(r.estate).severities.get(r.rule, r.severity)
            alert = self._open.get(key)
            if alert is None:
                return self._new(r, now)
            if not alert.active and alert.chattering:
                due, _ = self._raise_due.setdefault(
                    key, (now + self.policy_for(r.estate).chatter_on_delay, r)
                )
                if now < due:
                    return alert
                self._raise_due.pop(key, None)
            return self._again(alert, r, now)

    def policy_for(self, estate: str) -> Policy:
        return self.policy.estates.get(estate, self.policy)

    def _again(self, alert: Alert, r: Raise, now: datetime) -> Alert:
        """The same alert raised again: a repeat while active, else a reactivation."""
        alert.count += 1
        if RANK[r.severity] > RANK[alert.severity]:
            alert.severity = r.severity
            self._change(
                alert, Action.SEVERITY, note=coded("severity", r.severity.value, severity=r.severity.value)
            )
        if alert.active:
            self._change(alert, Action.REPEAT, log=False)
            return alert
        alert.active, alert.cleared_at = True, None
        self._change(
            alert, Action.REACTIVATE, note=coded("reactivated", f"count {alert.count}", count=alert.count)
        )
        self._arm_escalation(alert, now)
        self._chatter(alert, now)
        self._annunciate(alert, now)
        return alert

    def _new(self, r: Raise, now: datetime) -> Alert:
        alert = Alert(
            self._ids.take(),
            r.estate,
            r.building,
            r.device,
            r.kind,
            r.rule,
            r.severity,
            r.message,
            r.message_en,
            now,
            latched=r.latched,
            subject=r.subject,
        )
        self._open[alert.key] = alert
        if r.suppressed_by is None and r.estate in self.flooding and RANK[r.severity] <= 1:
            r.suppressed_by = FLOOD  # in a flood, low-priority alarms wait
        alert.suppressed_by = r.suppressed_by
        suppressed = r.suppressed_by
        self._change(
            alert,
            Action.RAISE,
            note=coded("raisedSuppressed", f"suppressed: {suppressed}", why=suppressed) if suppressed else "",
        )
        self._arm_escalation(alert, now)
        self._chatter(alert, now)
        self._annunciate(alert, now)
        return alert

    def clear(self, key: str, by: str = SYSTEM, note: str | Note = "") -> Alert | None:
        with self.guard:
            alert = self._open.get(key)
            if self._raise_due.pop(key, None) is not None or alert is None or not alert.active:
                return alert  # a chattering alert's cause ended within its on-delay: it never came back
            alert.active, alert.cleared_at = False, self.clock.now()
            self._change(alert, Action.CLEAR, by, note)
            if alert.suppressed_by is not None and alert.work_order is None:
                # Back to normal while suppressed (ISA-18.2): nobody was asked to act, so nobody
                # acknowledges it; it closes now. Left open, lifting the suppression would show a
                # stale alarm, and the same fault again would reopen it still hidden.
                alert.closed_at = self.clock.now()
                self._open.pop(alert.key, None)
                why = coded(
                    "suppressedNormal",
                    f"returned to normal while suppressed: {alert.suppressed_by}",
                    why=alert.suppressed_by,
                )
                self._change(alert, Action.CLOSE, by, why)
                return alert
            self._close_if_done(alert, by)
            return alert

    def ack(self, alert_id: int, by: str, note: str = "") -> Alert:
        with self.guard:
            alert = self._by_id(alert_id)
            self._acknowledge(alert, by, note)
            return alert

    def _acknowledge(self, alert: Alert, by: str, note: str | Note) -> None:
        if not alert.acknowledged and alert.is_open:
            alert.acknowledged, alert.acknowledged_at, alert.acknowledged_by = True, self.clock.now(), by
            alert.escalate_at = None
            self._change(alert, Action.ACK, by, note)
            self._close_if_done(alert, by)

    def _close_if_done(self, alert: Alert, by: str) -> None:
        if not alert.active and alert.acknowledged and alert.closed_at is None:
            alert.closed_at = self.clock.now()
            self._open.pop(alert.key, None)
            self._change(alert, Action.CLOSE, by)

    def shelve(self, alert_id: int, by: str, minutes: float, reason: str) -> Alert:
        with self.guard:
            alert = self._by_id(alert_id)
            span, policy = timedelta(minutes=minutes), self.policy_for(alert.estate)
            if not timedelta(0) < span <= policy.max_shelve:
                raise AlertError(f"shelve for more than 0 and at most {policy.max_shelve} (one shift)")
            if not reason.strip():
                raise AlertError("shelving needs a reason")
            now = self.clock.now()
            since = _shelved_since(alert, now)
            if since is not None and now + span - since > policy.max_shelve:
                # Shelving again while shelved extends the same shelving: at most one shift in all.
                left = max(timedelta(0), since + policy.max_shelve - now)
                raise AlertError(
                    f"shelved since {since.isoformat()}: at most {policy.max_shelve} in all "
                    f"({int(left.total_seconds() // 60)} min left); unshelve it to look at it first"
                )
            alert.shelved_until, alert.shelve_reason = now + span, reason
            self._at(alert.shelved_until, alert.key)
            self._change(
                alert,
                Action.SHELVE,
                by,
                coded("shelved", f"{minutes:g} min: {reason}", n=minutes, reason=reason),
            )
            return alert

    def unshelve(self, alert_id: int, by: str, note: str = "") -> Alert:
        with self.guard:
            alert = self._by_id(alert_id)
            if alert.shelved_until is not None:
                alert.shelved_until, alert.shelve_reason = None, None
                self._change(alert, Action.UNSHELVE, by, note)
                self._rearm(alert, self.clock.now())
            return alert

    def suppress(self, key: str, reason: str) -> None:
        with self.guard:
            alert = self._open.get(key)
            if alert is not None and alert.suppressed_by != reason:
                alert.suppressed_by = reason
                self._change(alert, Action.SUPPRESS, note=coded("suppressed", reason, why=reason))

    def unsuppress(self, key: str, reason: str | None = None) -> None:
        """Lift suppression (only if it was for ``reason``, when given)."""
        with self.guard:
            alert = self._open.get(key)
            if alert is None or alert.suppressed_by is None:
                return
            if reason is not None and alert.suppressed_by != reason:
                return
            note, alert.suppressed_by = alert.suppressed_by, None
            self._change(alert, Action.UNSUPPRESS, note=coded("unsuppressed", note, why=note))
            self._rearm(alert, self.clock.now())

    def upgrade(self, key: str, severity: Severity, note: str) -> None:
        """Raise an open, active alert's severity (a related condition made it worse)."""
        with self.guard:
            alert = self._open.get(key)
            if alert is not None and alert.active and RANK[severity] > RANK[alert.severity]:
                alert.severity = severity
                why = coded("severityRaised", f"{severity.value}: {note}", severity=severity.value, why=note)
                self._change(alert, Action.SEVERITY, note=why)
                self._arm_escalation(alert, self.clock.now())

    def set_work_order(self, alert: Alert, work_order: int, by: str, note: str | Note = "") -> None:
        with self.guard:
            alert.work_order = work_order
            said = note or coded("workOrder", f"work order {work_order}", id=work_order)
            self._change(alert, Action.DISPATCH, by, said)

    def unlink_work_order(self, work_order: int, by: str, note: str | Note) -> list[Alert]:
        """The open alerts that name ``work_order`` forget it (it was cancelled): they can be
        dispatched again, and the console no longer shows an order that is gone."""
        with self.guard:
            found = [a for a in self._open.values() if a.work_order == work_order]
            for alert in found:
                alert.work_order = None
                self._change(alert, Action.DISPATCH, by, note)
            return found

    def auto_ack(self, alert: Alert, by: str, note: str | Note) -> None:
        """Acknowledge on the operators' behalf (a work order already covers it): no paging."""
        with self.guard:
            self._acknowledge(alert, by, note)

    # -- timers --------------------------------------------------------------------------------
    def _at(self, due: datetime, key: str) -> None:
        self._due.at(due, key)

    def _arm_escalation(self, alert: Alert, now: datetime) -> None:
        after = self.policy_for(alert.estate).escalate_after.get(alert.severity)
        if after is not None and not alert.acknowledged and not alert.escalated:
            alert.escalate_at = now + after
            self._at(alert.escalate_at, alert.key)

    def _chatter(self, alert: Alert, now: datetime) -> None:
        times, policy = self._activations[alert.key], self.policy_for(alert.estate)
        times.append(now)
        while times and now - times[0] > policy.chatter_window:
            times.popleft()
        if len(times) >= policy.chatter_count and not alert.chattering:
            alert.chattering = True
            on_delay = int(policy.chatter_on_delay.total_seconds())
            window = policy.chatter_window.seconds
            self._change(
                alert,
                Action.CHATTERING,
                note=coded(
                    "chattering",
                    f"{len(times)} activations in {window} s; on-delay {on_delay} s",
                    n=len(times),
                    window=window,
                    delay=on_delay,
                ),
            )

    def _annunciate(self, alert: Alert, now: datetime) -> None:
        if not alert.annunciated or alert.rule == FLOOD_RULE:
            return
        window = self._annunciated[alert.estate]
        window.append(now)
        self._trim(window, now, alert.estate)
        if len(window) > self.policy_for(alert.estate).flood_start and alert.estate not in self.flooding:
            self._flood_on(alert.estate, now, len(window))

    def _trim(self, window: deque[datetime], now: datetime, estate: str) -> None:
        flood_window = self.policy_for(estate).flood_window
        while window and now - window[0] > flood_window:
            window.popleft()

    def _flood_on(self, estate: str, now: datetime, count: int) -> None:
        self.flooding.add(estate)
        self.store.flood_started(estate, now)
        minutes = self.policy_for(estate).flood_window.seconds // 60
        self.raise_(
            Raise(
                estate,
                None,
                None,
                None,
                FLOOD_RULE,
                Severity.MAJOR,
                f"报警泛滥：{minutes} 分钟内 {count} 条报警，低级别报警暂缓显示",
                f"Alarm flood: {count} alarms in {minutes} min; low-priority alarms held back",
            )
        )

    def _flood_off(self, estate: str, now: datetime) -> None:
        self.flooding.discard(estate)
        self.store.flood_ended(estate, now)
        self.clear(alert_key(estate, None, FLOOD_RULE))
        for key in [k for k, a in self._open.items() if a.estate == estate and a.suppressed_by == FLOOD]:
            self.unsuppress(key, FLOOD)

    def tick(self) -> None:
        """Apply what time has made due: escalations, shelve expiries, on-delays, flood end."""
        with self.guard:
            now = self.clock.now()
            for _, key in self._due.due(now):
                alert = self._open.get(key)
                if alert is not None:  # closed since, or a stale entry: nothing to do
                    self._expire(alert, now)
            for key, (due, r) in list(self._raise_due.items()):
                alert = self._open.get(key)
                if alert is None:  # closed by a person meanwhile: nothing is held for it
                    del self._raise_due[key]
                elif now >= due:
                    del self._raise_due[key]
                    self._again(alert, r, now)  # the cause lasted the on-delay: it is back
            for estate in list(self.flooding):
                window = self._annunciated[estate]
                self._trim(window, now, estate)
                if len(window) < self.policy_for(estate).flood_end:
                    self._flood_off(estate, now)
            for extension in self.extensions:
                extension.tick(now)

    def _expire(self, alert: Alert, now: datetime) -> None:
        if alert.escalate_at is not None and now >= alert.escalate_at and not alert.acknowledged:
            if _held_back(alert, now):  # an operator shelved it, or a cause explains it: nobody is
                alert.escalate_at = None  # paged now; the clock starts again when that ends
            else:
                alert.escalate_at, alert.escalated = None, True
                self._change(
                    alert, Action.ESCALATE, note=coded("escalated", "unacknowledged: duty manager notified")
                )
        if alert.shelved_until is not None and now >= alert.shelved_until:
            alert.shelved_until, alert.shelve_reason = None, None
            self._change(alert, Action.UNSHELVE, note=coded("shelveExpired", "shelving expired"))
            self._rearm(alert, now)

    def _rearm(self, alert: Alert, now: datetime) -> None:
        """Shelving or suppression ended: an active alert nobody acknowledged escalates after its
        full delay from now, not at once, and never while it is held back."""
        if alert.active and alert.escalate_at is None and not _held_back(alert, now):
            self._arm_escalation(alert, now)

    def flush(self) -> list[tuple[Alert, Action]]:
        """Store this batch's changes in one transaction, then notify. Returns what changed."""
        with self.guard:
            while self._observed < len(self._events):  # an extension may change alerts in turn
                alert, action = self._events[self._observed]
                self._observed += 1
                for extension in self.extensions:
                    extension.observe(alert, action)
            if not self._dirty and not self.pending and not any(e.has_changes() for e in self.extensions):
                return []
            events = self._events
            notes = coalesce(events)
            writes: list[Callable[[Connection], None]] = [e.write for e in self.extensions]
            if self.outbox is not None:  # the alerts' messages first: an order follows its alarm
                writes.insert(0, self._outbox_write(notes))
            history = [(alert_id, entry.stored()) for alert_id, entry in self._history]
            self.store.save(list(self._dirty.values()), history, self.pending, writes)
            self._dirty, self._history, self._events, self.pending = {}, [], [], {}
            self._observed = 0
            after = [extension.committed() for extension in self.extensions]
        if self.outbox is not None:
            self.outbox.wake()
        for alert, actions in notes:
            for notifier in self.notifiers:
                notifier.notify(alert, actions)
        for send in after:
            send()
        return events

    def _outbox_write(
        self, notes: Sequence[tuple[Alert, tuple[Action, ...]]]
    ) -> Callable[[Connection], None]:
        """The batch's alert messages, written in its transaction."""
        outbox = self.outbox
        found = [alert_event(alert, actions) for alert, actions in notes]
        events = [event for event in found if event is not None]

        def write(conn: Connection) -> None:
            if outbox is not None and events:
                outbox.write(conn, events)

        return write


def _shelved_since(alert: Alert, now: datetime) -> datetime | None:
    """When the shelving under way began (its first ``shelve`` since the last ``unshelve``), or
    None when the alert is not shelved now."""
    if alert.shelved_until is None or alert.shelved_until <= now:
        return None
    since = None
    for entry in reversed(alert.history):
        if entry.action is Action.UNSHELVE:
            break
        if entry.action is Action.SHELVE:
            since = entry.at
    return since


def _held_back(alert: Alert, now: datetime) -> bool:
    shelved = alert.shelved_until is not None and now < alert.shelved_until
    return shelved or alert.suppressed_by is not None


def coalesce(events: Sequence[tuple[Alert, Action]]) -> list[tuple[Alert, tuple[Action, ...]]]:
    """One notification per alert, in the order alerts first changed, with the actions of each in
    order and a run of one action as one: every notification carries the alert's final state, so
    a raise and its work order in one batch sent as two would publish the same alert twice."""
    by_id: dict[int, tuple[Alert, list[Action]]] = {}
    for alert, action in events:
        actions = by_id.setdefault(alert.id, (alert, []))[1]
        if not actions or actions[-1] is not action:
            actions.append(action)
    return [(alert, tuple(actions)) for alert, actions in by_id.values()]
