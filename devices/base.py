"""What every device kind declares: its name, payload models per channel and the fields it stores.

A kind module (``devices/kinds/<kind>.py``) builds one :class:`KindSpec`; ``devices.registry`` lists
them all. Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, ClassVar, NamedTuple, get_args, get_origin

from pydantic import BaseModel, ConfigDict, StringConstraints

#: Estate, device, checkpoint and guard ids (docs/contract.md §3.1): safe in topics, tags and URLs.
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")

#: A pydantic string type for such ids: ``Annotated`` so a model field says ``id: IdStr``.
IdStr = Annotated[str, StringConstraints(pattern=rf"^{ID_PATTERN.pattern}$")]

#: A stored field value. Fields keep their type for ever (InfluxDB rejects a type change).
FieldValue = bool | int | float | str


class Kind(StrEnum):
    LIFT = "lift"
    WATER_TANK = "water_tank"
    ACCESS = "access"
    LIGHT = "light"
    CCTV = "cctv"
    PATROL = "patrol"


class Channel(StrEnum):
    TELEMETRY = "telemetry"
    EVENT = "event"
    HEARTBEAT = "heartbeat"
    STATUS = "status"


class Trade(StrEnum):
    """Maintenance trades that crews declare; each kind names the trade that repairs it."""

    LIFT = "lift"
    WATER = "water"
    ELECTRICAL = "electrical"
    LOW_VOLTAGE = "low_voltage"
    SECURITY = "security"


class Severity(StrEnum):
    """Alert severity (docs/contract.md §5), also the key of SLA policies in the inventory."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    INFO = "info"


class Payload(BaseModel):
    """Base of every device payload model.

    Tolerant of devices: unknown fields are ignored (kept out of storage, never a rejection).
    Strict about values: types are not coerced, NaN and Infinity are refused, ranges are declared
    with ``Field(ge=, le=)``. Enum-typed fields must say ``Field(strict=False, ...)``.
    ``ts`` is not a model field: the decoder takes it out before validation.
    """

    # strict: a device's "3" is not the integer 3, nor true the number 1, nor 3.0 an integer —
    # fields never change type. Enum fields opt out (strict=False) so their JSON strings validate.
    model_config = ConfigDict(
        extra="ignore", allow_inf_nan=False, frozen=True, use_enum_values=True, strict=True
    )

    #: Fields the model declares that are not stored as reading fields (identity, not measurement).
    not_stored: ClassVar[frozenset[str]] = frozenset()
    #: Every declared field is stored as it is (no lists, nothing in ``not_stored``): set per model.
    stored_as_is: ClassVar[bool] = True

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.stored_as_is = not cls.not_stored and not any(
            _may_be_sequence(f.annotation) for f in cls.model_fields.values()
        )

    def stored_fields(self) -> dict[str, FieldValue]:
        """The fields to store: present (non-null) declared fields, lists joined with commas."""
        if self.stored_as_is:  # most models: one comprehension (half the time of the loop below)
            return {name: value for name, value in self.__dict__.items() if value is not None}
        out: dict[str, FieldValue] = {}
        for name, value in self.__dict__.items():
            if value is None or name in self.not_stored:
                continue
            if isinstance(value, list | tuple):
                out[name] = ",".join(str(v) for v in value)
            else:
                out[name] = value
        return out


def _may_be_sequence(annotation: Any) -> bool:
    """Whether a field's type admits a list or tuple (anywhere in a union or ``Annotated``)."""
    origin = get_origin(annotation)
    if annotation in (list, tuple) or origin in (list, tuple):
        return True
    return any(_may_be_sequence(arg) for arg in get_args(annotation))


class EmptyPayload(Payload):
    """A channel that carries nothing to store (e.g. a bare heartbeat)."""


@dataclass(frozen=True)
class KindSpec:
    """Everything the gateway and the simulators need to know about one device kind."""

    kind: Kind
    trade: Trade
    telemetry: type[Payload]
    #: event ``type`` value -> model of the event's own fields (without ``type`` and ``ts``).
    #: The gateway stores an event as ``{"event": type, **model.stored_fields()}``.
    events: Mapping[str, type[Payload]]
    heartbeat: type[Payload] = EmptyPayload
    #: Default heartbeat interval in seconds (None: the device is not expected to report on a clock).
    default_heartbeat_s: int | None = None
    description: str = ""
    #: Extra facts a kind wants to expose (e.g. fault codes); free-form, documented in the module.
    extras: Mapping[str, object] = field(default_factory=dict)

    @property
    def measurement(self) -> str:
        """One InfluxDB measurement per kind."""
        return self.kind.value


class Reading(NamedTuple):
    """One validated, normalised message of a device, ready for state, rules and storage.

    ``fields`` holds what is stored; for an event it includes ``event`` (the event type) and the
    event's own fields. ``time_ns`` is UTC epoch nanoseconds (the device's ``ts`` or receive time).
    A named tuple, like ``gateway.mqtt.Inbound``: one is built per message, and a frozen dataclass
    took ~1.1 µs more to build (a checked ``object.__setattr__`` per field).
    """

    estate: str
    kind: Kind
    device: str
    channel: Channel
    building: str
    time_ns: int
    fields: Mapping[str, FieldValue]
    event: str | None = None
    registered: bool = True

    @property
    def measurement(self) -> str:
        return self.kind.value
