"""Routing by the roster: a route's ``to`` pages whoever is on duty when the notice goes out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devices.clock import ManualClock
from devices.loader import InventoryError, load_inventory
from tests.notify.fakes import FakeAliyunSms, FakeDingtalk, FakeWebhook, FakeWecom
from tests.notify.harness import Harness, alert_body, channel, fakes, inventory

Fakes = tuple[FakeWecom, FakeDingtalk, FakeAliyunSms, FakeWebhook]

PEOPLE = [
    {"name": "张三", "mobile": "13900000001", "email": "zhang@example.com"},
    {"name": "李四", "mobile": "13900000002"},
    {"name": "王五", "mobile": "13900000003"},
    {"name": "赵经理", "mobile": "13900000009"},
    {"name": "钱师傅", "mobile": "13900000005"},
    {"name": "孙师傅", "mobile": "13900000006"},
]
CONTROL_ROOM = {
    "id": "control-room",
    "name": "监控中心值班",
    "shifts": [
        {"name": "白班", "start": "08:00", "end": "16:00", "members": ["张三"]},
        {"name": "中班", "start": "16:00", "end": "00:00", "members": ["李四"]},
        {"name": "夜班", "start": "00:00", "end": "08:00", "members": ["王五"]},
    ],
}
MANAGER = {
    "id": "duty-manager",
    "estates": ["moon"],  # not sunrise's desk
    "shifts": [{"name": "全天", "start": "08:00", "end": "16:00", "members": ["赵经理"]}],
}
LIFT_SHIFTS = [
    {"name": "白班", "start": "08:00", "end": "16:00", "members": ["钱师傅"]},
    {"name": "中班", "start": "16:00", "end": "00:00", "members": ["孙师傅"]},
]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 5, 8, 0, tzinfo=UTC))  # 16:00 in Shanghai: 中班


@pytest.fixture
def servers(clock: ManualClock) -> Iterator[Fakes]:
    started = fakes(clock)
    yield started
    for fake in started:
        fake.stop()


def duty_harness(tmp: Path, clock: ManualClock, servers: Fakes, routes: list[dict[str, Any]]) -> Harness:
    wecom, ding, sms, hook = servers
    channels = [
        channel("wecom", wecom.url),
        channel("dingtalk", ding.url),
        channel("sms", sms.url),  # its own list: 13800001111, the fallback
        channel("webhook", hook.url),
    ]
    duty = {"people": PEOPLE, "rosters": [CONTROL_ROOM, MANAGER]}
    return Harness(tmp, inventory(channels, routes, duty=duty, crew_roster=LIFT_SHIFTS), clock)


def test_the_control_room_on_duty_is_mentioned_and_texted(
    tmp_path: Path, clock: ManualClock, servers: Fakes
) -> None:
    wecom, ding, sms, hook = servers
    routes = [{"channels": ["duty-wecom", "ops-ding", "duty-sms", "hook"], "to": ["control-room"]}]
    h = duty_harness(tmp_path, clock, servers, routes)
    h.raise_alerts(alert_body(severity="major"))  # not critical: mentioned all the same (named)
    h.notifier.run_once()
    assert wecom.accepted[-1].json()["text"]["mentioned_mobile_list"] == ["13900000002"]
    dingtalk = ding.accepted[-1].json()
    assert dingtalk["at"]["atMobiles"] == ["13900000002"] and "@13900000002" in dingtalk["markdown"]["text"]
    assert sms.params()[-1]["PhoneNumbers"] == "13900000002"
    assert hook.accepted[-1].json()["to"] == ["李四"]
    assert {tuple(d.to) for d in h.notifier.deliveries(estates=None)} == {("李四",)}
    public = h.notifier.deliveries(estates=None)[0].public()
    assert public["to"] == ["李四"] and "13900000002" not in json.dumps(
        public, ensure_ascii=False, default=str
    )

    clock.advance(timedelta(hours=8))  # 00:00: the night shift
    h.raise_alerts(alert_body(severity="major"))
    h.notifier.run_once()
    assert sms.params()[-1]["PhoneNumbers"] == "13900000003"


def test_a_roster_for_other_estates_or_an_empty_hour_falls_back_to_the_channels_list(
    tmp_path: Path, clock: ManualClock, servers: Fakes
) -> None:
    sms = servers[2]
    routes = [{"channels": ["duty-sms"], "to": ["duty-manager"]}]  # moon's manager, on duty now
    h = duty_harness(tmp_path, clock, servers, routes)
    h.raise_alerts(alert_body())  # sunrise
    h.notifier.run_once()
    assert sms.params()[-1]["PhoneNumbers"] == "13800001111"
    assert [d.to for d in h.notifier.deliveries(estates=None)] == [()]
    h.raise_alerts(alert_body(estate="moon", device="L9"))
    h.notifier.run_once()
    assert sms.params()[-1]["PhoneNumbers"] == "13800001111"  # 16:00: his shift ended


def test_a_work_order_pages_its_crews_members_on_duty(
    tmp_path: Path, clock: ManualClock, servers: Fakes
) -> None:
    sms = servers[2]
    routes = [{"channels": ["duty-sms"], "events": ["order_assigned"], "to": ["crew", "control-room"]}]
    h = duty_harness(tmp_path, clock, servers, routes)
    order = {"id": 7, "estate": "sunrise", "device": "L1", "building": "1", "alert": 3, "action": "assign"}
    order |= {"rule": "lift.entrapment", "crew": "lift-team", "severity": "critical", "title": "电梯困人救援"}
    h.order(order, ("lift-team",))
    h.notifier.run_once()
    assert sms.params()[-1]["PhoneNumbers"] == "13900000006,13900000002"  # 孙师傅 (中班), then 李四
    assert h.notifier.deliveries(estates=None)[0].to == ("孙师傅", "李四")


def test_quiet_hours_page_who_is_on_duty_when_they_end(
    tmp_path: Path, clock: ManualClock, servers: Fakes
) -> None:
    sms = servers[2]
    routes = [
        {"channels": ["duty-sms"], "to": ["control-room"], "quiet_hours": {"start": "16:00", "end": "08:00"}}
    ]
    h = duty_harness(tmp_path, clock, servers, routes)
    h.raise_alerts(alert_body(severity="minor"))  # waits for 08:00: the day shift
    h.rounds(60)
    assert sms.accepted == []
    clock.advance(timedelta(hours=16))
    h.rounds(2)
    assert sms.params()[-1]["PhoneNumbers"] == "13900000001"


@pytest.mark.parametrize(
    ("change", "where", "why"),
    [
        ({"routes": [{"channels": ["duty-sms"], "to": ["nobody"]}]}, "routes", "neither a roster"),
        (
            {
                "rosters": [
                    {
                        "id": "cr",
                        "shifts": [{"name": "x", "start": "08:00", "end": "16:00", "members": ["无名"]}],
                    }
                ]
            },
            "rosters",
            "is not in notifications.people",
        ),
        (
            {
                "rosters": [
                    {
                        "id": "cr",
                        "shifts": [{"name": "长班", "start": "08:00", "end": "20:00", "members": ["张三"]}],
                    }
                ]
            },
            "rosters",
            "longer than 8 h",
        ),
        ({"people": [{"name": "张三", "mobile": "call me"}]}, "people", "mobile"),
    ],
)
def test_roster_mistakes_name_their_line(
    tmp_path: Path, change: dict[str, Any], where: str, why: str
) -> None:
    section: dict[str, Any] = {
        "channels": [channel("sms", "http://127.0.0.1:9")],
        "routes": [{"channels": ["duty-sms"]}],
        "people": [{"name": "张三", "mobile": "13900000001"}],
    } | change
    body = {"estates": [{"id": "sunrise", "name": "朝阳小区", "devices": []}], "notifications": section}
    path = tmp_path / "inventory.yaml"
    path.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    [line] = str(caught.value).splitlines()
    number = int(line.split(":")[1])
    assert why in line and f"notifications.{where}[0]" in line
    lines = path.read_text(encoding="utf-8").splitlines()
    section_at = next(i for i, text in enumerate(lines, 1) if f'"{where}"' in text)
    assert number >= section_at  # on the offending entry, not the file's top
