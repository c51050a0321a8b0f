"""The notifier end to end over the real outbox and SQLite, with a manual clock and the fakes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from devices.clock import ManualClock
from notify.alarm import CHANNEL_FAILED
from notify.store import Status
from tests.notify.fakes import FakeAliyunSms, FakeDingtalk, FakeWebhook, FakeWecom
from tests.notify.harness import (
    SECRETS,
    Harness,
    alarms_in,
    alert_body,
    channel,
    fakes,
    inventory,
    per_minute_peak,
)

Fakes = tuple[FakeWecom, FakeDingtalk, FakeAliyunSms, FakeWebhook]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 5, 8, 0, tzinfo=UTC))  # 16:00 in Shanghai


@pytest.fixture
def servers(clock: ManualClock) -> Iterator[Fakes]:
    started = fakes(clock)
    yield started
    for fake in started:
        fake.stop()


def harness(
    tmp: Path, clock: ManualClock, servers: Fakes, routes: list[dict[str, object]], **over: object
) -> Harness:
    wecom, ding, sms, hook = servers
    channels = [
        channel("wecom", wecom.url, mention_mobiles=["13800001111"]) | over.get("wecom", {}),  # type: ignore[operator]
        channel("dingtalk", ding.url, mention_mobiles=["13800001111"]) | over.get("dingtalk", {}),  # type: ignore[operator]
        channel("sms", sms.url),
        channel("webhook", hook.url),
    ]
    return Harness(tmp, inventory(channels, routes), clock)


ALL = ["duty-wecom", "ops-ding", "duty-sms", "hook"]


def test_a_critical_alarm_reaches_every_channel_in_words(
    tmp_path: Path, clock: ManualClock, servers: Fakes
) -> None:
    wecom, ding, sms, hook = servers
    h = harness(
        tmp_path, clock, servers, [{"channels": ALL, "estates": ["sunrise"], "min_severity": "major"}]
    )
    h.raise_alerts(alert_body())
    h.notifier.run_once()
    [text] = wecom.contents()
    for words in (
        "朝阳小区",
        "1号楼",
        "一号楼1号梯",
        "紧急",
        "电梯困人",
        "01-05 16:00",
        "http://console.example/#/alarm/",
    ):
        assert words in text
    assert "sunrise" not in text and "L1 " not in text
    [dingtalk] = [r.json() for r in ding.accepted]
    assert dingtalk["at"]["atMobiles"] == ["13800001111"]
    [params] = sms.params()
    assert all(len(v) <= 20 for v in json.loads(params["TemplateParam"]).values())
    [posted] = [r.json() for r in hook.accepted]
    assert posted["estate"] == "sunrise" and posted["event"] == "raise" and posted["event_id"]
    assert {d.status for d in h.notifier.deliveries(estates=None)} == {"sent"}


def test_routes_by_estate_region_severity_kind_and_event(
    tmp_path: Path, clock: ManualClock, servers: Fakes
) -> None:
    wecom = servers[0]
    routes = [
        {"channels": ["duty-wecom"], "regions": ["east"], "min_severity": "major", "kinds": ["lift"]},
        {"channels": ["duty-wecom"], "estates": ["moon"], "events": ["clear"], "language": "en"},
    ]
    h = harness(tmp_path, clock, servers, routes)
    h.raise_alerts(
        alert_body(severity="minor"),  # below major
        alert_body(device="T1", kind="water_tank", rule="water.chlorine_low"),  # not a lift
        alert_body(estate="moon", device="L9"),  # moon wants clears only
        alert_body(state="shelved", actions=("raise", "shelve")),  # shelved: nobody
        alert_body(state="suppressed"),  # suppressed: nobody
        alert_body(actions=("ack",), state="acknowledged"),  # not an event anyone asked for
        alert_body(severity="major"),  # this one
        alert_body(estate="moon", device="L9", actions=("clear",), state="cleared"),  # and this, in English
    )
    h.notifier.run_once()
    texts = wecom.contents()
    assert len(texts) == 2  # the most severe first: the critical clear, then the major raise
    assert "cleared" in texts[0] and "明月小区" in texts[0] and "重要" in texts[1]


def test_work_orders_reach_crews_once_per_event(tmp_path: Path, clock: ManualClock, servers: Fakes) -> None:
    wecom = servers[0]
    routes = [{"channels": ["duty-wecom"], "events": ["order_assigned", "order_breached", "raise"]}]
    routes[0]["crews"] = ["lift-team"]
    h = harness(tmp_path, clock, servers, routes)
    order = {"id": 5, "estate": "sunrise", "device": "L1", "building": "1", "alert": 3}
    order |= {"rule": "lift.entrapment", "crew": "lift-team", "severity": "critical", "title": "电梯困人救援"}
    order |= {"action": "reassign"}
    h.order(order, ("lift-team", "old-team"))  # one event, two topics
    h.order(order | {"action": "breach"}, ("lift-team",))
    h.order(order | {"action": "accept"}, ("lift-team",))
    h.order(
        order | {"id": 6, "crew": "water-team", "action": "assign"}, ("water-team",)
    )  # not this route's crew
    h.raise_alerts(alert_body())  # an alarm: the crews' route does not want it
    h.notifier.run_once()
    texts = wecom.contents()
    assert len(texts) == 2 and "新工单" in texts[0] and "工单超时" in texts[1] and "电梯困人救援" in texts[0]


def test_storm_stays_under_20_a_minute_and_drops_nothing(
    tmp_path: Path, clock: ManualClock, servers: Fakes
) -> None:
    """500 alarms in one minute to one DingTalk robot: at most 20 requests in any minute, none
    refused, every alarm in a message or a digest."""
    ding = servers[1]
    h = harness(tmp_path, clock, servers, [{"channels": ["ops-ding"], "events": ["raise"]}])
    for second in h.run(180):
        if second < datetime(2026, 1, 5, 8, 1, tzinfo=UTC):
            sev = ("critical", "major", "minor")
            h.raise_alerts(*(alert_body(severity=sev[i % 3]) for i in range(8 if second.second % 3 else 9)))
    assert sum(8 if s % 3 else 9 for s in range(60)) == 500  # the storm above
    assert per_minute_peak([r.at for r in ding.requests if r.at]) <= 20
    assert ding.refused == []
    assert alarms_in(ding.texts()) == 500
    statuses = [d.status for d in h.notifier.deliveries(estates=None, limit=1000)]
    assert len(statuses) == 500 and set(statuses) == {"sent", "merged"}
    assert h.notifier.workers["ops-ding"].metrics.value("ops-ding", "merged") == statuses.count("merged")
    digests = sum(1 for t in ding.texts() if "条告警" in t and "+" in t)
    peak = per_minute_peak([r.at for r in ding.requests if r.at])
    print(f"storm: 500 alarms → {len(ding.requests)} requests ({digests} digests), peak {peak} in any minute")


def test_the_vendors_refusals_are_retried_later(tmp_path: Path, clock: ManualClock, servers: Fakes) -> None:
    """Configured above the robot's real limit (30/min): the robot answers 130101, the notifier
    backs off and everything still arrives."""
    ding = servers[1]
    h = harness(tmp_path, clock, servers, [{"channels": ["ops-ding"]}], dingtalk={"rate_per_min": 30})
    h.raise_alerts(*(alert_body() for _ in range(100)))
    h.rounds(300)
    assert ding.refused and all(body["errcode"] == 130101 for _, body in ding.refused)
    assert alarms_in(ding.texts()) == 100
    assert {d.status for d in h.notifier.deliveries(estates=None, limit=1000)} <= {"sent", "merged"}


def test_a_channel_down_60_s_delays_then_delivers(tmp_path: Path, clock: ManualClock, servers: Fakes) -> None:
    wecom = servers[0]
    h = harness(tmp_path, clock, servers, [{"channels": ["duty-wecom"]}])
    wecom.stop()  # connection refused from now on
    h.raise_alerts(alert_body(), alert_body(severity="major"))
    h.rounds(60)
    tried = h.notifier.workers["duty-wecom"]
    assert tried.failing_since is not None and "cannot connect" in (tried.last_error or "")
    assert {d.status for d in h.notifier.deliveries(estates=None)} == {"pending"}
    assert h.stages.alarms() == [] and h.notifier.alarm.active() == {}  # down a minute: no alarm yet
    wecom.start()  # back, same port
    h.rounds(65)
    assert len(wecom.contents()) == 2
    assert {d.status for d in h.notifier.deliveries(estates=None)} == {"sent"}
    attempts = max(d.attempts for d in h.notifier.deliveries(estates=None))
    assert 3 <= attempts <= 8  # backoff 1, 2, 4 … 32 s: a handful of tries, not 60


@pytest.mark.expect_errors  # the self-alarm is logged at CRITICAL
def test_a_wrong_key_raises_channel_failed_once(tmp_path: Path, clock: ManualClock, servers: Fakes) -> None:
    wecom = servers[0]
    h = harness(tmp_path, clock, servers, [{"channels": ["duty-wecom"]}])
    h.env["DUTY_WECOM_KEY"] = "not-the-key"
    h.notifier = h.new_notifier()
    for _ in range(3):
        h.raise_alerts(*(alert_body() for _ in range(10)))
        h.rounds(400)
    alarms = [json.loads(p) for t, p in h.published if t == "gateway/t/alarm"]
    assert [(a["rule"], a["channel"], a["state"]) for a in alarms] == [
        (CHANNEL_FAILED, "duty-wecom", "active")
    ]
    assert wecom.accepted == [] and len(wecom.refused) <= 5  # retried every 5 min, not per alarm
    assert h.notifier.health()["channels"]["duty-wecom"]["ok"] is False
    pending = h.notifier.deliveries(estates=None, limit=100)
    assert len(pending) == 30 and {d.status for d in pending} == {"pending"}  # kept for a fixed key


def test_quiet_hours_hold_minor_until_morning(tmp_path: Path, servers: Fakes) -> None:
    clock = ManualClock(datetime(2026, 1, 5, 15, 0, tzinfo=UTC))  # 23:00 in Shanghai
    for fake in servers:
        fake.now = clock.now
    route = {"channels": ["duty-wecom"], "quiet_hours": {"start": "22:00", "end": "07:00"}}
    h = harness(tmp_path, clock, servers, [route])
    h.raise_alerts(alert_body(severity="minor"), alert_body(severity="critical"))
    h.rounds(60)
    assert len(servers[0].contents()) == 1  # the critical one at once
    clock.advance(8 * 3600)  # 07:00
    h.rounds(2)
    assert len(servers[0].contents()) == 2


def test_a_request_in_flight_at_a_kill_is_retried_saying_it_may_repeat(
    tmp_path: Path, clock: ManualClock, servers: Fakes
) -> None:
    """The gateway died between a request and its answer: after the restart the delivery is sent
    again (never lost), marked as a possible repeat, with the same event id for a webhook."""
    wecom, hook = servers[0], servers[3]
    h = harness(tmp_path, clock, servers, [{"channels": ["duty-wecom", "hook"]}])
    h.raise_alerts(alert_body(), alert_body())
    h.notifier.intake_once()
    rows = h.notifier.store.due("hook", clock.now(), 10) + h.notifier.store.due("duty-wecom", clock.now(), 10)
    first = min(r.event_id for r in rows)
    h.notifier.store.in_flight([r.id for r in rows if r.event_id == first], clock.now())  # then "SIGKILL"
    h.notifier = h.new_notifier()
    h.rounds(2)
    posted = [r.json() for r in hook.accepted]
    assert sorted(p["event_id"] for p in posted) == sorted({r.event_id for r in rows})
    assert {p["event_id"]: p.get("repeat", False) for p in posted}[first] is True
    assert [p.get("repeat", False) for p in posted].count(True) == 1
    texts = wecom.contents()
    assert len(texts) == 2 and sum("可能已发出" in t for t in texts) == 1
    assert all(d.status == "sent" for d in h.notifier.deliveries(estates=None))


def test_a_restart_neither_loses_nor_repeats(tmp_path: Path, clock: ManualClock, servers: Fakes) -> None:
    """Killed after recording deliveries but before moving the cursor, and with deliveries still
    pending: the next notifier adds nothing twice and sends what was pending, once."""
    wecom = servers[0]
    h = harness(tmp_path, clock, servers, [{"channels": ["duty-wecom"]}])
    h.raise_alerts(*(alert_body() for _ in range(30)))
    rows = h.outbox.pending("notify")
    h.notifier.store.add(h.notifier._deliveries(rows, clock.now()))  # the cursor never moved
    h.notifier.workers["duty-wecom"].step(clock.now())  # 20 out, 10 pending … then "SIGKILL"
    h.notifier = h.new_notifier()
    h.rounds(120)
    deliveries = h.notifier.deliveries(estates=None, limit=100)
    assert len(deliveries) == 30 and len({d.event_id for d in deliveries}) == 30
    assert alarms_in(wecom.contents()) == 30
    assert per_minute_peak([r.at for r in wecom.requests if r.at]) <= 20  # the restart knew the minute


def test_no_secret_in_health_metrics_logs_or_deliveries(
    tmp_path: Path, clock: ManualClock, servers: Fakes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    h = harness(tmp_path, clock, servers, [{"channels": ALL}])
    servers[0].stop()
    h.raise_alerts(alert_body())
    h.rounds(3)
    shown = json.dumps(h.notifier.health()) + caplog.text + generate_latest(h.registry).decode()
    shown += json.dumps([d.public() for d in h.notifier.deliveries(estates=None)], default=str)
    assert 'estate_notifications_total{channel="duty-wecom",outcome="failed"} 2.0' in shown
    for value in SECRETS.values():
        assert value not in shown
    assert Status.SENT in {d.status for d in h.notifier.deliveries(estates=None)}


def test_escalation_tiers_stop_at_an_acknowledgement(
    tmp_path: Path, clock: ManualClock, servers: Fakes
) -> None:
    """Duty operator (WeCom) at the raise, duty manager (DingTalk) at the core's escalation,
    project manager (SMS) 30 min later if still unacknowledged; shelved: nobody."""
    wecom, ding, sms, _ = servers
    routes = [
        {"channels": ["duty-wecom"], "events": ["raise"]},
        {"channels": ["ops-ding"], "events": ["escalate"]},
        {"channels": ["duty-sms"], "events": ["escalate"], "delay_min": 30},
    ]
    h = harness(tmp_path, clock, servers, routes)
    left, seen = alert_body(), alert_body()
    h.raise_alerts(left, seen, alert_body(state="shelved", actions=("raise", "shelve")))
    h.rounds(60)
    assert len(wecom.contents()) == 2
    h.raise_alerts(*({**a, "actions": ["escalate"], "action": "escalate"} for a in (left, seen)))
    h.rounds(60)
    assert len(ding.accepted) == 2 and sms.accepted == []
    h.raise_alerts({**seen, "actions": ["ack"], "action": "ack", "state": "acknowledged"})
    h.rounds(29 * 60, step_s=60)
    assert sms.accepted == []
    h.rounds(120)
    assert len(sms.accepted) == 1  # the one nobody acknowledged
    statuses = {(d.alert_id, d.channel): d.status for d in h.notifier.deliveries(estates=None)}
    assert statuses[(seen["id"], "duty-sms")] == "cancelled" and statuses[(left["id"], "duty-sms")] == "sent"
