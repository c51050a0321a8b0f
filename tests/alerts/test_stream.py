"""The event hub behind GET /api/stream: in order, resumable, and honest when it cannot resume."""

from __future__ import annotations

from alerts.stream import EventHub


def test_resume_after_an_id_gives_exactly_the_later_events() -> None:
    hub = EventHub(boot="b1")
    first = hub.publish("alert", "sunrise", {"n": 1})
    hub.publish("alert", "sunrise", {"n": 2})
    hub.publish("alert", "sunrise", {"n": 3})
    events, last = hub.wait(first.id, timeout=0)
    assert [e.data["n"] for e in events] == [2, 3]
    assert last == "b1-3"
    again, same = hub.wait(last, timeout=0)  # nothing new: no event, same position
    assert again == [] and same == last


def test_a_new_client_starts_from_now() -> None:
    hub = EventHub(boot="b1")
    hub.publish("alert", "sunrise", {"n": 1})
    events, last = hub.wait(None, timeout=0)
    assert events == [] and last == "b1-1"


def test_an_id_from_another_run_or_too_old_gets_a_reset() -> None:
    hub = EventHub(capacity=3, boot="b2")
    for n in range(10):
        hub.publish("alert", "sunrise", {"n": n})
    for stale in ("b1-4", "b2-2", "garbage", "b2-99"):
        events, last = hub.wait(stale, timeout=0)
        assert [e.type for e in events] == ["reset"], stale
        assert last == "b2-10"
    events, _ = hub.wait("b2-7", timeout=0)  # the oldest kept is 8: resumable from 7
    assert [e.data["n"] for e in events] == [7, 8, 9]
