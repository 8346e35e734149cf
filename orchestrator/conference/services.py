"""Use cases of the conference: launch, re-enter and end a session; a parent's join.

Every function takes the sync ORM session first and never commits (see docs/DEVELOPING.md). The
room token is minted *before* anything is written, so a deployment that cannot sign leaves the
session untouched. Starting and ending are conditional updates (``WHERE status = ...``): two
facilitators pressing Start at once make one launch and one re-entry, on SQLite and PostgreSQL
alike.

Each launch, join and end is recorded as a ``SessionVisit`` (who, which session, when): the
service's own attendance signal, independent of the conference's webhooks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session as DbSession

from integrations.jitsi.tokens import Participant, join_url, mint_token
from orchestrator import audit
from orchestrator.access import Actor, require_group
from orchestrator.conference.decisions import (
    JoinState,
    LaunchState,
    SessionFacts,
    Timing,
    decide_join,
    decide_launch,
    is_moved,
)
from orchestrator.conference.deployments import DeploymentUnusable, to_deployment
from orchestrator.errors import Conflict, NotFound
from orchestrator.i18n import format_local_datetime, gettext
from orchestrator.models import (
    Attendance,
    Centre,
    Enrolment,
    Group,
    JitsiDeployment,
    Parent,
    Series,
    Session,
    SessionVisit,
    StaffUser,
    utcnow,
)

__all__ = [
    "AttendanceLine",
    "Ending",
    "JoinOutcome",
    "Launch",
    "Overview",
    "SessionCard",
    "SessionDetail",
    "SessionView",
    "Visitor",
    "current_session_id",
    "end_session",
    "enter_session",
    "facilitator_overview",
    "facilitator_session",
    "is_enrolled",
    "join_as_parent",
    "launch_session",
    "next_session",
    "session_view",
]


@dataclasses.dataclass(frozen=True)
class SessionView:
    """A session as pages show it, fully loaded (no lazy loading after the transaction)."""

    id: int
    group_id: int
    group_name: str
    centre_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    status: str
    zone: str
    theme: str
    material_url: str
    cancel_reason: str
    moved: bool
    # The instant the session was first planned for, when it has been moved.
    original_start: dt.datetime | None
    launched_at: dt.datetime | None
    ended_at: dt.datetime | None

    @property
    def facts(self) -> SessionFacts:
        return SessionFacts(self.status, self.starts_at, self.ends_at, self.moved)


@dataclasses.dataclass(frozen=True)
class Launch:
    """The facilitator's way into the room; ``started`` when this call made the session live."""

    session: SessionView
    join_url: str
    started: bool


@dataclasses.dataclass(frozen=True)
class Ending:
    session: SessionView
    ended: bool  # False when it had been ended before (ending twice changes nothing)


@dataclasses.dataclass(frozen=True)
class JoinOutcome:
    """What a parent's join link leads to. ``join_url`` only for ``LIVE`` with minting asked for."""

    state: JoinState
    session: SessionView | None
    next_session: SessionView | None
    opens_at: dt.datetime | None
    join_url: str | None = None


@dataclasses.dataclass(frozen=True)
class SessionCard:
    session: SessionView
    launch: LaunchState
    opens_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class Overview:
    today: list[SessionCard]
    upcoming: list[SessionCard]


@dataclasses.dataclass(frozen=True)
class Visitor:
    name: str
    role: str  # parent | staff
    first_at: dt.datetime
    last_at: dt.datetime
    joins: int


@dataclasses.dataclass(frozen=True)
class AttendanceLine:
    name: str
    status: str
    minutes: int


@dataclasses.dataclass(frozen=True)
class SessionDetail:
    card: SessionCard
    visitors: list[Visitor]
    not_joined: list[str]
    attendance: list[AttendanceLine]


# -- loading ---------------------------------------------------------------------------------


def _zone(db: DbSession, session: Session, group: Group) -> str:
    # recurrence_local is local time in the series' zone; one-offs use the centre's zone.
    if session.series_id is not None:
        zone = db.scalar(select(Series.timezone).where(Series.id == session.series_id))
        if zone:
            return zone
    return db.scalar(select(Centre.timezone).where(Centre.id == group.centre_id)) or "Europe/Berlin"


def session_view(db: DbSession, session: Session, group: Group | None = None) -> SessionView:
    group = group or db.get_one(Group, session.group_id)
    zone = _zone(db, session, group)
    moved = is_moved(session.recurrence_local, session.starts_at, zone)
    original: dt.datetime | None = None
    if moved and session.recurrence_local is not None:
        original = session.recurrence_local.replace(tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)
    return SessionView(
        id=session.id,
        group_id=group.id,
        group_name=group.name,
        centre_id=group.centre_id,
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        status=session.status,
        zone=zone,
        theme=session.theme,
        material_url=session.material_url,
        cancel_reason=session.cancel_reason,
        moved=moved,
        original_start=original,
        launched_at=session.launched_at,
        ended_at=session.ended_at,
    )


