"""The inventory's profile models (docs/contract.md §4): a device's Modbus register map and the
user-defined JSON/XML profiles. Strict like the rest of the inventory; every expression is compiled
here, so ``check-config`` reports a bad one with its file and line, and nothing is ever executed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Protocol

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from devices.base import FieldValue, IdStr, Kind
from devices.registry import REGISTRY


class Builtin(StrEnum):
    """The built-in profiles, by the name a device gives in ``profile``."""

    HIKVISION_ISAPI = "hikvision-isapi"
    DAHUA_EVENT = "dahua-event"
    MODBUS_RTU = "modbus-rtu"


#: What the placeholder of a topic pattern stands for: the device's ``vendor_id``.
VENDOR_ID = "{vendor_id}"
_LEVEL = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: A vendor id fills one topic level: no MQTT wildcard or separator in it.
VENDOR_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
#: Named unit conversions (factor, offset): canonical = raw × factor + offset.
CONVERSIONS: dict[str, tuple[float, float]] = {
    "kPa->MPa": (0.001, 0.0),
    "bar->MPa": (0.1, 0.0),
    "degF->degC": (5 / 9, -32 * 5 / 9),
    "cm/s->m/s": (0.01, 0.0),
    "mm/s->m/s": (0.001, 0.0),
    "kW->W": (1000.0, 0.0),
    "ug/L->mg/L": (0.001, 0.0),
}


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _compile(expression: str) -> ParsedResult:
    try:
        return jmespath.compile(expression)
    except JMESPathError as exc:
        raise ValueError(f"{expression!r} is not a JMESPath expression: {str(exc).splitlines()[0]}") from None


def _path(value: object) -> object:
    if isinstance(value, str):
        _compile(value)  # refused here, with the file and line, not when a payload comes
    return value


#: A JMESPath expression over the payload (for XML: over its elements, see profiles.user).
Path = Annotated[str, BeforeValidator(_path), Field(min_length=1, max_length=256)]


def _map_keys(value: object) -> object:
    """YAML reads ``{0: closed}`` with an integer key and ``{true: on}`` with a boolean one: keys are
    compared as text (an XML value is text anyway), so they are kept as text."""
    if isinstance(value, dict):
        return {_as_text(k): v for k, v in value.items()}
    return value


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class FieldRead(_Config):
    """How one canonical field is read from the payload."""

    path: Path = Field(description="JMESPath expression giving the value, e.g. data.curFloor")
    map: Annotated[dict[str, FieldValue], BeforeValidator(_map_keys)] | None = Field(
        None, description="Value table, e.g. {0: closed, 1: open}; a value not in it is a dead letter"
    )
    scale: float = Field(1.0, description="Multiplied by this (after convert)")
    offset: float = Field(0.0, description="Then this added")
    convert: str | None = Field(None, description="A named unit conversion, e.g. kPa->MPa or degF->degC")

    @field_validator("convert")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is not None and value not in CONVERSIONS:
            raise ValueError(f"unknown conversion {value!r}: one of {', '.join(CONVERSIONS)}")
        return value

    @cached_property
    def compiled(self) -> ParsedResult:
        return _compile(self.path)


def _scalar(value: object) -> object:
    if isinstance(value, bool | int | float | str):
        return value
    raise ValueError("a value to compare with is a number, true/false or text")


class When(_Config):
    """The condition of an event rule: the value at ``path`` equals ``equals`` (or is one of ``in``);
    compared as numbers when both are numbers, else as text."""

    path: Path = Field(description="JMESPath expression")
    equals: Annotated[FieldValue, BeforeValidator(_scalar)] | None = Field(None, description="The value")
    in_: list[Annotated[FieldValue, BeforeValidator(_scalar)]] | None = Field(
        None, alias="in", description="Or one of these values"
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @cached_property
    def compiled(self) -> ParsedResult:
        return _compile(self.path)

    def values(self) -> list[FieldValue]:
        return [self.equals] if self.equals is not None else list(self.in_ or ())


class EventRule(_Config):
    """One event the payload may carry: ``when`` it holds, the canonical event ``type`` with fields."""

    when: When = Field(description="The condition")
    type: str = Field(min_length=1, description="Canonical event type of the device's kind, e.g. fault")
    fields: dict[str, Annotated[FieldValue, BeforeValidator(_scalar)]] = Field(
        default_factory=dict, description="Constant event fields, e.g. {code: entrapment}"
    )
    read: dict[str, FieldRead] = Field(default_factory=dict, description="Event fields read from the payload")


class Format(StrEnum):
    JSON = "json"
    XML = "xml"


class UserProfile(_Config):
    """A profile written in the inventory for a JSON or XML device (or a built-in with a topic)."""

    name: IdStr = Field(description="Profile name, as devices give it in `profile`")
    kind: Kind | None = Field(None, description="Kind of the devices it reads; none: a built-in's own")
    builtin: Builtin | None = Field(
        None, description="A built-in profile this one is, with a topic of its own"
    )
    format: Format | None = Field(None, description="json or xml (a user-defined profile)")
    topic: str | None = Field(
        None,
        description="A topic pattern of its own, e.g. dtu/{vendor_id}/up: matched by the devices' vendor_id",
    )
    ts: Path | None = Field(None, description="JMESPath of the time: ISO 8601 with offset or epoch ms")
    telemetry: dict[str, FieldRead] = Field(
        default_factory=dict, description="Canonical field → how to read it"
    )
    events: list[EventRule] = Field(default_factory=list, description="Event rules, each checked")

    @field_validator("topic")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is None:
            return value
        levels = value.split("/")
        if levels.count(VENDOR_ID) != 1:
            raise ValueError(f"topic {value!r} must hold {VENDOR_ID} once, as a whole level")
        if levels[0] == "estate":
            raise ValueError("a profile's topic is outside estate/ (that tree is the canonical one)")
        for level in levels:
            if level != VENDOR_ID and not _LEVEL.fullmatch(level):
                raise ValueError(f"topic level {level!r} must be plain text (no wildcard, no placeholder)")
        return value

    @cached_property
    def ts_compiled(self) -> ParsedResult | None:
        return None if self.ts is None else _compile(self.ts)

    @cached_property
    def subscription(self) -> str | None:
        """The MQTT filter of ``topic``: the placeholder is a ``+``."""
        return None if self.topic is None else self.topic.replace(VENDOR_ID, "+")

    @cached_property
    def vendor_level(self) -> int:
        return -1 if self.topic is None else self.topic.split("/").index(VENDOR_ID)


class WordOrder(StrEnum):
    BIG = "big"  # high word first (Modbus's own order for 32-bit values: ABCD)
    LITTLE = "little"  # low word first (CDAB, as many meters send)


class RegisterType(StrEnum):
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"

    @property
    def words(self) -> int:
        return 1 if self in (RegisterType.INT16, RegisterType.UINT16) else 2


class Register(_Config):
    field: str = Field(min_length=1, description="Canonical telemetry field, e.g. chlorine_mg_l")
    type: RegisterType = Field(RegisterType.UINT16, description="int16, uint16, int32, uint32 or float32")
    scale: float = Field(1.0, description="Value = raw × scale + offset")
    offset: float = Field(0.0, description="Added after scaling")
    word_order: WordOrder = Field(WordOrder.BIG, description="32-bit values: big (high word first) or little")
    at: int | None = Field(
        None, ge=0, le=124, description="Register offset in the response; none: right after the previous"
    )


class ModbusParams(_Config):
    unit: int = Field(1, ge=1, le=247, description="Slave (unit) address the responses come from")
    registers: list[Register] = Field(min_length=1, description="The response's registers, in order")

    @cached_property
    def layout(self) -> list[tuple[int, Register]]:
        """Each register with its word offset in the response."""
        out, at = [], 0
        for register in self.registers:
            start = register.at if register.at is not None else at
            out.append((start, register))
            at = start + register.type.words
        return out


# -- cross-reference checks (called by devices.inventory.check_references) ----------------------

Loc = tuple[str | int, ...]


class ProfiledDevice(Protocol):
    """What the checks read of an inventory device."""

    @property
    def id(self) -> str: ...

    @property
    def kind(self) -> Kind: ...

    @property
    def profile(self) -> str | None: ...

    @property
    def vendor_id(self) -> str | None: ...

    @property
    def modbus(self) -> ModbusParams | None: ...


def builtin_of(name: str, profiles: Sequence[UserProfile]) -> Builtin | None:
    """The built-in a profile name is (directly, or through a user profile's ``builtin``)."""
    if name in Builtin.__members__.values():
        return Builtin(name)
    found = next((p for p in profiles if p.name == name), None)
    return None if found is None else found.builtin


def profile_issues(
    profiles: Sequence[UserProfile], estates: Sequence[tuple[str, Sequence[ProfiledDevice]]]
) -> Iterator[tuple[Loc, str]]:
    """Broken references of the profiles and of the devices naming them."""
    names: set[str] = set()
    for i, profile in enumerate(profiles):
        loc: Loc = ("profiles", i)
        if profile.name in names or profile.name in Builtin.__members__.values():
            yield (*loc, "name"), f"profile {profile.name!r} is defined twice (or is a built-in's name)"
        names.add(profile.name)
        yield from _profile_shape(profile, loc)
    by_name = {p.name: p for p in profiles}
    vendor_ids: dict[tuple[str, str], str] = {}
    for e, (estate_id, devices) in enumerate(estates):
        for d, device in enumerate(devices):
            loc = ("estates", e, "devices", d)
            yield from _device_issues(device, by_name, loc)
            mine = by_name.get(device.profile or "")
            if mine is not None and mine.topic is not None and device.vendor_id is not None:
                key = (mine.topic, device.vendor_id)
                if key in vendor_ids:
                    why = f"vendor_id {device.vendor_id!r} on {mine.topic} is {vendor_ids[key]}'s already"
                    yield (*loc, "vendor_id"), why
                vendor_ids.setdefault(key, f"{estate_id}/{device.id}")


def _profile_shape(profile: UserProfile, loc: Loc) -> Iterator[tuple[Loc, str]]:
    if profile.builtin is not None:
        if profile.format is not None or profile.telemetry or profile.events or profile.ts or profile.kind:
            yield loc, "a built-in profile takes only name, builtin and topic"
        return
    if profile.format is None or profile.kind is None:
        yield loc, "a user-defined profile needs format (json or xml) and kind (or builtin)"
        return
    spec = REGISTRY[profile.kind]
    known = set(spec.telemetry.model_fields)
    for name in profile.telemetry:
        if name not in known:
            yield (*loc, "telemetry", name), f"{name!r} is not a {profile.kind} telemetry field"
    for i, rule in enumerate(profile.events):
        model = spec.events.get(rule.type)
        if model is None:
            yield (*loc, "events", i, "type"), f"{rule.type!r} is not a {profile.kind} event"
            continue
        for name in [*rule.fields, *rule.read]:
            if name not in model.model_fields:
                yield (*loc, "events", i), f"{name!r} is not a field of the {rule.type} event"
        if not rule.when.values():
            yield (*loc, "events", i, "when"), "give equals or in"


def _device_issues(
    device: ProfiledDevice, profiles: dict[str, UserProfile], loc: Loc
) -> Iterator[tuple[Loc, str]]:
    if device.profile is None:
        if device.modbus is not None:
            yield (*loc, "modbus"), "modbus parameters without profile: modbus-rtu"
        return
    builtin = builtin_of(device.profile, list(profiles.values()))
    profile: UserProfile | None = profiles.get(device.profile)
    if builtin is None and profile is None:
        known = ", ".join(Builtin)
        yield (*loc, "profile"), f"no profile {device.profile!r}: a built-in ({known}) or one of profiles"
        return
    if profile is not None and profile.kind is not None and profile.kind is not device.kind:
        yield (*loc, "profile"), f"profile {device.profile!r} reads a {profile.kind}, not a {device.kind}"
    if profile is not None and profile.topic is not None and device.vendor_id is None:
        yield loc, f"profile {device.profile!r} has a topic of its own: give the device's vendor_id"
    yield from _builtin_fit(device, builtin, loc)


def _builtin_fit(device: ProfiledDevice, builtin: Builtin | None, loc: Loc) -> Iterator[tuple[Loc, str]]:
    if builtin is Builtin.MODBUS_RTU:
        if device.modbus is None:
            yield loc, "profile modbus-rtu needs modbus: {unit, registers: [{field, type, scale}]}"
            return
        known = REGISTRY[device.kind].telemetry.model_fields
        for r, register in enumerate(device.modbus.registers):
            if register.field not in known:
                where = (*loc, "modbus", "registers", r, "field")
                yield where, f"{register.field!r} is not a {device.kind} telemetry field"
    elif device.modbus is not None:
        yield (*loc, "modbus"), "modbus parameters are for profile modbus-rtu"
    if builtin in (Builtin.HIKVISION_ISAPI, Builtin.DAHUA_EVENT) and device.kind is not Kind.CCTV:
        yield (*loc, "profile"), f"profile {builtin} is for cctv devices, not a {device.kind}"


def field_type(kind: Kind, name: str, event: str | None = None) -> type:
    """The Python type a canonical field takes (int, float, bool or str), from the kind's models."""
    spec = REGISTRY[kind]
    model = spec.telemetry if event is None else spec.events[event]
    info = model.model_fields.get(name)
    return _plain(info.annotation) if info is not None else str


def _plain(annotation: Any) -> type:
    for candidate in (bool, int, float):
        if annotation is candidate or candidate in getattr(annotation, "__args__", ()):
            return candidate
    return str
