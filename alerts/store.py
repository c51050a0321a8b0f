"""Persistence of alerts, their history and their timers (SQLAlchemy: SQLite or PostgreSQL).

Everything the engine needs to resume after a crash is here: open alerts with their deadlines
(escalation, shelving), conditions waiting out an on-delay, maintenance windows, flood periods.
Writes happen once per batch (``save``), in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    bindparam,
    delete,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateColumn

from alerts.model import Action, Alert, HistoryEntry
from devices.base import Severity

metadata = MetaData()

log = logging.getLogger(__name__)


#: Instances starting together on one PostgreSQL would each find a table missing and each create
#: it, and all but one fail on the catalogue's unique index: creation takes this lock first.
_SCHEMA_LOCK = 0x65737461


def create_tables(engine: Engine, tables: MetaData) -> None:
    """``tables.create_all``, one instance at a time on PostgreSQL (an advisory lock), and the
    columns a newer version added to a table that exists already (:func:`add_columns`)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        tables.create_all(conn)
        add_columns(conn, tables)


def add_columns(conn: Connection, tables: MetaData) -> list[str]:
    """Add to existing tables the columns their declaration has and they lack (an upgrade's new
    columns: each nullable, so the rows already there keep their meaning), and those columns'
    indexes. A missing column that may not be null cannot be added so: a clear error at start-up,
    not a failing write later. Returns ``table.column`` of each column added."""
    found = inspect(conn)
    added: list[str] = []
    for table in tables.sorted_tables:
        have = {c["name"] for c in found.get_columns(table.name)}
        missing = [c for c in table.columns if c.name not in have]
        for column in missing:
            if not column.nullable:
                raise RuntimeError(
                    f"table {table.name} lacks column {column.name}, which cannot be added to "
                    "existing rows (NOT NULL): migrate the database by hand"
                )
            definition = CreateColumn(column).compile(conn)
            conn.execute(text(f"ALTER TABLE {_quoted(conn, table.name)} ADD COLUMN {definition}"))
            added.append(f"{table.name}.{column.name}")
        names = {c.name for c in missing}
        for index in table.indexes:
            if names & {c.name for c in index.columns}:
                index.create(conn, checkfirst=True)
    if added:
        log.warning("database upgraded: added column(s) %s", ", ".join(added))
    return added


def _quoted(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC whatever zone it comes in, read back aware in UTC.

    SQLite keeps no zone: a time given at +08:00 (a lock-step clock message, an API parameter
    with an offset) stored as it came would read back 8 h off. A naive time is taken as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return as_utc(value)


def ts_column(name: str, **kw: object) -> Column[datetime]:
    """A timestamp column (UTC; :class:`UtcDateTime`)."""
    return Column(name, UtcDateTime(), **kw)  # type: ignore[arg-type]


alerts_t = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(200), nullable=False, index=True),
    Column("estate", String(64), nullable=False, index=True),
    Column("building", String(64)),
    Column("device", String(64)),
    Column("kind", String(32)),
    Column("rule", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("active", Boolean, nullable=False),
    Column("acknowledged", Boolean, nullable=False),
    Column("count", Integer, nullable=False),
    Column("message", Text, nullable=False),
    Column("message_en", Text, nullable=False),
    ts_column("raised_at", nullable=False, index=True),
    ts_column("cleared_at"),
    ts_column("acknowledged_at"),
    Column("acknowledged_by", String(64)),
    Column("work_order", Integer),
    ts_column("closed_at"),
    ts_column("shelved_until"),
    Column("shelve_reason", Text),
    Column("suppressed_by", String(200)),
    ts_column("escalate_at"),
    Column("escalated", Boolean, nullable=False),
    Column("chattering", Boolean, nullable=False),
    Column("latched", Boolean, nullable=False),
    Column("subject", String(200)),
)


def history_table(name: str, meta: MetaData, owner: str) -> Table:
    """An append-only history: who did what to the ``owner`` (alert, work order), when, with a note."""
    return Table(
        name,
        meta,
        Column("id", Integer, primary_key=True),
        Column(owner, Integer, nullable=False, index=True),
        ts_column("at", nullable=False),
        Column("by", String(64), nullable=False),
        Column("action", String(32), nullable=False),
        Column("note", Text, nullable=False),
    )


class Entry(Protocol):
    """A history entry (an alert's or a work order's): who did what, when, with a note."""

    @property
    def at(self) -> datetime: ...
    @property
    def by(self) -> str: ...
    @property
    def action(self) -> StrEnum: ...
    @property
    def note(self) -> str: ...


