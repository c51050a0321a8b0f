"""Issue 20, the outbox end to end against real mosquitto: every alert and work-order message
carries an event id; a gateway SIGKILLed with messages committed but not yet delivered delivers
each of them once after its restart, and nothing it had recorded as delivered before."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from alerts.outbox import Event, Outbox
from gateway.db import make_engine
from gateway.settings import Settings
from tests.support.gateway import LiveGateway
from tests.support.listener import Listener
from tests.support.servers import MosquittoServer, wait_until

ENTRAPMENT = ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "entrapment"})
HATCH = ("estate/sunrise/water_tank/T1/event", {"type": "hatch_open"})


def test_sigkill_with_a_non_empty_outbox_delivers_each_event_once(
    live_gateway: LiveGateway, mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    proc, publisher = live_gateway
    alerts = Listener(mosquitto, "estate/+/alerts", "alert-listener")
    orders = Listener(mosquitto, "crew/+/orders", "order-listener")

    def heard() -> list[dict[str, object]]:
        return alerts.snapshot() + orders.snapshot()

    try:
        assert alerts.subscribed.wait(10) and orders.subscribed.wait(10)
        publisher.send(*ENTRAPMENT)
        publisher.wait_all_acked()
        wait_until(orders.snapshot, timeout=15)
        before = [m["event_id"] for m in heard()]
        assert len(before) == 2 and len(set(before)) == 2  # the alarm and its order, one id each
        # Recorded as delivered (the cursor moves just after the broker's acknowledgement: a kill
        # before that would send these two again, with the same ids, as the README says).
        wait_until(lambda: proc.api("/health")["outbox"]["backlog"] == 0, timeout=10)

        proc.kill()
        # What a kill between a commit and its delivery leaves: rows the relay has not confirmed.
        settings = Settings(data_dir=proc.workdir / "data")
        outbox = Outbox(make_engine(settings.resolved_database_url), "test-gw")
        with outbox.engine.begin() as conn:
            outbox.write(
                conn,
                [Event(("estate/sunrise/alerts",), {"rule": "test.committed", "n": n}) for n in range(50)],
            )
        assert outbox.backlog("mqtt") == 50
        proc.start()
        wait_until(lambda: proc.api("/health")["outbox"]["backlog"] == 0, timeout=20)
        publisher.send(*HATCH)  # and the gateway goes on: a new alarm after the restart
        publisher.wait_all_acked()
        wait_until(lambda: any(m.get("rule") == "water.hatch_open" for m in heard()), timeout=15)
    finally:
        alerts.close()
        orders.close()
    ids = Counter(m["event_id"] for m in heard())
    committed = [m for m in alerts.snapshot() if m.get("rule") == "test.committed"]
    assert sorted(m["n"] for m in committed) == list(range(50))  # each, in commit order below
    assert [m["n"] for m in committed] == list(range(50))
    assert all(count == 1 for count in ids.values()), [i for i, c in ids.items() if c > 1]
    assert all(ids[i] == 1 for i in before)  # nothing delivered before the kill came again
