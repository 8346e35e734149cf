"""Use cases for the coordinator's set-up: centres, staff, Jitsi deployments, groups, parents.

Each function takes the sync ORM session first and keyword-only arguments after it, checks the
actor's access, validates everything before writing, writes, and records an audit entry for
changes that matter. It never commits; the caller owns the transaction (``db_run`` in the web
tier, ``transaction`` in the CLI and workers).

Access, beyond ``orchestrator.access``:

* Coordinators manage their own centre; admins (LaKI) manage centres, staff and deployments
  everywhere, but **do not see parents' records**: state admins get aggregate figures only
  (domain.md, "role-based access"), so every parent use case refuses them.
* Facilitators see the groups they lead, with the members' names and languages (they lead the
  sessions), and change nothing here.
* Records of another centre are reported as *not found*, so their ids cannot be probed.

Updates take ``KEEP`` for every field that is not to change, so the PATCH endpoints pass only
what the client sent and the pages pass every field of their form.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import secrets
from collections.abc import Sequence
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orchestrator import audit
from orchestrator.access import Actor, require_centre, require_group
from orchestrator.accounts import services as accounts
from orchestrator.errors import Conflict, Forbidden, InvalidInput, NotFound
from orchestrator.groups import csv_import, validation
from orchestrator.i18n import gettext, ngettext
from orchestrator.models import (
    ROLES,
    STAFF_LANGUAGES,
    Base,
    Centre,
    Enrolment,
    EnrolmentBreak,
    Group,
    JitsiDeployment,
    Parent,
    StaffUser,
    utcnow,
)
from orchestrator.security import new_pseudonym

__all__ = [
    "KEEP",
    "CentreOverview",
    "EnrolmentView",
    "GroupDetail",
    "GroupSummary",
    "ImportRejected",
    "Keep",
    "Member",
    "NewStaff",
    "ParentDetail",
    "ParentSummary",
    "archive_group",
    "centre_overview",
    "create_centre",
    "create_deployment",
    "create_group",
    "create_parent",
    "create_staff",
    "delete_deployment",
    "enrol_candidates",
    "enrol_parent",
    "get_centre",
    "get_deployment",
    "get_group",
    "get_parent",
    "group_for_parents",
    "import_parents",
    "leave_group",
    "list_centres",
    "list_deployments",
    "list_groups",
    "list_members",
    "list_parents",
    "list_staff",
    "require_parent_access",
    "update_centre",
    "update_deployment",
    "update_group",
    "update_parent",
    "update_staff",
]


class Keep(enum.Enum):
    """The value of an update argument that was not given: keep what is stored."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP

# Ids arrive from URLs and JSON; PostgreSQL's integer columns end here, and a larger id must be
# "not found", not a database error.
_MAX_ID = 2_147_483_647
# Centre policy fields and their allowed ranges (inclusive). Raw conference events are kept at
# most 30 days and attendance at most five years (domain.md, retention).
CENTRE_LIMITS: Final[dict[str, tuple[int, int]]] = {
    "present_min_minutes": (1, 600),
    "present_min_share": (1, 100),
    "late_after_minutes": (0, 240),
    "early_leave_minutes": (0, 240),
    "regular_threshold_percent": (1, 100),
    "raw_event_retention_days": (1, 30),
    "contact_grace_days": (0, 730),
    "attendance_retention_days": (30, 5 * 366),
}
# Generated initial passwords: 16 URL-safe characters (96 bits), above the 10-character minimum.
_INITIAL_PASSWORD_BYTES = 12

M = TypeVar("M", bound=Base)
T = TypeVar("T")


def _assign_changed(record: object, changes: dict[str, Any]) -> list[str]:
    """Sets the fields whose value differs; returns their names, sorted, for the audit entry."""
    changed = sorted(f for f, v in changes.items() if getattr(record, f) != v)
    for field in changed:
        setattr(record, field, changes[field])
    return changed


def _pick(new: T | Keep, old: T) -> T:
    return old if isinstance(new, Keep) else new


def _load(db: Session, model: type[M], record_id: int, message: str) -> M:
    if not 1 <= record_id <= _MAX_ID:
        raise NotFound(message)
    row = db.get(model, record_id)
    if row is None:
        raise NotFound(message)
    return row


def _flush_unique(db: Session, message: str, field: str) -> None:
    """Flushes; a unique index violated meanwhile by a concurrent request becomes a Conflict.

    The use cases check uniqueness before writing, but two requests can pass that check at the
    same moment on PostgreSQL; the unique index decides, and the loser gets a clear 409 (its
    transaction is rolled back by the caller) instead of a server error.
    """
    try:
        db.flush()
    except IntegrityError:
        raise Conflict(message, field=field) from None


def _no_centre() -> str:
    return gettext("There is no such centre.")


def _no_group() -> str:
    return gettext("There is no such group.")


def _no_parent() -> str:
    return gettext("There is no such parent.")


def _no_deployment() -> str:
    return gettext("There is no such Jitsi deployment.")


def _no_staff() -> str:
    return gettext("There is no such staff member.")


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden(gettext("Only state admins may do this."))


def _refuse_admin(actor: Actor) -> None:
    if actor.is_admin:
        raise Forbidden(gettext("State admins see aggregate figures only, not parents' data."))


def _require_parent_data(actor: Actor, centre_id: int) -> None:
    """Parents' records are for the coordinators of their centre only."""
    _refuse_admin(actor)
    if actor.is_facilitator and actor.centre_id == centre_id:
        raise Forbidden(
            gettext("Coordinators keep the parents' records; the group page shows who is in your group.")
        )
    if not actor.can_manage_centre(centre_id):
        raise NotFound(_no_parent())


# --- centres -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CentreOverview:
    """A centre with the size of its set-up, for the admin's list."""

    centre: Centre
    groups: int
    staff: int


def list_centres(db: Session, *, actor: Actor) -> list[Centre]:
    """Admins see every centre; everybody else their own."""
    query = select(Centre).order_by(Centre.name, Centre.id)
    if not actor.is_admin:
        if actor.centre_id is None:
            return []
        query = query.where(Centre.id == actor.centre_id)
    return list(db.scalars(query))


