"""The daily retention task (see ``orchestrator.privacy.services`` for what it removes when)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from sqlalchemy.exc import OperationalError

from orchestrator.db import transaction
from orchestrator.privacy import services as privacy
from workers.app import celery_app, db_sessions

__all__ = ["apply_retention"]

_LOGGER = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def _task(**options: Any) -> Callable[[F], F]:
    """``celery_app.task`` with a type: Celery ships no annotations, and strict mypy wants them."""
    return cast(Callable[[F], F], celery_app.task(**options))


@_task(
    name="rucksack.apply_retention",
    autoretry_for=(OSError, OperationalError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=10,
)
def apply_retention() -> list[dict[str, Any]]:
    """Runs retention for every centre in one transaction: all of it happens, or none."""
    with transaction(db_sessions()) as db:
        results = privacy.apply_retention(db)
    summary = [r.as_dict() for r in results]
    _LOGGER.info("retention: %s", summary)
    return summary
