"""What the estate's structure says about alerts: suppression by design and grouped alarms.

- Maintenance windows suppress a device, a building or a whole estate.
- A parent that is down (offline, or a grouped alarm on it) suppresses its children's alerts;
  when it returns, the children's own state decides again.
- A lift in fire/firefighter/earthquake mode suppresses its other alerts; a power loss
  suppresses the consequential lift faults of its building for 10 minutes.
- Many children of one parent offline together → one grouped alarm on the parent (CCTV → NVR).
- The share of working lamps of an estate (完好率), and failed lamps per circuit.
- An estate whose whole feed is lost (alerts/feed.py) suppresses the alerts raised meanwhile.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from alerts.kpis import LampIntact, lamp_intact
from alerts.model import alert_key
from alerts.store import MaintenanceWindow
from devices.inventory import DeviceConfig, Inventory

SPECIAL_MODE_RULE = "lift.special_mode"
POWER_LOSS_RULE = "lift.power_loss"
#: Lift faults that follow from a power cut; entrapment and unintended movement never do.
CONSEQUENTIAL_LIFT_RULES = frozenset(
    {
        "lift.stopped_outside_door_zone",
        "lift.stopped_empty",
        "lift.position_lost",
        "lift.door_failure",
        "lift.safety_circuit",
        "lift.offline",
    }
)


#: A lift in fire or earthquake mode hides its other alarms, but never a trapped passenger or an
#: uncontrolled car: those are what the mode cannot explain.
NEVER_HIDDEN_BY_MODE = frozenset(
    {SPECIAL_MODE_RULE, "lift.entrapment", "lift.trapped_suspected", "lift.unintended_movement"}
)


OUT_OF_SERVICE_RULE = "lift.out_of_service"
#: Lift faults that stop the car: while one is active on a lift, its out-of-service mode is their
#: consequence, and its alarm is held under them (cause suppression) — one fault, one alarm.
STOPPING_FAULTS = frozenset(
    {
        "lift.entrapment",
        "lift.trapped_suspected",
        "lift.unintended_movement",
        "lift.overtravel",
        "lift.safety_circuit",
        "lift.stopped_outside_door_zone",
        "lift.stopped_empty",
        "lift.position_lost",
        "lift.door_failure",
        "lift.power_loss",
        "lift.runtime_limiter",
        "lift.restart_prevented",
    }
)


def stopped_by(device: str, fault: str) -> str:
    """The suppression of a lift's out-of-service alarm under one of its faults."""
    return f"lift {device} out of service by its fault {fault}"


FEED_LOST_RULE = "estate.feed_lost"
FEED_LOST_TAG = "feed lost"  # how suppressions under it begin


def offline_rule(kind: str) -> str:
    return f"{kind}.offline"


@dataclass
class Topology:
    inventory: Inventory
    power_loss_window: timedelta = timedelta(minutes=10)
    windows: list[MaintenanceWindow] = field(default_factory=list)
    power_loss_at: dict[tuple[str, str], datetime] = field(default_factory=dict)
    #: Parents currently down (offline or grouped), per estate.
    down: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    #: Lifts in a special mode, per estate.
    special: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    #: Estates whose whole feed is lost (alerts/feed.py), since when nothing came from them.
    feed_lost: dict[str, datetime] = field(default_factory=dict)
    #: Lamps reported failed, per estate.
    failed_lamps: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def device(self, estate: str, device: str | None) -> DeviceConfig | None:
        return self.inventory.device(estate, device) if device else None

    def reason(
        self, estate: str, building: str | None, device: str | None, rule: str, now: datetime
    ) -> str | None:
        """Why an alert raised now should be suppressed, or None."""
        if rule != FEED_LOST_RULE and estate in self.feed_lost:
            return self.feed_reason(estate)
        for window in self.windows:
            if window.covers(estate, building, device, now):
                return f"maintenance window {window.id}: {window.reason}"
        config = self.device(estate, device)
        if config is not None and config.parent and config.parent in self.down[estate]:
            return f"parent {config.parent} down"
        if device in self.special[estate] and rule not in NEVER_HIDDEN_BY_MODE:
            return f"lift {device} in a special mode"
        since = self.power_loss_at.get((estate, building or ""))
        if rule in CONSEQUENTIAL_LIFT_RULES and since is not None and now - since < self.power_loss_window:
            return f"power loss in building {building} at {since:%H:%M}"
        return None

    def feed_reason(self, estate: str) -> str | None:
        lost = self.feed_lost.get(estate)
        return None if lost is None else f"{FEED_LOST_TAG}: nothing from the estate since {lost:%H:%M:%S} UTC"

    def children(self, estate: str, parent: str) -> list[DeviceConfig]:
        """The devices hanging off ``parent`` (cameras of an NVR, lamps of a circuit)."""
        found = self.inventory.estate(estate)
        return found.children(parent) if found else []

    def children_keys(self, estate: str, parent: str) -> list[str]:
        return [
            alert_key(estate, c.id, rule) for c in self.children(estate, parent) for rule in self._rules_of(c)
        ]

    @staticmethod
    def _rules_of(child: DeviceConfig) -> list[str]:
        # The alerts a child can have that a parent outage explains: going silent, first of all.
        return [offline_rule(child.kind.value)]

    def lamp_ratio(self, estate: str, silent: Iterable[str] = ()) -> LampIntact:
        """The estate's lamp 完好率 as the overview and the daily rollups count it
        (:func:`alerts.kpis.lamp_intact`): lamps are lights hanging off a circuit (with a parent);
        those reported failed are failed, and those in ``silent`` (offline, not heard from) are
        unknown: not working."""
        found = self.inventory.estate(estate)
        lamps = [d.id for d in found.devices if d.kind == "light" and d.parent] if found else []
        return lamp_intact(lamps, self.failed_lamps[estate], silent)

    def failed_on_circuit(self, estate: str, circuit: str) -> int:
        ids = {c.id for c in self.children(estate, circuit)}
        return len(ids & self.failed_lamps[estate])
