"""The equipment ledger (设备台账): every device and every declared asset, with its plans.

Built once from the inventory: a device is an asset of its own kind; an ``assets`` entry adds an
asset without telemetry or completes a device's entry with maker, model, owner and certificates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from assets.plans import Plan, plans_for
from devices.inventory import Estate, Inventory
from devices.ledger import AssetConfig, AssetKind, Certificate

AssetKey = tuple[str, str]  # (estate, asset id)


@dataclass(frozen=True)
class Asset:
    estate: str
    id: str
    kind: AssetKind
    device: bool  # it has telemetry (a device of the inventory)
    plans: tuple[Plan, ...]
    name: str | None = None
    building: str | None = None
    location: str | None = None
    maker: str | None = None
    model: str | None = None
    installed: date | None = None
    owner: str | None = None
    responsible: str | None = None
    certificates: tuple[Certificate, ...] = ()

    @property
    def key(self) -> AssetKey:
        return (self.estate, self.id)

    @property
    def label(self) -> str:
        return f"{self.name or self.id}（{self.location}）" if self.location else self.name or self.id

    def plan(self, plan_id: str) -> Plan | None:
        return next((p for p in self.plans if p.id == plan_id), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "estate": self.estate,
            "id": self.id,
            "kind": self.kind.value,
            "device": self.device,
            "name": self.name,
            "building": self.building,
            "location": self.location,
            "maker": self.maker,
            "model": self.model,
            "installed": self.installed.isoformat() if self.installed else None,
            "owner": self.owner,
            "responsible": self.responsible,
            "certificates": [c.model_dump(mode="json") for c in self.certificates],
        }


def _asset(inventory: Inventory, estate: Estate, asset_id: str, extra: AssetConfig | None) -> Asset:
    device = estate.device(asset_id)
    kind = extra.kind if extra is not None and extra.kind is not None else None
    if kind is None:
        assert device is not None  # check_references: an asset that is not a device names its kind
        kind = AssetKind(device.kind.value)
    plans = plans_for(kind, inventory.maintenance, estate.maintenance, extra.plans if extra else ())
    facts: dict[str, Any] = {}
    if extra is not None:
        facts = extra.model_dump(exclude={"id", "kind", "plans", "certificates"})
        facts["certificates"] = tuple(extra.certificates)
    facts["building"] = facts.get("building") or (device.building if device else None)
    facts["location"] = facts.get("location") or (device.location if device else None)
    return Asset(estate.id, asset_id, kind, device is not None, tuple(plans), **facts)


def build_ledger(inventory: Inventory) -> dict[AssetKey, Asset]:
    """Every asset of every estate, devices first in inventory order, then the declared ones."""
    ledger: dict[AssetKey, Asset] = {}
    for estate in inventory.estates:
        extras = {a.id: a for a in estate.assets}
        for device in estate.devices:
            ledger[(estate.id, device.id)] = _asset(inventory, estate, device.id, extras.get(device.id))
        for extra in estate.assets:
            if (estate.id, extra.id) not in ledger:
                ledger[(estate.id, extra.id)] = _asset(inventory, estate, extra.id, extra)
    return ledger