def history_rows(owner: str, entries: Sequence[tuple[int, Entry]]) -> list[dict[str, Any]]:
    """Rows of a :func:`history_table` for ``(owner id, entry)`` pairs."""
    return [
        {owner: owner_id, "at": e.at, "by": e.by, "action": e.action.value, "note": e.note}
        for owner_id, e in entries
    ]


class HistoryRow(NamedTuple):
    owner: int
    at: datetime
    by: str
    action: str
    note: str


def read_history(conn: Connection, table: Table, owner: str, ids: Iterable[int]) -> Iterator[HistoryRow]:
    """The history rows of these owners, oldest first; ``at`` in UTC."""
    column = table.c[owner]
    for row in conn.execute(select(table).where(column.in_(list(ids))).order_by(table.c.id)):
        yield HistoryRow(getattr(row, owner), as_utc(row.at) or row.at, row.by, row.action, row.note)


def next_id(engine: Engine, id_column: Column[int]) -> int:
    """One more than the highest id stored (1 for an empty table)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(id_column), 0))).scalar_one()) + 1


#: The next free id of each shared id sequence (PostgreSQL, several gateway instances).
id_blocks_t = Table(
    "id_blocks",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("next_id", BigInteger, nullable=False),
)


class Ids:
    """Ids for new alerts or work orders, made in memory before the batch is stored.

    ``Ids(first)``: counts on from ``first`` (one process alone: SQLite, and tests).
    :meth:`for_table`: on SQLite the same, from the highest stored id; on PostgreSQL, where several
    gateway instances share the tables, each instance takes blocks of ``block`` ids from the
    shared ``id_blocks`` row in one atomic ``UPDATE … RETURNING``, so no two instances ever hand
    out the same id (ids then have gaps between blocks, as database sequences do).
    """

    def __init__(self, first: int = 1, refill: Callable[[], tuple[int, int]] | None = None) -> None:
        """``refill``: where the next block ``[first, end)`` comes from; none: count on for ever."""
        self._next, self._end, self._refill = first, first, refill

    @classmethod
    def for_table(cls, engine: Engine, name: str, id_column: Column[int], block: int = 100) -> Ids:
        if engine.dialect.name != "postgresql":
            return cls(next_id(engine, id_column))
        # The shared row starts after the highest stored id, once, by whichever instance is first.
        start = postgresql.insert(id_blocks_t).values(name=name, next_id=next_id(engine, id_column))
        with engine.begin() as conn:
            conn.execute(start.on_conflict_do_nothing(index_elements=["name"]))
        taken = update(id_blocks_t).where(id_blocks_t.c.name == name)
        taken = taken.values(next_id=id_blocks_t.c.next_id + block).returning(id_blocks_t.c.next_id)

        def refill() -> tuple[int, int]:
            with engine.begin() as conn:
                end = int(conn.execute(taken).scalar_one())
            return end - block, end

        return cls(0, refill)  # an empty block: the first take refills

    def take(self) -> int:
        if self._refill is not None and self._next >= self._end:
            self._next, self._end = self._refill()
        taken = self._next
        self._next += 1
        return taken


history_t = history_table("alert_history", metadata, "alert_id")

pending_t = Table(
    "alert_pending",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("since_ns", BigInteger, nullable=False),
    Column("readings", Integer, nullable=False),
)

windows_t = Table(
    "maintenance_windows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("estate", String(64), nullable=False),
    Column("building", String(64)),
    Column("device", String(64)),
    ts_column("start", nullable=False),
    ts_column("end", nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", String(64), nullable=False),
)

floods_t = Table(
    "alarm_floods",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("estate", String(64), nullable=False, index=True),
    ts_column("started", nullable=False),
    ts_column("ended"),
)

facts_t = Table(
    "device_facts",
    metadata,
    Column("estate", String(64), primary_key=True),
    Column("device", String(64), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("at_ns", BigInteger, nullable=False),
)

patrols_t = Table(
    "patrol_state",
    metadata,
    Column("estate", String(64), primary_key=True),
    Column("snapshot", JSON, nullable=False),
)

_FIELDS = [c.name for c in alerts_t.columns if c.name not in ("state",)]


@dataclass(frozen=True)
class MaintenanceWindow:
    id: int
    estate: str
    building: str | None
    device: str | None
    start: datetime
    end: datetime
    reason: str
    created_by: str

    def covers(self, estate: str, building: str | None, device: str | None, at: datetime) -> bool:
        return (
            self.estate == estate
            and self.start <= at < self.end
            and (self.building is None or self.building == building)
            and (self.device is None or self.device == device)
        )


def as_utc(value: datetime | None) -> datetime | None:
    """Everything stored is UTC: SQLite hands back naive datetimes, PostgreSQL aware ones in the
    session's time zone."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def only_estates(stmt: Any, column: Column[str], owned: frozenset[str] | None) -> Any:
    """``stmt`` kept to rows whose ``column`` is one of ``owned`` (None: all): a gateway instance's
    own estates in a database it may share with others."""
    return stmt if owned is None else stmt.where(column.in_(owned))


