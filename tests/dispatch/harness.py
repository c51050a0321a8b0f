"""The alarm engine with the dispatch desk on a manual clock (real SQLite, no broker): orders and
their notifications are recorded for the tests to read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from devices.inventory import Inventory
from devices.loader import load_inventory
from dispatch.desk import Dispatcher, DispatchPolicy
from dispatch.model import OrderAction, WorkOrder
from dispatch.store import OrderStore
from tests.alerts.harness import Harness
from tests.support.gateway import SPEC_EXAMPLE

#: 2026 Chinese public holidays and make-up working days (国务院办公厅 2026 schedule as in the sample).
HOLIDAYS_2026 = {
    "holidays": [
        "2026-01-01", "2026-01-02", "2026-01-03",
        "2026-02-15", "2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19", "2026-02-20",
        "2026-02-21", "2026-02-22", "2026-02-23",
        "2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05", "2026-10-06",
        "2026-10-07",
    ],
    "workdays": ["2026-01-04", "2026-02-14", "2026-02-28", "2026-10-10"],
}  # fmt: skip

#: Two lift crews (the second is where an unaccepted order escalates), shifts in local time.
CREWS = [
    {
        "id": "lift-team",
        "trades": ["lift"],
        "estates": ["sunrise"],
        "members": ["王师傅", "刘师傅"],
        "roster": [
            {"name": "早班", "start": "08:00", "end": "16:00", "members": ["王师傅"]},
            {"name": "中班", "start": "16:00", "end": "00:00", "members": ["刘师傅"]},
        ],
    },
    {"id": "lift-backup", "trades": ["lift"], "estates": ["sunrise"], "members": ["陈师傅"]},
    {"id": "water-team", "trades": ["water"], "estates": ["sunrise"]},
    {"id": "electric-team", "trades": ["electrical"], "estates": ["sunrise"]},
    {"id": "security-team", "trades": ["security", "low_voltage"], "estates": ["sunrise"]},
]


def dispatch_inventory(tmp_path: Path, **extra: Any) -> Inventory:
    """The docs/contract.md §4 example with crews, the 2026 holiday calendar and ``extra`` top-level keys."""
    data = yaml.safe_load(SPEC_EXAMPLE.read_text(encoding="utf-8"))
    data["crews"] = CREWS
    data["calendar"] = HOLIDAYS_2026
    data.update(extra)
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_inventory(path)


class OrderRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[dict[str, Any], OrderAction, tuple[str, ...]]] = []

    def notify(self, order: dict[str, Any], action: OrderAction, crews: Sequence[str]) -> None:
        self.events.append((order, action, tuple(crews)))

    def actions(self, order_id: int | None = None) -> list[OrderAction]:
        return [a for o, a, _ in self.events if order_id is None or o["id"] == order_id]


class DispatchHarness(Harness):
    def __init__(
        self,
        tmp_path: Path,
        inventory: Inventory | None = None,
        start: datetime | None = None,
        policy: DispatchPolicy | None = None,
        db_name: str = "alerts.db",
    ) -> None:
        # Monday 2026-01-05 10:00 in Shanghai: the lift team's early shift.
        start = start or datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
        super().__init__(tmp_path, inventory or dispatch_inventory(tmp_path), start=start, db_name=db_name)
        self.orders = OrderRecorder()
        self.order_store = OrderStore(self.store.engine)
        self.desk = Dispatcher(
            self.inventory, self.book, self.order_store, self.clock, self.engine.rule, [self.orders], policy
        )
        self.desk.start()

    def order(self, order_id: int) -> WorkOrder:
        found = self.desk.find(order_id)
        assert found is not None, f"no work order {order_id}"
        return found

    def only_order(self) -> WorkOrder:
        live = list(self.desk.live.values())
        assert len(live) == 1, f"expected one live order, got {[o.title for o in live]}"
        return live[0]

    def to(self, when: datetime, step: float = 60.0, keep_alive: Sequence[str] | None = None) -> None:
        """Advance to exactly ``when``, ticking every ``step`` seconds on the way (devices send
        heartbeats each step unless ``keep_alive`` says otherwise)."""
        self.advance((when - self.clock.now()).total_seconds(), step=step, keep_alive=keep_alive)

    def just_before(
        self, when: datetime, step: float = 60.0, keep_alive: Sequence[str] | None = None
    ) -> None:
        self.to(when - timedelta(seconds=1), step, keep_alive)
