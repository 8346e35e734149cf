"""Use cases that create notifications, and what coordinators do with the outbox.

Creating a notification writes rows only, in the caller's transaction: the scheduling use cases
call ``notify_session_changed`` inside their own transaction, so a cancellation and its notices
commit together or not at all; the caller then sends the job ``rucksack.deliver_notifications``
after the commit. Delivery itself is in ``orchestrator.notifications.delivery``.

Each row has an idempotency key that names what it is about, so creating the same notice twice
(a beat that fires twice, a task that is retried, a use case called again) inserts nothing the
second time::

    reminder:<session>:<start epoch>:<offset minutes>:<recipient>:<channel>
    cancelled|moved|restored:<session>:<sequence>:<start epoch>:<recipient>:<channel>
    started:<session>:<launch epoch>:<recipient>:<channel>
    removed:<group>:<session>:<start epoch>:<recipient>:<channel>

``removed`` is a cancellation notice for an upcoming session that a change to its whole series
or a new closure day deleted: the row is gone, so the notice carries its group and former id in
the key and no ``session_id``.

The start instant in a reminder's key means a moved session gets fresh reminders for its new
time, while the reminders for the old time are withdrawn at delivery (see ``stale_reason``).
``<recipient>`` is ``p<parent id>`` or ``s<staff id>``; ``<channel>`` is ``email``, ``sms`` or
``outbox`` (no consented channel: the row is recorded for coordinators, never dropped).

Parents receive messages only on channels they consented to (``email_consent_at``,
``sms_consent_at``) and have an address for. Facilitators receive reminders and change notices
at their work e-mail address (their login), which needs no consent; they get no SMS.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as DbSession

from orchestrator import audit
from orchestrator.access import Actor, require_centre, require_role
from orchestrator.conference import services as conference
from orchestrator.errors import Conflict, InvalidInput, NotFound
from orchestrator.i18n import gettext
from orchestrator.models import (
    Attendance,
    Centre,
    Enrolment,
    Group,
    GroupFacilitator,
    Notification,
    Parent,
    PresenceInterval,
    Session,
    SessionVisit,
    StaffUser,
    utcnow,
)
from orchestrator.notifications.render import KINDS, MessageFacts, outbox_text, render_message

__all__ = [
    "CHANGES",
    "NO_CONSENT",
    "NotificationLine",
    "NotificationPage",
    "Recipient",
    "due_offset",
    "list_notifications",
    "notify_rescheduled",
    "notify_session_changed",
    "notify_session_started",
    "parse_key",
    "queue_due_reminders",
    "retry_notification",
    "stale_reason",
    "upcoming_starts",
    "withdraw_for_session",
]

CHANGES = ("cancelled", "moved", "restored")
STATES = ("queued", "sent", "failed", "recorded")
CHANNELS = ("email", "sms", "outbox")
NO_CONSENT = "no consent for e-mail or SMS, or no address: kept in the outbox"
PAGE_SIZE = 100
# After a change to a whole series, the sessions starting within this horizon get a "moved"
# notice; later ones reach people through their calendars (which refresh within a day) and the
# reminders, and a series change would otherwise mean one message per remaining session.
NOTICE_HORIZON = dt.timedelta(days=14)


# -- recipients ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Recipient:
    ref: str  # "p<id>" or "s<id>": the recipient part of idempotency keys
    parent_id: int | None
    staff_user_id: int | None
    language: str
    # (channel, address) for each channel this person may be reached on; empty: outbox only.
    channels: tuple[tuple[str, str], ...]

    @property
    def staff(self) -> bool:
        return self.staff_user_id is not None


def parent_channels(parent: Parent) -> tuple[tuple[str, str], ...]:
    """The channels a parent consented to and has an address for (SMS first: the reliable one)."""
    found: list[tuple[str, str]] = []
    if parent.sms_consent_at is not None and parent.phone and parent.phone.strip():
        found.append(("sms", parent.phone.strip()))
    if parent.email_consent_at is not None and parent.email and parent.email.strip():
        found.append(("email", parent.email.strip()))
    return tuple(found)


def _parent_recipients(db: DbSession, group_id: int, exclude: Iterable[int] = ()) -> list[Recipient]:
    excluded = set(exclude)
    parents = db.scalars(
        select(Parent)
        .join(Enrolment, Enrolment.parent_id == Parent.id)
        .where(Enrolment.group_id == group_id, Enrolment.left_at.is_(None), Parent.erased_at.is_(None))
        .order_by(Parent.id)
    )
    return [
        Recipient(f"p{p.id}", p.id, None, p.language, parent_channels(p))
        for p in parents
        if p.id not in excluded
    ]


def _change_recipients(db: DbSession, group_id: int, actor_id: int | None) -> list[Recipient]:
    """Who hears of a change to the group's sessions: its parents and its facilitators, except
    the staff member who made the change."""
    return _parent_recipients(db, group_id) + _staff_recipients(
        db, group_id, exclude=[actor_id] if actor_id else []
    )


def _staff_recipients(db: DbSession, group_id: int, exclude: Iterable[int] = ()) -> list[Recipient]:
    excluded = set(exclude)
    staff = db.scalars(
        select(StaffUser)
        .join(GroupFacilitator, GroupFacilitator.staff_user_id == StaffUser.id)
        .where(GroupFacilitator.group_id == group_id, StaffUser.active.is_(True))
        .order_by(StaffUser.id)
    )
    return [
        Recipient(f"s{s.id}", None, s.id, s.language, (("email", s.email),))
        for s in staff
        if s.id not in excluded
    ]


# -- creating rows ---------------------------------------------------------------------------


def _epoch(instant: dt.datetime) -> int:
    return int(instant.timestamp())


def _insert_new(db: DbSession, rows: list[dict[str, Any]]) -> list[int]:
    """Inserts the rows whose idempotency key is new; returns the ids of those inserted.

    ON CONFLICT DO NOTHING (both PostgreSQL and SQLite have it) rather than check-then-insert:
    two workers queueing the same reminder at the same moment must not fail each other's
    transaction with a unique violation, and the loser must simply insert nothing.
    """
    if not rows:
        return []
    dialect = db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(Notification)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(Notification.id)
    )
    return sorted(db.scalars(stmt))


def _queue(
    db: DbSession,
    *,
    facts: MessageFacts | Callable[[], MessageFacts],
    session_id: int | None,
    centre_id: int,
    key_prefix: str,
    recipients: Sequence[Recipient],
    now: dt.datetime,
) -> list[int]:
    """One row per recipient and consented channel (or one outbox row), unless it exists."""
    planned: list[tuple[str, Recipient, str, str]] = []
    for recipient in recipients:
        for channel, address in recipient.channels or (("outbox", ""),):
            planned.append((f"{key_prefix}:{recipient.ref}:{channel}", recipient, channel, address))
    if not planned:
        return []
    existing = set(
        db.scalars(
            select(Notification.idempotency_key).where(
                Notification.idempotency_key.in_([p[0] for p in planned])
            )
        )
    )
    rows: list[dict[str, Any]] = []
    for key, recipient, channel, address in planned:
        if key in existing:
            continue
        if callable(facts):
            # Loaded only when something is new: beat asks every minute about every session
            # with a due reminder, and almost always everything exists already.
            facts = facts()
        subject, body = render_message(
            facts, language=recipient.language, channel=channel, staff=recipient.staff
        )
        rows.append(
            {
                "idempotency_key": key,
                "centre_id": centre_id,
                "kind": facts.kind,
                "channel": channel,
                "parent_id": recipient.parent_id,
                "staff_user_id": recipient.staff_user_id,
                "session_id": session_id,
                "address": address,
                "language": recipient.language,
                "subject": subject,
                "body": body,
                "state": "queued" if channel != "outbox" else "recorded",
                "attempts": 0,
                "last_error": "" if channel != "outbox" else NO_CONSENT,
                "next_attempt_at": None,
                "created_at": now,
                "sent_at": None,
            }
        )
    return _insert_new(db, rows)


def _facts(
    db: DbSession,
    session: Session,
    kind: str,
    *,
    now: dt.datetime,
    previous_start: dt.datetime | None = None,
) -> tuple[MessageFacts, int]:
    view = conference.session_view(db, session)
    next_start = None
    if kind == "cancelled":
        upcoming = conference.next_session(db, group_id=session.group_id, now=now, exclude=session.id)
        next_start = upcoming.starts_at if upcoming else None
    if kind == "moved" and previous_start is None:
        previous_start = view.original_start
    facts = MessageFacts(
        kind=kind,
        group_name=view.group_name,
        zone=view.zone,
        starts_at=session.starts_at,
        previous_start=previous_start,
        next_start=next_start,
    )
    return facts, view.centre_id


# -- reminders -------------------------------------------------------------------------------


def _reminder_facts(db: DbSession, session: Session, now: dt.datetime) -> MessageFacts:
    return _facts(db, session, "reminder", now=now)[0]


def valid_offsets(raw: object) -> list[int]:
    """The centre's reminder offsets as positive minutes (anything else in the list is ignored)."""
    if not isinstance(raw, list):
        return []
    return sorted({int(o) for o in raw if isinstance(o, int | float) and not isinstance(o, bool) and o > 0})


