"""Simulated behaviour of each device kind, one module per kind as in ``devices/kinds``."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from devices.base import Kind
from simulators.kinds.access import AccessSim
from simulators.kinds.base import DeviceSim
from simulators.kinds.cctv import CctvSim
from simulators.kinds.lift import LiftSim
from simulators.kinds.light import LightSim
from simulators.kinds.patrol import PatrolSim
from simulators.kinds.water_tank import WaterTankSim

SIMS: Mapping[Kind, type[DeviceSim]] = MappingProxyType(
    {
        Kind.LIFT: LiftSim,
        Kind.WATER_TANK: WaterTankSim,
        Kind.ACCESS: AccessSim,
        Kind.LIGHT: LightSim,
        Kind.CCTV: CctvSim,
        Kind.PATROL: PatrolSim,
    }
)