def centre_overview(db: Session, *, actor: Actor) -> list[CentreOverview]:
    _require_admin(actor)
    # ``.all()``: a Result has ``keys()`` (its column names), so dict() would take it for a mapping.
    groups = dict(
        db.execute(
            select(Group.centre_id, func.count()).where(Group.archived.is_(False)).group_by(Group.centre_id)
        ).all()
    )
    staff = dict(
        db.execute(
            select(StaffUser.centre_id, func.count())
            .where(StaffUser.active.is_(True), StaffUser.centre_id.is_not(None))
            .group_by(StaffUser.centre_id)
        ).all()
    )
    return [
        CentreOverview(centre=c, groups=groups.get(c.id, 0), staff=staff.get(c.id, 0))
        for c in list_centres(db, actor=actor)
    ]


def get_centre(db: Session, *, actor: Actor, centre_id: int, manage: bool = False) -> Centre:
    """Any staff member may read their own centre's settings, admins every centre's; with
    ``manage`` only those who may change them (coordinators of the centre, admins)."""
    centre = _load(db, Centre, centre_id, _no_centre())
    if manage:
        require_centre(actor, centre.id, what="centre")
    elif not actor.is_admin and actor.centre_id != centre.id:
        raise NotFound(_no_centre())
    return centre


def create_centre(
    db: Session, *, actor: Actor, name: str, slug: str, municipality: str = "", default_language: str = "de"
) -> Centre:
    _require_admin(actor)
    centre = accounts.create_centre(
        db,
        name=validation.text(name, field="name"),
        slug=validation.slug(slug),
        municipality=validation.text(municipality, field="municipality", required=False),
        default_language=validation.parent_language(default_language, field="default_language"),
    )
    audit.record(db, actor, "centre.create", object_type="centre", object_id=centre.id, centre_id=centre.id)
    return centre


def update_centre(
    db: Session,
    *,
    actor: Actor,
    centre_id: int,
    name: str | Keep = KEEP,
    municipality: str | Keep = KEEP,
    default_language: str | Keep = KEEP,
    reminder_offsets: Sequence[int] | Keep = KEEP,
    present_min_minutes: int | Keep = KEEP,
    present_min_share: int | Keep = KEEP,
    late_after_minutes: int | Keep = KEEP,
    early_leave_minutes: int | Keep = KEEP,
    regular_threshold_percent: int | Keep = KEEP,
    raw_event_retention_days: int | Keep = KEEP,
    contact_grace_days: int | Keep = KEEP,
    attendance_retention_days: int | Keep = KEEP,
) -> Centre:
    """Changes a centre's name and policies (coordinators of the centre, admins)."""
    centre = _load(db, Centre, centre_id, _no_centre())
    require_centre(actor, centre.id, what="centre")
    changes: dict[str, object] = {}
    if not isinstance(name, Keep):
        changes["name"] = validation.text(name, field="name")
    if not isinstance(municipality, Keep):
        changes["municipality"] = validation.text(municipality, field="municipality", required=False)
    if not isinstance(default_language, Keep):
        changes["default_language"] = validation.parent_language(default_language, field="default_language")
    if not isinstance(reminder_offsets, Keep):
        changes["reminder_offsets"] = validation.reminder_offsets(reminder_offsets)
    numbers = {
        "present_min_minutes": present_min_minutes,
        "present_min_share": present_min_share,
        "late_after_minutes": late_after_minutes,
        "early_leave_minutes": early_leave_minutes,
        "regular_threshold_percent": regular_threshold_percent,
        "raw_event_retention_days": raw_event_retention_days,
        "contact_grace_days": contact_grace_days,
        "attendance_retention_days": attendance_retention_days,
    }
    for field, value in numbers.items():
        if not isinstance(value, Keep):
            low, high = CENTRE_LIMITS[field]
            changes[field] = validation.int_in_range(value, low, high, field=field)
    changed = _assign_changed(centre, changes)
    if changed:
        audit.record(
            db,
            actor,
            "centre.update",
            object_type="centre",
            object_id=centre.id,
            centre_id=centre.id,
            detail={"fields": changed},
        )
    return centre


# --- staff ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NewStaff:
    """A created staff account; ``initial_password`` is set when it was generated (shown once)."""

    user: StaffUser
    initial_password: str | None = dataclasses.field(repr=False)


def list_staff(db: Session, *, actor: Actor, centre_id: int) -> list[StaffUser]:
    """The centre's staff, active ones first (coordinators of the centre, admins)."""
    centre = _load(db, Centre, centre_id, _no_centre())
    require_centre(actor, centre.id, what="centre")
    return list(
        db.scalars(
            select(StaffUser)
            .where(StaffUser.centre_id == centre.id)
            .order_by(StaffUser.active.desc(), StaffUser.role, StaffUser.display_name, StaffUser.id)
        )
    )