def due_offset(starts_at: dt.datetime, offsets: Sequence[int], now: dt.datetime) -> int | None:
    """The reminder due at ``now``: the smallest offset whose moment has passed, before the start.

    Only the most recent reminder point counts: after a pause of beat (or for a session created
    an hour before it starts) people get one reminder, not the 24-hour and the 1-hour one at once.
    """
    if now >= starts_at:
        return None
    passed = [o for o in offsets if starts_at - dt.timedelta(minutes=o) <= now]
    return min(passed) if passed else None


def queue_due_reminders(db: DbSession, *, now: dt.datetime | None = None) -> list[int]:
    """Creates the reminders due now for every scheduled session; returns the new rows' ids.

    Run every minute by beat. Cancelled, live and ended sessions get none; a moved session gets
    them for its new time. Idempotent: a second run in the same minute inserts nothing.
    """
    now = now or utcnow()
    created: list[int] = []
    for centre_id, raw_offsets in db.execute(select(Centre.id, Centre.reminder_offsets)).all():
        offsets = valid_offsets(raw_offsets)
        if not offsets:
            continue
        sessions = db.scalars(
            select(Session)
            .join(Group, Group.id == Session.group_id)
            .where(
                Group.centre_id == centre_id,
                Group.archived.is_(False),
                Session.status == "scheduled",
                Session.starts_at > now,
                Session.starts_at <= now + dt.timedelta(minutes=max(offsets)),
            )
            .order_by(Session.starts_at, Session.id)
        ).all()
        for session in sessions:
            offset = due_offset(session.starts_at, offsets, now)
            if offset is None:
                continue
            recipients = _parent_recipients(
                db, session.group_id, exclude=_excused_parents(db, session.id)
            ) + _staff_recipients(db, session.group_id)
            created += _queue(
                db,
                facts=functools.partial(_reminder_facts, db, session, now),
                session_id=session.id,
                centre_id=centre_id,
                key_prefix=f"reminder:{session.id}:{_epoch(session.starts_at)}:{offset}",
                recipients=recipients,
                now=now,
            )
    return created


