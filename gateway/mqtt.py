"""MQTT in and out, over paho-mqtt.

paho's callbacks only convert and enqueue. The hand-off queue is bounded: when it is full the
MQTT thread waits (backpressure reaches the broker through TCP) and the overflow is counted,
never silent. Messages are acknowledged by hand, only after the pipeline has stored or spooled
them (at-least-once, across crashes), in the order they arrived. The session is persistent
(clean_session=False, fixed client id) so the broker keeps messages while the gateway restarts;
``gateway/{instance}/status`` is retained ``online`` with last will ``offline``.
"""

from __future__ import annotations

import logging
import queue
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, cast
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

if TYPE_CHECKING:  # the receiver process imports this module, and never pydantic
    from gateway.settings import Settings

log = logging.getLogger(__name__)


class Inbound(NamedTuple):
    """One message as paho delivered it (a named tuple: the cheapest immutable record to build)."""

    topic: str
    payload: bytes
    received_ns: int
    mid: int
    qos: int


class MessageSource(Protocol):
    """Where the pipeline takes messages from, and tells when they are safe."""

    def get_batch(self, max_items: int, timeout_s: float) -> list[Inbound]: ...

    def ack(self, items: Sequence[Inbound]) -> None: ...

    @property
    def depth(self) -> int: ...

    def oldest_ns(self) -> int | None:
        """When the oldest message still waiting to be taken was received; None when none waits."""


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None: ...


class QueueSource:
    """A bounded hand-off queue; the in-memory fake of the MQTT side is this plus ``put``."""

    def __init__(self, maxsize: int, on_overflow: Callable[[], None] = lambda: None) -> None:
        self._queue: queue.Queue[Inbound] = queue.Queue(maxsize=maxsize)
        self._on_overflow = on_overflow
        self.acked: list[int] = []

    def put(self, item: Inbound) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._on_overflow()
            self._queue.put(item)  # wait: nothing is dropped

    def get_batch(self, max_items: int, timeout_s: float) -> list[Inbound]:
        """The first message waits up to ``timeout_s``; the rest are what is already queued."""
        try:
            items = [self._queue.get(timeout=timeout_s)]
        except queue.Empty:
            return []
        # The rest in one go under the queue's own lock (a get_nowait each cost ~1 µs a message).
        q = self._queue
        with q.mutex:
            more = min(max_items - 1, len(q.queue))
            items.extend(q.queue.popleft() for _ in range(more))
            if more:
                q.not_full.notify_all()  # a producer waiting on a full queue may go on
        return items

    def put_many(self, items: Sequence[Inbound], stopped: Callable[[], bool]) -> None:
        """Hand over a batch in one go, waiting while the queue is full (until ``stopped``).
        Not counted as an overflow: whoever filled the batch counts its own waits."""
        q = self._queue
        with q.not_full:
            while len(q.queue) >= q.maxsize and not stopped():
                q.not_full.wait(0.5)
            q.queue.extend(items)
            q.not_empty.notify()

    def ack(self, items: Sequence[Inbound]) -> None:
        self.acked.extend(i.mid for i in items)

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def oldest_ns(self) -> int | None:
        q = self._queue
        with q.mutex:
            return q.queue[0].received_ns if q.queue else None


class ConnectionState:
    """Connected means subscribed (or a kept session): ``connected`` and ``wait_connected``."""

    def __init__(self) -> None:
        self._connected = threading.Event()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)


@dataclass(frozen=True)
class BrokerAddress:
    """Where the broker is and how to log in: what ``configure`` sets on a paho client. The
    password is never in ``repr`` (nor in a log line); it reaches a receiver process through its
    pipe, never its command line."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: Path | None = None  # None with tls: the system's certificate authorities
    cert_file: Path | None = None
    key_file: Path | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """``mqtt[s]://[user[:password]@]host[:port]``; user and password percent-decoded, so one
        holding ``@ : / # %`` is written ``%40 %3A %2F %23 %25``. mqtts: TLS, port 8883 by default."""
        parts = urlsplit(url)
        user = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        tls = parts.scheme == "mqtts"
        port = parts.port or (8883 if tls else 1883)
        return cls(parts.hostname or "127.0.0.1", port, user, password, tls)

    @classmethod
    def from_settings(cls, settings: Settings) -> BrokerAddress:
        """The URL with the TLS files and the password file of the settings (read now, once)."""
        address = cls.parse(settings.mqtt_url)
        password = address.password
        if settings.mqtt_password_file is not None:
            password = settings.mqtt_password_file.read_text(encoding="utf-8").rstrip("\r\n")
        return replace(
            address,
            password=password,
            ca_file=settings.mqtt_ca_file,
            cert_file=settings.mqtt_cert_file,
            key_file=settings.mqtt_key_file,
        )

    def configure(self, client: mqtt.Client) -> None:
        """Log in as the user, and over TLS verify the broker's certificate and host name."""
        if self.username:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            # paho's defaults: TLS 1.2 or later, CERT_REQUIRED and check_hostname (host name
            # verified against the certificate, an IP address too), nothing insecure.
            client.tls_set(
                ca_certs=_path(self.ca_file), certfile=_path(self.cert_file), keyfile=_path(self.key_file)
            )

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def _superseded(subscriptions: Sequence[str]) -> list[str]:
    """The filters earlier versions subscribed to for the device topics, five levels exactly
    (``estate/+/+/+/+``, ``estate/{estate}/+/+/+``), now covered by ``estate/#``-style ones."""
    out = []
    for topic in subscriptions:
        levels = topic.split("/")
        if levels[0] == "estate" and levels[-1] == "#" and len(levels) <= 5:
            out.append("/".join([*levels[:-1], *["+"] * (6 - len(levels))]))
    return out


