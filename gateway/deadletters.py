"""Dead letters: every rejected message kept with its reason (docs/contract.md §11), counted by reason."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, delete, func, insert, or_, select

from devices.clock import from_ns
from gateway.db import dead_letters
from gateway.ingest import Rejection, topic_estate


@dataclass(frozen=True)
class DeadLetter:
    id: int
    received_at: datetime
    topic: str
    reason: str
    detail: str
    excerpt: str
    estate: str | None = None


def _text(value: str) -> str:
    """A NUL shown as ``\\x00``: PostgreSQL text cannot hold one, and a rejected payload may."""
    return value.replace("\x00", "\\x00")


class DeadLetterStore:
    """Each dead letter is kept with its estate where known: a canonical topic's, or that of the
    device a profile's own topic named (``dtu/{vendor_id}/up``), so an estate-scoped operator sees
    its vendor devices' refusals too.

    ``owned`` (scale-out): the estates of this instance, from a table it may share with others; it
    lists their dead letters and those of no estate (an unknown vendor id, a topic naming no
    estate), which every instance receives and keeps."""

    def __init__(self, engine: Engine, owned: frozenset[str] | None = None) -> None:
        self._engine = engine
        self._owned = owned

    def _mine(self, stmt: Any, estates: frozenset[str] | None = None) -> Any:
        """Only the dead letters of the instance's estates (and of none), and of ``estates`` (a
        caller's scope) when given: a scoped caller sees nothing of another estate's, nor of
        none. A row stored before the estate was kept is placed by its topic."""
        t = dead_letters
        for scope, orphans in ((self._owned, True), (estates, False)):
            if scope is not None:
                prefixes = [t.c.topic.startswith(f"estate/{e}/", autoescape=True) for e in sorted(scope)]
                ways = [t.c.estate.in_(sorted(scope)), and_(t.c.estate.is_(None), or_(*prefixes))]
                if orphans:
                    ways.append(and_(t.c.estate.is_(None), ~t.c.topic.startswith("estate/")))
                stmt = stmt.where(or_(*ways))
        return stmt

    def add_many(self, rejections: Sequence[Rejection]) -> None:
        if not rejections:
            return
        rows = [
            {
                "received_ns": r.received_ns,
                "topic": _text(r.topic),
                "reason": r.reason.value,
                "detail": _text(r.detail),
                "excerpt": _text(r.excerpt),
                "estate": r.of_estate(),
            }
            for r in rejections
        ]
        with self._engine.begin() as conn:
            conn.execute(insert(dead_letters), rows)

    def list(
        self,
        reason: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
        estates: frozenset[str] | None = None,
    ) -> list[DeadLetter]:
        t = dead_letters
        stmt = select(t).order_by(t.c.id.desc()).limit(limit)
        if reason:
            stmt = stmt.where(t.c.reason == reason)
        if before_id is not None:
            stmt = stmt.where(t.c.id < before_id)
        with self._engine.connect() as conn:
            return [
                DeadLetter(
                    r.id,
                    from_ns(r.received_ns),
                    r.topic,
                    r.reason,
                    r.detail,
                    r.excerpt,
                    r.estate or topic_estate(r.topic),
                )
                for r in conn.execute(self._mine(stmt, estates))
            ]

    def counts(self, estates: frozenset[str] | None = None) -> Counter[str]:
        t = dead_letters
        stmt = select(t.c.reason, func.count()).group_by(t.c.reason)
        with self._engine.connect() as conn:
            return Counter({reason: int(n) for reason, n in conn.execute(self._mine(stmt, estates))})

    def prune(self, before_ns: int, max_rows: int, batch: int = 1_000) -> int:
        """Drop the dead letters received before ``before_ns``, then the oldest beyond ``max_rows``
        (this instance's own, in scale-out), ``batch`` rows a transaction so the pipeline's own
        writes never wait long. How many were dropped."""
        t, dropped = dead_letters, 0
        while True:
            with self._engine.begin() as conn:
                old = self._mine(select(t.c.id).where(t.c.received_ns < before_ns).limit(batch))
                ids = [r.id for r in conn.execute(old)]
                if not ids:
                    break
                conn.execute(delete(t).where(t.c.id.in_(ids)))
                dropped += len(ids)
        with self._engine.connect() as conn:
            kept = int(conn.execute(self._mine(select(func.count()).select_from(t))).scalar_one())
        while kept > max_rows:
            with self._engine.begin() as conn:
                oldest = self._mine(select(t.c.id).order_by(t.c.id).limit(min(batch, kept - max_rows)))
                ids = [r.id for r in conn.execute(oldest)]
                conn.execute(delete(t).where(t.c.id.in_(ids)))
            if not ids:
                break
            dropped += len(ids)
            kept -= len(ids)
        return dropped