# -- immediate notices -----------------------------------------------------------------------


def notify_session_changed(
    db: DbSession,
    *,
    session_id: int,
    change: str,
    now: dt.datetime | None = None,
    previous_start: dt.datetime | None = None,
    actor_id: int | None = None,
) -> list[int]:
    """Notices to the group's parents and facilitators that a session was cancelled, moved, or
    takes place after all (``restored`` after a cancellation).

    Call it in the same transaction as the change, then send the job
    ``rucksack.deliver_notifications`` with the returned ids after the commit.
    ``previous_start`` is the start before a move (default: the time the occurrence was first
    planned for); ``actor_id`` is the staff user who made the change (they need no notice).
    Sessions that are over get no notice. Idempotent per session sequence and start.
    """
    if change not in CHANGES:
        raise InvalidInput(
            gettext("unknown change %(change)s; expected one of %(choices)s")
            % {"change": repr(change), "choices": ", ".join(CHANGES)},
            field="change",
        )
    now = now or utcnow()
    session = db.get(Session, session_id)
    if session is None:
        raise NotFound(gettext("no session with id %(id)s") % {"id": session_id})
    if session.ends_at <= now:
        return []
    if change != "cancelled" and session.status == "cancelled":
        return []
    facts, centre_id = _facts(db, session, change, now=now, previous_start=previous_start)
    recipients = _change_recipients(db, session.group_id, actor_id)
    return _queue(
        db,
        facts=facts,
        session_id=session.id,
        centre_id=centre_id,
        key_prefix=_change_key(change, session),
        recipients=recipients,
        now=now,
    )


