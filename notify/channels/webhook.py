"""A generic webhook: the alert or work-order JSON (or a digest) POSTed as UTF-8 JSON, signed
``{header}: sha256=<hex HMAC-SHA256 of the exact body with the secret>``, with the event id in
``X-Estate-Event``; a receiver drops an event id it has seen (a restart may repeat the message that
was in flight). 2xx is delivered; 5xx, 429 and connection trouble are retried; 401/403 mean the
secret is wrong (the channel is broken); any other 4xx refuses that message.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

from devices.notifications import WebhookChannel
from notify.channels.base import Broken, Message, Rejected, Transient


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhook:
    type = "webhook"

    def __init__(self, config: WebhookChannel, secret: str) -> None:
        self.id, self.config, self._secret = config.id, config, secret
        self._client = httpx.Client(timeout=config.timeout_s)

    def send(self, message: Message) -> None:
        body = json.dumps(dict(message.body), ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            self.config.header: signature(self._secret, body),
            "X-Estate-Event": str(message.body.get("event_id", "")),
        }
        try:
            response = self._client.post(self.config.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise Transient(f"timed out: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            raise Transient(f"cannot connect: {type(exc).__name__}") from None
        status = response.status_code
        if status < 300:
            return
        if status >= 500 or status == 429:
            raise Transient(f"HTTP {status}")
        if status in (401, 403):
            raise Broken(f"HTTP {status}: the receiver refused the signature")
        raise Rejected(f"HTTP {status}")

    def close(self) -> None:
        self._client.close()
