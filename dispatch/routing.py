"""Routing (docs/contract.md §7): an alert's device kind or rule names a trade; the trade and the estate name
the crews; the roster says which of them is on duty now (in the estate's time zone).
"""

from __future__ import annotations

from datetime import datetime, time

from devices.base import Kind, Trade
from devices.inventory import Crew, Inventory, Shift
from devices.registry import spec

#: Rules whose response is not the trade that repairs the device: a forced door or a door held
#: locked in a fire alarm sends the guards (security), not the access-control technicians.
RULE_TRADES: dict[str, Trade] = {
    "access.forced": Trade.SECURITY,
    "access.fire_locked": Trade.SECURITY,
}


def trade_for(kind: str | None, rule: str | None) -> Trade:
    """The trade that answers an alert: by rule where it differs, else the device kind's trade;
    estate-wide alerts with no kind (patrol rounds) go to security."""
    if rule is not None and rule in RULE_TRADES:
        return RULE_TRADES[rule]
    if rule is not None and rule.startswith("patrol."):
        return Trade.SECURITY
    if kind is None:
        return Trade.SECURITY
    return spec(Kind(kind)).trade


def _covers(shift: Shift, at: time) -> bool:
    if shift.start < shift.end:
        return shift.start <= at < shift.end
    return at >= shift.start or at < shift.end  # crosses midnight (or lasts the whole day)


def on_duty(crew: Crew, local: datetime) -> bool:
    """A crew without a roster is always on duty; with one, a shift must cover the local time."""
    if crew.roster is None:
        return True
    at = local.time().replace(tzinfo=None)
    return any(_covers(shift, at) for shift in crew.roster)


def candidates(inventory: Inventory, estate: str, trade: Trade, now: datetime) -> list[Crew]:
    """Crews of ``trade`` serving ``estate``: those on duty first, each group in inventory order."""
    found = inventory.estate(estate)
    serving = [c for c in inventory.crews if estate in c.estates and trade in c.trades]
    if found is None:
        return serving
    local = now.astimezone(found.tz)
    return sorted(serving, key=lambda crew: not on_duty(crew, local))
