"""The operator's estate inventory (docs/contract.md §4): strict models and the cross-reference checks.

Strict: an unknown key is refused, since a misspelt ``parnet`` must not silently take a device out of
topology suppression. Reading YAML and placing errors on lines is :mod:`devices.loader`'s job.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import date, time, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Literal, NamedTuple, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    field_validator,
    model_validator,
)

from devices import workdays as workdays_
from devices.alarm_figures import AlarmFigures
from devices.base import IdStr, Kind, Severity, Trade
from devices.kinds.water_tank import Disinfectant
from devices.ledger import AssetConfig, PlanSetting
from devices.notifications import Notifications, notification_issues
from devices.registry import spec
from profiles.config import VENDOR_ID_PATTERN, ModbusParams, UserProfile, profile_issues

#: The estate service standard: no shift (control room, crews) longer than 8 h.
MAX_SHIFT = timedelta(hours=8)
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_DURATION = re.compile(r"([1-9]\d*)(m|h|d|wd)")

#: Where a cross-reference issue sits: keys and list indexes from the root, as pydantic's ``loc``.
Loc = tuple[str | int, ...]


def _clock_time(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 06:00 as the base-60 number 360: say so rather than "not a time".
        raise ValueError('write times as quoted "HH:MM" text (unquoted, YAML reads 06:00 as a number)')
    if isinstance(value, str):
        if not (match := _HHMM.fullmatch(value)):
            raise ValueError(f'{value!r} is not a time "HH:MM" from 00:00 to 23:59')
        return time(int(match[1]), int(match[2]))
    return value


def _duration(value: object) -> object:
    if isinstance(value, SlaDuration):
        return value
    if not isinstance(value, str) or not (match := _DURATION.fullmatch(value)):
        raise ValueError(f"{value!r} is not a duration: a whole number and m, h, d or wd (working days)")
    return SlaDuration(int(match[1]), DurationUnit(match[2]))


def _rule_value(value: object) -> bool | int | float | str:
    if isinstance(value, bool | int | float | str):
        return value
    raise ValueError("a rule setting is a number, true/false or text")


#: A local wall-clock time written "HH:MM" in YAML.
ClockTime = Annotated[
    time, BeforeValidator(_clock_time), PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str)
]
RuleValue = Annotated[
    bool | int | float | str, PlainValidator(_rule_value, json_schema_input_type=bool | int | float | str)
]


def span(start: time, end: time) -> timedelta:
    """Length of ``start``→``end`` on a 24-hour clock: an earlier end crosses midnight, equal is 24 h."""
    minutes = (end.hour * 60 + end.minute - start.hour * 60 - start.minute) % 1440
    return timedelta(minutes=minutes or 1440)


class DurationUnit(StrEnum):
    MINUTES = "m"
    HOURS = "h"
    DAYS = "d"
    WORKING_DAYS = "wd"


class SlaDuration(NamedTuple):
    """An SLA clock: written "30m", "2h", "2d" or "5wd" (working days on the holiday calendar)."""

    amount: int
    unit: DurationUnit

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


Duration = Annotated[SlaDuration, BeforeValidator(_duration), PlainSerializer(str, return_type=str)]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Region(_Config):
    id: IdStr = Field(description="Region id, unique in the whole tree")
    name: str = Field(min_length=1, description="Display name, e.g. XX区")
    children: list[Region] = Field(default_factory=list, description="Sub-regions, any depth")


class OperatorPosition(_Config):
    """A control-room desk (ISA-18.2 "operator position"): the estates one operator watches. Alarm
    load and floods are counted per position; an estate in no position is a position of its own."""

    id: IdStr = Field(description="Position id, e.g. desk-1")
    name: str | None = Field(None, description="Display name, e.g. 一号席位")
    estates: list[IdStr] = Field(min_length=1, description="Estates this desk watches")


class DeviceConfig(_Config):
    id: IdStr = Field(description="Device id as in its MQTT topic; unique in the estate")
    kind: Kind = Field(description="Device kind: selects its payload models, rules and trade")
    building: IdStr | None = Field(None, description="One of the estate's buildings; none for grounds")
    location: str | None = Field(None, description="Where it is, for people, e.g. 一单元大门")
    heartbeat_s: int | None = Field(None, gt=0, description="Reporting interval, s; default per kind")
    key: bool = Field(False, description="Key device (gate, lift car, pump room, perimeter camera)")
    parent: IdStr | None = Field(None, description="Upstream device of the same estate (camera → NVR)")
    profile: str | None = Field(
        None, description="Vendor payload profile: hikvision-isapi, dahua-event, modbus-rtu or a user's"
    )
    vendor_id: str | None = Field(
        None, pattern=VENDOR_ID_PATTERN, description="Its id on its profile's own topic (a DTU's IMEI)"
    )
    modbus: ModbusParams | None = Field(None, description="modbus-rtu: unit and register map")
    ingest_token_sha256: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$", description="SHA-256 of its token for POST /api/ingest (?token=)"
    )
    disinfectant: Disinfectant | None = Field(
        None,
        description="water_tank: chlorine (free chlorine ≤ 2 mg/L, default) or chloramine (total "
        "chlorine ≤ 3 mg/L, GB 5749-2022)",
    )

    @model_validator(mode="after")
    def _disinfectant_of_a_tank(self) -> DeviceConfig:
        if self.disinfectant is not None and self.kind is not Kind.WATER_TANK:
            raise ValueError(f"disinfectant is a water_tank setting, not one of a {self.kind.value}")
        return self

    @property
    def disinfectant_used(self) -> Disinfectant:
        return self.disinfectant or Disinfectant.CHLORINE

    def effective_heartbeat_s(self) -> int | None:
        """The configured interval, else the kind's default (None: not expected on a clock)."""
        return self.heartbeat_s if self.heartbeat_s is not None else spec(self.kind).default_heartbeat_s


