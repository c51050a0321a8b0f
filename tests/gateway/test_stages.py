"""gateway.stages: a stage's failures counted and told, the self-alarm raised once after
``alarm_after`` failures in a row and cleared by a success, and the health summary on MQTT."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.stages import STAGE_FAILED, HealthReporter, Stages, summarise


class Published:
    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any], bool]] = []

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self.messages.append((topic, json.loads(payload), retain))


class Stream:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def publish(self, type_: str, estate: str, data: dict[str, Any]) -> None:
        self.events.append((type_, estate, data))


@pytest.mark.expect_errors  # the self-alarm is logged CRITICAL
def test_the_self_alarm_rises_after_n_failures_in_a_row_once_and_clears_on_success() -> None:
    mqtt, stream = Published(), Stream()
    stages = Stages("gw-a", alarm_after=3, wall=lambda: 1_800_000_000.0)
    stages.attach(mqtt, stream)
    stages.failed("rules", OSError("disk"))
    stages.failed("rules", OSError("disk"))
    assert mqtt.messages == [] and not stages.snapshot()["rules"]["ok"]
    stages.failed("rules", OSError("disk"))
    stages.failed("rules", OSError("disk"))  # still failing: not told again
    assert [(t, m["rule"], m["state"], m["stage"]) for t, m, _ in mqtt.messages] == [
        ("gateway/gw-a/alarm", STAGE_FAILED, "active", "rules")
    ]
    assert stream.events[0][0] == "gateway" and stream.events[0][2]["error"] == "OSError: disk"
    facts = stages.snapshot()["rules"]
    assert (facts["failures_in_a_row"], facts["failures"]) == (4, 4)
    assert stages.alarms() == ["rules"]
    stages.succeeded("rules")
    assert [m["state"] for _, m, _ in mqtt.messages] == ["active", "cleared"]
    assert stages.snapshot()["rules"]["ok"] and stages.alarms() == []
    assert stages.snapshot()["rules"]["failures"] == 4  # the total stays, for /metrics


def test_a_stage_whose_thread_died_is_not_ok() -> None:
    import threading  # noqa: PLC0415

    stages = Stages("gw-a")
    finished = threading.Thread(target=lambda: None)
    finished.start()
    finished.join()
    stages.stage("pipeline", finished)
    assert stages.snapshot()["pipeline"] == {**stages.snapshot()["pipeline"], "ok": False, "alive": False}


def test_the_health_summary_names_what_fails_and_is_retained() -> None:
    health = {
        "ok": False,
        "instance": "gw-a",
        "broker": {"ok": True},
        "queue": {"ok": True, "depth": 12, "behind_s": 0.4},
        "spool": {"ok": True, "points": 0},
        "stages": {
            "ok": False,
            "rules": {"ok": False},
            "store": {"ok": True},
            "last_store_write": "2026-12-07T10:00:00+00:00",
            "self_alarms": ["rules"],
        },
    }
    mqtt = Published()
    summary = HealthReporter("gw-a", lambda: health, mqtt).report()
    assert summary == {**summarise(health), "at": summary["at"]}
    ((topic, body, retained),) = mqtt.messages
    assert (topic, retained) == ("gateway/gw-a/health", True)
    assert body["failing"] == ["stages", "stages.rules"] and body["ok"] is False
    assert (body["behind_s"], body["queue_depth"], body["self_alarms"]) == (0.4, 12, ["rules"])