def _staff_session(db: DbSession, actor: Actor, session_id: int) -> tuple[Session, Group]:
    """The session if the actor leads its group or manages its centre; *not found* otherwise."""
    session = db.get(Session, session_id)
    if session is None:
        raise NotFound(gettext("no session with id %(id)s") % {"id": session_id})
    group = db.get_one(Group, session.group_id)
    try:
        require_group(actor, group.centre_id, group.id)
    except NotFound:
        # Same answer as for an id that does not exist: another group's ids cannot be probed.
        raise NotFound(gettext("no session with id %(id)s") % {"id": session_id}) from None
    return session, group


def _deployment_row(db: DbSession, group: Group) -> JitsiDeployment:
    if group.deployment_id is not None:
        row = db.get(JitsiDeployment, group.deployment_id)
        if row is not None:
            return row
    # A centre with exactly one deployment needs no per-group choice.
    rows = list(
        db.scalars(select(JitsiDeployment).where(JitsiDeployment.centre_id == group.centre_id).limit(2))
    )
    if len(rows) == 1:
        return rows[0]
    raise DeploymentUnusable(
        gettext("The group has no video conference (Jitsi deployment) set up. Please ask the coordinator.")
    )


def _room_link(
    db: DbSession,
    session: Session,
    group: Group,
    *,
    user_id: str,
    name: str,
    moderator: bool,
    timing: Timing,
) -> str:
    deployment = to_deployment(_deployment_row(db, group))
    participant = Participant(user_id=user_id, name=name, moderator=moderator)
    try:
        token = mint_token(
            deployment,
            session.room_name,
            participant,
            not_before=timing.token_not_before(session.starts_at),
            expires=timing.token_expires(session.ends_at),
        )
        return join_url(deployment, session.room_name, token)
    except ValueError as e:
        raise DeploymentUnusable(
            gettext("no room token could be made for session %(id)s: %(reason)s")
            % {"id": session.id, "reason": e}
        ) from None


# -- facilitator -----------------------------------------------------------------------------


def _launch_refusal(state: LaunchState, view: SessionView, timing: Timing) -> Conflict:
    if state is LaunchState.TOO_EARLY:
        when = format_local_datetime(timing.opens_at(view.starts_at), view.zone)
        return Conflict(gettext("The session can be started from %(time)s.") % {"time": when})
    if state is LaunchState.CANCELLED:
        return Conflict(gettext("The session is cancelled."))
    if state is LaunchState.ENDED:
        return Conflict(gettext("The session has ended."))
    return Conflict(gettext("The time of this session is over."))


def launch_session(
    db: DbSession, *, actor: Actor, session_id: int, timing: Timing, now: dt.datetime | None = None
) -> Launch:
    """Starts the session (scheduled → live) or re-enters it when live; returns the moderator link.

    Allowed for the group's facilitators and the centre's coordinators (and admins), from the
    start of the join window until the token grace after the end.
    """
    return _enter(db, actor=actor, session_id=session_id, timing=timing, now=now or utcnow(), start=True)


def enter_session(
    db: DbSession, *, actor: Actor, session_id: int, timing: Timing, now: dt.datetime | None = None
) -> Launch:
    """The moderator link into a session that is live already (re-entering after leaving)."""
    return _enter(db, actor=actor, session_id=session_id, timing=timing, now=now or utcnow(), start=False)


