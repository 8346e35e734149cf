"""Use cases behind personal links: resolving them, the personal page, issuing and revoking.

Resolving a secret does the same work whatever the secret is: it is hashed and looked up even
when it is malformed, and an unknown, revoked or malformed secret (or the link of an erased
parent) all end in the same ``UnknownLink``. So the answer, and the time it takes, tell nobody
whether a link ever existed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from orchestrator import audit, link_secrets
from orchestrator.access import Actor, require_centre
from orchestrator.conference import services as conference
from orchestrator.conference.decisions import JoinState, Timing, decide_join
from orchestrator.conference.deployments import DeploymentUnusable
from orchestrator.errors import InvalidInput, NotFound
from orchestrator.i18n import PARENT_LANGUAGES, gettext
from orchestrator.models import AccessSecret, Enrolment, Group, Parent, Session, utcnow
from orchestrator.security import hash_secret, looks_like_secret

__all__ = [
    "GroupSessions",
    "IssuedLink",
    "LinkStatus",
    "PersonalPage",
    "UnknownLink",
    "group_current_session",
    "group_handout_list",
    "issue_group_handouts",
    "issue_personal_link",
    "parent_for_secret",
    "parent_join",
    "parent_session_state",
    "personal_link_status",
    "personal_page",
    "personal_url",
    "revoke_personal_link",
]

_LOGGER = logging.getLogger(__name__)
PURPOSE = "personal"
# How many later sessions the personal page lists per group.
LATER_SESSIONS = 4


class UnknownLink(NotFound):
    """The personal link is unknown, revoked or malformed (deliberately indistinguishable)."""


def personal_url(base_url: str, secret: str) -> str:
    return f"{base_url.rstrip('/')}/p/{secret}"


def parent_for_secret(db: DbSession, secret: str) -> Parent:
    """The parent behind a personal link; ``UnknownLink`` for anything else."""
    # Hash and query first, whatever the input: a malformed secret costs the same as a real one.
    digest = hash_secret(secret)
    row = db.execute(
        select(AccessSecret.revoked_at, Parent)
        .join(Parent, Parent.id == AccessSecret.parent_id)
        .where(AccessSecret.secret_hash == digest, AccessSecret.purpose == PURPOSE)
    ).first()
    well_formed = looks_like_secret(secret)
    if row is None or not well_formed or row[0] is not None or row[1].erased_at is not None:
        raise UnknownLink("unknown link")
    parent: Parent = row[1]
    return parent


# -- the personal page -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GroupSessions:
    group_id: int
    group_name: str
    current: conference.SessionView | None
    current_state: JoinState | None
    later: list[conference.SessionView]


@dataclasses.dataclass(frozen=True)
class PersonalPage:
    parent_id: int
    parent_name: str
    language: str
    groups: list[GroupSessions]


def personal_page(
    db: DbSession, *, secret: str, timing: Timing, language: str | None = None, now: dt.datetime | None = None
) -> PersonalPage:
    """The parent's page: per group the current (or next) session and a few later ones.

    ``language``, when given, is the parent's choice of language and is remembered on their
    record, so that their pages, reminders and calendar texts follow it.
    """
    now = now or utcnow()
    parent = parent_for_secret(db, secret)
    if language is not None and language in PARENT_LANGUAGES and parent.language != language:
        parent.language = language
    groups = db.scalars(
        select(Group)
        .join(Enrolment, Enrolment.group_id == Group.id)
        .where(Enrolment.parent_id == parent.id, Enrolment.left_at.is_(None))
        .order_by(Group.name, Group.id)
    ).all()
    result: list[GroupSessions] = []
    for group in groups:
        enrolled, current_id = conference.current_session_id(
            db, parent=parent, group_id=group.id, timing=timing, now=now
        )
        current = None
        state = None
        if current_id is not None:
            current = conference.session_view(db, db.get_one(Session, current_id), group)
            state = decide_join(current.facts, enrolled=enrolled, now=now, timing=timing)
        later_rows = db.scalars(
            select(Session)
            .where(
                Session.group_id == group.id,
                Session.status != "ended",
                Session.starts_at > (current.starts_at if current else now),
                Session.id != (current_id or 0),
            )
            .order_by(Session.starts_at, Session.id)
            .limit(LATER_SESSIONS)
        ).all()
        later = [conference.session_view(db, s, group) for s in later_rows]
        result.append(GroupSessions(group.id, group.name, current, state, later))
    return PersonalPage(
        parent_id=parent.id, parent_name=parent.display_name, language=parent.language, groups=result
    )


def parent_join(
    db: DbSession, *, secret: str, session_id: int, timing: Timing, now: dt.datetime | None = None
) -> tuple[Parent, conference.JoinOutcome | None]:
    """The join endpoint: a room link when live (the join is recorded), else the state to show.

    ``None`` instead of an outcome means the session is live but its Jitsi deployment cannot
    sign tokens: nothing is written, the parent is asked to try again, and the problem is logged
    for the operators (without the link).
    """
    parent = parent_for_secret(db, secret)
    try:
        outcome = conference.join_as_parent(db, parent=parent, session_id=session_id, timing=timing, now=now)
    except DeploymentUnusable as e:
        _LOGGER.error("session %s: a parent cannot join: %s", session_id, e.message)
        return parent, None
    return parent, outcome


def parent_session_state(
    db: DbSession, *, secret: str, session_id: int, timing: Timing, now: dt.datetime | None = None
) -> conference.JoinOutcome:
    """The state only, for the waiting page's polling: no token, nothing written."""
    parent = parent_for_secret(db, secret)
    return conference.join_as_parent(
        db, parent=parent, session_id=session_id, timing=timing, now=now, mint=False
    )


