"""Use cases of calendar feeds: the feed's content from the database, and its secrets.

**Scopes.** A feed secret belongs to one person; what the feed shows follows from who that is:

* a *parent*: the sessions of the groups they are enrolled in, with texts in their language and
  the plain-language privacy note linked. After leaving a group (``Enrolment.left_at``) the
  sessions that had started before they left stay in their calendar (what they took part
  in), the later ones disappear; after re-joining, the sessions of the time away
  (``EnrolmentBreak``) stay out;
* a *facilitator*: the sessions of the groups they lead, linking to each session's start page;
* a *coordinator*: the sessions of every group of their centre, or of the groups chosen when
  the feed was issued (``AccessSecret.group_ids``), linking to the session pages. No parent data.

Archived groups stay in parents' calendars (their history) and leave staff calendars (they
leave staff lists too).

**Links.** A series' master event links to "the group's current session", a session that
differs from its master (moved, cancelled, with a topic, ...) to itself. Parents' links go
through the feed secret (``/feeds/<secret>/join/...``): the feed request carries that secret,
while the personal secret exists only as a hash and cannot be written into a feed.

**Secrets.** One active feed secret per person: issuing revokes the previous one. Coordinators
issue parents' feeds (the address is shown once) and their own; facilitators their own. A parent
opening ``/p/<personal secret>/calendar`` gets a feed whose secret is derived from the personal
one (``links.derive_parent_feed_secret``), so the page shows the same address on every visit.

Every function takes the sync ORM session first and never commits (docs/DEVELOPING.md).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from ical.types.recur import Recur
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from calendars import Feed, FeedOccurrence, FeedOneOff, FeedSeries, render_feed, render_single_event
from calendars.recurrence import plan_series
from orchestrator import audit, i18n, link_secrets
from orchestrator.access import Actor, require_group
from orchestrator.conference import services as conference
from orchestrator.conference.decisions import Timing
from orchestrator.conference.deployments import DeploymentUnusable
from orchestrator.errors import Forbidden, InvalidInput, NotFound
from orchestrator.feeds import links
from orchestrator.groups import services as groups
from orchestrator.groups.breaks import breaks_by_enrolment
from orchestrator.models import (
    AccessSecret,
    Centre,
    Enrolment,
    Group,
    GroupFacilitator,
    Parent,
    Series,
    Session,
    StaffUser,
    utcnow,
)
from orchestrator.portal import services as portal
from orchestrator.security import hash_secret, looks_like_secret, new_secret

__all__ = [
    "PRODID",
    "PURPOSE",
    "FeedOwner",
    "FeedStatus",
    "IssuedFeed",
    "ParentCalendar",
    "UnknownFeed",
    "UpcomingDownload",
    "build_feed",
    "feed_owner",
    "feed_parent",
    "group_session_via_feed",
    "issue_own_feed",
    "issue_parent_feed",
    "join_state_via_feed",
    "join_via_feed",
    "own_feed_status",
    "owner_for_secret",
    "parent_calendar",
    "parent_feed_status",
    "render",
    "revoke_own_feed",
    "revoke_parent_feed",
    "session_download",
    "staff_current_session",
    "staff_session_download",
]

_LOGGER = logging.getLogger(__name__)

PURPOSE = "feed"
PRODID = "-//Rucksack KiTa//Rucksack Orchestrator//EN"
STAFF_KINDS = ("facilitator", "coordinator")
_LAST_SECOND = dt.time(23, 59, 59)


class UnknownFeed(NotFound):
    """The feed secret is unknown, revoked, malformed or its owner gone (indistinguishable)."""

    def __init__(self) -> None:
        super().__init__("unknown feed")


# -- owners -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FeedOwner:
    """Whose feed a secret opens, and in which scope."""

    secret_id: int
    kind: str  # parent | facilitator | coordinator
    owner_id: int
    language: str
    centre_id: int
    chosen_groups: tuple[int, ...] = ()


def owner_for_secret(db: DbSession, secret: str) -> FeedOwner:
    """The owner behind a feed secret; ``UnknownFeed`` for anything else.

    The lookup runs for every input, well-formed or not, so a wrong secret costs what a right one
    does and every refusal looks the same.
    """
    row = db.execute(
        select(AccessSecret, Parent, StaffUser)
        .outerjoin(Parent, Parent.id == AccessSecret.parent_id)
        .outerjoin(StaffUser, StaffUser.id == AccessSecret.staff_user_id)
        .where(AccessSecret.secret_hash == hash_secret(secret), AccessSecret.purpose == PURPOSE)
    ).first()
    if row is None or not looks_like_secret(secret) or row[0].revoked_at is not None:
        raise UnknownFeed()
    access: AccessSecret = row[0]
    # Outer joins: at most one of the two owners is there.
    parent: Parent | None = row[1]
    staff: StaffUser | None = row[2]
    if parent is not None:
        if parent.erased_at is not None:
            raise UnknownFeed()
        return FeedOwner(access.id, "parent", parent.id, parent.language, parent.centre_id)
    if staff is None or not staff.active or staff.role not in STAFF_KINDS or staff.centre_id is None:
        raise UnknownFeed()
    chosen = tuple(sorted(int(g) for g in access.group_ids or [])) if staff.role == "coordinator" else ()
    return FeedOwner(access.id, staff.role, staff.id, staff.language, staff.centre_id, chosen)


def feed_owner(db: DbSession, *, secret_id: int, kind: str, owner_id: int, language: str) -> FeedOwner:
    """The owner of a secret the probe found valid (the render path has no secret lookup)."""
    if kind == "parent":
        parent = db.get_one(Parent, owner_id)
        return FeedOwner(secret_id, kind, owner_id, language, parent.centre_id)
    staff = db.get_one(StaffUser, owner_id)
    chosen: tuple[int, ...] = ()
    if kind == "coordinator":
        access = db.get_one(AccessSecret, secret_id)
        chosen = tuple(sorted(int(g) for g in access.group_ids or []))
    return FeedOwner(secret_id, kind, owner_id, language, staff.centre_id or 0, chosen)


# -- the groups in a feed's scope -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _ScopedGroup:
    group: Group
    zone: str  # the centre's zone, used for sessions without a series
    cutoff: dt.datetime | None  # a parent who left: only sessions that started before this
    # A parent who left and re-joined: (left, re-joined) times whose sessions were not theirs.
    away: tuple[tuple[dt.datetime, dt.datetime], ...] = ()

    def keeps(self, session: Session) -> bool:
        starts = session.starts_at
        if self.cutoff is not None and starts >= self.cutoff:
            return False
        return not any(left <= starts < back for left, back in self.away)


def _scope(db: DbSession, owner: FeedOwner) -> dict[int, _ScopedGroup]:
    if owner.kind == "parent":
        rows = db.execute(
            select(Group, Centre.timezone, Enrolment.left_at, Enrolment.id)
            .join(Enrolment, Enrolment.group_id == Group.id)
            .join(Centre, Centre.id == Group.centre_id)
            .where(Enrolment.parent_id == owner.owner_id)
        ).all()
        away = breaks_by_enrolment(db, Enrolment.parent_id == owner.owner_id)
        return {
            group.id: _ScopedGroup(group, zone, cutoff, tuple(away.get(enrolment_id, ())))
            for group, zone, cutoff, enrolment_id in rows
        }
    else:
        query = (
            select(Group, Centre.timezone)
            .join(Centre, Centre.id == Group.centre_id)
            .where(Group.archived.is_(False), Group.centre_id == owner.centre_id)
        )
        if owner.kind == "facilitator":
            query = query.join(GroupFacilitator, GroupFacilitator.group_id == Group.id).where(
                GroupFacilitator.staff_user_id == owner.owner_id
            )
        elif owner.chosen_groups:
            query = query.where(Group.id.in_(owner.chosen_groups))
    return {group.id: _ScopedGroup(group, zone, None) for group, zone in db.execute(query).all()}


# -- texts ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Texts:
    """Summaries, descriptions and links for one feed, in its reader's language."""

    kind: str
    language: str
    base_url: str
    secret: str

    def calendar_name(self) -> str:
        if self.kind == "parent":
            return i18n.gettext("Rucksack meetings")
        return i18n.gettext("Rucksack sessions")

    def cancelled_prefix(self) -> str:
        return i18n.gettext("Cancelled:") + " "

    def summary(self, group: Group) -> str:
        return i18n.gettext("Rucksack meeting: %(group)s") % {"group": group.name}

    def group_link(self, group_id: int) -> str:
        if self.kind == "parent":
            return links.parent_group_link(self.base_url, self.secret, group_id)
        return links.staff_current_link(self.base_url, group_id)

    def session_link(self, session_id: int) -> str:
        if self.kind == "parent":
            return links.parent_session_link(self.base_url, self.secret, session_id)
        return links.staff_session_link(self.base_url, self.kind, session_id)

    def description(
        self, *, group: Group, title: str, theme: str, reason: str, link: str, material: str = ""
    ) -> str:
        lines: list[str] = []
        if self.kind != "parent" and group.site_name:
            lines.append(i18n.gettext("KiTa: %(site)s") % {"site": group.site_name})
        if title:
            lines.append(title)
        if theme:
            lines.append(i18n.gettext("Topic: %(topic)s") % {"topic": theme})
        if material:
            lines.append(i18n.gettext("Material: %(link)s") % {"link": material})
        if reason:
            lines.append(i18n.gettext("Reason: %(reason)s") % {"reason": reason})
        if self.kind == "parent":
            lines.append(i18n.gettext("Join the meeting: %(link)s") % {"link": link})
            privacy = links.privacy_url(self.base_url, self.language)
            lines.append(i18n.gettext("How we protect your data: %(link)s") % {"link": privacy})
        elif self.kind == "facilitator":
            lines.append(i18n.gettext("Start the session: %(link)s") % {"link": link})
        else:
            lines.append(i18n.gettext("Session page: %(link)s") % {"link": link})
        return "\n\n".join(lines)


