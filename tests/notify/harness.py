"""A notifier on SQLite with a manual clock, fed through the real outbox, against the fakes."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from alerts.outbox import Event, Outbox
from devices.clock import ManualClock
from devices.inventory import Inventory
from gateway.db import make_engine
from gateway.stages import Stages
from notify.build import build_notifier
from notify.notifier import Notifier
from tests.notify.fakes import FakeAliyunSms, FakeDingtalk, FakeWebhook, FakeWecom

SECRETS = {
    "DUTY_WECOM_KEY": "wecom-key-5f1c",
    "DING_TOKEN": "ding-token-77aa",
    "DING_SECRET": "SECding-secret-90b1",
    "SMS_KEY_ID": "LTAI-key-id-3c2d",
    "SMS_KEY_SECRET": "sms-key-secret-e4f5",
    "HOOK_SECRET": "hook-secret-a1b2",
}
_ids = itertools.count(1)


def inventory(
    channels: list[dict[str, Any]],
    routes: list[dict[str, Any]],
    *,
    duty: dict[str, Any] | None = None,
    crew_roster: list[dict[str, Any]] | None = None,
) -> Inventory:
    """The test estates; ``duty``: the section's ``people`` and ``rosters``; ``crew_roster``: the
    lift team's members' shifts."""
    lift_team: dict[str, Any] = {"id": "lift-team", "trades": ["lift"], "estates": ["sunrise"]}
    if crew_roster is not None:
        names = sorted({m for shift in crew_roster for m in shift.get("members", ())})
        lift_team |= {"members": names, "roster": crew_roster}
    return Inventory.model_validate(
        {
            "regions": [{"id": "east", "name": "东区"}],
            "estates": [
                {
                    "id": "sunrise",
                    "name": "朝阳小区",
                    "region": "east",
                    "buildings": ["1"],
                    "devices": [
                        {"id": "L1", "kind": "lift", "building": "1", "location": "一号楼1号梯"},
                        {"id": "T1", "kind": "water_tank", "location": "地下泵房"},
                    ],
                },
                {"id": "moon", "name": "明月小区", "devices": [{"id": "L9", "kind": "lift"}]},
            ],
            "crews": [
                lift_team,
                {"id": "water-team", "trades": ["water"], "estates": ["sunrise"]},
            ],
            "notifications": {
                "console_url": "http://console.example",
                "channels": channels,
                "routes": routes,
                **(duty or {}),
            },
        }
    )


def alert_body(
    estate: str = "sunrise",
    device: str | None = "L1",
    severity: str = "critical",
    actions: tuple[str, ...] = ("raise",),
    state: str = "active",
    rule: str = "lift.entrapment",
    kind: str | None = "lift",
    raised_at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "id": next(_ids),
        "key": f"{estate}/{device}/{rule}",
        "estate": estate,
        "building": "1" if device == "L1" else None,
        "device": device,
        "kind": kind,
        "rule": rule,
        "severity": severity,
        "state": state,
        "message": "L1电梯困人/报警按钮，30 分钟内到场救援",
        "message_en": "Lift L1: passenger trapped; rescue on site within 30 min",
        "raised_at": (raised_at or datetime(2026, 1, 5, 8, 0, tzinfo=UTC)).isoformat(),
        "action": actions[0],
        "actions": list(actions),
    }


@dataclass
class Harness:
    tmp: Path
    inv: Inventory
    clock: ManualClock
    env: dict[str, str] = field(default_factory=lambda: dict(SECRETS))
    published: list[tuple[str, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.engine = make_engine(f"sqlite:///{self.tmp / 'db.sqlite'}")
        self.outbox = Outbox(self.engine, "t", ("mqtt", "notify"))
        self.stages = Stages("t")
        self.notifier = self.new_notifier()

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self.published.append((topic, payload))

    def new_notifier(self) -> Notifier:
        self.registry = CollectorRegistry()  # a restart starts its counters afresh
        built = build_notifier(
            self.inv,
            self.engine,
            "t",
            self.clock,
            self.outbox,
            self.stages,
            env=self.env,
            mqtt=self,
            backoff_s=1.0,
            registry=self.registry,
        )
        assert built is not None
        return built

    def raise_alerts(self, *bodies: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            self.outbox.write(conn, [Event((f"estate/{b['estate']}/alerts",), b) for b in bodies])

    def order(self, body: dict[str, Any], crews: tuple[str, ...]) -> None:
        with self.engine.begin() as conn:
            self.outbox.write(conn, [Event(tuple(f"crew/{c}/orders" for c in crews), body)])

    def run(self, seconds: int, step_s: float = 1.0) -> Iterator[datetime]:
        """Rounds of the notifier, the clock moving ``step_s`` between them."""
        for _ in range(int(seconds / step_s)):
            self.notifier.run_once()
            yield self.clock.now()
            self.clock.advance(step_s)

    def rounds(self, seconds: int, step_s: float = 1.0) -> None:
        for _ in self.run(seconds, step_s):
            pass


def channel(kind: str, url: str, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "wecom": {
            "id": "duty-wecom",
            "type": "wecom",
            "url": f"{url}/cgi-bin/webhook/send",
            "key_env": "DUTY_WECOM_KEY",
        },
        "dingtalk": {
            "id": "ops-ding",
            "type": "dingtalk",
            "url": f"{url}/robot/send",
            "token_env": "DING_TOKEN",
            "secret_env": "DING_SECRET",
        },
        "sms": {
            "id": "duty-sms",
            "type": "sms",
            "url": f"{url}/",
            "access_key_id_env": "SMS_KEY_ID",
            "access_key_secret_env": "SMS_KEY_SECRET",
            "sign_name": "物业平台",
            "template_code": "SMS_1234",
            "phone_numbers": ["13800001111"],
        },
        "webhook": {"id": "hook", "type": "webhook", "url": f"{url}/in", "secret_env": "HOOK_SECRET"},
    }[kind]
    return base | kw


def fakes(clock: ManualClock) -> tuple[FakeWecom, FakeDingtalk, FakeAliyunSms, FakeWebhook]:
    return (
        FakeWecom(SECRETS["DUTY_WECOM_KEY"], clock.now).start(),
        FakeDingtalk(SECRETS["DING_TOKEN"], SECRETS["DING_SECRET"], clock.now).start(),
        FakeAliyunSms(SECRETS["SMS_KEY_ID"], SECRETS["SMS_KEY_SECRET"], "SMS_1234", clock.now).start(),
        FakeWebhook(SECRETS["HOOK_SECRET"], clock.now).start(),
    )


def alarms_in(texts: list[str]) -> int:
    """How many alarms the robot's messages carry: one each, or a digest's ``+N``."""
    total = 0
    for text in texts:
        digest = re.findall(r"\+(\d+) (?:条告警|more alarms)", text)
        total += sum(map(int, digest)) if digest else 1
    return total


def per_minute_peak(times: list[datetime]) -> int:
    """The most requests in any 60 s."""
    times = sorted(times)
    return max((sum(1 for u in times if t <= u < t + timedelta(seconds=60)) for t in times), default=0)
