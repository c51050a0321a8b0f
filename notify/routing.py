"""Which channels an outbox event goes to, and when (pure: event, routes, inventory, now).

An alert message becomes ``raise`` (raised or back again), ``escalate`` or ``clear``; a work-order
message ``order_assigned`` (created for, assigned or reassigned to a crew) or ``order_breached``.
A shelved or suppressed alarm notifies nobody. Each channel gets an event once, in the language
of the first route that sends it there; minor and info events inside a route's quiet hours wait
for the end of them (they are not dropped).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from devices.base import Severity
from devices.inventory import Inventory, Region
from devices.notifications import NotifyEvent, QuietHours, Route
from notify.duty import on_duty

RANK = {Severity.INFO: 0, Severity.MINOR: 1, Severity.MAJOR: 2, Severity.CRITICAL: 3}
QUIET_SEVERITIES = frozenset({Severity.MINOR, Severity.INFO})
#: An alarm in these states is nobody's business right now.
SILENT_STATES = frozenset({"shelved", "suppressed"})
_ORDER_ASSIGNED = frozenset({"create", "assign", "reassign"})
#: Someone has seen to the alarm, or nobody should be told now: what still waits for it is dropped.
SEEN_TO = frozenset({"ack", "close", "shelve", "suppress"})


def seen_to(topic: str, payload: bytes) -> int | None:
    """The alert id of an alert message saying it was acknowledged, shelved, suppressed or
    closed (its waiting notifications are cancelled), else None."""
    if not topic.endswith("/alerts"):
        return None
    body = json.loads(payload)
    if isinstance(body, dict) and SEEN_TO.intersection(body.get("actions", ())):
        return int(body["id"])
    return None


@dataclass(frozen=True)
class Notice:
    """One outbox event as the notifier sees it."""

    event_id: str
    event: NotifyEvent
    estate: str
    severity: Severity
    kind: str | None
    rule: str | None
    alert_id: int | None
    order_id: int | None
    body: dict[str, Any]
    crew: str | None = None


@dataclass(frozen=True)
class Target:
    channel: str
    language: str
    due_at: datetime
    #: The people on duty the routes name (``to``), by name; empty: the channel's own recipients.
    to: tuple[str, ...] = ()


def _alert_event(body: dict[str, Any]) -> NotifyEvent | None:
    if body.get("state") in SILENT_STATES:
        return None
    actions = set(body.get("actions", ()))
    if actions & {"raise", "reactivate"}:
        return NotifyEvent.RAISE
    if "escalate" in actions:
        return NotifyEvent.ESCALATE
    return NotifyEvent.CLEAR if "clear" in actions else None


def _order_event(body: dict[str, Any]) -> NotifyEvent | None:
    action = body.get("action")
    if action in _ORDER_ASSIGNED and body.get("crew"):
        return NotifyEvent.ORDER_ASSIGNED
    return NotifyEvent.ORDER_BREACHED if action == "breach" else None


def notice(event_id: str, topic: str, payload: bytes, inventory: Inventory) -> Notice | None:
    """The notice of an outbox row; None when it is nothing to notify (an ack, a repeat, …).
    Raises ValueError for a payload that is not the JSON the core writes."""
    body = json.loads(payload)
    if not isinstance(body, dict):
        raise ValueError("an outbox payload that is not a JSON object")
    is_alert = topic.endswith("/alerts")
    event = _alert_event(body) if is_alert else _order_event(body)
    if event is None:
        return None
    estate, device = str(body["estate"]), body.get("device")
    kind = body.get("kind")
    if kind is None and device is not None and (config := inventory.device(estate, device)) is not None:
        kind = config.kind.value
    return Notice(
        event_id,
        event,
        estate,
        Severity(body["severity"]),
        kind,
        body.get("rule"),
        int(body["id"]) if is_alert else _int(body.get("alert")),
        None if is_alert else int(body["id"]),
        body,
        None if is_alert else body.get("crew"),
    )


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int) else None


def region_estates(inventory: Inventory) -> dict[str, frozenset[str]]:
    """Each region's estates, its sub-regions' included."""
    direct: dict[str, set[str]] = {}
    for estate in inventory.estates:
        if estate.region is not None:
            direct.setdefault(estate.region, set()).add(estate.id)
    out: dict[str, frozenset[str]] = {}

    def walk(region: Region) -> set[str]:
        found = set(direct.get(region.id, ()))
        for child in region.children:
            found |= walk(child)
        out[region.id] = frozenset(found)
        return found

    for region in inventory.regions:
        walk(region)
    return out


class Router:
    def __init__(self, routes: Sequence[Route], inventory: Inventory) -> None:
        self.routes, self.inventory = list(routes), inventory
        regions = region_estates(inventory)
        self._estates: list[frozenset[str] | None] = [
            None
            if not (r.estates or r.regions)
            else frozenset(r.estates).union(*(regions.get(g, frozenset()) for g in r.regions))
            for r in self.routes
        ]

    def targets(self, notice: Notice, now: datetime) -> list[Target]:
        """Each channel once: the first matching route's language and time; the people on duty
        that every matching route names for it (at the time it goes out)."""
        chosen: dict[str, Target] = {}
        for route in self._matching(notice):
            due = self._due(route, notice, now)
            to = on_duty(self.inventory, route.to, notice.estate, notice.crew, due) if route.to else []
            for channel in route.channels:
                first = chosen.setdefault(channel, Target(channel, route.language.value, due))
                if to:
                    chosen[channel] = replace(first, to=tuple(dict.fromkeys((*first.to, *to))))
        return list(chosen.values())

    def _matching(self, n: Notice) -> Iterator[Route]:
        for route, estates in zip(self.routes, self._estates, strict=True):
            if (
                n.event in route.events
                and (estates is None or n.estate in estates)
                and RANK[n.severity] >= RANK[route.min_severity]
                and (not route.kinds or n.kind in route.kinds)
                and (not route.rules or n.rule in route.rules)
                and (not route.crews or (n.order_id is not None and n.crew in route.crews))
            ):
                yield route

    def _due(self, route: Route, n: Notice, now: datetime) -> datetime:
        due = now + timedelta(minutes=route.delay_min)
        if route.quiet_hours is None or n.severity not in QUIET_SEVERITIES:
            return due
        estate = self.inventory.estate(n.estate)
        tz = estate.tz if estate is not None else None
        return max(due, quiet_end(route.quiet_hours, due, tz) or due)


def quiet_end(quiet: QuietHours, now: datetime, tz: Any) -> datetime | None:
    """The end of the quiet hours ``now`` is in (as an aware datetime), or None when outside."""
    local = now.astimezone(tz) if tz is not None else now
    t = local.time()
    inside = quiet.start <= t < quiet.end if quiet.start < quiet.end else (t >= quiet.start or t < quiet.end)
    if not inside:
        return None
    end = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(UTC)  # stored as UTC (SQLite keeps no offset)
