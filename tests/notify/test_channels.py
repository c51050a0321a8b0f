"""Each channel against its local fake, which enforces the vendor's contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import default
from pathlib import Path

import pytest

from devices.base import Severity
from devices.notifications import (
    DingtalkChannel,
    EmailChannel,
    SmsChannel,
    WebhookChannel,
    WecomChannel,
)
from notify.channels.base import Broken, Message, Rejected, Transient
from notify.channels.dingtalk import Dingtalk
from notify.channels.email import Email
from notify.channels.sms import Aliyun, Sms
from notify.channels.webhook import Webhook
from notify.channels.wecom import Wecom
from notify.messages import Words
from tests.notify.fakes import (
    FakeAliyunSms,
    FakeDingtalk,
    FakeSmtp,
    FakeWebhook,
    FakeWecom,
    self_signed,
)
from tests.support.servers import free_port

MOBILE = "13800001111"


def message(severity: Severity = Severity.CRITICAL, text: str = "> 位置：1号楼 · 一号楼1号梯") -> Message:
    return Message(
        "【紧急】朝阳小区 告警",
        text,
        severity,
        "http://console/#/alarm/7",
        {"estate": "朝阳小区", "place": "1号楼 · 一号楼1号梯", "alarm": "电梯困人，30 分钟内到场救援" * 2},
        {"event_id": "e1", "id": 7},
    )


@pytest.fixture
def wecom() -> Iterator[FakeWecom]:
    fake = FakeWecom("right-key").start()
    yield fake
    fake.stop()


def wecom_channel(fake: FakeWecom, key: str = "right-key", **kw: object) -> Wecom:
    config = WecomChannel.model_validate(
        {"id": "w", "type": "wecom", "url": f"{fake.url}/cgi-bin/webhook/send", "key_env": "K", **kw}
    )
    return Wecom(config, key)


def test_wecom_markdown_and_critical_mentions(wecom: FakeWecom) -> None:
    channel = wecom_channel(wecom, mention_mobiles=[MOBILE])
    channel.send(message(Severity.MAJOR))
    channel.send(message(Severity.CRITICAL))
    first, second = (r.json() for r in wecom.accepted)
    assert first["msgtype"] == "markdown" and "朝阳小区" in first["markdown"]["content"]
    assert second["msgtype"] == "text" and second["text"]["mentioned_mobile_list"] == [MOBILE]


def test_wecom_cuts_content_to_its_byte_limit(wecom: FakeWecom) -> None:
    wecom_channel(wecom).send(message(Severity.MAJOR, "告" * 3000))  # 9,000 bytes
    [sent] = wecom.accepted
    assert len(sent.json()["markdown"]["content"].encode()) <= 4096


def test_wecom_wrong_key_is_broken(wecom: FakeWecom) -> None:
    with pytest.raises(Broken, match="93000") as caught:
        wecom_channel(wecom, key="wrong-key").send(message())
    assert "wrong-key" not in str(caught.value)


def test_wecom_over_the_limit_is_transient(wecom: FakeWecom) -> None:
    channel = wecom_channel(wecom)
    for _ in range(20):
        channel.send(message(Severity.MAJOR))
    with pytest.raises(Transient, match="45009") as caught:
        channel.send(message(Severity.MAJOR))
    assert caught.value.retry_after_s == 60


def test_down_and_5xx_are_transient(wecom: FakeWecom) -> None:
    wecom.fail_with = 502
    with pytest.raises(Transient, match="502"):
        wecom_channel(wecom).send(message())
    config = WecomChannel(id="w", type="wecom", url=f"http://127.0.0.1:{free_port()}/x", key_env="K")
    with pytest.raises(Transient, match="cannot connect"):
        Wecom(config, "right-key").send(message())


@pytest.fixture
def ding() -> Iterator[FakeDingtalk]:
    fake = FakeDingtalk("tok", "SECabc").start()
    yield fake
    fake.stop()


def ding_channel(fake: FakeDingtalk, secret: str = "SECabc", token: str = "tok") -> Dingtalk:
    config = DingtalkChannel.model_validate(
        {
            "id": "d",
            "type": "dingtalk",
            "url": f"{fake.url}/robot/send",
            "token_env": "T",
            "secret_env": "S",
            "mention_mobiles": [MOBILE],
        }
    )
    return Dingtalk(config, token, secret, lambda: int(datetime.now(UTC).timestamp() * 1000))


def test_dingtalk_signed_with_at_mobiles_for_critical(ding: FakeDingtalk) -> None:
    channel = ding_channel(ding)
    channel.send(message(Severity.CRITICAL))
    channel.send(message(Severity.MINOR))
    critical, minor = (r.json() for r in ding.accepted)
    assert critical["at"]["atMobiles"] == [MOBILE] and f"@{MOBILE}" in critical["markdown"]["text"]
    assert minor["at"]["atMobiles"] == []


@pytest.mark.parametrize(
    ("secret", "token", "code"), [("SECwrong", "tok", "310000"), ("SECabc", "tok-unknown", "300001")]
)
def test_dingtalk_wrong_secret_or_token_is_broken(
    ding: FakeDingtalk, secret: str, token: str, code: str
) -> None:
    with pytest.raises(Broken, match=code) as caught:
        ding_channel(ding, secret, token).send(message())
    assert secret not in str(caught.value) and token not in str(caught.value)


def test_dingtalk_130101_is_transient(ding: FakeDingtalk) -> None:
    channel = ding_channel(ding)
    for _ in range(20):
        channel.send(message())
    with pytest.raises(Transient, match="130101"):
        channel.send(message())


@pytest.fixture
def sms() -> Iterator[FakeAliyunSms]:
    fake = FakeAliyunSms("LTAIid", "key-secret", "SMS_1234").start()
    yield fake
    fake.stop()


def sms_channel(fake: FakeAliyunSms, secret: str = "key-secret", template: str = "SMS_1234") -> Sms:
    config = SmsChannel.model_validate(
        {
            "id": "s",
            "type": "sms",
            "url": fake.url + "/",
            "access_key_id_env": "A",
            "access_key_secret_env": "B",
            "sign_name": "物业平台",
            "template_code": template,
            "phone_numbers": [MOBILE],
        }
    )
    return Sms(config, Aliyun(config, "LTAIid", secret, lambda: datetime.now(UTC)))


def test_sms_signed_template_variables_within_20(sms: FakeAliyunSms) -> None:
    sms_channel(sms).send(message())
    [params] = sms.params()
    assert params["TemplateCode"] == "SMS_1234" and params["PhoneNumbers"] == MOBILE
    variables = json.loads(params["TemplateParam"])
    assert variables["estate"] == "朝阳小区"
    assert all(len(v) <= 20 for v in variables.values()) and variables["alarm"].endswith("…")


def test_sms_wrong_secret_or_template_is_broken(sms: FakeAliyunSms) -> None:
    with pytest.raises(Broken, match="SignatureDoesNotMatch"):
        sms_channel(sms, secret="other").send(message())
    with pytest.raises(Broken, match="SMS_TEMPLATE_ILLEGAL"):
        sms_channel(sms, template="SMS_9").send(message())


def test_sms_provider_refuses_a_long_variable(sms: FakeAliyunSms) -> None:
    """The fake enforces the limit the channel keeps (the provider call alone, without ``fit``)."""
    with pytest.raises(Rejected, match="PARAM_LENGTH_LIMIT"):
        sms_channel(sms).provider.send([MOBILE], "SMS_1234", {"alarm": "x" * 21})


@pytest.fixture
def hook() -> Iterator[FakeWebhook]:
    fake = FakeWebhook("hook-secret").start()
    yield fake
    fake.stop()


def webhook_channel(fake: FakeWebhook, secret: str = "hook-secret") -> Webhook:
    config = WebhookChannel(id="h", type="webhook", url=fake.url + "/in", secret_env="H")
    return Webhook(config, secret)


def test_webhook_signed_json_with_the_event_id(hook: FakeWebhook) -> None:
    webhook_channel(hook).send(message())
    [request] = hook.accepted
    assert request.json() == {"event_id": "e1", "id": 7} and request.headers["X-Estate-Event"] == "e1"


def test_webhook_wrong_secret_is_broken_5xx_transient(hook: FakeWebhook) -> None:
    with pytest.raises(Broken, match="401"):
        webhook_channel(hook, "nope").send(message())
    hook.fail_with = 503
    with pytest.raises(Transient, match="503"):
        webhook_channel(hook).send(message())


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp(cert: tuple[Path, Path]) -> Iterator[FakeSmtp]:
    fake = FakeSmtp(*cert, user="pager", password="mail-pass").start()
    yield fake
    fake.stop()


def email_channel(port: int, ca: Path, password: str = "mail-pass") -> Email:
    config = EmailChannel.model_validate(
        {
            "id": "m",
            "type": "email",
            "host": "127.0.0.1",
            "port": port,
            "security": "starttls",
            "ca_file": str(ca),
            "user_env": "U",
            "password_env": "P",
            "from": "gateway@estate.example",
            "to": ["duty@estate.example"],
        }
    )
    return Email(config, "pager", password)


def test_email_over_starttls_with_login(smtp: FakeSmtp, cert: tuple[Path, Path]) -> None:
    email_channel(smtp.port, cert[0]).send(message())
    [envelope] = smtp.messages
    assert envelope.rcpt_tos == ["duty@estate.example"]
    assert "http://console/#/alarm/7" in envelope.content.decode()


def test_an_email_repeated_after_a_restart_keeps_its_message_id(
    smtp: FakeSmtp, cert: tuple[Path, Path]
) -> None:
    """The request in flight at a SIGKILL is sent again (marked as a possible repeat) with the same
    Message-ID, so a mailbox that drops duplicates shows it once."""
    channel = email_channel(smtp.port, cert[0])
    first = message()
    channel.send(first)
    channel.send(Words.maybe_repeat(first, "zh-CN"))
    ids = [BytesParser(policy=default).parsebytes(e.content)["Message-ID"] for e in smtp.messages]
    event = str(first.body["event_id"])
    assert ids[0] == ids[1] == f"<{event}.m@estate.example>"
    assert [BytesParser(policy=default).parsebytes(e.content)["X-Estate-Event"] for e in smtp.messages] == [
        event,
        event,
    ]


def test_email_wrong_password_is_broken_server_down_transient(
    smtp: FakeSmtp, cert: tuple[Path, Path]
) -> None:
    with pytest.raises(Broken, match="login refused"):
        email_channel(smtp.port, cert[0], "wrong").send(message())
    with pytest.raises(Transient):
        email_channel(free_port(), cert[0]).send(message())
