"""Retention (run daily by beat) and the rights of access and erasure for one parent.

Retention, per centre and with the centre's periods (``Centre.*_days``; the clock is injected as
``now`` so tests can travel in time):

- **raw webhook events** older than ``raw_event_retention_days`` are deleted (events that cannot
  be attributed to a centre follow the shortest period of all centres). Notifications (addresses
  and texts) follow the same period; attendance never depends on either once computed.
- **contact data and the name ↔ pseudonym link** end ``contact_grace_days`` after the end of the
  parent's last cycle (the latest ``cycle_end`` of the groups they were enrolled in): see
  ``_anonymise_parent``. The parent row stays, with an anonymous label, so the per-parent
  figures of a cycle (how often "someone" came) remain countable.
- **attendance** of sessions older than ``attendance_retention_days`` is anonymised: the row stays
  (status, minutes) with ``parent_id`` cleared and ``anonymised_at`` set, so headcounts and
  totals stay; the presence intervals of those sessions lose their parent and their pseudonym;
  join visits lose their parent.
- personal links that were put into messages are revoked ``MESSAGE_LINK_DAYS`` after sending.

Each run records one audit entry per centre with what it changed.

Anonymising a parent is irreversible: name, phone, e-mail, consents and language go, the
pseudonym that webhooks and Jitsi's own logs know them by is replaced by a new random one (and
rewritten in their presence intervals), their link secrets and notifications are deleted, their
raw events are deleted, and audit details that quoted their name or contacts are blanked.
Erasure does that at once and also anonymises all their attendance.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session as DbSession

from orchestrator import audit
from orchestrator.access import Actor, require_centre, require_role
from orchestrator.errors import NotFound
from orchestrator.groups.breaks import breaks_by_enrolment
from orchestrator.hooks.inbox import event_to_json, stored_event
from orchestrator.i18n import gettext
from orchestrator.models import (
    AccessSecret,
    Attendance,
    AuditEntry,
    Centre,
    ConferenceEvent,
    Enrolment,
    Group,
    JitsiDeployment,
    Notification,
    Parent,
    PresenceInterval,
    Session,
    SessionVisit,
    utcnow,
)
from orchestrator.security import new_pseudonym

__all__ = [
    "EXPORT_FORMAT",
    "MESSAGE_LINK_DAYS",
    "CentreRetention",
    "Erasure",
    "apply_retention",
    "erase_parent",
    "export_parent",
    "privacy_summary",
]

EXPORT_FORMAT = "rucksack-parent-export/1"
# A personal link sent in a message stays valid this long; the parent's newer messages carry
# newer links, and the printed handout link is not affected.
MESSAGE_LINK_DAYS = 30
ERASED = "[erased]"


def _event_json(event: ConferenceEvent) -> dict[str, Any] | None:
    """What the event says, as the worker stored it, or parsed now if no worker has claimed it."""
    if event.normalised is not None:
        return event.normalised
    try:
        return event_to_json(stored_event(event.source, event.kind, event.body))
    except ValueError:
        return None


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


# -- anonymising one parent ------------------------------------------------------------------


def anonymous_label() -> str:
    """A label with no link to the person: random, so it cannot be recomputed from an id."""
    return f"anon-{secrets.token_hex(4)}"


def _scrub(value: Any, needles: set[str]) -> Any:
    if isinstance(value, str):
        return ERASED if value in needles else value
    if isinstance(value, list):
        return [_scrub(v, needles) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, needles) for k, v in value.items()}
    return value


def _anonymise_parent(db: DbSession, parent: Parent, now: dt.datetime) -> dict[str, int]:
    """Removes contact data and the name ↔ pseudonym link (see the module docstring)."""
    old_pseudonym = parent.pseudonym
    needles = {v for v in (parent.display_name, parent.phone, parent.email, old_pseudonym) if v}
    new = new_pseudonym("x")
    # The trail stays (who did what, when); only quotes of the person's data inside it go.
    for entry in _audit_about(db, parent.id):
        scrubbed = _scrub(entry.detail, needles)
        if scrubbed != entry.detail:
            entry.detail = scrubbed
    default_language = db.scalar(select(Centre.default_language).where(Centre.id == parent.centre_id)) or "de"
    parent.display_name = anonymous_label()
    parent.phone = None
    parent.email = None
    parent.sms_consent_at = None
    parent.email_consent_at = None
    # The interface language is close to a family language (domain.md: keep those at group level).
    parent.language = default_language
    parent.pseudonym = new
    parent.erased_at = now
    counts = {
        "intervals_rekeyed": _count(
            db.execute(
                update(PresenceInterval)
                .where(PresenceInterval.parent_id == parent.id)
                .values(person_key=new)
                .execution_options(synchronize_session=False)
            )
        ),
        "events_deleted": _count(
            db.execute(delete(ConferenceEvent).where(ConferenceEvent.person_id == old_pseudonym))
        ),
        "links_deleted": _count(db.execute(delete(AccessSecret).where(AccessSecret.parent_id == parent.id))),
        "notifications_deleted": _count(
            db.execute(delete(Notification).where(Notification.parent_id == parent.id))
        ),
    }
    db.execute(
        update(Enrolment)
        .where(Enrolment.parent_id == parent.id, Enrolment.left_at.is_(None))
        .values(left_at=now)
        .execution_options(synchronize_session=False)
    )
    db.flush()
    return counts


def _count(result: Any) -> int:
    return int(result.rowcount)


def _audit_about(db: DbSession, parent_id: int) -> list[AuditEntry]:
    """Audit entries about the parent: on their record, and on the links sent to them."""
    entries = db.scalars(
        select(AuditEntry).where(AuditEntry.object_type == "parent", AuditEntry.object_id == str(parent_id))
    ).all()
    secret_ids = [
        str(i) for i in db.scalars(select(AccessSecret.id).where(AccessSecret.parent_id == parent_id))
    ]
    links: list[AuditEntry] = []
    for start in range(0, len(secret_ids), 500):
        links += db.scalars(
            select(AuditEntry).where(
                AuditEntry.object_type == "access_secret",
                AuditEntry.object_id.in_(secret_ids[start : start + 500]),
            )
        ).all()
    return [*entries, *links]


def _anonymise_attendance_of(db: DbSession, parent_id: int, now: dt.datetime) -> dict[str, int]:
    return {
        "attendance_anonymised": _count(
            db.execute(
                update(Attendance)
                .where(Attendance.parent_id == parent_id)
                .values(parent_id=None, anonymised_at=now, override_reason="")
                .execution_options(synchronize_session=False)
            )
        ),
        "intervals_deleted": _count(
            db.execute(delete(PresenceInterval).where(PresenceInterval.parent_id == parent_id))
        ),
        "visits_deleted": _count(db.execute(delete(SessionVisit).where(SessionVisit.parent_id == parent_id))),
    }


# -- retention -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CentreRetention:
    centre_id: int
    events_deleted: int
    notifications_deleted: int
    parents_anonymised: int
    attendance_anonymised: int
    intervals_anonymised: int
    links_revoked: int

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def _centre_sessions(centre_id: int) -> Any:
    return select(Session.id).join(Group, Group.id == Session.group_id).where(Group.centre_id == centre_id)


def _last_cycle_end(db: DbSession, parent: Parent) -> dt.date:
    end = db.scalar(
        select(func.max(Group.cycle_end))
        .join(Enrolment, Enrolment.group_id == Group.id)
        .where(Enrolment.parent_id == parent.id)
    )
    if end is None:
        # Never enrolled: the grace period runs from when the record was made.
        return parent.created_at.date()
    return end


def _retain_centre(db: DbSession, centre: Centre, now: dt.datetime) -> CentreRetention:
    sessions = _centre_sessions(centre.id)
    deployments = select(JitsiDeployment.id).where(JitsiDeployment.centre_id == centre.id)
    event_cutoff = now - dt.timedelta(days=centre.raw_event_retention_days)
    events = _count(
        db.execute(
            delete(ConferenceEvent)
            .where(ConferenceEvent.received_at < event_cutoff)
            .where(
                ConferenceEvent.session_id.in_(sessions)
                | (ConferenceEvent.session_id.is_(None) & ConferenceEvent.deployment_id.in_(deployments))
            )
            .execution_options(synchronize_session=False)
        )
    )
    notifications = _count(
        db.execute(
            delete(Notification)
            .where(Notification.centre_id == centre.id, Notification.created_at < event_cutoff)
            .where(Notification.state != "queued")
            .execution_options(synchronize_session=False)
        )
    )

    today = now.astimezone(ZoneInfo(centre.timezone)).date()
    parents = 0
    for parent in db.scalars(
        select(Parent).where(Parent.centre_id == centre.id, Parent.erased_at.is_(None)).order_by(Parent.id)
    ).all():
        if _last_cycle_end(db, parent) + dt.timedelta(days=centre.contact_grace_days) < today:
            _anonymise_parent(db, parent, now)
            parents += 1

    attendance_cutoff = now - dt.timedelta(days=centre.attendance_retention_days)
    old_sessions = sessions.where(Session.starts_at < attendance_cutoff)
    attendance = _count(
        db.execute(
            update(Attendance)
            .where(
                Attendance.session_id.in_(old_sessions),
                Attendance.role == "parent",
                Attendance.anonymised_at.is_(None),
            )
            .values(parent_id=None, anonymised_at=now, override_reason="")
            .execution_options(synchronize_session=False)
        )
    )
    intervals = _count(
        db.execute(
            update(PresenceInterval)
            .where(PresenceInterval.session_id.in_(old_sessions), PresenceInterval.parent_id.is_not(None))
            .values(parent_id=None, person_key="anonymised")
            .execution_options(synchronize_session=False)
        )
    )
    db.execute(
        update(SessionVisit)
        .where(SessionVisit.session_id.in_(old_sessions), SessionVisit.parent_id.is_not(None))
        .values(parent_id=None)
        .execution_options(synchronize_session=False)
    )

    link_cutoff = now - dt.timedelta(days=MESSAGE_LINK_DAYS)
    sent_links = select(AuditEntry.object_id).where(
        AuditEntry.action == "notification.link",
        AuditEntry.centre_id == centre.id,
        AuditEntry.at < link_cutoff,
    )
    link_ids = [int(i) for i in db.scalars(sent_links) if i.isdigit()]
    links = 0
    for start in range(0, len(link_ids), 500):
        links += _count(
            db.execute(
                update(AccessSecret)
                .where(AccessSecret.id.in_(link_ids[start : start + 500]), AccessSecret.revoked_at.is_(None))
                .values(revoked_at=now)
                .execution_options(synchronize_session=False)
            )
        )
    return CentreRetention(centre.id, events, notifications, parents, attendance, intervals, links)


def apply_retention(db: DbSession, *, now: dt.datetime | None = None) -> list[CentreRetention]:
    """Enforces every centre's retention periods at ``now``; one audit entry per centre."""
    now = now or utcnow()
    results = []
    for centre in db.scalars(select(Centre).order_by(Centre.id)).all():
        result = _retain_centre(db, centre, now)
        audit.record(
            db,
            None,
            "retention.run",
            object_type="centre",
            object_id=centre.id,
            centre_id=centre.id,
            detail={"now": now.isoformat(), **result.as_dict()},
            actor_label="retention",
        )
        results.append(result)
    # Events that no centre can claim (a shared deployment, no session): the shortest period.
    shortest = db.scalar(select(func.min(Centre.raw_event_retention_days)))
    cutoff = now - dt.timedelta(days=shortest if shortest is not None else 30)
    unclaimed = _count(
        db.execute(
            delete(ConferenceEvent)
            .where(ConferenceEvent.received_at < cutoff, ConferenceEvent.session_id.is_(None))
            .where(
                ConferenceEvent.deployment_id.is_(None)
                | ConferenceEvent.deployment_id.in_(
                    select(JitsiDeployment.id).where(JitsiDeployment.centre_id.is_(None))
                )
            )
            .execution_options(synchronize_session=False)
        )
    )
    if unclaimed:
        audit.record(
            db,
            None,
            "retention.run",
            object_type="conference_events",
            detail={"now": now.isoformat(), "events_deleted": unclaimed},
            actor_label="retention",
        )
    db.flush()
    return results