class Checkpoint(_Config):
    id: IdStr = Field(description="Checkpoint id, as scanned by patrol handsets; unique in the estate")
    building: IdStr | None = Field(None, description="One of the estate's buildings; none for grounds")
    location: str | None = Field(None, description="Where it is, for people")


class PatrolWindow(_Config):
    name: str = Field(min_length=1, description="Window name, e.g. day or night")
    start: ClockTime = Field(description='Local start time "HH:MM"')
    end: ClockTime = Field(description='Local end time "HH:MM"; earlier than start crosses midnight')
    rounds: int = Field(ge=1, description="Rounds of the whole route due in the window")
    min_guards: int = Field(1, ge=1, description="Guards that must scan each checkpoint together")

    @property
    def duration(self) -> timedelta:
        return span(self.start, self.end)


class PatrolPlan(_Config):
    id: IdStr = Field(description="Plan id, unique in the estate")
    name: str | None = Field(
        None, max_length=100, description="Display name (zh-CN), e.g. 夜间巡更; none: the id"
    )
    name_en: str | None = Field(None, max_length=100, description="Display name in English; none: the id")
    route: list[IdStr] = Field(min_length=1, description="Checkpoint ids in the order to visit them")
    grace_min: int = Field(10, ge=0, le=1440, description="Minutes a checkpoint may be late")
    windows: list[PatrolWindow] = Field(min_length=1, description="Time windows with their rounds")


class Guard(_Config):
    id: IdStr = Field(description="Guard id as sent by handsets; unique in the estate")
    name: str = Field(min_length=1, description="Guard's name")


class CalendarSource(StrEnum):
    CHINESE_CALENDAR = "chinese-calendar"  # the chinesecalendar package (devices/workdays.py)
    NONE = "none"  # Monday to Friday, and the lists


