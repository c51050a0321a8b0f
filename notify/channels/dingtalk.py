"""DingTalk (钉钉) custom robot: ``POST {url}?access_token=…&timestamp=…&sign=…``.

With a signing secret (加签), ``sign`` is Base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}"))
with ``timestamp`` in milliseconds, within an hour of DingTalk's clock. A critical alarm
@-mentions ``at.atMobiles`` (the mobiles must also appear in the text as ``@138…``). A robot takes
20 messages a minute: beyond it DingTalk answers 130101 and blocks the robot for 10 minutes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import httpx

from devices.notifications import DingtalkChannel
from notify.channels.base import Broken, Message, Rejected, Transient, mentions, post_json, vendor_json

TOO_FAST = frozenset({130101})
#: 310000: signature, keyword or IP check failed; 300001/300005/400102: token wrong or robot off.
BAD_KEY = frozenset({310000, 300001, 300005, 400101, 400102})
TEXT_MAX = 20000


def sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def payload(message: Message, mobiles: list[str]) -> dict[str, Any]:
    mention = bool(mobiles)
    text = f"### {message.title}\n{message.text}"
    if mention:
        text += "\n" + " ".join(f"@{m}" for m in mobiles)
    return {
        "msgtype": "markdown",
        "markdown": {"title": message.title[:64], "text": text[:TEXT_MAX]},
        "at": {"atMobiles": mobiles if mention else [], "isAtAll": False},
    }


class Dingtalk:
    type = "dingtalk"

    def __init__(
        self, config: DingtalkChannel, token: str, secret: str | None, now_ms: Callable[[], int]
    ) -> None:
        self.id, self.config = config.id, config
        self._token, self._secret, self._now_ms = token, secret, now_ms
        self._client = httpx.Client(timeout=config.timeout_s)

    def send(self, message: Message) -> None:
        params: dict[str, str | int] = {"access_token": self._token}
        if self._secret:
            timestamp = self._now_ms()
            params |= {"timestamp": timestamp, "sign": sign(self._secret, timestamp)}
        body = payload(message, mentions(message, self.config.mention_mobiles))
        answer = vendor_json(post_json(self._client, self.config.url, body, params=params))
        code, why = answer.get("errcode"), str(answer.get("errmsg", ""))[:200]
        if code == 0:
            return
        if code in TOO_FAST:
            raise Transient(f"DingTalk {code}: {why}", retry_after_s=60.0)
        if code in BAD_KEY:
            raise Broken(f"DingTalk {code}: {why}")
        raise Rejected(f"DingTalk {code}: {why}")

    def close(self) -> None:
        self._client.close()
