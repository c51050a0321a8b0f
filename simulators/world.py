"""Every device of an inventory, simulated on simulated time: deterministic and broker-free.

``World.advance(until)`` returns every message due in ``(now, until]`` in time order, ties in a
fixed order (estate, device, then the device's own order); what carries the messages to a broker
(``estate-sim run``), a scenario runner or an in-process alarm engine is up to the caller. Each
device has its own ``random.Random`` seeded from (seed, estate, device), so two worlds with the
same inventory, seed and start produce the same messages, and adding a device changes nothing
about the others (but for patrol handsets: the estate's plans are dealt to its handsets in
turn). The first message of each device is its retained ``online`` status.

Faults (``inject``/``clear``) are listed with the rules they raise in ``FAULTS``
(:mod:`simulators.faults`); their behaviour is in ``simulators/kinds/``. A device reacts 0.1 s
after ``inject`` or ``clear`` (a message needs a time after ``now``).
"""

from __future__ import annotations

import heapq
import random
from datetime import UTC, datetime, timedelta

from devices.base import Kind
from devices.inventory import Inventory
from simulators.faults import FAULTS, FaultSpec, faults_for
from simulators.kinds import SIMS
from simulators.kinds.base import DeviceSim, Message, Setup
from simulators.kinds.patrol import assign_duties

__all__ = ["FAULTS", "FaultSpec", "Message", "World"]

#: Faults of a parent that its children suffer too: a circuit's lamps, an NVR's cameras.
CASCADE = {"circuit_failure": "lamp_failure", "network_failure": "silent"}
DevKey = tuple[str, str]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _us(when: datetime) -> int:
    return (when - _EPOCH) // _MICROSECOND


class World:
    def __init__(self, inventory: Inventory, *, seed: int = 1, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the world's start needs a time zone")
        self.inventory = inventory
        self.now: datetime = start.astimezone(UTC)
        self._sims: dict[DevKey, DeviceSim] = {}
        #: (due in µs since the epoch, estate, device): whole numbers compare fastest.
        self._heap: list[tuple[int, str, str]] = []
        self._queued: dict[DevKey, datetime] = {}
        for estate in inventory.estates:
            duties = assign_duties(estate)
            for config in estate.devices:
                key = (estate.id, config.id)
                if key in self._sims:
                    continue  # a duplicate id (check-config refuses it): the first one stands
                rng = random.Random(f"{seed}/{estate.id}/{config.id}")
                children = tuple(estate.children(config.id))
                duty, profiles = duties.get(config.id, ()), tuple(inventory.profiles)
                setup = Setup(estate, config, rng, self.now, children, duty, profiles)
                self._sims[key] = SIMS[config.kind](setup)
                self._queue(key)

    def advance(self, until: datetime) -> list[Message]:
        """Every message due in ``(now, until]``, in time order; then ``now`` is ``until``."""
        until = until.astimezone(UTC)
        if until < self.now:
            raise ValueError(f"cannot go back in time from {self.now.isoformat()} to {until.isoformat()}")
        out: list[Message] = []
        limit = _us(until)
        while self._heap and self._heap[0][0] <= limit:
            due, estate, device = heapq.heappop(self._heap)
            key = (estate, device)
            at = self._queued.get(key)
            if at is None or _us(at) != due:
                continue  # superseded: the device's next timer moved
            del self._queued[key]
            out += self._sims[key].run(at)
            self._queue(key)
        self.now = until
        return out

    def inject(self, estate: str, device: str, fault: str, **params: object) -> None:
        """Give a device a fault, from now on (see ``FAULTS``); ``ValueError`` if it cannot have it.
        An estate-wide fault (``uplink_down``) takes no device: ``device`` is empty."""
        if not device:
            self._estate_wide(estate, fault, params, clear=False)
            return
        sim = self._sim(estate, device)
        spec = self._spec(sim, fault)
        children = self._children(sim)
        if spec.needs_children and not children:
            raise ValueError(f"fault {fault!r} needs a device with children; {device} has none")
        sim.inject(fault, params, self.now)
        self._queue((estate, device))
        if fault in CASCADE:
            limit = params.get("count")
            for child in children[: limit if isinstance(limit, int) else None]:
                child.inject(CASCADE[fault], {}, self.now)
                self._queue((estate, child.config.id))

    def clear(self, estate: str, device: str, fault: str) -> None:
        """End a lasting fault: the device goes back to normal and says so (e.g. ``fault_cleared``).
        An estate-wide fault: every device of the estate (a device's own ``silent`` ends too)."""
        if not device:
            self._estate_wide(estate, fault, {}, clear=True)
            return
        sim = self._sim(estate, device)
        self._spec(sim, fault)
        sim.clear(fault, self.now)
        self._queue((estate, device))
        if fault in CASCADE:
            for child in self._children(sim):
                child.clear(CASCADE[fault], self.now)
                self._queue((estate, child.config.id))

    def faults(self, kind: Kind) -> list[str]:
        """The faults a device of ``kind`` can be given."""
        return faults_for(Kind(kind))

    def active(self, estate: str, device: str) -> dict[str, dict[str, object]]:
        """The lasting faults a device has now, with their parameters."""
        return {name: dict(params) for name, params in self._sim(estate, device).active.items()}

    # -- helpers ----------------------------------------------------------------------------------
    def _estate_wide(self, estate: str, fault: str, params: dict[str, object], *, clear: bool) -> None:
        spec = FAULTS.get(fault)
        if spec is None or spec.estate_wide is None:
            wide = ", ".join(name for name, s in FAULTS.items() if s.estate_wide)
            raise ValueError(f"fault {fault!r} needs a device (faults of a whole estate: {wide})")
        if params:
            raise ValueError(f"fault {fault!r} takes no parameter {', '.join(sorted(params))}")
        keys = [key for key in self._sims if key[0] == estate]
        if not keys:
            raise ValueError(f"no estate {estate!r} in the inventory")
        for key in keys:
            sim = self._sims[key]
            if clear:
                sim.clear(spec.estate_wide, self.now)
            else:
                sim.inject(spec.estate_wide, {}, self.now)
            self._queue(key)

    def _queue(self, key: DevKey) -> None:
        due = self._sims[key].due()
        if due is not None and self._queued.get(key) != due:
            self._queued[key] = due
            heapq.heappush(self._heap, (_us(due), *key))

    def _sim(self, estate: str, device: str) -> DeviceSim:
        sim = self._sims.get((estate, device))
        if sim is None:
            raise ValueError(f"no device {device!r} in estate {estate!r} of the inventory")
        return sim

    def _spec(self, sim: DeviceSim, fault: str) -> FaultSpec:
        kind = sim.config.kind
        spec = FAULTS.get(fault)
        known = f"faults for a {kind.value}: {', '.join(self.faults(kind))}"
        if spec is None:
            raise ValueError(f"unknown fault {fault!r}; {known}")
        if spec.estate_wide is not None:
            raise ValueError(f"fault {fault!r} is of a whole estate: give no device")
        if kind not in spec.kinds:
            kinds = ", ".join(k.value for k in spec.kinds)
            raise ValueError(f"fault {fault!r} is for {kinds}, not a {kind.value} ({sim.config.id}); {known}")
        return spec

    def _children(self, sim: DeviceSim) -> list[DeviceSim]:
        return [self._sims[(sim.estate.id, child.id)] for child in sim.setup.children]