class HolidayCalendar(_Config):
    source: CalendarSource = Field(
        CalendarSource.CHINESE_CALENDAR,
        description="Where official holidays come from: chinese-calendar (the package, default) or none "
        "(Monday to Friday); the lists below override it day by day",
    )
    holidays: list[date] = Field(default_factory=list, description="Days off, including weekdays")
    workdays: list[date] = Field(default_factory=list, description="Make-up working days (调休)")

    @model_validator(mode="after")
    def _disjoint(self) -> HolidayCalendar:
        if both := sorted(set(self.holidays) & set(self.workdays)):
            raise ValueError(f"both a holiday and a workday: {', '.join(map(str, both))}")
        return self

    @cached_property
    def _days(self) -> tuple[frozenset[date], frozenset[date]]:
        return frozenset(self.holidays), frozenset(self.workdays)

    def is_working_day(self, day: date) -> bool:
        """A listed holiday or make-up workday as listed; else the source's answer (a year the
        package does not cover conservatively: devices/workdays.py), or Monday to Friday."""
        holidays, workdays = self._days
        if day in workdays or day in holidays:
            return day in workdays
        if self.source is CalendarSource.CHINESE_CALENDAR and day.year not in self._own_years:
            return workdays_.package_working_day(day)
        return day.weekday() < 5

    @cached_property
    def _own_years(self) -> frozenset[int]:
        """Years whose holidays the lists give: the lists are that year's schedule, not the package."""
        return frozenset(d.year for d in self.holidays if not workdays_.package_covers(d.year))

    def coverage_end(self, today: date) -> date | None:
        """The last day with a known schedule (None: today's year has none); with source none,
        nothing is expected of the calendar beyond the lists (None too, see ``needs_schedule``)."""
        return workdays_.coverage_end(self._own_years, today)

    @property
    def needs_schedule(self) -> bool:
        """Whether an uncovered year matters (the package is the source)."""
        return self.source is CalendarSource.CHINESE_CALENDAR


#: The daily KPIs with a target (reports/daily.py ``TARGETS``), which an estate may set for itself.
KpiName = Literal[
    "lamp_intact_pct",
    "camera_online_pct",
    "lift_availability_pct",
    "repair_timely_pct",
    "patrol_compliance_pct",
    "position_per_10min",
    "flood_pct",
    "stale",
    "chattering",
]


