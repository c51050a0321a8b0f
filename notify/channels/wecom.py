"""WeCom (企业微信) group robot: ``POST {url}?key=KEY`` with ``msgtype`` ``markdown`` or ``text``.

Only ``text`` messages carry ``mentioned_mobile_list``, so a critical alarm with mobiles to
mention goes as text. The answer is ``{"errcode": 0, "errmsg": "ok"}``; a robot takes 20 messages a
minute and answers 45009 beyond it. A key that is wrong or revoked answers 93000 ("invalid
webhook url") or one of the 400xx credential codes.
"""

from __future__ import annotations

from typing import Any

import httpx

from devices.notifications import WecomChannel
from notify.channels.base import Broken, Message, Rejected, Transient, mentions, post_json, vendor_json

#: Over the robot's rate limit: wait for the minute to pass.
TOO_FAST = frozenset({45009})
#: The key (the robot's webhook) is wrong, revoked, or the robot was removed from the group.
BAD_KEY = frozenset({93000, 40001, 40014, 42001, 93004})
#: WeCom's limits on content, in UTF-8 bytes.
MARKDOWN_MAX, TEXT_MAX = 4096, 2048


def payload(message: Message, msgtype: str, mobiles: list[str]) -> dict[str, Any]:
    if mobiles:
        content = _cut(f"{message.title}\n{message.text}", TEXT_MAX)
        return {"msgtype": "text", "text": {"content": content, "mentioned_mobile_list": mobiles}}
    if msgtype == "text":
        return {"msgtype": "text", "text": {"content": _cut(f"{message.title}\n{message.text}", TEXT_MAX)}}
    return {
        "msgtype": "markdown",
        "markdown": {"content": _cut(f"**{message.title}**\n{message.text}", MARKDOWN_MAX)},
    }


def _cut(text: str, limit: int) -> str:
    data = text.encode()
    return text if len(data) <= limit else data[: limit - 3].decode(errors="ignore") + "…"


class Wecom:
    type = "wecom"

    def __init__(self, config: WecomChannel, key: str) -> None:
        self.id, self.config, self._key = config.id, config, key
        self._client = httpx.Client(timeout=config.timeout_s)

    def send(self, message: Message) -> None:
        body = payload(message, self.config.msgtype, mentions(message, self.config.mention_mobiles))
        answer = vendor_json(post_json(self._client, self.config.url, body, params={"key": self._key}))
        code, why = answer.get("errcode"), str(answer.get("errmsg", ""))[:200]
        if code == 0:
            return
        if code in TOO_FAST:
            raise Transient(f"WeCom {code}: {why}", retry_after_s=60.0)
        if code in BAD_KEY:
            raise Broken(f"WeCom {code}: {why}")
        raise Rejected(f"WeCom {code}: {why}")

    def close(self) -> None:
        self._client.close()