def _path(path: Path | None) -> str | None:
    return None if path is None else str(path)


def redacted(url: str) -> str:
    """The URL as it may be logged or shown: the password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{parts.username}:***@{host}").geturl()


class _ReadAhead:
    """paho's socket, read ahead: one ``recv`` of up to 64 KiB serves the many small reads paho
    makes for each packet (the command byte, the length bytes one by one, then the rest), which
    it otherwise makes as one system call each. ``pending()`` is how paho learns that bytes wait
    here though the socket has none; over TLS it adds what the TLS socket holds decrypted (paho
    asks ``pending()`` of TLS sockets for that). All else is the socket's.
    """

    def __init__(
        self, sock: Any, size: int = 65_536, on_error: Callable[[OSError], None] | None = None
    ) -> None:
        self._sock = sock
        self._size = size
        self._on_error = on_error
        tls_pending: Callable[[], int] | None = getattr(sock, "pending", None)
        if tls_pending is not None:  # a plain socket has none: it pays no call per packet
            self.pending = lambda: len(self._buffer) - self._position + tls_pending()  # type: ignore[method-assign]
        self._buffer = b""
        self._position = 0

    def recv(self, bufsize: int) -> bytes:
        buffer, position = self._buffer, self._position
        if position >= len(buffer):
            try:
                buffer = cast(bytes, self._sock.recv(max(bufsize, self._size)))
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                raise  # paho's: nothing to read yet
            except OSError as exc:  # e.g. TLS 1.3: the broker wanted a client certificate
                if self._on_error is not None:
                    self._on_error(exc)  # paho only says "Unspecified error"
                raise
            self._buffer, position = buffer, 0
            if not buffer:
                return buffer  # the broker closed the connection
        chunk = buffer[position : position + bufsize]
        self._position = position + len(chunk)
        return chunk

    def pending(self) -> int:
        return len(self._buffer) - self._position

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _Paho(mqtt.Client):
    """paho's client with reads ahead and acknowledgements in one write.

    Measured on a 100,000-message backlog (``docs/benchmarks.md``): stock paho costs ~57 µs of
    CPU a message with manual acknowledgement; this ~20 µs. Two hooks into paho 2.x internals,
    pinned by ``paho-mqtt<3`` and covered by the tests against mosquitto: the socket paho makes
    (``_create_socket``) and the outgoing packet queue (``_packet_queue``)."""

    _read_ahead: _ReadAhead | None = None
    #: Told why a connection attempt failed (paho retries and only says that one did).
    on_socket_error: Callable[[OSError], None] | None = None

    def reconnect(self) -> MQTTErrorCode:
        try:
            return super().reconnect()
        except OSError as exc:  # refused, unreachable, or TLS: a certificate that does not verify
            if self.on_socket_error is not None:
                self.on_socket_error(exc)
            raise

    def _create_socket(self) -> Any:
        self._read_ahead = _ReadAhead(super()._create_socket(), on_error=self.on_socket_error)
        return self._read_ahead

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Read every packet already read ahead, not one per ``select`` as paho would."""
        rc = super().loop_read(max_packets)
        ahead = self._read_ahead
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and ahead is not None and ahead.pending():
            rc = super().loop_read(max_packets)
        return rc

    def ack_many(self, mids: Sequence[int]) -> None:
        """PUBACK each of ``mids`` (QoS 1), all in one packet write and one wake-up of paho's
        loop; ``ack()`` costs a write and a wake-up each."""
        if mids:
            pubacks = b"".join([_PUBACK.pack(mqtt.PUBACK, 2, mid) for mid in mids])
            self._packet_queue(mqtt.PUBACK, pubacks, 0, 1)


_PUBACK = struct.Struct("!BBH")