def _local(instant: dt.datetime, zone: str) -> dt.datetime:
    return instant.astimezone(zoneinfo.ZoneInfo(zone)).replace(tzinfo=None)


def _is_special(session: Session, series: Series, start_local: dt.datetime, end_local: dt.datetime) -> bool:
    """Whether the session shows differently from its series' master event.

    Such a session becomes an override in the feed anyway; it then links to itself rather than to
    "the group's current session". Sessions without anything special keep the master's link, so
    they need no override and the feed stays small.
    """
    return (
        session.status == "cancelled"
        or start_local != session.recurrence_local
        or end_local - start_local != dt.timedelta(minutes=series.duration_minutes)
        or bool(session.theme)
        or bool(session.material_url)
        or session.sequence > series.sequence
    )


def _occurrence(
    session: Session, series: Series, scoped: _ScopedGroup, texts: _Texts, *, own_link: bool = False
) -> FeedOccurrence:
    zone = series.timezone
    start_local = _local(session.starts_at, zone)
    end_local = _local(session.ends_at, zone)
    special = own_link or _is_special(session, series, start_local, end_local)
    link = texts.session_link(session.id) if special else texts.group_link(scoped.group.id)
    return FeedOccurrence(
        recurrence_local=session.recurrence_local,
        start_local=start_local,
        end_local=end_local,
        status=session.status,
        sequence=session.sequence,
        last_modified=session.updated_at,
        summary=texts.summary(scoped.group),
        description=texts.description(
            group=scoped.group,
            title=series.title,
            theme=session.theme,
            reason=session.cancel_reason if session.status == "cancelled" else "",
            link=link,
            material=session.material_url,
        ),
        url=link,
        location="",
    )


