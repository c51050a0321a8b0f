"""Real servers for integration tests: mosquitto, InfluxDB 1.x, an InfluxDB 2.x HTTP shim and
PostgreSQL.

Every server listens on 127.0.0.1 on a free port and keeps its files in a directory the
caller owns (a pytest tmp dir).  The one exception is PostgreSQL started as root: its data
directory is a temporary directory owned by the ``postgres`` user (see ``PostgresServer``),
removed when the server is closed.  Nothing here is skipped when a binary is missing: the
tests fail with a message that says how to install it.

Typical use is through the fixtures in ``tests/conftest.py``; the classes also work as
context managers::

    with MosquittoServer(tmp_path / "mqtt") as broker:
        client.connect(broker.host, broker.port)
"""

from __future__ import annotations

import atexit
import glob
import gzip
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import psycopg
from psycopg import sql

__all__ = [
    "DEFAULT_INFLUXD",
    "DEFAULT_MOSQUITTO",
    "DEFAULT_POSTGRES_GLOB",
    "SETUP_HINT",
    "InfluxDatabase",
    "InfluxQueryError",
    "InfluxV1Server",
    "InfluxV2Shim",
    "InfluxV2Target",
    "MosquittoServer",
    "MosquittoTls",
    "PostgresServer",
    "ServerBinaryMissingError",
    "ServerStartError",
    "ShimWrite",
    "free_port",
    "wait_for_port",
    "wait_until",
]

LOCALHOST = "127.0.0.1"
DEFAULT_MOSQUITTO = Path("/usr/sbin/mosquitto")
DEFAULT_INFLUXD = Path("/usr/bin/influxd")
#: Debian installs each PostgreSQL major version beside the others; the newest one is used.
DEFAULT_POSTGRES_GLOB = "/usr/lib/postgresql/*/bin/postgres"
SETUP_HINT = (
    "Run `bash scripts/check.sh` (the README's test command), which installs the Debian packages "
    "`mosquitto influxdb postgresql` (by hand: apt-get update && apt-get install -y mosquitto "
    "influxdb postgresql)."
)

T = TypeVar("T")


class ServerBinaryMissingError(RuntimeError):
    """The server binary (or the system user its package creates) is missing; the message says
    how to install it."""


class ServerStartError(RuntimeError):
    """A server process exited or did not become ready in time; the message has its log tail."""


class InfluxQueryError(RuntimeError):
    """InfluxDB answered a /query with an error (HTTP status or per-statement error)."""


# --------------------------------------------------------------------------- helpers

_port_lock = threading.Lock()
_ports_handed_out: set[int] = set()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free now and not handed out before by this process."""
    with _port_lock:
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((LOCALHOST, 0))
                port: int = sock.getsockname()[1]
            if port not in _ports_handed_out:
                _ports_handed_out.add(port)
                return port
    raise RuntimeError("could not find a free TCP port on 127.0.0.1")


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 5.0,
    *,
    interval: float = 0.02,
    message: str | Callable[[], str] = "",
) -> T:
    """Poll ``predicate`` until it returns a truthy value, and return that value.

    Raises ``TimeoutError`` after ``timeout`` seconds; ``message`` (or its result, when it is
    callable, so it can describe the state at the deadline) is put in the error.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise TimeoutError(f"condition not met within {timeout:.1f}s" + (f": {text}" if text else ""))
        time.sleep(interval)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 5.0) -> None:
    """Wait until a TCP connection to ``host:port`` succeeds; ``TimeoutError`` otherwise."""
    message = f"nothing accepts connections on {host}:{port}"
    wait_until(lambda: _port_open(host, port), timeout, message=message)


def _find_binary(default: Path, name: str, explicit: str | Path | None) -> Path:
    if explicit is not None:
        path = Path(explicit)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise ServerBinaryMissingError(f"{name} binary not found or not executable at {path}. {SETUP_HINT}")
    if default.is_file() and os.access(default, os.X_OK):
        return default
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ServerBinaryMissingError(f"{name} binary not found at {default} nor on PATH. {SETUP_HINT}")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log file)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


# ----------------------------------------------------------------- process management

_live_lock = threading.Lock()
_live: set[_ServerProcess] = set()
#: Directories a server made outside its workdir (PostgreSQL's data as root), removed at exit.
_owned_dirs: set[Path] = set()