def _check_role(actor: Actor, role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(gettext("Choose facilitator or coordinator."), field="role")
    if role == "admin" and not actor.is_admin:
        raise Forbidden(gettext("Only state admins may give the admin role."), field="role")
    return role


def _staff_language(language: str) -> str:
    if language not in STAFF_LANGUAGES:
        raise InvalidInput(gettext("Staff pages are in German (de) or English (en)."), field="language")
    return language


def create_staff(
    db: Session,
    *,
    actor: Actor,
    centre_id: int,
    email: str,
    display_name: str,
    role: str,
    password: str | None = None,
    language: str = "de",
    phone: str | None = None,
) -> NewStaff:
    """A new facilitator or coordinator of the centre (admins may also create admins).

    Without a password one is generated and returned once, for the coordinator to hand over.
    """
    centre = _load(db, Centre, centre_id, _no_centre())
    require_centre(actor, centre.id, what="centre")
    role = _check_role(actor, role)
    name = validation.text(display_name, field="display_name")
    # The account module checks the form of the address; this also refuses what cannot be stored.
    validation.email(email)
    number = validation.phone(phone)
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(_INITIAL_PASSWORD_BYTES)
    elif len(password) > 1000:
        raise InvalidInput(gettext("At most %(n)d characters, please.") % {"n": 1000}, field="password")
    user = accounts.create_user(
        db,
        email=email,
        display_name=name,
        role=role,
        password=password,
        centre_id=centre.id,
        language=_staff_language(language),
        phone=number,
    )
    audit.record(
        db,
        actor,
        "staff.create",
        object_type="staff_user",
        object_id=user.id,
        centre_id=centre.id,
        detail={"role": role},
    )
    return NewStaff(user=user, initial_password=generated)


def _groups_led(db: Session, user_id: int) -> list[str]:
    return list(
        db.scalars(
            select(Group.name)
            .join(Group.facilitators)
            .where(StaffUser.id == user_id, Group.archived.is_(False))
            .order_by(Group.name)
        )
    )


def update_staff(
    db: Session,
    *,
    actor: Actor,
    user_id: int,
    display_name: str | Keep = KEEP,
    role: str | Keep = KEEP,
    active: bool | Keep = KEEP,
    language: str | Keep = KEEP,
    phone: str | Keep | None = KEEP,
) -> StaffUser:
    """Renames, changes the role of, deactivates or reactivates a staff member.

    Coordinators act within their centre and never on admins; nobody changes their own role or
    deactivates themselves (a centre must not lock itself out by a slip). A facilitator who
    still leads groups keeps the role until the groups have other facilitators, because a
    group's facilitators are facilitators by definition.
    """
    user = _load(db, StaffUser, user_id, _no_staff())
    if user.centre_id is None:
        if not actor.is_admin:
            raise NotFound(_no_staff())
    else:
        require_centre(actor, user.centre_id, what="staff member")
    if user.role == "admin" and not actor.is_admin:
        raise Forbidden(gettext("Only state admins may change an admin's account."))
    changes: dict[str, object] = {}
    if not isinstance(display_name, Keep):
        changes["display_name"] = validation.text(display_name, field="display_name")
    if not isinstance(language, Keep):
        changes["language"] = _staff_language(language)
    if not isinstance(phone, Keep):
        changes["phone"] = validation.phone(phone)
    if not isinstance(role, Keep) and role != user.role:
        changes["role"] = _check_role(actor, role)
        if user.id == actor.user_id:
            raise Conflict(gettext("You cannot change your own role."), field="role")
        if user.centre_id is None and role != "admin":
            raise InvalidInput(gettext("This account belongs to no centre."), field="role")
        if user.role == "facilitator" and (led := _groups_led(db, user.id)):
            raise Conflict(
                gettext("First give these groups another facilitator: %(groups)s.")
                % {"groups": ", ".join(led)},
                field="role",
            )
    if not isinstance(active, Keep) and active != user.active:
        if user.id == actor.user_id:
            raise Conflict(gettext("You cannot deactivate yourself."), field="active")
        changes["active"] = active
    changed = _assign_changed(user, changes)
    if changed:
        detail: dict[str, object] = {"fields": changed}
        if "role" in changes:
            detail["role"] = changes["role"]
        if "active" in changes:
            detail["active"] = changes["active"]
        audit.record(
            db,
            actor,
            "staff.update",
            object_type="staff_user",
            object_id=user.id,
            centre_id=user.centre_id,
            detail=detail,
        )
    return user


# --- Jitsi deployments ---------------------------------------------------------------------------


def _require_deployment(actor: Actor, deployment: JitsiDeployment, *, manage: bool) -> None:
    """A centre's deployment is its coordinators'; a shared one (no centre) is read by every
    coordinator, for choosing it in a group, and changed by admins only."""
    if deployment.centre_id is not None:
        require_centre(actor, deployment.centre_id, what="deployment")
        return
    if actor.is_admin:
        return
    if manage or not actor.is_coordinator:
        raise Forbidden(gettext("Only state admins may change a shared deployment."))


def list_deployments(db: Session, *, actor: Actor, centre_id: int) -> list[JitsiDeployment]:
    """The centre's deployments and the shared ones, which its groups may use as well."""
    centre = _load(db, Centre, centre_id, _no_centre())
    require_centre(actor, centre.id, what="centre")
    return list(
        db.scalars(
            select(JitsiDeployment)
            .where(or_(JitsiDeployment.centre_id == centre.id, JitsiDeployment.centre_id.is_(None)))
            .order_by(JitsiDeployment.centre_id.is_(None), JitsiDeployment.name, JitsiDeployment.id)
        )
    )


def get_deployment(db: Session, *, actor: Actor, deployment_id: int) -> JitsiDeployment:
    deployment = _load(db, JitsiDeployment, deployment_id, _no_deployment())
    _require_deployment(actor, deployment, manage=False)
    return deployment


def _slug_free(db: Session, slug: str, deployment_id: int | None = None) -> None:
    query = select(JitsiDeployment.id).where(JitsiDeployment.slug == slug)
    if deployment_id is not None:
        query = query.where(JitsiDeployment.id != deployment_id)
    if db.scalar(query) is not None:
        raise Conflict(gettext("Another deployment has this slug already."), field="slug")


def create_deployment(
    db: Session,
    *,
    actor: Actor,
    centre_id: int,
    kind: str,
    slug: str,
    name: str,
    app_id: str,
    signing_secret: str,
    domain: str = "",
    base_url: str = "",
    tenant: str | None = None,
    algorithm: str = "HS256",
    key_id: str | None = None,
    webhook_secret: str = "",
    token_in_query: bool = False,
    shared: bool = False,
) -> JitsiDeployment:
    """A new Jitsi deployment of the centre (``shared``: of every centre, admins only).

    JaaS needs RS256, a key id and an app id starting ``vpaas-magic-cookie-``; its domain and
    base URL default to 8x8.vc. Secrets are literal or ``env:NAME``/``file:/path`` references.
    """
    centre = _load(db, Centre, centre_id, _no_centre())
    require_centre(actor, centre.id, what="centre")
    if shared:
        _require_admin(actor)
    values = validation.check_deployment(
        validation.DeploymentValues(
            kind=kind,
            slug=slug,
            name=name,
            domain=domain,
            base_url=base_url,
            tenant=tenant,
            app_id=app_id,
            algorithm=algorithm,
            key_id=key_id,
            signing_secret=signing_secret,
            webhook_secret=webhook_secret,
            token_in_query=token_in_query,
        )
    )
    _slug_free(db, values.slug)
    deployment = JitsiDeployment(centre_id=None if shared else centre.id, **dataclasses.asdict(values))
    db.add(deployment)
    _flush_unique(db, gettext("Another deployment has this slug already."), "slug")
    audit.record(
        db,
        actor,
        "deployment.create",
        object_type="jitsi_deployment",
        object_id=deployment.id,
        centre_id=deployment.centre_id,
        detail={"kind": values.kind, "slug": values.slug},
    )
    return deployment


def update_deployment(
    db: Session,
    *,
    actor: Actor,
    deployment_id: int,
    kind: str | Keep = KEEP,
    slug: str | Keep = KEEP,
    name: str | Keep = KEEP,
    domain: str | Keep = KEEP,
    base_url: str | Keep = KEEP,
    tenant: str | Keep | None = KEEP,
    app_id: str | Keep = KEEP,
    algorithm: str | Keep = KEEP,
    key_id: str | Keep | None = KEEP,
    signing_secret: str | Keep | None = KEEP,
    webhook_secret: str | Keep | None = KEEP,
    token_in_query: bool | Keep = KEEP,
) -> JitsiDeployment:
    """Changes a deployment. An empty (or absent) secret keeps the stored one, so a form that
    never shows secrets can still be saved; the resulting configuration is checked as a whole
    (switching to RS256 needs a PEM key, even if only the algorithm was changed)."""
    deployment = _load(db, JitsiDeployment, deployment_id, _no_deployment())
    _require_deployment(actor, deployment, manage=True)

    values = validation.check_deployment(
        validation.DeploymentValues(
            kind=_pick(kind, deployment.kind),
            slug=_pick(slug, deployment.slug),
            name=_pick(name, deployment.name),
            domain=_pick(domain, deployment.domain),
            base_url=_pick(base_url, deployment.base_url),
            tenant=_pick(tenant, deployment.tenant),
            app_id=_pick(app_id, deployment.app_id),
            algorithm=_pick(algorithm, deployment.algorithm),
            key_id=_pick(key_id, deployment.key_id),
            signing_secret=_pick(signing_secret, None) or deployment.signing_secret,
            webhook_secret=_pick(webhook_secret, None) or deployment.webhook_secret,
            token_in_query=_pick(token_in_query, deployment.token_in_query),
        )
    )
    _slug_free(db, values.slug, deployment.id)
    changed = _assign_changed(deployment, dataclasses.asdict(values))
    _flush_unique(db, gettext("Another deployment has this slug already."), "slug")
    if changed:
        # Field names only: the audit trail must never hold a secret.
        audit.record(
            db,
            actor,
            "deployment.update",
            object_type="jitsi_deployment",
            object_id=deployment.id,
            centre_id=deployment.centre_id,
            detail={"fields": changed},
        )
    return deployment


def delete_deployment(db: Session, *, actor: Actor, deployment_id: int) -> None:
    """Deletes a deployment that no current group meets on (archived groups lose the link)."""
    deployment = _load(db, JitsiDeployment, deployment_id, _no_deployment())
    _require_deployment(actor, deployment, manage=True)
    in_use = list(
        db.scalars(
            select(Group.name)
            .where(Group.deployment_id == deployment.id, Group.archived.is_(False))
            .order_by(Group.name)
        )
    )
    if in_use:
        raise Conflict(
            gettext("These groups meet on this deployment; move them first: %(groups)s.")
            % {"groups": ", ".join(in_use)}
        )
    audit.record(
        db,
        actor,
        "deployment.delete",
        object_type="jitsi_deployment",
        object_id=deployment.id,
        centre_id=deployment.centre_id,
        detail={"slug": deployment.slug},
    )
    db.delete(deployment)
    db.flush()


# --- groups --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GroupSummary:
    group: Group
    members: int  # parents enrolled now


@dataclasses.dataclass(frozen=True)
class Member:
    """A parent in a group as the group page shows them (no contact data)."""

    parent_id: int
    display_name: str
    language: str
    enrolled_at: dt.datetime
    left_at: dt.datetime | None
    back_since: dt.datetime | None = None  # re-joined then, after their latest time away

    @property
    def active(self) -> bool:
        return self.left_at is None


@dataclasses.dataclass(frozen=True)
class GroupDetail:
    group: Group
    centre: Centre
    deployment: JitsiDeployment | None
    # Current members first, then those who left; empty for actors who may not see parents.
    members: list[Member]
    member_count: int
    can_manage: bool
    can_see_parents: bool


def _member_counts(db: Session, group_ids: Sequence[int]) -> dict[int, int]:
    if not group_ids:
        return {}
    rows = db.execute(
        select(Enrolment.group_id, func.count())
        .join(Parent, Parent.id == Enrolment.parent_id)
        .where(Enrolment.group_id.in_(group_ids), Enrolment.left_at.is_(None), Parent.erased_at.is_(None))
        .group_by(Enrolment.group_id)
    )
    return dict(rows.all())


def list_groups(
    db: Session, *, actor: Actor, centre_id: int | None = None, include_archived: bool = False
) -> list[GroupSummary]:
    """Coordinators: their centre's groups; facilitators: the groups they lead; admins: all (or
    one centre's)."""
    query = select(Group).order_by(Group.archived, Group.name, Group.id)
    if centre_id is not None:
        centre = _load(db, Centre, centre_id, _no_centre())
        if not actor.is_admin and actor.centre_id != centre.id:
            raise NotFound(_no_centre())
        query = query.where(Group.centre_id == centre.id)
    if actor.is_facilitator:
        query = query.where(Group.id.in_(actor.group_ids), Group.centre_id == actor.centre_id)
    elif not actor.is_admin:
        query = query.where(Group.centre_id == actor.centre_id)
    if not include_archived:
        query = query.where(Group.archived.is_(False))
    groups = list(db.scalars(query))
    counts = _member_counts(db, [g.id for g in groups])
    return [GroupSummary(group=g, members=counts.get(g.id, 0)) for g in groups]


def _back_since() -> Any:
    """Per enrolment with breaks: when the parent last re-joined."""
    return (
        select(EnrolmentBreak.enrolment_id, func.max(EnrolmentBreak.rejoined_at).label("back_since"))
        .group_by(EnrolmentBreak.enrolment_id)
        .subquery()
    )


def _members(db: Session, group_id: int) -> list[Member]:
    back = _back_since()
    rows = db.execute(
        select(
            Parent.id,
            Parent.display_name,
            Parent.language,
            Enrolment.enrolled_at,
            Enrolment.left_at,
            back.c.back_since,
        )
        .join(Enrolment, Enrolment.parent_id == Parent.id)
        .outerjoin(back, back.c.enrolment_id == Enrolment.id)
        .where(Enrolment.group_id == group_id, Parent.erased_at.is_(None))
    )
    members = [Member(*row) for row in rows]
    return sorted(members, key=lambda m: (not m.active, m.display_name.casefold(), m.parent_id))


def get_group(db: Session, *, actor: Actor, group_id: int) -> GroupDetail:
    """A group with its facilitators and (for its coordinators and facilitators) its members."""
    group = _load(db, Group, group_id, _no_group())
    require_group(actor, group.centre_id, group.id)
    centre = db.get_one(Centre, group.centre_id)
    deployment = db.get(JitsiDeployment, group.deployment_id) if group.deployment_id else None
    can_see_parents = not actor.is_admin
    members = _members(db, group.id) if can_see_parents else []
    count = (
        sum(1 for m in members if m.active)
        if can_see_parents
        else _member_counts(db, [group.id]).get(group.id, 0)
    )
    return GroupDetail(
        group=group,
        centre=centre,
        deployment=deployment,
        members=members,
        member_count=count,
        can_manage=actor.can_manage_centre(group.centre_id),
        can_see_parents=can_see_parents,
    )


def list_members(db: Session, *, actor: Actor, group_id: int) -> list[Member]:
    """The group's members (current first, then those who left) for its coordinators and
    facilitators; admins are refused (no parents' data for them)."""
    group = _load(db, Group, group_id, _no_group())
    require_group(actor, group.centre_id, group.id)
    _refuse_admin(actor)
    return _members(db, group.id)


def _usable_deployment(db: Session, centre_id: int, deployment_id: int | None) -> int | None:
    if deployment_id is None:
        return None
    deployment = db.get(JitsiDeployment, deployment_id) if 1 <= deployment_id <= _MAX_ID else None
    if deployment is None or deployment.centre_id not in (None, centre_id):
        raise InvalidInput(gettext("Choose one of the centre's Jitsi deployments."), field="deployment_id")
    return deployment.id


def _facilitators(
    db: Session, centre_id: int, ids: Sequence[int], current: Sequence[StaffUser] = ()
) -> list[StaffUser]:
    """The staff users for ``ids``: facilitators of the centre, active unless already assigned."""
    wanted = list(dict.fromkeys(ids))
    if any(not 1 <= i <= _MAX_ID for i in wanted):
        raise InvalidInput(gettext("Choose facilitators of this centre."), field="facilitator_ids")
    users = {u.id: u for u in db.scalars(select(StaffUser).where(StaffUser.id.in_(wanted)))} if wanted else {}
    kept = {u.id for u in current}
    for user_id in wanted:
        user = users.get(user_id)
        if user is None or user.role != "facilitator" or user.centre_id != centre_id:
            raise InvalidInput(gettext("Choose facilitators of this centre."), field="facilitator_ids")
        if not user.active and user_id not in kept:
            raise InvalidInput(
                gettext("%(name)s is deactivated.") % {"name": user.display_name}, field="facilitator_ids"
            )
    return sorted((users[i] for i in wanted), key=lambda u: (u.display_name, u.id))


def create_group(
    db: Session,
    *,
    actor: Actor,
    centre_id: int,
    name: str,
    languages: Sequence[str],
    cycle_start: dt.date,
    cycle_end: dt.date,
    site_name: str = "",
    deployment_id: int | None = None,
    facilitator_ids: Sequence[int] = (),
) -> Group:
    """A new group of the centre (coordinators of the centre, admins)."""
    centre = _load(db, Centre, centre_id, _no_centre())
    require_centre(actor, centre.id, what="centre")
    start, end = validation.cycle(cycle_start, cycle_end)
    group = Group(
        centre_id=centre.id,
        name=validation.text(name, field="name"),
        site_name=validation.text(site_name, field="site_name", required=False),
        languages=validation.group_languages(languages),
        deployment_id=_usable_deployment(db, centre.id, deployment_id),
        cycle_start=start,
        cycle_end=end,
    )
    group.facilitators = _facilitators(db, centre.id, facilitator_ids)
    db.add(group)
    db.flush()
    audit.record(db, actor, "group.create", object_type="group", object_id=group.id, centre_id=centre.id)
    return group


def update_group(
    db: Session,
    *,
    actor: Actor,
    group_id: int,
    name: str | Keep = KEEP,
    site_name: str | Keep = KEEP,
    languages: Sequence[str] | Keep = KEEP,
    deployment_id: int | Keep | None = KEEP,
    cycle_start: dt.date | Keep = KEEP,
    cycle_end: dt.date | Keep = KEEP,
    facilitator_ids: Sequence[int] | Keep = KEEP,
    archived: bool | Keep = KEEP,
) -> Group:
    """Changes a group's set-up, or archives (``archived=True``) or restores it."""
    group = _load(db, Group, group_id, _no_group())
    require_group(actor, group.centre_id, group.id, manage=True)
    changes: dict[str, object] = {}
    if not isinstance(name, Keep):
        changes["name"] = validation.text(name, field="name")
    if not isinstance(site_name, Keep):
        changes["site_name"] = validation.text(site_name, field="site_name", required=False)
    if not isinstance(languages, Keep):
        changes["languages"] = validation.group_languages(languages)
    if not isinstance(deployment_id, Keep):
        changes["deployment_id"] = _usable_deployment(db, group.centre_id, deployment_id)
    if not isinstance(cycle_start, Keep) or not isinstance(cycle_end, Keep):
        start, end = validation.cycle(
            group.cycle_start if isinstance(cycle_start, Keep) else cycle_start,
            group.cycle_end if isinstance(cycle_end, Keep) else cycle_end,
        )
        changes["cycle_start"], changes["cycle_end"] = start, end
    if not isinstance(archived, Keep):
        changes["archived"] = archived
    facilitators = None
    if not isinstance(facilitator_ids, Keep):
        facilitators = _facilitators(db, group.centre_id, facilitator_ids, group.facilitators)
    changed = _assign_changed(group, changes)
    if facilitators is not None and {u.id for u in facilitators} != {u.id for u in group.facilitators}:
        group.facilitators = facilitators
        changed.append("facilitator_ids")
    if {"name", "site_name"} & set(changed):
        # Calendar feeds show the group's name and KiTa: subscribers must see the change.
        group.schedule_version += 1
    if changed:
        action = "group.update"
        if changed == ["archived"]:
            action = "group.archive" if group.archived else "group.restore"
        audit.record(
            db,
            actor,
            action,
            object_type="group",
            object_id=group.id,
            centre_id=group.centre_id,
            detail={"fields": changed},
        )
    db.flush()
    return group


def archive_group(db: Session, *, actor: Actor, group_id: int, archived: bool = True) -> Group:
    """Archives a group at the end of its cycle (or restores it): it leaves the lists and takes
    no new members; its history stays."""
    return update_group(db, actor=actor, group_id=group_id, archived=archived)


# --- parents and enrolments ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class EnrolmentView:
    group_id: int
    group_name: str
    group_archived: bool
    enrolled_at: dt.datetime
    left_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.left_at is None


@dataclasses.dataclass(frozen=True)
class ParentSummary:
    parent: Parent
    groups: list[tuple[int, str]]  # (id, name) of the groups the parent is in now


@dataclasses.dataclass(frozen=True)
class ParentDetail:
    parent: Parent
    enrolments: list[EnrolmentView]


def _load_parent(db: Session, actor: Actor, parent_id: int) -> Parent:
    parent = _load(db, Parent, parent_id, _no_parent())
    _require_parent_data(actor, parent.centre_id)
    if parent.erased_at is not None:
        # Erased parents are anonymised remains kept for aggregate figures, not records to edit.
        raise NotFound(_no_parent())
    return parent


def require_parent_access(db: Session, *, actor: Actor, centre_id: int | None) -> int:
    """The centre whose parents the actor may see and change (default: their own), or an error
    that says why not; for pages that show a parent form before anything is submitted."""
    _refuse_admin(actor)
    centre_id = actor.centre_id if centre_id is None else centre_id
    if centre_id is None:
        raise NotFound(_no_centre())
    _require_parent_data(actor, centre_id)
    return centre_id


def group_for_parents(db: Session, *, actor: Actor, group_id: int) -> Group:
    """The group, if the actor may change its members (its centre's coordinators)."""
    return _load_group_for_parents(db, actor, group_id)


def _load_group_for_parents(db: Session, actor: Actor, group_id: int) -> Group:
    group = _load(db, Group, group_id, _no_group())
    if actor.is_admin or not actor.can_manage_centre(group.centre_id):
        # Facilitators of the group and admins get the refusal that says why; others "not found".
        if actor.is_admin or (actor.is_facilitator and actor.centre_id == group.centre_id):
            _require_parent_data(actor, group.centre_id)
        raise NotFound(_no_group())
    return group


def _name_taken(db: Session, group_id: int, display_name: str, parent_id: int | None = None) -> bool:
    """Whether a current member of the group already has this name.

    Facilitators and coordinators tell members apart by name (in the attendance list and in
    the video room), so two current members of a group may not share one; this also stops a
    CSV file from being imported twice.
    """
    names = db.execute(
        select(Parent.id, Parent.display_name)
        .join(Enrolment, Enrolment.parent_id == Parent.id)
        .where(Enrolment.group_id == group_id, Enrolment.left_at.is_(None), Parent.erased_at.is_(None))
    )
    # Compared in Python: SQLite's lower() folds ASCII only ("AYŞE" vs "Ayşe").
    wanted = display_name.casefold()
    return any(name.casefold() == wanted and pid != parent_id for pid, name in names)


def _name_conflict(group: Group) -> Conflict:
    return Conflict(
        gettext("Someone in the group %(group)s already has this name; add an initial or a pseudonym.")
        % {"group": group.name},
        field="display_name",
    )


def list_parents(
    db: Session, *, actor: Actor, centre_id: int | None = None, group_id: int | None = None
) -> list[ParentSummary]:
    """The centre's parents (those now in ``group_id`` only, when given), by name."""
    if group_id is not None:
        group = _load_group_for_parents(db, actor, group_id)
        centre_id = group.centre_id
    centre_id = require_parent_access(db, actor=actor, centre_id=centre_id)
    query = select(Parent).where(Parent.centre_id == centre_id, Parent.erased_at.is_(None))
    if group_id is not None:
        query = query.join(Enrolment, Enrolment.parent_id == Parent.id).where(
            Enrolment.group_id == group_id, Enrolment.left_at.is_(None)
        )
    parents = list(db.scalars(query))
    parents.sort(key=lambda p: (p.display_name.casefold(), p.id))
    groups: dict[int, list[tuple[int, str]]] = {p.id: [] for p in parents}
    if parents:
        rows = db.execute(
            select(Enrolment.parent_id, Group.id, Group.name)
            .join(Group, Group.id == Enrolment.group_id)
            .where(Enrolment.parent_id.in_(groups), Enrolment.left_at.is_(None), Group.archived.is_(False))
            .order_by(Group.name)
        )
        for parent_id, group_id, name in rows:
            groups[parent_id].append((group_id, name))
    return [ParentSummary(parent=p, groups=groups[p.id]) for p in parents]


def _enrolments(db: Session, parent_id: int) -> list[EnrolmentView]:
    rows = db.execute(
        select(Group.id, Group.name, Group.archived, Enrolment.enrolled_at, Enrolment.left_at)
        .join(Enrolment, Enrolment.group_id == Group.id)
        .where(Enrolment.parent_id == parent_id)
    )
    views = [EnrolmentView(*row) for row in rows]
    return sorted(views, key=lambda e: (not e.active, e.group_archived, e.group_name.casefold()))


def get_parent(db: Session, *, actor: Actor, parent_id: int) -> ParentDetail:
    parent = _load_parent(db, actor, parent_id)
    return ParentDetail(parent=parent, enrolments=_enrolments(db, parent.id))


def _open_group(db: Session, centre_id: int, group_id: int) -> Group:
    group = db.get(Group, group_id) if 1 <= group_id <= _MAX_ID else None
    if group is None or group.centre_id != centre_id:
        raise InvalidInput(gettext("Choose a group of this centre."), field="group_ids")
    if group.archived:
        raise Conflict(gettext("The group %(group)s is archived.") % {"group": group.name}, field="group_ids")
    return group


def create_parent(
    db: Session,
    *,
    actor: Actor,
    centre_id: int,
    display_name: str,
    language: str,
    phone: str | None = None,
    email: str | None = None,
    sms_consent: bool = False,
    email_consent: bool = False,
    group_ids: Sequence[int] = (),
) -> Parent:
    """A new parent of the centre, enrolled in ``group_ids``.

    A phone number or e-mail address is stored only with consent to its channel, and the
    consent is recorded with its time (``validation.contact_with_consent``).
    """
    _refuse_admin(actor)
    centre = _load(db, Centre, centre_id, _no_centre())
    _require_parent_data(actor, centre.id)
    name = validation.display_name(display_name)
    lang = validation.parent_language(language)
    number = validation.phone(phone)
    address = validation.email(email)
    validation.contact_with_consent(
        phone=number, sms_consent=sms_consent, email=address, email_consent=email_consent
    )
    groups = [_open_group(db, centre.id, gid) for gid in dict.fromkeys(group_ids)]
    for group in groups:
        if _name_taken(db, group.id, name):
            raise _name_conflict(group)
    now = utcnow()
    parent = Parent(
        centre_id=centre.id,
        display_name=name,
        language=lang,
        pseudonym=new_pseudonym("p"),
        phone=number,
        email=address,
        sms_consent_at=now if sms_consent else None,
        email_consent_at=now if email_consent else None,
    )
    db.add(parent)
    db.flush()
    db.add_all([Enrolment(parent_id=parent.id, group_id=g.id, enrolled_at=now) for g in groups])
    db.flush()
    # Ids only: the audit trail outlives contact data and must not copy it.
    audit.record(
        db,
        actor,
        "parent.create",
        object_type="parent",
        object_id=parent.id,
        centre_id=centre.id,
        detail={
            "group_ids": [g.id for g in groups],
            "sms_consent": sms_consent,
            "email_consent": email_consent,
        },
    )
    return parent


def update_parent(
    db: Session,
    *,
    actor: Actor,
    parent_id: int,
    display_name: str | Keep = KEEP,
    language: str | Keep = KEEP,
    phone: str | Keep | None = KEEP,
    email: str | Keep | None = KEEP,
    sms_consent: bool | Keep = KEEP,
    email_consent: bool | Keep = KEEP,
) -> Parent:
    """Changes a parent's name, language or contacts.

    Withdrawn consent erases the contact it covered; consent given again is stamped anew. A
    consent that stays keeps its original time.
    """
    parent = _load_parent(db, actor, parent_id)
    changes: dict[str, object] = {}
    if not isinstance(display_name, Keep):
        changes["display_name"] = validation.display_name(display_name)
    if not isinstance(language, Keep):
        changes["language"] = validation.parent_language(language)
    sms = parent.sms_consent_at is not None if isinstance(sms_consent, Keep) else sms_consent
    mail = parent.email_consent_at is not None if isinstance(email_consent, Keep) else email_consent
    number = validation.phone(phone) if not isinstance(phone, Keep) else (parent.phone if sms else None)
    address = validation.email(email) if not isinstance(email, Keep) else (parent.email if mail else None)
    validation.contact_with_consent(phone=number, sms_consent=sms, email=address, email_consent=mail)
    now = utcnow()
    changes["phone"] = number
    changes["email"] = address
    changes["sms_consent_at"] = (parent.sms_consent_at or now) if sms else None
    changes["email_consent_at"] = (parent.email_consent_at or now) if mail else None
    new_name = changes.get("display_name")
    if isinstance(new_name, str) and new_name.casefold() != parent.display_name.casefold():
        for enrolment in _enrolments(db, parent.id):
            if enrolment.active and _name_taken(db, enrolment.group_id, new_name, parent.id):
                raise _name_conflict(db.get_one(Group, enrolment.group_id))
    changed = _assign_changed(parent, changes)
    if changed:
        audit.record(
            db,
            actor,
            "parent.update",
            object_type="parent",
            object_id=parent.id,
            centre_id=parent.centre_id,
            detail={"fields": changed},
        )
    return parent


def enrol_candidates(db: Session, *, actor: Actor, group_id: int) -> list[Parent]:
    """The centre's parents who are not in the group now, for the group page's "add" choice."""
    group = _load_group_for_parents(db, actor, group_id)
    current = select(Enrolment.parent_id).where(Enrolment.group_id == group.id, Enrolment.left_at.is_(None))
    parents = db.scalars(
        select(Parent).where(
            Parent.centre_id == group.centre_id, Parent.erased_at.is_(None), Parent.id.not_in(current)
        )
    )
    return sorted(parents, key=lambda p: (p.display_name.casefold(), p.id))


def enrol_parent(db: Session, *, actor: Actor, group_id: int, parent_id: int) -> tuple[Member, bool]:
    """Puts a parent of the centre into the group; re-enrolling clears ``left_at`` and keeps the
    time away as an ``EnrolmentBreak`` (none when they come back on the day they left).

    Returns the membership and whether anything changed (enrolling a current member is a no-op,
    so a script may repeat the call safely).
    """
    group = _load_group_for_parents(db, actor, group_id)
    parent = _load(db, Parent, parent_id, _no_parent())
    if parent.centre_id != group.centre_id or parent.erased_at is not None:
        raise InvalidInput(_no_parent(), field="parent_id")
    enrolment = db.scalar(
        select(Enrolment).where(Enrolment.group_id == group.id, Enrolment.parent_id == parent.id)
    )
    if enrolment is not None and enrolment.left_at is None:
        return _member(db, parent, enrolment), False
    if group.archived:
        raise Conflict(gettext("The group %(group)s is archived.") % {"group": group.name})
    if _name_taken(db, group.id, parent.display_name, parent.id):
        raise _name_conflict(group)
    now = utcnow()
    detail: dict[str, object] = {"parent_id": parent.id}
    if enrolment is None:
        action = "enrolment.create"
        enrolment = Enrolment(parent_id=parent.id, group_id=group.id, enrolled_at=now)
        db.add(enrolment)
    else:
        # Back after a time away: the sessions held meanwhile were not theirs to attend. Back on
        # the day they left (a leave undone) is no time away: reports count by local day.
        action = "enrolment.rejoin"
        left_at = enrolment.left_at
        assert left_at is not None
        zone = ZoneInfo(db.get_one(Centre, group.centre_id).timezone)
        if left_at.astimezone(zone).date() != now.astimezone(zone).date():
            db.add(EnrolmentBreak(enrolment_id=enrolment.id, left_at=left_at, rejoined_at=now))
        detail["left_at"] = left_at.isoformat()
        enrolment.left_at = None
    _flush_unique(db, gettext("The parent was just enrolled by someone else; reload the page."), "parent_id")
    audit.record(
        db,
        actor,
        action,
        object_type="group",
        object_id=group.id,
        centre_id=group.centre_id,
        detail=detail,
    )
    return _member(db, parent, enrolment), True


def _member(db: Session, parent: Parent, enrolment: Enrolment) -> Member:
    return Member(
        parent_id=parent.id,
        display_name=parent.display_name,
        language=parent.language,
        enrolled_at=enrolment.enrolled_at,
        left_at=enrolment.left_at,
        back_since=db.scalar(
            select(func.max(EnrolmentBreak.rejoined_at)).where(EnrolmentBreak.enrolment_id == enrolment.id)
        ),
    )


def leave_group(db: Session, *, actor: Actor, group_id: int, parent_id: int) -> Member:
    """Records that a parent left the group (``left_at``); their attendance history stays."""
    group = _load_group_for_parents(db, actor, group_id)
    enrolment = (
        db.scalar(select(Enrolment).where(Enrolment.group_id == group.id, Enrolment.parent_id == parent_id))
        if 1 <= parent_id <= _MAX_ID
        else None
    )
    parent = db.get(Parent, parent_id) if enrolment is not None else None
    if enrolment is None or parent is None or parent.erased_at is not None:
        raise NotFound(gettext("This parent is not in the group."))
    if enrolment.left_at is None:
        enrolment.left_at = utcnow()
        audit.record(
            db,
            actor,
            "enrolment.leave",
            object_type="group",
            object_id=group.id,
            centre_id=group.centre_id,
            detail={"parent_id": parent.id},
        )
        db.flush()
    return _member(db, parent, enrolment)


class ImportRejected(InvalidInput):
    """A CSV file with broken rows: nothing was imported; ``rows`` says what is wrong where."""

    def __init__(self, rows: list[csv_import.RowError]):
        lines = len({r.line for r in rows})
        super().__init__(
            ngettext(
                "%(n)d line of the file has a problem; nothing was imported.",
                "%(n)d lines of the file have problems; nothing was imported.",
                lines,
            )
            % {"n": lines},
            field="file",
            details=[{"line": str(r.line), "field": r.column, "message": r.message} for r in rows],
        )
        self.rows = rows


def import_parents(db: Session, *, actor: Actor, group_id: int, data: bytes) -> list[Parent]:
    """Creates and enrols every parent of a CSV file, or none (see ``csv_import``).

    Raises ``ImportRejected`` listing every broken row; on success returns the new parents.
    """
    group = _load_group_for_parents(db, actor, group_id)
    if group.archived:
        raise Conflict(gettext("The group %(group)s is archived.") % {"group": group.name})
    parsed = csv_import.parse(data)
    errors = list(parsed.errors)
    seen: dict[str, int] = {}
    for row in parsed.rows:
        key = row.display_name.casefold()
        if key in seen:
            errors.append(
                csv_import.RowError(
                    row.line,
                    "display_name",
                    gettext("Line %(line)d has the same name.") % {"line": seen[key]},
                )
            )
        elif _name_taken(db, group.id, row.display_name):
            errors.append(
                csv_import.RowError(
                    row.line, "display_name", gettext("Someone in the group already has this name.")
                )
            )
        seen.setdefault(key, row.line)
    if errors:
        raise ImportRejected(sorted(errors, key=lambda e: e.line))
    now = utcnow()
    parents = [
        Parent(
            centre_id=group.centre_id,
            display_name=row.display_name,
            language=row.language,
            pseudonym=new_pseudonym("p"),
            phone=row.phone,
            email=row.email,
            sms_consent_at=now if row.sms_consent else None,
            email_consent_at=now if row.email_consent else None,
        )
        for row in parsed.rows
    ]
    db.add_all(parents)
    db.flush()
    db.add_all([Enrolment(parent_id=p.id, group_id=group.id, enrolled_at=now) for p in parents])
    db.flush()
    audit.record(
        db,
        actor,
        "parents.import",
        object_type="group",
        object_id=group.id,
        centre_id=group.centre_id,
        detail={"count": len(parents), "parent_ids": [p.id for p in parents]},
    )
    return parents
