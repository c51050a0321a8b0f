"""The deliveries table on PostgreSQL: one row per channel and event id, whatever is re-read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.db import make_engine
from notify.store import DeliveryStore, Status


def row(event_id: str, channel: str = "duty-wecom", **kw: object) -> dict[str, object]:
    now = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    return {
        "channel": channel,
        "event_id": event_id,
        "event": "raise",
        "estate": "sunrise",
        "alert_id": 7,
        "order_id": None,
        "severity": "critical",
        "rank": 3,
        "language": "zh-CN",
        "topic": "estate/sunrise/alerts",
        "payload": b"{}",
        "created_at": now,
        "due_at": now,
    } | kw


def test_deliveries_on_postgres(pg_url: str) -> None:
    store = DeliveryStore(make_engine(pg_url), "t")
    store.add([row("e1"), row("e2"), row("e1", channel="ops-ding")])
    store.add([row("e1"), row("e2"), row("e3")])  # re-read after a restart: only e3 is new
    assert store.pending("duty-wecom") == 3 and store.pending("ops-ding") == 1
    now = datetime(2026, 1, 5, 8, 0, 30, tzinfo=UTC)
    [first, second, third] = store.due("duty-wecom", now, 10)
    store.finish([first.id], Status.SENT, now, "ok")
    store.finish([second.id, third.id], Status.MERGED, now, "ok", "d1")
    assert store.requests_since("duty-wecom", now - timedelta(seconds=60)) == [now, now]  # the digest once
    listed = store.listing(estates={"sunrise"}, alert=7)
    assert sorted((d.channel, d.status) for d in listed) == [
        ("duty-wecom", "merged"),
        ("duty-wecom", "merged"),
        ("duty-wecom", "sent"),
        ("ops-ding", "pending"),
    ]
    assert store.listing(estates={"moon"}) == []
