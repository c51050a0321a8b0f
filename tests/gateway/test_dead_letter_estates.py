"""Each dead letter is kept with its estate (gateway/deadletters.py): a canonical topic's, or the
vendor device's a profile's own topic named. An estate-scoped operator sees its vendor devices'
refusals; a scale-out instance lists its estates' and those of no estate; rows from before the
column existed are placed by their topic after the table is upgraded in place."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, inspect, text

from alerts.store import create_tables
from devices.inventory import Inventory
from gateway.db import make_engine
from gateway.deadletters import DeadLetterStore
from gateway.ingest import Reason, Rejection, decode_vendor
from profiles.route import VendorRouter
from tests.profiles.helpers import INVENTORY, TOPICS

NOW = time.time_ns()
BAD_CRC = bytes.fromhex("01830b") + bytes([0x00, 0x00])


def letter(topic: str, estate: str | None = None) -> Rejection:
    return Rejection(topic, Reason.MALFORMED_JSON, "test", "{", NOW, estate)


def test_a_vendor_devices_refusal_on_its_profile_topic_names_its_estate() -> None:
    router = VendorRouter(Inventory.model_validate(INVENTORY))
    refused = decode_vendor(TOPICS["T2"], BAD_CRC, NOW, router)  # dtu/{imei}/up: read, refused
    assert isinstance(refused, Rejection) and refused.estate == "sunrise"
    unknown = decode_vendor("dtu/42/up", BAD_CRC, NOW, router)
    assert isinstance(unknown, Rejection) and unknown.estate is None and unknown.of_estate() is None
    assert letter("estate/sunrise/lift/L1/event").of_estate() == "sunrise"
    assert letter("estate/sunrise").of_estate() is None  # a topic too short to name one


def test_scoped_and_instance_listings_follow_the_estate(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ops.db'}")
    DeadLetterStore(engine).add_many(
        [
            letter("estate/sunrise/lift/L1/event"),
            letter(TOPICS["T2"], "sunrise"),
            letter("estate/lakeside/lift/L9/event"),
            letter("dtu/42/up"),  # a vendor id nobody has: no estate
        ]
    )
    store = DeadLetterStore(engine)
    scoped = store.list(estates=frozenset({"sunrise"}))
    assert [(d.topic, d.estate) for d in scoped] == [
        (TOPICS["T2"], "sunrise"),
        ("estate/sunrise/lift/L1/event", "sunrise"),
    ]
    assert store.counts(frozenset({"sunrise"})) == {"malformed_json": 2}
    instance = DeadLetterStore(engine, owned=frozenset({"sunrise"}))
    assert [d.topic for d in instance.list()] == ["dtu/42/up", TOPICS["T2"], "estate/sunrise/lift/L1/event"]
    assert [d.topic for d in instance.list(estates=frozenset({"sunrise"}))] == [
        TOPICS["T2"],
        "estate/sunrise/lift/L1/event",
    ]
    assert len(store.list()) == 4  # one instance owning all sees all


def test_an_older_table_gets_the_column_and_its_rows_are_placed_by_topic(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = create_engine(url)
    with old.begin() as conn:  # the dead_letters table as an earlier version made it
        conn.execute(
            text(
                "CREATE TABLE dead_letters (id INTEGER PRIMARY KEY, received_ns BIGINT NOT NULL, "
                "topic VARCHAR(512) NOT NULL, reason VARCHAR(32) NOT NULL, detail TEXT NOT NULL, "
                "excerpt TEXT NOT NULL)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO dead_letters (received_ns, topic, reason, detail, excerpt) "
                f"VALUES ({NOW}, 'estate/sunrise/lift/L1/event', 'malformed_json', 'old', '{{')"
            )
        )
    old.dispose()
    with caplog.at_level(logging.WARNING):
        engine = make_engine(url)
    assert "added column(s) dead_letters.estate" in caplog.text
    found = inspect(engine)
    assert "estate" in {c["name"] for c in found.get_columns("dead_letters")}
    assert "ix_dead_letters_estate" in {i["name"] for i in found.get_indexes("dead_letters")}
    store = DeadLetterStore(engine)
    store.add_many([letter(TOPICS["T2"], "sunrise")])
    scoped = store.list(estates=frozenset({"sunrise"}))
    assert [(d.detail, d.estate) for d in scoped] == [("test", "sunrise"), ("old", "sunrise")]
    make_engine(url)  # nothing left to add: no second upgrade
    assert caplog.text.count("added column(s)") == 1


def test_a_new_column_that_may_not_be_null_is_refused_at_start(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 't.db'}")
    Table("things", MetaData(), Column("id", Integer, primary_key=True)).metadata.create_all(engine)
    newer = MetaData()
    Table("things", newer, Column("id", Integer, primary_key=True), Column("name", String(8), nullable=False))
    with pytest.raises(RuntimeError, match="table things lacks column name, which cannot be added"):
        create_tables(engine, newer)
