"""Every failure path of the notifier, injected: it never dies, says so, and delivers afterwards."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alerts.outbox import Outbox
from devices.clock import ManualClock
from notify.alarm import CHANNEL_FAILED
from notify.channels.base import Message, Rejected
from notify.notifier import STAGE
from tests.notify.fakes import FakeWebhook, FakeWecom, Request
from tests.notify.harness import SECRETS, Harness, alert_body, channel, inventory
from tests.support.servers import wait_until


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 5, 8, 0, tzinfo=UTC))


@pytest.fixture
def wecom(clock: ManualClock) -> Iterator[FakeWecom]:
    fake = FakeWecom(SECRETS["DUTY_WECOM_KEY"], clock.now).start()
    yield fake
    fake.stop()


def make(tmp: Path, clock: ManualClock, wecom: FakeWecom) -> Harness:
    return Harness(tmp, inventory([channel("wecom", wecom.url)], [{"channels": ["duty-wecom"]}]), clock)


class FlakyOutbox:
    """The real outbox, whose ``pending`` raises the first ``times`` calls (the database away)."""

    def __init__(self, outbox: Outbox, times: int) -> None:
        self.outbox, self.times = outbox, times

    def pending(self, consumer: str, limit: int = 500) -> list[Any]:
        if self.times > 0:
            self.times -= 1
            raise OSError("database is away")
        return self.outbox.pending(consumer, limit)

    def done(self, consumer: str, last_id: int) -> None:
        self.outbox.done(consumer, last_id)

    def backlog(self, consumer: str) -> int:
        return self.outbox.backlog(consumer)


@pytest.mark.expect_errors
def test_intake_failures_are_counted_and_the_thread_goes_on(
    tmp_path: Path, clock: ManualClock, wecom: FakeWecom
) -> None:
    h = make(tmp_path, clock, wecom)
    h.notifier.outbox = FlakyOutbox(h.outbox, times=3)
    h.raise_alerts(alert_body())
    h.notifier.start()
    try:
        wait_until(lambda: wecom.accepted, timeout=10)
        stage = h.stages.snapshot()[STAGE]
        assert stage["alive"] and stage["failures"] == 3 and stage["failures_in_a_row"] == 0
        assert "database is away" in stage["last_error"]
    finally:
        h.notifier.stop()


def test_an_unreadable_outbox_row_is_skipped_not_fatal(
    tmp_path: Path, clock: ManualClock, wecom: FakeWecom, caplog: pytest.LogCaptureFixture
) -> None:
    h = make(tmp_path, clock, wecom)
    h.raise_alerts({"estate": "sunrise", "actions": ["raise"]}, alert_body())  # the first lacks severity, id
    h.notifier.run_once()
    assert len(wecom.accepted) == 1 and "is not a notice: KeyError" in caplog.text
    assert h.outbox.backlog("notify") == 0


class Refusing:
    """A channel that refuses the messages whose title says so (a typed stand-in)."""

    id, type = "duty-wecom", "wecom"

    def __init__(self) -> None:
        self.sent: list[Message] = []

    def send(self, message: Message) -> None:
        if "明月" in message.title:
            raise Rejected("WeCom 40058: content exceed max length")
        if "crash" in message.text:
            raise RuntimeError("a bug in the channel")
        self.sent.append(message)

    def close(self) -> None:
        pass


def test_a_refused_message_is_failed_and_the_channel_goes_on(
    tmp_path: Path, clock: ManualClock, wecom: FakeWecom
) -> None:
    h = make(tmp_path, clock, wecom)
    h.notifier.workers["duty-wecom"].channel = stub = Refusing()
    h.raise_alerts(alert_body(estate="moon", device="L9"), alert_body(severity="major"))
    h.notifier.run_once()
    by_estate = {d.estate: d for d in h.notifier.deliveries(estates=None)}
    assert by_estate["moon"].status == "failed" and "40058" in (by_estate["moon"].result or "")
    assert by_estate["sunrise"].status == "sent" and len(stub.sent) == 1
    assert h.notifier.alarm.active() == {}  # one refused message is not a broken channel


@pytest.mark.expect_errors
def test_a_channel_bug_is_retried_not_fatal(tmp_path: Path, clock: ManualClock, wecom: FakeWecom) -> None:
    h = make(tmp_path, clock, wecom)
    h.notifier.workers["duty-wecom"].channel = stub = Refusing()
    body = alert_body()
    body["message"] = "crash"
    h.raise_alerts(body)
    h.rounds(5)
    [delivery] = h.notifier.deliveries(estates=None)
    assert delivery.status == "pending" and delivery.attempts >= 2 and delivery.result == "RuntimeError"
    assert stub.sent == []


@pytest.mark.expect_errors  # the self-alarm is logged at CRITICAL
def test_down_5_minutes_raises_channel_failed_once_and_clears(
    tmp_path: Path, clock: ManualClock, wecom: FakeWecom
) -> None:
    h = make(tmp_path, clock, wecom)
    wecom.stop()
    h.raise_alerts(*(alert_body() for _ in range(5)))
    h.rounds(290)
    assert h.notifier.alarm.active() == {}
    h.raise_alerts(*(alert_body() for _ in range(5)))
    h.rounds(120)
    assert list(h.notifier.alarm.active()) == ["duty-wecom"]
    wecom.start()
    h.rounds(70)
    states = [json.loads(p)["state"] for t, p in h.published if t == "gateway/t/alarm"]
    assert states == ["active", "cleared"] and json.loads(h.published[0][1])["rule"] == CHANNEL_FAILED
    assert {d.status for d in h.notifier.deliveries(estates=None)} == {"sent"}


class BrokenStore:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: object, **kw: object) -> list[Any]:
        self.calls += 1
        raise OSError("disk I/O error")


@pytest.mark.expect_errors
def test_a_delivery_database_failure_is_the_stages_not_the_threads(
    tmp_path: Path, clock: ManualClock, wecom: FakeWecom, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = make(tmp_path, clock, wecom)
    h.raise_alerts(alert_body())
    broken = BrokenStore()
    with monkeypatch.context() as patch:
        patch.setattr(h.notifier.store, "due", broken)
        h.notifier.run_once()
        assert broken.calls == 1 and h.stages.snapshot()[f"{STAGE}.duty-wecom"]["failures"] == 1
    h.notifier.run_once()
    assert len(wecom.accepted) == 1


def test_the_admins_test_message_goes_through_the_notifiers_thread(
    tmp_path: Path, clock: ManualClock, wecom: FakeWecom
) -> None:
    h = make(tmp_path, clock, wecom)
    h.notifier.start()
    try:
        assert h.notifier.request_test("duty-wecom", "管理员") == "ok"
        [content] = wecom.contents()
        assert "duty-wecom" in content and "管理员" in content
        wecom.stop()
        assert h.notifier.request_test("duty-wecom", "管理员").startswith("failed: cannot connect")
        with pytest.raises(KeyError):
            h.notifier.request_test("nope", "管理员")
    finally:
        h.notifier.stop()


class HangingHook(FakeWebhook):
    """A receiver that holds every request until the test lets go (a vendor that hangs)."""

    def __init__(self, secret: str) -> None:
        super().__init__(secret)
        self.release = threading.Event()

    def answer(self, request: Request) -> tuple[int, dict[str, Any]]:
        self.release.wait(10)
        return super().answer(request)


def test_a_hanging_channel_delays_only_itself(tmp_path: Path, wecom: FakeWecom) -> None:
    clock = ManualClock(datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
    wecom.now = clock.now
    hook = HangingHook(SECRETS["HOOK_SECRET"]).start()
    channels = [channel("wecom", wecom.url), channel("webhook", hook.url, timeout_s=8)]
    h = Harness(tmp_path, inventory(channels, [{"channels": ["duty-wecom", "hook"]}]), clock)
    h.notifier.start()
    try:
        h.raise_alerts(alert_body())
        wait_until(lambda: hook.requests, timeout=5)  # the hook holds its request …
        wait_until(lambda: wecom.accepted, timeout=2)  # … and WeCom is paged all the same
        assert hook.accepted == []
    finally:
        hook.release.set()
        h.notifier.stop()
        hook.stop()
    assert len(hook.accepted) == 1
