"""Who is on duty when a notice goes out (pure): the people a route's ``to`` names.

A roster id names a desk's shifts (the control room, the duty manager: ``notifications.rosters``);
``crew`` names a work order's crew: its members in the shift that covers the time, or all of them
when the crew has no roster or the shift lists nobody. Times are the estate's local time. Names
are what is recorded (who was notified); mobiles and addresses are looked up when the message is
sent, from ``notifications.people``, so a changed number needs no change to what waits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, time
from zoneinfo import ZoneInfo

from devices.inventory import Inventory
from devices.notifications import CREW, Person, covers


def on_duty(
    inventory: Inventory, to: Sequence[str], estate: str, crew: str | None, at: datetime
) -> list[str]:
    """The names on duty at ``at`` for the rosters ``to`` names, in roster order, each once."""
    found = inventory.estate(estate)
    local = at.astimezone(found.tz if found is not None else ZoneInfo("Asia/Shanghai"))
    clock = local.time().replace(tzinfo=None)
    rosters = {r.id: r for r in inventory.notifications.rosters}
    names: list[str] = []
    for who in to:
        if who == CREW:
            names += _crew_on_duty(inventory, crew, clock)
            continue
        roster = rosters.get(who)
        if roster is None or (roster.estates and estate not in roster.estates):
            continue
        for shift in roster.shifts:
            if shift.covers(clock):
                names += shift.members
    return list(dict.fromkeys(names))


def _crew_on_duty(inventory: Inventory, crew_id: str | None, clock: time) -> list[str]:
    crew = next((c for c in inventory.crews if c.id == crew_id), None)
    if crew is None:
        return []
    if crew.roster is None:
        return list(crew.members)
    out: list[str] = []
    for shift in crew.roster:
        if covers(shift.start, shift.end, clock):
            out += shift.members or crew.members
    return out


class Contacts:
    """Mobiles and e-mail addresses of names, from ``notifications.people``."""

    def __init__(self, people: Iterable[Person]) -> None:
        self._people = {p.name: p for p in people}

    def mobiles(self, names: Iterable[str]) -> tuple[str, ...]:
        found = (self._people.get(n) for n in names)
        return tuple(dict.fromkeys(p.mobile for p in found if p is not None and p.mobile))

    def emails(self, names: Iterable[str]) -> tuple[str, ...]:
        found = (self._people.get(n) for n in names)
        return tuple(dict.fromkeys(p.email for p in found if p is not None and p.email))
