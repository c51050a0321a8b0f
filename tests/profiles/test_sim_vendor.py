"""The simulators speak each built-in profile: what a vendor device of the world publishes is read
back by the gateway's profiles to the readings its canonical twin would have sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devices.clock import to_ns
from devices.loader import load_inventory
from gateway.ingest import Rejection, decode_vendor
from profiles.route import VendorRouter
from simulators.world import World
from tests.support.gateway import REPO

INVENTORY = load_inventory(REPO / "simulators" / "scenarios" / "inventories" / "vendor.yaml")
START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def test_vendor_devices_publish_their_vendors_payloads_and_they_read_back() -> None:
    world = World(INVENTORY, seed=3, start=START)
    router = VendorRouter(INVENTORY)
    messages = world.advance(START + timedelta(minutes=6))
    world.inject("riverside", "NVR1", "video_loss")
    world.inject("riverside", "NVR2", "disk_failure")
    world.inject("riverside", "T1", "chlorine_low")
    messages += world.advance(START + timedelta(minutes=20))
    world.clear("riverside", "NVR1", "video_loss")
    world.clear("riverside", "NVR2", "disk_failure")
    messages += world.advance(START + timedelta(minutes=30))

    topics = {m.topic for m in messages}
    assert topics == {
        "estate/riverside/cctv/NVR1/raw",
        "estate/riverside/cctv/NVR2/raw",
        "dtu/861234567890123/up",
    }
    seen: dict[str, list[tuple[str, dict[str, object]]]] = {"NVR1": [], "NVR2": [], "T1": []}
    for message in messages:
        result = decode_vendor(message.topic, message.payload, to_ns(message.at), router)
        assert result is not None and not isinstance(result, Rejection), (message, result)
        for reading in result:
            seen[reading.device].append((reading.channel.value, dict(reading.fields)))
    assert message_kinds(seen["NVR1"]) >= {("event", "video_loss"), ("heartbeat", "recording")}
    assert ("event", {"event": "disk_failure"}) in seen["NVR2"]
    assert ("heartbeat", {"disk_ok": True}) in seen["NVR2"]  # the disk healthy again: StorageFailure Stop
    chlorine = [float(str(f["chlorine_mg_l"])) for c, f in seen["T1"] if c == "telemetry"]
    assert any(value < 0.05 for value in chlorine) and any(value > 0.3 for value in chlorine)
    assert all(c == "telemetry" for c, _f in seen["T1"])  # a register map carries no events


def message_kinds(readings: list[tuple[str, dict[str, object]]]) -> set[tuple[str, str]]:
    return {(channel, str(fields.get("event", next(iter(fields), "")))) for channel, fields in readings}
