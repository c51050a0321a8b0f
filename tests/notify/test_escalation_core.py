"""Escalation driven by the real alarm core: the alert book's own escalation clock (critical:
1 min unacknowledged) writes the outbox, and the notifier pages the next tier from it. An
acknowledged alarm escalates to nobody; a shelved or suppressed one notifies nobody at all."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.book import AlertBook
from alerts.catalogue import DEFAULT_RULES
from alerts.engine import AlarmEngine
from alerts.model import alert_key
from alerts.store import AlertStore, MaintenanceWindow
from devices.base import Channel, Kind, Reading
from devices.clock import ManualClock, to_ns
from tests.notify.fakes import FakeAliyunSms, FakeDingtalk, FakeWebhook, FakeWecom
from tests.notify.harness import Harness, channel, fakes, inventory

Fakes = tuple[FakeWecom, FakeDingtalk, FakeAliyunSms, FakeWebhook]
ENTRAPMENT = {"rules": ["lift.entrapment"]}  # the silent lifts' offline alarms are not this test's
ROUTES = [
    {"channels": ["duty-wecom"], "events": ["raise"]} | ENTRAPMENT,  # the duty operator
    {"channels": ["ops-ding"], "events": ["escalate"]} | ENTRAPMENT,  # the duty manager, at the deadline
    {"channels": ["duty-sms"], "events": ["escalate"], "delay_min": 30} | ENTRAPMENT,  # project manager
]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 5, 8, 0, tzinfo=UTC))


@pytest.fixture
def servers(clock: ManualClock) -> Iterator[Fakes]:
    started = fakes(clock)
    yield started
    for fake in started:
        fake.stop()


class Core:
    """The alarm engine and its book over the harness's database and outbox, the notifier reading it."""

    def __init__(self, tmp: Path, clock: ManualClock, servers: Fakes) -> None:
        wecom, ding, sms, hook = servers
        channels = [
            channel("wecom", wecom.url),
            channel("dingtalk", ding.url),
            channel("sms", sms.url),
            channel("webhook", hook.url),
        ]
        self.h = Harness(tmp, inventory(channels, ROUTES), clock)
        self.clock = clock
        self.book = AlertBook(AlertStore(self.h.engine), clock, [], outbox=self.h.outbox)
        self.engine = AlarmEngine(self.h.inv, self.book, clock, DEFAULT_RULES, lambda _e, _d: {})
        self.engine.start()

    def entrapment(self, estate: str, device: str) -> int:
        now = to_ns(self.clock.now())
        fields = {"event": "fault", "code": "entrapment"}
        self.engine.consume([Reading(estate, Kind.LIFT, device, Channel.EVENT, "1", now, fields, "fault")])
        alert = self.book.open_alert(alert_key(estate, device, "lift.entrapment"))
        assert alert is not None
        return alert.id

    def run(self, seconds: int) -> None:
        """The 1 s ticker and the notifier, as the gateway runs them."""
        for _ in range(seconds):
            self.clock.advance(timedelta(seconds=1))
            self.engine.tick()
            self.book.flush()
            self.h.notifier.run_once()


def test_the_books_escalation_pages_the_next_tier_and_an_acknowledgement_stops_it(
    tmp_path: Path, clock: ManualClock, servers: Fakes
) -> None:
    wecom, ding, sms, _ = servers
    core = Core(tmp_path, clock, servers)
    left = core.entrapment("sunrise", "L1")
    seen = core.entrapment("moon", "L9")
    core.run(2)
    assert len(wecom.accepted) == 2 and ding.accepted == []  # both raised: the duty operator
    assert all("困人" in text and "entrapment" not in text for text in wecom.contents())  # in words
    core.run(30)
    core.book.ack(seen, "operator-1", "on my way")
    core.book.flush()
    core.run(40)  # past the critical alarm's 1 min
    texts = [r.json()["markdown"]["text"] for r in ding.accepted]
    assert len(texts) == 1 and "朝阳小区" in texts[0] and "告警升级" in texts[0]  # only the one left
    core.run(30 * 60)
    assert len(sms.accepted) == 1  # the project manager, 30 min after the escalation
    by = {(d.alert_id, d.channel): d.status for d in core.h.notifier.deliveries(estates=None)}
    assert by == {
        (left, "duty-wecom"): "sent",
        (seen, "duty-wecom"): "sent",
        (left, "ops-ding"): "sent",
        (left, "duty-sms"): "sent",
    }


def test_shelved_and_suppressed_alarms_page_nobody(
    tmp_path: Path, clock: ManualClock, servers: Fakes
) -> None:
    wecom, ding, sms, hook = servers
    core = Core(tmp_path, clock, servers)
    start, end = clock.now(), clock.now() + timedelta(hours=2)
    core.engine.add_window(MaintenanceWindow(0, "moon", None, "L9", start, end, "年检", "manager"))
    suppressed = core.entrapment("moon", "L9")  # in its maintenance window: nobody, ever
    shelved = core.entrapment("sunrise", "L1")
    core.run(10)
    assert len(wecom.accepted) == 1  # L1's raise went out before anyone could shelve it
    core.book.shelve(shelved, "operator-1", 30, "维保在场，已知")
    core.book.flush()
    core.entrapment("sunrise", "L1")  # the fault again, while shelved
    core.run(10 * 60)  # well past the critical alarm's 1 min escalation
    assert len(wecom.accepted) == 1 and [f.accepted for f in (ding, sms, hook)] == [[], [], []]
    statuses = {(d.alert_id, d.channel) for d in core.h.notifier.deliveries(estates=None)}
    assert statuses == {(shelved, "duty-wecom")} and suppressed != shelved
