"""KPIs over a month or a quarter, for an estate or a region of the tree (street, district, any
depth): the daily rows' numerators and denominators summed, then divided — never an average of
percentages, so a large estate weighs as much as its lamps, lifts and rounds.

Alarm load is per operator position: each position-day is counted once, however many of its
estates the region holds (a desk's activations and periods are the desk's, not each estate's).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from devices.inventory import Inventory, Region
from reports.daily import TARGETS, Target, common_targets, judged, pct, targets_for
from reports.store import COUNTS


class Period(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"


def period_days(period: Period, start: date) -> tuple[date, date]:
    """The first and last day of the month or quarter holding ``start``."""
    months = 1 if period is Period.MONTH else 3
    first_month = start.month if period is Period.MONTH else 3 * ((start.month - 1) // 3) + 1
    first = date(start.year, first_month, 1)
    year, month = divmod(first.month - 1 + months, 12)
    return first, date(first.year + year, month + 1, 1) - timedelta(days=1)


def summarise(
    rows: Sequence[Mapping[str, Any]], targets: Mapping[str, Target] | None = None
) -> dict[str, Any]:
    """Sums and figures of some daily rows, each figure with its target (default :data:`TARGETS`)
    and whether it is met."""
    targets = TARGETS if targets is None else targets
    sums: dict[str, float] = dict.fromkeys(COUNTS, 0)
    for row in rows:
        for name in COUNTS:
            sums[name] += row[name]
    # A position-day once: its activations, periods and floods are the desk's, not each estate's.
    desks = {(row["position"], row["day"]): row for row in rows}
    desk_acts = sum(r["position_activations"] for r in desks.values())
    desk_periods = sum(r["periods"] for r in desks.values())
    figures = {
        "lamp_intact_pct": pct(sums["lamps_working"], sums["lamps_total"]),
        "camera_online_pct": pct(sums["camera_online_minutes"], sums["camera_minutes"]),
        "lift_availability_pct": pct(sums["lift_service_minutes"], sums["lift_minutes"]),
        "repair_timely_pct": pct(sums["repairs_on_time"], sums["repairs_decided"]),
        "patrol_compliance_pct": pct(sums["rounds_done"], sums["rounds_closed"]),
        "position_per_10min": round(desk_acts / desk_periods, 4) if desk_periods else None,
        "flood_pct": pct(sum(r["flood_periods"] for r in desks.values()), desk_periods),
        "stale": sums["stale"],
        "chattering": sums["chattering"],
    }
    counts = {name: round(value, 3) if isinstance(value, float) else value for name, value in sums.items()}
    counts.pop("position_activations"), counts.pop("periods"), counts.pop("flood_periods")
    return {
        "days": len({row["day"] for row in rows}),
        "estate_days": len(rows),
        "positions": len({row["position"] for row in rows}),
        "counts": counts | {"position_activations": desk_acts, "periods": desk_periods},
        "kpis": judged(figures, targets),
    }


def _find(regions: Iterable[Region], region_id: str) -> Region | None:
    for region in regions:
        if region.id == region_id:
            return region
        if (found := _find(region.children, region_id)) is not None:
            return found
    return None


def find_region(inventory: Inventory, region_id: str) -> Region | None:
    return _find(inventory.regions, region_id)


def _ids(region: Region) -> set[str]:
    return {region.id}.union(*(_ids(child) for child in region.children))


def estates_under(inventory: Inventory, region: Region) -> list[str]:
    """Estates placed in ``region`` or any region below it."""
    ids = _ids(region)
    return [e.id for e in inventory.estates if e.region in ids]


def region_tree(
    inventory: Inventory, region: Region, rows: Sequence[Mapping[str, Any]], visible: set[str]
) -> dict[str, Any]:
    """``region`` rolled up from its estates, with each child region and each estate placed directly
    in it, recursively (estates outside ``visible`` are left out)."""
    mine = [e for e in estates_under(inventory, region) if e in visible]
    direct = [e for e in inventory.estates if e.region == region.id and e.id in visible]
    below = [e for e in inventory.estates if e.id in mine]
    return {
        "region": region.id,
        "name": region.name,
        "estates": mine,
        **summarise([r for r in rows if r["estate"] in mine], common_targets(below)),
        "children": [region_tree(inventory, child, rows, visible) for child in region.children]
        + [
            {"estate": e.id, **summarise([r for r in rows if r["estate"] == e.id], targets_for(e))}
            for e in direct
        ],
    }