@atexit.register
def _kill_leftovers() -> None:  # pragma: no cover - safety net for interrupted runs
    with _live_lock:
        leftovers = list(_live)
        dirs = list(_owned_dirs)
    for server in leftovers:
        server.kill()
    for path in dirs:
        shutil.rmtree(path, ignore_errors=True)


class _ServerProcess:
    """A child server process with start/stop/kill/restart; subclasses say how to run and probe it."""

    name = "server"
    #: What ``stop()`` sends first: the signal on which the server saves its state and exits.
    stop_signal = signal.SIGTERM

    def __init__(self, workdir: Path, binary: Path, port: int | None = None) -> None:
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.binary = binary
        self._port = port if port is not None else free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self.console_log = self.workdir / f"{self.name}.console.log"

    @property
    def host(self) -> str:
        return LOCALHOST

    @property
    def port(self) -> int:
        return self._port

    # subclasses ------------------------------------------------------------------
    def _command(self) -> list[str]:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Write config files and create directories (called before every start)."""

    def _ready(self) -> bool:
        raise NotImplementedError

    def _env(self) -> dict[str, str]:
        return dict(os.environ)

    def _spawn_options(self) -> dict[str, Any]:
        """Further ``subprocess.Popen`` arguments (the working directory, a user to run as)."""
        return {"cwd": self.workdir}

    def log_text(self) -> str:
        """Everything the server logged so far (across restarts)."""
        return self.console_log.read_text(errors="replace") if self.console_log.exists() else ""

    def _describe_failure(self) -> str:
        return f"log tail:\n{_tail(self.console_log)}"

    # public API ------------------------------------------------------------------
    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 10.0) -> None:
        """Start the process and wait until it serves requests."""
        if self.is_running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self._prepare()
        with self.console_log.open("ab") as console:
            self._proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                env=self._env(),
                **self._spawn_options(),
            )
        with _live_lock:
            _live.add(self)
        deadline = time.monotonic() + timeout
        proc = self._proc
        while True:
            code = proc.poll()
            if code is not None:
                self._forget()
                raise ServerStartError(
                    f"{self.name} exited with code {code} during start-up; {self._describe_failure()}"
                )
            if self._ready():
                break
            if time.monotonic() >= deadline:
                self.kill()
                raise ServerStartError(
                    f"{self.name} not ready after {timeout:.1f}s; {self._describe_failure()}"
                )
            time.sleep(0.02)
        # A port collision makes the new process exit right after the port answered for someone else.
        time.sleep(0.01)
        if proc.poll() is not None:
            self._forget()
            raise ServerStartError(f"{self.name} exited right after start-up; {self._describe_failure()}")

    def stop(self, timeout: float = 10.0) -> None:
        """``stop_signal`` (SIGTERM) and wait (the server saves its state); SIGKILL if it does not
        exit in ``timeout``."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(self.stop_signal)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._forget()

    def kill(self) -> None:
        """SIGKILL and reap: no chance to save anything (a crash)."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        self._forget()

    def restart(self, timeout: float = 10.0) -> None:
        """stop() then start() on the same port(s) with the same data."""
        self.stop()
        self.start(timeout)

    def _forget(self) -> None:
        with _live_lock:
            _live.discard(self)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.stop()
        else:
            self.kill()


# ------------------------------------------------------------------------- mosquitto


@dataclass(frozen=True)
class MosquittoTls:
    """A TLS listener (on its own port, beside the plain one): PEM files, and whether a client
    must present a certificate signed by ``cafile``."""

    cafile: Path
    certfile: Path
    keyfile: Path
    require_certificate: bool = False


class MosquittoServer(_ServerProcess):
    """A real mosquitto 2.0 broker on 127.0.0.1:<port> with persistence in ``workdir``.

    Persistent sessions (clean_session=False) and their queued QoS 1/2 messages survive
    ``stop()``/``start()`` (SIGTERM saves ``mosquitto.db``); ``kill()`` loses whatever was
    not autosaved yet (``autosave_interval`` is 1 s).

    Options, all off by default: ``tls`` adds a TLS listener on ``tls_port`` (``tls_url``);
    ``password_file`` and ``acl_file`` are mosquitto's; ``allow_anonymous=False`` refuses clients
    without a user; ``tuning=False`` leaves out the test tuning (unlimited queue, autosave 1 s,
    …) so that ``extra_config`` alone sets it, as a production config would.
    """

    name = "mosquitto"

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        binary: str | Path | None = None,
        extra_config: Sequence[str] = (),
        tls: MosquittoTls | None = None,
        password_file: Path | None = None,
        acl_file: Path | None = None,
        allow_anonymous: bool = True,
        tuning: bool = True,
    ) -> None:
        super().__init__(workdir, _find_binary(DEFAULT_MOSQUITTO, "mosquitto", binary), port)
        self.extra_config = list(extra_config)
        self.tls = tls
        self.tls_port = free_port() if tls is not None else None
        self.password_file, self.acl_file = password_file, acl_file
        self.allow_anonymous, self.tuning = allow_anonymous, tuning
        self.config_path = self.workdir / "mosquitto.conf"
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "mosquitto.log"

    @property
    def url(self) -> str:
        return f"mqtt://{LOCALHOST}:{self._port}"

    @property
    def tls_url(self) -> str:
        if self.tls_port is None:
            raise RuntimeError("this broker has no TLS listener (MosquittoServer(tls=...))")
        return f"mqtts://{LOCALHOST}:{self.tls_port}"

    @property
    def persistence_file(self) -> Path:
        return self.data_dir / "mosquitto.db"

    def config_text(self) -> str:
        lines = [f"listener {self._port} {LOCALHOST}"]
        if self.tuning:
            lines += [
                "allow_anonymous true",
                "persistence true",
                "autosave_interval 1",
                # 0 = no limit on QoS 1/2 messages queued per offline persistent client (default 1000).
                "max_queued_messages 0",
                "max_inflight_messages 1000",
                "set_tcp_nodelay true",
            ]
        lines += [
            f"persistence_location {self.data_dir}",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]
        if os.geteuid() == 0:
            # Started as root, mosquitto drops to the "mosquitto" user, which cannot write to a
            # pytest tmp dir (mode 0700): it then exits with "Unable to open log file".
            lines.append(f"user {pwd.getpwuid(os.geteuid()).pw_name}")
        lines.extend(self.extra_config)
        lines.extend(self._security_lines())
        return "\n".join(lines) + "\n"

    def _security_lines(self) -> list[str]:
        """The options off by default; the TLS listener last, as its options follow its line."""
        lines = [] if self.allow_anonymous else ["allow_anonymous false"]
        if self.password_file is not None:
            lines.append(f"password_file {self.password_file}")
        if self.acl_file is not None:
            lines.append(f"acl_file {self.acl_file}")
        if self.tls is not None:
            lines += [
                f"listener {self.tls_port} {LOCALHOST}",
                f"cafile {self.tls.cafile}",
                f"certfile {self.tls.certfile}",
                f"keyfile {self.tls.keyfile}",
                f"require_certificate {'true' if self.tls.require_certificate else 'false'}",
            ]
        return lines

    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text())

    def _command(self) -> list[str]:
        return [str(self.binary), "-c", str(self.config_path)]

    def _ready(self) -> bool:
        ports = [self._port] if self.tls_port is None else [self._port, self.tls_port]
        return all(_port_open(LOCALHOST, port) for port in ports)

    def log_text(self) -> str:
        """The broker's log file (``log_dest file``), across restarts."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _describe_failure(self) -> str:
        return (
            f"log tail ({self.log_path}):\n{_tail(self.log_path)}\n"
            f"console ({self.console_log}):\n{_tail(self.console_log)}"
        )


