"""Guard tour (docs/contract.md §6, GA/T 644): one test per round outcome and rule, on the §4 plan.

The plan ``grounds`` (route CP1 → CP2, grace 10 min) of estate ``sunrise`` (Asia/Shanghai, UTC+8):
day 06:00–18:00 in 3 rounds of 4 h (CP1 due 2 h after a round's start, CP2 at its end), night
18:00–06:00 in 4 rounds of 3 h with 2 guards. Times are explicit; nothing sleeps. Day round 1 of
2026-01-05 runs 06:00–10:00: CP1 due 08:00 (late after 08:10), CP2 due 10:00 (late after 10:10);
its window closes at 18:10, when its verdict is final.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import devices
from alerts.patrol import PatrolSignal, PatrolTracker
from alerts.patrol_plan import PatrolRule, RoundStatus, rounds_between, rounds_for_day
from devices.base import Channel, Kind, Reading, Severity
from devices.clock import ManualClock, to_ns
from devices.inventory import Checkpoint, Estate, Guard
from devices.loader import load_inventory

SPEC_EXAMPLE = Path(devices.__file__).parent / "samples" / "spec_example.yaml"
SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 1, 5)
NEXT = DAY + timedelta(days=1)
DAY1, DAY2, NIGHT1 = "grounds/2026-01-05/day/1", "grounds/2026-01-05/day/2", "grounds/2026-01-05/night/1"
R = PatrolRule


def local(hour: int, minute: int = 0, second: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tzinfo=SHANGHAI)


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


@pytest.fixture(scope="module")
def estate() -> Estate:
    return load_inventory(SPEC_EXAMPLE).estates[0]


@pytest.fixture
def tracker(estate: Estate) -> PatrolTracker:
    return PatrolTracker.for_estate(estate, since=local(6))  # watching from day round 1 on


def of(signals: Sequence[PatrolSignal], round_id: str) -> list[tuple[PatrolRule, bool]]:
    """(rule, clear) of the signals about one round, in order."""
    return [(s.rule, s.clear) for s in signals if s.round_id == round_id]


def report(tracker: PatrolTracker, round_id: str, day: date = DAY) -> dict[str, Any]:
    [found] = [r for r in tracker.rounds_report(day) if r["id"] == round_id]
    return found


def scan(t: PatrolTracker, checkpoint: str, at: datetime, *guards: str) -> list[PatrolSignal]:
    return t.scan("H1", checkpoint, guards or ("G1",), at)


# -- outcomes of a round ----------------------------------------------------------------------------


def test_completed(tracker: PatrolTracker) -> None:
    assert scan(tracker, "CP1", local(7, 50)) == []
    assert scan(tracker, "CP2", local(9, 55)) == []
    assert of(tracker.tick(local(10, 11)), DAY1) == []
    body = report(tracker, DAY1)
    assert body["status"] == RoundStatus.COMPLETED
    assert [(c["checkpoint"], c["on_time"]) for c in body["checkpoints"]] == [("CP1", True), ("CP2", True)]
    assert of(tracker.tick(local(18, 11)), DAY1) == []  # the close finds nothing left to clear


def test_late_round_clears_its_alert_when_the_last_checkpoint_is_reached(tracker: PatrolTracker) -> None:
    scan(tracker, "CP1", local(7))
    assert of(tracker.tick(local(10, 10)), DAY1) == []  # CP2 due 10:00 + 10 min grace: still in time
    assert of(tracker.tick(local(10, 10, 1)), DAY1) == [(R.ROUND_INCOMPLETE, False)]
    signals = scan(tracker, "CP2", local(10, 30))  # finishing round 1, not starting round 2
    assert of(signals, DAY1) == [(R.ROUND_INCOMPLETE, True)]
    assert "put right" in signals[0].message_en
    assert report(tracker, DAY1)["status"] == RoundStatus.LATE
    assert report(tracker, DAY2)["scans"] == []


def test_missed_checkpoint_is_minor_and_clears_when_scanned_late(tracker: PatrolTracker) -> None:
    scan(tracker, "CP2", local(7))  # the guard skips CP1
    assert of(tracker.tick(local(8, 10)), DAY1) == []
    [missed] = tracker.tick(local(8, 10, 1))
    assert (missed.rule, missed.severity, missed.clear) == (R.CHECKPOINT_MISSED, Severity.MINOR, False)
    assert (missed.key, missed.checkpoint, missed.building) == (
        f"{DAY1}/{R.CHECKPOINT_MISSED}/CP1",
        "CP1",
        "B1",
    )
    assert "CP1" in missed.message and "08:00" in missed.message_en
    back = scan(tracker, "CP1", local(8, 30))
    assert of(back, DAY1) == [(R.OUT_OF_ORDER, False), (R.CHECKPOINT_MISSED, True)]
    assert back[1].key == missed.key
    assert report(tracker, DAY1)["status"] == RoundStatus.LATE


def test_round_incomplete_takes_over_missed_checkpoints(tracker: PatrolTracker) -> None:
    scan(tracker, "CP2", local(7))
    assert of(tracker.tick(local(8, 11)), DAY1) == [(R.CHECKPOINT_MISSED, False)]
    over = tracker.tick(local(10, 11))
    assert of(over, DAY1) == [(R.ROUND_INCOMPLETE, False), (R.CHECKPOINT_MISSED, True)]
    assert "now part of the round-incomplete alert" in over[1].message_en


def test_incomplete(tracker: PatrolTracker) -> None:
    scan(tracker, "CP1", local(7))
    [incomplete] = tracker.tick(local(10, 10, 1))
    assert (incomplete.rule, incomplete.severity) == (R.ROUND_INCOMPLETE, Severity.MINOR)
    assert "CP2" in incomplete.message
    assert report(tracker, DAY1)["status"] == RoundStatus.INCOMPLETE
    closed = [s for s in tracker.tick(local(18, 10, 1)) if s.round_id == DAY1]
    assert [(s.key, s.clear) for s in closed] == [(incomplete.key, True)]
    assert "round closed: incomplete" in closed[0].message_en
    assert of(tracker.tick(local(20)), DAY1) == []  # final: judged once
    assert report(tracker, DAY1)["status"] == RoundStatus.INCOMPLETE


def test_missed_round(tracker: PatrolTracker) -> None:
    assert of(tracker.tick(local(6, 15)), DAY1) == []
    [late] = tracker.tick(local(6, 15, 1))
    assert (late.rule, late.severity, late.round_id) == (R.ROUND_NOT_STARTED, Severity.MAJOR, DAY1)
    assert report(tracker, DAY1)["status"] == RoundStatus.SCHEDULED
    tracker.tick(local(10))
    assert report(tracker, DAY1)["status"] == RoundStatus.MISSED
    assert of(scan(tracker, "CP1", local(10, 5)), DAY1) == []  # the guard is on round 2 now
    assert report(tracker, DAY2)["status"] == RoundStatus.IN_PROGRESS
    assert of(tracker.tick(local(18, 10, 1)), DAY1) == [(R.ROUND_NOT_STARTED, True)]
    assert report(tracker, DAY1)["status"] == RoundStatus.MISSED


def test_lone_guard_at_night(tracker: PatrolTracker) -> None:
    assert scan(tracker, "CP1", local(19)) == []
    assert of(tracker.tick(local(19, 2)), NIGHT1) == []  # a second guard's handset may scan yet
    [few] = tracker.tick(local(19, 2, 1))
    assert (few.rule, few.severity, few.round_id) == (R.TOO_FEW_GUARDS, Severity.MAJOR, NIGHT1)
    assert "CP1" in few.message_en and "at least 2" in few.message_en
    assert scan(tracker, "CP2", local(20, 50)) == []  # still alone: the alert is already open
    assert of(tracker.tick(local(21, 11)), NIGHT1) == []
    body = report(tracker, NIGHT1)
    # Walked, but alone: the plan asks two at night, so the round did not meet it (once "completed",
    # which made a month of lone night rounds 100 % compliant).
    assert body["status"] == RoundStatus.SHORT_HANDED and body["findings"] == [R.TOO_FEW_GUARDS]


def test_a_short_handed_round_does_not_count_as_done(estate: Estate) -> None:
    def walked(*guards: str) -> PatrolTracker:
        night = PatrolTracker.for_estate(estate, since=local(17, 30))  # the day's rounds unwatched
        night.scan("H1", "CP1", guards, local(19))
        night.scan("H1", "CP2", guards, local(20, 50))
        night.tick(local(6, 11, day=NEXT))  # the night window has closed; rounds 2-4 were missed
        return night

    alone, pair = walked("G1"), walked("G1", "G2")
    assert report(alone, NIGHT1)["status"] == RoundStatus.SHORT_HANDED
    assert report(pair, NIGHT1)["status"] == RoundStatus.COMPLETED
    assert (alone.compliance(DAY), pair.compliance(DAY)) == (0.0, 0.25)


def test_two_guards_with_a_handset_each_make_a_pair(tracker: PatrolTracker) -> None:
    tracker.scan("H1", "CP1", ["G1"], local(19))
    tracker.scan("H2", "CP1", ["G2"], local(19, 0, 20))
    tracker.scan("H1", "CP2", ["G1", "G2"], local(20, 50))
    assert of(tracker.tick(local(21, 11)), NIGHT1) == []
    assert report(tracker, NIGHT1)["checkpoints"][0]["guards"] == ["G1", "G2"]


def test_out_of_order(tracker: PatrolTracker) -> None:
    assert scan(tracker, "CP2", local(7)) == []
    [warning] = scan(tracker, "CP1", local(7, 30))
    assert (warning.rule, warning.severity, warning.clear) == (R.OUT_OF_ORDER, Severity.INFO, False)
    assert "CP1 scanned after CP2" in warning.message_en
    assert of(tracker.tick(local(10, 11)), DAY1) == []
    assert report(tracker, DAY1)["status"] == RoundStatus.COMPLETED


def test_duplicate_scans_count_once(tracker: PatrolTracker) -> None:
    assert scan(tracker, "CP1", local(7)) == []
    assert scan(tracker, "CP1", local(7, 5)) == []
    assert scan(tracker, "CP2", local(9)) == []
    assert of(tracker.tick(local(10, 11)), DAY1) == []
    body = report(tracker, DAY1)
    assert body["status"] == RoundStatus.COMPLETED and len(body["scans"]) == 3
    assert body["checkpoints"][0]["scanned_at"] == local(7).astimezone(UTC).isoformat()


def test_unknown_checkpoint_is_for_a_dead_letter(tracker: PatrolTracker) -> None:
    [unknown] = scan(tracker, "CP9", local(7))
    assert (unknown.rule, unknown.severity, unknown.handset) == (R.UNKNOWN, Severity.INFO, "H1")
    assert "CP9" in unknown.message and "checkpoint CP9" in unknown.message_en
    assert all(r["scans"] == [] for r in tracker.rounds_report(DAY))


def test_unknown_guard_is_reported_and_does_not_count(estate: Estate) -> None:
    guards = [Guard(id="G1", name="张三"), Guard(id="G2", name="李四")]
    tracker = PatrolTracker.for_estate(estate.model_copy(update={"guards": guards}), since=local(6))
    [unknown] = tracker.scan("H1", "CP1", ["G1", "X9"], local(19))
    assert unknown.rule is R.UNKNOWN and "guard X9" in unknown.message_en
    assert report(tracker, NIGHT1)["checkpoints"][0]["guards"] == ["G1"]  # X9 cannot make up a pair
    assert of(tracker.tick(local(19, 5)), NIGHT1) == [(R.TOO_FEW_GUARDS, False)]


def test_sos_is_critical_at_once(tracker: PatrolTracker) -> None:
    alarm = tracker.sos("H1", ["G1", "G2"], local(2, 30))
    assert (alarm.rule, alarm.severity, alarm.clear, alarm.key) == (
        R.SOS,
        Severity.CRITICAL,
        False,
        "H1/patrol.sos",
    )
    assert "SOS" in alarm.message and "G1, G2" in alarm.message_en
    reading = Reading(
        "sunrise",
        Kind.PATROL,
        "H1",
        Channel.EVENT,
        "",
        to_ns(local(2, 31)),
        {"event": "sos", "guards": "G1,G2"},
        "sos",
    )
    assert tracker.on_reading(reading) == [
        PatrolSignal(
            R.SOS,
            Severity.CRITICAL,
            "H1/patrol.sos",
            alarm.message,
            alarm.message_en,
            local(2, 31),
            handset="H1",
        )
    ]


# -- planning ---------------------------------------------------------------------------------------


def test_night_window_rounds_on_both_calendar_days(estate: Estate) -> None:
    [plan] = estate.patrols
    today = rounds_for_day(plan, SHANGHAI, DAY)
    assert [(r.window, r.number) for r in today] == [("day", 1), ("day", 2), ("day", 3)] + [
        ("night", n) for n in (1, 2, 3, 4)
    ]
    night = [r for r in today if r.window == "night"]
    # 18:00 local on the 5th is 10:00 UTC; the window runs to 06:00 local on the 6th (22:00 UTC on the 5th).
    assert [(r.start, r.end) for r in night] == [
        (utc(5, 10), utc(5, 13)),
        (utc(5, 13), utc(5, 16)),
        (utc(5, 16), utc(5, 19)),
        (utc(5, 19), utc(5, 22)),
    ]
    assert all(
        r.start.tzinfo is UTC and r.min_guards == 2 and r.grace == timedelta(minutes=10) for r in night
    )
    assert night[0].due == (("CP1", utc(5, 11, 30)), ("CP2", utc(5, 13)))
    assert night[3].closes == utc(5, 22, 10)
    tomorrow = rounds_for_day(plan, SHANGHAI, NEXT)
    assert tomorrow[0].start == utc(5, 22)  # 06:00 local on the 6th, right after the night above
    assert next(r.start for r in tomorrow if r.window == "night") == utc(6, 10)
    early = rounds_between(plan, SHANGHAI, local(0, day=NEXT), local(6, day=NEXT))
    assert [r.id for r in early] == ["grounds/2026-01-05/night/3", "grounds/2026-01-05/night/4"]
    evening = rounds_between(plan, SHANGHAI, local(17), local(19))
    assert [r.id for r in evening] == ["grounds/2026-01-05/day/3", NIGHT1]


# -- restarts ---------------------------------------------------------------------------------------


def test_restart_mid_round(estate: Estate) -> None:
    """Route CP1 → CP2 → CP3: a 4-hour day round has them due at 07:20, 08:40 and 10:00."""
    [plan] = estate.patrols
    three = estate.model_copy(
        update={
            "checkpoints": [*estate.checkpoints, Checkpoint(id="CP3", building="B2")],
            "patrols": [plan.model_copy(update={"route": ["CP1", "CP2", "CP3"]})],
        }
    )
    first = PatrolTracker.for_estate(three, since=local(6))
    assert of(first.tick(local(6, 16)), DAY1) == [(R.ROUND_NOT_STARTED, False)]
    assert of(scan(first, "CP1", local(6, 30)), DAY1) == [(R.ROUND_NOT_STARTED, True)]
    assert scan(first, "CP2", local(8)) == []
    first.tick(local(8, 1))
    stored = json.loads(json.dumps(first.snapshot()))  # what a store would keep
    assert [r["id"] for r in stored["rounds"]] == [DAY1]

    second = PatrolTracker.for_estate(three, since=local(9))  # the gateway comes back at 09:00
    second.restore(stored)
    assert of(second.tick(local(9)), DAY1) == []  # not started again, nothing raised twice
    assert scan(second, "CP3", local(9, 30)) == []
    assert of(second.tick(local(10, 11)), DAY1) == []
    body = report(second, DAY1)
    assert body["status"] == RoundStatus.COMPLETED and len(body["scans"]) == 3


def test_restart_keeps_an_open_alert_and_clears_it_once(tracker: PatrolTracker, estate: Estate) -> None:
    scan(tracker, "CP2", local(7))
    assert of(tracker.tick(local(8, 11)), DAY1) == [(R.CHECKPOINT_MISSED, False)]
    second = PatrolTracker.for_estate(estate, since=local(8, 20))
    second.restore(json.loads(json.dumps(tracker.snapshot())))
    assert of(second.tick(local(8, 20)), DAY1) == []
    assert of(scan(second, "CP1", local(8, 30)), DAY1) == [
        (R.OUT_OF_ORDER, False),
        (R.CHECKPOINT_MISSED, True),
    ]


def test_a_snapshot_it_cannot_read_is_refused(tracker: PatrolTracker) -> None:
    with pytest.raises(ValueError, match="unreadable patrol snapshot"):
        tracker.restore({"version": 99})
    with pytest.raises(ValueError, match="unreadable patrol snapshot"):
        tracker.restore({**tracker.snapshot(), "rounds": [{"id": "nonsense"}]})
    assert scan(tracker, "CP1", local(7)) == []  # still the tracker it was


# -- reports and the passing of time ----------------------------------------------------------------


def test_compliance_counts_completed_and_late_of_closed_rounds(tracker: PatrolTracker) -> None:
    scan(tracker, "CP1", local(7))  # round 1: late (CP2 after 10:10)
    scan(tracker, "CP2", local(10, 30))
    scan(tracker, "CP1", local(11))  # round 2: on time
    scan(tracker, "CP2", local(13, 30))
    tracker.tick(local(17))
    assert tracker.compliance(DAY) is None  # no round of the day has closed yet
    tracker.tick(local(18, 10, 1))  # the day window has closed; round 3 was never started
    statuses = [r["status"] for r in tracker.rounds_report(DAY) if r["window"] == "day"]
    assert statuses == [RoundStatus.LATE, RoundStatus.COMPLETED, RoundStatus.MISSED]
    assert tracker.compliance(DAY) == pytest.approx(2 / 3)
    assert all(
        not r["watched"] for r in tracker.rounds_report(DAY - timedelta(days=1)) if r["window"] == "night"
    )


def test_ticking_every_minute_raises_and_clears_each_alert_once(tracker: PatrolTracker) -> None:
    """A day and a night of engine ticks: each alert is raised once and cleared once, by its close."""
    clock = ManualClock(local(5))
    scans = {local(7): "CP1", local(12): "CP2", local(12, 30): "CP1", local(19): "CP1"}
    signals: list[PatrolSignal] = []
    while clock.now() < local(6, 12, day=NEXT):  # the night window closes at 06:10
        now = clock.advance(60)
        due = [(at, cp) for at, cp in scans.items() if now - timedelta(minutes=1) < at <= now]
        signals += [s for at, cp in due for s in scan(tracker, cp, at)]
        signals += tracker.tick(now)
    flags: dict[str, list[bool]] = {}
    for s in signals:
        if s.round_id and s.round_id.startswith("grounds/2026-01-05/"):
            flags.setdefault(s.key, []).append(s.clear)
    assert len(flags) == 11 and all(f == [False, True] for f in flags.values()), flags
    # 12:00 CP2 finishes round 1 (late); 12:30 CP1 starts round 2, which never sees CP2.
    assert [r["status"] for r in tracker.rounds_report(DAY)] == [
        RoundStatus.LATE,
        RoundStatus.INCOMPLETE,
        RoundStatus.MISSED,
        RoundStatus.INCOMPLETE,
        RoundStatus.MISSED,
        RoundStatus.MISSED,
        RoundStatus.MISSED,
    ]
    assert tracker.compliance(DAY) == pytest.approx(1 / 7)