def _enter(
    db: DbSession, *, actor: Actor, session_id: int, timing: Timing, now: dt.datetime, start: bool
) -> Launch:
    session, group = _staff_session(db, actor, session_id)
    view = session_view(db, session, group)
    state = decide_launch(view.facts, now=now, timing=timing)
    if state is LaunchState.START and not start:
        raise Conflict(gettext("The session has not been started yet."))
    if state not in (LaunchState.START, LaunchState.REENTER):
        raise _launch_refusal(state, view, timing)
    staff = db.get_one(StaffUser, actor.user_id)
    url = _room_link(
        db, session, group, user_id=staff.pseudonym, name=staff.display_name, moderator=True, timing=timing
    )
    started = False
    if state is LaunchState.START:
        result = db.execute(
            update(Session)
            .where(Session.id == session.id, Session.status == "scheduled")
            .values(status="live", launched_at=now, launched_by_id=actor.user_id, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        started = result.rowcount == 1  # type: ignore[attr-defined]
        db.refresh(session)
        if session.status != "live":
            # Cancelled or ended between our read and our write: refuse rather than guess.
            raise Conflict(gettext("The session changed in the meantime. Please reload the page."))
    db.add(
        SessionVisit(
            session_id=session.id, staff_user_id=actor.user_id, kind="launch" if started else "join", at=now
        )
    )
    if started:
        audit.record(
            db,
            actor,
            "session.launch",
            object_type="session",
            object_id=session.id,
            centre_id=group.centre_id,
        )
    return Launch(session=session_view(db, session, group), join_url=url, started=started)


def end_session(db: DbSession, *, actor: Actor, session_id: int, now: dt.datetime | None = None) -> Ending:
    """Ends a live session: later joins are refused. Ending an ended session changes nothing."""
    now = now or utcnow()
    session, group = _staff_session(db, actor, session_id)
    if session.status == "ended":
        return Ending(session=session_view(db, session, group), ended=False)
    if session.status == "cancelled":
        raise Conflict(gettext("The session is cancelled."))
    if session.status != "live":
        raise Conflict(gettext("The session has not been started yet."))
    result = db.execute(
        update(Session)
        .where(Session.id == session.id, Session.status == "live")
        .values(status="ended", ended_at=now, ended_by_id=actor.user_id, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.refresh(session)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return Ending(session=session_view(db, session, group), ended=False)
    db.add(SessionVisit(session_id=session.id, staff_user_id=actor.user_id, kind="end", at=now))
    audit.record(
        db, actor, "session.end", object_type="session", object_id=session.id, centre_id=group.centre_id
    )
    return Ending(session=session_view(db, session, group), ended=True)


def _visible_groups(db: DbSession, actor: Actor) -> list[Group]:
    query = select(Group).where(Group.archived.is_(False)).order_by(Group.name)
    if actor.is_facilitator:
        if not actor.group_ids:
            return []
        query = query.where(Group.id.in_(actor.group_ids), Group.centre_id == actor.centre_id)
    elif not actor.is_admin:
        query = query.where(Group.centre_id == actor.centre_id)
    return list(db.scalars(query))


def facilitator_overview(
    db: DbSession, *, actor: Actor, timing: Timing, now: dt.datetime | None = None, days: int = 14
) -> Overview:
    """Today's and the coming days' sessions of the actor's groups (coordinators: the centre's)."""
    now = now or utcnow()
    groups = {g.id: g for g in _visible_groups(db, actor)}
    if not groups:
        return Overview(today=[], upcoming=[])
    # Wide enough for "today" in any zone; each card is then placed by its local date.
    sessions = db.scalars(
        select(Session)
        .where(
            Session.group_id.in_(groups),
            Session.ends_at > now - dt.timedelta(hours=24),
            Session.starts_at < now + dt.timedelta(days=days),
        )
        .order_by(Session.starts_at, Session.id)
        .limit(200)
    )
    today: list[SessionCard] = []
    upcoming: list[SessionCard] = []
    for session in sessions:
        view = session_view(db, session, groups[session.group_id])
        card = SessionCard(
            session=view,
            launch=decide_launch(view.facts, now=now, timing=timing),
            opens_at=timing.opens_at(view.starts_at),
        )
        zone = ZoneInfo(view.zone)
        if view.starts_at.astimezone(zone).date() == now.astimezone(zone).date():
            today.append(card)
        elif view.starts_at > now:
            upcoming.append(card)
    return Overview(today=today, upcoming=upcoming)


def facilitator_session(
    db: DbSession, *, actor: Actor, session_id: int, timing: Timing, now: dt.datetime | None = None
) -> SessionDetail:
    """One session for its facilitator: state, actions, who has joined so far, presence if known."""
    now = now or utcnow()
    session, group = _staff_session(db, actor, session_id)
    view = session_view(db, session, group)
    card = SessionCard(
        session=view,
        launch=decide_launch(view.facts, now=now, timing=timing),
        opens_at=timing.opens_at(view.starts_at),
    )
    rows = db.execute(
        select(
            SessionVisit.parent_id,
            SessionVisit.staff_user_id,
            func.min(SessionVisit.at),
            func.max(SessionVisit.at),
            func.count(),
        )
        .where(SessionVisit.session_id == session.id, SessionVisit.kind.in_(("join", "launch")))
        .group_by(SessionVisit.parent_id, SessionVisit.staff_user_id)
    ).all()
    parent_ids = {r[0] for r in rows if r[0] is not None}
    staff_ids = {r[1] for r in rows if r[1] is not None}
    parent_names: dict[int, str] = {}
    if parent_ids:
        parent_names = dict(
            db.execute(select(Parent.id, Parent.display_name).where(Parent.id.in_(parent_ids))).all()
        )
    staff_names: dict[int, str] = {}
    if staff_ids:
        staff_names = dict(
            db.execute(select(StaffUser.id, StaffUser.display_name).where(StaffUser.id.in_(staff_ids))).all()
        )
    visitors: list[Visitor] = []
    for parent_id, staff_id, first, last, count in rows:
        if parent_id is not None:
            visitors.append(Visitor(parent_names.get(parent_id, "?"), "parent", first, last, count))
        elif staff_id is not None:
            visitors.append(Visitor(staff_names.get(staff_id, "?"), "staff", first, last, count))
    visitors.sort(key=lambda v: (v.role != "staff", v.first_at))
    enrolled = db.execute(
        select(Parent.id, Parent.display_name)
        .join(Enrolment, Enrolment.parent_id == Parent.id)
        .where(Enrolment.group_id == group.id, Enrolment.left_at.is_(None), Parent.erased_at.is_(None))
        .order_by(Parent.display_name)
    ).all()
    not_joined = [name for pid, name in enrolled if pid not in parent_ids]
    attendance_rows = db.execute(
        select(Attendance, Parent.display_name)
        .join(Parent, Parent.id == Attendance.parent_id)
        .where(Attendance.session_id == session.id)
        .order_by(Parent.display_name)
    ).all()
    attendance = [AttendanceLine(name, a.status, a.minutes) for a, name in attendance_rows]
    return SessionDetail(card=card, visitors=visitors, not_joined=not_joined, attendance=attendance)


# -- parents ---------------------------------------------------------------------------------


def is_enrolled(db: DbSession, *, parent_id: int, group_id: int) -> bool:
    """Enrolled now: an enrolment that has not ended."""
    found = db.scalar(
        select(Enrolment.id).where(
            Enrolment.parent_id == parent_id, Enrolment.group_id == group_id, Enrolment.left_at.is_(None)
        )
    )
    return found is not None


def next_session(
    db: DbSession, *, group_id: int, now: dt.datetime, exclude: int | None = None
) -> SessionView | None:
    """The group's next session that will take place (scheduled or live, not over)."""
    query = (
        select(Session)
        .where(Session.group_id == group_id, Session.status.in_(("scheduled", "live")), Session.ends_at > now)
        .order_by(Session.starts_at, Session.id)
        .limit(2)
    )
    for session in db.scalars(query):
        if session.id != exclude:
            return session_view(db, session)
    return None


def join_as_parent(
    db: DbSession,
    *,
    parent: Parent,
    session_id: int,
    timing: Timing,
    now: dt.datetime | None = None,
    mint: bool = True,
) -> JoinOutcome:
    """What ``parent`` gets from the session's join link now.

    When the session is live and ``mint`` is set, a participant token is minted, the join is
    recorded as a ``SessionVisit`` and ``join_url`` leads into the room. Every other state writes
    nothing. A session of another group, and an id that does not exist, both answer
    ``NOT_ENROLLED`` so that a parent's link cannot probe other groups.
    """
    now = now or utcnow()
    session = db.get(Session, session_id)
    if session is None or not is_enrolled(db, parent_id=parent.id, group_id=session.group_id):
        return JoinOutcome(state=JoinState.NOT_ENROLLED, session=None, next_session=None, opens_at=None)
    group = db.get_one(Group, session.group_id)
    view = session_view(db, session, group)
    state = decide_join(view.facts, enrolled=True, now=now, timing=timing)
    upcoming = None
    if state in (JoinState.CANCELLED, JoinState.ENDED, JoinState.EXPIRED):
        upcoming = next_session(db, group_id=group.id, now=now, exclude=session.id)
    url = None
    if state is JoinState.LIVE and mint:
        url = _room_link(
            db,
            session,
            group,
            user_id=parent.pseudonym,
            name=parent.display_name,
            moderator=False,
            timing=timing,
        )
        db.add(SessionVisit(session_id=session.id, parent_id=parent.id, kind="join", at=now))
    return JoinOutcome(
        state=state,
        session=view,
        next_session=upcoming,
        opens_at=timing.opens_at(view.starts_at),
        join_url=url,
    )


def current_session_id(
    db: DbSession, *, parent: Parent, group_id: int, timing: Timing, now: dt.datetime | None = None
) -> tuple[bool, int | None]:
    """(enrolled, the session id) for "the group's current session".

    That is the live session if there is one, else the first session that is not over yet
    (a cancelled one included, so that its page can say so and name the next one).
    """
    now = now or utcnow()
    if not is_enrolled(db, parent_id=parent.id, group_id=group_id):
        return False, None
    live = db.scalar(
        select(Session.id)
        .where(
            Session.group_id == group_id,
            Session.status == "live",
            Session.ends_at > now - timing.token_grace,
        )
        .order_by(Session.starts_at)
        .limit(1)
    )
    if live is not None:
        return True, live
    upcoming = db.scalar(
        select(Session.id)
        .where(Session.group_id == group_id, Session.status != "ended", Session.ends_at > now)
        .order_by(Session.starts_at, Session.id)
        .limit(1)
    )
    return True, upcoming