def upcoming_starts(
    db: DbSession, *, group_id: int, now: dt.datetime, horizon: dt.timedelta = NOTICE_HORIZON
) -> dict[int, dt.datetime]:
    """The starts of the group's scheduled sessions within ``horizon``; taken before a change
    to a whole series, for ``notify_rescheduled`` afterwards."""
    rows = db.execute(
        select(Session.id, Session.starts_at).where(
            Session.group_id == group_id,
            Session.status == "scheduled",
            Session.starts_at > now,
            Session.starts_at <= now + horizon,
        )
    ).all()
    return dict(rows)


def notify_rescheduled(
    db: DbSession,
    *,
    group_id: int,
    before: dict[int, dt.datetime],
    now: dt.datetime | None = None,
    actor_id: int | None = None,
) -> list[int]:
    """Notices for the group's sessions of ``before`` (see ``upcoming_starts``) that a change to
    a whole series or to closure days altered: "moved" where the start changed, "cancelled"
    where the session is gone (its queued reminders are withdrawn at delivery), and "restored"
    for a session the change brought back after people were told it was removed."""
    now = now or utcnow()
    created: list[int] = []
    db.flush()
    for session_id in sorted(upcoming_starts(db, group_id=group_id, now=now).keys() - before.keys()):
        created += _notify_back(db, group_id=group_id, session_id=session_id, now=now, actor_id=actor_id)
    for session_id, previous in sorted(before.items()):
        session = db.get(Session, session_id)
        if session is None:
            created += _notify_removed(
                db, group_id=group_id, session_id=session_id, starts_at=previous, now=now, actor_id=actor_id
            )
            continue
        if session.status != "scheduled" or session.starts_at == previous:
            continue
        created += notify_session_changed(
            db, session_id=session_id, change="moved", now=now, previous_start=previous, actor_id=actor_id
        )
    return created


def _notify_removed(
    db: DbSession,
    *,
    group_id: int,
    session_id: int,
    starts_at: dt.datetime,
    now: dt.datetime,
    actor_id: int | None,
) -> list[int]:
    """ "Cancelled" notices for an upcoming session that a change deleted (the series now ends
    earlier or skips that day, or the day was closed). Parents who were told about it, by a
    reminder or their calendar, would otherwise come to a room that never opens.

    The row is gone, so the notice is written from what was known before the change and stored
    without a session; it links to the parent's page, which names the group's next session.
    """
    if starts_at <= now:
        return []
    group = db.get_one(Group, group_id)
    # Series take the centre's time zone when they are made; the series may be gone too.
    zone = db.scalar(select(Centre.timezone).where(Centre.id == group.centre_id)) or "Europe/Berlin"
    upcoming = conference.next_session(db, group_id=group_id, now=now)
    facts = MessageFacts(
        kind="cancelled",
        group_name=group.name,
        zone=zone,
        starts_at=starts_at,
        next_start=upcoming.starts_at if upcoming else None,
    )
    recipients = _change_recipients(db, group_id, actor_id)
    return _queue(
        db,
        facts=facts,
        session_id=None,
        centre_id=group.centre_id,
        key_prefix=f"removed:{group_id}:{session_id}:{_epoch(starts_at)}",
        recipients=recipients,
        now=now,
    )


def _change_key(change: str, session: Session) -> str:
    """The key of a change notice, without recipient and channel: a session's "restored" is one
    notice whether a restore or the end of a removal caused it."""
    return f"{change}:{session.id}:{session.sequence}:{_epoch(session.starts_at)}"


def _notify_back(
    db: DbSession, *, group_id: int, session_id: int, now: dt.datetime, actor_id: int | None
) -> list[int]:
    """ "Restored" for a new session at a time whose removal people were told about (a closure
    day opened again, a series extended again), to those who were told: otherwise the
    cancellation they received would be the last word. A removal notice still queued is
    withdrawn at delivery instead (``stale_reason``), so its recipient hears nothing either way.
    """
    session = db.get_one(Session, session_id)
    keys = db.scalars(
        select(Notification.idempotency_key).where(
            Notification.idempotency_key.like(f"removed:{group_id}:%:{_epoch(session.starts_at)}:%"),
            Notification.state.in_(("sent", "recorded")),
        )
    )
    told = {key.split(":")[4] for key in keys}
    if not told:
        return []
    facts, centre_id = _facts(db, session, "restored", now=now)
    recipients = _change_recipients(db, group_id, actor_id)
    return _queue(
        db,
        facts=facts,
        session_id=session.id,
        centre_id=centre_id,
        key_prefix=_change_key("restored", session),
        recipients=[r for r in recipients if r.ref in told],
        now=now,
    )


