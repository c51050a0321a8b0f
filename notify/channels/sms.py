"""SMS through a provider's template: the template code and a few variables, each at most 20
characters (providers refuse longer ones, and an SMS has no room for more).

Adding a provider: write a class with ``send(phones, template_code, variables)`` that raises the
errors of :mod:`notify.channels.base` (:class:`SmsProvider`), and select it in ``build`` by the
channel's ``provider``. The first one is Alibaba Cloud's ``SendSms`` (dysmsapi, version
2017-05-25), an RPC call signed with signature method V2: the parameters sorted, each
percent-encoded (RFC 3986), ``StringToSign = POST&%2F&`` + the encoded query,
``Signature = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol
from urllib.parse import quote

import httpx

from devices.notifications import SmsChannel
from notify.channels.base import Broken, Message, Rejected, Transient, vendor_json

VARIABLE_MAX = 20

TOO_FAST = frozenset({"isv.BUSINESS_LIMIT_CONTROL", "Throttling.User", "Throttling", "ServiceUnavailable"})
BAD_KEY = frozenset(
    {
        "InvalidAccessKeyId.NotFound",
        "InvalidAccessKeyId.Inactive",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "Forbidden.RAM",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.ACCOUNT_ABNORMAL",
        "isv.AMOUNT_NOT_ENOUGH",
    }
)


class SmsProvider(Protocol):
    def send(self, phones: Sequence[str], template_code: str, variables: Mapping[str, str]) -> None:
        """Send one templated SMS to ``phones``; raise Transient, Broken or Rejected otherwise."""
        ...

    def close(self) -> None: ...


def fit(variables: Mapping[str, str]) -> dict[str, str]:
    """Each variable cut to ``VARIABLE_MAX`` characters (an ellipsis marks a cut)."""
    return {k: v if len(v) <= VARIABLE_MAX else v[: VARIABLE_MAX - 1] + "…" for k, v in variables.items()}


def percent(value: str) -> str:
    return quote(value, safe="~")


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    query = "&".join(f"{percent(k)}={percent(params[k])}" for k in sorted(params))
    return f"{method}&{percent('/')}&{percent(query)}"


def rpc_signature(access_key_secret: str, method: str, params: Mapping[str, str]) -> str:
    key = (access_key_secret + "&").encode()
    return base64.b64encode(
        hmac.new(key, string_to_sign(method, params).encode(), hashlib.sha1).digest()
    ).decode()


class Aliyun:
    """Alibaba Cloud SendSms."""

    def __init__(self, config: SmsChannel, key_id: str, key_secret: str, now: Callable[[], datetime]) -> None:
        self.config, self._key_id, self._key_secret, self._now = config, key_id, key_secret, now
        self._client = httpx.Client(timeout=config.timeout_s)

    def send(self, phones: Sequence[str], template_code: str, variables: Mapping[str, str]) -> None:
        params = {
            "AccessKeyId": self._key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "PhoneNumbers": ",".join(phones),
            "RegionId": self.config.region,
            "SignName": self.config.sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "TemplateCode": template_code,
            "TemplateParam": json.dumps(dict(variables), ensure_ascii=False, separators=(",", ":")),
            "Timestamp": self._now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
        }
        params["Signature"] = rpc_signature(self._key_secret, "POST", params)
        try:
            response = self._client.post(self.config.url, data=params)
        except httpx.TimeoutException as exc:
            raise Transient(f"timed out: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            raise Transient(f"cannot connect: {type(exc).__name__}") from None
        if response.status_code >= 500:
            raise Transient(f"HTTP {response.status_code}")
        answer = vendor_json(response)
        code, why = str(answer.get("Code", "")), str(answer.get("Message", ""))[:200]
        if code == "OK":
            return
        if code in TOO_FAST:
            raise Transient(f"SMS {code}: {why}", retry_after_s=60.0)
        if code in BAD_KEY:
            raise Broken(f"SMS {code}: {why}")
        raise Rejected(f"SMS {code}: {why}")

    def close(self) -> None:
        self._client.close()


class Sms:
    type = "sms"

    def __init__(self, config: SmsChannel, provider: SmsProvider) -> None:
        self.id, self.config, self.provider = config.id, config, provider

    def send(self, message: Message) -> None:
        numbers = list(message.mobiles) or self.config.phone_numbers  # on duty, else the channel's
        self.provider.send(numbers, self.config.template_code, fit(message.variables))

    def close(self) -> None:
        self.provider.close()
