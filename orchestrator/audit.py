"""The audit trail: who did what to which record, when."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from orchestrator.access import Actor
from orchestrator.models import AuditEntry

__all__ = ["record"]


def record(
    db: Session,
    actor: Actor | None,
    action: str,
    *,
    object_type: str = "",
    object_id: object = "",
    centre_id: int | None = None,
    detail: dict[str, Any] | None = None,
    actor_label: str | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        actor_id=actor.user_id if actor else None,
        actor_label=actor_label or (actor.label if actor else "system"),
        centre_id=centre_id if centre_id is not None else (actor.centre_id if actor else None),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        detail=detail or {},
    )
    db.add(entry)
    return entry