def upsert(engine: Engine, table: Table, *keys: str) -> Any:
    """One insert-or-update statement for many rows (SQLite or PostgreSQL): compiled once, run
    with executemany."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    return stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys},
    )


class AlertStore:
    """``owned``: the estates this gateway instance owns (None: all). Instances sharing one
    PostgreSQL database each read back only their own estates' alerts, timers and facts."""

    def __init__(self, engine: Engine, owned: frozenset[str] | None = None) -> None:
        self.engine, self.owned = engine, owned
        self._upserts: dict[tuple[str, tuple[str, ...]], Any] = {}
        create_tables(engine, metadata)

    def _mine(self, stmt: Any, column: Column[str]) -> Any:
        return only_estates(stmt, column, self.owned)

    def _owns(self, estate: str) -> bool:
        return self.owned is None or estate in self.owned

    def next_id(self) -> int:
        return next_id(self.engine, alerts_t.c.id)

    def ids(self) -> Ids:
        """Where new alerts take their ids (shared safely between instances on PostgreSQL)."""
        return Ids.for_table(self.engine, "alerts", alerts_t.c.id)

    def _upsert(self, table: Table, *keys: str) -> Any:
        # Built once per table: building the construct (and its cache key) again on every save
        # was about a quarter of a month's simulated rules CPU.
        found = self._upserts.get((table.name, keys))
        if found is None:
            found = self._upserts[(table.name, keys)] = upsert(self.engine, table, *keys)
        return found

    def set_facts(self, facts: Sequence[tuple[str, str, str, int]]) -> None:
        """When a device last did something that compliance rules count (maintenance, cleaning)."""
        if facts:
            rows = [{"estate": e, "device": d, "name": n, "at_ns": at} for e, d, n, at in facts]
            with self.engine.begin() as conn:
                conn.execute(self._upsert(facts_t, "estate", "device", "name"), rows)

    def write_patrols(self, conn: Connection, snapshots: Sequence[dict[str, Any]]) -> None:
        """Estates' patrol tracker state (rounds, scans, open findings: ``{"estate", "snapshot"}``
        rows) in the caller's transaction: survives restarts."""
        if snapshots:
            conn.execute(self._upsert(patrols_t, "estate"), list(snapshots))

    def patrol_snapshots(self) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(self._mine(select(patrols_t), patrols_t.c.estate))
            return {r.estate: dict(r.snapshot) for r in rows}

    def facts(self) -> list[tuple[str, str, str, int]]:
        with self.engine.connect() as conn:
            rows = conn.execute(self._mine(select(facts_t), facts_t.c.estate))
            return [(r.estate, r.device, r.name, int(r.at_ns)) for r in rows]

    def save(
        self,
        alerts: Iterable[Alert],
        history: Sequence[tuple[int, HistoryEntry]],
        pending: dict[str, tuple[int, int] | None],
        also: Sequence[Callable[[Connection], None]] = (),
    ) -> None:
        """Upsert changed alerts, append history, set or drop pending on-delays, and run ``also``
        (other parts' writes), atomically."""
        rows = [
            {name: getattr(alert, name) for name in _FIELDS if name != "key"}
            | {"key": alert.key, "severity": alert.severity.value, "state": alert.state.value}
            for alert in alerts
        ]
        added = history_rows("alert_id", history)
        dropped = [{"k": key} for key, value in pending.items() if value is None]
        kept = [{"key": k, "since_ns": v[0], "readings": v[1]} for k, v in pending.items() if v is not None]
        with self.engine.begin() as conn:
            if rows:
                conn.execute(self._upsert(alerts_t, "id"), rows)
            if added:
                conn.execute(insert(history_t), added)
            if dropped:
                conn.execute(delete(pending_t).where(pending_t.c.key == bindparam("k")), dropped)
            if kept:
                conn.execute(self._upsert(pending_t, "key"), kept)
            for write in also:  # e.g. the work orders these alert changes created
                write(conn)

    def _alerts(self, stmt: object, with_history: bool) -> list[Alert]:
        with self.engine.connect() as conn:
            rows = list(conn.execute(stmt))  # type: ignore[call-overload]
            alerts = [self._alert(r) for r in rows]
            if with_history and alerts:
                by_id = {a.id: a for a in alerts}
                for h in read_history(conn, history_t, "alert_id", by_id):
                    by_id[h.owner].history.append(HistoryEntry(h.at, h.by, Action(h.action), h.note))
        return alerts

    @staticmethod
    def _alert(r: object) -> Alert:
        values = {name: getattr(r, name) for name in _FIELDS if name != "key"}
        for name in (
            "raised_at",
            "cleared_at",
            "acknowledged_at",
            "closed_at",
            "shelved_until",
            "escalate_at",
        ):
            values[name] = as_utc(values[name])
        values["severity"] = Severity(values["severity"])
        return Alert(**values)

    def open_alerts(self, estate: str | None = None, with_history: bool = True) -> list[Alert]:
        """Alerts not closed (of one estate, or all): a read that never waits for the alarm engine."""
        stmt = self._mine(select(alerts_t).where(alerts_t.c.closed_at.is_(None)), alerts_t.c.estate)
        if estate is not None:
            stmt = stmt.where(alerts_t.c.estate == estate)
        return self._alerts(stmt, with_history=with_history)

    def get(self, alert_id: int) -> Alert | None:
        stmt = self._mine(select(alerts_t).where(alerts_t.c.id == alert_id), alerts_t.c.estate)
        found = self._alerts(stmt, with_history=True)
        return found[0] if found else None

    def query(
        self,
        estate: str | None = None,
        state: str | None = None,
        severity: str | None = None,
        since: datetime | None = None,
        estates: frozenset[str] | None = None,
        limit: int = 500,
        with_history: bool = False,
        *,
        device: str | None = None,
        rule: str | None = None,
    ) -> list[Alert]:
        t = alerts_t
        stmt = select(t).order_by(t.c.raised_at.desc(), t.c.id.desc()).limit(limit)
        equal = ((t.c.estate, estate), (t.c.state, state), (t.c.severity, severity), (t.c.device, device))
        for column, value in (*equal, (t.c.rule, rule)):
            if value is not None:
                stmt = stmt.where(column == value)
        if since is not None:
            stmt = stmt.where(t.c.raised_at >= since)
        if estates:
            stmt = stmt.where(t.c.estate.in_(estates))
        return self._alerts(self._mine(stmt, t.c.estate), with_history=with_history)

    def overlapping(
        self,
        estate: str | None,
        start: datetime,
        stop: datetime,
        estates: frozenset[str] | None = None,
        limit: int = 100_000,
    ) -> list[Alert]:
        """Alerts that may have been active in [start, stop): raised before ``stop`` and not closed
        before ``start`` (an alarm raised last week and still open is one), with their history."""
        t = alerts_t
        stmt = (
            select(t)
            .where(t.c.raised_at < stop, or_(t.c.closed_at.is_(None), t.c.closed_at >= start))
            .order_by(t.c.raised_at.desc(), t.c.id.desc())
            .limit(limit)
        )
        if estate is not None:
            stmt = stmt.where(t.c.estate == estate)
        if estates:
            stmt = stmt.where(t.c.estate.in_(estates))
        return self._alerts(self._mine(stmt, t.c.estate), with_history=True)

    def pending(self) -> dict[str, tuple[int, int]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(pending_t))
            return {
                r.key: (int(r.since_ns), int(r.readings)) for r in rows if self._owns(r.key.split("/", 1)[0])
            }

    def add_window(self, window: MaintenanceWindow) -> MaintenanceWindow:
        values = {k: v for k, v in vars(window).items() if k != "id"}
        with self.engine.begin() as conn:
            new_id = conn.execute(insert(windows_t).values(**values)).inserted_primary_key[0]  # type: ignore[index]
        return MaintenanceWindow(int(new_id), **values)

    def windows(self, after: datetime) -> list[MaintenanceWindow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                self._mine(select(windows_t).where(windows_t.c.end > after), windows_t.c.estate)
            )
            return [
                MaintenanceWindow(
                    r.id,
                    r.estate,
                    r.building,
                    r.device,
                    as_utc(r.start) or r.start,
                    as_utc(r.end) or r.end,
                    r.reason,
                    r.created_by,
                )
                for r in rows
            ]

    def flood_started(self, estate: str, at: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(floods_t).values(estate=estate, started=at, ended=None))

    def flood_ended(self, estate: str, at: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(floods_t)
                .where(floods_t.c.estate == estate, floods_t.c.ended.is_(None))
                .values(ended=at)
            )

    def floods(
        self, estate: str | None, start: datetime, stop: datetime
    ) -> list[tuple[datetime, datetime | None]]:
        stmt = self._mine(select(floods_t).where(floods_t.c.started < stop), floods_t.c.estate)
        if estate is not None:
            stmt = stmt.where(floods_t.c.estate == estate)
        with self.engine.connect() as conn:
            spans = [(as_utc(r.started) or r.started, as_utc(r.ended)) for r in conn.execute(stmt)]
        return [(begin, end) for begin, end in spans if end is None or end >= start]
