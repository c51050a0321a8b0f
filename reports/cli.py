"""``estate-gateway rollup --estate E --date YYYY-MM-DD [--to YYYY-MM-DD]``: recompute the daily KPI
rollups of past local days from the database the gateway uses (ESTATE_* settings), as
``POST /api/kpis/rollups`` does, printing each day's figures as it is stored. A day not yet ended in
the estate's time zone is refused: its figures are not final."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, TextIO

from sqlalchemy.exc import SQLAlchemyError

from devices.clock import Clock, SystemClock
from devices.inventory import Inventory
from devices.loader import ExtraCheck, InventoryError, load_inventory
from gateway.db import make_engine
from gateway.settings import command_settings
from reports.rollup import MAX_DAYS, Rollups

#: The figures printed per day: (column, label).
SHOWN = (
    ("lamp_intact_pct", "lamps"),
    ("camera_online_pct", "cameras"),
    ("lift_availability_pct", "lifts"),
    ("repair_timely_pct", "repairs"),
    ("patrol_compliance_pct", "patrols"),
    ("position_per_10min", "alarms/10 min"),
)


def local_day(text: str) -> date:
    """An argparse type: a calendar day as YYYY-MM-DD, with a clear message otherwise."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day: give YYYY-MM-DD, e.g. 2026-04-03") from None


def add_parser(sub: Any, checks: Sequence[ExtraCheck] = ()) -> None:
    """The ``rollup`` subcommand, on ``estate-gateway``'s subparsers; ``checks``: the inventory
    checks ``run`` and ``check-config`` make (the composition root's), so an inventory ``run``
    refuses is refused here too."""
    rollup = sub.add_parser(
        "rollup",
        help="recompute the daily KPI rollups of past local days (from the gateway's database)",
    )
    rollup.add_argument("--estate", required=True, help="the estate's id")
    rollup.add_argument("--date", required=True, type=local_day, help="the (first) local day, YYYY-MM-DD")
    rollup.add_argument(
        "--to", type=local_day, default=None, help="the last local day (inclusive; default --date)"
    )
    rollup.add_argument("--config", help="inventory YAML (default: $ESTATE_INVENTORY)")
    rollup.add_argument("--settings", help="a settings file adding to the environment (KEY=value lines)")
    rollup.set_defaults(func=cmd_rollup, checks=tuple(checks))


def _figure(row: dict[str, Any], column: str) -> str:
    value = row[column]
    if value is None:
        return "—"
    return f"{value:g}" if column == "position_per_10min" else f"{value:g} %"


def describe(row: dict[str, Any]) -> str:
    """One stored day as a line: its figures, with the counts a reader checks them by."""
    figures = ", ".join(f"{label} {_figure(row, column)}" for column, label in SHOWN)
    counts = (
        f"lamps {row['lamps_working']}/{row['lamps_total']} working ({row['lamps_unknown']} silent), "
        f"entrapments {row['entrapments']}, "
        f"repairs {row['repairs_on_time']}/{row['repairs_decided']} on time, "
        f"rounds {row['rounds_done']}/{row['rounds_closed']} to plan, activations {row['activations']}, "
        f"stale {row['stale']}, chattering {row['chattering']}"
    )
    return f"{row['estate']} {row['day'].isoformat()}: {figures} [{counts}]"


def check_days(inventory: Inventory, estate_id: str, first: date, last: date, clock: Clock) -> str | None:
    """Why these days cannot be recomputed, or None."""
    estate = inventory.estate(estate_id)
    if estate is None:
        known = ", ".join(e.id for e in inventory.estates)
        return f"no estate {estate_id!r} in the inventory (estates: {known})"
    if last < first:
        return f"--to {last} is before --date {first}"
    if (last - first).days >= MAX_DAYS:
        return f"at most {MAX_DAYS} days at a time ({first} to {last} is {(last - first).days + 1})"
    today = clock.now().astimezone(estate.tz).date()
    if last >= today:
        yesterday = today - timedelta(days=1)
        return f"{last} has not ended yet in {estate_id} ({estate.timezone}): the latest day is {yesterday}"
    return None


def rollup(
    inventory: Inventory,
    rollups: Rollups,
    estate: str,
    first: date,
    last: date,
    clock: Clock,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Recompute and store; the exit status (2: bad request, nothing stored)."""
    out, err = out or sys.stdout, err or sys.stderr
    why = check_days(inventory, estate, first, last, clock)
    if why is not None:
        print(f"rollup: {why}", file=err)
        return 2
    days = (last - first).days + 1
    print(f"recomputing {days} day(s) of {estate}, {first} to {last}", file=out, flush=True)
    done = rollups.recompute(
        [estate], first, last, on_day=lambda row: print(f"stored {describe(row)}", file=out, flush=True)
    )
    print(f"done: {done} day(s) stored in kpi_daily", file=out)
    return 0


def cmd_rollup(args: argparse.Namespace) -> int:
    found = command_settings(args.settings, args.config)
    if found is None:
        return 2
    settings, path = found
    try:
        inventory = load_inventory(path, getattr(args, "checks", ()))
    except InventoryError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        print(f"{path}: {len(exc.issues)} error(s)", file=sys.stderr)
        return 2
    owned = settings.owned_estates
    if owned is not None:
        inventory = inventory.only(owned)
    clock = SystemClock()
    last = args.to or args.date
    why = check_days(inventory, args.estate, args.date, last, clock)
    if why is not None:  # before touching the database
        print(f"rollup: {why}", file=sys.stderr)
        return 2
    try:
        rollups = Rollups.on_database(make_engine(settings.resolved_database_url), inventory, clock, owned)
        return rollup(inventory, rollups, args.estate, args.date, last, clock)
    except SQLAlchemyError as exc:  # the days printed as stored before it are stored
        print(
            f"rollup: the database failed: {type(exc).__name__}: {str(exc).splitlines()[0]}", file=sys.stderr
        )
        return 1
