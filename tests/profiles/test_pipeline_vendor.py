"""Vendor payloads through the ingest stage (typed fakes): readings stored and applied to device
state, failures dead-lettered with their profile, a profile's own bug costing one message, and the
canonical path never asking the profiles."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from devices.inventory import Inventory
from devices.loader import load_inventory
from gateway.db import make_engine
from gateway.deadletters import DeadLetterStore
from gateway.ingest import Rejection, decode_vendor
from gateway.metrics import GatewayMetrics
from gateway.mqtt import Inbound, QueueSource
from gateway.pipeline import Pipeline
from gateway.sinks import MemorySink
from gateway.state import DeviceRegistry
from profiles import route
from profiles.base import Message, Target
from profiles.config import Builtin
from profiles.route import VendorRouter
from tests.profiles.helpers import INVENTORY, TOPICS
from tests.support.gateway import SPEC_EXAMPLE

XML = (
    b"<EventNotificationAlert><eventType>videoloss</eventType>"
    b"<eventState>active</eventState></EventNotificationAlert>"
)


class SpyRouter(VendorRouter):
    """The inventory's router, counting what it is asked."""

    def __init__(self, inventory: Inventory) -> None:
        super().__init__(inventory)
        self.asked: list[str] = []

    def device(self, estate: str, device: str) -> Target | None:
        self.asked.append(f"{estate}/{device}")
        return super().device(estate, device)

    def by_topic(self, topic: str) -> Target | bool | None:
        self.asked.append(topic)
        return super().by_topic(topic)


def rig(
    tmp_path: Path,
) -> tuple[Pipeline, QueueSource, MemorySink, DeadLetterStore, DeviceRegistry, SpyRouter]:
    inventory = Inventory.model_validate(INVENTORY)
    source = QueueSource(100)
    registry = DeviceRegistry(inventory)
    sink = MemorySink()
    dead = DeadLetterStore(make_engine(f"sqlite:///{tmp_path / 'ops.db'}"))
    router = SpyRouter(inventory)
    pipeline = Pipeline(
        source, registry, sink, dead, GatewayMetrics(), idle_s=0.01, retry_s=0.0, vendor=router
    )
    return pipeline, source, sink, dead, registry, router


def feed(source: QueueSource, *messages: tuple[str, bytes]) -> None:
    for mid, (topic, payload) in enumerate(messages, 1):
        source.put(Inbound(topic, payload, time.time_ns(), mid, 1))


def test_vendor_readings_are_stored_and_failures_dead_lettered(tmp_path: Path) -> None:
    pipeline, source, sink, dead, registry, router = rig(tmp_path)
    feed(
        source,
        (TOPICS["NVR1"], XML),
        (TOPICS["NVR1"], b"<oops"),
        ("estate/sunrise/cctv/CAM1/raw", XML),  # a device without a profile
        ("dtu/000/up", b"0103"),  # a vendor id nobody has
        ("estate/sunrise/cctv/CAM1/heartbeat", b'{"recording": true}'),
    )
    assert pipeline.run_once() == 5
    stored = [(p.device, p.channel.value, dict(p.fields)) for p in sink.readings]
    assert stored == [("NVR1", "event", {"event": "video_loss"}), ("CAM1", "heartbeat", {"recording": True})]
    reasons = {(d.topic, d.reason) for d in dead.list(None, 10, None, None)}
    assert reasons == {
        (TOPICS["NVR1"], "bad_xml"),
        ("estate/sunrise/cctv/CAM1/raw", "no_profile"),
        ("dtu/000/up", "no_profile"),
    }
    assert registry.get("sunrise", "NVR1") is not None
    assert router.asked == ["sunrise/NVR1", "sunrise/NVR1", "sunrise/CAM1", "dtu/000/up"]  # not the heartbeat