# -- access and erasure ----------------------------------------------------------------------


def _parent(db: DbSession, actor: Actor | None, parent_id: int) -> Parent:
    """The parent, for a coordinator of their centre or an admin; ``actor`` None: the CLI."""
    if actor is not None:
        require_role(actor, "coordinator", "admin")
    parent = db.get(Parent, parent_id)
    if parent is None:
        raise NotFound(gettext("no parent with id %(id)s") % {"id": parent_id})
    if actor is not None:
        try:
            require_centre(actor, parent.centre_id, what="parent")
        except NotFound:
            raise NotFound(gettext("no parent with id %(id)s") % {"id": parent_id}) from None
    return parent


@dataclasses.dataclass(frozen=True)
class PrivacySummary:
    parent_id: int
    display_name: str
    erased_at: dt.datetime | None
    has_contact: bool
    enrolments: int
    attendance: int
    notifications: int
    links: int


def privacy_summary(db: DbSession, *, actor: Actor, parent_id: int) -> PrivacySummary:
    """What the privacy page shows before an export or erasure."""
    parent = _parent(db, actor, parent_id)

    def count(model: Any, column: Any) -> int:
        return db.scalar(select(func.count()).select_from(model).where(column == parent.id)) or 0

    return PrivacySummary(
        parent_id=parent.id,
        display_name=parent.display_name,
        erased_at=parent.erased_at,
        has_contact=bool(parent.phone or parent.email),
        enrolments=count(Enrolment, Enrolment.parent_id),
        attendance=count(Attendance, Attendance.parent_id),
        notifications=count(Notification, Notification.parent_id),
        links=count(AccessSecret, AccessSecret.parent_id),
    )


