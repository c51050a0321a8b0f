"""Repair KPIs over a period (docs/contract.md §7; the estate service standard): 维修及时率 and mean times.

维修及时率 = orders that met all their deadlines / orders whose outcome is known. An order counts
once it is finished (resolved, closed) or has missed a deadline; one still running with no
deadline missed yet is ``pending`` and left out until it is decided. Cancelled orders never count.
Mean times run from the order's creation to each step (accept, arrive, resolve), in minutes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from dispatch.model import OrderState, Step, WorkOrder

#: The estate service standard: share of repairs on time (维修及时率).
TIMELINESS_TARGET = 0.90


@dataclass(frozen=True)
class RepairKpis:
    orders: int
    decided: int
    on_time: int
    late: int
    pending: int
    cancelled: int
    timeliness: float | None  # 维修及时率, 0..1; None when nothing is decided yet
    target: float
    mean_minutes: dict[str, float | None]
    by_state: dict[str, int]
    breaches: dict[str, int]


def repair_kpis(orders: Sequence[WorkOrder], start: datetime, stop: datetime) -> RepairKpis:
    """``orders`` created in [start, stop) count; others are ignored."""
    chosen = [o for o in orders if start <= o.created_at < stop]
    counted = [o for o in chosen if o.state is not OrderState.CANCELLED]
    finished = {OrderState.RESOLVED, OrderState.CLOSED}
    decided = [o for o in counted if o.breached or o.state in finished]
    late = sum(1 for o in decided if o.breached)
    means: dict[str, float | None] = {}
    for step in Step:
        spans = [(done - o.created_at).total_seconds() / 60 for o in counted if (done := o.done_at(step))]
        means[step.value] = round(sum(spans) / len(spans), 1) if spans else None
    return RepairKpis(
        orders=len(chosen),
        decided=len(decided),
        on_time=len(decided) - late,
        late=late,
        pending=len(counted) - len(decided),
        cancelled=len(chosen) - len(counted),
        timeliness=round((len(decided) - late) / len(decided), 4) if decided else None,
        target=TIMELINESS_TARGET,
        mean_minutes=means,
        by_state=dict(Counter(o.state.value for o in chosen)),
        breaches=dict(Counter(step.value for o in counted for step in o.breached)),
    )