class MqttClient(QueueSource, ConnectionState):
    """The gateway's MQTT connection: subscribe, hand off, acknowledge, publish."""

    def __init__(
        self,
        broker: BrokerAddress | str,
        instance: str,
        subscriptions: Sequence[str],
        *,
        queue_size: int,
        on_overflow: Callable[[], None] = lambda: None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        QueueSource.__init__(self, queue_size, on_overflow)
        ConnectionState.__init__(self)
        self.address = BrokerAddress.parse(broker) if isinstance(broker, str) else broker
        self.status_topic = f"gateway/{instance}/status"
        self._subscriptions = list(subscriptions)
        self._clock_ns = clock_ns
        self._last_failure = ""
        self._last_ns = 0
        self._stopping = False
        self._client = _Paho(
            CallbackAPIVersion.VERSION2,
            client_id=f"estate-gateway-{instance}",
            clean_session=False,
            manual_ack=True,
        )
        self.address.configure(self._client)
        self._client.on_socket_error = self._on_socket_error
        self._client.will_set(self.status_topic, b"offline", qos=1, retain=True)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.max_queued_messages_set(0)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_publish = self._on_publish
        #: Message ids published and not yet acknowledged by the broker (``sync``), and ids whose
        #: acknowledgement came before ``publish`` had recorded them.
        self._published = threading.Condition()
        self._outstanding: set[int] = set()
        self._early: set[int] = set()

    # paho callbacks: convert and enqueue, never raise.
    def _on_socket_error(self, exc: OSError) -> None:
        """Why a connection failed or broke, said once until it fails otherwise or connects: paho
        only retries (with backoff), or says "Unspecified error" (a refused TLS client)."""
        why = f"{type(exc).__name__}: {exc}"
        if why != self._last_failure:
            self._last_failure = why
            log.warning("MQTT connection to %s failed: %s; retrying with backoff", self.address, why)

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT connection refused by %s: %s", self.address, reason)
            return
        self._last_failure = ""
        log.info("MQTT connected to %s", self.address)
        self.publish(self.status_topic, b"online", qos=1, retain=True)
        if superseded := _superseded(self._subscriptions):
            # A session kept from an earlier version holds its filter too: both would deliver
            # every message (mosquitto sends a copy per matching subscription).
            client.unsubscribe(superseded)
        if self._subscriptions:
            client.subscribe([(topic, 1) for topic in self._subscriptions])
        if not self._subscriptions or flags.session_present:
            # A session the broker kept holds its subscriptions already; its backlog arrives
            # before the new SUBACK, so waiting for that would read "disconnected" for as long
            # as a backlog takes to drain (seconds to minutes after an outage).
            self._connected.set()

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, reasons: list[Any], _p: Any) -> None:
        # Connected means subscribed: before the SUBACK a device's message can reach the broker
        # first and, for a new session, be lost to the gateway (a test that waited for the
        # CONNACK alone missed its readings under load).
        refused = [topic for topic, r in zip(self._subscriptions, reasons, strict=False) if r.is_failure]
        if refused:
            log.error("MQTT broker refused the subscription(s) %s", ", ".join(refused))
        self._connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._connected.clear()
        if self._stopping:
            log.info("MQTT disconnected (stopping)")
        else:
            log.warning("MQTT disconnected (%s); paho reconnects with backoff", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.put(Inbound(msg.topic, bytes(msg.payload), self._stamp(), msg.mid, msg.qos))

    def _stamp(self) -> int:
        """The receive time, strictly increasing: a reading without ``ts`` is stored at it, and two
        of one device at the same time would be one point (InfluxDB keeps one per series and time)."""
        ns = self._clock_ns()
        if ns <= self._last_ns:
            ns = self._last_ns + 1
        self._last_ns = ns
        return ns

    def ack(self, items: Sequence[Inbound]) -> None:
        self.ack_ids([(item.mid, item.qos) for item in items])

    def ack_ids(self, ids: Iterable[tuple[int, int]]) -> None:
        """Acknowledge by (mid, qos), as the receiver process is told to."""
        qos1 = []
        for mid, qos in ids:
            if qos == 1:
                qos1.append(mid)
            elif qos > 1:
                self._client.ack(mid, qos)
        self._client.ack_many(qos1)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Every publish goes through here, the status too: an acknowledgement of one that was not
        tracked would sit in ``_early`` and, once paho's message ids wrap, pass for another's."""
        mid = self._client.publish(topic, payload, qos=qos, retain=retain).mid
        with self._published:  # on_publish may have come first (never hold our lock in publish())
            if mid in self._early:
                self._early.discard(mid)
            else:
                self._outstanding.add(mid)

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        with self._published:
            if mid in self._outstanding:
                self._outstanding.discard(mid)
                self._published.notify_all()
            else:
                self._early.add(mid)

    def sync(self, timeout_s: float) -> bool:
        """Wait until the broker has acknowledged every message published so far (QoS 1; QoS 0
        ones once written); False after ``timeout_s``. What was not acknowledged is still in
        paho's hands: it is sent again after a reconnect, never dropped."""
        with self._published:
            waiting = set(self._outstanding)
            return self._published.wait_for(lambda: waiting.isdisjoint(self._outstanding), timeout_s)

    def start(self) -> None:
        self._client.connect_async(self.address.host, self.address.port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        """Say ``offline`` (a clean stop does not trigger the last will) and disconnect."""
        self._stopping = True
        if self.connected:
            self.publish(self.status_topic, b"offline", qos=1, retain=True)
            self.sync(5)
        self._client.disconnect()
        self._client.loop_stop()
