"""What every channel shares: the message it sends, the errors it raises, the secrets it reads.

A channel is small: ``send(message)`` returns when the vendor accepted it and raises one of three
errors otherwise, which decide what the notifier does next:

* :class:`Transient`: try again later (5xx, timeouts, connection refused, the vendor's
  "too fast" codes such as WeCom 45009 and DingTalk 130101, with ``retry_after_s``);
* :class:`Broken`: the channel cannot work until someone fixes it (a wrong key, token or
  signature): the notifier raises ``notify.channel_failed`` once and keeps the messages;
* :class:`Rejected`: this one message was refused (too long, a template variable refused):
  it is recorded as failed and the channel goes on.

Error texts never carry a secret: a channel builds them from the vendor's code and message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from devices.base import Severity


@dataclass(frozen=True)
class Message:
    """One notification as words, ready for any channel: a single event or a digest of many."""

    title: str  # one line, e.g. 【紧急】朝阳小区 1号楼 电梯困人
    text: str  # a few lines of markdown (robots, e-mail)
    severity: Severity
    link: str  # the alarm (or the alarm list) in the console
    #: Short template variables for SMS (each at most 20 characters).
    variables: Mapping[str, str] = field(default_factory=dict)
    #: The JSON a webhook receives: the alert or work order, or a digest listing their event ids.
    body: Mapping[str, Any] = field(default_factory=dict)
    #: People on duty the route named (names), and their mobiles and addresses: robots @-mention
    #: the mobiles, SMS goes to them, e-mail to the addresses, in place of the channel's own lists.
    to: tuple[str, ...] = ()
    mobiles: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()

    @property
    def critical(self) -> bool:
        return self.severity is Severity.CRITICAL


def mentions(message: Message, configured: Sequence[str]) -> list[str]:
    """Whom a robot @-mentions: the people on duty the route named, and for a critical alarm the
    channel's own ``mention_mobiles``."""
    return list(dict.fromkeys([*message.mobiles, *(configured if message.critical else ())]))


class ChannelError(Exception):
    """A send that did not go through; ``str()`` is safe to log and show (no secret)."""


class Transient(ChannelError):
    def __init__(self, why: str, retry_after_s: float | None = None) -> None:
        super().__init__(why)
        self.retry_after_s = retry_after_s


class Broken(ChannelError):
    pass


class Rejected(ChannelError):
    pass


class Channel(Protocol):
    id: str
    type: str

    def send(self, message: Message) -> None: ...

    def close(self) -> None: ...


class MissingSecret(ValueError):
    """An environment variable a channel names is not set (start-up refuses)."""


def secret(env: Mapping[str, str], name: str, channel: str) -> str:
    value = env.get(name, "")
    if not value:
        raise MissingSecret(f"notification channel {channel!r}: environment variable {name} is not set")
    return value


def post_json(client: httpx.Client, url: str, body: Mapping[str, Any], **kw: Any) -> httpx.Response:
    """POST ``body``; connection trouble and 5xx are :class:`Transient`, other non-2xx answers
    :class:`Rejected` (the caller reads the vendor's own codes first where it has them)."""
    try:
        response = client.post(url, json=body, **kw)
    except httpx.TimeoutException as exc:
        raise Transient(f"timed out: {type(exc).__name__}") from None
    except httpx.TransportError as exc:
        raise Transient(f"cannot connect: {type(exc).__name__}") from None
    if response.status_code >= 500 or response.status_code == 429:
        raise Transient(f"HTTP {response.status_code}")
    return response


def vendor_json(response: httpx.Response) -> dict[str, Any]:
    """The JSON answer of a vendor API; an answer that is not JSON is a server problem."""
    try:
        body = response.json()
    except ValueError:
        raise Transient(f"HTTP {response.status_code}, not JSON") from None
    if not isinstance(body, dict):
        raise Transient(f"HTTP {response.status_code}, unexpected JSON")
    return body
