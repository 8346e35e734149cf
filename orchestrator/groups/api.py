"""The set-up API under /api/v1: centres, staff, deployments, groups, members, parents.

Handlers are thin: authenticate (``require_actor`` also demands the "write" scope for unsafe
methods), parse, call a use case, answer with a schema. Unknown ids and records of other
centres are 404; bodies that are not JSON are 400; bodies that do not fit are 422 naming the
field. Creating answers 201.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web
from pydantic import BaseModel, SecretStr
from sqlalchemy.orm import Session

from orchestrator.access import Actor
from orchestrator.errors import DomainError, InvalidInput
from orchestrator.groups import schemas as s
from orchestrator.groups import services
from orchestrator.i18n import gettext
from orchestrator.web.context import db_run, require_actor
from orchestrator.web.openapi import api, parse_body, path_id

__all__: list[str] = []

TAG = "set-up"
_MAX_ID = 2_147_483_647
_CSV_TYPES = ("text/csv", "text/plain", "application/csv")


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"


def _query_id(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= _MAX_ID:
        raise InvalidInput(gettext("%(name)s: give a record id") % {"name": name}, field=name)
    return int(raw)


def _query_bool(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "").lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise InvalidInput(gettext("%(name)s: true or false") % {"name": name}, field=name)


def _changes(body: BaseModel, nullable: Sequence[str] = ()) -> dict[str, Any]:
    """The fields a PATCH body set, secrets unwrapped; null only where it means "remove"."""
    values: dict[str, Any] = {}
    for field in body.model_fields_set:
        value = getattr(body, field)
        if value is None and field not in nullable:
            raise InvalidInput(gettext("%(name)s: must not be null") % {"name": field}, field=field)
        values[field] = value.get_secret_value() if isinstance(value, SecretStr) else value
    return values


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(model.model_dump(mode="json"), status=status)


# --- centres -------------------------------------------------------------------------------------


@api.route("GET", "/centres", summary="Centres you can see (admins: all)", tag=TAG, response=s.CentreList)
async def list_centres(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    centres = await db_run(request, services.list_centres, actor=actor)
    return _json(s.CentreList(items=[s.CentreOut.model_validate(c) for c in centres]))


@api.route(
    "POST",
    "/centres",
    summary="Create a centre (state admins)",
    tag=TAG,
    scope="write",
    body=s.CentreCreate,
    response=s.CentreOut,
)
async def create_centre(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    body = await parse_body(request, s.CentreCreate)
    centre = await db_run(request, services.create_centre, actor=actor, **body.model_dump())
    return _json(s.CentreOut.model_validate(centre), 201)


@api.route("GET", "/centres/{centre_id}", summary="A centre and its policies", tag=TAG, response=s.CentreOut)
async def get_centre(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    centre = await db_run(request, services.get_centre, actor=actor, centre_id=path_id(request, "centre_id"))
    return _json(s.CentreOut.model_validate(centre))


@api.route(
    "PATCH",
    "/centres/{centre_id}",
    summary="Change a centre's name and policies",
    tag=TAG,
    scope="write",
    body=s.CentrePatch,
    response=s.CentreOut,
)
async def update_centre(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    centre_id = path_id(request, "centre_id")
    body = await parse_body(request, s.CentrePatch)
    centre = await db_run(request, services.update_centre, actor=actor, centre_id=centre_id, **_changes(body))
    return _json(s.CentreOut.model_validate(centre))


# --- staff ---------------------------------------------------------------------------------------


@api.route("GET", "/centres/{centre_id}/staff", summary="The centre's staff", tag=TAG, response=s.StaffList)
async def list_staff(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    users = await db_run(request, services.list_staff, actor=actor, centre_id=path_id(request, "centre_id"))
    return _json(s.StaffList(items=[s.StaffOut.model_validate(u) for u in users]))


@api.route(
    "POST",
    "/centres/{centre_id}/staff",
    summary="Create a facilitator or coordinator",
    tag=TAG,
    scope="write",
    body=s.StaffCreate,
    response=s.StaffCreated,
)
async def create_staff(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    centre_id = path_id(request, "centre_id")
    body = await parse_body(request, s.StaffCreate)
    created = await db_run(
        request,
        services.create_staff,
        actor=actor,
        centre_id=centre_id,
        email=body.email,
        display_name=body.display_name,
        role=body.role,
        password=body.password.get_secret_value() if body.password else None,
        language=body.language,
        phone=body.phone,
    )
    out = s.StaffCreated.model_validate(created.user)
    out.initial_password = created.initial_password
    return _json(out, 201)


@api.route(
    "PATCH",
    "/staff/{user_id}",
    summary="Rename, change the role of, deactivate or reactivate staff",
    tag=TAG,
    scope="write",
    body=s.StaffPatch,
    response=s.StaffOut,
)
async def update_staff(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    user_id = path_id(request, "user_id")
    body = await parse_body(request, s.StaffPatch)
    user = await db_run(
        request, services.update_staff, actor=actor, user_id=user_id, **_changes(body, nullable=["phone"])
    )
    return _json(s.StaffOut.model_validate(user))


# --- deployments ---------------------------------------------------------------------------------


@api.route(
    "GET",
    "/centres/{centre_id}/deployments",
    summary="The centre's (and shared) Jitsi deployments",
    tag=TAG,
    response=s.DeploymentList,
)
async def list_deployments(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    rows = await db_run(
        request, services.list_deployments, actor=actor, centre_id=path_id(request, "centre_id")
    )
    return _json(s.DeploymentList(items=[s.DeploymentOut.of(d) for d in rows]))


@api.route(
    "POST",
    "/centres/{centre_id}/deployments",
    summary="Add a Jitsi deployment (secrets are write-only)",
    tag=TAG,
    scope="write",
    body=s.DeploymentCreate,
    response=s.DeploymentOut,
)
async def create_deployment(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    centre_id = path_id(request, "centre_id")
    body = await parse_body(request, s.DeploymentCreate)
    values = body.model_dump()
    values["signing_secret"] = body.signing_secret.get_secret_value()
    values["webhook_secret"] = body.webhook_secret.get_secret_value() if body.webhook_secret else ""
    deployment = await db_run(request, services.create_deployment, actor=actor, centre_id=centre_id, **values)
    return _json(s.DeploymentOut.of(deployment), 201)


@api.route(
    "GET",
    "/deployments/{deployment_id}",
    summary="A Jitsi deployment (without its secrets)",
    tag=TAG,
    response=s.DeploymentOut,
)
async def get_deployment(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    deployment = await db_run(
        request, services.get_deployment, actor=actor, deployment_id=path_id(request, "deployment_id")
    )
    return _json(s.DeploymentOut.of(deployment))


@api.route(
    "PATCH",
    "/deployments/{deployment_id}",
    summary="Change a deployment (empty secret: keep it)",
    tag=TAG,
    scope="write",
    body=s.DeploymentPatch,
    response=s.DeploymentOut,
)
async def update_deployment(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    deployment_id = path_id(request, "deployment_id")
    body = await parse_body(request, s.DeploymentPatch)
    changes = _changes(body, nullable=["tenant", "key_id", "signing_secret", "webhook_secret"])
    deployment = await db_run(
        request, services.update_deployment, actor=actor, deployment_id=deployment_id, **changes
    )
    return _json(s.DeploymentOut.of(deployment))


@api.route(
    "DELETE",
    "/deployments/{deployment_id}",
    summary="Delete a deployment no current group uses",
    tag=TAG,
    scope="write",
)
async def delete_deployment(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    deployment_id = path_id(request, "deployment_id")
    await db_run(request, services.delete_deployment, actor=actor, deployment_id=deployment_id)
    return web.Response(status=204)


# --- groups --------------------------------------------------------------------------------------


@api.route(
    "GET",
    "/groups",
    summary="Groups you can see (?centre_id=, ?include_archived=true)",
    tag=TAG,
    response=s.GroupList,
)
async def list_groups(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    rows = await db_run(
        request,
        services.list_groups,
        actor=actor,
        centre_id=_query_id(request, "centre_id"),
        include_archived=_query_bool(request, "include_archived"),
    )
    return _json(s.GroupList(items=[s.GroupOut.of(r) for r in rows]))


@api.route(
    "POST",
    "/groups",
    summary="Create a group in centre_id",
    tag=TAG,
    scope="write",
    body=s.GroupCreate,
    response=s.GroupOut,
)
async def create_group(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    body = await parse_body(request, s.GroupCreate)
    group = await db_run(request, services.create_group, actor=actor, **body.model_dump())
    return _json(s.GroupOut.of(services.GroupSummary(group=group, members=0)), 201)


@api.route("GET", "/groups/{group_id}", summary="A group", tag=TAG, response=s.GroupOut)
async def get_group(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    detail = await db_run(request, services.get_group, actor=actor, group_id=path_id(request, "group_id"))
    return _json(s.GroupOut.of(services.GroupSummary(group=detail.group, members=detail.member_count)))


@api.route(
    "PATCH",
    "/groups/{group_id}",
    summary="Change, archive (archived: true) or restore a group",
    tag=TAG,
    scope="write",
    body=s.GroupPatch,
    response=s.GroupOut,
)
async def update_group(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    group_id = path_id(request, "group_id")
    body = await parse_body(request, s.GroupPatch)
    changes = _changes(body, nullable=["deployment_id"])
    detail = await db_run(request, _update_group, actor=actor, group_id=group_id, **changes)
    return _json(s.GroupOut.of(services.GroupSummary(group=detail.group, members=detail.member_count)))


def _update_group(db: Session, *, actor: Actor, group_id: int, **changes: Any) -> services.GroupDetail:
    services.update_group(db, actor=actor, group_id=group_id, **changes)
    return services.get_group(db, actor=actor, group_id=group_id)


@api.route(
    "GET",
    "/groups/{group_id}/parents",
    summary="The group's members, current ones first",
    tag=TAG,
    response=s.MemberList,
)
async def list_members(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    members = await db_run(request, services.list_members, actor=actor, group_id=path_id(request, "group_id"))
    return _json(s.MemberList(items=[s.MemberOut.model_validate(m) for m in members]))


@api.route(
    "POST",
    "/groups/{group_id}/parents",
    summary="Enrol a parent: {parent_id} of an existing one, or the fields of a new one",
    tag=TAG,
    scope="write",
    body=s.EnrolBody,
    response=s.MemberOut,
)
async def enrol(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    group_id = path_id(request, "group_id")
    body = await parse_body(request, s.EnrolBody)
    if body.parent_id is not None:
        extra = sorted(body.model_fields_set - {"parent_id"})
        if extra:
            raise InvalidInput(
                gettext("%(name)s: give either parent_id or a new parent's fields") % {"name": extra[0]},
                field=extra[0],
            )
        member, changed = await db_run(
            request, services.enrol_parent, actor=actor, group_id=group_id, parent_id=body.parent_id
        )
        return _json(s.MemberOut.model_validate(member), 201 if changed else 200)
    if body.display_name is None or body.language is None:
        field = "display_name" if body.display_name is None else "language"
        raise InvalidInput(
            gettext("%(name)s: needed for a new parent (or give parent_id)") % {"name": field}, field=field
        )
    member = await db_run(
        request,
        _create_and_enrol,
        actor=actor,
        group_id=group_id,
        display_name=body.display_name,
        language=body.language,
        phone=body.phone,
        email=body.email,
        sms_consent=body.sms_consent,
        email_consent=body.email_consent,
    )
    return _json(s.MemberOut.model_validate(member), 201)


def _create_and_enrol(db: Session, *, actor: Actor, group_id: int, **fields: Any) -> services.Member:
    """One transaction: the new parent exists only if the enrolment worked too."""
    group = services.get_group(db, actor=actor, group_id=group_id).group
    parent = services.create_parent(
        db, actor=actor, centre_id=group.centre_id, group_ids=[group_id], **fields
    )
    return next(
        m for m in services.list_members(db, actor=actor, group_id=group_id) if m.parent_id == parent.id
    )


@api.route(
    "POST",
    "/groups/{group_id}/parents/import",
    summary="Import parents from a CSV body (text/csv), all or nothing; see ImportResult",
    tag=TAG,
    scope="write",
    response=s.ImportResult,
)
async def import_parents(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    group_id = path_id(request, "group_id")
    if request.content_type not in _CSV_TYPES:
        raise UnsupportedMediaType(
            gettext("send the CSV file as the body with Content-Type: text/csv, not %(type)s")
            % {"type": request.content_type}
        )
    data = await request.read()
    parents = await db_run(request, services.import_parents, actor=actor, group_id=group_id, data=data)
    return _json(s.ImportResult(imported=len(parents), parent_ids=[p.id for p in parents]), 201)


@api.route(
    "DELETE",
    "/groups/{group_id}/parents/{parent_id}",
    summary="A parent leaves the group (history stays)",
    tag=TAG,
    scope="write",
    response=s.MemberOut,
)
async def leave(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    member = await db_run(
        request,
        services.leave_group,
        actor=actor,
        group_id=path_id(request, "group_id"),
        parent_id=path_id(request, "parent_id"),
    )
    return _json(s.MemberOut.model_validate(member))


# --- parents -------------------------------------------------------------------------------------


def _parent_out(detail: services.ParentDetail) -> s.ParentOut:
    enrolments = [
        s.EnrolmentOut(
            group_id=e.group_id,
            group_name=e.group_name,
            group_archived=e.group_archived,
            enrolled_at=e.enrolled_at,
            left_at=e.left_at,
            active=e.active,
        )
        for e in detail.enrolments
    ]
    groups = [s.GroupRef(id=e.group_id, name=e.group_name) for e in detail.enrolments if e.active]
    return s.ParentOut.of(detail.parent, groups, enrolments)


@api.route(
    "GET",
    "/parents",
    summary="The centre's parents (?group_id= for one group's current members)",
    tag=TAG,
    response=s.ParentList,
)
async def list_parents(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    rows = await db_run(
        request,
        services.list_parents,
        actor=actor,
        centre_id=_query_id(request, "centre_id"),
        group_id=_query_id(request, "group_id"),
    )
    items = [s.ParentOut.of(r.parent, [s.GroupRef(id=i, name=n) for i, n in r.groups]) for r in rows]
    return _json(s.ParentList(items=items))


@api.route(
    "POST",
    "/parents",
    summary="Create a parent (contact only with consent)",
    tag=TAG,
    scope="write",
    body=s.ParentCreate,
    response=s.ParentOut,
)
async def create_parent(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    body = await parse_body(request, s.ParentCreate)
    detail = await db_run(request, _create_parent, actor=actor, **body.model_dump())
    return _json(_parent_out(detail), 201)


def _create_parent(db: Session, *, actor: Actor, **fields: Any) -> services.ParentDetail:
    parent = services.create_parent(db, actor=actor, **fields)
    return services.get_parent(db, actor=actor, parent_id=parent.id)


@api.route(
    "GET", "/parents/{parent_id}", summary="A parent with every enrolment", tag=TAG, response=s.ParentOut
)
async def get_parent(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    detail = await db_run(request, services.get_parent, actor=actor, parent_id=path_id(request, "parent_id"))
    return _json(_parent_out(detail))


@api.route(
    "PATCH",
    "/parents/{parent_id}",
    summary="Change a parent (consent false erases that contact)",
    tag=TAG,
    scope="write",
    body=s.ParentPatch,
    response=s.ParentOut,
)
async def update_parent(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    parent_id = path_id(request, "parent_id")
    body = await parse_body(request, s.ParentPatch)
    changes = _changes(body, nullable=["phone", "email"])
    detail = await db_run(request, _update_parent, actor=actor, parent_id=parent_id, **changes)
    return _json(_parent_out(detail))


def _update_parent(db: Session, *, actor: Actor, parent_id: int, **changes: Any) -> services.ParentDetail:
    services.update_parent(db, actor=actor, parent_id=parent_id, **changes)
    return services.get_parent(db, actor=actor, parent_id=parent_id)
