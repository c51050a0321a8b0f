"""One message per alert per batch (no duplicates on ``estate/{estate}/alerts`` or the stream):
a raise and the work order it sends at once are one notification carrying the final state."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from alerts.book import coalesce
from alerts.model import Action, Alert
from alerts.stream import EventHub
from devices.base import Severity
from gateway.alerting import MqttAlertPublisher
from tests.dispatch.harness import DispatchHarness

T0 = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


class Broker:
    """What was published, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, object]]] = []

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        assert qos == 1 and not retain
        self.sent.append((topic, json.loads(payload)))


def harness(tmp_path: Path) -> tuple[DispatchHarness, Broker, EventHub]:
    h = DispatchHarness(tmp_path)
    broker, hub = Broker(), EventHub(boot="b")
    h.book.notifiers += [MqttAlertPublisher(broker), hub]
    return h, broker, hub


def alert_events(hub: EventHub) -> list[dict[str, object]]:
    events, _ = hub.wait(f"{hub.boot}-0", timeout=0)
    return [e.data for e in events if e.type == "alert"]


def test_a_raise_and_its_work_order_are_one_message_with_the_order(tmp_path: Path) -> None:
    h, broker, hub = harness(tmp_path)
    h.event("L1", "fault", code="entrapment")
    order = h.only_order()
    assert [(b["rule"], b["action"], b["actions"], b["work_order"]) for _, b in broker.sent] == [
        ("lift.entrapment", "raise", ["raise", "dispatch"], order.id)
    ]
    assert broker.sent[0][0] == "estate/sunrise/alerts"
    assert alert_events(hub) == [broker.sent[0][1]]


def test_each_later_change_is_a_message_of_its_own(tmp_path: Path) -> None:
    h, broker, _ = harness(tmp_path)
    h.event("L1", "fault", code="entrapment")
    alert = h.alert("L1", "lift.entrapment")
    assert alert is not None
    h.book.ack(alert.id, "admin")
    h.book.flush()
    assert [b["actions"] for _, b in broker.sent] == [["raise", "dispatch"], ["ack"]]
    assert broker.sent[1][1]["state"] == "acknowledged"


def test_repeats_reach_the_stream_but_not_mqtt(tmp_path: Path) -> None:
    h, broker, hub = harness(tmp_path)
    h.event("L1", "fault", code="entrapment")
    h.event("L1", "fault", code="entrapment")
    assert len(broker.sent) == 1  # a repeat only raises the count
    alerts = alert_events(hub)
    assert [(a["action"], a["actions"], a["count"]) for a in alerts] == [
        ("raise", ["raise", "dispatch"], 1),
        ("repeat", ["repeat"], 2),
    ]


def _alert(alert_id: int) -> Alert:
    return Alert(alert_id, "sunrise", "B1", "L1", "lift", "lift.fault", Severity.MAJOR, "故障", "fault", T0)


def test_coalesce_keeps_the_order_of_alerts_and_of_actions_and_folds_runs() -> None:
    a, b = _alert(1), _alert(2)
    events = [
        (a, Action.RAISE),
        (b, Action.CLEAR),
        (a, Action.REPEAT),
        (a, Action.REPEAT),
        (a, Action.DISPATCH),
        (b, Action.REACTIVATE),
        (b, Action.CLEAR),
        (a, Action.REPEAT),
    ]
    assert coalesce(events) == [
        (a, (Action.RAISE, Action.REPEAT, Action.DISPATCH, Action.REPEAT)),
        (b, (Action.CLEAR, Action.REACTIVATE, Action.CLEAR)),
    ]
