"""E-mail over SMTP with the standard library: STARTTLS (587) or TLS from the start (465),
verified against the system's CAs or the channel's ``ca_file``. Connection trouble and 4xx answers
are retried; a refused login is a broken channel; a 5xx refusal of the message refuses that message.

Each mail's ``Message-ID`` is made from its event id and the channel (``<EVENT.CHANNEL@domain>``),
with the event id in ``X-Estate-Event`` as a webhook has it: the one request that can go out twice
(in flight when the gateway was killed, marked as a possible repeat) then carries the same
Message-ID, which mail stores and clients that drop duplicates (Gmail, Thunderbird's option) show
once.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import parseaddr

from devices.notifications import EmailChannel
from notify.channels.base import Broken, Message, Rejected, Transient


class Email:
    type = "email"

    def __init__(self, config: EmailChannel, user: str | None, password: str | None) -> None:
        self.id, self.config, self._user, self._password = config.id, config, user, password
        self._tls = ssl.create_default_context(cafile=config.ca_file)

    def compose(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = message.title
        mail["From"] = self.config.sender
        mail["To"] = ", ".join(message.emails or self.config.to)  # on duty, else the channel's
        if message.critical:
            mail["Importance"] = "high"
        event = re.sub(r"[^A-Za-z0-9._-]", "-", str(message.body.get("event_id") or ""))
        if event:
            domain = parseaddr(self.config.sender)[1].rpartition("@")[2] or "estate-gateway.invalid"
            mail["Message-ID"] = f"<{event}.{re.sub(r'[^A-Za-z0-9._-]', '-', self.id)}@{domain}>"
            mail["X-Estate-Event"] = event
        mail.set_content(f"{message.text}\n\n{message.link}\n")
        return mail

    def send(self, message: Message) -> None:
        try:
            self._deliver(self.compose(message))
        except smtplib.SMTPAuthenticationError as exc:
            raise Broken(f"SMTP login refused ({exc.smtp_code})") from None
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            code = getattr(exc, "smtp_code", 0) or 0
            if 400 <= code < 500:
                raise Transient(f"SMTP {code}") from None
            raise Rejected(f"SMTP refused the message: {type(exc).__name__}") from None
        except (OSError, smtplib.SMTPException) as exc:  # refused, timed out, TLS failed, dropped
            raise Transient(f"SMTP: {type(exc).__name__}") from None

    def _deliver(self, mail: EmailMessage) -> None:
        c = self.config
        smtp: smtplib.SMTP
        if c.security == "tls":
            smtp = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout_s, context=self._tls)
        else:
            smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout_s)
        with smtp:
            if c.security == "starttls":
                smtp.starttls(context=self._tls)
            if self._user and self._password:
                smtp.login(self._user, self._password)
            smtp.send_message(mail)

    def close(self) -> None:
        pass
