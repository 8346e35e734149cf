"""From the inbox to attendance: claim pending events, match them to sessions, recompute.

Why recompute from all events: webhooks arrive late, twice, out of order, and some never arrive
(jitsi.md). Any state built up incrementally ("she joined, so open an interval") would depend on
arrival order and would have to undo itself when an earlier event turns up later. Instead every
time a session gets new events, its attendance is computed again from **all** of its stored
events by the pure ``orchestrator.attendance.compute`` (which treats them as sets of facts), and
the session's presence intervals and the computed columns of its attendance rows are replaced by
the result. Replaying, reordering or duplicating events therefore cannot change the outcome
(design §5), and a fix in the computation can be applied to old sessions by recomputing them.
A session has at most a few hundred events, so this costs milliseconds.

Staff corrections live in the ``override_*`` columns, which this module never writes: they
survive any number of recomputations (``orchestrator.attendance.services`` owns them).

Concurrency: pending events are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
workers share the inbox without waiting on each other (SQLite serialises writers with
``BEGIN IMMEDIATE`` anyway). Two workers may still hold events of the same session; each locks
the session rows it recomputes (``SELECT … FOR UPDATE``, in id order so two workers cannot
deadlock), so the second waits for the first to commit and then sees both workers' events.
Everything for one claimed chunk — marking events, intervals, attendance — commits in one
transaction: a worker that dies mid-way leaves the events pending for the next one.

Matching: a session's room name is unique, and event_sync sends the main room's name even for
breakout rooms. JaaS breakout rooms share the meeting's ``sessionId`` (``meeting_key``), so an
event whose room name matches nothing is matched through another event of the same meeting.
Events that match nothing are kept as ``unmatched``; ``rematch_unmatched`` (run by the sweeper,
and for the meetings of every processed chunk) attaches them once their meeting or room becomes
known — a JaaS breakout join may well arrive before anything from the main room.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session as DbSession

from integrations.jitsi import ConferenceEvent as ParsedEvent
from orchestrator import audit
from orchestrator.attendance.compute import (
    ConnectionPresence,
    PersonAttendance,
    Policy,
    SessionAttendance,
    compute_attendance,
)
from orchestrator.groups.breaks import breaks_by_enrolment
from orchestrator.hooks.inbox import event_from_json, event_to_json, stored_event
from orchestrator.models import (
    Attendance,
    Centre,
    ConferenceEvent,
    Enrolment,
    Group,
    GroupFacilitator,
    Parent,
    PresenceInterval,
    Session,
    StaffUser,
)

__all__ = [
    "CLIP_AFTER_MINUTES",
    "CLIP_BEFORE_MINUTES",
    "Finalisation",
    "People",
    "ProcessResult",
    "close_open_at",
    "eligible_parents",
    "events_of_session",
    "finalise_session",
    "lock_sessions",
    "pending_overdue",
    "policy_for",
    "process_pending_events",
    "recompute_session",
    "rematch_unmatched",
    "resolve_people",
    "sessions_due_for_finalisation",
]

_LOGGER = logging.getLogger(__name__)

# The counting window around the scheduled time (compute.Policy's defaults, named here so pages
# and validation agree with the computation).
CLIP_BEFORE_MINUTES = 15
CLIP_AFTER_MINUTES = 30
# How far back unmatched events are looked at again: a meeting's late events arrive within
# minutes; anything older that still matches nothing belongs to a room that is not ours.
REMATCH_WINDOW = dt.timedelta(days=2)


def policy_for(centre: Centre) -> Policy:
    """The centre's attendance policy (its settings page and ``PATCH /centres/{id}``)."""
    return Policy(
        present_min_minutes=centre.present_min_minutes,
        present_min_share=centre.present_min_share,
        late_after_minutes=centre.late_after_minutes,
        early_leave_minutes=centre.early_leave_minutes,
        clip_before_minutes=CLIP_BEFORE_MINUTES,
        clip_after_minutes=CLIP_AFTER_MINUTES,
    )


@dataclasses.dataclass
class ProcessResult:
    claimed: int = 0
    processed: int = 0
    unmatched: int = 0
    errors: int = 0
    sessions: list[int] = dataclasses.field(default_factory=list)

    def add(self, other: ProcessResult) -> None:
        self.claimed += other.claimed
        self.processed += other.processed
        self.unmatched += other.unmatched
        self.errors += other.errors
        self.sessions = sorted(set(self.sessions) | set(other.sessions))


