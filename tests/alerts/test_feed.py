"""An estate's feed as a whole (alerts/feed.py): every device silent at once is one estate-wide
alert, not one offline alarm per device; a silence that ends before the feed rule's ``for_s`` holds
the timers until the backlog is in, so late messages raise nothing; a small estate is left to its
devices' own deadlines; an open feed alert survives a restart."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from alerts.catalogue import DEFAULT_RULES
from alerts.model import AlertState
from devices.base import Channel
from devices.inventory import Inventory
from tests.alerts.harness import Harness
from tests.alerts.test_restart import restarted

FEED = "estate.feed_lost"
GATES = [f"G{i:02}" for i in range(40)]  # 40 heartbeats a minute: the feed is judged after 20 s


def estate(heartbeat_s: int = 60, n: int = len(GATES)) -> Inventory:
    gates = [{"id": g, "kind": "access", "building": "B1", "heartbeat_s": heartbeat_s} for g in GATES[:n]]
    door = {"id": "D1", "kind": "access", "building": "B1", "location": "一单元大门", "heartbeat_s": 60}
    return Inventory.model_validate(
        {"estates": [{"id": "sunrise", "name": "朝阳小区", "buildings": ["B1"], "devices": [*gates, door]}]}
    )


def annunciated(h: Harness) -> list[tuple[str | None, str]]:
    return sorted(
        (
            (a.device, a.rule)
            for a in h.book.open_alerts()
            if a.active and a.state is not AlertState.SUPPRESSED
        ),
        key=str,
    )


def test_a_whole_estate_silent_is_one_alert_with_the_device_alarms_under_it(tmp_path: Path) -> None:
    h = Harness(tmp_path, inventory=estate())
    h.advance(5)  # everybody talks
    last = h.clock.now()
    h.advance(179, keep_alive=[])
    assert annunciated(h) == []  # nothing yet: not even the devices whose deadline passed
    h.advance(1, keep_alive=[])  # 180 s without a word from the estate
    assert annunciated(h) == [(None, FEED)]
    feed = h.alert(None, FEED)
    assert feed is not None and feed.severity.value == "major" and feed.device is None
    assert f"{last.astimezone(h.inventory.estates[0].tz):%H:%M:%S}" in feed.message
    h.advance(30, keep_alive=[])
    offline = [h.alert(g, "access.offline") for g in [*GATES, "D1"]]
    assert all(a is not None and a.state is AlertState.SUPPRESSED for a in offline)
    assert all((a.suppressed_by or "").startswith("feed lost") for a in offline if a)

    # The feed is back, but 10 gates stay silent: the feed alert clears at the first message; the
    # silent gates' alarms are shown again once the rest of the backlog had 20 s to come in.
    back, still_silent = [*GATES[:30], "D1"], GATES[30:]
    h.advance(1, keep_alive=back)
    assert feed.state is AlertState.CLEARED
    h.advance(19, keep_alive=back)
    assert annunciated(h) == []
    # Those back returned to normal under the feed alert, never shown: closed, nothing to do.
    assert all(h.alert(g, "access.offline") is None for g in back)
    h.advance(1, keep_alive=back)
    assert annunciated(h) == [(g, "access.offline") for g in still_silent]
    assert all(h.alert(g, "access.offline") is None for g in back)


def test_device_alarms_raised_before_the_feed_was_called_lost_go_under_it(tmp_path: Path) -> None:
    h = Harness(tmp_path, inventory=estate())
    h.advance(1)
    h.advance(170, keep_alive=[*GATES, "D1"][1:])  # G00 falls silent 170 s before the others
    h.advance(15, keep_alive=[])  # its deadline (180 s) passes before the estate's silence is judged
    assert annunciated(h) == [("G00", "access.offline")]
    h.advance(170, keep_alive=[])
    assert annunciated(h) == [(None, FEED)]
    assert h.alert("G00", "access.offline").state is AlertState.SUPPRESSED  # type: ignore[union-attr]


def held_open_through_a_silence(h: Harness) -> None:
    """The door opens and closes 10 s later, but every message of the estate in between and for
    100 s (the door's close among them) comes late, in one burst (an uplink or a paused process)."""
    h.advance(5)
    h.send("D1", door="open", locked=False)
    h.advance(100, keep_alive=[])
    h.send("D1", door="closed", locked=True)  # the backlog: sent 10 s after the door opened
    h.advance(60)


def test_a_shorter_silence_holds_the_timers_until_its_backlog_is_in(tmp_path: Path) -> None:
    h = Harness(tmp_path, inventory=estate())
    held_open_through_a_silence(h)
    assert annunciated(h) == []
    assert h.alert("D1", "access.held_open") is None


def test_without_the_feed_rule_the_same_silence_raises_a_false_alarm(tmp_path: Path) -> None:
    rules = [r for r in DEFAULT_RULES if r.id != FEED]
    h = Harness(tmp_path, inventory=estate(), rules=rules)
    held_open_through_a_silence(h)
    alert = h.alert("D1", "access.held_open")
    assert alert is not None and alert.state is AlertState.CLEARED  # raised at 60 s, then cleared


def test_a_deadline_that_fell_in_the_silence_is_judged_after_the_backlog(tmp_path: Path) -> None:
    h = Harness(tmp_path, inventory=estate())
    h.advance(1)
    h.advance(100, keep_alive=[*GATES, "D1"][1:])  # G00 silent from here: deadline at 180 s
    resumed = h.clock.now() + timedelta(seconds=100)
    h.advance(100, keep_alive=[])  # the estate silent from 20 s before G00's deadline to 20 s after
    assert annunciated(h) == []
    h.advance(25, keep_alive=[*GATES, "D1"][1:])  # the backlog: everybody but G00
    alert = h.alert("G00", "access.offline")
    assert alert is not None and alert.active and alert.state is AlertState.ACTIVE
    # Judged once the backlog had its 20 s: flagged, not lost, and not before.
    assert resumed + timedelta(seconds=19) <= alert.raised_at <= resumed + timedelta(seconds=21)


def test_a_small_estate_is_left_to_its_devices_deadlines(tmp_path: Path) -> None:
    h = Harness(tmp_path, inventory=estate(heartbeat_s=300, n=3))  # 4 devices: too few to tell
    h.advance(1)
    h.advance(901, keep_alive=[], step=10)
    assert h.alert(None, FEED) is None
    assert annunciated(h) == sorted([(d, "access.offline") for d in [*GATES[:3], "D1"]], key=str)


def test_a_lost_feed_stays_lost_through_a_restart_until_a_message(tmp_path: Path) -> None:
    first = Harness(tmp_path, inventory=estate())
    first.advance(1)
    first.advance(200, keep_alive=[])
    assert annunciated(first) == [(None, FEED)]
    second = restarted(first, tmp_path)
    second.advance(30, keep_alive=[])
    assert annunciated(second) == [(None, FEED)]  # still lost: not raised again, not cleared
    assert [a.rule for a in second.book.open_alerts()].count(FEED) == 1
    second.send("G00", Channel.HEARTBEAT)
    assert second.alert(None, FEED).state is AlertState.CLEARED  # type: ignore[union-attr]