def _one_off_uid(session: Session, base_url: str) -> str:
    host = urlsplit(base_url).hostname or "rucksack"
    return f"session-{session.id}@{host}"


def _one_off(
    session: Session, scoped: _ScopedGroup, texts: _Texts, *, uid: str, zone: str, title: str
) -> FeedOneOff:
    link = texts.session_link(session.id)
    return FeedOneOff(
        uid=uid,
        timezone=zone,
        start_local=_local(session.starts_at, zone),
        end_local=_local(session.ends_at, zone),
        status=session.status,
        sequence=session.sequence,
        last_modified=session.updated_at,
        summary=texts.summary(scoped.group),
        description=texts.description(
            group=scoped.group,
            title=title,
            theme=session.theme,
            reason=session.cancel_reason if session.status == "cancelled" else "",
            link=link,
            material=session.material_url,
        ),
        url=link,
        location="",
    )


def _first_instance(series: Series) -> dt.datetime | None:
    """The rule's first instance on or after ``dtstart_local`` (calendars need DTSTART to be one)."""
    try:
        return next(iter(Recur.from_rrule(series.rrule).as_rrule(series.dtstart_local)), None)
    except (ValueError, AttributeError, TypeError):
        return None


def _master(
    series: Series, scoped: _ScopedGroup, texts: _Texts, occurrences: Sequence[FeedOccurrence]
) -> FeedSeries | None:
    first = _first_instance(series)
    if first is None:
        return None
    until = dt.datetime.combine(series.until, _LAST_SECOND)
    if scoped.cutoff is not None:
        # A parent who left: the rule ends with the last session they keep, so clients do not
        # show the later weeks (an EXDATE for each would work too, but grow the feed).
        until = min(until, max(occ.recurrence_local for occ in occurrences if occ.recurrence_local))
    link = texts.group_link(scoped.group.id)
    return FeedSeries(
        uid=series.uid,
        timezone=series.timezone,
        rrule=series.rrule,
        dtstart_local=first,
        duration=dt.timedelta(minutes=series.duration_minutes),
        until_local=max(until, first),
        summary=texts.summary(scoped.group),
        description=texts.description(group=scoped.group, title=series.title, theme="", reason="", link=link),
        url=link,
        location="",
        sequence=series.sequence,
        last_modified=series.updated_at,
        occurrences=tuple(occurrences),
    )


