"""The channel types, one module each, and ``build``: config + environment → channels.

A handler table keyed by the config's ``type`` (STYLE 9); a missing secret stops start-up with
the channel and the variable named (never the value).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from devices.notifications import (
    ChannelConfig,
    DingtalkChannel,
    EmailChannel,
    SmsChannel,
    WebhookChannel,
    WecomChannel,
)
from notify.channels.base import Channel, MissingSecret, secret
from notify.channels.dingtalk import Dingtalk
from notify.channels.email import Email
from notify.channels.sms import Aliyun, Sms
from notify.channels.webhook import Webhook
from notify.channels.wecom import Wecom

__all__ = ["Channel", "MissingSecret", "build_channels"]

Now = Callable[[], datetime]
Env = Mapping[str, str]


def _wecom(c: WecomChannel, env: Env, _now: Now) -> Channel:
    return Wecom(c, secret(env, c.key_env, c.id))


def _dingtalk(c: DingtalkChannel, env: Env, now: Now) -> Channel:
    signing = secret(env, c.secret_env, c.id) if c.secret_env else None
    return Dingtalk(c, secret(env, c.token_env, c.id), signing, lambda: int(now().timestamp() * 1000))


def _webhook(c: WebhookChannel, env: Env, _now: Now) -> Channel:
    return Webhook(c, secret(env, c.secret_env, c.id))


def _sms(c: SmsChannel, env: Env, now: Now) -> Channel:
    key_id, key_secret = secret(env, c.access_key_id_env, c.id), secret(env, c.access_key_secret_env, c.id)
    return Sms(c, Aliyun(c, key_id, key_secret, now))


def _email(c: EmailChannel, env: Env, _now: Now) -> Channel:
    user = secret(env, c.user_env, c.id) if c.user_env else None
    password = secret(env, c.password_env, c.id) if c.password_env else None
    return Email(c, user, password)


_BUILDERS: dict[type, Callable[..., Channel]] = {
    WecomChannel: _wecom,
    DingtalkChannel: _dingtalk,
    WebhookChannel: _webhook,
    SmsChannel: _sms,
    EmailChannel: _email,
}


def build_channels(configs: Sequence[ChannelConfig], env: Env, now: Now) -> dict[str, Channel]:
    """Raises :class:`MissingSecret` for a secret that is not in ``env``."""
    # httpx logs every request's URL at INFO, and a robot's key or token is in its URL.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return {c.id: _BUILDERS[type(c)](c, env, now) for c in configs}
