"""The beat schedule, in one place: every periodic job of the service and how often it runs."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

__all__ = ["beat_schedule"]


def beat_schedule() -> dict[str, dict[str, Any]]:
    return {
        # Catch up work whose job message was lost (broker down, worker killed): series whose
        # sessions are not materialised yet.
        "materialise-series": {"task": "rucksack.materialise_all_series", "schedule": 3600.0},
        # Webhook events whose processing job was lost (broker down, worker killed) are processed
        # again once they are 30 s old; unmatched events whose session is now known are placed.
        "sweep-inbox": {"task": "rucksack.sweep_inbox", "schedule": 60.0},
        # Sessions past their end plus the grace period: close open intervals, final attendance,
        # end sessions the facilitator forgot to end.
        "finalise-due-sessions": {"task": "rucksack.finalise_due_sessions", "schedule": 300.0},
        # Reminders before sessions at each centre's offsets (idempotent: once per session, start
        # and offset however often this runs), then delivery.
        "queue-reminders": {"task": "rucksack.queue_reminders", "schedule": 60.0},
        # Sends what is due: retries after back-off, rows whose delivery job was lost.
        "deliver-notifications": {"task": "rucksack.deliver_notifications", "schedule": 60.0},
        # Retention periods of every centre; at night, local time does not matter to the rules.
        "apply-retention": {"task": "rucksack.apply_retention", "schedule": crontab(hour=2, minute=30)},
    }