def _standalone(
    sessions: Iterable[Session], series: Series, scoped: _ScopedGroup, texts: _Texts
) -> list[FeedOneOff]:
    """A series' sessions as single events, for a series the feed cannot express as a rule.

    Their UIDs are the ones a single-session download uses, so the events stay the same events
    if the series is later written as a rule again.
    """
    return [
        _one_off(
            session,
            scoped,
            texts,
            uid=f"{session.recurrence_local:%Y%m%dT%H%M%S}-{series.uid}",
            zone=series.timezone,
            title=series.title,
        )
        for session in sessions
    ]


def build_feed(db: DbSession, *, owner: FeedOwner, secret: str, base_url: str) -> Feed:
    """The calendar data of ``owner``'s feed, in their language (``render`` makes the bytes)."""
    scope = _scope(db, owner)
    texts = _Texts(owner.kind, owner.language, base_url, secret)
    series_by_group: dict[int, list[Series]] = defaultdict(list)
    sessions_by_group: dict[int, list[Session]] = defaultdict(list)
    if scope:
        for series in db.scalars(select(Series).where(Series.group_id.in_(scope)).order_by(Series.id)):
            series_by_group[series.group_id].append(series)
        sessions = db.scalars(
            select(Session).where(Session.group_id.in_(scope)).order_by(Session.starts_at, Session.id)
        )
        for session in sessions:
            if scope[session.group_id].keeps(session):
                sessions_by_group[session.group_id].append(session)
    masters: list[FeedSeries] = []
    singles: list[FeedOneOff] = []
    with i18n.language_scope(owner.language):
        for group_id, scoped in scope.items():
            known = {s.id: s for s in series_by_group[group_id]}
            of_series: dict[int, list[Session]] = defaultdict(list)
            for session in sessions_by_group[group_id]:
                if session.series_id in known and session.recurrence_local is not None:
                    of_series[session.series_id].append(session)
                else:
                    owning = known.get(session.series_id or 0)
                    singles.append(
                        _one_off(
                            session,
                            scoped,
                            texts,
                            uid=_one_off_uid(session, base_url),
                            zone=owning.timezone if owning else scoped.zone,
                            title=owning.title if owning else "",
                        )
                    )
            for series_id, members in of_series.items():
                series = known[series_id]
                master = _master(
                    series, scoped, texts, [_occurrence(s, series, scoped, texts) for s in members]
                )
                if master is not None and _plannable(master):
                    masters.append(master)
                else:
                    singles.extend(_standalone(members, series, scoped, texts))
        return Feed(
            name=texts.calendar_name(),
            series=tuple(masters),
            single_sessions=tuple(singles),
            cancelled_prefix=texts.cancelled_prefix(),
            prodid=PRODID,
        )


