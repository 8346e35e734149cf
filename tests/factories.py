"""Factories for test data: one place that knows how to make a valid record of each kind.

They write through the sync session they are given and flush, so ids are available; the test
commits when the app under test needs to see the data.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from integrations.jitsi.rooms import new_room_name
from orchestrator import models as m
from orchestrator.accounts import services as accounts
from orchestrator.security import hash_secret, new_pseudonym, new_secret

REFERENCE_PAYLOADS = Path(__file__).resolve().parent / "data" / "reference-payloads"
PASSWORD = "correct horse battery"
_seq = itertools.count(1)


def centre(db: Session, **kw: Any) -> m.Centre:
    n = next(_seq)
    kw.setdefault("name", f"KI Teststadt {n}")
    kw.setdefault("slug", f"ki-test-{n}")
    return accounts.create_centre(db, **kw)


def user(db: Session, role: str = "coordinator", centre: m.Centre | None = None, **kw: Any) -> m.StaffUser:
    n = next(_seq)
    kw.setdefault("email", f"{role}{n}@example.org")
    kw.setdefault("display_name", f"{role.title()} {n}")
    kw.setdefault("password", PASSWORD)
    return accounts.create_user(db, role=role, centre_id=centre.id if centre else None, **kw)


def deployment(db: Session, centre: m.Centre | None = None, **kw: Any) -> m.JitsiDeployment:
    n = next(_seq)
    kw.setdefault("slug", f"meet-{n}")
    kw.setdefault("name", f"Jitsi {n}")
    kw.setdefault("kind", "self_hosted")
    kw.setdefault("domain", "meet.example.org")
    kw.setdefault("base_url", "https://meet.example.org")
    kw.setdefault("app_id", "rucksack")
    kw.setdefault("signing_secret", "test-app-secret-0123456789abcdef")
    kw.setdefault("webhook_secret", "test-webhook-secret-0123456789")
    row = m.JitsiDeployment(centre_id=centre.id if centre else None, **kw)
    db.add(row)
    db.flush()
    return row


def group(db: Session, centre: m.Centre, *, facilitators: list[m.StaffUser] = (), **kw: Any) -> m.Group:  # type: ignore[assignment]
    n = next(_seq)
    kw.setdefault("name", f"Gruppe {n}")
    kw.setdefault("site_name", f"KiTa Sonnenschein {n}")
    kw.setdefault("languages", ["tr", "ar"])
    kw.setdefault("cycle_start", dt.date(2026, 9, 1))
    kw.setdefault("cycle_end", dt.date(2027, 6, 30))
    row = m.Group(centre_id=centre.id, **kw)
    db.add(row)
    db.flush()
    for f in facilitators:
        db.add(m.GroupFacilitator(group_id=row.id, staff_user_id=f.id))
    db.flush()
    return row


def parent(db: Session, centre: m.Centre, *, groups: list[m.Group] = (), **kw: Any) -> m.Parent:  # type: ignore[assignment]
    n = next(_seq)
    kw.setdefault("display_name", f"Ayşe {n}")
    kw.setdefault("language", "tr")
    row = m.Parent(centre_id=centre.id, pseudonym=new_pseudonym("p"), **kw)
    db.add(row)
    db.flush()
    for g in groups:
        db.add(m.Enrolment(parent_id=row.id, group_id=g.id))
    db.flush()
    return row


def session(
    db: Session, group: m.Group, *, starts_at: dt.datetime | None = None, minutes: int = 90, **kw: Any
) -> m.Session:
    starts_at = starts_at or dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
    kw.setdefault("room_name", new_room_name())
    row = m.Session(
        group_id=group.id, starts_at=starts_at, ends_at=starts_at + dt.timedelta(minutes=minutes), **kw
    )
    db.add(row)
    db.flush()
    return row


def access_secret(
    db: Session,
    *,
    parent: m.Parent | None = None,
    staff: m.StaffUser | None = None,
    purpose: str = "personal",
) -> tuple[m.AccessSecret, str]:
    secret = new_secret()
    row = m.AccessSecret(
        purpose=purpose,
        secret_hash=hash_secret(secret),
        parent_id=parent.id if parent else None,
        staff_user_id=staff.id if staff else None,
    )
    db.add(row)
    db.flush()
    return row, secret


_QUICK_PASSWORD_HASH: list[str] = []


def quick_user(
    db: Session, role: str = "coordinator", centre: m.Centre | None = None, **kw: Any
) -> m.StaffUser:
    """Like ``user``, but all such accounts share one argon2 hash of ``PASSWORD``.

    Hashing costs ~0.2 s per account; tests that arrange many accounts (the access matrix) would
    spend most of their time on it. Logging in with ``PASSWORD`` works as for ``user``.
    """
    from orchestrator.security import hash_password

    if not _QUICK_PASSWORD_HASH:
        _QUICK_PASSWORD_HASH.append(hash_password(PASSWORD))
    n = next(_seq)
    kw.setdefault("email", f"{role}{n}@example.org")
    kw.setdefault("display_name", f"{role.title()} {n}")
    row = m.StaffUser(
        role=role,
        centre_id=centre.id if centre else None,
        password_hash=_QUICK_PASSWORD_HASH[0],
        pseudonym=new_pseudonym("f"),
        **kw,
    )
    db.add(row)
    db.flush()
    return row


# --- conference webhooks and attendance (receivers, processing) ----------------------------------
# Imports are local to these helpers so that this section stays self-contained at the file's end.


def reference_payload(name: str) -> dict[str, Any]:
    """A reference webhook body from ``tests/data/reference-payloads`` (e.g. ``"jaas/room-created.json"``)."""
    import json

    data: dict[str, Any] = json.loads((REFERENCE_PAYLOADS / name).read_text(encoding="utf-8"))
    return data


def jaas_signature(secret: str, body: bytes, *, t: int | None = None) -> str:
    """An ``X-Jaas-Signature`` header value for ``body``, as JaaS computes it."""
    import base64
    import hashlib
    import hmac
    import time

    stamp = str(int(time.time()) if t is None else t)
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).digest()
    return f"t={stamp},v1={base64.b64encode(mac).decode()}"


# --- attendance reports (tests/integration/test_reports*.py) ----------------------------------


def enrol(
    db: Session,
    parent: m.Parent,
    group: m.Group,
    *,
    enrolled_at: dt.datetime,
    left_at: dt.datetime | None = None,
    breaks: Sequence[tuple[dt.datetime, dt.datetime]] = (),
) -> m.Enrolment:
    """An enrolment with explicit dates (``parent(groups=...)`` enrols as of now); ``breaks``
    are times away as (left, re-joined)."""
    row = m.Enrolment(parent_id=parent.id, group_id=group.id, enrolled_at=enrolled_at, left_at=left_at)
    db.add(row)
    db.flush()
    db.add_all(
        [m.EnrolmentBreak(enrolment_id=row.id, left_at=gone, rejoined_at=back) for gone, back in breaks]
    )
    db.flush()
    return row


def attendance_row(
    db: Session,
    session: m.Session,
    parent: m.Parent | None = None,
    *,
    staff: m.StaffUser | None = None,
    status: str = "present",
    minutes: int | None = None,
    override_status: str | None = None,
    override_minutes: int | None = None,
) -> m.Attendance:
    """One attendance row as ingestion (computed_*) and corrections (override_*) leave it.

    With ``staff`` it is a facilitator's row; with neither ``parent`` nor ``staff`` it is a
    parent's row after erasure (``parent_id`` cleared). Minutes default to the whole session for
    present, a third of it for partial, 0 otherwise.
    """
    length = int((session.ends_at - session.starts_at).total_seconds()) // 60
    if minutes is None:
        minutes = {"present": length, "partial": length // 3}.get(status, 0)
    row = m.Attendance(
        session_id=session.id,
        parent_id=parent.id if parent else None,
        staff_user_id=staff.id if staff else None,
        role="facilitator" if staff else "parent",
        computed_status=status,
        computed_minutes=minutes,
        override_status=override_status,
        override_minutes=override_minutes,
        override_reason="correction in a test" if override_status or override_minutes is not None else "",
        anonymised_at=None if parent or staff else dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
    )
    db.add(row)
    db.flush()
    return row


# --- calendar feeds -----------------------------------------------------------------------------


def staff_actor(db: Session, user: m.StaffUser) -> Any:
    """The ``Actor`` a login of ``user`` would give (facilitators with the groups they lead)."""
    from sqlalchemy import select

    from orchestrator.access import Actor

    group_ids: frozenset[int] = frozenset()
    if user.role == "facilitator":
        group_ids = frozenset(
            db.scalars(select(m.GroupFacilitator.group_id).where(m.GroupFacilitator.staff_user_id == user.id))
        )
    return Actor(
        user_id=user.id,
        role=user.role,
        centre_id=user.centre_id,
        display_name=user.display_name,
        language=user.language,
        group_ids=group_ids,
    )


def scheduled_series(
    db: Session,
    group: m.Group,
    coordinator: m.StaffUser,
    *,
    first_start_local: dt.datetime,
    until: dt.date,
    rrule: str = "FREQ=WEEKLY",
    duration_minutes: int = 90,
    title: str = "",
    now: dt.datetime | None = None,
) -> m.Series:
    """A series with its sessions, made by the scheduling use case (``now`` may lie in the past,
    so that a test can have sessions on both sides of today)."""
    from orchestrator.scheduling import services as scheduling

    return scheduling.create_series(
        db,
        actor=staff_actor(db, coordinator),
        group_id=group.id,
        first_start_local=first_start_local,
        until=until,
        rrule=rrule,
        duration_minutes=duration_minutes,
        title=title,
        now=now or first_start_local.replace(tzinfo=dt.UTC) - dt.timedelta(days=7),
    )


def feed_secret(
    db: Session,
    *,
    parent: m.Parent | None = None,
    staff: m.StaffUser | None = None,
    group_ids: list[int] | None = None,
) -> tuple[m.AccessSecret, str]:
    """An active calendar feed secret of a parent or staff user (a coordinator's may name groups)."""
    row, secret = access_secret(db, parent=parent, staff=staff, purpose="feed")
    if group_ids:
        row.group_ids = list(group_ids)
        db.flush()
    return row, secret


# --- conference and portal (tests/integration/test_conference.py, test_portal.py) ---------------


def api_token(
    db: Session, user: m.StaffUser, *, scopes: tuple[str, ...] | list[str] = ("read", "write")
) -> tuple[m.ApiToken, str]:
    """A bearer token for ``user`` (the token is returned once, as the app shows it once)."""
    return accounts.create_api_token(db, user_id=user.id, name="test script", scopes=list(scopes))