# ------------------------------------------------------------------------ InfluxDB 1.x


def _quote_ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class InfluxV1Server(_ServerProcess):
    """A real InfluxDB 1.x (Debian's 1.6.7) ``influxd`` with its meta/data/wal dirs in ``workdir``.

    HTTP API on 127.0.0.1:<port>, the RPC (backup/restore) service on another free port.
    ``stop()``/``kill()`` and ``start()`` keep both ports and all data.
    """

    name = "influxd"

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        rpc_port: int | None = None,
        binary: str | Path | None = None,
    ) -> None:
        super().__init__(workdir, _find_binary(DEFAULT_INFLUXD, "influxd", binary), port)
        self.rpc_port = rpc_port if rpc_port is not None else free_port()
        self.config_path = self.workdir / "influxd.conf"

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self._port}"

    def config_text(self) -> str:
        w = self.workdir
        return f"""\
# Generated by tests/support/servers.py
reporting-disabled = true   # upstream 1.x name
reporting-enabled = false   # Debian's patched name; influxd ignores keys it does not know
bind-address = "{LOCALHOST}:{self.rpc_port}"

[meta]
  dir = "{w / "meta"}"
  logging-enabled = false

[data]
  dir = "{w / "data"}"
  wal-dir = "{w / "wal"}"
  index-version = "inmem"
  query-log-enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[http]
  enabled = true
  bind-address = "{LOCALHOST}:{self._port}"
  auth-enabled = false
  log-enabled = false
  pprof-enabled = false
  unix-socket-enabled = false

[logging]
  level = "warn"
  suppress-logo = true

[continuous_queries]
  log-enabled = false

[[graphite]]
  enabled = false
[[collectd]]
  enabled = false
[[opentsdb]]
  enabled = false
[[udp]]
  enabled = false
"""

    def _prepare(self) -> None:
        for sub in ("meta", "data", "wal"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text())

    def _command(self) -> list[str]:
        return [str(self.binary), "run", "-config", str(self.config_path)]

    def _env(self) -> dict[str, str]:
        # influxd lets INFLUXDB_* environment variables override the config file.
        return {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}

    def _ready(self) -> bool:
        try:
            status, _, _ = self._request("GET", "/ping", timeout=0.5)
        except (OSError, http.client.HTTPException):
            return False
        return status == 204

    # HTTP API --------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, bytes, dict[str, str]]:
        target = path + ("?" + urllib.parse.urlencode(params) if params else "")
        conn = http.client.HTTPConnection(LOCALHOST, self._port, timeout=timeout)
        try:
            conn.request(method, target, body=body, headers=dict(headers or {}))
            resp = conn.getresponse()
            return resp.status, resp.read(), dict(resp.getheaders())
        finally:
            conn.close()

    def execute(self, influxql: str, db: str | None = None, *, epoch: str = "ns") -> list[dict[str, object]]:
        """POST /query (works for any statement) and return the raw ``results`` list."""
        form = {"q": influxql, "epoch": epoch}
        if db is not None:
            form["db"] = db
        status, body, _ = self._request(
            "POST",
            "/query",
            body=urllib.parse.urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        if status != 200:
            raise InfluxQueryError(f"HTTP {status} for {influxql!r}: {body.decode(errors='replace')}")
        results: list[dict[str, object]] = json.loads(body).get("results", [])
        for result in results:
            if "error" in result:
                raise InfluxQueryError(f"{influxql!r} failed: {result['error']}")
        return results

    def query(self, db: str, influxql: str, *, epoch: str = "ns") -> list[dict[str, object]]:
        """Run InfluxQL and flatten every series into rows.

        Each row is ``{"name": <measurement>, **tags, **dict(zip(columns, values))}``: on a
        clash a column wins over a tag, which wins over the measurement name (so
        ``SHOW DATABASES`` gives ``[{"name": "db1"}, ...]``).  Values keep their JSON types;
        ``time`` is an int in nanoseconds (``epoch="ns"``).  Note InfluxDB's JSON writes a
        float with an integral value as an integer (20.0 comes back as ``20``).
        """
        rows: list[dict[str, object]] = []
        for result in self.execute(influxql, db, epoch=epoch):
            series_list = result.get("series", [])
            assert isinstance(series_list, list)
            for series in series_list:
                tags: dict[str, object] = series.get("tags") or {}
                columns: list[str] = series.get("columns", [])
                for values in series.get("values") or []:
                    row: dict[str, object] = {"name": series.get("name")}
                    row.update(tags)
                    row.update(zip(columns, values, strict=True))
                    rows.append(row)
        return rows

    def create_database(self, name: str) -> None:
        self.execute(f"CREATE DATABASE {_quote_ident(name)}")

    def drop_database(self, name: str) -> None:
        self.execute(f"DROP DATABASE {_quote_ident(name)}")

    def databases(self) -> list[str]:
        return [str(row["name"]) for row in self.query("", "SHOW DATABASES")]

    def write_lines(self, db: str, lines: str | bytes, precision: str = "n") -> None:
        """POST line protocol to /write (precision n, u, ms, s, m or h); raises on a non-204 answer."""
        body = lines.encode() if isinstance(lines, str) else lines
        status, answer, _ = self._request("POST", "/write", {"db": db, "precision": precision}, body)
        if status != 204:
            raise InfluxQueryError(f"write to {db!r} failed: HTTP {status} {answer.decode(errors='replace')}")


@dataclass(frozen=True)
class InfluxDatabase:
    """A database on an ``InfluxV1Server`` (what the ``influx_db`` fixture returns)."""

    server: InfluxV1Server
    name: str

    def query(self, influxql: str) -> list[dict[str, object]]:
        return self.server.query(self.name, influxql)

    def write_lines(self, lines: str | bytes, precision: str = "n") -> None:
        self.server.write_lines(self.name, lines, precision)


# -------------------------------------------------------------------------- PostgreSQL


def _pg_version(binary: str) -> tuple[int, ...]:
    """(15,) for /usr/lib/postgresql/15/bin/postgres; () when the folder is not a version."""
    folder = Path(binary).parent.parent.name
    parts = folder.split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else ()


def _find_postgres(explicit: str | Path | None) -> Path:
    if explicit is not None:
        path = Path(explicit)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise ServerBinaryMissingError(f"postgres binary not found or not executable at {path}. {SETUP_HINT}")
    found = [p for p in glob.glob(DEFAULT_POSTGRES_GLOB) if os.access(p, os.X_OK)]
    if found:
        return Path(max(found, key=_pg_version))
    on_path = shutil.which("postgres")
    if on_path:
        return Path(on_path)
    raise ServerBinaryMissingError(
        f"postgres binary not found at {DEFAULT_POSTGRES_GLOB} nor on PATH. {SETUP_HINT}"
    )


#: Unix-domain socket paths longer than this (sun_path less the NUL) make postgres refuse to start.
_MAX_SOCKET_PATH = 107


class PostgresServer(_ServerProcess):
    """A real PostgreSQL (Debian's newest ``/usr/lib/postgresql/*/bin/postgres``) on 127.0.0.1:<port>.

    The cluster is made once by ``initdb`` (superuser ``estate``, trust authentication, UTF-8,
    locale C) and runs without fsync or full-page writes but with synchronous commits: fast, and
    ``kill()`` (SIGKILL) loses no committed transaction; only a crash of the machine would.
    ``stop()``/``kill()`` and ``start()`` keep the port and all data; ``stop()`` is a fast
    shutdown (SIGINT), which disconnects clients instead of waiting for them to leave.

    initdb and postgres refuse to run as root, and the postgres user cannot reach a pytest tmp
    dir (mode 0700, root's).  So as root the data directory is ``<tmp>/estate-pg-*/data``,
    owned by the ``postgres`` system user (made by the Debian package), and both programs run as
    that user; ``close()`` (or leaving the ``with`` block) kills the server and removes that
    directory unless ``keep_data_dir`` is set.  Otherwise the data is in ``workdir/data``.  The
    console log (``workdir/postgres.console.log``) is opened by this process either way.
    """

    name = "postgres"
    stop_signal = signal.SIGINT
    #: The superuser initdb creates (no password: trust authentication on 127.0.0.1).
    superuser = "estate"

    def __init__(self, workdir: Path, *, port: int | None = None, binary: str | Path | None = None) -> None:
        super().__init__(workdir, _find_postgres(binary), port)
        self.initdb = self.binary.with_name("initdb")
        if not (self.initdb.is_file() and os.access(self.initdb, os.X_OK)):
            raise ServerBinaryMissingError(f"initdb not found beside {self.binary}. {SETUP_HINT}")
        self.initdb_log = self.workdir / "initdb.log"
        #: Leave a root run's data directory in place when the server is closed (a test failed).
        self.keep_data_dir = False
        self._run_as: pwd.struct_passwd | None = None
        self._temp_root: Path | None = None
        if os.geteuid() == 0:
            try:
                self._run_as = pwd.getpwnam("postgres")
            except KeyError:
                raise ServerBinaryMissingError(
                    "running as root, PostgreSQL needs the 'postgres' system user (initdb and postgres "
                    f"refuse to run as root), which Debian's postgresql package creates. {SETUP_HINT}"
                ) from None
            self._temp_root = Path(tempfile.mkdtemp(prefix="estate-pg-"))
            with _live_lock:
                _owned_dirs.add(self._temp_root)
            os.chown(self._temp_root, self._run_as.pw_uid, self._run_as.pw_gid)
            self.data_dir = self._temp_root / "data"
        else:
            self.data_dir = self.workdir / "data"

    def url(self, db: str = "postgres") -> str:
        """``postgresql://estate@127.0.0.1:<port>/<db>`` (what ``gateway.db.make_engine`` takes);
        ``db`` is percent-encoded."""
        return f"postgresql://{self.superuser}@{LOCALHOST}:{self._port}/{urllib.parse.quote(db, safe='')}"

    # process ---------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        # libpq and the server read PG* variables (PGDATA, PGOPTIONS, ...): none from the caller.
        return {k: v for k, v in os.environ.items() if not k.startswith("PG")}

    def _spawn_options(self) -> dict[str, Any]:
        if self._run_as is None:
            return {"cwd": self.workdir}
        # Popen's user/group rather than `runuser -u postgres --`: runuser stays the parent of the
        # server, so kill() (SIGKILL) would reach runuser and leave postgres running.
        assert self._temp_root is not None
        user = self._run_as
        return {"cwd": self._temp_root, "user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def _prepare(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        if self._temp_root is not None and not self._temp_root.is_dir():
            raise ServerStartError(f"{self.name}'s data directory {self._temp_root} was removed (closed)")
        command = [
            str(self.initdb),
            "-D",
            str(self.data_dir),
            "-U",
            self.superuser,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]
        with self.initdb_log.open("ab") as log:
            code = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env(),
                check=False,
                **self._spawn_options(),
            ).returncode
        if code != 0:
            raise ServerStartError(
                f"initdb exited with code {code}; log tail ({self.initdb_log}):\n{_tail(self.initdb_log)}"
            )

    def _command(self) -> list[str]:
        socket_path = self.data_dir / f".s.PGSQL.{self._port}"
        # A pytest tmp dir can make the socket path too long; TCP is all the tests use anyway.
        sockets = str(self.data_dir) if len(str(socket_path)) <= _MAX_SOCKET_PATH else ""
        settings = {
            "listen_addresses": LOCALHOST,
            "unix_socket_directories": sockets,
            # No fsync: the OS keeps whatever was written, which is all a SIGKILL can test.  Commits
            # stay synchronous (only a write() without fsync): with synchronous_commit=off, kill()
            # lost transactions committed just before it (even a CREATE TABLE).
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "200",
        }
        command = [str(self.binary), "-D", str(self.data_dir), "-p", str(self._port)]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        return command

    def _ready(self) -> bool:
        try:
            with psycopg.connect(self.url(), connect_timeout=2) as conn:
                row = conn.execute("SHOW data_directory").fetchone()
        except psycopg.Error:
            return False
        # Ours, not another cluster that got the port first (this one then fails to bind).
        return row is not None and row[0] == str(self.data_dir)

    def close(self) -> None:
        """Kill the server for good: as root, also remove its data directory (unless
        ``keep_data_dir``).  ``start()`` fails after this."""
        self.kill()
        if self._temp_root is None:
            return
        with _live_lock:
            _owned_dirs.discard(self._temp_root)  # kept or removed now: not at exit
        if not self.keep_data_dir:
            shutil.rmtree(self._temp_root, ignore_errors=True)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc, tb)
        self.close()

    # SQL -------------------------------------------------------------------------
    def _connect(self, db: str = "postgres") -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(self.url(db), autocommit=True, connect_timeout=5)

    def query(self, db: str, statement: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run one SQL statement on ``db`` (autocommit) and return its rows ([] when it has none)."""
        with self._connect(db) as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description is not None else []

    def create_database(self, name: str) -> None:
        with self._connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        """Drop ``name``, disconnecting whoever is still connected to it (PostgreSQL 13+)."""
        with self._connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))

    def databases(self) -> list[str]:
        """The databases one can connect to (``postgres`` included, templates not), sorted."""
        rows = self.query("postgres", "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1")
        return [str(name) for (name,) in rows]


# ------------------------------------------------------------------- InfluxDB 2.x shim


@dataclass(frozen=True)
class ShimWrite:
    """One POST /api/v2/write the shim received."""

    org: str | None
    bucket: str | None
    precision: str
    authorization: str | None
    content_encoding: str | None
    points: int
    status: int


_PRECISIONS = {"ns": "n", "us": "u", "ms": "ms", "s": "s"}
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}


def _count_points(body: bytes, content_encoding: str | None) -> int:
    data = body
    if content_encoding and content_encoding.lower() == "gzip":
        try:
            data = gzip.decompress(body)
        except (OSError, EOFError, zlib.error):
            return 0
    return sum(1 for line in data.splitlines() if line.strip() and not line.lstrip().startswith(b"#"))


class InfluxV2Shim:
    """Makes an InfluxDB 1.x server look like InfluxDB 2.x to ``influxdb-client``. TEST FIXTURE ONLY.

    Debian ships no InfluxDB 2.x or 3.x server (only 1.6.7) and the tests have no network, so
    the product's real ``influxdb-client`` write path is exercised against this small HTTP
    translator in front of a real ``influxd`` 1.x.  It is not product code and implements
    only what the product uses:

    * ``POST /api/v2/write?org=..&bucket=..&precision=ns|us|ms|s`` -> ``POST /write?db=<bucket>
      &precision=n|u|ms|s`` upstream (``bucket`` may be ``db/retention-policy``).  The body
      and ``Content-Encoding`` (gzip) are forwarded unchanged; the upstream status and body
      come back as they are (204 on success, 4xx bodies such as ``database not found``
      visible to the client).  Upstream unreachable -> 503 with a JSON message.
    * ``GET /ping`` -> upstream ``/ping`` (503 when down); ``GET /health`` -> 200
      ``{"status": "pass"}`` when upstream answers its ping, else 503 ``{"status": "fail"}``;
      ``GET /ready`` likewise.
    * ``GET /query`` (InfluxQL, 2.x's v1-compatible endpoint, with ``Authorization: Token …``)
      -> upstream ``/query`` unchanged (the bucket's name is the database's: the DBRP mapping).
    * Anything else -> 404 (``/api/v2/query``, i.e. Flux, -> 501): query with InfluxQL.

    ``write_requests`` counts POST /api/v2/write requests, ``points_forwarded`` the points
    (lines) the upstream accepted, and ``writes`` records each request.
    """

    def __init__(self, upstream: str, *, port: int = 0, upstream_timeout: float = 10.0) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"upstream must be an http:// URL, got {upstream!r}")
        self.upstream = upstream.rstrip("/")
        self._up_host = parsed.hostname
        self._up_port = parsed.port or 80
        self.upstream_timeout = upstream_timeout
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.write_requests = 0
        self.points_forwarded = 0
        self.writes: list[ShimWrite] = []

    @property
    def host(self) -> str:
        return LOCALHOST

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("InfluxV2Shim has not been started yet")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def is_running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("InfluxV2Shim is already running")
        server = ThreadingHTTPServer((LOCALHOST, self._port), _make_handler(self))
        server.daemon_threads = True
        self._port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"influx-v2-shim-{self._port}"
        )
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(5)

    def reset_counters(self) -> None:
        with self._lock:
            self.write_requests = 0
            self.points_forwarded = 0
            self.writes.clear()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # used by the handler ---------------------------------------------------------
    def _upstream(
        self, method: str, target: str, body: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, bytes, list[tuple[str, str]]]:
        conn = http.client.HTTPConnection(self._up_host, self._up_port, timeout=self.upstream_timeout)
        try:
            conn.request(method, target, body=body, headers=dict(headers))
            resp = conn.getresponse()
            return resp.status, resp.read(), resp.getheaders()
        finally:
            conn.close()

    def _record(self, write: ShimWrite) -> None:
        with self._lock:
            self.write_requests += 1
            if 200 <= write.status < 300:
                self.points_forwarded += write.points
            self.writes.append(write)


def _make_handler(shim: InfluxV2Shim) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: stop() really stops serving
        server_version = "influx-v2-test-shim"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline().strip():
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(
            self,
            status: int,
            body: bytes = b"",
            headers: Sequence[tuple[str, str]] = (),
            *,
            json_body: bool = False,
        ) -> None:
            self.send_response(status)
            for key, value in headers:
                if key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
            if json_body:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            if status not in (204, 304):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body and status not in (204, 304):
                self.wfile.write(body)

        def _send_json(self, status: int, payload: Mapping[str, object]) -> None:
            self._send(status, json.dumps(payload).encode(), json_body=True)

        def _ping_upstream(self) -> tuple[int, list[tuple[str, str]]] | None:
            try:
                status, _, headers = shim._upstream("GET", "/ping", None, {})
            except (OSError, http.client.HTTPException):
                return None
            return status, headers

        def do_GET(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            if path == "/ping":
                ping = self._ping_upstream()
                if ping is None:
                    self._send_json(503, {"code": "unavailable", "message": f"upstream {shim.upstream} down"})
                else:
                    status, headers = ping
                    keep = [(k, v) for k, v in headers if k.lower().startswith("x-influxdb")]
                    self._send(status, b"", keep)
            elif path in ("/health", "/ready"):
                ping = self._ping_upstream()
                up = ping is not None and ping[0] == 204
                headers = ping[1] if ping else []
                version = next((v for k, v in headers if k.lower() == "x-influxdb-version"), "")
                if path == "/ready":
                    self._send_json(200 if up else 503, {"status": "ready" if up else "unavailable"})
                else:
                    self._send_json(
                        200 if up else 503,
                        {
                            "name": "influxdb",
                            "message": "ready for queries and writes" if up else f"{shim.upstream} down",
                            "status": "pass" if up else "fail",
                            "checks": [],
                            "version": version,
                        },
                    )
            elif path == "/query":
                # InfluxDB 2.x serves InfluxQL here (v1 compatibility, the bucket mapped to a
                # database by DBRP): forwarded to the 1.x server as it is, like the product asks it.
                if not (self.headers.get("Authorization") or "").startswith("Token "):
                    self._send_json(401, {"code": "unauthorized", "message": "unauthorized access"})
                    return
                target = self.path
                try:
                    status, answer, headers = shim._upstream("GET", target, None, {})
                except (OSError, http.client.HTTPException):
                    self._send_json(503, {"code": "unavailable", "message": f"upstream {shim.upstream} down"})
                    return
                keep = [(k, v) for k, v in headers if k.lower() in ("content-type", "x-influxdb-version")]
                self._send(status, answer, keep)
            else:
                self._send_json(404, {"code": "not found", "message": f"test shim does not serve GET {path}"})

        def do_POST(self) -> None:
            split = urllib.parse.urlsplit(self.path)
            body = self._read_body()
            if split.path == "/api/v2/query":
                self._send_json(501, {"code": "not implemented", "message": "no Flux: query with InfluxQL"})
                return
            if split.path != "/api/v2/write":
                message = f"test shim does not serve POST {split.path}"
                self._send_json(404, {"code": "not found", "message": message})
                return
            params = dict(urllib.parse.parse_qsl(split.query))
            bucket = params.get("bucket")
            precision = params.get("precision", "ns")
            encoding = self.headers.get("Content-Encoding")
            points = _count_points(body, encoding)

            def finish(status: int) -> None:
                shim._record(
                    ShimWrite(
                        org=params.get("org") or params.get("orgID"),
                        bucket=bucket,
                        precision=precision,
                        authorization=self.headers.get("Authorization"),
                        content_encoding=encoding,
                        points=points,
                        status=status,
                    )
                )

            if not bucket:
                finish(400)
                self._send_json(400, {"code": "invalid", "message": "bucket is required"})
                return
            if precision not in _PRECISIONS:
                finish(400)
                self._send_json(400, {"code": "invalid", "message": f"invalid precision {precision!r}"})
                return
            db, _, rp = bucket.partition("/")
            up_params = {"db": db, "precision": _PRECISIONS[precision]}
            if rp:
                up_params["rp"] = rp
            headers = {"Content-Type": self.headers.get("Content-Type", "text/plain; charset=utf-8")}
            if encoding:
                headers["Content-Encoding"] = encoding
            try:
                status, answer, up_headers = shim._upstream(
                    "POST", "/write?" + urllib.parse.urlencode(up_params), body, headers
                )
            except (OSError, http.client.HTTPException) as exc:
                finish(503)
                message = f"upstream InfluxDB {shim.upstream} unreachable: {exc}"
                self._send_json(503, {"code": "unavailable", "message": message})
                return
            finish(status)
            self._send(status, answer, [(k, v) for k, v in up_headers if k.lower() != "content-encoding"])

    return Handler


# ----------------------------------------------------------------- fixture containers


@dataclass(frozen=True)
class InfluxV2Target:
    """What the ``influx_v2`` fixture returns: point ``InfluxDBClient(url, token, org)`` here."""

    shim: InfluxV2Shim
    database: InfluxDatabase
    org: str = "test-org"
    token: str = "test-token"

    @property
    def url(self) -> str:
        return self.shim.url

    @property
    def bucket(self) -> str:
        return self.database.name

    @property
    def server(self) -> InfluxV1Server:
        return self.database.server

    def query(self, influxql: str) -> list[dict[str, object]]:
        """InfluxQL on the bucket's database (rows as in ``InfluxV1Server.query``)."""
        return self.database.query(influxql)
