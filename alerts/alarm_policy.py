"""The alert book's policy from the inventory's alarm-management figures: the inventory-wide
``alarm_management`` over the defaults, and each estate's own over that (ISA-18.2 / EEMUA 191:
every figure a default an operator may change per estate)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from alerts.book import Policy
from devices.alarm_figures import AlarmFigures
from devices.base import Severity
from devices.inventory import Inventory


def policy_from(figures: AlarmFigures, base: Policy | None = None) -> Policy:
    """``base`` (default: the defaults) with the figures that are set."""
    base = base or Policy()
    escalate = dict(base.escalate_after)
    for severity, minutes in (
        (Severity.CRITICAL, figures.escalate_critical_min),
        (Severity.MAJOR, figures.escalate_major_min),
        (Severity.MINOR, figures.escalate_minor_min),
    ):
        if minutes is not None:
            escalate[severity] = timedelta(minutes=minutes)

    def span(value: float | None, unit: str, default: timedelta) -> timedelta:
        return default if value is None else timedelta(**{unit: value})

    return Policy(
        escalate_after=escalate,
        chatter_count=figures.chatter_count or base.chatter_count,
        chatter_window=span(figures.chatter_window_s, "seconds", base.chatter_window),
        chatter_on_delay=span(figures.chatter_on_delay_s, "seconds", base.chatter_on_delay),
        flood_start=figures.flood_start or base.flood_start,
        flood_end=figures.flood_end or base.flood_end,
        flood_window=span(figures.flood_window_min, "minutes", base.flood_window),
        max_shelve=span(figures.max_shelve_h, "hours", base.max_shelve),
        severities={**base.severities, **figures.patrol_severities},
    )


def alarm_policy(inventory: Inventory) -> Policy:
    """The inventory-wide policy, carrying one for each estate that changes a figure of it."""
    own = {
        e.id: policy_from(e.alarm_management.over(inventory.alarm_management))
        for e in inventory.estates
        if e.alarm_management is not None
    }
    return replace(policy_from(inventory.alarm_management), estates=own)
