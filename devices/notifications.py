"""The inventory's ``notifications:`` section: who gets paged, through which channel (issue 23).

Models only, like the rest of the inventory: the channels themselves live in ``notify/``. A
channel names the environment variables that hold its secrets (``key_env``, ``token_env``,
``secret_env`` …), never the secrets: the inventory is a file people share and commit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import time
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from devices.base import Kind, Severity

_ENV = re.compile(r"[A-Z_][A-Z0-9_]{0,99}")


def _env_name(value: object) -> object:
    # A pasted secret here would end up in a shared file: refuse it without repeating it.
    if isinstance(value, str) and _ENV.fullmatch(value):
        return value
    raise ValueError("give the NAME of an environment variable (A-Z, 0-9, _), not the secret itself")


EnvName = Annotated[str, BeforeValidator(_env_name), Field(description="Name of an environment variable")]
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def _hhmm(value: object) -> object:
    # YAML 1.1 reads an unquoted 22:00 as the base-60 number 1320: say so (as the inventory does).
    if isinstance(value, str) and (match := _HHMM.fullmatch(value)):
        return time(int(match[1]), int(match[2]))
    raise ValueError('write times as quoted "HH:MM" text, from 00:00 to 23:59')


HHMM = Annotated[time, BeforeValidator(_hhmm)]
ChannelId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="Channel id")]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class NotifyEvent(StrEnum):
    """What a route may ask for."""

    RAISE = "raise"  # an alarm is raised (or comes back)
    ESCALATE = "escalate"  # an unacknowledged alarm passed its escalation deadline
    CLEAR = "clear"  # its condition went away
    ORDER_ASSIGNED = "order_assigned"  # a crew got a work order
    ORDER_BREACHED = "order_breached"  # a work order missed a deadline


class Language(StrEnum):
    ZH = "zh-CN"
    EN = "en"


def _url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


class _Channel(_Config):
    id: ChannelId
    rate_per_min: int = Field(20, ge=1, le=600, description="Requests a minute; beyond it a digest")
    timeout_s: float = Field(5.0, gt=0, le=60, description="Per request")


class _Robot(_Channel):
    url: str = Field(description="The robot's send URL, without the key or token")
    mention_mobiles: list[str] = Field(
        default_factory=list, description="Mobiles @-mentioned on critical alarms"
    )
    _check_url = field_validator("url")(_url)


class WecomChannel(_Robot):
    type: Literal["wecom"]
    key_env: EnvName = Field(description="Environment variable with the robot's key")
    msgtype: Literal["markdown", "text"] = Field("markdown", description="WeCom message type")


class DingtalkChannel(_Robot):
    type: Literal["dingtalk"]
    token_env: EnvName = Field(description="Environment variable with the robot's access_token")
    secret_env: EnvName | None = Field(None, description="Environment variable with its SEC… signing secret")


class WebhookChannel(_Channel):
    type: Literal["webhook"]
    url: str = Field(description="Where the JSON is POSTed")
    secret_env: EnvName = Field(description="Environment variable with the HMAC-SHA256 key")
    header: str = Field("X-Estate-Signature", description="Header carrying sha256=<hex> of the body")
    _check_url = field_validator("url")(_url)


class SmsChannel(_Channel):
    type: Literal["sms"]
    provider: Literal["aliyun"] = Field("aliyun", description="The SMS adapter")
    url: str = Field("https://dysmsapi.aliyuncs.com/", description="The provider's endpoint")
    access_key_id_env: EnvName
    access_key_secret_env: EnvName
    sign_name: str = Field(min_length=1, description="The approved SMS signature, e.g. 物业平台")
    template_code: str = Field(min_length=1, max_length=32, description="The approved template, SMS_…")
    phone_numbers: list[str] = Field(min_length=1, description="Mobiles that get the SMS")
    region: str = Field("cn-hangzhou", description="RegionId")
    _check_url = field_validator("url")(_url)


class EmailChannel(_Channel):
    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls"] = Field("starttls", description="STARTTLS on 587 or TLS on 465")
    ca_file: str | None = Field(None, description="CA bundle for a private server; default: the system's")
    user_env: EnvName | None = None
    password_env: EnvName | None = None
    sender: str = Field(min_length=3, alias="from")
    to: list[str] = Field(min_length=1)
    rate_per_min: int = Field(60, ge=1, le=600, description="Messages a minute; beyond it a digest")

    model_config = ConfigDict(populate_by_name=True)


ChannelConfig = Annotated[
    WecomChannel | DingtalkChannel | WebhookChannel | SmsChannel | EmailChannel,
    Field(discriminator="type"),
]


class QuietHours(_Config):
    """Minor and info notifications wait until ``end`` (estate time); major and critical do not."""

    start: HHMM = Field(description='Local "HH:MM"')
    end: HHMM = Field(description='Local "HH:MM"; earlier than start crosses midnight')

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours start and end at the same time")
        return self


#: The estate service standard: no control-room or crew shift longer than 8 h (as crews' rosters).
MAX_SHIFT_MIN = 8 * 60
_MOBILE = r"^\+?[0-9]{5,15}$"
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
#: A route's ``to`` naming this sends a work order's notices to its crew's members on duty.
CREW = "crew"


class Person(_Config):
    """Someone who may be paged: by the name crews' ``members`` and duty rosters use."""

    name: str = Field(min_length=1, max_length=64, description="As written in members lists")
    mobile: str | None = Field(None, pattern=_MOBILE, description="Mobile for SMS and robot @-mentions")
    email: str | None = Field(None, pattern=_EMAIL, description="Address for the e-mail channel")


