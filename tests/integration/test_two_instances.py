"""Scale-out acceptance (issue 8): two gateway instances on one mosquitto and one PostgreSQL pass
the scenario suite together, without duplicate alerts.

For each library scenario, the inventory is doubled: its estate and a twin of it (same devices,
id ``<estate>-twin``). Instance A owns the estate, instance B the twin (``ESTATE_ESTATES``); both
load the doubled inventory and share the broker and one PostgreSQL database. The scenario runs
against A and, at the same time, its twin (the same file with the twin's topics and inventory)
runs against B. Both must pass; then the shared tables must hold no alert twice, and each
instance must have done the same job for its own estate (the same alerts and work orders).
"""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text

from simulators.scenario import library, load_scenario
from simulators.scenario_runner import PASSED
from tests.scenarios.test_library import DEFAULT_START, RUNNER_WAIT_S, SIM_TOKEN, estate_sim_command
from tests.support.gateway import REPO, GatewayProcess
from tests.support.servers import MosquittoServer


def twin_files(inventory_path: Path, scenario_path: Path, into: Path) -> tuple[Path, Path, str, str]:
    """(doubled inventory, twin scenario, estate id, twin id)."""
    data = yaml.safe_load(inventory_path.read_text())
    (estate,) = data["estates"]
    twin_id = f"{estate['id']}-twin"
    # A vendor id names one device on a profile's own topic (dtu/{vendor_id}/up): the twin's differ.
    devices = [{**d, "vendor_id": f"{d['vendor_id']}1"} if "vendor_id" in d else d for d in estate["devices"]]
    twin = {**estate, "id": twin_id, "name": f"{estate.get('name', estate['id'])} (twin)", "devices": devices}
    crews = data.get("crews", [])
    doubled = into / "doubled.yaml"
    both = [{**crew, "estates": [*crew["estates"], twin_id]} for crew in crews]
    doubled.write_text(yaml.safe_dump({**data, "estates": [estate, twin], "crews": both}, allow_unicode=True))
    only_twin = into / "twin-inventory.yaml"
    theirs = [{**crew, "estates": [twin_id]} for crew in crews]
    only_twin.write_text(yaml.safe_dump({**data, "estates": [twin], "crews": theirs}, allow_unicode=True))
    source = scenario_path.read_text()
    source = re.sub(r"(?m)^inventory: .*$", f"inventory: {only_twin}", source)
    source = source.replace(f"estate/{estate['id']}/", f"estate/{twin_id}/")
    for device in estate["devices"]:  # a raw publish on a profile's own topic names the vendor id
        if "vendor_id" in device:
            source = source.replace(f"/{device['vendor_id']}/", f"/{device['vendor_id']}1/")
    twin_scenario = into / f"twin-{scenario_path.name}"
    twin_scenario.write_text(source)
    return doubled, twin_scenario, estate["id"], twin_id


def instance(
    name: str,
    owns: str,
    inventory: Path,
    database: str,
    start_at: str,
    speed: float,
    workdir: Path,
    broker: str,
) -> GatewayProcess:
    tokens = workdir / f"{name}-tokens.yaml"
    tokens.write_text(
        yaml.safe_dump({"tokens": [{"name": "scenarios", "role": "simulator", "token": SIM_TOKEN}]})
    )
    return GatewayProcess(
        workdir / name,
        {
            "ESTATE_MQTT_URL": broker,
            "ESTATE_INVENTORY": str(inventory),
            "ESTATE_ESTATES": owns,
            "ESTATE_DATABASE_URL": database,
            "ESTATE_INSTANCE": name,
            "ESTATE_CLOCK_SPEED": str(speed),
            "ESTATE_CLOCK_START": start_at,
            "ESTATE_TOKENS_FILE": str(tokens),
            # Lock-step: each runner drives its own instance's clock (gateway/driven.py).
            "ESTATE_CLOCK_TOPIC": f"estate-sim/clock/{workdir.name}/{name}",
        },
    )


def rows(database: str, query: str) -> list[Any]:
    engine = create_engine(database.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(query)))
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.live
@pytest.mark.parametrize("path", library(), ids=lambda path: path.stem)
def test_two_instances_pass_the_scenario_together(
    path: Path, tmp_path: Path, mosquitto: MosquittoServer, pg_url: str
) -> None:
    loaded = load_scenario(path)
    doubled, twin_path, estate, twin = twin_files(loaded.inventory_path, path, tmp_path)
    scenario = loaded.scenario
    start_at = scenario.clock_start.isoformat() if scenario.clock_start else DEFAULT_START
    common = (doubled, pg_url, start_at, scenario.speed, tmp_path, mosquitto.url)
    one, two = instance("gw-a", estate, *common), instance("gw-b", twin, *common)
    results: dict[str, tuple[int, str]] = {}
    runners: dict[str, subprocess.Popen[str]] = {}
    try:  # a gateway that started is killed even when the other failed to, and so is a runner
        # Each run in its own process, as in test_library (not inside pytest's heap), started
        # beside its gateway and waiting for it; the gateways start together. Each arms its
        # devices' offline deadlines as it starts, so one started seconds (simulated minutes)
        # before its scenario would flag devices that had not spoken yet.
        for key, which, gateway in (("estate", path, one), ("twin", twin_path, two)):
            runners[key] = subprocess.Popen(
                estate_sim_command(which, gateway.url, mosquitto.url, wait_s=RUNNER_WAIT_S),
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        with ThreadPoolExecutor(2) as starting:
            for started in [starting.submit(gateway.start) for gateway in (one, two)]:
                started.result()
        for key, runner in runners.items():
            report, _ = runner.communicate(timeout=600)
            results[key] = (runner.returncode, report)
    finally:
        for runner in runners.values():
            runner.kill()
        one.kill()
        two.kill()
    for key, gateway in (("estate", one), ("twin", two)):
        code, report = results[key]
        assert code == PASSED, f"{key}: {report}\n--- gateway log ---\n{gateway.log_text()[-3000:]}"
    # No alert twice: one row per key and raise, ids from both instances never collide.
    doubles = rows(
        pg_url, "SELECT key, raised_at, count(*) FROM alerts GROUP BY key, raised_at HAVING count(*) > 1"
    )
    assert doubles == []
    open_twice = rows(
        pg_url, "SELECT key FROM alerts WHERE closed_at IS NULL GROUP BY key HAVING count(*) > 1"
    )
    assert open_twice == []
    orders_twice = rows(
        pg_url,
        "SELECT alert FROM work_orders WHERE alert IS NOT NULL GROUP BY alert HAVING count(*) > 1",
    )
    assert orders_twice == []
    # Each instance did its own estate's job, the same one: the rules the scenario expects raised
    # at the same severities. Not by device nor by count: the world draws each device's behaviour
    # from (seed, estate, device), so in the twin a failed switch takes down other cameras of its
    # ten, whose heartbeats fall silent at other moments, and its run may end with one camera
    # alarm more or fewer under the group alarm. (No alert twice is checked above.)
    alerts = rows(pg_url, "SELECT estate, device, rule, severity FROM alerts")
    assert {a.estate for a in alerts} <= {estate, twin}
    expect = scenario.expect
    named = {e.rule for e in expect.alerts} | {o.rule for o in expect.workorders if o.rule}

    def job(of: str) -> set[tuple[str, str]]:
        return {(a.rule, a.severity) for a in alerts if a.estate == of and a.rule in named}

    assert job(estate) == job(twin)
