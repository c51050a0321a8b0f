"""Routing: the trade of an alert, who is on duty, and the crews to offer an order to."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from devices.base import Kind, Trade
from devices.inventory import Crew, Inventory
from dispatch.routing import RULE_TRADES, candidates, on_duty, trade_for

SHANGHAI = ZoneInfo("Asia/Shanghai")
CST = timezone(timedelta(hours=8))

# --- trade_for ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "trade"),
    [
        ("lift", Trade.LIFT),
        ("water_tank", Trade.WATER),
        ("light", Trade.ELECTRICAL),
        ("cctv", Trade.LOW_VOLTAGE),
        ("access", Trade.LOW_VOLTAGE),
        ("patrol", Trade.SECURITY),
    ],
)
def test_trade_by_kind(kind: str, trade: Trade) -> None:
    assert trade_for(kind, None) is trade


@pytest.mark.parametrize(
    ("kind", "rule", "trade"),
    [
        ("lift", "lift.entrapment", Trade.LIFT),
        ("water_tank", "water.flooding", Trade.WATER),
        ("light", "light.lamp_out", Trade.ELECTRICAL),
        ("cctv", "cctv.offline", Trade.LOW_VOLTAGE),
        ("access", "access.held_open", Trade.LOW_VOLTAGE),
        ("access", "access.tamper", Trade.LOW_VOLTAGE),
        ("access", "access.offline", Trade.LOW_VOLTAGE),
    ],
)
def test_ordinary_rule_keeps_the_kind_trade(kind: str, rule: str, trade: Trade) -> None:
    assert trade_for(kind, rule) is trade


@pytest.mark.parametrize("rule", ["access.forced", "access.fire_locked"])
def test_access_rules_answered_by_guards(rule: str) -> None:
    assert trade_for("access", rule) is Trade.SECURITY
    assert trade_for(None, rule) is Trade.SECURITY
    assert RULE_TRADES[rule] is Trade.SECURITY


def test_rule_trades_table_is_only_the_two_access_rules() -> None:
    assert RULE_TRADES == {"access.forced": Trade.SECURITY, "access.fire_locked": Trade.SECURITY}


@pytest.mark.parametrize(
    "rule",
    [
        "patrol.checkpoint_missed",
        "patrol.out_of_order",
        "patrol.round_incomplete",
        "patrol.round_not_started",
        "patrol.sos",
        "patrol.too_few_guards",
        "patrol.unknown",
    ],
)
def test_patrol_rules_go_to_security(rule: str) -> None:
    assert trade_for(None, rule) is Trade.SECURITY
    assert trade_for("patrol", rule) is Trade.SECURITY


def test_patrol_prefix_must_be_the_rule_family() -> None:
    # "patrolling" is not "patrol.": the kind decides.
    assert trade_for("lift", "patrolling.x") is Trade.LIFT
    assert trade_for("light", "light.patrol.x") is Trade.ELECTRICAL


def test_no_kind_goes_to_security() -> None:
    assert trade_for(None, None) is Trade.SECURITY
    assert trade_for(None, "estate.something") is Trade.SECURITY


def test_every_kind_has_a_trade() -> None:
    for kind in Kind:
        assert isinstance(trade_for(kind.value, None), Trade)


# --- on_duty -----------------------------------------------------------------------------------


def crew(roster: list[tuple[str, str]] | None, **extra: Any) -> Crew:
    body: dict[str, Any] = {"id": "c", "trades": ["lift"], "estates": ["e"], **extra}
    if roster is not None:
        body["roster"] = [{"name": f"s{i}", "start": s, "end": e} for i, (s, e) in enumerate(roster)]
    return Crew.model_validate(body)


def at(hh: int, mm: int = 0, ss: int = 0, us: int = 0) -> datetime:
    return datetime(2026, 11, 20, hh, mm, ss, us, tzinfo=SHANGHAI)


@pytest.mark.parametrize("when", [at(0), at(3, 17), at(12), at(23, 59, 59, 999999)])
def test_no_roster_is_always_on_duty(when: datetime) -> None:
    assert on_duty(crew(None), when)


def test_empty_roster_is_never_on_duty() -> None:
    # An explicit empty roster (no shifts) is not "no roster".
    empty = crew([])
    assert empty.roster == []
    for hh in range(24):
        assert not on_duty(empty, at(hh))


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (at(0), False),
        (at(7, 59), False),
        (at(7, 59, 59, 999999), False),
        (at(8), True),  # start inclusive
        (at(8, 0, 0, 1), True),
        (at(12), True),
        (at(15, 59), True),
        (at(15, 59, 59, 999999), True),
        (at(16), False),  # end exclusive
        (at(16, 0, 0, 1), False),
        (at(23, 59), False),
    ],
)
def test_day_shift(when: datetime, expected: bool) -> None:
    assert on_duty(crew([("08:00", "16:00")]), when) is expected


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (at(0), False),  # end 00:00 is exclusive: midnight belongs to the next day
        (at(12), False),
        (at(15, 59, 59, 999999), False),
        (at(16), True),
        (at(20), True),
        (at(23, 59, 59, 999999), True),
    ],
)
def test_evening_shift_ending_at_midnight(when: datetime, expected: bool) -> None:
    assert on_duty(crew([("16:00", "00:00")]), when) is expected


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (at(21, 59, 59, 999999), False),
        (at(22), True),
        (at(23, 30), True),
        (at(0), True),
        (at(3), True),
        (at(5, 59, 59, 999999), True),
        (at(6), False),
        (at(12), False),
    ],
)
def test_night_shift_crossing_midnight(when: datetime, expected: bool) -> None:
    assert on_duty(crew([("22:00", "06:00")]), when) is expected


def test_shift_starting_at_midnight() -> None:
    early = crew([("00:00", "08:00")])
    assert on_duty(early, at(0))
    assert on_duty(early, at(7, 59))
    assert not on_duty(early, at(8))
    assert not on_duty(early, at(23, 59))


def test_any_shift_of_the_roster_covers() -> None:
    three = crew([("08:00", "16:00"), ("16:00", "00:00"), ("00:00", "08:00")])
    for hh in range(24):
        for mm in (0, 30, 59):
            assert on_duty(three, at(hh, mm))
    split = crew([("06:00", "10:00"), ("18:00", "22:00")])
    assert [hh for hh in range(24) if on_duty(split, at(hh))] == [6, 7, 8, 9, 18, 19, 20, 21]


def test_on_duty_reads_the_wall_time_it_is_given() -> None:
    # on_duty takes a local time: the caller converts. 01:00 UTC is 09:00 in Shanghai.
    day = crew([("08:00", "16:00")])
    instant = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    assert not on_duty(day, instant)
    assert on_duty(day, instant.astimezone(SHANGHAI))
    assert on_duty(day, datetime(2026, 11, 20, 9, 0))  # naive local wall time


# --- candidates --------------------------------------------------------------------------------


def inventory(crews: list[dict[str, Any]], estates: list[dict[str, Any]] | None = None) -> Inventory:
    if estates is None:
        estates = [{"id": "sunrise", "name": "朝阳小区"}, {"id": "moon", "name": "月亮小区"}]
    return Inventory.model_validate({"estates": estates, "crews": crews})


DAY = [{"name": "白班", "start": "08:00", "end": "16:00"}]
EVENING = [{"name": "中班", "start": "16:00", "end": "00:00"}]
NIGHT = [{"name": "夜班", "start": "22:00", "end": "06:00"}]

CREWS: list[dict[str, Any]] = [
    {"id": "lift-day", "trades": ["lift"], "estates": ["sunrise"], "roster": DAY},
    {"id": "water-always", "trades": ["water"], "estates": ["sunrise"]},
    {"id": "lift-evening", "trades": ["lift", "water"], "estates": ["sunrise", "moon"], "roster": EVENING},
    {"id": "lift-moon", "trades": ["lift"], "estates": ["moon"]},
    {"id": "lift-always", "trades": ["lift"], "estates": ["sunrise"]},
    {"id": "lift-night", "trades": ["electrical", "lift"], "estates": ["sunrise"], "roster": NIGHT},
    {"id": "elec-sunrise", "trades": ["electrical"], "estates": ["sunrise"], "roster": DAY},
]


def ids(found: list[Crew]) -> list[str]:
    return [c.id for c in found]


def local(hh: int, mm: int = 0) -> datetime:
    """A Shanghai wall time on 2026-11-20, as the UTC instant the desk's clock gives."""
    return datetime(2026, 11, 20, hh, mm, tzinfo=CST).astimezone(UTC)


