"""One channel's deliveries: pending rows out at the channel's rate, the overflow as a digest,
failures retried with backoff, a broken channel alarmed once.

Each step sends what the minute allows. When more is due than the minute has room for, the most
severe go one by one and the last free request carries a digest of all the rest ("+37 条告警
（朝阳小区）：紧急 12 …"), so nothing waits for long and nothing is dropped. A failed request
leaves its rows pending: a transient failure (down, 5xx, the vendor's "too fast") retries with
backoff; a broken channel (wrong key) raises ``notify.channel_failed`` at once and retries rarely,
so fixing the key and restarting delivers what waited; a message the vendor refuses for good is
marked failed and the channel goes on.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from devices.inventory import Inventory
from notify.alarm import ChannelAlarm
from notify.channels.base import Broken, Channel, Message, Rejected, Transient
from notify.duty import Contacts
from notify.limiter import WINDOW, Backoff, RateWindow
from notify.messages import Words
from notify.metrics import NotifyMetrics
from notify.routing import Notice, notice
from notify.store import Delivery, DeliveryStore, Status

log = logging.getLogger(__name__)

#: A digest names at most so many deliveries (the rest go in the next one).
DIGEST_MAX = 2000


class ChannelWorker:
    def __init__(
        self,
        channel: Channel,
        per_min: int,
        store: DeliveryStore,
        words: Words,
        inventory: Inventory,
        alarm: ChannelAlarm,
        metrics: NotifyMetrics,
        *,
        backoff: Backoff,
        broken_retry_s: float = 300.0,
        alarm_after_s: float = 300.0,
    ) -> None:
        self.channel, self.store, self.words, self.inventory = channel, store, words, inventory
        self.contacts = Contacts(inventory.notifications.people)
        self.alarm, self.metrics, self.backoff = alarm, metrics, backoff
        self.window = RateWindow(per_min)
        self.broken_retry_s, self.alarm_after_s = broken_retry_s, alarm_after_s
        self.failing_since: datetime | None = None
        self.last_error: str | None = None
        self.broken = False
        self._primed = False
        #: Set when there is something to do (new rows, a test message, stop).
        self.wake = threading.Event()
        self._tests: queue.Queue[tuple[str, Future[str]]] = queue.Queue(maxsize=8)

    @property
    def id(self) -> str:
        return self.channel.id

    def step(self, now: datetime) -> int:
        """Send what is due and allowed now; how many requests were made."""
        if not self._primed:
            self.window.prime(self.store.requests_since(self.id, now - WINDOW))
            self._primed = True
        if self.backoff.waiting(now):
            return 0
        free = self.window.free(now)
        if free == 0:
            return 0
        rows = self.store.due(self.id, now, free + DIGEST_MAX)
        if len(rows) <= free:
            singles, rest = rows, []
        else:
            singles, rest = rows[: free - 1], rows[free - 1 :]
        made = 0
        for row in singles:
            made += 1
            if not self._send([row], now):
                return made
        if rest:
            made += 1
            self._send(rest, now)
        return made

    def _send(self, rows: Sequence[Delivery], now: datetime) -> bool:
        """One request for ``rows`` (one, or a digest); False when the channel failed."""
        notices = self._notices(rows, now)
        if not notices:
            return True
        ids = [row.id for row, _ in notices]
        digest = f"d{uuid.uuid4().hex[:30]}" if len(rows) > 1 else None
        message = self._message(notices, digest)
        self.window.note(now)
        self.store.in_flight(ids, now)
        try:
            self.channel.send(message)
        except Transient as exc:
            return self._transient(ids, str(exc), now, exc.retry_after_s)
        except Broken as exc:
            return self._broken(ids, str(exc), now)
        except Rejected as exc:
            self.store.finish(ids, Status.FAILED, now, str(exc), digest)
            self.metrics.count(self.id, "failed", 1)
            log.warning("channel %s refused a message for good: %s", self.id, exc)
            return True
        except Exception as exc:  # a bug in a channel: kept, retried, and told (the thread goes on)
            log.exception("channel %s failed unexpectedly", self.id)
            return self._transient(ids, f"{type(exc).__name__}", now, None)
        status = Status.MERGED if digest else Status.SENT
        self.store.finish(ids, status, now, "ok", digest)
        self.metrics.count(self.id, "sent", 1)
        if digest:
            self.metrics.count(self.id, "merged", len(ids))
        self._works(now)
        return True

    def _notices(self, rows: Sequence[Delivery], now: datetime) -> list[tuple[Delivery, Notice]]:
        out = []
        for row in rows:
            try:
                found = notice(row.event_id, row.topic, row.payload, self.inventory)
            except (ValueError, KeyError, TypeError) as exc:
                found = None
                log.warning("notification %s: unreadable payload (%s)", row.id, type(exc).__name__)
            if found is None:
                self.store.finish([row.id], Status.FAILED, now, "unreadable payload")
                continue
            out.append((row, found))
        return out

    def _message(self, notices: list[tuple[Delivery, Notice]], digest: str | None) -> Message:
        language = notices[0][0].language
        if digest is None:
            row, single = notices[0]
            message = self.words.message(single, language, self._when(row, single))
        else:
            pairs = [(row.event_id, n) for row, n in notices]
            message = self.words.digest(pairs, language, digest, notices[0][0].created_at)
        if any(row.in_flight_at is not None for row, _ in notices):
            message = self.words.maybe_repeat(message, language)
        names = tuple(dict.fromkeys(name for row, _ in notices for name in row.to))
        if not names:
            return message
        body = {**message.body, "to": list(names)}
        mobiles, emails = self.contacts.mobiles(names), self.contacts.emails(names)
        return replace(message, body=body, to=names, mobiles=mobiles, emails=emails)

    @staticmethod
    def _when(row: Delivery, n: Notice) -> datetime:
        raised = n.body.get("raised_at")
        if n.event.value == "raise" and isinstance(raised, str):
            return datetime.fromisoformat(raised)
        return row.created_at

    def _transient(self, ids: list[int], why: str, now: datetime, after_s: float | None) -> bool:
        self.store.attempted(ids, why)
        self.metrics.count(self.id, "failed", 1)
        retry = self.backoff.failed(now, after_s)
        self._failing(why, now)
        log.warning("channel %s: %s; next try at %s", self.id, why, retry.isoformat())
        if self.failing_since is not None and now - self.failing_since >= timedelta(
            seconds=self.alarm_after_s
        ):
            self.alarm.raise_(self.id, why, now)
        return False

    def _broken(self, ids: list[int], why: str, now: datetime) -> bool:
        self.store.attempted(ids, why)
        self.metrics.count(self.id, "failed", 1)
        self.backoff.failed(now, self.broken_retry_s)
        self._failing(why, now)
        self.broken = True
        self.alarm.raise_(self.id, why, now)
        return False

    def _failing(self, why: str, now: datetime) -> None:
        self.last_error = why
        if self.failing_since is None:
            self.failing_since = now

    def _works(self, now: datetime) -> None:
        if self.failing_since is not None:
            log.warning("channel %s works again", self.id)
        self.backoff.succeeded()
        self.failing_since, self.last_error, self.broken = None, None, False
        self.alarm.clear(self.id, now)

    def request_test(self, by: str, timeout_s: float) -> str:
        """Called from another thread (the API's): queued for this channel's own thread."""
        reply: Future[str] = Future()
        self._tests.put_nowait((by, reply))
        self.wake.set()
        return reply.result(timeout=timeout_s)

    def run_tests(self, now: Callable[[], datetime], words: Words) -> None:
        while True:
            try:
                by, reply = self._tests.get_nowait()
            except queue.Empty:
                return
            at = now()
            reply.set_result(self.send_test(at, words.test(self.id, by, at)))

    def send_test(self, now: datetime, message: Message) -> str:
        """The admin's test message, through the channel's own rate; what came of it (no
        delivery row: it announces no event)."""
        if self.window.free(now) == 0:
            return "rate limit reached: try again within a minute"
        self.window.note(now)
        try:
            self.channel.send(message)
        except (Transient, Broken, Rejected) as exc:
            self.metrics.count(self.id, "failed", 1)
            return f"failed: {exc}"
        except Exception as exc:  # a bug in a channel: told to the admin, logged
            log.exception("the test message on %s failed", self.id)
            return f"failed: {type(exc).__name__}"
        self.metrics.count(self.id, "sent", 1)
        self._works(now)
        return "ok"

    def health(self) -> dict[str, Any]:
        return {
            "ok": not self.broken,
            "type": self.channel.type,
            "pending": self.store.pending(self.id),
            "failing_since": self.failing_since.isoformat() if self.failing_since else None,
            "last_error": self.last_error,
            "next_try": self.backoff.retry_at.isoformat() if self.backoff.retry_at else None,
        }
