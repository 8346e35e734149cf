"""Notification tasks: reminders, immediate notices, "started", and delivery with retries.

Every task is idempotent (rows carry idempotency keys; delivery claims rows) and acknowledged
late, so a redelivered message or a second beat run sends nothing twice. The rows are the truth:
``rucksack.deliver_notifications`` without arguments (run every minute by beat) sends whatever
is due, which covers job messages lost with the broker and rows waiting for their next attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from sqlalchemy.exc import OperationalError

from orchestrator.db import transaction
from orchestrator.notifications import delivery
from orchestrator.notifications import services as notifications
from orchestrator.notifications.channels import Channels, channels_from_settings
from workers.app import celery_app, db_sessions, settings

__all__ = [
    "deliver_notifications",
    "notify_session_changed",
    "queue_reminders",
    "session_ended",
    "session_started",
]

_LOGGER = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def _task(**options: Any) -> Callable[[F], F]:
    """``celery_app.task`` with a type: Celery ships no annotations, and strict mypy wants them."""
    return cast(Callable[[F], F], celery_app.task(**options))


# Database outages (a restart, a failover) are retried with back-off; the rows stay where they are.
RETRY: dict[str, Any] = {
    "autoretry_for": (OSError, OperationalError),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "max_retries": 10,
}
DELIVER_TASK = "rucksack.deliver_notifications"
# Ids handed to one delivery job: small enough that several workers share a burst of reminders.
CHUNK = 25


class _Channels:
    value: tuple[int, Channels] | None = None


def _channels() -> Channels:
    """This process's channels, rebuilt when the settings object changes (``configure`` in tests)."""
    current = settings()
    if _Channels.value is None or _Channels.value[0] != id(current):
        _Channels.value = (id(current), channels_from_settings(current))
    return _Channels.value[1]


def _dispatch(ids: list[int]) -> None:
    """Hands new rows to delivery jobs; if the broker fails, the beat sweeper sends them."""
    for start in range(0, len(ids), CHUNK):
        try:
            celery_app.send_task(DELIVER_TASK, args=[ids[start : start + CHUNK]])
        except Exception:  # any broker error: the rows are committed and will be swept
            _LOGGER.warning("could not send the delivery job; the sweeper will send the rows", exc_info=True)
            return


@_task(name=DELIVER_TASK, **RETRY)
def deliver_notifications(ids: list[int] | None = None) -> dict[str, int]:
    """Sends the given queued notifications, or (no ids) every one that is due."""
    report = delivery.deliver(
        db_sessions(), channels=_channels(), base_url=settings().web.base_url, ids=ids or None
    )
    if report.handled:
        _LOGGER.info("notifications: %s", report)
    return {
        "sent": report.sent,
        "retrying": report.retrying,
        "failed": report.failed,
        "recorded": report.recorded,
        "withdrawn": report.withdrawn,
    }


@_task(name="rucksack.queue_reminders", **RETRY)
def queue_reminders() -> int:
    """Creates the reminders due now (beat, every minute) and hands them to delivery."""
    with transaction(db_sessions()) as db:
        ids = notifications.queue_due_reminders(db)
    _dispatch(ids)
    return len(ids)


@_task(name="rucksack.notify_session_changed", **RETRY)
def notify_session_changed(session_id: int, change: str) -> int:
    """For callers that cannot create the notices in their own transaction (the CLI, scripts)."""
    with transaction(db_sessions()) as db:
        ids = notifications.notify_session_changed(db, session_id=session_id, change=change)
    _dispatch(ids)
    return len(ids)


@_task(name="rucksack.session_started", **RETRY)
def session_started(session_id: int) -> int:
    """Sent by the launch: tells the parents who have not joined yet that the session is on."""
    with transaction(db_sessions()) as db:
        ids = notifications.notify_session_started(db, session_id=session_id)
    _dispatch(ids)
    return len(ids)


@_task(name="rucksack.session_ended", **RETRY)
def session_ended(session_id: int) -> int:
    """Sent when a facilitator ends a session: undelivered reminders and "started" notices for it
    are withdrawn (attendance is finalised by the finalisation task after the grace period)."""
    with transaction(db_sessions()) as db:
        return notifications.withdraw_for_session(db, session_id=session_id)
