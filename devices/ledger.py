"""The inventory's equipment-ledger section (设备台账, docs/contract.md §4): assets and maintenance plans.

Every device is an asset; ``assets`` adds the ones without telemetry (a fire extinguisher, a septic
tank) and the ledger facts of either: maker, model, install date, owner, the person responsible,
certificates. An ``assets`` entry whose id is a device's id completes that device's ledger entry.
``maintenance`` settings change the default plans (assets/plans.py, each citing its standard) for the
whole inventory, an estate, or one asset; the most specific wins, field by field.
Models only: the plans, the scheduler and the records are the ``assets`` package's.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, NamedTuple

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from devices.base import IdStr, Severity, Trade

_INTERVAL = re.compile(r"([1-9]\d{0,3})(d|wd|mo|y)")


class AssetKind(StrEnum):
    """The device kinds, and the assets that have no telemetry."""

    LIFT = "lift"
    WATER_TANK = "water_tank"
    ACCESS = "access"
    LIGHT = "light"
    CCTV = "cctv"
    PATROL = "patrol"
    FIRE_EXTINGUISHER = "fire_extinguisher"
    HOSE_BOX = "hose_box"
    SEPTIC_TANK = "septic_tank"
    WELL = "well"  # rain or sewage well (雨污水井)
    DRAIN = "drain"
    LIGHTNING_ROD = "lightning_rod"
    PUMP_ROOM = "pump_room"
    POWER_ROOM = "power_room"


class IntervalUnit(StrEnum):
    DAYS = "d"
    WORKING_DAYS = "wd"
    MONTHS = "mo"
    YEARS = "y"


class Interval(NamedTuple):
    """A plan's interval or lead time: written "15d", "20wd", "6mo" or "1y"."""

    amount: int
    unit: IntervalUnit

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


def _interval(value: object) -> object:
    if isinstance(value, Interval):
        return value
    if not isinstance(value, str) or not (match := _INTERVAL.fullmatch(value)):
        raise ValueError(
            f"{value!r} is not an interval: a whole number (1-9999) and d (days), wd (working days), "
            "mo (months) or y (years), e.g. 15d or 6mo"
        )
    return Interval(int(match[1]), IntervalUnit(match[2]))


IntervalText = Annotated[Interval, BeforeValidator(_interval), PlainSerializer(str, return_type=str)]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Certificate(_Config):
    kind: IdStr = Field(description="What it certifies, e.g. inspection (特种设备定期检验) or registration")
    number: str = Field(min_length=1, max_length=100, description="Certificate number")
    expires: date = Field(description="Expiry date; warned 30 days ahead, an alarm once past")
    issued: date | None = Field(None, description="Issue date")


class PlanSetting(_Config):
    """A change to one default maintenance plan (by ``plan`` id, e.g. lift.maintenance)."""

    plan: str = Field(
        min_length=1, max_length=64, description="Plan id, e.g. lift.maintenance (docs/rules.md)"
    )
    every: IntervalText | None = Field(None, description='Interval, e.g. "15d", "20wd", "6mo", "1y"')
    lead: IntervalText | None = Field(None, description="How long before it is due its order is made")
    trade: Trade | None = Field(None, description="Trade whose crew gets the order")
    overdue_severity: Severity | None = Field(None, description="Severity of maintenance.overdue")
    worse_after: IntervalText | None = Field(
        None,
        description='Late by more than this past the due day, e.g. "6mo": the alarm becomes worse_severity',
    )
    worse_severity: Severity | None = Field(None, description="Severity once late by more than worse_after")
    enabled: bool | None = Field(None, description="false: no orders, no overdue alarm for it")


class AssetConfig(_Config):
    id: IdStr = Field(description="Asset id, unique in the estate; a device's id completes that device")
    kind: AssetKind | None = Field(None, description="Asset class; a device's own kind when omitted")
    name: str | None = Field(None, max_length=200, description="Display name, e.g. 1号楼灭火器组")
    building: IdStr | None = Field(None, description="One of the estate's buildings; none for grounds")
    location: str | None = Field(None, max_length=200, description="Where it is, for people")
    maker: str | None = Field(None, max_length=200, description="Manufacturer")
    model: str | None = Field(None, max_length=200, description="Model")
    installed: date | None = Field(
        None, description="Install date; a plan counts from it if later than today"
    )
    owner: str | None = Field(None, max_length=200, description="Owner: estate, utility, lift owner ...")
    responsible: str | None = Field(None, max_length=200, description="Person responsible (责任人)")
    certificates: list[Certificate] = Field(default_factory=list, description="Certificates with expiry")
    plans: list[PlanSetting] = Field(default_factory=list, description="This asset's plan changes")