# --- claiming and matching ------------------------------------------------------------------------


def process_pending_events(
    db: DbSession, *, now: dt.datetime, finalise_grace: dt.timedelta, limit: int = 5000
) -> ProcessResult:
    """Claims up to ``limit`` pending events, matches them to sessions and recomputes those.

    Returns what was done; ``claimed == 0`` means the inbox had nothing pending (that this worker
    could lock). The caller commits; call again until nothing is claimed.
    """
    claimed = db.execute(
        select(
            ConferenceEvent.id,
            ConferenceEvent.deployment_id,
            ConferenceEvent.room_name,
            ConferenceEvent.meeting_key,
            ConferenceEvent.source,
            ConferenceEvent.kind,
            ConferenceEvent.body,
        )
        .where(ConferenceEvent.state == "pending")
        .order_by(ConferenceEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    result = ProcessResult(claimed=len(claimed))
    if not claimed:
        return result
    rows = _normalise(db, claimed, now=now)
    result.errors = len(claimed) - len(rows)

    by_room = _sessions_by_room(db, {r.room_name for r in rows})
    session_of: dict[int, int] = {}
    meetings: dict[tuple[int | None, str], int] = {}
    for r in rows:
        if (session_id := by_room.get(r.room_name)) is not None:
            session_of[r.id] = session_id
            if r.meeting_key:
                meetings.setdefault((r.deployment_id, r.meeting_key), session_id)
    leftovers = [r for r in rows if r.id not in session_of]
    if leftovers:
        known = _sessions_by_meeting(db, {(r.deployment_id, r.meeting_key) for r in leftovers}, now)
        known.update(meetings)
        for r in leftovers:
            if (session_id := known.get((r.deployment_id, r.meeting_key))) is not None:
                session_of[r.id] = session_id

    by_session: defaultdict[int, list[int]] = defaultdict(list)
    for event_id, session_id in session_of.items():
        by_session[session_id].append(event_id)
    for session_id, ids in by_session.items():
        db.execute(
            update(ConferenceEvent)
            .where(ConferenceEvent.id.in_(ids))
            .values(state="processed", session_id=session_id, processed_at=now)
        )
    unmatched_ids = [r.id for r in leftovers if r.id not in session_of]
    if unmatched_ids:
        db.execute(
            update(ConferenceEvent)
            .where(ConferenceEvent.id.in_(unmatched_ids))
            .values(state="unmatched", processed_at=now)
        )
    result.processed = len(session_of)
    result.unmatched = len(unmatched_ids)

    # Earlier events of these meetings that matched nothing can be placed now.
    attached = _attach_unmatched(db, now=now, meetings=meetings, rooms=None)
    affected = set(by_session) | set(attached)
    errors = _recompute_all(db, affected, now=now, finalise_grace=finalise_grace, new_events=by_session)
    result.errors += errors
    result.sessions = sorted(affected)
    return result


_AnyRow = Row[*tuple[Any, ...]]


def _normalise(db: DbSession, claimed: Sequence[_AnyRow], *, now: dt.datetime) -> list[_AnyRow]:
    """Parses the claimed rows' bodies into ``normalised``; returns the rows that could be parsed.

    The receivers store no parsed form (it is work on the request path); from here on the
    stored JSON is what the event means. A body the parser no longer accepts is marked
    ``error`` with the reason, and left out.
    """
    parsed: list[dict[str, Any]] = []
    readable: list[_AnyRow] = []
    for row in claimed:
        try:
            event = stored_event(row.source, row.kind, row.body)
        except ValueError as e:
            _LOGGER.error("conference event %s cannot be parsed any more: %s", row.id, e)
            db.execute(
                update(ConferenceEvent)
                .where(ConferenceEvent.id == row.id)
                .values(state="error", processed_at=now, error=f"cannot be parsed: {e}"[:2000])
            )
            continue
        parsed.append({"id": row.id, "normalised": event_to_json(event)})
        readable.append(row)
    if parsed:
        # One executemany by primary key (SQLAlchemy's bulk UPDATE), not one statement per row.
        db.execute(update(ConferenceEvent), parsed)
    return readable


def _sessions_by_room(db: DbSession, rooms: Collection[str]) -> dict[str, int]:
    """Room name -> session id (room names are unique per session)."""
    if not rooms:
        return {}
    query = select(Session.room_name, Session.id).where(Session.room_name.in_(sorted(rooms)))
    return dict(db.execute(query).all())


def _sessions_by_meeting(
    db: DbSession, keys: Iterable[tuple[int | None, str]], now: dt.datetime
) -> dict[tuple[int | None, str], int]:
    """Meeting -> session, learnt from recent events of the meeting that matched a session."""
    wanted = {key for key in keys if key[1]}
    if not wanted:
        return {}
    rows = db.execute(
        select(ConferenceEvent.deployment_id, ConferenceEvent.meeting_key, ConferenceEvent.session_id)
        .where(
            ConferenceEvent.meeting_key.in_(sorted({mk for _, mk in wanted})),
            ConferenceEvent.session_id.is_not(None),
            ConferenceEvent.received_at > now - REMATCH_WINDOW,
        )
        .distinct()
    ).all()
    found: dict[tuple[int | None, str], set[int]] = defaultdict(set)
    for deployment_id, meeting_key, session_id in rows:
        if (deployment_id, meeting_key) in wanted and session_id is not None:
            found[(deployment_id, meeting_key)].add(session_id)
    # A meeting seen in two sessions would be a contradiction; such events stay unmatched.
    return {key: next(iter(ids)) for key, ids in found.items() if len(ids) == 1}


def _attach_unmatched(
    db: DbSession,
    *,
    now: dt.datetime,
    meetings: Mapping[tuple[int | None, str], int] | None,
    rooms: Mapping[str, int] | None,
) -> dict[int, list[int]]:
    """Attaches recent unmatched events to sessions by meeting or room; returns session -> ids."""
    query = select(
        ConferenceEvent.id,
        ConferenceEvent.deployment_id,
        ConferenceEvent.meeting_key,
        ConferenceEvent.room_name,
    ).where(ConferenceEvent.state == "unmatched", ConferenceEvent.received_at > now - REMATCH_WINDOW)
    conditions = []
    if meetings:
        conditions.append(ConferenceEvent.meeting_key.in_(sorted({mk for _, mk in meetings})))
    if rooms:
        conditions.append(ConferenceEvent.room_name.in_(sorted(rooms)))
    if not conditions:
        return {}
    attached: defaultdict[int, list[int]] = defaultdict(list)
    for event_id, deployment_id, meeting_key, room_name in db.execute(query.where(or_(*conditions))):
        session_id = (rooms or {}).get(room_name)
        if session_id is None:
            session_id = (meetings or {}).get((deployment_id, meeting_key))
        if session_id is not None:
            attached[session_id].append(event_id)
    for session_id, ids in attached.items():
        db.execute(
            update(ConferenceEvent)
            .where(ConferenceEvent.id.in_(ids))
            .values(state="processed", session_id=session_id, processed_at=now, error="")
        )
    return dict(attached)


def rematch_unmatched(db: DbSession, *, now: dt.datetime, finalise_grace: dt.timedelta) -> ProcessResult:
    """Places recent ``unmatched`` events whose room or meeting is now known, and recomputes.

    Run by the sweeper: covers sessions created after their room's first events arrived, and
    meetings whose main-room events arrived after a breakout room's.
    """
    candidates = db.execute(
        select(ConferenceEvent.deployment_id, ConferenceEvent.meeting_key, ConferenceEvent.room_name)
        .where(ConferenceEvent.state == "unmatched", ConferenceEvent.received_at > now - REMATCH_WINDOW)
        .distinct()
    ).all()
    result = ProcessResult()
    if not candidates:
        return result
    rooms = _sessions_by_room(db, {c.room_name for c in candidates})
    meetings = _sessions_by_meeting(db, {(c.deployment_id, c.meeting_key) for c in candidates}, now)
    attached = _attach_unmatched(db, now=now, meetings=meetings, rooms=rooms)
    if not attached:
        return result
    result.processed = sum(len(ids) for ids in attached.values())
    result.errors = _recompute_all(
        db, set(attached), now=now, finalise_grace=finalise_grace, new_events=attached
    )
    result.sessions = sorted(attached)
    return result


def pending_overdue(db: DbSession, *, now: dt.datetime, older_than: dt.timedelta) -> int:
    """How many pending events were received more than ``older_than`` ago (their job was lost)."""
    return (
        db.scalar(
            select(func.count())
            .select_from(ConferenceEvent)
            .where(ConferenceEvent.state == "pending", ConferenceEvent.received_at < now - older_than)
        )
        or 0
    )


# --- recomputing ----------------------------------------------------------------------------------
#
# A chunk of events usually touches many sessions (a centre's evening: dozens of rooms at once).
# Everything a recomputation reads is loaded for all of them together (sessions, events, people,
# enrolments, existing rows), the computations run in memory, and the results are written with a
# handful of set-based statements: the number of database round trips does not grow with the
# number of sessions. If that combined write fails on bad data, each session is written on its
# own in a savepoint, so one session's problem does not hold up the others.


def lock_sessions(db: DbSession, session_ids: Iterable[int]) -> None:
    """Row locks on these sessions, in id order (PostgreSQL; SQLite's writer lock covers it)."""
    ids = sorted(set(session_ids))
    if ids:
        db.execute(select(Session.id).where(Session.id.in_(ids)).order_by(Session.id).with_for_update())


def _recompute_all(
    db: DbSession,
    session_ids: Collection[int],
    *,
    now: dt.datetime,
    finalise_grace: dt.timedelta,
    new_events: Mapping[int, list[int]],
) -> int:
    lock_sessions(db, session_ids)
    plans, failed = _plan(db, session_ids, now=now, finalise_grace=finalise_grace)
    try:
        with db.begin_nested():
            _write(db, plans, now=now)
    except OperationalError:
        raise  # the database is unavailable: the whole chunk is retried later
    except SQLAlchemyError:
        _LOGGER.warning("writing %d recomputed sessions at once failed; writing them one by one", len(plans))
        for plan in plans:
            try:
                with db.begin_nested():
                    _write(db, [plan], now=now)
            except OperationalError:
                raise
            except SQLAlchemyError as e:
                failed[plan.session_id] = e
    for session_id, error in sorted(failed.items()):
        _LOGGER.error("recomputing session %s failed: %r", session_id, error)
        ids = new_events.get(session_id, [])
        if ids:
            db.execute(
                update(ConferenceEvent)
                .where(ConferenceEvent.id.in_(ids))
                .values(state="error", error=f"recomputing session {session_id} failed: {error!r}"[:2000])
            )
    return len(failed)


def _decode(rows: Iterable[tuple[int, dict[str, Any] | None]]) -> list[ParsedEvent]:
    events = []
    for event_id, data in rows:
        if data is None:
            continue
        try:
            events.append(event_from_json(data))
        except ValueError:
            _LOGGER.warning("conference event %s has an unreadable normalised form; skipped", event_id)
    return events


def events_of_session(
    db: DbSession, session_id: int, *, include_pending_room: str | None = None
) -> list[ParsedEvent]:
    """Every processed event of the session (and, for live views, pending ones of its room)."""
    rows = db.execute(
        select(ConferenceEvent.id, ConferenceEvent.normalised)
        .where(ConferenceEvent.session_id == session_id, ConferenceEvent.state == "processed")
        .order_by(ConferenceEvent.id)
    )
    events = _decode((event_id, data) for event_id, data in rows)
    if include_pending_room is not None:
        # Not claimed by a worker yet, so not normalised yet: parsed from the body here.
        pending = db.execute(
            select(ConferenceEvent.id, ConferenceEvent.source, ConferenceEvent.kind, ConferenceEvent.body)
            .where(ConferenceEvent.state == "pending", ConferenceEvent.room_name == include_pending_room)
            .order_by(ConferenceEvent.id)
        )
        for event_id, source, kind, body in pending:
            try:
                events.append(stored_event(source, kind, body))
            except ValueError:
                _LOGGER.warning("pending conference event %s cannot be parsed; skipped", event_id)
    return events


def close_open_at(session: Session, *, now: dt.datetime, finalise_grace: dt.timedelta) -> dt.datetime | None:
    """Where intervals still open are closed: at finalisation, else once end + grace has passed."""
    if session.finalised_at is not None:
        return session.finalised_at
    deadline = session.ends_at + finalise_grace
    return deadline if now >= deadline else None


@dataclasses.dataclass(frozen=True)
class People:
    """Token ids (pseudonyms) of one session resolved to parents and staff of the group's centre."""

    parents: dict[str, int]  # pseudonym -> parent id
    facilitators: dict[str, int]  # pseudonym -> staff id, leading this session
    other_staff: dict[str, int]  # pseudonym -> staff id, e.g. a coordinator looking in

    def kind(self, person_id: str | None) -> str:
        if person_id is None:
            return "unidentified"
        if person_id in self.parents:
            return "parent"
        if person_id in self.facilitators:
            return "facilitator"
        if person_id in self.other_staff:
            return "staff"
        return "unidentified"


@dataclasses.dataclass
class _Directory:
    """People, leaders and enrolments for a set of sessions, loaded in a few queries."""

    parents: dict[str, tuple[int, int]]  # pseudonym -> (parent id, centre id)
    staff: dict[str, tuple[int, str, int | None]]  # pseudonym -> (staff id, role, centre id)
    leaders: dict[int, set[int]]  # group id -> staff ids
    # group id -> (parent id, from, until): one entry per time the parent was in the group
    enrolments: dict[int, list[tuple[int, dt.datetime, dt.datetime | None]]]

    @classmethod
    def load(cls, db: DbSession, group_ids: Collection[int], pseudonyms: Collection[str]) -> _Directory:
        wanted = sorted(pseudonyms)
        groups = sorted(group_ids)
        parents: dict[str, tuple[int, int]] = {}
        staff: dict[str, tuple[int, str, int | None]] = {}
        if wanted:
            for pseudonym, parent_id, centre_id in db.execute(
                select(Parent.pseudonym, Parent.id, Parent.centre_id).where(
                    Parent.pseudonym.in_(wanted), Parent.erased_at.is_(None)
                )
            ):
                parents[pseudonym] = (parent_id, centre_id)
            for pseudonym, staff_id, role, staff_centre in db.execute(
                select(StaffUser.pseudonym, StaffUser.id, StaffUser.role, StaffUser.centre_id).where(
                    StaffUser.pseudonym.in_(wanted)
                )
            ):
                staff[pseudonym] = (staff_id, role, staff_centre)
        leaders: defaultdict[int, set[int]] = defaultdict(set)
        enrolments: defaultdict[int, list[tuple[int, dt.datetime, dt.datetime | None]]] = defaultdict(list)
        if groups:
            for group_id, staff_id in db.execute(
                select(GroupFacilitator.group_id, GroupFacilitator.staff_user_id).where(
                    GroupFacilitator.group_id.in_(groups)
                )
            ):
                leaders[group_id].add(staff_id)
            breaks = breaks_by_enrolment(db, Enrolment.group_id.in_(groups))
            for enrolment_id, group_id, parent_id, enrolled_at, left_at in db.execute(
                select(
                    Enrolment.id,
                    Enrolment.group_id,
                    Enrolment.parent_id,
                    Enrolment.enrolled_at,
                    Enrolment.left_at,
                )
                .join(Parent, Parent.id == Enrolment.parent_id)
                .where(Enrolment.group_id.in_(groups), Parent.erased_at.is_(None))
            ):
                # One entry per time in the group: a parent who left and came back was not
                # expected at the sessions in between.
                start = enrolled_at
                for gone, back in breaks.get(enrolment_id, ()):
                    enrolments[group_id].append((parent_id, start, gone))
                    start = back
                enrolments[group_id].append((parent_id, start, left_at))
        return cls(parents, staff, dict(leaders), dict(enrolments))

    def people(self, session: Session, group: Group, ids: Iterable[str]) -> People:
        """See ``resolve_people``."""
        parents: dict[str, int] = {}
        facilitators: dict[str, int] = {}
        other_staff: dict[str, int] = {}
        leaders = self.leaders.get(group.id, set())
        for pseudonym in ids:
            if (parent := self.parents.get(pseudonym)) is not None:
                if parent[1] == group.centre_id:
                    parents[pseudonym] = parent[0]
            elif (member := self.staff.get(pseudonym)) is not None:
                staff_id, role, centre_id = member
                if centre_id != group.centre_id:
                    continue
                if staff_id in leaders or staff_id == session.launched_by_id or role == "facilitator":
                    facilitators[pseudonym] = staff_id
                else:
                    other_staff[pseudonym] = staff_id
        return People(parents, facilitators, other_staff)

    def eligible(self, session: Session, group: Group) -> set[int]:
        """Parents enrolled in the group at the session's time (rows for them even when absent)."""
        return {
            parent_id
            for parent_id, enrolled_at, left_at in self.enrolments.get(group.id, [])
            if enrolled_at <= session.ends_at and (left_at is None or left_at > session.starts_at)
        }


def resolve_people(db: DbSession, session: Session, group: Group, ids: Collection[str]) -> People:
    """Maps token ids to people. Only the group's own centre counts: an id from elsewhere (or
    none at all) is an unidentified occupant, never a parent.

    Staff are recorded as facilitators when they lead the group, launched this session, or are
    facilitators by role (a substitute); coordinators and admins who look in are "staff", kept as
    presence only, so their time never counts as facilitator hours.
    """
    return _Directory.load(db, [group.id], ids).people(session, group, ids)


def eligible_parents(db: DbSession, session: Session, group: Group) -> set[int]:
    """Parents enrolled in the group at the session's time (rows for them even when absent)."""
    return _Directory.load(db, [group.id], ()).eligible(session, group)


@dataclasses.dataclass
class _Plan:
    """What recomputing one session will write."""

    session_id: int
    computed: SessionAttendance | None  # None: cancelled, nothing counts
    intervals: list[dict[str, Any]]
    inserts: list[dict[str, Any]]
    updates: list[dict[str, Any]]


_COMPUTED_COLUMNS = ("computed_minutes", "computed_status", "first_join", "last_leave", "late", "left_early")


def _plan(
    db: DbSession, session_ids: Collection[int], *, now: dt.datetime, finalise_grace: dt.timedelta
) -> tuple[list[_Plan], dict[int, BaseException]]:
    ids = sorted(set(session_ids))
    loaded = db.execute(
        select(Session, Group, Centre)
        .join(Group, Group.id == Session.group_id)
        .join(Centre, Centre.id == Group.centre_id)
        .where(Session.id.in_(ids))
        .order_by(Session.id)
        # Fresh values even when this ORM session loaded these rows in an earlier transaction.
        .execution_options(populate_existing=True)
    ).all()
    raw_events: defaultdict[int, list[tuple[int, dict[str, Any] | None]]] = defaultdict(list)
    for session_id, event_id, data in db.execute(
        select(ConferenceEvent.session_id, ConferenceEvent.id, ConferenceEvent.normalised)
        .where(ConferenceEvent.session_id.in_(ids), ConferenceEvent.state == "processed")
        .order_by(ConferenceEvent.id)
    ):
        if session_id is not None:
            raw_events[session_id].append((event_id, data))

    computed: dict[int, SessionAttendance | None] = {}
    failed: dict[int, BaseException] = {}
    frozen: set[int] = set()
    for session, _group, centre in loaded:
        if session.status == "cancelled":
            computed[session.id] = None
            continue
        if _events_may_be_purged(session, centre, now):
            # Raw events are deleted after the centre's retention period; a straggler arriving
            # later must not recompute the session from what is left of them.
            _LOGGER.warning("session %s is past raw-event retention; its attendance is kept", session.id)
            frozen.add(session.id)
            continue
        try:
            computed[session.id] = compute_attendance(
                _decode(raw_events.get(session.id, [])),
                scheduled_start=session.starts_at,
                scheduled_end=session.ends_at,
                policy=policy_for(centre),
                now=now,
                close_open_at=close_open_at(session, now=now, finalise_grace=finalise_grace),
            )
        except Exception as e:  # bad data in one session must not stop the others
            failed[session.id] = e

    pseudonyms = {
        p.person_id for c in computed.values() if c is not None for p in c.presence if p.person_id is not None
    }
    directory = _Directory.load(db, {group.id for _, group, _ in loaded}, pseudonyms)
    existing: defaultdict[int, list[Any]] = defaultdict(list)
    for row in db.execute(
        select(
            Attendance.id,
            Attendance.session_id,
            Attendance.parent_id,
            Attendance.staff_user_id,
            *(getattr(Attendance, name) for name in _COMPUTED_COLUMNS),
        ).where(Attendance.session_id.in_(ids))
    ):
        existing[row.session_id].append(row)

    plans = []
    for session, group, _ in loaded:
        if session.id in failed or session.id in frozen:
            continue
        result = computed[session.id]
        if result is None:
            plans.append(_Plan(session.id, None, [], [], []))
            continue
        ids_here = {p.person_id for p in result.presence if p.person_id is not None}
        people = directory.people(session, group, ids_here)
        inserts, updates = _attendance_rows(
            session, result, people, directory.eligible(session, group), existing.get(session.id, []), now
        )
        plans.append(
            _Plan(session.id, result, _interval_rows(session.id, result.presence, people), inserts, updates)
        )
    return plans, failed


def _events_may_be_purged(session: Session, centre: Centre, now: dt.datetime) -> bool:
    """Whether retention may have deleted some of the session's raw events already."""
    if session.finalised_at is None:
        return False
    return now - session.finalised_at > dt.timedelta(days=centre.raw_event_retention_days)


def _interval_rows(
    session_id: int, presence: Iterable[ConnectionPresence], people: People
) -> list[dict[str, Any]]:
    rows = []
    for p in presence:
        kind = people.kind(p.person_id)
        if kind == "unidentified" or p.person_id is None:
            key = f"unidentified:{p.connection_id or p.person_id}"[:300]
            parent_id = staff_id = None
        else:
            key = p.person_id
            parent_id = people.parents.get(p.person_id)
            staff_id = people.facilitators.get(p.person_id) or people.other_staff.get(p.person_id)
        rows.append(
            {
                "session_id": session_id,
                "person_key": key,
                "parent_id": parent_id,
                "staff_user_id": staff_id,
                "connection_id": (p.connection_id or "")[:300],
                "meeting_key": "",
                "joined_at": p.joined_at,
                "left_at": p.left_at,
                "in_breakout": p.in_breakout,
                "source": "webhook",
            }
        )
    return rows


def _computed_values(person: PersonAttendance | None) -> dict[str, Any]:
    if person is None:
        return {
            "computed_minutes": 0,
            "computed_status": "absent",
            "first_join": None,
            "last_leave": None,
            "late": False,
            "left_early": False,
        }
    return {
        "computed_minutes": person.minutes,
        "computed_status": person.status,
        "first_join": person.first_join,
        "last_leave": person.last_leave,
        "late": person.late,
        "left_early": person.left_early,
    }


def _attendance_rows(
    session: Session,
    computed: SessionAttendance,
    people: People,
    eligible: set[int],
    existing: list[Any],
    now: dt.datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """New rows and changed computed columns; ``override_*`` is never part of either."""
    parent_rows = {r.parent_id: r for r in existing if r.parent_id is not None}
    staff_rows = {r.staff_user_id: r for r in existing if r.staff_user_id is not None}
    by_parent: dict[int, PersonAttendance | None] = {
        parent_id: computed.people.get(pseudonym) for pseudonym, parent_id in people.parents.items()
    }
    # Enrolled parents get a row even when absent. Rows no longer backed by events (an enrolment
    # ended, say) are reset to absent, not deleted: a correction on them must survive.
    for parent_id in eligible | set(parent_rows):
        by_parent.setdefault(parent_id, None)
    by_staff: dict[int, PersonAttendance | None] = {
        staff_id: computed.people.get(pseudonym) for pseudonym, staff_id in people.facilitators.items()
    }
    for staff_id in staff_rows:
        by_staff.setdefault(staff_id, None)

    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for role, targets, rows in (("parent", by_parent, parent_rows), ("facilitator", by_staff, staff_rows)):
        for person_key, person in sorted(targets.items()):
            values = _computed_values(person)
            row = rows.get(person_key)
            if row is None:
                inserts.append(
                    {
                        "session_id": session.id,
                        "parent_id": person_key if role == "parent" else None,
                        "staff_user_id": person_key if role == "facilitator" else None,
                        "role": role,
                        **values,
                        "override_status": None,
                        "override_minutes": None,
                        "override_reason": "",
                        "corrected_by_id": None,
                        "corrected_at": None,
                        "anonymised_at": None,
                        "updated_at": now,
                    }
                )
            elif any(getattr(row, name) != value for name, value in values.items()):
                # Only real changes are written, so updated_at moves only when the numbers did.
                updates.append({"row_id": row.id, **{f"new_{k}": v for k, v in values.items()}, "now": now})
    return inserts, updates


_INTERVALS = cast(Table, PresenceInterval.__table__)
_ATTENDANCE = cast(Table, Attendance.__table__)
_UPDATE_COMPUTED = (
    update(_ATTENDANCE)
    .where(_ATTENDANCE.c.id == bindparam("row_id"))
    .values({name: bindparam(f"new_{name}") for name in _COMPUTED_COLUMNS} | {"updated_at": bindparam("now")})
)


def _write(db: DbSession, plans: Sequence[_Plan], *, now: dt.datetime) -> None:
    """Replaces the intervals and updates the attendance of the planned sessions (Core, batched)."""
    if not plans:
        return
    conn = db.connection()
    conn.execute(delete(_INTERVALS).where(_INTERVALS.c.session_id.in_([p.session_id for p in plans])))
    intervals = [row for p in plans for row in p.intervals]
    if intervals:
        conn.execute(insert(_INTERVALS), intervals)
    inserts = [row for p in plans for row in p.inserts]
    if inserts:
        conn.execute(insert(_ATTENDANCE), inserts)
    updates = [row for p in plans for row in p.updates]
    if updates:
        conn.execute(_UPDATE_COMPUTED, updates)


def recompute_session(
    db: DbSession, *, session_id: int, now: dt.datetime, finalise_grace: dt.timedelta
) -> SessionAttendance | None:
    """Recomputes one session from all its events; replaces intervals and computed columns.

    Lock the session first (``lock_sessions``) when other workers may run. Cancelled sessions keep
    their events but get no attendance; sessions finalised longer ago than the centre's raw-event
    retention are left as they are (their events may be gone). Returns the computation (``None``
    in those cases, or if the session is missing); errors propagate.
    """
    plans, failed = _plan(db, [session_id], now=now, finalise_grace=finalise_grace)
    if failed:
        raise failed[session_id]
    _write(db, plans, now=now)
    # Attendance objects this ORM session may hold are stale after the Core writes.
    for obj in list(db.identity_map.values()):
        if isinstance(obj, Attendance) and obj.session_id == session_id:
            db.expire(obj)
    return plans[0].computed if plans else None


# --- finalisation ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Finalisation:
    session_id: int
    finalised_at: dt.datetime
    ended_now: bool  # the session was still live (or held but never ended) and is ended now
    people: int  # identified people with presence


def sessions_due_for_finalisation(
    db: DbSession, *, now: dt.datetime, finalise_grace: dt.timedelta
) -> list[int]:
    """Sessions whose end plus grace has passed and that are not finalised yet."""
    return list(
        db.scalars(
            select(Session.id)
            .where(Session.finalised_at.is_(None), Session.ends_at <= now - finalise_grace)
            .order_by(Session.ends_at, Session.id)
        )
    )


def finalise_session(
    db: DbSession, *, session_id: int, now: dt.datetime, finalise_grace: dt.timedelta
) -> Finalisation | None:
    """Closes a session's open intervals and computes its final attendance (idempotent).

    Marks it ``finalised_at = now`` (kept if already set, so running twice changes nothing); a
    session the facilitator never ended — still ``live``, or ``scheduled`` although people were
    in its room — is ended, with the last time anyone was in the room (or the scheduled end) as
    its end and an audit entry saying so. Cancelled sessions are only marked. ``None`` if the
    session does not exist.
    """
    lock_sessions(db, [session_id])
    session = db.get(Session, session_id)
    if session is None:
        return None
    if session.finalised_at is None:
        session.finalised_at = now
    computed = recompute_session(db, session_id=session_id, now=now, finalise_grace=finalise_grace)
    ended_now = False
    if computed is not None and (
        session.status == "live" or (session.status == "scheduled" and computed.presence)
    ):
        ends = [p.left_at for p in computed.presence if p.left_at is not None]
        ended_at = min(max(ends), now) if ends else min(session.ends_at, now)
        previous = session.status
        session.status = "ended"
        session.ended_at = session.ended_at or ended_at
        session.updated_at = now
        ended_now = True
        group = db.get(Group, session.group_id)
        audit.record(
            db,
            None,
            "session.ended_by_finalisation",
            object_type="session",
            object_id=session.id,
            centre_id=group.centre_id if group else None,
            detail={"status_before": previous, "ended_at": session.ended_at.isoformat()},
            actor_label="system (finalisation)",
        )
    db.flush()
    return Finalisation(
        session_id=session.id,
        finalised_at=session.finalised_at,
        ended_now=ended_now,
        people=len(computed.people) if computed is not None else 0,
    )