@pytest.mark.parametrize(
    ("hh", "mm", "expected"),
    [
        (9, 0, ["lift-day", "lift-always", "lift-evening", "lift-night"]),
        (8, 0, ["lift-day", "lift-always", "lift-evening", "lift-night"]),
        (7, 59, ["lift-always", "lift-day", "lift-evening", "lift-night"]),
        (16, 0, ["lift-evening", "lift-always", "lift-day", "lift-night"]),
        (22, 30, ["lift-evening", "lift-always", "lift-night", "lift-day"]),
        (0, 0, ["lift-always", "lift-night", "lift-day", "lift-evening"]),
        (6, 0, ["lift-always", "lift-day", "lift-evening", "lift-night"]),
    ],
)
def test_candidates_on_duty_first_in_inventory_order(hh: int, mm: int, expected: list[str]) -> None:
    inv = inventory(CREWS)
    assert ids(candidates(inv, "sunrise", Trade.LIFT, local(hh, mm))) == expected


def test_candidates_filter_by_estate_and_trade() -> None:
    inv = inventory(CREWS)
    now = local(9)
    assert ids(candidates(inv, "sunrise", Trade.WATER, now)) == ["water-always", "lift-evening"]
    assert ids(candidates(inv, "moon", Trade.LIFT, now)) == ["lift-moon", "lift-evening"]
    assert ids(candidates(inv, "moon", Trade.WATER, now)) == ["lift-evening"]
    assert ids(candidates(inv, "sunrise", Trade.ELECTRICAL, now)) == ["elec-sunrise", "lift-night"]
    assert candidates(inv, "sunrise", Trade.SECURITY, now) == []
    assert candidates(inv, "moon", Trade.LOW_VOLTAGE, now) == []


