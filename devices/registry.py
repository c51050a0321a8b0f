"""Every device kind the gateway knows, listed explicitly: adding a kind is one module and one line."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from devices.base import Kind, KindSpec
from devices.kinds import access, cctv, lift, light, patrol, water_tank

REGISTRY: Mapping[Kind, KindSpec] = MappingProxyType(
    {
        Kind.LIFT: lift.SPEC,
        Kind.WATER_TANK: water_tank.SPEC,
        Kind.ACCESS: access.SPEC,
        Kind.LIGHT: light.SPEC,
        Kind.CCTV: cctv.SPEC,
        Kind.PATROL: patrol.SPEC,
    }
)


def spec(kind: Kind) -> KindSpec:
    """The spec of a kind; every :class:`Kind` is registered (a contract test checks it)."""
    return REGISTRY[kind]