def _plannable(series: FeedSeries) -> bool:
    # Data the rule cannot express (an RRULE the library refuses, a DTSTART that is no instance)
    # must not take the whole feed down: such a series is published as single events instead.
    try:
        plan_series(series)
    except ValueError as err:
        _LOGGER.warning("series %s is published as single events: %s", series.uid, err)
        return False
    return True


def render(feed: Feed) -> bytes:
    """The feed's bytes (CPU work of several milliseconds; the web tier runs it in a thread)."""
    return render_feed(feed)


# -- single-session downloads -----------------------------------------------------------------


def _session_bytes(db: DbSession, session: Session, scoped: _ScopedGroup, texts: _Texts) -> bytes:
    series = db.get(Series, session.series_id) if session.series_id is not None else None
    with i18n.language_scope(texts.language):
        prefix = texts.cancelled_prefix()
        if series is not None and session.recurrence_local is not None:
            occurrence = _occurrence(session, series, scoped, texts, own_link=True)
            master = FeedSeries(
                uid=series.uid,
                timezone=series.timezone,
                rrule=series.rrule,
                dtstart_local=series.dtstart_local,
                duration=dt.timedelta(minutes=series.duration_minutes),
                until_local=max(series.dtstart_local, dt.datetime.combine(series.until, _LAST_SECOND)),
                summary=occurrence.summary,
                description=occurrence.description,
                url=occurrence.url,
                location="",
                sequence=series.sequence,
                last_modified=series.updated_at,
            )
            return render_single_event(occurrence, series=master, prodid=PRODID, cancelled_prefix=prefix)
        one_off = _one_off(
            session,
            scoped,
            texts,
            uid=_one_off_uid(session, texts.base_url),
            zone=series.timezone if series else scoped.zone,
            title=series.title if series else "",
        )
        return render_single_event(one_off, prodid=PRODID, cancelled_prefix=prefix)


def session_download(
    db: DbSession, *, secret: str, session_id: int, base_url: str
) -> tuple[bytes, dt.datetime]:
    """One session of the feed's scope as an ``.ics`` file, and its last change.

    A session outside the scope answers like an unknown secret, so a feed address cannot be used
    to find out which session ids exist.
    """
    owner = owner_for_secret(db, secret)
    scope = _scope(db, owner)
    session = db.get(Session, session_id) if 0 < session_id < 2**31 else None
    scoped = scope.get(session.group_id) if session is not None else None
    if session is None or scoped is None or not scoped.keeps(session):
        raise UnknownFeed()
    texts = _Texts(owner.kind, owner.language, base_url, secret)
    return _session_bytes(db, session, scoped, texts), session.updated_at


def staff_session_download(
    db: DbSession, *, actor: Actor, session_id: int, base_url: str, language: str
) -> tuple[bytes, dt.datetime]:
    """One session as an ``.ics`` file for a logged-in facilitator or coordinator of its group."""
    session = db.get(Session, session_id) if 0 < session_id < 2**31 else None
    if session is None:
        raise NotFound(i18n.gettext("There is no such session."))
    group = db.get_one(Group, session.group_id)
    try:
        require_group(actor, group.centre_id, group.id)
    except NotFound:
        raise NotFound(i18n.gettext("There is no such session.")) from None
    zone = db.scalar(select(Centre.timezone).where(Centre.id == group.centre_id)) or "Europe/Berlin"
    kind = "facilitator" if actor.is_facilitator else "coordinator"
    texts = _Texts(kind, language, base_url, "")
    return _session_bytes(db, session, _ScopedGroup(group, zone, None), texts), session.updated_at