def _joined_parents(db: DbSession, session_id: int) -> set[int]:
    visits = db.scalars(
        select(SessionVisit.parent_id).where(
            SessionVisit.session_id == session_id,
            SessionVisit.kind == "join",
            SessionVisit.parent_id.is_not(None),
        )
    )
    present = db.scalars(
        select(PresenceInterval.parent_id).where(
            PresenceInterval.session_id == session_id, PresenceInterval.parent_id.is_not(None)
        )
    )
    return {pid for pid in [*visits, *present] if pid is not None}


def _excused_parents(db: DbSession, session_id: int) -> set[int]:
    """Parents excused for the session (they called in): no reminder, no "it has started"."""
    return {
        pid
        for pid in db.scalars(
            select(Attendance.parent_id).where(
                Attendance.session_id == session_id,
                Attendance.override_status == "excused",
                Attendance.parent_id.is_not(None),
            )
        )
        if pid is not None
    }


def notify_session_started(db: DbSession, *, session_id: int, now: dt.datetime | None = None) -> list[int]:
    """ "The session has started" to the enrolled parents who have not joined it yet.

    Sent by the task ``rucksack.session_started`` after a facilitator launched the session.
    Nothing when the session is not live (ended again, cancelled) or already over.
    """
    now = now or utcnow()
    session = db.get(Session, session_id)
    if session is None or session.status != "live" or session.ends_at <= now:
        return []
    recipients = _parent_recipients(
        db, session.group_id, exclude=_joined_parents(db, session.id) | _excused_parents(db, session.id)
    )
    facts, centre_id = _facts(db, session, "started", now=now)
    launched = session.launched_at or session.starts_at
    return _queue(
        db,
        facts=facts,
        session_id=session.id,
        centre_id=centre_id,
        key_prefix=f"started:{session.id}:{_epoch(launched)}",
        recipients=recipients,
        now=now,
    )


