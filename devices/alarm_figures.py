"""Alarm-management figures an operator may change (ISA-18.2 / EEMUA 191), for every estate or one.

Every field is optional: unset keeps the default (``alerts.book.Policy``, ISA-18.2 / EEMUA 191), or
for an estate the inventory-wide figure. ``alerts.alarm_policy`` turns them into the book's policy.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from devices.base import Severity

#: The guard-tour alarms (alerts/patrol_plan.py ``PatrolRule``) whose severity an estate may change.
PATROL_RULES = (
    "patrol.checkpoint_missed",
    "patrol.round_not_started",
    "patrol.round_incomplete",
    "patrol.too_few_guards",
    "patrol.out_of_order",
    "patrol.unknown",
    "patrol.sos",
)


class AlarmFigures(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    escalate_critical_min: float | None = Field(
        None, gt=0, le=1440, description="Unacknowledged critical → duty manager after, min (default 1)"
    )
    escalate_major_min: float | None = Field(
        None, gt=0, le=1440, description="Unacknowledged major → duty manager after, min (default 5)"
    )
    escalate_minor_min: float | None = Field(
        None, gt=0, le=1440, description="Unacknowledged minor → duty manager after, min (default 30)"
    )
    chatter_count: int | None = Field(
        None, ge=2, le=100, description="Activations within chatter_window_s that mark chattering (default 3)"
    )
    chatter_window_s: float | None = Field(
        None, gt=0, le=3600, description="Chattering window, s (default 60)"
    )
    chatter_on_delay_s: float | None = Field(
        None,
        ge=0,
        le=3600,
        description="A chattering alarm comes back only after its cause lasted this, s (60)",
    )
    flood_start: int | None = Field(
        None,
        ge=1,
        le=10_000,
        description="More annunciated alarms than this in the window start a flood (10)",
    )
    flood_end: int | None = Field(None, ge=1, le=10_000, description="Fewer than this end the flood (5)")
    flood_window_min: float | None = Field(None, gt=0, le=1440, description="Flood window, min (default 10)")
    max_shelve_h: float | None = Field(
        None, gt=0, le=24, description="Longest shelving, h (default 8: a shift)"
    )
    patrol_severities: dict[str, Severity] = Field(
        default_factory=dict,
        description="Guard-tour alarm → severity, e.g. patrol.checkpoint_missed: major (GA/T 644 defaults "
        "in docs/rules.md)",
    )

    @model_validator(mode="after")
    def _known(self) -> AlarmFigures:
        unknown = sorted(set(self.patrol_severities) - set(PATROL_RULES))
        if unknown:
            raise ValueError(f"patrol_severities: no guard-tour alarm {', '.join(unknown)}")
        if self.flood_start is not None and self.flood_end is not None and self.flood_end > self.flood_start:
            raise ValueError("flood_end must not be above flood_start (a flood could never end)")
        return self

    def over(self, base: AlarmFigures) -> AlarmFigures:
        """These figures where set, ``base``'s elsewhere (an estate's over the inventory's)."""
        mine = self.model_dump(exclude_unset=True, exclude_none=True)
        severities = {**base.patrol_severities, **self.patrol_severities}
        return base.model_copy(update={**mine, "patrol_severities": severities})