# -- joining through a parent's feed ----------------------------------------------------------


def feed_parent(db: DbSession, *, secret: str) -> Parent:
    """The parent behind a parent feed secret; ``UnknownFeed`` for every other secret."""
    owner = owner_for_secret(db, secret)
    if owner.kind != "parent":
        raise UnknownFeed()
    return db.get_one(Parent, owner.owner_id)


def join_via_feed(
    db: DbSession, *, secret: str, session_id: int, timing: Timing, now: dt.datetime | None = None
) -> tuple[Parent, conference.JoinOutcome | None]:
    """A parent's join from a calendar event: the same decision and recording as the personal page.

    ``None`` instead of an outcome: the session is live but its Jitsi deployment cannot sign
    tokens (nothing is written; the page asks to try again).
    """
    parent = feed_parent(db, secret=secret)
    try:
        outcome = conference.join_as_parent(db, parent=parent, session_id=session_id, timing=timing, now=now)
    except DeploymentUnusable as err:
        _LOGGER.error("session %s: a parent cannot join: %s", session_id, err.message)
        return parent, None
    return parent, outcome


def join_state_via_feed(
    db: DbSession, *, secret: str, session_id: int, timing: Timing, now: dt.datetime | None = None
) -> conference.JoinOutcome:
    """The state only, for the waiting page's polling: no token, nothing written."""
    parent = feed_parent(db, secret=secret)
    return conference.join_as_parent(
        db, parent=parent, session_id=session_id, timing=timing, now=now, mint=False
    )


def group_session_via_feed(
    db: DbSession, *, secret: str, group_id: int, timing: Timing, now: dt.datetime | None = None
) -> tuple[Parent, bool, int | None]:
    """(parent, enrolled, session id) behind a master event's "current session" link."""
    parent = feed_parent(db, secret=secret)
    enrolled, session_id = conference.current_session_id(
        db, parent=parent, group_id=group_id, timing=timing, now=now
    )
    return parent, enrolled, session_id


def staff_current_session(
    db: DbSession, *, actor: Actor, group_id: int, now: dt.datetime | None = None
) -> int | None:
    """The group's live or next session, for a staff feed's master event link."""
    group = db.get(Group, group_id) if 0 < group_id < 2**31 else None
    if group is None:
        raise NotFound(i18n.gettext("There is no such group."))
    require_group(actor, group.centre_id, group.id)
    upcoming = conference.next_session(db, group_id=group.id, now=now or utcnow())
    return upcoming.id if upcoming is not None else None


# -- issuing and revoking ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class IssuedFeed:
    """A freshly issued feed: the only moment its address exists outside the owner's hands."""

    links: links.SubscriptionLinks
    issued_at: dt.datetime
    revoked_previous: int
    group_ids: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class FeedStatus:
    active_since: dt.datetime | None
    revoked_count: int
    group_ids: tuple[int, ...] = ()


def _status(db: DbSession, *, parent_id: int | None = None, staff_user_id: int | None = None) -> FeedStatus:
    rows = db.execute(
        select(AccessSecret.created_at, AccessSecret.revoked_at, AccessSecret.group_ids).where(
            link_secrets.owned_by(parent_id, staff_user_id),
            AccessSecret.purpose == PURPOSE,
        )
    ).all()
    active = sorted(
        ((created, chosen) for created, revoked, chosen in rows if revoked is None), key=lambda r: r[0]
    )
    return FeedStatus(
        active_since=active[-1][0] if active else None,
        revoked_count=sum(1 for _, revoked, _ in rows if revoked is not None),
        group_ids=tuple(sorted(int(g) for g in active[-1][1] or [])) if active else (),
    )


def _parent_for_staff(db: DbSession, actor: Actor, parent_id: int) -> Parent:
    # The groups area owns who may see a parent's record: coordinators of the parent's centre.
    return groups.get_parent(db, actor=actor, parent_id=parent_id).parent