class Estate(_Config):
    id: IdStr = Field(description="Estate id as in MQTT topics")
    name: str = Field(min_length=1, description="Display name, e.g. 朝阳小区")
    region: IdStr | None = Field(None, description="Region of the tree the estate belongs to")
    timezone: str = Field("Asia/Shanghai", description="IANA time zone for windows, shifts and display")
    buildings: list[IdStr] = Field(default_factory=list, description="Building ids")
    devices: list[DeviceConfig] = Field(default_factory=list, description="Registered devices")
    checkpoints: list[Checkpoint] = Field(default_factory=list, description="Patrol checkpoints")
    patrols: list[PatrolPlan] = Field(default_factory=list, description="Patrol plans")
    guards: list[Guard] = Field(default_factory=list, description="Guards who carry the handsets")
    rules: dict[str, dict[str, RuleValue]] = Field(
        default_factory=dict, description="Rule overrides: rule name → setting → value (read by alerts)"
    )
    holidays: HolidayCalendar | None = Field(None, description="Replaces the inventory's calendar")
    kpi_targets: dict[KpiName, Annotated[float, Field(ge=0, le=100)]] = Field(
        default_factory=dict,
        description="KPI targets replacing the defaults (docs/contract.md §8.1), e.g. lamp_intact_pct: 90",
    )
    assets: list[AssetConfig] = Field(
        default_factory=list,
        description="Equipment ledger: assets without telemetry, ledger facts of devices",
    )
    maintenance: list[PlanSetting] = Field(
        default_factory=list, description="Changes to the default maintenance plans for this estate"
    )
    sla_policies: list[SlaPolicy] = Field(
        default_factory=list, description="Work-order deadlines of this estate, ahead of the inventory's"
    )
    alarm_management: AlarmFigures | None = Field(
        None, description="This estate's alarm-management figures, over the inventory's"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as Asia/Shanghai") from exc
        return value

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _devices(self) -> dict[str, DeviceConfig]:
        index: dict[str, DeviceConfig] = {}
        for device in self.devices:
            index.setdefault(device.id, device)
        return index

    @cached_property
    def _children(self) -> dict[str, list[DeviceConfig]]:
        index: dict[str, list[DeviceConfig]] = {}
        for device in self.devices:
            if device.parent is not None:
                index.setdefault(device.parent, []).append(device)
        return index

    def device(self, device_id: str) -> DeviceConfig | None:
        return self._devices.get(device_id)

    def children(self, parent_id: str) -> list[DeviceConfig]:
        """Devices whose ``parent`` is ``parent_id`` (for topology suppression and grouping)."""
        return list(self._children.get(parent_id, ()))


class Shift(_Config):
    name: str = Field(min_length=1, description="Shift name, e.g. 白班")
    start: ClockTime = Field(description='Local start time "HH:MM"')
    end: ClockTime = Field(description='Local end time "HH:MM"; earlier than start crosses midnight')
    members: list[str] = Field(default_factory=list, description="Crew members on duty in this shift")

    @model_validator(mode="after")
    def _at_most_8h(self) -> Shift:
        if (length := span(self.start, self.end)) > MAX_SHIFT:
            hours = length.total_seconds() / 3600
            raise ValueError(f"shift {self.name!r} lasts {hours:g} h, longer than 8 h")
        return self


class Crew(_Config):
    id: IdStr = Field(description="Crew id, as in crew/{crew}/orders")
    name: str | None = Field(None, description="Display name")
    name_en: str | None = Field(None, max_length=100, description="Display name in English; none: the id")
    trades: list[Trade] = Field(min_length=1, description="Trades the crew repairs")
    estates: list[IdStr] = Field(min_length=1, description="Estates the crew serves")
    members: list[str] = Field(default_factory=list, description="Names of the crew's members")
    roster: list[Shift] | None = Field(None, description="On-duty shifts; none: always on duty")


class SlaPolicy(_Config):
    """Deadlines for work orders. For each clock the most specific policy that sets it wins: one
    naming the rule, then the category, then trade and severity (see dispatch/deadlines.py)."""

    id: IdStr = Field(description="Policy id")
    rules: list[str] = Field(default_factory=list, description="Alert rules it applies to; none: every rule")
    category: IdStr | None = Field(
        None, description="Manual-report category it applies to, e.g. common_area; none: every order"
    )
    trade: Trade | None = Field(None, description="Trade it applies to; none: every trade")
    severity: Severity | None = Field(None, description="Severity it applies to; none: every severity")
    accept: Duration | None = Field(None, description='Time to accept, e.g. "15m"')
    arrive: Duration | None = Field(None, description='Time to arrive on site, e.g. "1h"')
    resolve: Duration | None = Field(None, description='Time to resolve, e.g. "24h" or "3wd"')


class Inventory(_Config):
    regions: list[Region] = Field(default_factory=list, description="Region tree above the estates")
    positions: list[OperatorPosition] = Field(
        default_factory=list, description="Operator positions (control-room desks); default: one per estate"
    )
    estates: list[Estate] = Field(description="The estates monitored")
    crews: list[Crew] = Field(default_factory=list, description="Maintenance crews")
    calendar: HolidayCalendar = Field(
        default_factory=HolidayCalendar, description="Holidays and make-up workdays for working-day clocks"
    )
    sla_policies: list[SlaPolicy] = Field(default_factory=list, description="Work-order deadlines")
    notifications: Notifications = Field(
        default_factory=Notifications, description="Who is paged, through which channels (notify/)"
    )
    profiles: list[UserProfile] = Field(
        default_factory=list, description="User-defined vendor payload profiles (docs/contract.md §3.6)"
    )
    maintenance: list[PlanSetting] = Field(
        default_factory=list, description="Changes to the default maintenance plans for every estate"
    )
    alarm_management: AlarmFigures = Field(
        default_factory=AlarmFigures,
        description="Alarm-management figures (escalation, chattering, flood, shelving, patrol severities)",
    )

    @cached_property
    def _estates(self) -> dict[str, Estate]:
        index: dict[str, Estate] = {}
        for estate in self.estates:
            index.setdefault(estate.id, estate)
        return index

    def estate(self, estate_id: str) -> Estate | None:
        return self._estates.get(estate_id)

    def device(self, estate_id: str, device_id: str) -> DeviceConfig | None:
        estate = self._estates.get(estate_id)
        return None if estate is None else estate.device(device_id)

    def only(self, estate_ids: Collection[str]) -> Inventory:
        """This inventory cut down to some of its estates (a gateway instance's own, for scale-out):
        their devices, the crews serving them (with just those estates), everything else as is."""
        keep = set(estate_ids)
        unknown = keep - set(self._estates)
        if unknown:
            raise ValueError(f"estates {', '.join(sorted(unknown))} are not in the inventory")
        crews = [
            crew.model_copy(update={"estates": [e for e in crew.estates if e in keep]})
            for crew in self.crews
            if keep.intersection(crew.estates)
        ]
        estates = [estate for estate in self.estates if estate.id in keep]
        # Built anew (not model_copy): the copy would keep the estate index cached for all estates.
        fields = {name: getattr(self, name) for name in type(self).model_fields}
        return type(self).model_construct(**(fields | {"estates": estates, "crews": crews}))

    def calendar_for(self, estate_id: str) -> HolidayCalendar:
        """The estate's own calendar if it has one, else the inventory's."""
        estate = self._estates.get(estate_id)
        return estate.holidays if estate is not None and estate.holidays is not None else self.calendar


# --- cross-reference checks -------------------------------------------------------------------


class RefIssue(NamedTuple):
    loc: Loc
    message: str


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


class _Placed(_HasId, Protocol):
    @property
    def building(self) -> str | None: ...


def _ids(items: Sequence[_HasId], loc: Loc) -> Iterator[tuple[Loc, str]]:
    return (((*loc, i, "id"), item.id) for i, item in enumerate(items))


def _duplicates(values: Iterable[tuple[Loc, str]], what: str) -> Iterator[RefIssue]:
    seen: set[str] = set()
    for loc, value in values:
        if value in seen:
            yield RefIssue(loc, f"duplicate {what} {value!r}")
        seen.add(value)


def _walk_regions(regions: Sequence[Region], loc: Loc) -> Iterator[tuple[Loc, Region]]:
    for i, region in enumerate(regions):
        yield (*loc, i), region
        yield from _walk_regions(region.children, (*loc, i, "children"))


def _loops(start: str, parents: dict[str, str | None]) -> bool:
    seen: set[str] = set()
    current = parents.get(start)
    while current is not None and current not in seen:
        if current == start:
            return True
        seen.add(current)
        current = parents.get(current)
    return False


def _estate_issues(estate: Estate, loc: Loc, regions: set[str]) -> Iterator[RefIssue]:
    if estate.region is not None and estate.region not in regions:
        yield RefIssue((*loc, "region"), f"region {estate.region!r} is not in the regions tree")
    yield from _duplicates((((*loc, "buildings", i), b) for i, b in enumerate(estate.buildings)), "building")
    groups: tuple[tuple[str, Sequence[_HasId]], ...] = (
        ("devices", estate.devices),
        ("checkpoints", estate.checkpoints),
        ("patrols", estate.patrols),
        ("guards", estate.guards),
    )
    for name, items in groups:
        yield from _duplicates(_ids(items, (*loc, name)), f"{name[:-1]} id")
    yield from _duplicates(_ids(estate.assets, (*loc, "assets")), "asset id")
    yield from _asset_issues(estate, loc)
    yield from _placement_issues(estate, loc)
    yield from _topology_issues(estate, loc)
    yield from _route_issues(estate, loc)


def _placement_issues(estate: Estate, loc: Loc) -> Iterator[RefIssue]:
    buildings = set(estate.buildings)
    groups: tuple[tuple[str, Sequence[_Placed]], ...] = (
        ("devices", estate.devices),
        ("checkpoints", estate.checkpoints),
    )
    for name, items in groups:
        for i, item in enumerate(items):
            if item.building is not None and item.building not in buildings:
                yield RefIssue((*loc, name, i, "building"), f"building {item.building!r} is not in buildings")


def _asset_issues(estate: Estate, loc: Loc) -> Iterator[RefIssue]:
    buildings = set(estate.buildings)
    for i, asset in enumerate(estate.assets):
        device = estate.device(asset.id)
        if device is None and asset.kind is None:
            yield RefIssue((*loc, "assets", i, "kind"), f"asset {asset.id!r} is not a device: give its kind")
        elif device is not None and asset.kind is not None and asset.kind.value != device.kind.value:
            why = f"asset {asset.id!r} is device of kind {device.kind.value}, not {asset.kind.value}"
            yield RefIssue((*loc, "assets", i, "kind"), why)
        if asset.building is not None and asset.building not in buildings:
            yield RefIssue(
                (*loc, "assets", i, "building"), f"building {asset.building!r} is not in buildings"
            )


def _route_issues(estate: Estate, loc: Loc) -> Iterator[RefIssue]:
    checkpoints = {checkpoint.id for checkpoint in estate.checkpoints}
    for p, plan in enumerate(estate.patrols):
        for r, checkpoint in enumerate(plan.route):
            if checkpoint not in checkpoints:
                yield RefIssue((*loc, "patrols", p, "route", r), f"checkpoint {checkpoint!r} is not defined")


def _topology_issues(estate: Estate, loc: Loc) -> Iterator[RefIssue]:
    parents = {device.id: device.parent for device in estate.devices}
    for i, device in enumerate(estate.devices):
        where = (*loc, "devices", i, "parent")
        if device.parent is not None and device.parent not in parents:
            yield RefIssue(where, f"parent {device.parent!r} is not a device of estate {estate.id!r}")
        elif _loops(device.id, parents):
            yield RefIssue(where, f"parent chain of {device.id!r} loops back to it")


def _crew_issues(crew: Crew, loc: Loc, estates: set[str]) -> Iterator[RefIssue]:
    for i, estate in enumerate(crew.estates):
        if estate not in estates:
            yield RefIssue((*loc, "estates", i), f"estate {estate!r} is not defined")
    members = set(crew.members)
    for s, shift in enumerate(crew.roster or ()):
        for m, member in enumerate(shift.members):
            if member not in members:
                yield RefIssue((*loc, "roster", s, "members", m), f"{member!r} is not a member of the crew")


def check_references(inventory: Inventory) -> list[RefIssue]:
    """Every broken reference and duplicate id of a schema-valid inventory, with its location."""
    regions = list(_walk_regions(inventory.regions, ("regions",)))
    issues = list(_duplicates((((*loc, "id"), region.id) for loc, region in regions), "region id"))
    issues += _duplicates(_ids(inventory.estates, ("estates",)), "estate id")
    issues += _duplicates(_ids(inventory.crews, ("crews",)), "crew id")
    issues += _duplicates(_ids(inventory.sla_policies, ("sla_policies",)), "SLA policy id")
    region_ids = {region.id for _, region in regions}
    for i, estate in enumerate(inventory.estates):
        issues += _estate_issues(estate, ("estates", i), region_ids)
    estate_ids = {estate.id for estate in inventory.estates}
    for i, crew in enumerate(inventory.crews):
        issues += _crew_issues(crew, ("crews", i), estate_ids)
    crew_ids = {crew.id for crew in inventory.crews}
    notifications = notification_issues(inventory.notifications, estate_ids, region_ids, crew_ids)
    issues += (RefIssue(loc, why) for loc, why in notifications)
    devices = [(estate.id, estate.devices) for estate in inventory.estates]
    issues += (RefIssue(loc, why) for loc, why in profile_issues(inventory.profiles, devices))
    return issues
