"""A paced QoS 1 load that costs the machine almost nothing: ``python -m benchmarks.mqtt_blast``.

On two cores the load generator competes with the gateway it loads. ``estate-sim load`` (paho,
payloads built through the device models) costs ~60 µs of CPU a message and reached 2,774 msg/s
beside a busy gateway; the alert-latency benchmark asks for half the drain rate (~11,000 msg/s).
This publisher encodes the MQTT 3.1.1 packets itself, once: a pool of valid messages of the city's
devices (as ``ingest_drain`` makes them) becomes PUBLISH packets that are written in bursts of
many to the socket, and the broker's PUBACKs are counted by the byte (each is 4 bytes). At most
``WINDOW`` messages are unacknowledged; packet ids cycle through 1–65,535.

A benchmark tool, not product code: the gateway speaks MQTT through paho-mqtt only.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import threading
import time
from pathlib import Path

from benchmarks.ingest_drain import make_messages

WINDOW = 10_000  # unacknowledged messages at most (well under the 65,535 packet ids)
TICK_S = 0.005  # one burst every 5 ms


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: bytes) -> bytes:
    return struct.pack("!H", len(s)) + s


def connect_packet(client_id: str, keepalive: int = 60) -> bytes:
    """CONNECT, MQTT 3.1.1, clean session."""
    body = _string(b"MQTT") + bytes([4, 0x02]) + struct.pack("!H", keepalive) + _string(client_id.encode())
    return b"\x10" + _remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes, mid: int) -> bytes:
    """PUBLISH at QoS 1 with packet id ``mid``."""
    body = _string(topic.encode()) + struct.pack("!H", mid) + payload
    return b"\x32" + _remaining_length(len(body)) + body


class Blaster:
    """Publishes ``packets`` (cycled) at ``rate`` a second over one connection."""

    def __init__(self, host: str, port: int, messages: list[tuple[str, bytes]], client_id: str) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(connect_packet(client_id))
        connack = self.sock.recv(4)
        if len(connack) != 4 or connack[0] != 0x20 or connack[3] != 0:
            raise RuntimeError(f"the broker refused the connection: {connack!r}")
        # One packet per message, its id its place in the pool (mod 65,535): ids repeat only a
        # pool later, far past the window.
        self.packets = [publish_packet(t, p, n % 65_535 + 1) for n, (t, p) in enumerate(messages)]
        self.sent = 0
        self.acked_bytes = 0
        self._reader = threading.Thread(target=self._read_acks, daemon=True)
        self._reader.start()

    @property
    def acked(self) -> int:
        return self.acked_bytes // 4  # PUBACK: 0x40 0x02 and the packet id

    def _read_acks(self) -> None:
        while True:
            try:
                data = self.sock.recv(65_536)
            except OSError:
                return
            if not data:
                return
            self.acked_bytes += len(data)

    def run(self, rate: float, duration_s: float) -> float:
        """Publish for ``duration_s`` seconds; wait up to 10 s for the acks; seconds taken."""
        total = int(rate * duration_s)
        pool = len(self.packets)
        start = time.monotonic()
        while self.sent < total:
            due = min(total, int((time.monotonic() - start) * rate) + 1)
            due = min(due, self.acked + WINDOW)
            if due > self.sent:
                burst = [self.packets[n % pool] for n in range(self.sent, due)]
                self.sock.sendall(b"".join(burst))
                self.sent = due
            time.sleep(TICK_S)  # pacing a load generator, not a test waiting for time
        deadline = time.monotonic() + 10
        while self.acked < self.sent and time.monotonic() < deadline:
            time.sleep(0.01)
        seconds = time.monotonic() - start
        self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        self.sock.close()
        return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--inventory", required=True, help="the city inventory (devices to speak for)")
    parser.add_argument("--rate", type=float, required=True, help="messages a second")
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    parser.add_argument("--pool", type=int, default=50_000, help="distinct messages, cycled")
    parser.add_argument("--seed", type=int, default=2)
    args = parser.parse_args(argv)
    messages, _ = make_messages(Path(args.inventory), args.pool, args.seed)
    blaster = Blaster(args.host, args.port, messages, client_id=f"bench-blast-{args.seed}")
    print("ready", flush=True)
    seconds = blaster.run(args.rate, args.duration)
    rate = blaster.acked / seconds if seconds else 0.0
    print(
        f"sent {blaster.sent:,} · acknowledged {blaster.acked:,} · {seconds:.1f} s"
        f" · {rate:,.0f} msg/s achieved"
    )
    return 0 if blaster.acked == blaster.sent else 1


if __name__ == "__main__":
    sys.exit(main())
