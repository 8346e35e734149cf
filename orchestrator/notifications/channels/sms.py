"""SMS through a gateway: the ``SmsGateway`` interface and one HTTP/JSON implementation.

``HttpSmsGateway`` posts one JSON request per message to ``sms.url`` with HTTP basic
authentication (``sms.username`` and ``RUCKSACK_SMS_PASSWORD``). The body is
``sms.body_template`` with ``{to}``, ``{text}`` and ``{sender}`` replaced by the JSON-escaped
values, so most EU gateways' JSON APIs fit without code (docs/notifications.md shows the request).

Answers: 2xx is sent; 408, 425 and 429 and every 5xx are temporary (retry later); any other
4xx means the gateway refuses this request for good (bad number, bad credentials, bad template)
and is not retried. Timeouts and connection errors are temporary.

Another gateway is one small class: subclass ``SmsGateway``, implement ``send``, add it to
``GATEWAYS`` and select it with a URL of the form ``<name>+https://...`` in ``sms.url``.
"""

from __future__ import annotations

import abc
import base64
import json
import re
import urllib.error
import urllib.request
from typing import ClassVar

from orchestrator.notifications.channels.types import PermanentDeliveryError, TransientDeliveryError
from orchestrator.settings import SmsSettings

__all__ = [
    "GATEWAYS",
    "HttpSmsGateway",
    "SmsGateway",
    "fill_template",
    "gateway_from_settings",
    "normalise_phone",
]

_RETRYABLE_4XX = frozenset({408, 425, 429})
_PHONE_JUNK = re.compile(r"[\s\-./()]")


def normalise_phone(number: str, default_country: str = "49") -> str:
    """An E.164 number (``+4915112345678``) from how people write numbers in Germany.

    ``0151 123 456 78`` becomes ``+4915112345678``; ``0049…`` and ``+49…`` keep their country.
    Anything that is not a phone number afterwards raises ``ValueError``.
    """
    digits = _PHONE_JUNK.sub("", number)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    elif digits.startswith("0"):
        digits = f"+{default_country}{digits[1:]}"
    elif not digits.startswith("+"):
        digits = "+" + digits
    if not re.fullmatch(r"\+[1-9][0-9]{6,14}", digits):
        raise ValueError("not a phone number")
    return digits


def fill_template(template: str, *, to: str, text: str, sender: str) -> str:
    """The request body: placeholders replaced by JSON-escaped values (no quotes added).

    ``str.format`` cannot be used: the template is JSON and full of braces. Replacing all three
    placeholders in one pass keeps a value that itself contains "{text}" from being expanded.
    """
    values = {"{to}": to, "{text}": text, "{sender}": sender}

    def escape(match: re.Match[str]) -> str:
        return json.dumps(values[match.group(0)], ensure_ascii=False)[1:-1]

    return re.sub(r"\{to\}|\{text\}|\{sender\}", escape, template)


class SmsGateway(abc.ABC):
    """Sends one text message; raises ``TransientDeliveryError`` or ``PermanentDeliveryError``."""

    #: How the gateway is selected in ``sms.url`` (``<name>+https://...``).
    name: ClassVar[str]

    @classmethod
    @abc.abstractmethod
    def from_settings(cls, url: str, sms: SmsSettings) -> SmsGateway:
        """The gateway for ``url`` (``sms.url`` without the ``<name>+`` prefix) and ``[sms]``."""

    @abc.abstractmethod
    def send(self, to: str, text: str) -> None:
        """Sends ``text`` to the number ``to`` as people wrote it; raises a ``DeliveryError``."""


class HttpSmsGateway(SmsGateway):
    """A JSON-over-HTTPS gateway with basic authentication (see the module docstring)."""

    name = "http"

    def __init__(
        self,
        url: str,
        *,
        username: str = "",
        password: str = "",
        sender: str = "Rucksack",
        body_template: str = '{"to": "{to}", "text": "{text}", "from": "{sender}"}',
        timeout: float = 10,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError("setting sms.url must be an http:// or https:// URL")
        try:
            json.loads(fill_template(body_template, to="+491", text='a "b"\n', sender="c"))
        except ValueError:
            raise ValueError("setting sms.body_template is not valid JSON once filled in") from None
        self.url = url
        self.username = username
        self._password = password
        self.sender = sender
        self.body_template = body_template
        self.timeout = timeout

    @classmethod
    def from_settings(cls, url: str, sms: SmsSettings) -> HttpSmsGateway:
        return cls(
            url,
            username=sms.username,
            password=sms.password,
            sender=sms.sender,
            body_template=sms.body_template,
            timeout=sms.timeout_seconds,
        )

    def __repr__(self) -> str:  # never show the password
        return f"HttpSmsGateway(url={self.url!r}, username={self.username!r})"

    def request(self, to: str, text: str) -> urllib.request.Request:
        body = fill_template(self.body_template, to=to, text=text, sender=self.sender).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}
        if self.username or self._password:
            token = base64.b64encode(f"{self.username}:{self._password}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        # The scheme was checked in __init__ (http or https only, never file: or ftp:).
        return urllib.request.Request(self.url, data=body, headers=headers, method="POST")  # noqa: S310

    def send(self, to: str, text: str) -> None:
        try:
            number = normalise_phone(to)
        except ValueError:
            raise PermanentDeliveryError("the phone number is not valid") from None
        request = self.request(number, text)
        try:
            # The scheme was checked in __init__ (http or https only, never file: or ftp:).
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                response.read(65536)
        except urllib.error.HTTPError as e:
            detail = _error_detail(e)
            if e.code >= 500 or e.code in _RETRYABLE_4XX:
                raise TransientDeliveryError(f"SMS gateway answered {e.code}{detail}") from None
            raise PermanentDeliveryError(f"SMS gateway refused the message: {e.code}{detail}") from None
        except TimeoutError:
            raise TransientDeliveryError(f"SMS gateway did not answer within {self.timeout:g} s") from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, TimeoutError):
                raise TransientDeliveryError(
                    f"SMS gateway did not answer within {self.timeout:g} s"
                ) from None
            raise TransientDeliveryError(f"cannot reach the SMS gateway: {e.reason}") from None
        except OSError as e:
            raise TransientDeliveryError(f"cannot reach the SMS gateway: {e.__class__.__name__}") from None


def _error_detail(error: urllib.error.HTTPError) -> str:
    try:
        raw = error.read(300)
    except OSError:
        return ""
    text = " ".join(raw.decode("utf-8", "replace").split())
    return f" ({text[:200]})" if text else ""


# Gateway implementations by the name used in ``sms.url`` ("http" for a plain https:// URL).
GATEWAYS: dict[str, type[SmsGateway]] = {HttpSmsGateway.name: HttpSmsGateway}


def gateway_from_settings(sms: SmsSettings) -> SmsGateway | None:
    """The configured gateway, or ``None`` when ``sms.url`` is empty (SMS go to the outbox)."""
    if not sms.url:
        return None
    name, plus, rest = sms.url.partition("+")
    cls: type[SmsGateway] = HttpSmsGateway
    url = sms.url
    if plus and name in GATEWAYS and "://" not in name:
        cls, url = GATEWAYS[name], rest
    return cls.from_settings(url, sms)
