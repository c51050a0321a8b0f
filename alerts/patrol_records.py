"""The patrol record kept for months (docs/contract.md §6): every scan, and each round's verdict when it
closes, in SQL (SQLite or PostgreSQL), for ``patrol_keep_days`` (default 400) — what a month's
compliance and the printable daily record need after any restart.

The tracker (alerts/patrol.py) holds only the rounds of the last two days in memory and journals
what it records; the engine writes the journal here after each batch and tick, in the transaction
that stores the trackers' state (so a crash between the two cannot lose a batch's scans). Readers (the
patrols and KPI routes, the daily rollups) read these tables and never the tracker, so they never
wait for, or hold up, the alarm engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Column, Connection, Date, Engine, Integer, MetaData, String, Table, delete, select

from alerts.patrol_plan import PatrolPolicy, PlannedRound, RoundStatus, Scan, round_report, rounds_for_day
from alerts.store import as_utc, create_tables, only_estates, ts_column, upsert
from devices.inventory import PatrolPlan

metadata = MetaData()

scans_t = Table(
    "patrol_scans",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("estate", String(64), nullable=False),
    Column("round_id", String(200), nullable=False),
    Column("day", Date, nullable=False, index=True),  # local day the round's window starts
    ts_column("at", nullable=False),
    Column("checkpoint", String(64), nullable=False),
    Column("guards", String(1000), nullable=False),  # comma-joined: ids hold no comma
    Column("handset", String(64), nullable=False),
)

verdicts_t = Table(
    "patrol_rounds",
    metadata,
    Column("estate", String(64), primary_key=True),
    Column("round_id", String(200), primary_key=True),
    Column("day", Date, nullable=False, index=True),
    Column("plan", String(64), nullable=False),
    Column("window", String(64), nullable=False),
    Column("number", Integer, nullable=False),
    ts_column("start", nullable=False),
    ts_column("end", nullable=False),
    Column("min_guards", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    ts_column("closed_at", nullable=False, index=True),  # window end + grace: the verdict is final
)

#: Verdicts that meet the plan: every checkpoint, with the window's minimum guards at each.
DONE = frozenset({RoundStatus.COMPLETED, RoundStatus.LATE})


@dataclass(frozen=True)
class Verdict:
    """A closed round as recorded: its final status cannot change any more."""

    estate: str
    round_id: str
    day: date
    plan: str
    window: str
    number: int
    start: datetime
    end: datetime
    min_guards: int
    status: RoundStatus
    closed_at: datetime

    @classmethod
    def of(cls, estate: str, rnd: PlannedRound, status: RoundStatus) -> Verdict:
        times = (rnd.start, rnd.end, rnd.min_guards, status, rnd.closes)
        return cls(estate, rnd.id, rnd.day, rnd.plan, rnd.window, rnd.number, *times)


@dataclass(frozen=True)
class ScanRecord:
    estate: str
    round_id: str
    day: date
    scan: Scan


def compliance(verdicts: Sequence[Verdict]) -> tuple[int, int]:
    """(rounds that met their plan, rounds closed): a round walked alone at night does not count."""
    return sum(1 for v in verdicts if v.status in DONE), len(verdicts)


class PatrolRecords:
    """``owned``: the estates of this gateway instance (None: all), as in alerts/store.py."""

    def __init__(self, engine: Engine, owned: frozenset[str] | None = None) -> None:
        self.engine, self.owned = engine, owned
        create_tables(engine, metadata)

    def add(self, scans: Sequence[ScanRecord], verdicts: Sequence[Verdict]) -> None:
        """Append scans and record verdicts (a verdict written twice is the same row), in one
        transaction."""
        if scans or verdicts:
            with self.engine.begin() as conn:
                self.write(conn, scans, verdicts)

    def write(self, conn: Connection, scans: Sequence[ScanRecord], verdicts: Sequence[Verdict]) -> None:
        """``add`` inside the caller's transaction: the engine writes the trackers' state and their
        journal together, so a crash keeps both or neither (alerts/patrol_watch.py)."""
        if not scans and not verdicts:
            return
        scan_rows = [
            {
                "estate": s.estate,
                "round_id": s.round_id,
                "day": s.day,
                "at": s.scan.at,
                "checkpoint": s.scan.checkpoint,
                "guards": ",".join(s.scan.guards),
                "handset": s.scan.handset,
            }
            for s in scans
        ]
        verdict_rows = [{**vars(v), "status": v.status.value} for v in verdicts]
        if scan_rows:
            conn.execute(scans_t.insert(), scan_rows)
        if verdict_rows:
            conn.execute(upsert(self.engine, verdicts_t, "estate", "round_id"), verdict_rows)

    def verdicts(self, estates: Iterable[str] | None, first: date, last: date) -> list[Verdict]:
        """Closed rounds of local days ``first``..``last`` (inclusive), by estate and start."""
        t = verdicts_t
        return self._verdicts(select(t).where(t.c.day >= first, t.c.day <= last), estates)

    def closed_between(self, estates: Iterable[str] | None, start: datetime, stop: datetime) -> list[Verdict]:
        """Rounds whose verdict became final in [start, stop)."""
        t = verdicts_t
        return self._verdicts(select(t).where(t.c.closed_at >= start, t.c.closed_at < stop), estates)

    def _verdicts(self, stmt: Any, estates: Iterable[str] | None) -> list[Verdict]:
        t = verdicts_t
        stmt = stmt.order_by(t.c.estate, t.c.start)
        if estates is not None:
            stmt = stmt.where(t.c.estate.in_(list(estates)))
        with self.engine.connect() as conn:
            rows = list(conn.execute(only_estates(stmt, t.c.estate, self.owned)))
        return [
            Verdict(
                r.estate,
                r.round_id,
                r.day,
                r.plan,
                r.window,
                r.number,
                as_utc(r.start) or r.start,
                as_utc(r.end) or r.end,
                r.min_guards,
                RoundStatus(r.status),
                as_utc(r.closed_at) or r.closed_at,
            )
            for r in rows
        ]

    def scans(self, estate: str, first: date, last: date) -> dict[str, list[Scan]]:
        """Scans of the rounds of local days ``first``..``last``, by round id, in time order."""
        t = scans_t
        stmt = (
            select(t).where(t.c.estate == estate, t.c.day >= first, t.c.day <= last).order_by(t.c.at, t.c.id)
        )
        out: dict[str, list[Scan]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(only_estates(stmt, t.c.estate, self.owned)):
                guards = tuple(g for g in r.guards.split(",") if g)
                out.setdefault(r.round_id, []).append(
                    Scan(as_utc(r.at) or r.at, r.checkpoint, guards, r.handset)
                )
        return out

    def prune(self, before: date) -> int:
        """Forget rounds and scans of days before ``before``; how many rows went."""
        with self.engine.begin() as conn:
            gone = conn.execute(delete(scans_t).where(scans_t.c.day < before)).rowcount
            gone += conn.execute(delete(verdicts_t).where(verdicts_t.c.day < before)).rowcount
        return int(gone)


def day_report(
    plans: Sequence[PatrolPlan],
    tz: ZoneInfo,
    day: date,
    scans: Mapping[str, Sequence[Scan]],
    verdicts: Sequence[Verdict],
    now: datetime,
    since: datetime | None,
    policy: PatrolPolicy | None = None,
) -> tuple[float | None, list[dict[str, Any]]]:
    """The rounds of local ``day`` from the record: (compliance %, each round as GET /api/patrols
    shows it). A closed round shows its recorded verdict; an open one is judged as of ``now``. A
    round is ``watched`` when it has a verdict or began after ``since`` (when the tracker started
    watching; None: not known, so open rounds are taken as watched)."""
    policy = policy or PatrolPolicy()
    final = {v.round_id: v for v in verdicts}
    rounds = sorted((r for p in plans for r in rounds_for_day(p, tz, day)), key=lambda r: r.start)
    out = []
    for rnd in rounds:
        verdict = final.get(rnd.id)
        watched = verdict is not None or (rnd.closes >= now and (since is None or rnd.start >= since))
        report = round_report(rnd, scans.get(rnd.id, ()), now, policy, watched=watched)
        if verdict is not None:
            report["status"] = verdict.status.value
        out.append(report)
    done, closed = compliance(verdicts)
    return (round(100 * done / closed, 1) if closed else None), out
