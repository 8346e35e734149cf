"""Delivery channels: what a message looks like on the way out, and how sending can fail.

A channel raises ``TransientDeliveryError`` for failures worth retrying later (a server that is
down, a timeout, a 4xx SMTP reply, a 5xx gateway answer) and ``PermanentDeliveryError`` for
failures that another attempt cannot fix (a recipient the server refuses for good, a gateway that
rejects the request as malformed). Delivery turns the first into a retry with back-off and the
second into the state ``failed``, both with the reason.
"""

from __future__ import annotations

import dataclasses

from orchestrator.notifications.channels.sms import SmsGateway, gateway_from_settings
from orchestrator.notifications.channels.smtp import SmtpMailer
from orchestrator.notifications.channels.types import (
    DeliveryError,
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from orchestrator.settings import Settings

__all__ = [
    "Channels",
    "DeliveryError",
    "OutgoingMessage",
    "PermanentDeliveryError",
    "SmsGateway",
    "SmtpMailer",
    "TransientDeliveryError",
    "channels_from_settings",
]


@dataclasses.dataclass(frozen=True)
class Channels:
    """The configured channels of this process; ``None`` where a channel is not set up."""

    mailer: SmtpMailer | None
    sms: SmsGateway | None

    def configured(self, channel: str) -> bool:
        if channel == "email":
            return self.mailer is not None
        if channel == "sms":
            return self.sms is not None
        return False


def channels_from_settings(settings: Settings) -> Channels:
    """E-mail when ``mail.host`` is set, SMS when ``sms.url`` is set (see docs/notifications.md)."""
    mailer = SmtpMailer.from_settings(settings.mail) if settings.mail.host else None
    return Channels(mailer=mailer, sms=gateway_from_settings(settings.sms))
