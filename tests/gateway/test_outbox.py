"""The outbox (alerts/outbox.py) and its relay (gateway/outbox_relay.py): rows in commit order,
a cursor per consumer and instance, pruning, and a relay that moves the cursor only after the
broker acknowledged, never publishes a chunk twice, and never dies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from alerts.outbox import Event, Outbox
from gateway.db import make_engine
from gateway.outbox_relay import OutboxRelay
from gateway.stages import Stages


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp_path / 'outbox.db'}")


def write(outbox: Outbox, *events: Event) -> None:
    with outbox.engine.begin() as conn:
        outbox.write(conn, events)


def test_rows_come_in_commit_order_with_one_event_id_per_change(engine: Engine) -> None:
    outbox = Outbox(engine, "gw-a")
    write(
        outbox, Event(("estate/s/alerts",), {"id": 1}), Event(("crew/a/orders", "crew/b/orders"), {"id": 7})
    )
    rows = outbox.pending("mqtt")
    assert [(r.topic, json.loads(r.payload)["id"]) for r in rows] == [
        ("estate/s/alerts", 1),
        ("crew/a/orders", 7),
        ("crew/b/orders", 7),
    ]
    assert rows[1].event_id == rows[2].event_id != rows[0].event_id  # one change, two topics
    assert json.loads(rows[0].payload)["event_id"] == rows[0].event_id
    assert outbox.backlog("mqtt") == 3


def test_done_moves_the_cursor_and_prunes_what_every_consumer_passed(engine: Engine) -> None:
    outbox = Outbox(engine, "gw-a", consumers=("mqtt", "notify"))
    write(outbox, *(Event(("t",), {"n": n}) for n in range(5)))
    rows = outbox.pending("mqtt")
    outbox.done("mqtt", rows[2].id)
    assert [json.loads(r.payload)["n"] for r in outbox.pending("mqtt")] == [3, 4]
    assert len(outbox.pending("notify")) == 5  # the other consumer still has them all
    outbox.done("notify", rows[1].id)
    again = Outbox(engine, "gw-a", consumers=("mqtt", "notify"))  # a restart reads the cursors
    assert [json.loads(r.payload)["n"] for r in again.pending("mqtt")] == [3, 4]
    with engine.connect() as conn:
        left = conn.exec_driver_sql("SELECT count(*) FROM outbox").scalar_one()
    assert left == 3  # rows 0 and 1 were passed by both consumers


def test_instances_sharing_a_database_relay_only_their_own(engine: Engine) -> None:
    a, b = Outbox(engine, "gw-a"), Outbox(engine, "gw-b")
    write(a, Event(("t/a",), {}))
    write(b, Event(("t/b",), {}))
    assert [r.topic for r in a.pending("mqtt")] == ["t/a"]
    a.done("mqtt", a.pending("mqtt")[0].id)
    assert [r.topic for r in b.pending("mqtt")] == ["t/b"]


class Broker:
    """A publisher whose acknowledgements the test hands out."""

    def __init__(self) -> None:
        self.connected = True
        self.sent: list[str] = []
        self.acks: list[bool] = []

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        assert qos == 1 and not retain
        self.sent.append(json.loads(payload)["event_id"])

    def sync(self, timeout_s: float) -> bool:
        return self.acks.pop(0) if self.acks else True


@pytest.mark.expect_errors  # the self-alarm after the third late acknowledgement is logged CRITICAL
def test_the_cursor_moves_only_once_the_broker_acknowledged_and_nothing_is_sent_twice(engine: Engine) -> None:
    outbox = Outbox(engine, "gw-a")
    write(outbox, Event(("a",), {}), Event(("b",), {}))
    broker, stages = Broker(), Stages("gw-a")
    relay = OutboxRelay(outbox, broker, stages)
    broker.acks = [False, False, False, True]  # the broker is slow three times, then answers
    assert relay.relay_once() == 2
    assert len(broker.sent) == 2  # published once, waited for
    assert stages.snapshot()["outbox"]["failures"] == 3 and stages.snapshot()["outbox"]["ok"]
    assert outbox.pending("mqtt") == [] and relay.relay_once() == 0


def test_nothing_is_published_while_disconnected(engine: Engine) -> None:
    outbox = Outbox(engine, "gw-a")
    write(outbox, Event(("a",), {}))
    broker = Broker()
    broker.connected = False
    relay = OutboxRelay(outbox, broker, Stages("gw-a"))
    assert relay.relay_once() == 0 and broker.sent == [] and outbox.backlog("mqtt") == 1
    broker.connected = True
    assert relay.relay_once() == 1


@pytest.mark.expect_errors
def test_a_failing_database_is_counted_and_the_relay_goes_on(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = Outbox(engine, "gw-a")
    write(outbox, Event(("a",), {}))
    stages, broker = Stages("gw-a"), Broker()
    relay = OutboxRelay(outbox, broker, stages, idle_s=0.01)
    failing = [True]
    pending = outbox.pending

    def flaky(consumer: str, limit: int = 500) -> list[object]:
        if failing[0]:
            failing[0] = False
            raise OSError("injected: database away")
        return pending(consumer, limit)  # type: ignore[return-value]

    monkeypatch.setattr(outbox, "pending", flaky)
    relay.start()
    try:
        outbox.wake()
        from tests.support.servers import wait_until  # noqa: PLC0415

        wait_until(lambda: relay.delivered == 1, timeout=10)
        assert stages.snapshot()["outbox"]["failures"] == 1 and stages.snapshot()["outbox"]["ok"]
    finally:
        relay.stop()
    assert not stages.snapshot()["outbox"]["alive"]  # stopped: /health would say so


@pytest.mark.expect_errors  # the self-alarm of the injected outage
def test_an_idle_relay_that_reads_the_outbox_again_is_well_again(engine: Engine) -> None:
    """A quiet estate after a database outage: nothing to deliver, but the outbox reads fine, so
    the stage (and /health, and its self-alarm) is well again without waiting for an alarm."""
    outbox, stages = Outbox(engine, "gw-a"), Stages("gw-a", alarm_after=3)
    relay = OutboxRelay(outbox, Broker(), stages)
    for _ in range(3):
        stages.failed("outbox", OSError("injected: database away"))  # as the relay's loop counts it
    assert not stages.snapshot()["outbox"]["ok"] and "outbox" in stages.alarms()
    assert relay.relay_once() == 0  # the database is back; the outbox is empty
    assert stages.snapshot()["outbox"]["ok"] and stages.alarms() == []


def test_an_id_is_never_reused_after_the_table_was_pruned_empty(engine: Engine) -> None:
    """SQLite reuses the highest rowid of an emptied table unless told not to: a new row would
    then sit behind the cursor and never be delivered (seen: a crew missed accept and arrive)."""
    outbox = Outbox(engine, "gw-a")
    write(outbox, Event(("a",), {}), Event(("b",), {}))
    outbox.done("mqtt", outbox.pending("mqtt")[-1].id)  # all delivered: the table is empty
    write(outbox, Event(("c",), {}))
    assert [r.topic for r in outbox.pending("mqtt")] == ["c"]
