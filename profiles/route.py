"""Which device a vendor payload is from, and which profile reads it: built once from the inventory.

A payload arrives on ``estate/{estate}/{kind}/{device}/raw`` (or pushed over HTTP, which publishes
it there), or on a profile's own topic pattern (``dtu/{vendor_id}/up``), matched to the device whose
``vendor_id`` it carries. Canonical topics never come here: the gateway asks only about a topic its
canonical decoder refused (docs/contract.md §3.6), so devices without a profile pay nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from zoneinfo import ZoneInfo

from devices.inventory import DeviceConfig, Estate, Inventory
from profiles import dahua, hikvision, modbus, user
from profiles.base import Decoder, Failure, Message, ProfileError, Target
from profiles.config import Builtin, UserProfile, builtin_of

RAW_CHANNEL = "raw"
DECODERS: dict[Builtin, Decoder] = {
    Builtin.HIKVISION_ISAPI: hikvision.decode,
    Builtin.DAHUA_EVENT: dahua.decode,
    Builtin.MODBUS_RTU: modbus.decode,
}


class _Pattern:
    def __init__(self, profile: UserProfile) -> None:
        assert profile.topic is not None
        self.levels = profile.topic.split("/")
        self.at = profile.vendor_level
        self.devices: dict[str, Target] = {}
        #: Vendor ids of devices of estates another instance owns (scale-out): theirs to read.
        self.elsewhere: set[str] = set()

    def match(self, levels: Sequence[str]) -> Target | bool | None:
        """The device; True: another instance's; None: a vendor id nobody has; False: not this pattern."""
        if len(levels) != len(self.levels):
            return False
        for i, (mine, theirs) in enumerate(zip(self.levels, levels, strict=True)):
            if i != self.at and mine != theirs:
                return False
        vendor_id = levels[self.at]
        return self.devices.get(vendor_id) or (True if vendor_id in self.elsewhere else None)


class VendorRouter:
    """``owned`` (scale-out, ``ESTATE_ESTATES``): the estates this instance reads; a message on a
    profile's own topic from a device of another estate is let go (every instance subscribes to
    ``dtu/+/up`` and gets it; its owner reads it), not dead-lettered."""

    def __init__(self, inventory: Inventory, owned: Collection[str] | None = None) -> None:
        self._profiles = {p.name: p for p in inventory.profiles}
        self._devices: dict[tuple[str, str], Target] = {}
        self._patterns: dict[str, _Pattern] = {}
        for estate in inventory.estates:
            mine = owned is None or estate.id in owned
            for config in estate.devices:
                if config.profile is not None:
                    self._add(estate, config, mine)

    def _add(self, estate: Estate, config: DeviceConfig, mine: bool) -> None:
        name = config.profile or ""
        profile = self._profiles.get(name)
        builtin = builtin_of(name, list(self._profiles.values()))
        zone = ZoneInfo(estate.timezone)
        target = Target(
            estate.id,
            config.id,
            config.kind,
            name,
            zone,
            config.modbus,
            profile,
            builtin,
            config.building or "",
        )
        if mine:
            self._devices.setdefault((estate.id, config.id), target)
        if profile is not None and profile.topic is not None and config.vendor_id is not None:
            pattern = self._patterns.setdefault(profile.topic, _Pattern(profile))
            if mine:
                pattern.devices.setdefault(config.vendor_id, target)
            else:
                pattern.elsewhere.add(config.vendor_id)

    def __bool__(self) -> bool:
        return bool(self._devices)

    def subscriptions(self) -> list[str]:
        """The MQTT filters of the profiles' own topics (``dtu/+/up``)."""
        return sorted({t.replace("{vendor_id}", "+") for t, p in self._patterns.items() if p.devices})

    def device(self, estate: str, device: str) -> Target | None:
        return self._devices.get((estate, device))

    def by_topic(self, topic: str) -> Target | bool | None:
        """The device of a profile's own topic; True: another instance's device; None: a vendor id
        nobody has; False: no profile's topic."""
        levels = topic.split("/")
        for pattern in self._patterns.values():
            found = pattern.match(levels)
            if found is not False:
                return found
        return False

    def decode(self, payload: bytes, target: Target) -> list[Message]:
        """What the payload says, as canonical messages; raises :class:`ProfileError`."""
        if target.builtin is not None:
            return DECODERS[target.builtin](payload, target)
        if target.user is None:
            raise ProfileError(Failure.NO_PROFILE, f"no profile {target.profile!r} in the inventory")
        return user.decode(payload, target)