def issue_parent_feed(
    db: DbSession, *, actor: Actor, parent_id: int, base_url: str, now: dt.datetime | None = None
) -> IssuedFeed:
    """A new feed address for the parent (shown once); the previous one stops working."""
    now = now or utcnow()
    parent = _parent_for_staff(db, actor, parent_id)
    secret, revoked = link_secrets.issue(db, purpose=PURPOSE, now=now, parent_id=parent.id)
    audit.record(
        db,
        actor,
        "feed.issue",
        object_type="parent",
        object_id=parent.id,
        centre_id=parent.centre_id,
        detail={"revoked_previous": revoked},
    )
    return IssuedFeed(links.subscription_links(base_url, secret), now, revoked)


def revoke_parent_feed(db: DbSession, *, actor: Actor, parent_id: int, now: dt.datetime | None = None) -> int:
    """Switches the parent's feed off; returns how many addresses were active (0 or 1)."""
    now = now or utcnow()
    parent = _parent_for_staff(db, actor, parent_id)
    revoked = link_secrets.revoke_active(db, purpose=PURPOSE, now=now, parent_id=parent.id)
    audit.record(
        db,
        actor,
        "feed.revoke",
        object_type="parent",
        object_id=parent.id,
        centre_id=parent.centre_id,
        detail={"revoked": revoked},
    )
    return revoked


def parent_feed_status(db: DbSession, *, actor: Actor, parent_id: int) -> tuple[Parent, FeedStatus]:
    parent = _parent_for_staff(db, actor, parent_id)
    return parent, _status(db, parent_id=parent.id)


def _require_feed_role(actor: Actor) -> None:
    if actor.role not in STAFF_KINDS:
        raise Forbidden(i18n.gettext("Calendar feeds are for facilitators and coordinators."))


def _chosen_groups(db: DbSession, actor: Actor, group_ids: Sequence[int] | None) -> tuple[int, ...]:
    chosen = tuple(sorted(set(group_ids or ())))
    if not chosen:
        return ()
    if actor.is_facilitator:
        raise InvalidInput(
            i18n.gettext("A facilitator's feed always shows the groups they lead."), field="group_ids"
        )
    found = set(
        db.scalars(
            select(Group.id).where(
                Group.id.in_([g for g in chosen if 0 < g < 2**31]), Group.centre_id == actor.centre_id
            )
        )
    )
    if missing := [g for g in chosen if g not in found]:
        raise InvalidInput(
            i18n.gettext("Not a group of your centre: %(ids)s") % {"ids": ", ".join(map(str, missing))},
            field="group_ids",
        )
    return chosen


def issue_own_feed(
    db: DbSession,
    *,
    actor: Actor,
    base_url: str,
    group_ids: Sequence[int] | None = None,
    now: dt.datetime | None = None,
) -> IssuedFeed:
    """A new feed address for the logged-in facilitator or coordinator (shown once).

    A coordinator may narrow the feed to some of the centre's groups; without a choice it shows
    the whole centre.
    """
    now = now or utcnow()
    _require_feed_role(actor)
    chosen = _chosen_groups(db, actor, group_ids)
    secret, revoked = link_secrets.issue(
        db, purpose=PURPOSE, now=now, staff_user_id=actor.user_id, group_ids=chosen
    )
    audit.record(
        db,
        actor,
        "feed.issue",
        object_type="staff_user",
        object_id=actor.user_id,
        detail={"revoked_previous": revoked, "group_ids": list(chosen)},
    )
    return IssuedFeed(links.subscription_links(base_url, secret), now, revoked, chosen)


def revoke_own_feed(db: DbSession, *, actor: Actor, now: dt.datetime | None = None) -> int:
    now = now or utcnow()
    _require_feed_role(actor)
    revoked = link_secrets.revoke_active(db, purpose=PURPOSE, now=now, staff_user_id=actor.user_id)
    audit.record(
        db,
        actor,
        "feed.revoke",
        object_type="staff_user",
        object_id=actor.user_id,
        detail={"revoked": revoked},
    )
    return revoked


