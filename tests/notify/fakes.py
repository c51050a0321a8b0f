"""Local stand-ins for the vendors, on 127.0.0.1, enforcing each API's documented contract:
WeCom and DingTalk group robots (key or token, signature, body shape, 20 messages a minute with
the vendor's error code beyond it), Alibaba Cloud SendSms (RPC signature V2, template variables
of at most 20 characters), a signed webhook receiver, and SMTP with STARTTLS and login (aiosmtpd).

Each fake records what it accepted and what it refused, and counts against its own ``now`` (a
test's manual clock, or the wall), so a storm test runs without waiting for minutes to pass.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import subprocess
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.servers import free_port

Now = Callable[[], datetime]
Answer = tuple[int, dict[str, Any]]


def wall() -> datetime:
    return datetime.now(UTC)


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: datetime | None = None

    def json(self) -> Any:
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away (a killed gateway) before its answer: expected here


class FakeHttp:
    """A tiny HTTP server; ``answer(request)`` decides. ``stop()`` then ``start()`` again on the
    same port simulates an outage (connection refused meanwhile)."""

    def __init__(self, now: Now = wall) -> None:
        self.now = now
        self.port = 0
        self.requests: list[Request] = []
        self.accepted: list[Request] = []
        self.refused: list[tuple[Request, Any]] = []
        self.fail_with: int | None = None  # answer every request with this HTTP status (5xx)
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeHttp:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                length = int(self.headers.get("Content-Length", "0"))
                request = Request(parts.path, query, dict(self.headers.items()), self.rfile.read(length))
                status, body = fake.handle(request)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def handle(self, request: Request) -> Answer:
        with self._lock:
            request.at = self.now()
            self.requests.append(request)
            if self.fail_with is not None:
                return self.fail_with, {"error": "server error"}
            status, body = self.answer(request)
            (
                self.accepted.append(request)
                if status == 200 and self.ok(body)
                else self.refused.append((request, body))
            )
            return status, body

    def ok(self, body: dict[str, Any]) -> bool:
        return body.get("errcode", 0) == 0

    def answer(self, request: Request) -> Answer:
        return 200, {}


class SlidingLimit:
    """N requests in any 60 s, as the robots count."""

    def __init__(self, per_min: int) -> None:
        self.per_min, self._times = per_min, deque[datetime]()

    def allow(self, now: datetime) -> bool:
        while self._times and self._times[0] <= now - timedelta(seconds=60):
            self._times.popleft()
        if len(self._times) >= self.per_min:
            return False
        self._times.append(now)
        return True


class FakeWecom(FakeHttp):
    """``POST /cgi-bin/webhook/send?key=KEY``: 93000 for a wrong key, 45009 past 20 a minute,
    40008/40058 for a body that is not a text or markdown message within WeCom's byte limits."""

    def __init__(self, key: str, now: Now = wall, per_min: int = 20) -> None:
        super().__init__(now)
        self.key, self.limit = key, SlidingLimit(per_min)

    def answer(self, request: Request) -> Answer:
        if request.path != "/cgi-bin/webhook/send" or request.query.get("key") != self.key:
            return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
        if not self.limit.allow(self.now()):
            return 200, {"errcode": 45009, "errmsg": "api freq out of limit"}
        body = request.json()
        kind = body.get("msgtype")
        if kind not in ("text", "markdown") or not isinstance(body.get(kind), dict):
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}
        content = body[kind].get("content", "")
        if not content or len(content.encode()) > (2048 if kind == "text" else 4096):
            return 200, {"errcode": 40058, "errmsg": "content exceed max length"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    def contents(self) -> list[str]:
        out = []
        for r in self.accepted:
            body = r.json()
            out.append(body[body["msgtype"]]["content"])
        return out


def ding_sign(secret: str, timestamp: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class FakeDingtalk(FakeHttp):
    """``POST /robot/send?access_token=…&timestamp=…&sign=…``: 300001 for an unknown token,
    310000 for a missing, stale (over an hour) or wrong signature, 130101 past 20 a minute."""

    def __init__(self, token: str, secret: str, now: Now = wall, per_min: int = 20) -> None:
        super().__init__(now)
        self.token, self.secret, self.limit = token, secret, SlidingLimit(per_min)

    def answer(self, request: Request) -> Answer:
        q = request.query
        if request.path != "/robot/send" or q.get("access_token") != self.token:
            return 200, {"errcode": 300001, "errmsg": "token is not exist"}
        timestamp, sign = q.get("timestamp", ""), q.get("sign", "")
        if not timestamp.isdigit() or abs(int(timestamp) - self.now().timestamp() * 1000) > 3_600_000:
            return 200, {"errcode": 310000, "errmsg": "invalid timestamp"}
        if not hmac.compare_digest(sign, ding_sign(self.secret, timestamp)):
            return 200, {"errcode": 310000, "errmsg": "sign not match"}
        if not self.limit.allow(self.now()):
            return 200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
        body = request.json()
        md = body.get("markdown") if body.get("msgtype") == "markdown" else None
        if not isinstance(md, dict) or not md.get("title") or not md.get("text"):
            return 200, {"errcode": 40035, "errmsg": "missing parameter"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    def texts(self) -> list[str]:
        return [r.json()["markdown"]["text"] for r in self.accepted]


def percent(value: str) -> str:
    return quote(value, safe="~")


def aliyun_signature(secret: str, params: dict[str, str]) -> str:
    query = "&".join(f"{percent(k)}={percent(params[k])}" for k in sorted(params) if k != "Signature")
    to_sign = f"POST&{percent('/')}&{percent(query)}"
    return base64.b64encode(hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


SMS_REQUIRED = (
    "AccessKeyId", "Action", "Format", "PhoneNumbers", "RegionId", "SignName", "SignatureMethod",
    "SignatureNonce", "SignatureVersion", "TemplateCode", "Timestamp", "Version", "Signature",
)  # fmt: skip


class FakeAliyunSms(FakeHttp):
    """Alibaba Cloud ``SendSms`` (RPC, form-encoded POST): every common parameter present, the V2
    signature right, the nonce unused, the timestamp within 15 minutes, the template known and each
    ``TemplateParam`` variable a string of at most 20 characters."""

    def __init__(self, key_id: str, key_secret: str, template: str, now: Now = wall) -> None:
        super().__init__(now)
        self.key_id, self.key_secret, self.template = key_id, key_secret, template
        self.nonces: set[str] = set()

    def ok(self, body: dict[str, Any]) -> bool:
        return body.get("Code") == "OK"

    def answer(self, request: Request) -> Answer:  # noqa: PLR0911 - one answer per documented error
        p = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        if missing := [k for k in SMS_REQUIRED if k not in p]:
            return 400, {"Code": "MissingParameter", "Message": f"missing {missing[0]}"}
        if p["Action"] != "SendSms" or p["Version"] != "2017-05-25" or p["SignatureMethod"] != "HMAC-SHA1":
            return 400, {"Code": "InvalidParameter", "Message": "Action, Version or SignatureMethod"}
        if p["AccessKeyId"] != self.key_id:
            return 404, {
                "Code": "InvalidAccessKeyId.NotFound",
                "Message": "Specified access key is not found.",
            }
        if not hmac.compare_digest(p["Signature"], aliyun_signature(self.key_secret, p)):
            return 400, {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched"}
        stamp = datetime.strptime(p["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if abs(stamp - self.now()) > timedelta(minutes=15):
            return 400, {"Code": "InvalidTimeStamp.Expired", "Message": "timestamp expired"}
        if p["SignatureNonce"] in self.nonces:
            return 400, {"Code": "SignatureNonceUsed", "Message": "nonce used"}
        self.nonces.add(p["SignatureNonce"])
        if p["TemplateCode"] != self.template:
            return 200, {"Code": "isv.SMS_TEMPLATE_ILLEGAL", "Message": "template illegal"}
        variables = json.loads(p.get("TemplateParam") or "{}")
        if any(not isinstance(v, str) or len(v) > 20 for v in variables.values()):
            return 200, {"Code": "isv.PARAM_LENGTH_LIMIT", "Message": "variable longer than 20"}
        return 200, {"Code": "OK", "Message": "OK", "BizId": "900619746936498440^0", "RequestId": "F655A8D5"}

    def params(self) -> list[dict[str, str]]:
        return [{k: v[0] for k, v in parse_qs(r.body.decode()).items()} for r in self.accepted]


class FakeWebhook(FakeHttp):
    """Accepts a JSON POST only with ``X-Estate-Signature: sha256=<HMAC of the body>`` (401 otherwise)."""

    def __init__(self, secret: str, now: Now = wall) -> None:
        super().__init__(now)
        self.secret = secret

    def ok(self, body: dict[str, Any]) -> bool:
        return True

    def answer(self, request: Request) -> Answer:
        want = "sha256=" + hmac.new(self.secret.encode(), request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Estate-Signature", ""), want):
            return 401, {"error": "bad signature"}
        request.json()
        return 200, {"ok": True}


# -- SMTP -----------------------------------------------------------------------------------------


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (openssl), to serve STARTTLS and verify it."""
    cert, key = tmp / "smtp.pem", tmp / "smtp.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass
class FakeSmtp:
    """aiosmtpd with STARTTLS required before AUTH and MAIL, and one user."""

    cert: Path
    key: Path
    user: str
    password: str
    messages: list[Any] = field(default_factory=list)
    port: int = 0

    def start(self) -> FakeSmtp:
        fake = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                fake.messages.append(envelope)
                return "250 OK"

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            good = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == (
                fake.user,
                fake.password,
            )
            return AuthResult(success=good, handled=False)

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        self.port = free_port()
        self._controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            authenticator=authenticate,
            auth_require_tls=True,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
