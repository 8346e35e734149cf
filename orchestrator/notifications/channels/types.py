"""The message handed to a channel, and the two ways sending it can fail."""

from __future__ import annotations

import dataclasses

__all__ = ["DeliveryError", "OutgoingMessage", "PermanentDeliveryError", "TransientDeliveryError"]


@dataclasses.dataclass(frozen=True)
class OutgoingMessage:
    """One message to one address, fully rendered (the personal link filled in)."""

    to: str
    subject: str
    body: str
    language: str
    # A stable id for the message (the notification's idempotency key): e-mails carry it in
    # their Message-ID, so a receiving system can recognise a resend after a worker crash.
    reference: str


class DeliveryError(Exception):
    """Sending failed; ``reason`` is short, safe to show to coordinators and holds no secret."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientDeliveryError(DeliveryError):
    """Worth another attempt later (server down, timeout, temporary refusal)."""


class PermanentDeliveryError(DeliveryError):
    """Another attempt cannot succeed (the recipient or the request is refused for good)."""