def export_parent(
    db: DbSession,
    *,
    actor: Actor | None,
    parent_id: int,
    now: dt.datetime | None = None,
    actor_label: str | None = None,
) -> dict[str, Any]:
    """Everything held about one parent, as JSON-ready data (Art. 15 GDPR); audited.

    It contains their record, enrolments, attendance with presence intervals and join visits,
    notifications, link metadata (never a hash), raw conference events that name their pseudonym
    (the parsed form, not other people's data), and the audit entries about them. Nothing about
    any other person: attendance and intervals are selected by their id only.
    """
    now = now or utcnow()
    parent = _parent(db, actor, parent_id)
    centre = db.get_one(Centre, parent.centre_id)
    groups = {
        g.id: g
        for g in db.scalars(
            select(Group)
            .join(Enrolment, Enrolment.group_id == Group.id)
            .where(Enrolment.parent_id == parent.id)
        )
    }
    enrolments = db.scalars(
        select(Enrolment).where(Enrolment.parent_id == parent.id).order_by(Enrolment.id)
    ).all()
    breaks = breaks_by_enrolment(db, Enrolment.parent_id == parent.id)
    attendance = db.execute(
        select(Attendance, Session)
        .join(Session, Session.id == Attendance.session_id)
        .where(Attendance.parent_id == parent.id)
        .order_by(Session.starts_at, Attendance.id)
    ).all()
    session_ids = {a.session_id for a, _ in attendance}
    intervals = db.scalars(
        select(PresenceInterval)
        .where(PresenceInterval.parent_id == parent.id)
        .order_by(PresenceInterval.joined_at, PresenceInterval.id)
    ).all()
    visits = db.scalars(
        select(SessionVisit)
        .where(SessionVisit.parent_id == parent.id)
        .order_by(SessionVisit.at, SessionVisit.id)
    ).all()
    session_ids |= {i.session_id for i in intervals} | {v.session_id for v in visits}
    sessions = (
        {s.id: s for s in db.scalars(select(Session).where(Session.id.in_(session_ids)))}
        if session_ids
        else {}
    )
    group_names = (
        dict(
            db.execute(
                select(Group.id, Group.name).where(Group.id.in_({s.group_id for s in sessions.values()}))
            ).all()
        )
        if sessions
        else {}
    )
    notifications = db.scalars(
        select(Notification)
        .where(Notification.parent_id == parent.id)
        .order_by(Notification.created_at, Notification.id)
    ).all()
    links = db.scalars(
        select(AccessSecret).where(AccessSecret.parent_id == parent.id).order_by(AccessSecret.id)
    ).all()
    events = db.scalars(
        select(ConferenceEvent)
        .where(ConferenceEvent.person_id == parent.pseudonym)
        .order_by(ConferenceEvent.id)
    ).all()
    audit_entries = sorted(_audit_about(db, parent.id), key=lambda e: (e.at, e.id))

    def session_ref(session_id: int) -> dict[str, Any]:
        s = sessions.get(session_id)
        if s is None:
            return {"session_id": session_id}
        return {
            "session_id": s.id,
            "group": group_names.get(s.group_id, ""),
            "starts_at": _iso(s.starts_at),
            "ends_at": _iso(s.ends_at),
            "session_status": s.status,
        }

    data: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "exported_at": _iso(now),
        "controller": {"centre_id": centre.id, "centre": centre.name},
        "parent": {
            "id": parent.id,
            "display_name": parent.display_name,
            "language": parent.language,
            "pseudonym": parent.pseudonym,
            "phone": parent.phone,
            "email": parent.email,
            "sms_consent_at": _iso(parent.sms_consent_at),
            "email_consent_at": _iso(parent.email_consent_at),
            "created_at": _iso(parent.created_at),
            "erased_at": _iso(parent.erased_at),
        },
        "enrolments": [
            {
                "group_id": e.group_id,
                "group": groups[e.group_id].name if e.group_id in groups else "",
                "site": groups[e.group_id].site_name if e.group_id in groups else "",
                "cycle_start": _iso(groups[e.group_id].cycle_start) if e.group_id in groups else None,
                "cycle_end": _iso(groups[e.group_id].cycle_end) if e.group_id in groups else None,
                "enrolled_at": _iso(e.enrolled_at),
                "left_at": _iso(e.left_at),
                "breaks": [
                    {"left_at": _iso(left_at), "rejoined_at": _iso(rejoined_at)}
                    for left_at, rejoined_at in breaks.get(e.id, ())
                ],
            }
            for e in enrolments
        ],
        "attendance": [
            {
                **session_ref(a.session_id),
                "status": a.status,
                "minutes": a.minutes,
                "computed_status": a.computed_status,
                "computed_minutes": a.computed_minutes,
                "override_status": a.override_status,
                "override_minutes": a.override_minutes,
                "override_reason": a.override_reason,
                "corrected_at": _iso(a.corrected_at),
                "first_join": _iso(a.first_join),
                "last_leave": _iso(a.last_leave),
                "late": a.late,
                "left_early": a.left_early,
            }
            for a, _ in attendance
        ],
        "presence_intervals": [
            {
                **session_ref(i.session_id),
                "joined_at": _iso(i.joined_at),
                "left_at": _iso(i.left_at),
                "in_breakout": i.in_breakout,
                "source": i.source,
            }
            for i in intervals
        ],
        "session_visits": [{**session_ref(v.session_id), "kind": v.kind, "at": _iso(v.at)} for v in visits],
        "notifications": [
            {
                "id": n.id,
                "created_at": _iso(n.created_at),
                "kind": n.kind,
                "channel": n.channel,
                "address": n.address,
                "language": n.language,
                "subject": n.subject,
                "body": n.body,
                "state": n.state,
                "attempts": n.attempts,
                "last_error": n.last_error,
                "sent_at": _iso(n.sent_at),
                "session_id": n.session_id,
            }
            for n in notifications
        ],
        "links": [
            {
                "id": s.id,
                "purpose": s.purpose,
                "created_at": _iso(s.created_at),
                "revoked_at": _iso(s.revoked_at),
            }
            for s in links
        ],
        "conference_events": [
            {
                "id": e.id,
                "received_at": _iso(e.received_at),
                "occurred_at": _iso(e.occurred_at),
                "kind": e.kind,
                "session_id": e.session_id,
                "event": _event_json(e),
            }
            for e in events
        ],
        "audit_entries": [
            {
                "at": _iso(e.at),
                "action": e.action,
                "by": e.actor_label,
                "object_type": e.object_type,
                "object_id": e.object_id,
                "detail": e.detail,
            }
            for e in audit_entries
        ],
    }
    audit.record(
        db,
        actor,
        "privacy.export",
        object_type="parent",
        object_id=parent.id,
        centre_id=parent.centre_id,
        detail={k: len(v) for k, v in data.items() if isinstance(v, list)},
        actor_label=actor_label,
    )
    return data


@dataclasses.dataclass(frozen=True)
class Erasure:
    parent_id: int
    erased_at: dt.datetime
    already_erased: bool
    counts: dict[str, int]


def erase_parent(
    db: DbSession,
    *,
    actor: Actor | None,
    parent_id: int,
    now: dt.datetime | None = None,
    actor_label: str | None = None,
) -> Erasure:
    """Erases a parent (Art. 17 GDPR): irreversibly anonymised, aggregates kept; audited.

    Attendance rows stay with their status and minutes but without the parent, so session
    headcounts and centre totals do not change. Erasing twice changes nothing more.
    """
    now = now or utcnow()
    parent = _parent(db, actor, parent_id)
    already = parent.erased_at is not None
    counts: dict[str, int] = {}
    if not already or parent.phone or parent.email:
        counts.update(_anonymise_parent(db, parent, now))
    counts.update(_anonymise_attendance_of(db, parent.id, now))
    audit.record(
        db,
        actor,
        "privacy.erase",
        object_type="parent",
        object_id=parent.id,
        centre_id=parent.centre_id,
        detail={"already_erased": already, **counts},
        actor_label=actor_label,
    )
    db.flush()
    return Erasure(parent.id, parent.erased_at or now, already, counts)
