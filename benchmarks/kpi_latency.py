"""Alarm latency while long KPI requests run (issue 24, issue 20 acceptance): publish → ``/api/stream``.

``python -m benchmarks.kpi_latency`` prints the figures; ``tests/integration/test_kpi_latency.py``
runs the same measurement and asserts the bound (≤ 1 s).

* real mosquitto, ``estate-gateway run`` (SQLite), an estate with 40 doors;
* the database seeded before start with 400 days of history: ``--alerts-per-day`` closed alerts a
  day, each with its raise, acknowledgement, clear and close, and a daily KPI rollup per day;
* ``--clients`` threads (default 10), each asking ``GET /api/kpis`` for the whole 400 days (the
  heaviest KPI read: every alert with its history) again and again;
* meanwhile, once the requests are under way, ``--faults`` door-forced events (``access.forced``:
  raised at once) one a second, each on a door with no open alert, QoS 1; latency is from just
  before ``publish`` to the raise's arrival on the stream, on this process's monotonic clock.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import yaml

from alerts.model import Action, Alert, HistoryEntry
from alerts.store import AlertStore
from benchmarks.alert_latency import StreamListener, percentile
from benchmarks.ingest_drain import machine
from devices.base import Severity
from gateway.db import make_engine
from reports.store import RollupStore
from tests.support.gateway import ADMIN_TOKEN, GatewayProcess, Publisher
from tests.support.servers import MosquittoServer, wait_until

DOORS = 40
DAYS = 400


@dataclass
class Result:
    latencies_s: list[float] = field(default_factory=list)
    requests: int = 0
    request_s: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    seeded_alerts: int = 0

    def summary(self) -> dict[str, object]:
        lat = self.latencies_s
        return {
            "alarms": len(lat),
            "latency_max_s": round(max(lat), 3) if lat else None,
            "latency_p50_s": round(percentile(lat, 50), 3) if lat else None,
            "kpi_requests_done": self.requests,
            "kpi_request_p50_s": round(percentile(self.request_s, 50), 2) if self.request_s else None,
            "kpi_request_max_s": round(max(self.request_s), 2) if self.request_s else None,
            "statuses": self.statuses,
            "seeded_alerts": self.seeded_alerts,
        }


def write_inventory(path: Path) -> Path:
    doors = [{"id": f"D{i}", "kind": "access", "building": "B1"} for i in range(1, DOORS + 1)]
    estate = {"id": "sunrise", "name": "朝阳小区", "buildings": ["B1"], "devices": doors}
    path.write_text(yaml.safe_dump({"estates": [estate]}, allow_unicode=True), encoding="utf-8")
    return path


def seed(database_url: str, now: datetime, per_day: int) -> int:
    """400 days of closed alerts with their history, and a rollup row a day."""
    engine = make_engine(database_url)
    store = AlertStore(engine)
    alerts, history = [], []
    for n in range(DAYS * per_day):
        raised = now - timedelta(days=DAYS) + timedelta(minutes=n * 24 * 60 / per_day)
        door = f"D{n % DOORS + 1}"
        cleared, closed = raised + timedelta(minutes=3), raised + timedelta(minutes=5)
        alerts.append(
            Alert(
                n + 1, "sunrise", "B1", door, "access", "access.forced", Severity.MAJOR, "门被强行打开",
                "Door forced", raised, active=False, acknowledged=True, cleared_at=cleared,
                acknowledged_at=raised + timedelta(minutes=1), acknowledged_by="op", closed_at=closed,
            )
        )  # fmt: skip
        steps = ((raised, Action.RAISE), (raised + timedelta(minutes=1), Action.ACK))
        steps += ((cleared, Action.CLEAR), (closed, Action.CLOSE))
        history += [(n + 1, HistoryEntry(at, "system", action)) for at, action in steps]
    store.save(alerts, history, {})
    rollups = RollupStore(engine)
    empty = dict.fromkeys(("lamps_total", "lamps_working", "lamps_failed", "lamps_unknown"), 0)
    day0 = (now - timedelta(days=DAYS)).date()
    rows = [
        {"estate": "sunrise", "day": day0 + timedelta(days=d), "region": None, "position": "sunrise", **empty}
        | dict.fromkeys(
            ("camera_minutes", "camera_online_minutes", "lift_minutes", "lift_service_minutes"), 0.0
        )
        | dict.fromkeys(
            ("entrapments", "repairs_decided", "repairs_on_time", "rounds_closed", "rounds_done"), 0
        )
        | {"activations": per_day, "position_activations": per_day, "periods": 144, "flood_periods": 0}
        | {"stale": 0, "chattering": 0, "detail": {}}
        for d in range(DAYS)
    ]
    rollups.save(rows, now)
    engine.dispose()
    return len(alerts)


def _hammer(
    url: str, params: dict[str, str], stop: threading.Event, result: Result, lock: threading.Lock
) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(timeout=600) as client:
        while not stop.is_set():
            began = time.monotonic()
            status = client.get(f"{url}/api/kpis", params=params, headers=headers).status_code
            with lock:
                result.requests += 1
                result.request_s.append(time.monotonic() - began)
                result.statuses[status] = result.statuses.get(status, 0) + 1


def measure(
    work: Path, broker: MosquittoServer, *, clients: int = 10, faults: int = 10, per_day: int = 50
) -> Result:
    """The measurement (see the module docstring), in ``work``; the gateway is stopped after."""
    result = Result()
    database = f"sqlite:///{work / 'estate.db'}"
    now = datetime.now(UTC)
    result.seeded_alerts = seed(database, now, per_day)
    inventory = write_inventory(work / "doors.yaml")
    gateway = GatewayProcess(
        work / "gateway",
        {"ESTATE_MQTT_URL": broker.url, "ESTATE_INVENTORY": str(inventory), "ESTATE_DATABASE_URL": database},
    )
    publisher = Publisher(broker.host, broker.port, client_id=f"kpi-latency-{time.monotonic_ns()}")
    stop, lock = threading.Event(), threading.Lock()
    workers: list[threading.Thread] = []
    try:
        gateway.start(timeout=60)
        listener = StreamListener(gateway.url)
        listener.start()
        params = {
            "start": (now - timedelta(days=DAYS) + timedelta(minutes=1)).isoformat(),
            "stop": now.isoformat(),
        }
        workers = [
            threading.Thread(target=_hammer, args=(gateway.url, params, stop, result, lock), daemon=True)
            for _ in range(clients)
        ]
        for worker in workers:
            worker.start()
        time.sleep(2.0)  # wall time on purpose: the requests must be under way, on a real server
        sent: dict[str, float] = {}
        for i in range(1, faults + 1):
            door = f"D{i}"
            sent[door] = time.monotonic()
            publisher.send(f"estate/sunrise/access/{door}/event", {"type": "forced"})
            time.sleep(1.0)
        wait_until(lambda: all(("sunrise", d) in listener.arrived for d in sent), timeout=60)
        listener.stop()
        result.latencies_s = [listener.arrived[("sunrise", d)] - at for d, at in sent.items()]
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=120)
        publisher.close()
        gateway.terminate()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--faults", type=int, default=20)
    parser.add_argument("--alerts-per-day", type=int, default=50)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-kpi-latency-"))
    broker = MosquittoServer(work / "mosquitto")
    broker.start()
    try:
        result = measure(work, broker, clients=args.clients, faults=args.faults, per_day=args.alerts_per_day)
    finally:
        broker.stop()
    print(f"machine: {machine()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    for key, value in result.summary().items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
