"""SMTP e-mail: a multipart/alternative message (plain text and HTML parts) through aiosmtplib.

The server is the operator's (settings), not the seller's, so it is not a forgery target;
the recipients are the seller's, validated at save time. STARTTLS is used whenever the
server offers it (aiosmtplib's `start_tls=None`); `use_tls` is implicit TLS (port 465). An
SMTP refusal is recorded with its reply code; 5xx codes are retried like any failure (a
mailbox may come back) until the schedule gives up.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from services.notify.channels.base import DeliveryResult, Notification
from shared.clock import Clock


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    start_tls: bool | None = None  # None: when the server offers it
    validate_certs: bool = True
    timeout_s: float = 15.0


def compose(notification: Notification, sender: str, to: Sequence[str], clock: Clock) -> EmailMessage:
    message = notification.message
    mail = EmailMessage()
    mail["Subject"] = message.title
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail["Date"] = formatdate(clock.now().timestamp(), usegmt=True)
    mail["Message-ID"] = make_msgid(idstring=str(notification.id))
    mail["X-Dispute-Desk-Notification"] = str(notification.id)
    mail.set_content(message.text + "\n")
    mail.add_alternative(message.html, subtype="html")
    return mail


class EmailChannel:
    def __init__(self, config: SmtpConfig, to: Sequence[str], *, clock: Clock) -> None:
        self._config = config
        self._to = list(to)
        self._clock = clock

    async def send(self, notification: Notification) -> DeliveryResult:
        config = self._config
        started = time.perf_counter()
        try:
            mail = compose(notification, config.sender, self._to, self._clock)
            _, reply = await aiosmtplib.send(
                mail,
                hostname=config.host,
                port=config.port,
                username=config.username,
                password=config.password,
                use_tls=config.use_tls,
                start_tls=config.start_tls,
                validate_certs=config.validate_certs,
                timeout=config.timeout_s,
            )
        except aiosmtplib.SMTPResponseException as exc:
            return DeliveryResult(False, exc.code, _ms(started), error=f"smtp_{exc.code}")
        except aiosmtplib.SMTPRecipientsRefused:
            return DeliveryResult(False, None, _ms(started), error="smtp_recipients_refused")
        except aiosmtplib.SMTPTimeoutError:
            return DeliveryResult(False, None, _ms(started), error="timeout")
        except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
            return DeliveryResult(False, None, _ms(started), error=f"smtp_error: {type(exc).__name__}")
        del reply  # the server's final answer; a 2xx, or aiosmtplib had raised
        return DeliveryResult(True, 250, _ms(started))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
