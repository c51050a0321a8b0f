"""Shared fixtures: real mosquitto, InfluxDB and PostgreSQL servers on 127.0.0.1 (see
tests/support/servers.py).

* ``mosquitto``  - function scope: a fresh ``MosquittoServer`` (own port, own tmp dir), started.
* ``influx_v1``  - session scope: one ``InfluxV1Server`` (influxd 1.6.7) for the whole run.
* ``influx_db``  - function scope: ``InfluxDatabase(server, name)``, a new uniquely named
  database on ``influx_v1``.
* ``live_gateway`` - function scope: ``(GatewayProcess, Publisher)``, a running gateway on
  ``mosquitto`` and a device-side publisher.
* ``influx_v2``  - function scope: ``InfluxV2Target`` - an ``InfluxV2Shim`` in front of
  ``influx_v1`` plus the database to use as bucket (``.url``, ``.org``, ``.token``,
  ``.bucket``, ``.shim``, ``.server``, ``.query()``).
* ``postgres``   - session scope: one ``PostgresServer`` for the whole run.
* ``pg_url``     - function scope: ``postgresql://estate@127.0.0.1:<port>/<db>`` of a new
  uniquely named database on ``postgres`` (give it to ``gateway.db.make_engine``).

Servers are SIGKILLed on teardown, whatever the test did.  A test may stop/kill the
session ``influx_v1`` or ``postgres`` to simulate an outage: the fixtures start it again
(same port, same data) before the next test.  The database of a failed test is kept (and
so is PostgreSQL's data directory), and where it is gets printed.  Tests using these
fixtures get the ``integration`` marker.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.support.gateway import GatewayProcess, LiveGateway, Publisher
from tests.support.servers import (
    InfluxDatabase,
    InfluxV1Server,
    InfluxV2Shim,
    InfluxV2Target,
    MosquittoServer,
    PostgresServer,
)

_SERVER_FIXTURES = {"mosquitto", "influx_v1", "influx_db", "influx_v2", "live_gateway", "postgres", "pg_url"}
_CALL_REPORT = pytest.StashKey[pytest.TestReport]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_CALL_REPORT] = report
    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


#: The project's loggers: an ERROR from one of them, or a thread that died, fails the test that
#: caused it unless the test is marked ``expect_errors`` (it injects the failure being logged).
_PROJECT_LOGGERS = ("gateway", "alerts", "dispatch", "api", "devices", "simulators", "notify")


class _ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def _no_silent_failures(request: pytest.FixtureRequest) -> Iterator[None]:
    handler = _ErrorRecords()
    loggers = [logging.getLogger(name) for name in _PROJECT_LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    died: list[str] = []
    previous = threading.excepthook

    def excepthook(args: threading.ExceptHookArgs) -> None:
        died.append(f"{args.thread.name if args.thread else '?'}: {args.exc_type.__name__}: {args.exc_value}")
        previous(args)

    threading.excepthook = excepthook
    try:
        yield
    finally:
        threading.excepthook = previous
        for logger in loggers:
            logger.removeHandler(handler)
    if died:
        pytest.fail(f"a thread died: {died}")
    if handler.records and request.node.get_closest_marker("expect_errors") is None:
        lines = [f"{r.name}: {r.getMessage()}" for r in handler.records[:10]]
        why = "unexpected ERROR logged (mark the test expect_errors if it injects it)"
        pytest.fail(why + ":\n" + "\n".join(lines))


def _test_failed(request: pytest.FixtureRequest) -> bool:
    report = request.node.stash.get(_CALL_REPORT, None)
    return report is None or report.failed


def _unique_db_name(request: pytest.FixtureRequest) -> str:
    base = re.sub(r"\W+", "_", request.node.name).strip("_")[:40] or "test"
    return f"{base}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def mosquitto(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[MosquittoServer]:
    server = MosquittoServer(tmp_path / "mosquitto")
    try:
        server.start()
        yield server
        if _test_failed(request):
            print(f"--- mosquitto log ({server.log_path}) ---\n{server.log_text()[-5000:]}", file=sys.stderr)
    finally:
        server.kill()


@pytest.fixture(scope="session")
def influx_v1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxV1Server]:
    server = InfluxV1Server(tmp_path_factory.mktemp("influxd"))
    try:
        server.start()
        yield server
    finally:
        server.kill()


@pytest.fixture
def influx_db(influx_v1: InfluxV1Server, request: pytest.FixtureRequest) -> Iterator[InfluxDatabase]:
    if not influx_v1.is_running:  # an earlier test stopped or killed it
        influx_v1.start()
    name = _unique_db_name(request)
    influx_v1.create_database(name)
    yield InfluxDatabase(influx_v1, name)
    if not influx_v1.is_running:  # this test stopped or killed it: bring it back for the next one
        influx_v1.start()
    if _test_failed(request):
        where = f"{influx_v1.url} ({influx_v1.workdir})"
        print(f"--- InfluxDB database {name!r} kept on {where} ---", file=sys.stderr)
    else:
        influx_v1.drop_database(name)


@pytest.fixture
def influx_v2(influx_db: InfluxDatabase) -> Iterator[InfluxV2Target]:
    shim = InfluxV2Shim(influx_db.server.url)
    shim.start()
    try:
        yield InfluxV2Target(shim, influx_db)
    finally:
        shim.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    server = PostgresServer(tmp_path_factory.mktemp("postgres"))
    try:
        server.start()
        yield server
    finally:
        server.close()  # SIGKILL; as root also removes the data dir unless a test kept a database


@pytest.fixture
def pg_url(postgres: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    if not postgres.is_running:  # an earlier test stopped or killed it
        postgres.start()
    # Lower-case ASCII: a name psql takes unquoted, and within PostgreSQL's 63 bytes.
    name = re.sub(r"[^a-z0-9_]", "_", _unique_db_name(request).lower())
    postgres.create_database(name)
    yield postgres.url(name)
    if not postgres.is_running:  # this test stopped or killed it: bring it back for the next one
        postgres.start()
    if _test_failed(request):
        postgres.keep_data_dir = True
        where = f"{postgres.url(name)} (data dir {postgres.data_dir}, kept after the run)"
        print(f"--- PostgreSQL database {name!r} kept on {where} ---", file=sys.stderr)
    else:
        postgres.drop_database(name)


@pytest.fixture
def live_gateway(tmp_path: Path, mosquitto: MosquittoServer) -> Iterator[LiveGateway]:
    """``estate-gateway run`` (SPEC example inventory, SQLite) on ``mosquitto``, and a publisher."""
    proc = GatewayProcess(tmp_path / "gw", {"ESTATE_MQTT_URL": mosquitto.url})
    proc.start()
    publisher = Publisher(mosquitto.host, mosquitto.port)
    try:
        yield proc, publisher
    finally:
        proc.kill()
        publisher.close()
