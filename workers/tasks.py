"""Celery tasks. Each is a thin wrapper: open a transaction, call a use case, commit.

Tasks are named (``rucksack.*``) so the web tier can send them without importing this module.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from orchestrator.attendance import processing as attendance_processing
from orchestrator.db import transaction
from orchestrator.models import Series, utcnow
from orchestrator.scheduling import services as scheduling
from workers.app import celery_app, db_sessions, settings

_LOGGER = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def _task(**options: Any) -> Callable[[F], F]:
    """``celery_app.task`` with a type: Celery ships no annotations, and strict mypy wants them."""
    return cast(Callable[[F], F], celery_app.task(**options))


# Transient database errors (a restart, a lock) are retried with back-off.
RETRY = {"autoretry_for": (OSError,), "retry_backoff": True, "retry_backoff_max": 300, "max_retries": 10}


@_task(name="rucksack.materialise_series", **RETRY)
def materialise_series(series_id: int) -> dict[str, Any]:
    """Creates the missing sessions of a series (idempotent)."""
    with transaction(db_sessions()) as db:
        result = scheduling.materialise_series(db, series_id=series_id)
    _LOGGER.info("materialised series %s: %s", series_id, result)
    return {"series_id": series_id}


@_task(name="rucksack.materialise_all_series", **RETRY)
def materialise_all_series() -> int:
    with transaction(db_sessions()) as db:
        ids = list(db.scalars(select(Series.id)))
    for series_id in ids:
        with transaction(db_sessions()) as db:
            scheduling.materialise_series(db, series_id=series_id)
    return len(ids)


# --- attendance: the webhook inbox, processing, finalisation ---------------------------------------
#
# The web tier stores every webhook in the inbox and sends "rucksack.process_events" after each
# committed batch. The database holds the work, so every task here may run any number of times,
# concurrently and late: processing claims what is pending (SKIP LOCKED on PostgreSQL) and
# recomputes sessions from all their events; finalisation keeps its first timestamp.

# A database restart surfaces as OperationalError; the task is retried with back-off, and the
# sweeper would catch up anyway.
ATTENDANCE_RETRY = {
    "autoretry_for": (OSError, OperationalError),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 10,
}
# Events per transaction: large enough that a busy session is recomputed once per run rather
# than once per small chunk, small enough to keep a transaction short.
PROCESS_CHUNK = 5000
# Rounds per task run; a steady stream keeps sending new jobs anyway, so one run need not drain
# an inbox that never empties.
PROCESS_MAX_ROUNDS = 20
# Pending events older than this have lost their job (broker down, worker killed).
SWEEP_AFTER = dt.timedelta(seconds=30)


def _finalise_grace() -> dt.timedelta:
    return dt.timedelta(minutes=settings().sessions.finalise_grace_minutes)


@_task(name="rucksack.process_events", **ATTENDANCE_RETRY)
def process_events(limit: int = PROCESS_CHUNK) -> dict[str, Any]:
    """Processes pending inbox events into presence intervals and attendance (idempotent)."""
    total = attendance_processing.ProcessResult()
    for _ in range(PROCESS_MAX_ROUNDS):
        with transaction(db_sessions()) as db:
            result = attendance_processing.process_pending_events(
                db, now=utcnow(), finalise_grace=_finalise_grace(), limit=limit
            )
        total.add(result)
        if result.claimed < limit:
            break
    if total.claimed:
        _LOGGER.info(
            "processed %d event(s): %d matched, %d unmatched, %d session(s), %d error(s)",
            total.claimed,
            total.processed,
            total.unmatched,
            len(total.sessions),
            total.errors,
        )
    return {
        "claimed": total.claimed,
        "processed": total.processed,
        "unmatched": total.unmatched,
        "errors": total.errors,
        "sessions": len(total.sessions),
    }


@_task(name="rucksack.sweep_inbox", **ATTENDANCE_RETRY)
def sweep_inbox() -> dict[str, int]:
    """Catches up on lost jobs: re-sends processing for old pending events, places unmatched ones."""
    now = utcnow()
    with transaction(db_sessions()) as db:
        overdue = attendance_processing.pending_overdue(db, now=now, older_than=SWEEP_AFTER)
    with transaction(db_sessions()) as db:
        rematched = attendance_processing.rematch_unmatched(db, now=now, finalise_grace=_finalise_grace())
    if overdue:
        _LOGGER.warning("%d pending event(s) older than %s: processing again", overdue, SWEEP_AFTER)
        celery_app.send_task("rucksack.process_events")
    return {"overdue": overdue, "rematched": rematched.processed}


@_task(name="rucksack.finalise_session", **ATTENDANCE_RETRY)
def finalise_session(session_id: int) -> dict[str, Any]:
    """Closes open intervals and computes the final attendance of one session (idempotent)."""
    with transaction(db_sessions()) as db:
        done = attendance_processing.finalise_session(
            db, session_id=session_id, now=utcnow(), finalise_grace=_finalise_grace()
        )
    if done is None:
        return {"session_id": session_id, "found": False}
    return {"session_id": session_id, "found": True, "ended_now": done.ended_now, "people": done.people}


@_task(name="rucksack.finalise_due_sessions", **ATTENDANCE_RETRY)
def finalise_due_sessions() -> int:
    """Finalises every session whose end plus the grace period has passed."""
    now = utcnow()
    grace = _finalise_grace()
    with transaction(db_sessions()) as db:
        due = attendance_processing.sessions_due_for_finalisation(db, now=now, finalise_grace=grace)
    if due:
        # Events still waiting in the inbox belong in the final figures (and tell when the room
        # emptied): process them first.
        process_events()
    for session_id in due:
        # One transaction per session: one failure does not hold back the others.
        try:
            with transaction(db_sessions()) as db:
                attendance_processing.finalise_session(
                    db, session_id=session_id, now=now, finalise_grace=grace
                )
        except OperationalError:
            raise
        except Exception:
            _LOGGER.exception("finalising session %s failed", session_id)
    return len(due)
