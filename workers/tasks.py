"""Celery tasks. Each is a thin wrapper: open a transaction, call a use case, commit.

Tasks are named (``rucksack.*``) so the web tier can send them without importing this module.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from orchestrator.db import transaction
from orchestrator.models import Series
from orchestrator.scheduling import services as scheduling
from workers.app import celery_app, db_sessions

_LOGGER = logging.getLogger(__name__)

# Transient database errors (a restart, a lock) are retried with back-off.
RETRY = {"autoretry_for": (OSError,), "retry_backoff": True, "retry_backoff_max": 300, "max_retries": 10}


@celery_app.task(name="rucksack.materialise_series", **RETRY)
def materialise_series(series_id: int) -> dict[str, Any]:
    """Creates the missing sessions of a series (idempotent)."""
    with transaction(db_sessions()) as db:
        result = scheduling.materialise_series(db, series_id=series_id)
    _LOGGER.info("materialised series %s: %s", series_id, result)
    return {"series_id": series_id}


@celery_app.task(name="rucksack.materialise_all_series", **RETRY)
def materialise_all_series() -> int:
    with transaction(db_sessions()) as db:
        ids = list(db.scalars(select(Series.id)))
    for series_id in ids:
        with transaction(db_sessions()) as db:
            scheduling.materialise_series(db, series_id=series_id)
    return len(ids)
