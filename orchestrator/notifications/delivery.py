"""Delivering queued notifications: claim one row, send it, record what happened.

Each row goes through three short transactions, so no database lock is held while a mail server
or gateway is being talked to:

1. **claim** the next due row (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent workers
   take different rows; SQLite serialises writers anyway): count the attempt and lease the row by
   setting ``next_attempt_at`` a few minutes ahead. A row whose channel is not configured becomes
   an outbox entry here; a row that no longer makes sense (a reminder for a cancelled session) is
   withdrawn with the reason. For a parent, a personal link secret is minted now (only its hash
   is stored) and put into the text: messages carry a link that works, and the database never
   holds it in clear.
2. **send** through the channel, outside any transaction.
3. **record** the outcome with a conditional update (``WHERE attempts = <ours>``), so a worker
   that overran its lease cannot overwrite what another worker recorded: ``sent``; a temporary
   failure leaves the row ``queued`` with ``next_attempt_at`` after an exponential back-off (the
   beat sweeper sends it then), until ``MAX_ATTEMPTS``; a permanent failure is ``failed``.

A worker killed between 1 and 3 leaves a leased row; the lease runs out and the sweeper sends it
again. So delivery is at least once: a crash after the server accepted a message and before the
commit can repeat it, and the stable Message-ID lets mail systems recognise the repeat.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Sequence

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from orchestrator import audit
from orchestrator.db import transaction
from orchestrator.models import AccessSecret, Notification, utcnow
from orchestrator.notifications.channels import (
    Channels,
    DeliveryError,
    OutgoingMessage,
    PermanentDeliveryError,
)
from orchestrator.notifications.render import LINK_MARK, fill_link
from orchestrator.notifications.services import stale_reason
from orchestrator.portal.services import personal_url
from orchestrator.security import hash_secret, new_secret

__all__ = [
    "BACKOFF_BASE",
    "LEASE",
    "LINK_AUDIT_ACTION",
    "MAX_ATTEMPTS",
    "DeliveryReport",
    "backoff",
    "deliver",
]

_LOGGER = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BACKOFF_BASE = dt.timedelta(minutes=1)
BACKOFF_CAP = dt.timedelta(hours=1)
# Longer than one send can take (SMTP timeout, gateway timeout), shorter than a reminder's
# usefulness: a row leased by a worker that died is sent again after this.
LEASE = dt.timedelta(minutes=10)
# Audit action recorded for every personal link put into a message (retention revokes these links
# after a while, see orchestrator.privacy.services).
LINK_AUDIT_ACTION = "notification.link"


def backoff(attempts: int) -> dt.timedelta:
    """Wait after the ``attempts``-th failed attempt: 1, 2, 4, 8, 16 … minutes, at most an hour."""
    wait: dt.timedelta = BACKOFF_BASE * (2 ** max(attempts - 1, 0))
    return min(wait, BACKOFF_CAP)


@dataclasses.dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    recorded: int = 0
    withdrawn: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retrying + self.failed + self.recorded + self.withdrawn


@dataclasses.dataclass(frozen=True)
class _Claim:
    id: int
    attempt: int
    channel: str
    message: OutgoingMessage
    secret_id: int | None


_CHANNEL_MISSING = {
    "email": "e-mail is not set up for this installation (mail.host is empty): kept in the outbox",
    "sms": "SMS is not set up for this installation (sms.url is empty): kept in the outbox",
}


def _link(db: DbSession, row: Notification, base_url: str, now: dt.datetime) -> tuple[str, int | None]:
    """The link for the message and the id of the secret minted for it (parents only)."""
    base = base_url.rstrip("/")
    if row.parent_id is None:
        return (f"{base}/facilitator/sessions/{row.session_id}" if row.session_id else f"{base}/"), None
    secret = new_secret()
    access = AccessSecret(
        purpose="personal", secret_hash=hash_secret(secret), parent_id=row.parent_id, created_at=now
    )
    db.add(access)
    db.flush()
    audit.record(
        db,
        None,
        LINK_AUDIT_ACTION,
        object_type="access_secret",
        object_id=access.id,
        centre_id=row.centre_id,
        detail={"notification_id": row.id, "parent_id": row.parent_id},
        actor_label="notifications",
    )
    page = personal_url(base, secret)
    # A cancellation links to the parent's page (which names the next session); everything
    # else straight to the session's join page, one tap from the room.
    if row.kind == "cancelled" or row.session_id is None:
        return page, access.id
    return f"{page}/s/{row.session_id}", access.id


def _claim_next(
    db: DbSession,
    *,
    channels: Channels,
    base_url: str,
    now: dt.datetime,
    ids: Sequence[int] | None,
    report: DeliveryReport,
) -> _Claim | bool | None:
    """Claims one due row. ``None``: nothing left; ``True``: a row was settled without sending."""
    query = (
        select(Notification)
        .where(
            Notification.state == "queued",
            or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
        )
        .order_by(Notification.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if ids is not None:
        query = query.where(Notification.id.in_(ids))
    row = db.scalars(query).first()
    if row is None:
        return None
    if not channels.configured(row.channel):
        row.last_error = _CHANNEL_MISSING.get(
            row.channel, f"unknown channel {row.channel!r}: kept in the outbox"
        )
        row.state, row.channel, row.next_attempt_at = "recorded", "outbox", None
        report.recorded += 1
        return True
    if reason := stale_reason(db, row, now):
        row.state, row.last_error, row.next_attempt_at = "failed", reason, None
        report.withdrawn += 1
        return True
    row.attempts += 1
    row.next_attempt_at = now + LEASE
    link, secret_id = _link(db, row, base_url, now) if LINK_MARK in row.body else ("", None)
    message = OutgoingMessage(
        to=row.address,
        subject=row.subject,
        body=fill_link(row.body, link),
        language=row.language,
        reference=row.idempotency_key,
    )
    return _Claim(row.id, row.attempts, row.channel, message, secret_id)


def _send(channels: Channels, claim: _Claim) -> None:
    if claim.channel == "email" and channels.mailer is not None:
        channels.mailer.send(claim.message)
    elif claim.channel == "sms" and channels.sms is not None:
        channels.sms.send(claim.message.to, claim.message.body.strip())
    else:  # configured() was checked at the claim; a channel cannot vanish in between
        raise PermanentDeliveryError(f"channel {claim.channel!r} is not available")


def _record(
    db: DbSession, claim: _Claim, error: DeliveryError | None, now: dt.datetime, report: DeliveryReport
) -> None:
    mine = (
        Notification.id == claim.id,
        Notification.attempts == claim.attempt,
        Notification.state == "queued",
    )
    if error is None:
        values: dict[str, object] = {
            "state": "sent",
            "sent_at": now,
            "last_error": "",
            "next_attempt_at": None,
        }
        report.sent += 1
    elif isinstance(error, PermanentDeliveryError):
        values = {"state": "failed", "last_error": error.reason, "next_attempt_at": None}
        report.failed += 1
    elif claim.attempt >= MAX_ATTEMPTS:
        values = {
            "state": "failed",
            "last_error": f"{error.reason} (gave up after {claim.attempt} attempts)",
            "next_attempt_at": None,
        }
        report.failed += 1
    else:
        values = {"last_error": error.reason, "next_attempt_at": now + backoff(claim.attempt)}
        report.retrying += 1
    result = db.execute(
        update(Notification).where(*mine).values(**values).execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        _LOGGER.warning("notification %s was settled by another worker meanwhile", claim.id)
    if error is not None and claim.secret_id is not None:
        # The link never reached anybody: it must not stay valid.
        db.execute(delete(AccessSecret).where(AccessSecret.id == claim.secret_id))


def deliver(
    factory: sessionmaker[DbSession],
    *,
    channels: Channels,
    base_url: str,
    ids: Sequence[int] | None = None,
    now: dt.datetime | None = None,
    budget_seconds: float = 150.0,
) -> DeliveryReport:
    """Sends the due queued notifications (only ``ids`` if given) until none is left or the time
    budget is used up (the rest stays queued for the next run). ``now`` pins the clock (tests)."""
    report = DeliveryReport()
    deadline = time.monotonic() + budget_seconds
    while time.monotonic() < deadline:
        moment = now or utcnow()
        with transaction(factory) as db:
            claim = _claim_next(db, channels=channels, base_url=base_url, now=moment, ids=ids, report=report)
        if claim is None:
            break
        if claim is True or claim is False:
            continue
        error: DeliveryError | None = None
        try:
            _send(channels, claim)
        except DeliveryError as e:
            error = e
            _LOGGER.info("notification %s attempt %s: %s", claim.id, claim.attempt, e.reason)
        with transaction(factory) as db:
            _record(db, claim, error, now or utcnow(), report)
    return report
