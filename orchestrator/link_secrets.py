"""Rotating the secrets in links (``AccessSecret`` rows): one active per owner and purpose.

A parent's personal link and the calendar feeds of parents and staff all follow one rule:
issuing a new secret revokes the owner's active one of that purpose, and only the SHA-256 of the
secret is stored. The use cases in ``portal`` and ``feeds`` add their checks and audit entries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import ColumnElement, update
from sqlalchemy.orm import Session as DbSession

from orchestrator.models import AccessSecret
from orchestrator.security import hash_secret, new_secret

__all__ = ["issue", "owned_by", "revoke_active"]


def owned_by(parent_id: int | None, staff_user_id: int | None) -> ColumnElement[bool]:
    """The condition for the secrets of a parent (when given) or else of a staff user."""
    if parent_id is not None:
        return AccessSecret.parent_id == parent_id
    return AccessSecret.staff_user_id == staff_user_id


def revoke_active(
    db: DbSession,
    *,
    purpose: str,
    now: dt.datetime,
    parent_id: int | None = None,
    staff_user_id: int | None = None,
) -> int:
    """Revokes the owner's active secrets of ``purpose``; returns how many there were."""
    result = db.execute(
        update(AccessSecret)
        .where(
            owned_by(parent_id, staff_user_id),
            AccessSecret.purpose == purpose,
            AccessSecret.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def issue(
    db: DbSession,
    *,
    purpose: str,
    now: dt.datetime,
    parent_id: int | None = None,
    staff_user_id: int | None = None,
    group_ids: Sequence[int] = (),
) -> tuple[str, int]:
    """A new secret for the owner, after revoking the active one; returns (secret, revoked)."""
    revoked = revoke_active(db, purpose=purpose, now=now, parent_id=parent_id, staff_user_id=staff_user_id)
    secret = new_secret()
    db.add(
        AccessSecret(
            purpose=purpose,
            secret_hash=hash_secret(secret),
            parent_id=parent_id,
            staff_user_id=staff_user_id,
            group_ids=list(group_ids),
            created_at=now,
        )
    )
    db.flush()
    return secret, revoked
