"""One message per alert per batch (no duplicates on ``estate/{estate}/alerts`` or the stream):
a raise and the work order it sends at once are one notification carrying the final state."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.book import coalesce
from alerts.model import Action, Alert
from alerts.outbox import Outbox
from alerts.stream import EventHub
from devices.base import Severity
from tests.dispatch.harness import DispatchHarness

T0 = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


class Broker:
    """What the outbox holds for MQTT, in commit order, as the relay would publish it."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    @property
    def sent(self) -> list[tuple[str, dict[str, object]]]:
        """The alert messages (estate/{estate}/alerts)."""
        return [(topic, body) for topic, body in self.all() if topic.startswith("estate/")]

    def all(self) -> list[tuple[str, dict[str, object]]]:
        return [(row.topic, json.loads(row.payload)) for row in self.outbox.pending("mqtt", 10_000)]


def harness(tmp_path: Path) -> tuple[DispatchHarness, Broker, EventHub]:
    h = DispatchHarness(tmp_path)
    hub = EventHub(boot="b")
    h.book.outbox = Outbox(h.book.store.engine, "test")
    h.book.notifiers += [hub]
    return h, Broker(h.book.outbox), hub


def without_id(body: dict[str, object]) -> dict[str, object]:
    """An MQTT message is the stream's alert JSON with its event id."""
    assert re.fullmatch(r"[0-9a-f]{32}", str(body["event_id"]))
    return {k: v for k, v in body.items() if k != "event_id"}


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
    assert alert_events(hub) == [without_id(broker.sent[0][1])]


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


def test_the_orders_message_is_in_the_same_outbox_after_its_alert(tmp_path: Path) -> None:
    h, broker, _ = harness(tmp_path)
    h.event("L1", "fault", code="entrapment")
    order = h.only_order()
    topics = [topic for topic, _ in broker.all()]
    assert topics == ["estate/sunrise/alerts", f"crew/{order.crew}/orders"]
    _, body = broker.all()[1]
    assert (body["id"], body["action"]) == (order.id, "assign")


@pytest.mark.expect_errors
def test_nothing_is_announced_that_was_not_stored_and_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The messages are written in the changes' transaction: a save that fails leaves none; the
    retry that succeeds leaves each once."""
    h, broker, _ = harness(tmp_path)
    save, calls = h.book.store.save, []

    def failing_once(*args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("injected")
        save(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(h.book.store, "save", failing_once)
    with pytest.raises(OSError, match="injected"):
        h.event("L1", "fault", code="entrapment")
    assert broker.all() == []
    h.book.flush()
    assert [topic for topic, _ in broker.all()] == ["estate/sunrise/alerts", "crew/lift-team/orders"]
    assert len({body["event_id"] for _, body in broker.all()}) == 2


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
