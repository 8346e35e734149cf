"""Use cases of attendance review: the session view, who is in now, corrections, manual entries.

Who may do what (``orchestrator.access``): a facilitator sees and corrects the sessions of the
groups they lead, a coordinator those of their centre. State-level admins see only anonymous
aggregates (domain.md), so they are refused here; everyone else is told the session does not
exist.

A correction sets the ``override_*`` columns of one attendance row (creating the row for a
manual entry: an in-person session, or a parent who joined on someone else's device) together
with who, when and why; the computed columns stay as the events say, and event processing never
touches the overrides, so a correction survives any reprocessing. Every correction and every
clearing writes an audit entry with the values before and after; the history shown in the view
and the API comes from those entries.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from orchestrator import audit
from orchestrator.access import Actor, require_centre, require_group, require_role
from orchestrator.attendance.compute import compute_attendance, judge, status_for
from orchestrator.attendance.processing import (
    CLIP_AFTER_MINUTES,
    CLIP_BEFORE_MINUTES,
    eligible_parents,
    events_of_session,
    lock_sessions,
    policy_for,
    resolve_people,
)
from orchestrator.errors import Conflict, InvalidInput, NotFound
from orchestrator.i18n import gettext
from orchestrator.models import (
    ATTENDANCE_STATUSES,
    Attendance,
    AuditEntry,
    Centre,
    Enrolment,
    Group,
    Parent,
    PresenceInterval,
    Session,
    StaffUser,
)

__all__ = [
    "CorrectionEntry",
    "IntervalView",
    "LivePerson",
    "LivePresence",
    "PersonLine",
    "PolicyReapplied",
    "SessionAttendanceView",
    "clear_correction",
    "correct_attendance",
    "mark_present_by_hand",
    "reapply_policy",
    "session_attendance",
    "who_is_in_now",
]

MAX_REASON = 500
CORRECTED = "attendance.corrected"
CLEARED = "attendance.correction_cleared"
POLICY_REAPPLIED = "attendance.policy_reapplied"


# --- what the pages and the API show --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class IntervalView:
    joined_at: dt.datetime
    left_at: dt.datetime | None  # None: still in the room
    in_breakout: bool


@dataclasses.dataclass(frozen=True)
class CorrectionEntry:
    at: dt.datetime
    by: str
    action: str  # "corrected" | "cleared"
    reason: str
    before: dict[str, Any]
    after: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class PersonLine:
    """One person of the session view."""

    role: str  # parent | facilitator | staff
    id: int  # parent id, or staff user id
    display_name: str
    minutes: int
    status: str | None  # None for staff who only looked in (no attendance row)
    computed_minutes: int
    computed_status: str | None
    corrected: bool
    override_status: str | None
    override_minutes: int | None
    correction_reason: str
    corrected_by: str | None
    corrected_at: dt.datetime | None
    first_join: dt.datetime | None
    last_leave: dt.datetime | None
    late: bool
    left_early: bool
    in_room_now: bool
    intervals: tuple[IntervalView, ...]
    corrections: tuple[CorrectionEntry, ...]

    @property
    def manual(self) -> bool:
        """Entered by hand: a correction on a row the events never backed."""
        return self.corrected and self.computed_minutes == 0 and not self.intervals


@dataclasses.dataclass(frozen=True)
class SessionAttendanceView:
    session_id: int
    group_id: int
    group_name: str
    centre_id: int
    timezone: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    status: str  # the session's: scheduled | live | ended | cancelled
    finalised_at: dt.datetime | None
    scheduled_minutes: int
    # Presence counts from this long before the start to this long after the end.
    clip_before_minutes: int
    clip_after_minutes: int
    parents: tuple[PersonLine, ...]
    facilitators: tuple[PersonLine, ...]
    staff: tuple[PersonLine, ...]  # coordinators or admins who looked in; not attendance
    unidentified_occupants: int
    live: bool  # the room may have people in it now: show "in the room now", refresh
    # What correct_attendance takes now: any entry once the session has started; before the
    # start only "excused" (a parent who called in). Nothing for a cancelled session.
    open_for_entries: bool
    open_for_excuses: bool
    in_room_now: tuple[LivePerson, ...]
    unidentified_in_room_now: int

    @property
    def people(self) -> tuple[PersonLine, ...]:
        return self.parents + self.facilitators + self.staff

    @property
    def present_parents(self) -> int:
        return sum(1 for p in self.parents if p.status in ("present", "partial"))


@dataclasses.dataclass(frozen=True)
class LivePerson:
    role: str  # parent | facilitator | staff
    id: int
    display_name: str
    since: dt.datetime | None  # the start of the current stay (first join if it is one stay)


@dataclasses.dataclass(frozen=True)
class LivePresence:
    session_id: int
    as_of: dt.datetime
    people: tuple[LivePerson, ...]
    unidentified: int  # connections without a known id (recorder, guests) in the room now


# --- access ---------------------------------------------------------------------------------------


def _session_for(db: DbSession, actor: Actor, session_id: int) -> tuple[Session, Group, Centre]:
    require_role(actor, "coordinator", "facilitator")
    session = db.get(Session, session_id)
    if session is None:
        raise NotFound(gettext("There is no such session."))
    group = db.get(Group, session.group_id)
    assert group is not None  # a foreign key with ON DELETE CASCADE
    require_group(actor, group.centre_id, group.id)
    centre = db.get(Centre, group.centre_id)
    assert centre is not None
    return session, group, centre


def _is_live(session: Session, now: dt.datetime) -> bool:
    """Whether people may be in the room now: a launched session, or one inside its slot."""
    if session.status == "cancelled" or session.finalised_at is not None:
        return False
    if session.status == "live":
        return True
    window_start = session.starts_at - dt.timedelta(minutes=CLIP_BEFORE_MINUTES)
    window_end = session.ends_at + dt.timedelta(minutes=CLIP_AFTER_MINUTES)
    return session.status == "scheduled" and window_start <= now <= window_end


# --- who is in now --------------------------------------------------------------------------------


def _live(
    db: DbSession, session: Session, group: Group, centre: Centre, now: dt.datetime
) -> tuple[tuple[LivePerson, ...], int]:
    # Computed afresh, including events still waiting for a worker, so the list is current even
    # when the workers lag behind.
    computed = compute_attendance(
        events_of_session(db, session.id, include_pending_room=session.room_name),
        scheduled_start=session.starts_at,
        scheduled_end=session.ends_at,
        policy=policy_for(centre),
        now=now,
        close_open_at=None,
    )
    people = resolve_people(db, session, group, computed.currently_present)
    names = _names(
        db, set(people.parents.values()), set(people.facilitators.values()) | set(people.other_staff.values())
    )
    open_since: dict[str, dt.datetime] = {}
    for p in computed.presence:
        if p.left_at is None and p.person_id is not None:
            previous = open_since.get(p.person_id)
            open_since[p.person_id] = p.joined_at if previous is None else min(previous, p.joined_at)
    present: list[LivePerson] = []
    unidentified = sum(1 for u in computed.unidentified if u.is_open)
    for person_id in sorted(computed.currently_present):
        kind = people.kind(person_id)
        if kind == "parent":
            ident = people.parents[person_id]
            name = names[0].get(ident, "")
        elif kind in ("facilitator", "staff"):
            ident = people.facilitators.get(person_id) or people.other_staff[person_id]
            name = names[1].get(ident, "")
        else:
            unidentified += 1
            continue
        present.append(LivePerson(kind, ident, name, open_since.get(person_id)))
    order = {"facilitator": 0, "parent": 1, "staff": 2}
    present.sort(key=lambda p: (order[p.role], p.display_name.casefold(), p.id))
    return tuple(present), unidentified


def who_is_in_now(db: DbSession, *, actor: Actor, session_id: int, now: dt.datetime) -> LivePresence:
    """Who is in the session's room now (for the facilitator's page and the session view)."""
    session, group, centre = _session_for(db, actor, session_id)
    people, unidentified = _live(db, session, group, centre, now)
    return LivePresence(session_id=session.id, as_of=now, people=people, unidentified=unidentified)


# --- the session view -----------------------------------------------------------------------------


def _names(db: DbSession, parent_ids: set[int], staff_ids: set[int]) -> tuple[dict[int, str], dict[int, str]]:
    parents: dict[int, str] = {}
    if parent_ids:
        for pid, name, erased in db.execute(
            select(Parent.id, Parent.display_name, Parent.erased_at).where(Parent.id.in_(sorted(parent_ids)))
        ):
            parents[pid] = "–" if erased is not None else name
    staff: dict[int, str] = {}
    if staff_ids:
        query = select(StaffUser.id, StaffUser.display_name).where(StaffUser.id.in_(sorted(staff_ids)))
        staff = dict(db.execute(query).all())
    return parents, staff


def _history(db: DbSession, rows: list[Attendance]) -> dict[int, list[CorrectionEntry]]:
    if not rows:
        return {}
    entries = db.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.object_type == "attendance",
            AuditEntry.object_id.in_([str(r.id) for r in rows]),
            AuditEntry.action.in_([CORRECTED, CLEARED]),
        )
        .order_by(AuditEntry.at, AuditEntry.id)
    )
    history: defaultdict[int, list[CorrectionEntry]] = defaultdict(list)
    for e in entries:
        history[int(e.object_id)].append(
            CorrectionEntry(
                at=e.at,
                by=str(e.detail.get("by") or e.actor_label),
                action="corrected" if e.action == CORRECTED else "cleared",
                reason=str(e.detail.get("reason", "")),
                before=dict(e.detail.get("before") or {}),
                after=dict(e.detail.get("after") or {}),
            )
        )
    return history


def session_attendance(
    db: DbSession, *, actor: Actor, session_id: int, now: dt.datetime
) -> SessionAttendanceView:
    """Everything the session view and ``GET /api/v1/sessions/{id}/attendance`` show."""
    session, group, centre = _session_for(db, actor, session_id)
    rows = list(db.scalars(select(Attendance).where(Attendance.session_id == session.id)))
    intervals = list(
        db.scalars(
            select(PresenceInterval)
            .where(PresenceInterval.session_id == session.id)
            .order_by(PresenceInterval.joined_at, PresenceInterval.id)
        )
    )
    live = _is_live(session, now)
    in_room, unidentified_now = _live(db, session, group, centre, now) if live else ((), 0)
    here = {(p.role, p.id) for p in in_room}

    by_parent: defaultdict[int, list[IntervalView]] = defaultdict(list)
    by_staff: defaultdict[int, list[IntervalView]] = defaultdict(list)
    unidentified_keys: set[str] = set()
    for i in intervals:
        view = IntervalView(i.joined_at, i.left_at, i.in_breakout)
        if i.parent_id is not None:
            by_parent[i.parent_id].append(view)
        elif i.staff_user_id is not None:
            by_staff[i.staff_user_id].append(view)
        else:
            unidentified_keys.add(i.person_key)

    staff_ids = {r.staff_user_id for r in rows if r.staff_user_id is not None}
    staff_ids |= set(by_staff) | {r.corrected_by_id for r in rows if r.corrected_by_id is not None}
    # Enrolled parents without a row yet (no events processed, or an in-person session): listed
    # without a status, so that a manual entry can be made for them.
    unrecorded = set() if session.status == "cancelled" else eligible_parents(db, session, group)
    unrecorded -= {r.parent_id for r in rows}
    parent_names, staff_names = _names(
        db, {r.parent_id for r in rows if r.parent_id is not None} | unrecorded, staff_ids
    )
    history = _history(db, rows)

    def line(row: Attendance, role: str, ident: int, name: str, spans: list[IntervalView]) -> PersonLine:
        corrected = row.override_status is not None or row.override_minutes is not None
        return PersonLine(
            role=role,
            id=ident,
            display_name=name,
            minutes=row.minutes,
            status=row.status,
            computed_minutes=row.computed_minutes,
            computed_status=row.computed_status,
            corrected=corrected,
            override_status=row.override_status,
            override_minutes=row.override_minutes,
            correction_reason=row.override_reason if corrected else "",
            corrected_by=staff_names.get(row.corrected_by_id) if row.corrected_by_id else None,
            corrected_at=row.corrected_at,
            first_join=row.first_join,
            last_leave=row.last_leave,
            late=row.late,
            left_early=row.left_early,
            in_room_now=(role, ident) in here,
            intervals=tuple(spans),
            corrections=tuple(history.get(row.id, ())),
        )

    parents = [
        line(r, "parent", r.parent_id, parent_names.get(r.parent_id, ""), by_parent.get(r.parent_id, []))
        for r in rows
        if r.parent_id is not None
    ]
    facilitators = [
        line(
            r,
            "facilitator",
            r.staff_user_id,
            staff_names.get(r.staff_user_id, ""),
            by_staff.get(r.staff_user_id, []),
        )
        for r in rows
        if r.staff_user_id is not None
    ]
    parents += [_unrecorded(pid, parent_names.get(pid, "")) for pid in unrecorded]
    observers = []
    for staff_id in sorted(set(by_staff) - {r.staff_user_id for r in rows}):
        spans = by_staff[staff_id]
        observers.append(
            PersonLine(
                role="staff",
                id=staff_id,
                display_name=staff_names.get(staff_id, ""),
                minutes=0,
                status=None,
                computed_minutes=0,
                computed_status=None,
                corrected=False,
                override_status=None,
                override_minutes=None,
                correction_reason="",
                corrected_by=None,
                corrected_at=None,
                first_join=min(s.joined_at for s in spans),
                last_leave=None,
                late=False,
                left_early=False,
                in_room_now=("staff", staff_id) in here,
                intervals=tuple(spans),
                corrections=(),
            )
        )
    parents.sort(key=lambda p: (p.display_name.casefold(), p.id))
    facilitators.sort(key=lambda p: (p.display_name.casefold(), p.id))
    return SessionAttendanceView(
        session_id=session.id,
        group_id=group.id,
        group_name=group.name,
        centre_id=centre.id,
        timezone=centre.timezone,
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        status=session.status,
        finalised_at=session.finalised_at,
        scheduled_minutes=(session.ends_at - session.starts_at) // dt.timedelta(minutes=1),
        clip_before_minutes=CLIP_BEFORE_MINUTES,
        clip_after_minutes=CLIP_AFTER_MINUTES,
        parents=tuple(parents),
        facilitators=tuple(facilitators),
        staff=tuple(observers),
        unidentified_occupants=len(unidentified_keys),
        live=live,
        open_for_entries=session.status != "cancelled" and now >= session.starts_at,
        open_for_excuses=session.status != "cancelled",
        in_room_now=in_room,
        unidentified_in_room_now=unidentified_now,
    )


def _unrecorded(parent_id: int, name: str) -> PersonLine:
    return PersonLine(
        role="parent",
        id=parent_id,
        display_name=name,
        minutes=0,
        status=None,
        computed_minutes=0,
        computed_status=None,
        corrected=False,
        override_status=None,
        override_minutes=None,
        correction_reason="",
        corrected_by=None,
        corrected_at=None,
        first_join=None,
        last_leave=None,
        late=False,
        left_early=False,
        in_room_now=False,
        intervals=(),
        corrections=(),
    )


# --- corrections ----------------------------------------------------------------------------------


def _snapshot(row: Attendance) -> dict[str, Any]:
    return {
        "status": row.status,
        "minutes": row.minutes,
        "override_status": row.override_status,
        "override_minutes": row.override_minutes,
        "computed_status": row.computed_status,
        "computed_minutes": row.computed_minutes,
    }


def _clean_reason(reason: str, *, required: bool) -> str:
    reason = " ".join((reason or "").split())
    if required and not reason:
        raise InvalidInput(gettext("Please give a reason for the correction."), field="reason")
    if len(reason) > MAX_REASON:
        raise InvalidInput(
            gettext("The reason may have at most %(n)d characters.") % {"n": MAX_REASON}, field="reason"
        )
    return reason


def _parent_row(db: DbSession, session: Session, group: Group, parent_id: int) -> Attendance | None:
    parent = db.get(Parent, parent_id)
    if parent is None or parent.centre_id != group.centre_id:
        raise NotFound(gettext("There is no such parent."))
    row = db.scalar(
        select(Attendance).where(Attendance.session_id == session.id, Attendance.parent_id == parent_id)
    )
    if row is None:
        enrolled = db.scalar(
            select(Enrolment.id).where(Enrolment.parent_id == parent_id, Enrolment.group_id == group.id)
        )
        if enrolled is None:
            raise InvalidInput(gettext("This parent is not enrolled in the group."), field="parent_id")
        if parent.erased_at is not None:
            raise Conflict(gettext("this parent's data has been erased"))
    return row


def correct_attendance(
    db: DbSession,
    *,
    actor: Actor,
    session_id: int,
    parent_id: int,
    status: str | None,
    minutes: int | None,
    reason: str,
    now: dt.datetime,
) -> Attendance:
    """Sets a parent's attendance by hand (a correction, or a manual entry without webhook data).

    ``status`` and/or ``minutes`` (at least one) replace what the events say; each correction
    replaces the previous one as a whole. Minutes without a status get the status the centre's
    policy gives those minutes (so "60 minutes" reads "present", not "absent"). The reason is
    required. Before the session starts only ``excused`` is taken (a parent who called in ahead).
    Writes an audit entry with the values before and after.
    """
    session, group, centre = _session_for(db, actor, session_id)
    reason = _clean_reason(reason, required=True)
    if status is not None and status not in ATTENDANCE_STATUSES:
        raise InvalidInput(
            gettext("%(field)s must be one of %(choices)s")
            % {"field": "status", "choices": ", ".join(ATTENDANCE_STATUSES)},
            field="status",
        )
    scheduled = (session.ends_at - session.starts_at) // dt.timedelta(minutes=1)
    longest = scheduled + CLIP_BEFORE_MINUTES + CLIP_AFTER_MINUTES
    if minutes is not None and not 0 <= minutes <= longest:
        raise InvalidInput(
            gettext("minutes must be between 0 and %(n)d for this session") % {"n": longest}, field="minutes"
        )
    if status is None and minutes is None:
        raise InvalidInput(gettext("give a status, minutes, or both"), field="status")
    if session.status == "cancelled":
        raise Conflict(gettext("The session was cancelled; it has no attendance."))
    # Before the start the only thing anyone can know is that a parent will not come (she called
    # in): "excused" may be entered ahead; presence and minutes only once the session has begun.
    if now < session.starts_at and (status != "excused" or minutes is not None):
        raise Conflict(
            gettext(
                "before the session starts a parent can only be excused; other entries once it has started"
            )
        )

    lock_sessions(db, [session.id])  # serialises with event processing writing this row
    row = _parent_row(db, session, group, parent_id)
    created = row is None
    if row is None:
        row = Attendance(
            session_id=session.id,
            parent_id=parent_id,
            role="parent",
            computed_minutes=0,
            computed_status="absent",
            late=False,
            left_early=False,
        )
        db.add(row)
        db.flush()
    before = _snapshot(row)
    if status is None and minutes is not None:
        status = status_for(minutes, scheduled, policy_for(centre))
    row.override_status = status
    row.override_minutes = minutes
    row.override_reason = reason
    row.corrected_by_id = actor.user_id
    row.corrected_at = now
    db.flush()
    entry = audit.record(
        db,
        actor,
        CORRECTED,
        object_type="attendance",
        object_id=row.id,
        centre_id=group.centre_id,
        detail={
            "session_id": session.id,
            "parent_id": parent_id,
            "by": actor.display_name,
            "reason": reason,
            "manual_entry": created,
            "before": before,
            "after": _snapshot(row),
        },
    )
    entry.at = now
    return row


def mark_present_by_hand(
    db: DbSession,
    *,
    actor: Actor,
    session_id: int,
    parent_ids: Sequence[int],
    reason: str,
    now: dt.datetime,
) -> list[Attendance]:
    """Marks several parents present at once: an in-person session, where nobody joined online and
    the facilitator ticks off who came. Each parent gets a correction of their own (status present,
    no minutes, the shared reason) with its audit entry, exactly as ``correct_attendance`` makes
    one. All or nothing: one parent the session does not take (not enrolled, say) refuses the
    whole list, in the caller's transaction.
    """
    unique = list(dict.fromkeys(parent_ids))
    if not unique:
        raise InvalidInput(gettext("tick at least one parent"), field="parent_ids")
    return [
        correct_attendance(
            db,
            actor=actor,
            session_id=session_id,
            parent_id=parent_id,
            status="present",
            minutes=None,
            reason=reason,
            now=now,
        )
        for parent_id in unique
    ]


def clear_correction(
    db: DbSession, *, actor: Actor, session_id: int, parent_id: int, reason: str = "", now: dt.datetime
) -> Attendance:
    """Removes a correction: the row shows what the events say again. Audited like a correction."""
    session, group, _ = _session_for(db, actor, session_id)
    reason = _clean_reason(reason, required=False)
    lock_sessions(db, [session.id])
    row = _parent_row(db, session, group, parent_id)
    if row is None or (row.override_status is None and row.override_minutes is None):
        raise NotFound(gettext("this parent's attendance has no correction to clear"))
    before = _snapshot(row)
    row.override_status = None
    row.override_minutes = None
    row.override_reason = ""
    row.corrected_by_id = None
    row.corrected_at = None
    db.flush()
    entry = audit.record(
        db,
        actor,
        CLEARED,
        object_type="attendance",
        object_id=row.id,
        centre_id=group.centre_id,
        detail={
            "session_id": session.id,
            "parent_id": parent_id,
            "by": actor.display_name,
            "reason": reason,
            "before": before,
            "after": _snapshot(row),
        },
    )
    entry.at = now
    return row


# --- a changed policy, applied to what is recorded -------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PolicyReapplied:
    sessions: int  # sessions looked at
    changed: int  # attendance rows whose status or flags changed


def reapply_policy(
    db: DbSession, *, actor: Actor, centre_id: int, since: dt.date, now: dt.datetime
) -> PolicyReapplied:
    """Judges the recorded attendance of the centre's sessions from ``since`` (a local day) until
    now by the centre's current policy.

    A changed policy applies by itself to every session computed after the change; sessions
    before it keep the judgement of their time, so a cycle's figures can mix two policies. This
    brings them in line on a coordinator's word. Only the judgement is redone (status, late, left
    early) from the minutes and times on record, which is exact whatever the events' retention
    has removed since; corrections stay as staff made them. One audit entry records the period,
    the policy and how many rows changed.
    """
    require_role(actor, "coordinator", "admin")
    require_centre(actor, centre_id, what="centre")
    centre = db.get(Centre, centre_id)
    if centre is None:
        raise NotFound(gettext("There is no such centre."))
    zone = ZoneInfo(centre.timezone)
    start = dt.datetime.combine(since, dt.time(0, 0), tzinfo=zone).astimezone(dt.UTC)
    if start > now:
        raise InvalidInput(gettext("Choose a day that is not in the future."), field="since")
    sessions = list(
        db.scalars(
            select(Session)
            .join(Group, Group.id == Session.group_id)
            .where(
                Group.centre_id == centre_id,
                Session.status != "cancelled",
                Session.starts_at >= start,
                Session.starts_at <= now,
            )
            .order_by(Session.id)
        )
    )
    # The workers' order: a session being recomputed meanwhile waits, or is waited for.
    lock_sessions(db, [s.id for s in sessions])
    policy = policy_for(centre)
    by_id = {s.id: s for s in sessions}
    changed = 0
    rows: list[Attendance] = (
        list(db.scalars(select(Attendance).where(Attendance.session_id.in_(by_id)))) if by_id else []
    )
    for row in rows:
        session = by_id[row.session_id]
        status, late, left_early = judge(
            row.computed_minutes,
            row.first_join,
            row.last_leave,
            scheduled_start=session.starts_at,
            scheduled_end=session.ends_at,
            policy=policy,
        )
        if (row.computed_status, row.late, row.left_early) != (status, late, left_early):
            row.computed_status, row.late, row.left_early = status, late, left_early
            changed += 1
    db.flush()
    entry = audit.record(
        db,
        actor,
        POLICY_REAPPLIED,
        object_type="centre",
        object_id=centre.id,
        centre_id=centre.id,
        detail={
            "since": since.isoformat(),
            "sessions": len(sessions),
            "changed": changed,
            "policy": dataclasses.asdict(policy),
        },
    )
    entry.at = now
    return PolicyReapplied(sessions=len(sessions), changed=changed)