def test_a_device_without_profiles_in_the_inventory_still_gets_no_profile(tmp_path: Path) -> None:
    router = VendorRouter(load_inventory(SPEC_EXAMPLE))
    assert not router and router.subscriptions() == []
    result = decode_vendor("estate/sunrise/lift/L1/raw", b"{}", time.time_ns(), router)
    assert not isinstance(result, list) and result is not None and result.reason.value == "no_profile"
    assert decode_vendor("estate/sunrise/alerts", b"{}", time.time_ns(), router) is None


def test_oversized_and_kind_mismatch() -> None:
    router = VendorRouter(Inventory.model_validate(INVENTORY))
    big = decode_vendor(TOPICS["NVR1"], b"x" * (64 * 1024 + 1), time.time_ns(), router)
    assert not isinstance(big, list) and big is not None and big.reason.value == "oversized"
    assert big.detail.startswith("hikvision-isapi: ")
    wrong = decode_vendor("estate/sunrise/lift/NVR1/raw", XML, time.time_ns(), router)
    assert not isinstance(wrong, list) and wrong is not None and wrong.reason.value == "kind_mismatch"


@pytest.mark.expect_errors
def test_a_profiles_own_bug_costs_one_message_and_the_loop_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(payload: bytes, target: Target) -> list[Message]:
        raise ZeroDivisionError("a bug in the profile")

    monkeypatch.setitem(route.DECODERS, Builtin.DAHUA_EVENT, broken)
    pipeline, source, sink, dead, _registry, _router = rig(tmp_path)
    feed(source, (TOPICS["NVR2"], b"Heartbeat"), (TOPICS["NVR1"], XML))
    assert pipeline.run_once() == 2
    (letter,) = dead.list(None, 10, None, None)
    assert letter.reason == "decode_failed"
    assert letter.detail.startswith("dahua-event: the gateway could not process it: ZeroDivisionError")
    assert [p.device for p in sink.readings] == ["NVR1"]


class CountingSource(QueueSource):
    def __init__(self) -> None:
        super().__init__(100)
        self.taken: list[Inbound] = []

    def ack(self, items: Sequence[Inbound]) -> None:
        self.taken.extend(items)


def test_vendor_messages_are_acknowledged_once_stored_good_or_bad(tmp_path: Path) -> None:
    inventory = Inventory.model_validate(INVENTORY)
    source, sink = CountingSource(), MemorySink()
    dead = DeadLetterStore(make_engine(f"sqlite:///{tmp_path / 'ops.db'}"))
    router = VendorRouter(inventory)
    pipeline = Pipeline(
        source, DeviceRegistry(inventory), sink, dead, GatewayMetrics(), idle_s=0.01, vendor=router
    )
    feed(source, (TOPICS["NVR1"], XML), (TOPICS["NVR1"], b"<oops"))
    pipeline.run_once()
    assert [i.mid for i in source.taken] == [1, 2]


def test_scale_out_lets_another_instances_vendor_device_go() -> None:
    """Every instance subscribes to dtu/+/up; the one owning the DTU's estate reads it, the others
    let it go (no dead letter); a vendor id no estate has is still a dead letter."""
    inventory = Inventory.model_validate(
        {**INVENTORY, "estates": [*INVENTORY["estates"], {"id": "lakeside", "name": "湖畔小区"}]}
    )
    mine = VendorRouter(inventory, owned={"sunrise"})
    theirs = VendorRouter(inventory, owned={"lakeside"})
    assert mine.subscriptions() == ["dtu/+/up"] and theirs.subscriptions() == []
    frame = bytes.fromhex("01830b") + bytes([0x00, 0x00])
    now = time.time_ns()
    assert decode_vendor(TOPICS["T2"], frame, now, theirs) == []
    assert isinstance(decode_vendor(TOPICS["T2"], frame, now, mine), Rejection)  # bad CRC: read, refused
    unknown = decode_vendor("dtu/42/up", frame, now, theirs)
    assert isinstance(unknown, Rejection) and unknown.reason.value == "no_profile"