def own_feed_status(db: DbSession, *, actor: Actor) -> tuple[FeedStatus, list[tuple[int, str]]]:
    """The actor's feed state, and (coordinators) the centre's groups to choose from."""
    _require_feed_role(actor)
    choices: list[tuple[int, str]] = []
    if actor.is_coordinator:
        choices = [
            (group_id, name)
            for group_id, name in db.execute(
                select(Group.id, Group.name)
                .where(Group.centre_id == actor.centre_id, Group.archived.is_(False))
                .order_by(Group.name, Group.id)
            )
        ]
    return _status(db, staff_user_id=actor.user_id), choices


# -- the parent's own calendar page -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class UpcomingDownload:
    group_name: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    zone: str
    url: str


@dataclasses.dataclass(frozen=True)
class ParentCalendar:
    """What the parent's calendar page shows.

    ``links`` is None when the parent's feed was issued by their coordinator: its address cannot
    be shown again (only its hash is stored), and replacing it needs the parent's consent because
    the calendar that uses it stops updating (``replace=True``).
    """

    language: str
    links: links.SubscriptionLinks | None
    other_active: bool
    upcoming: list[UpcomingDownload]


def _derived_row(db: DbSession, parent: Parent, personal_secret: str, now: dt.datetime) -> AccessSecret:
    # The row id is part of the derivation, so the row is written first with a placeholder (the
    # hash of a random secret nobody knows, never valid) and gets its real hash after the flush.
    row = AccessSecret(
        purpose=PURPOSE, secret_hash=hash_secret(new_secret()), parent_id=parent.id, created_at=now
    )
    db.add(row)
    db.flush()
    row.secret_hash = hash_secret(links.derive_parent_feed_secret(personal_secret, row.id))
    db.flush()
    audit.record(
        db,
        None,
        "feed.issue",
        object_type="parent",
        object_id=parent.id,
        centre_id=parent.centre_id,
        actor_label="parent (personal link)",
    )
    return row


def parent_calendar(
    db: DbSession,
    *,
    personal_secret: str,
    base_url: str,
    replace: bool = False,
    now: dt.datetime | None = None,
) -> ParentCalendar:
    """The parent's feed addresses, creating their feed on the first visit.

    Idempotent: the address is derived from the personal secret, so every visit shows the same
    one. Raises ``portal.UnknownLink`` for a personal secret that does not open a page.
    """
    now = now or utcnow()
    parent = portal.parent_for_secret(db, personal_secret)
    active = list(
        db.scalars(
            select(AccessSecret)
            .where(
                AccessSecret.parent_id == parent.id,
                AccessSecret.purpose == PURPOSE,
                AccessSecret.revoked_at.is_(None),
            )
            .order_by(AccessSecret.id.desc())
        )
    )
    mine = next(
        (
            row
            for row in active
            if hash_secret(links.derive_parent_feed_secret(personal_secret, row.id)) == row.secret_hash
        ),
        None,
    )
    if mine is not None and len(active) > 1:
        # Two first visits at once can each create a row; keep one.
        for row in active:
            if row is not mine:
                row.revoked_at = now
        db.flush()
    if mine is None and (not active or replace):
        link_secrets.revoke_active(db, purpose=PURPOSE, now=now, parent_id=parent.id)
        mine = _derived_row(db, parent, personal_secret, now)
    if mine is None:
        return ParentCalendar(parent.language, None, True, [])
    secret = links.derive_parent_feed_secret(personal_secret, mine.id)
    upcoming: list[UpcomingDownload] = []
    enrolled = db.execute(
        select(Group.id, Group.name)
        .join(Enrolment, Enrolment.group_id == Group.id)
        .where(Enrolment.parent_id == parent.id, Enrolment.left_at.is_(None))
        .order_by(Group.name, Group.id)
    ).all()
    for group_id, name in enrolled:
        view = conference.next_session(db, group_id=group_id, now=now)
        if view is not None:
            upcoming.append(
                UpcomingDownload(
                    name,
                    view.starts_at,
                    view.ends_at,
                    view.zone,
                    links.parent_session_download(base_url, secret, view.id),
                )
            )
    return ParentCalendar(parent.language, links.subscription_links(base_url, secret), False, upcoming)
