"""E-mail over SMTP with the standard library's ``smtplib``: implicit TLS, STARTTLS, AUTH.

Settings (``[mail]``): ``host`` (empty: no e-mail), ``port``, ``ssl`` (implicit TLS, usually port
465), ``starttls`` (upgrade a plain connection, usually port 587), ``username`` and the password
from ``RUCKSACK_MAIL_PASSWORD``, ``from_address``. TLS uses the system's trusted certificates and
checks the host name; a server that offers no STARTTLS when it is asked for is an error, never a
silent fall-back to plain text.

Replies are classified as RFC 5321 does: 4xx is temporary (retry later), 5xx is permanent for the
recipient refused or the message rejected. Connection errors, timeouts and authentication or
sender refusals are treated as temporary, because they are the installation's problem, not the
recipient's: once the configuration is fixed, the queued messages still go out.
"""

from __future__ import annotations

import dataclasses
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from orchestrator.notifications.channels.types import (
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from orchestrator.settings import MailSettings

__all__ = ["SmtpMailer", "build_email"]

# One message must not hold a worker for long: a stuck server is a temporary failure.
TIMEOUT_SECONDS = 20


def build_email(message: OutgoingMessage, from_address: str) -> EmailMessage:
    """A plain-text UTF-8 e-mail in the recipient's language."""
    mail = EmailMessage()
    mail["From"] = from_address
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False)
    domain = from_address.rpartition("@")[2] or "localhost"
    # The reference (idempotency key) makes the Message-ID stable across resends of one
    # notification, so mail systems can recognise a duplicate after a crash between send and commit.
    mail["Message-ID"] = make_msgid(idstring=message.reference.replace(":", "."), domain=domain)
    # RFC 3834: no out-of-office replies to automatic messages.
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message.body, charset="utf-8")
    # After set_content, which replaces every Content-* header.
    mail["Content-Language"] = message.language
    return mail


@dataclasses.dataclass(frozen=True)
class SmtpMailer:
    host: str
    port: int
    from_address: str
    use_ssl: bool = False
    starttls: bool = True
    username: str = ""
    password: str = dataclasses.field(default="", repr=False)
    timeout: float = TIMEOUT_SECONDS

    @classmethod
    def from_settings(cls, mail: MailSettings) -> SmtpMailer:
        return cls(
            host=mail.host,
            port=mail.port,
            from_address=mail.from_address,
            use_ssl=mail.ssl,
            starttls=mail.starttls and not mail.ssl,
            username=mail.username,
            password=mail.password,
        )

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.use_ssl:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.starttls:
                client.starttls(context=context)
        except BaseException:
            client.close()
            raise
        return client

    def send(self, message: OutgoingMessage) -> None:
        """Sends one message; raises a ``DeliveryError`` subclass saying whether to retry."""
        mail = build_email(message, self.from_address)
        try:
            client = self._connect()
        except (smtplib.SMTPException, OSError) as e:
            raise TransientDeliveryError(f"cannot connect to the mail server: {_describe(e)}") from None
        try:
            if self.username:
                client.login(self.username, self.password)
            client.send_message(mail)
        except smtplib.SMTPRecipientsRefused as e:
            code, reply = next(iter(e.recipients.values()), (0, b""))
            text = f"recipient refused: {code} {_reply(reply)}"
            if 500 <= code < 600:
                raise PermanentDeliveryError(text) from None
            raise TransientDeliveryError(text) from None
        except smtplib.SMTPDataError as e:
            text = f"message refused: {e.smtp_code} {_reply(e.smtp_error)}"
            if 500 <= e.smtp_code < 600:
                raise PermanentDeliveryError(text) from None
            raise TransientDeliveryError(text) from None
        except smtplib.SMTPAuthenticationError as e:
            raise TransientDeliveryError(
                f"the mail server refused the login (check mail.username and RUCKSACK_MAIL_PASSWORD): "
                f"{e.smtp_code}"
            ) from None
        except (smtplib.SMTPException, OSError) as e:
            raise TransientDeliveryError(f"mail server error: {_describe(e)}") from None
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()


def _reply(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())[:200]


def _describe(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {_reply(error.smtp_error)}"
    text = str(error) or error.__class__.__name__
    return f"{error.__class__.__name__}: {text}"[:200]
