"""Scale-out: an instance owns some estates (``ESTATE_ESTATES``) and sees only them, also in a
database it shares with other instances. The same with real PostgreSQL and two live instances:
tests/integration/test_two_instances.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alerts.book import Raise
from alerts.store import Ids
from devices.base import Severity
from devices.inventory import Inventory
from devices.loader import load_inventory
from gateway.ingest import Reason, Rejection
from gateway.service import build_gateway
from gateway.settings import Settings
from tests.support.gateway import SPEC_EXAMPLE


def three_estates(tmp_path: Path) -> Path:
    """The SPEC example estate three times over, as estates a, b and c; its crews serve all."""
    data = yaml.safe_load(SPEC_EXAMPLE.read_text())
    (template,) = data["estates"]
    data["estates"] = [{**template, "id": e, "name": e} for e in ("a", "b", "c")]
    for crew in data.get("crews", []):
        crew["estates"] = ["a", "b", "c"]
    path = tmp_path / "three.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def settings(tmp_path: Path, estates: str, instance: str) -> Settings:
    database = f"sqlite:///{tmp_path / 'shared.db'}"
    return Settings(
        mqtt_url="mqtt://127.0.0.1:9", data_dir=tmp_path / instance, instance=instance,
        database_url=database, estates=estates,
    )  # fmt: skip


def test_the_owned_estates_are_a_comma_list() -> None:
    assert Settings(estates=" a, c ,").owned_estates == frozenset({"a", "c"})
    assert Settings().owned_estates is None


def test_an_inventory_cut_down_to_some_estates(tmp_path: Path) -> None:
    inventory = load_inventory(three_estates(tmp_path))
    mine = inventory.only({"a", "c"})
    assert [e.id for e in mine.estates] == ["a", "c"]
    assert mine.estate("b") is None and mine.device("b", "T1") is None
    assert mine.device("c", "T1") is not None
    assert inventory.estate("b") is not None  # the whole one is left as it was
    assert mine.crews and all(set(crew.estates) == {"a", "c"} for crew in mine.crews)
    with pytest.raises(ValueError, match="estates zz are not in the inventory"):
        inventory.only({"a", "zz"})


def test_an_instance_subscribes_to_and_handles_only_its_estates(tmp_path: Path) -> None:
    inventory = load_inventory(three_estates(tmp_path))
    gateway = build_gateway(settings(tmp_path, "c,a", "one"), inventory)
    assert [e.id for e in gateway.inventory.estates] == ["a", "c"]
    assert gateway.mqtt._subscriptions == ["estate/a/#", "estate/c/#"]
    assert gateway.registry.lookup("b", "T1") is None and gateway.registry.lookup("a", "T1") is not None
    assert set(gateway.alarms.rules) == {"a", "c"}
    everything = build_gateway(settings(tmp_path, "", "all"), inventory)
    assert everything.mqtt._subscriptions == ["estate/#"]


def test_an_unknown_owned_estate_is_refused(tmp_path: Path) -> None:
    inventory = load_inventory(three_estates(tmp_path))
    with pytest.raises(ValueError, match="zz"):
        build_gateway(settings(tmp_path, "a,zz", "one"), inventory)


def raise_in(estate: str) -> Raise:
    return Raise(
        estate, None, "T1", "water_tank", "water.hatch_open", Severity.MAJOR, "水箱盖开", "hatch open"
    )


def test_instances_sharing_a_database_read_back_only_their_own(tmp_path: Path) -> None:
    inventory: Inventory = load_inventory(three_estates(tmp_path))
    one = build_gateway(settings(tmp_path, "a", "one"), inventory)
    two = build_gateway(settings(tmp_path, "b,c", "two"), inventory)
    for gateway, estate in ((one, "a"), (two, "b"), (two, "c")):
        gateway.alarms.book.load()
        with gateway.alarms.book.guard:
            gateway.alarms.book.raise_(raise_in(estate))
        gateway.alarms.book.flush()
    # A restart of each reads back its own open alerts only.
    again_one = build_gateway(settings(tmp_path, "a", "one"), inventory)
    again_two = build_gateway(settings(tmp_path, "b,c", "two"), inventory)
    again_one.alarms.book.load()
    again_two.alarms.book.load()
    assert {a.estate for a in again_one.alarms.book.open_alerts()} == {"a"}
    assert {a.estate for a in again_two.alarms.book.open_alerts()} == {"b", "c"}
    (mine,) = again_one.alarms.book.store.query()
    assert mine.estate == "a"
    other = next(a for a in again_two.alarms.book.open_alerts() if a.estate == "b")
    assert again_one.alarms.book.find(other.id) is None
    everything = build_gateway(settings(tmp_path, "", "all"), inventory)
    assert {a.estate for a in everything.alarms.book.store.query()} == {"a", "b", "c"}


def test_ids_count_on_alone() -> None:
    ids = Ids(7)
    assert [ids.take() for _ in range(3)] == [7, 8, 9]


def test_dead_letters_are_listed_by_the_instance_of_their_estate(tmp_path: Path) -> None:
    inventory = load_inventory(three_estates(tmp_path))
    one = build_gateway(settings(tmp_path, "a", "one"), inventory)
    two = build_gateway(settings(tmp_path, "b,c", "two"), inventory)
    one.dead_letters.add_many([rejection("estate/a/lift/L1/telemetry")])
    two.dead_letters.add_many([rejection("estate/b/lift/L1/telemetry"), rejection("estate/c/x/y/z")])
    assert [d.topic for d in one.dead_letters.list()] == ["estate/a/lift/L1/telemetry"]
    assert sorted(d.topic for d in two.dead_letters.list()) == [
        "estate/b/lift/L1/telemetry",
        "estate/c/x/y/z",
    ]
    assert (
        one.dead_letters.counts() == {"malformed_json": 1}
        and two.dead_letters.counts()["malformed_json"] == 2
    )
    everything = build_gateway(settings(tmp_path, "", "all"), inventory)
    assert len(everything.dead_letters.list()) == 3


def rejection(topic: str) -> Rejection:
    return Rejection(topic, Reason.MALFORMED_JSON, "bad", "{", 1)