class DutyShift(_Config):
    name: str = Field(min_length=1, description="Shift name, e.g. 夜班")
    start: HHMM = Field(description='Local "HH:MM"')
    end: HHMM = Field(description='Local "HH:MM"; earlier than start crosses midnight')
    members: list[str] = Field(min_length=1, description="Names (notifications.people) on duty")

    @model_validator(mode="after")
    def _at_most_8h(self) -> DutyShift:
        minutes = (self.end.hour * 60 + self.end.minute - self.start.hour * 60 - self.start.minute) % 1440
        if (minutes or 1440) > MAX_SHIFT_MIN:
            raise ValueError(f"shift {self.name!r} lasts {(minutes or 1440) / 60:g} h, longer than 8 h")
        return self

    def covers(self, at: time) -> bool:
        return covers(self.start, self.end, at)


def covers(start: time, end: time, at: time) -> bool:
    """Whether the local time ``at`` falls in a shift from ``start`` to ``end``."""
    if start < end:
        return start <= at < end
    return at >= start or at < end  # crosses midnight (or lasts the whole day)


class Roster(_Config):
    """Who is on duty when, at a desk that is not a crew: the control room, the duty manager."""

    id: ChannelId = Field(description="Roster id, named by routes' to")
    name: str | None = Field(None, description="Display name, e.g. 监控中心值班")
    estates: list[str] = Field(default_factory=list, description="Estates the desk covers; none: all")
    shifts: list[DutyShift] = Field(min_length=1)