def test_candidates_are_the_inventory_crews() -> None:
    inv = inventory(CREWS)
    found = candidates(inv, "sunrise", Trade.LIFT, local(9))
    by_id = {c.id: c for c in inv.crews}
    assert all(c is by_id[c.id] for c in found)


def test_candidates_use_the_estate_time_zone() -> None:
    # 01:00 UTC is 09:00 in Shanghai (day shift on) but 01:00 in London (day shift off).
    crews = [
        {"id": "day", "trades": ["lift"], "estates": ["sh", "ldn"], "roster": DAY},
        {"id": "always", "trades": ["lift"], "estates": ["sh", "ldn"]},
    ]
    estates = [
        {"id": "sh", "name": "上海", "timezone": "Asia/Shanghai"},
        {"id": "ldn", "name": "London", "timezone": "Europe/London"},
    ]
    inv = inventory(crews, estates)
    now = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    assert ids(candidates(inv, "sh", Trade.LIFT, now)) == ["day", "always"]
    assert ids(candidates(inv, "ldn", Trade.LIFT, now)) == ["always", "day"]
    # 09:00 UTC: 17:00 in Shanghai (off), 09:00 in London (on).
    later = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert ids(candidates(inv, "sh", Trade.LIFT, later)) == ["always", "day"]
    assert ids(candidates(inv, "ldn", Trade.LIFT, later)) == ["day", "always"]


def test_candidates_default_time_zone_is_shanghai() -> None:
    crews = [
        {"id": "day", "trades": ["lift"], "estates": ["e"], "roster": DAY},
        {"id": "always", "trades": ["lift"], "estates": ["e"]},
    ]
    inv = inventory(crews, [{"id": "e", "name": "E"}])
    assert inv.estates[0].tz == SHANGHAI
    assert ids(candidates(inv, "e", Trade.LIFT, datetime(2026, 11, 20, 0, 0, tzinfo=UTC))) == [
        "day",
        "always",
    ]
    assert ids(candidates(inv, "e", Trade.LIFT, datetime(2026, 11, 20, 8, 0, tzinfo=UTC))) == [
        "always",
        "day",
    ]


def test_candidates_all_off_duty_keeps_inventory_order() -> None:
    crews = [
        {"id": "b", "trades": ["lift"], "estates": ["sunrise"], "roster": NIGHT},
        {"id": "a", "trades": ["lift"], "estates": ["sunrise"], "roster": DAY},
    ]
    inv = inventory(crews)
    assert ids(candidates(inv, "sunrise", Trade.LIFT, local(17))) == ["b", "a"]


def test_candidates_night_shift_across_local_midnight_while_utc_is_afternoon() -> None:
    # 23:30 on 20 Nov in Shanghai is 15:30 UTC: only the Shanghai wall time puts the night crew on.
    crews = [
        {"id": "day", "trades": ["lift"], "estates": ["sunrise"], "roster": DAY},
        {"id": "night", "trades": ["lift"], "estates": ["sunrise"], "roster": NIGHT},
    ]
    inv = inventory(crews)
    now = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
    assert ids(candidates(inv, "sunrise", Trade.LIFT, now)) == ["night", "day"]
    early = datetime(2026, 11, 20, 21, 59, tzinfo=UTC)  # 05:59 on the 21st in Shanghai
    assert ids(candidates(inv, "sunrise", Trade.LIFT, early)) == ["night", "day"]
    assert ids(candidates(inv, "sunrise", Trade.LIFT, early + timedelta(minutes=1))) == ["day", "night"]


def test_candidates_for_an_unknown_estate_ignore_rosters() -> None:
    # A crew may name an estate the inventory lacks (model_validate does not cross-check);
    # with no estate there is no time zone, so the serving crews come back in inventory order.
    crews = [
        {"id": "day", "trades": ["lift"], "estates": ["ghost"], "roster": DAY},
        {"id": "always", "trades": ["lift"], "estates": ["ghost"]},
    ]
    inv = inventory(crews)
    assert inv.estate("ghost") is None
    for hh in (3, 9, 17):
        assert ids(candidates(inv, "ghost", Trade.LIFT, local(hh))) == ["day", "always"]
    assert candidates(inv, "nowhere", Trade.LIFT, local(9)) == []


def test_candidates_with_no_crews() -> None:
    assert candidates(inventory([]), "sunrise", Trade.LIFT, local(9)) == []


def test_on_duty_helper_agrees_with_candidates_order() -> None:
    inv = inventory(CREWS)
    for hh in range(24):
        now = local(hh, 15)
        found = candidates(inv, "sunrise", Trade.LIFT, now)
        flags = [on_duty(c, now.astimezone(SHANGHAI)) for c in found]
        assert flags == sorted(flags, reverse=True)  # all on-duty crews before any off-duty one
        wall = now.astimezone(SHANGHAI).time()
        assert wall == time(hh, 15)