def group_current_session(
    db: DbSession, *, secret: str, group_id: int, timing: Timing, now: dt.datetime | None = None
) -> tuple[Parent, bool, int | None]:
    """(parent, enrolled, session id) behind "the group's current session" link."""
    parent = parent_for_secret(db, secret)
    enrolled, session_id = conference.current_session_id(
        db, parent=parent, group_id=group_id, timing=timing, now=now
    )
    return parent, enrolled, session_id


# -- issuing and revoking (coordinators) -----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class IssuedLink:
    """A freshly issued link; the only moment the secret exists outside the parent's hands."""

    parent_id: int
    parent_name: str
    language: str
    url: str
    issued_at: dt.datetime
    revoked_previous: int


@dataclasses.dataclass(frozen=True)
class LinkStatus:
    parent_id: int
    parent_name: str
    language: str
    active_since: dt.datetime | None
    revoked_count: int


def _parent_for_staff(db: DbSession, actor: Actor, parent_id: int) -> Parent:
    parent = db.get(Parent, parent_id)
    if parent is None or parent.erased_at is not None:
        raise NotFound(gettext("no parent with id %(id)s") % {"id": parent_id})
    require_centre(actor, parent.centre_id, what="parent")
    return parent


def _issue(db: DbSession, actor: Actor, parent: Parent, base_url: str, now: dt.datetime) -> IssuedLink:
    secret, revoked = link_secrets.issue(db, purpose=PURPOSE, now=now, parent_id=parent.id)
    audit.record(
        db,
        actor,
        "personal_link.issue",
        object_type="parent",
        object_id=parent.id,
        centre_id=parent.centre_id,
        detail={"revoked_previous": revoked},
    )
    return IssuedLink(
        parent_id=parent.id,
        parent_name=parent.display_name,
        language=parent.language,
        url=personal_url(base_url, secret),
        issued_at=now,
        revoked_previous=revoked,
    )


def issue_personal_link(
    db: DbSession, *, actor: Actor, parent_id: int, base_url: str, now: dt.datetime | None = None
) -> IssuedLink:
    """A new personal link for the parent; any previous one stops working. Coordinators only."""
    now = now or utcnow()
    parent = _parent_for_staff(db, actor, parent_id)
    return _issue(db, actor, parent, base_url, now)


def revoke_personal_link(
    db: DbSession, *, actor: Actor, parent_id: int, now: dt.datetime | None = None
) -> int:
    """Revokes the parent's personal link; returns how many were active (0 or 1)."""
    now = now or utcnow()
    parent = _parent_for_staff(db, actor, parent_id)
    revoked = link_secrets.revoke_active(db, purpose=PURPOSE, now=now, parent_id=parent.id)
    audit.record(
        db,
        actor,
        "personal_link.revoke",
        object_type="parent",
        object_id=parent.id,
        centre_id=parent.centre_id,
        detail={"revoked": revoked},
    )
    return revoked


def _status(db: DbSession, parent: Parent) -> LinkStatus:
    rows = db.execute(
        select(AccessSecret.created_at, AccessSecret.revoked_at).where(
            AccessSecret.parent_id == parent.id, AccessSecret.purpose == PURPOSE
        )
    ).all()
    active = [created for created, revoked in rows if revoked is None]
    return LinkStatus(
        parent_id=parent.id,
        parent_name=parent.display_name,
        language=parent.language,
        active_since=max(active) if active else None,
        revoked_count=sum(1 for _, revoked in rows if revoked is not None),
    )


def personal_link_status(db: DbSession, *, actor: Actor, parent_id: int) -> LinkStatus:
    return _status(db, _parent_for_staff(db, actor, parent_id))


def _group_for_staff(db: DbSession, actor: Actor, group_id: int) -> Group:
    group = db.get(Group, group_id)
    if group is None:
        raise NotFound(gettext("no group with id %(id)s") % {"id": group_id})
    require_centre(actor, group.centre_id, what="group")
    return group


def _enrolled_parents(db: DbSession, group_id: int) -> list[Parent]:
    return list(
        db.scalars(
            select(Parent)
            .join(Enrolment, Enrolment.parent_id == Parent.id)
            .where(Enrolment.group_id == group_id, Enrolment.left_at.is_(None), Parent.erased_at.is_(None))
            .order_by(func.lower(Parent.display_name), Parent.id)
        )
    )


def group_handout_list(db: DbSession, *, actor: Actor, group_id: int) -> tuple[str, list[LinkStatus]]:
    """The group's name and its enrolled parents with the state of their links."""
    group = _group_for_staff(db, actor, group_id)
    return group.name, [_status(db, p) for p in _enrolled_parents(db, group.id)]


def issue_group_handouts(
    db: DbSession,
    *,
    actor: Actor,
    group_id: int,
    parent_ids: list[int],
    base_url: str,
    now: dt.datetime | None = None,
) -> tuple[str, list[IssuedLink]]:
    """New links for the chosen enrolled parents of the group, for printing their handouts.

    Links are stored only as hashes, so a handout can only be printed with a new link; the
    parents' previous links stop working.
    """
    now = now or utcnow()
    group = _group_for_staff(db, actor, group_id)
    parents = {p.id: p for p in _enrolled_parents(db, group.id)}
    unknown = [pid for pid in parent_ids if pid not in parents]
    if unknown:
        raise InvalidInput(
            gettext("Not enrolled in this group: %(ids)s") % {"ids": ", ".join(map(str, unknown))},
            field="parent_ids",
        )
    if not parent_ids:
        raise InvalidInput(gettext("Choose at least one parent."), field="parent_ids")
    chosen = [p for pid, p in parents.items() if pid in set(parent_ids)]
    return group.name, [_issue(db, actor, p, base_url, now) for p in chosen]