class Route(_Config):
    channels: list[ChannelId] = Field(min_length=1, description="Channel ids")
    to: list[str] = Field(
        default_factory=list,
        description="Who, by the roster: roster ids (their members on duty at the time), or 'crew' (a "
        "work order's crew, its members on duty); they are @-mentioned, texted or mailed in place of "
        "the channel's own list (which stays the fallback when nobody is on duty); none: the channel's",
    )
    estates: list[str] = Field(default_factory=list, description="Estates; none (and no regions): all")
    regions: list[str] = Field(default_factory=list, description="Regions of the tree: their estates")
    min_severity: Severity = Field(Severity.INFO, description="Least severity notified")
    kinds: list[Kind] = Field(default_factory=list, description="Device kinds; none: all")
    rules: list[str] = Field(default_factory=list, description="Rule ids; none: all")
    crews: list[str] = Field(
        default_factory=list, description="Work orders of these crews only (then no alarms); none: all"
    )
    events: list[NotifyEvent] = Field(
        default_factory=lambda: [NotifyEvent.RAISE, NotifyEvent.ESCALATE], min_length=1
    )
    quiet_hours: QuietHours | None = Field(None, description="When minor/info wait")
    delay_min: int = Field(
        0,
        ge=0,
        le=1440,
        description="Wait this long; an alarm acknowledged, shelved, suppressed or closed meanwhile is "
        "not notified (a further tier: e.g. the project manager 30 min after an escalation)",
    )
    language: Language = Field(Language.ZH, description="zh-CN (default) or en")


class Notifications(_Config):
    console_url: str = Field("http://127.0.0.1:8000", description="Links in messages point here")
    channels: list[ChannelConfig] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    people: list[Person] = Field(default_factory=list, description="Contacts, by name")
    rosters: list[Roster] = Field(default_factory=list, description="Duty rosters besides the crews'")
    _check_url = field_validator("console_url")(_url)


Loc = tuple[str | int, ...]


def notification_issues(
    section: Notifications, estates: set[str], regions: set[str], crews: set[str]
) -> Iterator[tuple[Loc, str]]:
    """Broken references of the section (unknown channel, estate, region, crew; duplicate ids)."""
    loc: Loc = ("notifications",)
    seen: set[str] = set()
    for i, channel in enumerate(section.channels):
        if channel.id in seen:
            yield (*loc, "channels", i, "id"), f"duplicate channel id {channel.id!r}"
        seen.add(channel.id)
    rosters = {roster.id for roster in section.rosters}
    for r, route in enumerate(section.routes):
        yield from _route_issues(route, (*loc, "routes", r), seen, rosters, estates, regions, crews)
    yield from _people_issues(section, estates)


def _route_issues(
    route: Route,
    where: Loc,
    channels: set[str],
    rosters: set[str],
    estates: set[str],
    regions: set[str],
    crews: set[str],
) -> Iterator[tuple[Loc, str]]:
    for i, ref in enumerate(route.channels):
        if ref not in channels:
            yield (*where, "channels", i), f"channel {ref!r} is not defined in notifications.channels"
    for i, estate in enumerate(route.estates):
        if estate not in estates:
            yield (*where, "estates", i), f"estate {estate!r} is not defined"
    for i, region in enumerate(route.regions):
        if region not in regions:
            yield (*where, "regions", i), f"region {region!r} is not defined"
    for i, crew in enumerate(route.crews):
        if crew not in crews:
            yield (*where, "crews", i), f"crew {crew!r} is not defined"
    for i, who in enumerate(route.to):
        if who != CREW and who not in rosters:
            yield (*where, "to", i), f"{who!r} is neither a roster of notifications.rosters nor 'crew'"


def _people_issues(section: Notifications, estates: set[str]) -> Iterator[tuple[Loc, str]]:
    loc: Loc = ("notifications",)
    names: set[str] = set()
    for i, person in enumerate(section.people):
        if person.name in names:
            yield (*loc, "people", i, "name"), f"duplicate person {person.name!r}"
        names.add(person.name)
    ids: set[str] = set()
    for r, roster in enumerate(section.rosters):
        where = (*loc, "rosters", r)
        if roster.id in ids:
            yield (*where, "id"), f"duplicate roster id {roster.id!r}"
        ids.add(roster.id)
        for i, estate in enumerate(roster.estates):
            if estate not in estates:
                yield (*where, "estates", i), f"estate {estate!r} is not defined"
        for s, shift in enumerate(roster.shifts):
            for m, member in enumerate(shift.members):
                if member not in names:
                    yield (*where, "shifts", s, "members", m), f"{member!r} is not in notifications.people"