def withdraw_for_session(db: DbSession, *, session_id: int, now: dt.datetime | None = None) -> int:
    """Withdraws the session's undelivered reminders and "started" notices (it has ended)."""
    now = now or utcnow()
    result = db.execute(
        update(Notification)
        .where(
            Notification.session_id == session_id,
            Notification.state == "queued",
            Notification.kind.in_(("reminder", "started")),
            # A row being sent right now (leased) is left to its worker, which re-checks.
            or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
        )
        .values(state="failed", last_error="not sent: the session has ended", next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# -- relevance at delivery -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ParsedKey:
    kind: str
    session_id: int
    instant: int  # start epoch (reminders, changes) or launch epoch (started)
    sequence: int | None
    group_id: int | None = None  # removed sessions only: their row is gone


def parse_key(key: str) -> ParsedKey | None:
    parts = key.split(":")
    try:
        if parts[0] == "reminder" and len(parts) == 6:
            return ParsedKey("reminder", int(parts[1]), int(parts[2]), None)
        if parts[0] in CHANGES and len(parts) == 6:
            return ParsedKey(parts[0], int(parts[1]), int(parts[3]), int(parts[2]))
        if parts[0] == "started" and len(parts) == 5:
            return ParsedKey("started", int(parts[1]), int(parts[2]), None)
        if parts[0] == "removed" and len(parts) == 6:
            return ParsedKey("removed", int(parts[2]), int(parts[3]), None, group_id=int(parts[1]))
    except ValueError:
        return None
    return None


def stale_reason(db: DbSession, row: Notification, now: dt.datetime) -> str | None:
    """Why this queued notification must not be sent any more, or ``None`` if it still holds.

    Checked just before sending, because a row can wait (retries, a broker outage) while the
    session changes: a reminder is never sent for a cancelled session, for a session that moved
    away from the time it announces, or after the start.
    """
    parsed = parse_key(row.idempotency_key)
    if parsed is None:
        return None
    if parsed.kind == "removed" and parsed.group_id is not None:
        return _removed_stale_reason(db, row, parsed.group_id, parsed.instant, now)
    session = db.get(Session, parsed.session_id)
    if session is None:
        return "not sent: the session no longer exists"
    if reason := _recipient_gone(db, row, session.group_id):
        return reason
    if parsed.kind == "reminder":
        if session.status == "cancelled":
            return "not sent: the session was cancelled"
        if _epoch(session.starts_at) != parsed.instant:
            return "not sent: the session was moved (reminders for the new time follow)"
        if session.status != "scheduled" or session.starts_at <= now:
            return "not sent: the session has started"
    elif parsed.kind == "started":
        if session.status != "live" or session.ends_at <= now:
            return "not sent: the session is over"
        if row.parent_id is not None and row.parent_id in _joined_parents(db, session.id):
            return "not sent: the parent has joined"
    else:
        if session.ends_at <= now:
            return "not sent: the session is over"
        if parsed.kind != "cancelled" and session.status == "cancelled":
            return "not sent: the session was cancelled"
        if parsed.kind == "cancelled" and session.status != "cancelled":
            return "not sent: the session is no longer cancelled"
    return None


def _recipient_gone(db: DbSession, row: Notification, group_id: int) -> str | None:
    if row.parent_id is None:
        return None
    parent = db.get(Parent, row.parent_id)
    if parent is None or parent.erased_at is not None:
        return "not sent: the parent's data was erased"
    if not conference.is_enrolled(db, parent_id=parent.id, group_id=group_id):
        return "not sent: the parent is no longer in the group"
    return None


def _removed_stale_reason(
    db: DbSession, row: Notification, group_id: int, start_epoch: int, now: dt.datetime
) -> str | None:
    starts_at = dt.datetime.fromtimestamp(start_epoch, dt.UTC)
    if starts_at <= now:
        return "not sent: the session's time has passed"
    if db.get(Group, group_id) is None:
        return "not sent: the group no longer exists"
    if reason := _recipient_gone(db, row, group_id):
        return reason
    # A later change may have brought the session back (a new row at the same time).
    back = db.scalar(
        select(Session.id)
        .where(Session.group_id == group_id, Session.starts_at == starts_at, Session.status != "cancelled")
        .limit(1)
    )
    if back is not None:
        return "not sent: the group meets at that time after all"
    return None


# -- the outbox (coordinators) ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NotificationLine:
    id: int
    created_at: dt.datetime
    kind: str
    channel: str
    state: str
    recipient: str
    recipient_kind: str  # parent | staff | "" (erased)
    address: str
    language: str
    session_id: int | None
    session_start: dt.datetime | None
    subject: str
    body: str
    attempts: int
    last_error: str
    next_attempt_at: dt.datetime | None
    sent_at: dt.datetime | None

    @property
    def retryable(self) -> bool:
        return self.state in ("failed", "recorded")


@dataclasses.dataclass(frozen=True)
class NotificationPage:
    lines: list[NotificationLine]
    total: int
    counts: dict[str, int]  # per state, for the whole centre (filters not applied)


def _check_filter(value: str | None, allowed: Sequence[str], field: str) -> None:
    if value and value not in allowed:
        raise InvalidInput(
            gettext("%(field)s must be one of %(choices)s") % {"field": field, "choices": ", ".join(allowed)},
            field=field,
        )


def list_notifications(
    db: DbSession,
    *,
    actor: Actor,
    centre_id: int | None = None,
    state: str | None = None,
    channel: str | None = None,
    kind: str | None = None,
    session_id: int | None = None,
    limit: int = PAGE_SIZE,
    offset: int = 0,
    staff_language: str = "en",
) -> NotificationPage:
    """The centre's notifications, newest first, for coordinators (admins name the centre)."""
    require_role(actor, "coordinator", "admin")
    centre_id = centre_id if centre_id is not None else actor.centre_id
    if centre_id is None:
        raise InvalidInput(gettext("name the centre (centre_id)"), field="centre_id")
    require_centre(actor, centre_id, what="centre")
    _check_filter(state, STATES, "state")
    _check_filter(channel, CHANNELS, "channel")
    _check_filter(kind, KINDS, "kind")
    if not 0 < limit <= 500 or offset < 0:
        raise InvalidInput(gettext("limit must be 1..500 and offset not negative"), field="limit")
    query = select(Notification).where(Notification.centre_id == centre_id)
    if state:
        query = query.where(Notification.state == state)
    if channel:
        query = query.where(Notification.channel == channel)
    if kind:
        query = query.where(Notification.kind == kind)
    if session_id is not None:
        query = query.where(Notification.session_id == session_id)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(
        query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit).offset(offset)
    ).all()
    parent_ids = {r.parent_id for r in rows if r.parent_id is not None}
    staff_ids = {r.staff_user_id for r in rows if r.staff_user_id is not None}
    session_ids = {r.session_id for r in rows if r.session_id is not None}
    parents = dict(db.execute(select(Parent.id, Parent.display_name).where(Parent.id.in_(parent_ids))).all())
    staff = dict(
        db.execute(select(StaffUser.id, StaffUser.display_name).where(StaffUser.id.in_(staff_ids))).all()
    )
    starts = dict(db.execute(select(Session.id, Session.starts_at).where(Session.id.in_(session_ids))).all())
    lines = []
    for r in rows:
        if r.parent_id is not None:
            name, who = parents.get(r.parent_id, ""), "parent"
        elif r.staff_user_id is not None:
            name, who = staff.get(r.staff_user_id, ""), "staff"
        else:
            name, who = "", ""
        lines.append(
            NotificationLine(
                id=r.id,
                created_at=r.created_at,
                kind=r.kind,
                channel=r.channel,
                state=r.state,
                recipient=name,
                recipient_kind=who,
                address=r.address,
                language=r.language,
                session_id=r.session_id,
                session_start=starts.get(r.session_id) if r.session_id is not None else None,
                subject=r.subject,
                body=outbox_text(r.body, staff_language),
                attempts=r.attempts,
                last_error=r.last_error,
                next_attempt_at=r.next_attempt_at,
                sent_at=r.sent_at,
            )
        )
    counts = dict(
        db.execute(
            select(Notification.state, func.count())
            .where(Notification.centre_id == centre_id)
            .group_by(Notification.state)
        ).all()
    )
    return NotificationPage(lines=lines, total=total, counts={s: counts.get(s, 0) for s in STATES})


def retry_notification(
    db: DbSession, *, actor: Actor, notification_id: int, now: dt.datetime | None = None
) -> Notification:
    """Queues a failed or outbox notification again (audited); the caller sends the delivery job.

    An outbox row is given the recipient's consented channel if there is one now (consent given
    or an address added since); without one it stays in the outbox. The attempt counter starts
    again, so the retry gets the full series of attempts.
    """
    require_role(actor, "coordinator", "admin")
    now = now or utcnow()
    row = db.get(Notification, notification_id)
    if row is None or row.centre_id is None:
        raise NotFound(gettext("no notification with id %(id)s") % {"id": notification_id})
    require_centre(actor, row.centre_id, what="notification")
    if row.state not in ("failed", "recorded"):
        raise Conflict(gettext("only failed notifications and outbox entries can be sent again"))
    previous = {
        "state": row.state,
        "channel": row.channel,
        "attempts": row.attempts,
        "last_error": row.last_error,
    }
    channel, address = row.channel, row.address
    if row.channel == "outbox" or row.state == "recorded":
        channels: tuple[tuple[str, str], ...] = ()
        if row.parent_id is not None:
            parent = db.get(Parent, row.parent_id)
            channels = parent_channels(parent) if parent is not None and parent.erased_at is None else ()
        elif row.staff_user_id is not None:
            staff = db.get(StaffUser, row.staff_user_id)
            channels = (("email", staff.email),) if staff is not None and staff.active else ()
        wanted = row.idempotency_key.rsplit(":", 1)[-1]
        chosen = dict(channels)
        if wanted in chosen:
            channel, address = wanted, chosen[wanted]
        elif channels:
            channel, address = channels[0]
        else:
            channel, address = "outbox", ""
    if channel == "outbox":
        row.state, row.channel, row.last_error = "recorded", "outbox", NO_CONSENT
    else:
        if channel != row.channel and row.session_id is not None:
            # The text was rendered for another channel (an SMS is much shorter than an e-mail).
            session = db.get(Session, row.session_id)
            if session is not None:
                facts, _ = _facts(db, session, row.kind, now=now)
                row.subject, row.body = render_message(
                    facts, language=row.language, channel=channel, staff=row.staff_user_id is not None
                )
        row.state, row.channel, row.address = "queued", channel, address
        row.attempts, row.last_error, row.next_attempt_at = 0, "", None
    audit.record(
        db,
        actor,
        "notification.retry",
        object_type="notification",
        object_id=row.id,
        centre_id=row.centre_id,
        detail={"previous": previous, "channel": row.channel, "state": row.state},
    )
    db.flush()
    return row
