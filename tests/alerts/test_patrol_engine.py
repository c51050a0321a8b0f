"""Patrols through the alarm engine: scans from handsets become round alerts in the same book as
every device alarm, unknown ids become dead letters, SOS is critical at once, and a restart
mid-round goes on judging the round from the stored state (issue 4, acceptance 1 and 3)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from alerts.model import AlertState
from devices.base import Channel, Kind, Reading
from devices.clock import to_ns
from devices.inventory import Inventory
from tests.alerts.harness import Harness

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The harness clock starts 2026-01-05 16:00 Shanghai. The SPEC example plan "grounds" has a night
# window 18:00–06:00 of 4 rounds (3 h each, 2 guards): round 1's CP1 is due 19:30, CP2 21:00.
NIGHT = datetime(2026, 1, 5, 18, 0, tzinfo=SHANGHAI)
ALIVE = ["L1", "T1", "D1", "LC1", "LP1", "NVR1", "CAM1"]


def at(h: Harness, local: datetime) -> None:
    h.advance((local - h.clock.now()).total_seconds(), keep_alive=ALIVE, step=30)


def scan(h: Harness, checkpoint: str, guards: str = "G1,G2") -> None:
    h.event("H1", "scan", checkpoint=checkpoint, guards=guards)


def round_alerts(h: Harness) -> dict[str, AlertState]:
    return {a.key: a.state for a in h.book.open_alerts() if a.kind == "patrol"}


def active(h: Harness) -> set[str]:
    return {k for k, state in round_alerts(h).items() if state is AlertState.ACTIVE}


def test_round_alerts_are_raised_and_late_scans_clear_them(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    night_one = "sunrise/grounds/2026-01-05/night/1"
    at(h, NIGHT + timedelta(minutes=16))  # not started 15 min after its start
    assert active(h) == {f"{night_one}/patrol.round_not_started"}
    at(h, NIGHT + timedelta(hours=1, minutes=41))  # CP1 due 19:30 + grace: still one alarm, not more
    assert active(h) == {f"{night_one}/patrol.round_not_started"}
    scan(h, "CP1")  # started late: cleared
    assert active(h) == set()
    at(h, NIGHT + timedelta(hours=3, minutes=11))  # the last checkpoint (CP2, 21:00) missing: incomplete
    assert active(h) == {f"{night_one}/patrol.round_incomplete"}
    alert = h.book.open_alert(f"{night_one}/patrol.round_incomplete")
    assert (
        alert is not None
        and alert.severity.value == "minor"
        and alert.subject == "grounds/2026-01-05/night/1"
    )
    scan(h, "CP2")
    assert active(h) == set()
    report = h.engine.patrols["sunrise"].rounds_report(NIGHT.date())
    assert next(r for r in report if r["id"] == "grounds/2026-01-05/night/1")["status"] == "late"


def test_restart_mid_round_goes_on_judging_it(tmp_path: Path) -> None:
    first = Harness(tmp_path)
    at(first, NIGHT + timedelta(hours=1))
    scan(first, "CP1")
    second = Harness(tmp_path, inventory=first.inventory)  # SIGKILL and restart: same database
    second.clock.set(first.clock.now())
    at(second, NIGHT + timedelta(hours=2, minutes=50))
    scan(second, "CP2")
    at(second, NIGHT + timedelta(hours=3, minutes=20))
    report = second.engine.patrols["sunrise"].rounds_report(NIGHT.date())
    night_one = next(r for r in report if r["window"] == "night")
    assert night_one["status"] == "completed"  # CP1 before the restart, CP2 after: one round
    assert not [k for k in active(second) if "/night/1/" in k]


def test_unknown_checkpoint_is_a_dead_letter_and_sos_is_critical(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    dead: list[tuple[str, str, str]] = []
    h.engine._dead_letter = lambda estate, handset, why: dead.append((estate, handset, why))
    scan(h, "CP404")
    assert len(dead) == 1 and dead[0][:2] == ("sunrise", "H1") and "CP404" in dead[0][2]
    h.event("H1", "sos", guards="G1")
    sos = h.alert("H1", "patrol.sos")
    assert sos is not None and sos.severity.value == "critical" and sos.state is AlertState.ACTIVE


def test_sos_from_a_handset_missing_from_the_inventory_is_still_critical(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    sos = Reading(
        "sunrise",
        Kind.PATROL,
        "H404",
        Channel.EVENT,
        "",
        to_ns(h.clock.now()),
        {"event": "sos", "guards": "G9"},
        "sos",
        registered=False,
    )
    h.engine.consume([sos])
    alert = h.alert("H404", "patrol.sos")
    assert alert is not None and alert.severity.value == "critical" and alert.state is AlertState.ACTIVE
    telemetry = Reading(
        "sunrise",
        Kind.PATROL,
        "H404",
        Channel.TELEMETRY,
        "",
        sos.time_ns,
        {"battery_pct": 50.0},
        registered=False,
    )
    h.engine.consume([telemetry])
    assert len(h.book.open_alerts()) == 1  # its other readings still raise nothing


def test_sos_in_an_estate_without_patrol_plans(tmp_path: Path) -> None:
    inventory = Inventory.model_validate({"estates": [{"id": "quiet", "name": "静园", "buildings": ["B1"]}]})
    h = Harness(tmp_path, inventory=inventory)
    h.engine.consume(
        [
            Reading(
                "quiet",
                Kind.PATROL,
                "H1",
                Channel.EVENT,
                "",
                to_ns(h.clock.now()),
                {"event": "sos", "guards": "G1"},
                "sos",
                registered=False,
            )
        ]
    )
    alert = h.alert("H1", "patrol.sos", estate="quiet")
    assert alert is not None and alert.severity.value == "critical"
    assert h.store.patrol_snapshots() == {}  # nothing to keep for an estate with no plans
