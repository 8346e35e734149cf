"""Pages for the coordinator's set-up: groups, parents, CSV import, staff, centre, deployments, admin.

Coordinators (and admins, for a centre chosen with ``?centre=<id>``) manage; facilitators see
the list of their groups and each group's page read-only and get 403 everywhere else. A form
whose input is wrong is shown again with the problem next to the field (status 422 or 409);
a successful POST redirects (303) to the page that shows the result.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from orchestrator import i18n
from orchestrator.access import Actor
from orchestrator.attendance import services as attendance
from orchestrator.errors import Conflict, DomainError, InvalidInput, NotFound
from orchestrator.groups import api as _api  # noqa: F401  (registers the API routes)
from orchestrator.groups import csv_import, services, validation
from orchestrator.i18n import gettext, ngettext
from orchestrator.models import ROLES, Group, JitsiDeployment, Parent, utcnow
from orchestrator.web.context import db_run, render, require_actor

__all__ = ["setup"]

MANAGERS = ("coordinator", "admin")
Form = MultiDictProxy[Any]


# --- helpers -------------------------------------------------------------------------------------


def _render(
    request: web.Request, template: str, context: dict[str, Any], *, status: int = 200
) -> web.Response:
    lang = i18n.current_language()
    ctx = {
        "language_name": lambda code: validation.language_name(code, lang),
        "notice": _notice(request),
        "error": None,
        **context,
    }
    return render(request, template, ctx, status=status)


def _notice(request: web.Request) -> str | None:
    """The confirmation after a redirect; only known keys, so nobody can put text on our page."""
    key = request.query.get("done")
    count = request.query.get("n", "0")
    n = int(count) if _digits(count) and len(count) < 6 else 0
    notices: dict[str, Callable[[], str]] = {
        "saved": lambda: gettext("Saved."),
        "created": lambda: gettext("Created."),
        "deleted": lambda: gettext("Deleted."),
        "enrolled": lambda: gettext("The parent is now in the group."),
        "left": lambda: gettext("The parent has left the group."),
        "archived": lambda: gettext("The group is archived."),
        "restored": lambda: gettext("The group is active again."),
        "imported": lambda: ngettext("%(n)d parent imported.", "%(n)d parents imported.", n) % {"n": n},
        "reapplied": lambda: (
            ngettext(
                "The attendance rules were applied: %(n)d entry changed.",
                "The attendance rules were applied: %(n)d entries changed.",
                n,
            )
            % {"n": n}
        ),
    }
    return notices[key]() if key in notices else None


def _digits(raw: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts "²", which ``int`` refuses."""
    return raw.isascii() and raw.isdigit()


def _str(form: Form, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def _bool(form: Form, name: str) -> bool:
    return _str(form, name) in ("1", "on", "true", "yes")


def _int(form: Form, name: str) -> int:
    raw = _str(form, name).strip()
    if not _digits(raw.removeprefix("-")) or len(raw) > 10:
        raise InvalidInput(gettext("Give a whole number."), field=name)
    return int(raw)


def _optional_id(form: Form, name: str) -> int | None:
    raw = _str(form, name).strip()
    return _int(form, name) if raw else None


def _ids(form: Form, name: str) -> list[int]:
    values = [v for v in form.getall(name, []) if isinstance(v, str) and v.strip()]
    if any(not _digits(v.strip()) or len(v.strip()) > 10 for v in values):
        raise InvalidInput(gettext("Choose from the list."), field=name)
    return [int(v) for v in values]


def _date(form: Form, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(_str(form, name).strip())
    except ValueError:
        raise InvalidInput(gettext("Give a date like 2026-09-01."), field=name) from None


def _codes(raw: str) -> list[str]:
    return [c for c in raw.replace(";", ",").replace(" ", ",").split(",") if c]


def _query_id(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name, "")
    if not raw:
        return None
    if not _digits(raw) or len(raw) > 10:
        raise NotFound(gettext("There is no such record."))
    return int(raw)


def _centre_id(request: web.Request, actor: Actor, form: Form | None = None) -> int:
    """The centre a page is about: the coordinator's own; for admins the one they chose."""
    chosen = _query_id(request, "centre")
    if form is not None and _digits(_str(form, "centre_id").strip()):
        chosen = int(_str(form, "centre_id"))
    if chosen is not None:
        return chosen
    if actor.centre_id is None:
        # Admins pick a centre on the admin page first.
        raise web.HTTPSeeOther("/admin")
    return actor.centre_id


def _centre_query(actor: Actor, centre_id: int) -> str:
    """What keeps an admin on the chosen centre across redirects."""
    return f"centre={centre_id}&" if actor.is_admin else ""


def _path_id(request: web.Request, name: str) -> int:
    return int(request.match_info[name])


def _form_error(e: DomainError) -> bool:
    return isinstance(e, (InvalidInput, Conflict))


# --- groups --------------------------------------------------------------------------------------


async def _group_form_context(request: web.Request, actor: Actor, centre_id: int) -> dict[str, Any]:
    staff = await db_run(request, services.list_staff, actor=actor, centre_id=centre_id)
    deployments = await db_run(request, services.list_deployments, actor=actor, centre_id=centre_id)
    return {
        "facilitator_choices": [u for u in staff if u.role == "facilitator"],
        "deployment_choices": deployments,
        "centre_id": centre_id,
    }


def _group_form(form: Form | None, group: Group | None = None) -> dict[str, Any]:
    """The group form's values: as submitted, else the group's, else empty."""
    if form is not None:
        values: dict[str, Any] = {f: _str(form, f) for f in _GROUP_FIELDS}
        values["facilitator_ids"] = [v for v in form.getall("facilitator_ids", []) if isinstance(v, str)]
        return values
    if group is not None:
        return {
            "name": group.name,
            "site_name": group.site_name,
            "languages": ", ".join(group.languages),
            "deployment_id": str(group.deployment_id or ""),
            "cycle_start": group.cycle_start.isoformat(),
            "cycle_end": group.cycle_end.isoformat(),
            "facilitator_ids": [str(u.id) for u in group.facilitators],
        }
    return {**dict.fromkeys(_GROUP_FIELDS, ""), "facilitator_ids": []}


_GROUP_FIELDS = ("name", "site_name", "languages", "deployment_id", "cycle_start", "cycle_end")


def _group_values(form: Form) -> dict[str, Any]:
    return {
        "name": _str(form, "name"),
        "site_name": _str(form, "site_name"),
        "languages": _codes(_str(form, "languages")),
        "deployment_id": _optional_id(form, "deployment_id"),
        "cycle_start": _date(form, "cycle_start"),
        "cycle_end": _date(form, "cycle_end"),
        "facilitator_ids": _ids(form, "facilitator_ids"),
    }


async def groups_page(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    return await _groups_page(request, actor)


async def _groups_page(
    request: web.Request, actor: Actor, *, error: DomainError | None = None, form: Form | None = None
) -> web.Response:
    centre_id = _query_id(request, "centre")
    if form is not None and _digits(_str(form, "centre_id")):
        centre_id = int(_str(form, "centre_id"))
    show_archived = request.query.get("archived") == "1"
    groups = await db_run(
        request, services.list_groups, actor=actor, centre_id=centre_id, include_archived=show_archived
    )
    ctx: dict[str, Any] = {"groups": groups, "show_archived": show_archived, "error": error}
    # Admins create groups for the centre they chose on the admin page.
    form_centre = centre_id if actor.is_admin else actor.centre_id if actor.is_coordinator else None
    ctx["can_create"] = form_centre is not None
    if form_centre is not None:
        ctx.update(await _group_form_context(request, actor, form_centre))
        ctx["v"] = _group_form(form)
    return _render(request, "groups/list.html", ctx, status=error.status if error else 200)


async def create_group(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    form = await request.post()
    centre_id = _centre_id(request, actor, form)
    try:
        group = await db_run(
            request, services.create_group, actor=actor, centre_id=centre_id, **_group_values(form)
        )
    except DomainError as e:
        if not _form_error(e):
            raise
        return await _groups_page(request, actor, error=e, form=form)
    raise web.HTTPSeeOther(f"/groups/{group.id}?done=created")


async def group_page(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    group_id = _path_id(request, "group_id")
    detail = await db_run(request, services.get_group, actor=actor, group_id=group_id)
    candidates = []
    if detail.can_manage and detail.can_see_parents:
        candidates = await db_run(request, services.enrol_candidates, actor=actor, group_id=group_id)
    return _render(request, "groups/detail.html", {"d": detail, "candidates": candidates})


async def edit_group_form(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    return await _edit_group_page(request, actor)


async def _edit_group_page(
    request: web.Request, actor: Actor, *, error: DomainError | None = None, form: Form | None = None
) -> web.Response:
    detail = await db_run(request, services.get_group, actor=actor, group_id=_path_id(request, "group_id"))
    ctx = await _group_form_context(request, actor, detail.group.centre_id)
    ctx.update({"d": detail, "v": _group_form(form, detail.group), "error": error})
    return _render(request, "groups/edit.html", ctx, status=error.status if error else 200)


async def edit_group(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    group_id = _path_id(request, "group_id")
    form = await request.post()
    try:
        await db_run(request, services.update_group, actor=actor, group_id=group_id, **_group_values(form))
    except DomainError as e:
        if not _form_error(e):
            raise
        return await _edit_group_page(request, actor, error=e, form=form)
    raise web.HTTPSeeOther(f"/groups/{group_id}?done=saved")


async def archive_group(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    group_id = _path_id(request, "group_id")
    form = await request.post()
    archived = _bool(form, "archived")
    await db_run(request, services.archive_group, actor=actor, group_id=group_id, archived=archived)
    raise web.HTTPSeeOther(f"/groups/{group_id}?done={'archived' if archived else 'restored'}")


def _back(form: Form, default: str) -> str:
    """Where to go after an enrolment change: the page the form came from (local paths only)."""
    target = _str(form, "next")
    # Only our own group and parent pages: anything else would make this an open redirect.
    return target if re.fullmatch(r"/(groups|parents)/[0-9]+", target) else default


async def enrol_member(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    group_id = _path_id(request, "group_id")
    form = await request.post()
    parent_id = _optional_id(form, "parent_id")
    if parent_id is None:
        raise InvalidInput(gettext("Choose a parent."), field="parent_id")
    await db_run(request, services.enrol_parent, actor=actor, group_id=group_id, parent_id=parent_id)
    target = _back(form, f"/groups/{group_id}")
    raise web.HTTPSeeOther(f"{target}?done=enrolled")


async def leave_member(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    group_id = _path_id(request, "group_id")
    form = await request.post()
    parent_id = _path_id(request, "parent_id")
    await db_run(request, services.leave_group, actor=actor, group_id=group_id, parent_id=parent_id)
    target = _back(form, f"/groups/{group_id}")
    raise web.HTTPSeeOther(f"{target}?done=left")


def _import_context(group: Group) -> dict[str, Any]:
    return {
        "group": group,
        "columns": csv_import.COLUMNS,
        "required_columns": csv_import.REQUIRED_COLUMNS,
        "max_rows": csv_import.MAX_ROWS,
        "max_kb": csv_import.MAX_BYTES // 1024,
        "row_errors": [],
    }


async def import_form(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    group = await db_run(
        request, services.group_for_parents, actor=actor, group_id=_path_id(request, "group_id")
    )
    return _render(request, "groups/import.html", _import_context(group))


async def import_upload(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    group_id = _path_id(request, "group_id")
    # Who may not import hears so before their file is looked at.
    group = await db_run(request, services.group_for_parents, actor=actor, group_id=group_id)
    form = await request.post()
    upload = form.get("file")
    # One byte over the limit is enough for the parser to say the file is too large.
    data = upload.file.read(csv_import.MAX_BYTES + 1) if isinstance(upload, web.FileField) else b""
    try:
        if not data:
            raise InvalidInput(gettext("Choose a CSV file."), field="file")
        parents = await db_run(request, services.import_parents, actor=actor, group_id=group_id, data=data)
    except DomainError as e:
        if not _form_error(e):
            raise
        ctx = _import_context(group)
        ctx["error"] = e
        ctx["row_errors"] = e.rows if isinstance(e, services.ImportRejected) else []
        return _render(request, "groups/import.html", ctx, status=e.status)
    raise web.HTTPSeeOther(f"/groups/{group_id}?done=imported&n={len(parents)}")


# --- parents -------------------------------------------------------------------------------------


async def parents_page(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    group_id = _query_id(request, "group")
    rows = await db_run(request, services.list_parents, actor=actor, group_id=group_id)
    groups = await db_run(request, services.list_groups, actor=actor, centre_id=actor.centre_id)
    return _render(request, "groups/parents.html", {"rows": rows, "groups": groups, "group_id": group_id})


def _parent_values(form: Form) -> dict[str, Any]:
    return {
        "display_name": _str(form, "display_name"),
        "language": _str(form, "language"),
        "phone": _str(form, "phone"),
        "email": _str(form, "email"),
        "sms_consent": _bool(form, "sms_consent"),
        "email_consent": _bool(form, "email_consent"),
    }


def _parent_form(form: Form | None, parent: Parent | None = None) -> dict[str, Any]:
    if form is not None:
        values = _parent_values(form)
        values["group_ids"] = [v for v in form.getall("group_ids", []) if isinstance(v, str)]
        return values
    if parent is not None:
        return {
            "display_name": parent.display_name,
            "language": parent.language,
            "phone": parent.phone or "",
            "email": parent.email or "",
            "sms_consent": parent.sms_consent_at is not None,
            "email_consent": parent.email_consent_at is not None,
        }
    return {
        "display_name": "",
        "language": "",
        "phone": "",
        "email": "",
        "sms_consent": False,
        "email_consent": False,
        "group_ids": [],
    }


async def new_parent_form(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    return await _new_parent_page(request, actor)


async def _new_parent_page(
    request: web.Request, actor: Actor, *, error: DomainError | None = None, form: Form | None = None
) -> web.Response:
    centre_id = await db_run(request, services.require_parent_access, actor=actor, centre_id=None)
    groups = await db_run(request, services.list_groups, actor=actor, centre_id=centre_id)
    values = _parent_form(form)
    if form is None and _digits(group := request.query.get("group", "")):
        values["group_ids"] = [group]
    ctx = {"groups": groups, "v": values, "error": error}
    return _render(request, "groups/parent_new.html", ctx, status=error.status if error else 200)


async def create_parent(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    form = await request.post()
    try:
        centre_id = await db_run(request, services.require_parent_access, actor=actor, centre_id=None)
        group_ids = _ids(form, "group_ids")
        parent = await db_run(
            request,
            services.create_parent,
            actor=actor,
            centre_id=centre_id,
            group_ids=group_ids,
            **_parent_values(form),
        )
    except DomainError as e:
        if not _form_error(e):
            raise
        return await _new_parent_page(request, actor, error=e, form=form)
    if len(group_ids) == 1:
        raise web.HTTPSeeOther(f"/groups/{group_ids[0]}?done=enrolled")
    raise web.HTTPSeeOther(f"/parents/{parent.id}?done=created")


async def parent_page(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    return await _parent_page(request, actor)


async def _parent_page(
    request: web.Request, actor: Actor, *, error: DomainError | None = None, form: Form | None = None
) -> web.Response:
    parent_id = _path_id(request, "parent_id")
    detail = await db_run(request, services.get_parent, actor=actor, parent_id=parent_id)
    groups = await db_run(request, services.list_groups, actor=actor, centre_id=detail.parent.centre_id)
    active = {e.group_id for e in detail.enrolments if e.active}
    ctx = {
        "d": detail,
        "open_groups": [g.group for g in groups if g.group.id not in active],
        "v": _parent_form(form, detail.parent),
        "error": error,
    }
    return _render(request, "groups/parent.html", ctx, status=error.status if error else 200)


async def update_parent(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    parent_id = _path_id(request, "parent_id")
    form = await request.post()
    try:
        await db_run(
            request, services.update_parent, actor=actor, parent_id=parent_id, **_parent_values(form)
        )
    except DomainError as e:
        if not _form_error(e):
            raise
        return await _parent_page(request, actor, error=e, form=form)
    raise web.HTTPSeeOther(f"/parents/{parent_id}?done=saved")


async def enrol_from_parent(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    parent_id = _path_id(request, "parent_id")
    form = await request.post()
    group_id = _optional_id(form, "group_id")
    if group_id is None:
        raise InvalidInput(gettext("Choose a group."), field="group_id")
    await db_run(request, services.enrol_parent, actor=actor, group_id=group_id, parent_id=parent_id)
    raise web.HTTPSeeOther(f"/parents/{parent_id}?done=enrolled")


# --- staff ---------------------------------------------------------------------------------------


async def staff_page(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    return await _staff_page(request, actor, _centre_id(request, actor))


async def _staff_page(
    request: web.Request,
    actor: Actor,
    centre_id: int,
    *,
    error: DomainError | None = None,
    form: Form | None = None,
    created: services.NewStaff | None = None,
) -> web.Response:
    centre = await db_run(request, services.get_centre, actor=actor, centre_id=centre_id, manage=True)
    staff = await db_run(request, services.list_staff, actor=actor, centre_id=centre_id)
    roles = [r for r in ROLES if r != "admin" or actor.is_admin]
    values = {
        f: _str(form, f) if form is not None else ""
        for f in ("email", "display_name", "role", "language", "phone")
    }
    ctx = {"centre": centre, "staff": staff, "roles": roles, "v": values, "error": error, "created": created}
    return _render(request, "groups/staff.html", ctx, status=error.status if error else 200)


async def create_staff(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    form = await request.post()
    centre_id = _centre_id(request, actor, form)
    try:
        created = await db_run(
            request,
            services.create_staff,
            actor=actor,
            centre_id=centre_id,
            email=_str(form, "email"),
            display_name=_str(form, "display_name"),
            role=_str(form, "role"),
            password=_str(form, "password") or None,
            language=_str(form, "language") or "de",
            phone=_str(form, "phone"),
        )
    except DomainError as e:
        if not _form_error(e):
            raise
        return await _staff_page(request, actor, centre_id, error=e, form=form)
    if created.initial_password:
        # Shown once on this answer (never put into a URL), like a new API token.
        return await _staff_page(request, actor, centre_id, created=created)
    raise web.HTTPSeeOther(f"/staff?{_centre_query(actor, centre_id)}done=created")


async def update_staff(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    user_id = _path_id(request, "user_id")
    form = await request.post()
    centre_id = _centre_id(request, actor, form)
    changes: dict[str, Any] = {}
    if "active" in form:
        changes["active"] = _bool(form, "active")
    if "role" in form:
        changes["role"] = _str(form, "role")
    try:
        await db_run(request, services.update_staff, actor=actor, user_id=user_id, **changes)
    except DomainError as e:
        if not _form_error(e):
            raise
        return await _staff_page(request, actor, centre_id, error=e)
    raise web.HTTPSeeOther(f"/staff?{_centre_query(actor, centre_id)}done=saved")


# --- centre --------------------------------------------------------------------------------------


async def centre_page(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    return await _centre_page(request, actor, _centre_id(request, actor))


async def _centre_page(
    request: web.Request,
    actor: Actor,
    centre_id: int,
    *,
    error: DomainError | None = None,
    form: Form | None = None,
) -> web.Response:
    centre = await db_run(request, services.get_centre, actor=actor, centre_id=centre_id, manage=True)
    fields = ("name", "municipality", "default_language", "reminder_offsets", *services.CENTRE_LIMITS)
    if form is not None:
        values = {f: _str(form, f) for f in fields}
    else:
        values = {f: getattr(centre, f) for f in fields}
        values["reminder_offsets"] = ", ".join(str(m) for m in centre.reminder_offsets)
    values["since"] = _str(form, "since") if form is not None else ""
    ctx = {"centre": centre, "v": values, "error": error, "limits": services.CENTRE_LIMITS}
    return _render(request, "groups/centre.html", ctx, status=error.status if error else 200)


async def update_centre(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    form = await request.post()
    centre_id = _centre_id(request, actor, form)
    try:
        offsets = []
        for part in _codes(_str(form, "reminder_offsets")):
            if not _digits(part) or len(part) > 6:
                raise InvalidInput(
                    gettext("Give minutes as whole numbers, e.g. 1440, 60."), field="reminder_offsets"
                )
            offsets.append(int(part))
        numbers = {name: _int(form, name) for name in services.CENTRE_LIMITS}
        await db_run(
            request,
            services.update_centre,
            actor=actor,
            centre_id=centre_id,
            name=_str(form, "name"),
            municipality=_str(form, "municipality"),
            default_language=_str(form, "default_language"),
            reminder_offsets=offsets,
            **numbers,
        )
    except DomainError as e:
        if not _form_error(e):
            raise
        return await _centre_page(request, actor, centre_id, error=e, form=form)
    raise web.HTTPSeeOther(f"/centre?{_centre_query(actor, centre_id)}done=saved")


async def reapply_attendance_policy(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    form = await request.post()
    centre_id = _centre_id(request, actor, form)
    try:
        done = await db_run(
            request,
            attendance.reapply_policy,
            actor=actor,
            centre_id=centre_id,
            since=_date(form, "since"),
            now=utcnow(),
        )
    except DomainError as e:
        if not _form_error(e):
            raise
        return await _centre_page(request, actor, centre_id, error=e, form=form)
    raise web.HTTPSeeOther(f"/centre?{_centre_query(actor, centre_id)}done=reapplied&n={done.changed}")


# --- deployments ---------------------------------------------------------------------------------


async def deployments_page(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    centre_id = _centre_id(request, actor)
    centre = await db_run(request, services.get_centre, actor=actor, centre_id=centre_id, manage=True)
    rows = await db_run(request, services.list_deployments, actor=actor, centre_id=centre_id)
    return _render(request, "groups/deployments.html", {"rows": rows, "centre": centre})


def _deployment_values(form: Form) -> dict[str, Any]:
    return {
        "kind": _str(form, "kind"),
        "slug": _str(form, "slug"),
        "name": _str(form, "name"),
        "domain": _str(form, "domain"),
        "base_url": _str(form, "base_url"),
        "tenant": _str(form, "tenant") or None,
        "app_id": _str(form, "app_id"),
        "algorithm": _str(form, "algorithm"),
        "key_id": _str(form, "key_id") or None,
        "signing_secret": _str(form, "signing_secret"),
        "webhook_secret": _str(form, "webhook_secret"),
        "token_in_query": _bool(form, "token_in_query"),
    }


_DEPLOYMENT_FIELDS = ("kind", "slug", "name", "domain", "base_url", "tenant", "app_id", "algorithm", "key_id")


def _deployment_form_values(form: Form | None, deployment: JitsiDeployment | None) -> dict[str, Any]:
    """The form's values without the secrets: those are never echoed, not even after an error."""
    if form is not None:
        values: dict[str, Any] = {f: _str(form, f) for f in _DEPLOYMENT_FIELDS}
        values["token_in_query"] = _bool(form, "token_in_query")
        values["shared"] = _bool(form, "shared")
        return values
    if deployment is not None:
        values = {f: getattr(deployment, f) or "" for f in _DEPLOYMENT_FIELDS}
        values["token_in_query"] = deployment.token_in_query
        values["shared"] = deployment.centre_id is None
        return values
    return {
        **dict.fromkeys(_DEPLOYMENT_FIELDS, ""),
        "kind": "self_hosted",
        "algorithm": "HS256",
        "token_in_query": False,
        "shared": False,
    }


async def new_deployment_form(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    return await _deployment_form(request, actor, centre_id=_centre_id(request, actor))


async def _deployment_form(
    request: web.Request,
    actor: Actor,
    *,
    centre_id: int | None = None,
    deployment_id: int | None = None,
    error: DomainError | None = None,
    form: Form | None = None,
) -> web.Response:
    deployment = None
    if deployment_id is not None:
        deployment = await db_run(request, services.get_deployment, actor=actor, deployment_id=deployment_id)
        centre_id = deployment.centre_id
    elif centre_id is not None:
        # Only who manages the centre gets the empty form.
        await db_run(request, services.get_centre, actor=actor, centre_id=centre_id, manage=True)
    ctx = {
        "deployment": deployment,
        "centre_id": centre_id,
        "v": _deployment_form_values(form, deployment),
        "error": error,
    }
    return _render(request, "groups/deployment_form.html", ctx, status=error.status if error else 200)


async def create_deployment(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    form = await request.post()
    centre_id = _centre_id(request, actor, form)
    try:
        await db_run(
            request,
            services.create_deployment,
            actor=actor,
            centre_id=centre_id,
            shared=actor.is_admin and _bool(form, "shared"),
            **_deployment_values(form),
        )
    except DomainError as e:
        if not _form_error(e):
            raise
        return await _deployment_form(request, actor, centre_id=centre_id, error=e, form=form)
    raise web.HTTPSeeOther(f"/deployments?{_centre_query(actor, centre_id)}done=created")


async def edit_deployment_form(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    return await _deployment_form(request, actor, deployment_id=_path_id(request, "deployment_id"))


async def edit_deployment(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    deployment_id = _path_id(request, "deployment_id")
    form = await request.post()
    try:
        deployment = await db_run(
            request,
            services.update_deployment,
            actor=actor,
            deployment_id=deployment_id,
            **_deployment_values(form),
        )
    except DomainError as e:
        if not _form_error(e):
            raise
        return await _deployment_form(request, actor, deployment_id=deployment_id, error=e, form=form)
    centre_id = deployment.centre_id
    query = _centre_query(actor, centre_id) if centre_id is not None else ""
    raise web.HTTPSeeOther(f"/deployments?{query}done=saved")


async def delete_deployment(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    deployment_id = _path_id(request, "deployment_id")
    deployment = await db_run(request, services.get_deployment, actor=actor, deployment_id=deployment_id)
    try:
        await db_run(request, services.delete_deployment, actor=actor, deployment_id=deployment_id)
    except Conflict as e:
        return await _deployment_form(request, actor, deployment_id=deployment_id, error=e)
    query = _centre_query(actor, deployment.centre_id) if deployment.centre_id is not None else ""
    raise web.HTTPSeeOther(f"/deployments?{query}done=deleted")


# --- admin ---------------------------------------------------------------------------------------


async def admin_page(request: web.Request) -> web.Response:
    actor = await require_actor(request, "admin")
    return await _admin_page(request, actor)


async def _admin_page(
    request: web.Request, actor: Actor, *, error: DomainError | None = None, form: Form | None = None
) -> web.Response:
    centres = await db_run(request, services.centre_overview, actor=actor)
    fields = ("name", "slug", "municipality", "default_language")
    ctx = {
        "centres": centres,
        "v": {f: _str(form, f) if form is not None else "" for f in fields},
        "error": error,
    }
    return _render(request, "admin/index.html", ctx, status=error.status if error else 200)


async def create_centre(request: web.Request) -> web.Response:
    actor = await require_actor(request, "admin")
    form = await request.post()
    try:
        centre = await db_run(
            request,
            services.create_centre,
            actor=actor,
            name=_str(form, "name"),
            slug=_str(form, "slug"),
            municipality=_str(form, "municipality"),
            default_language=_str(form, "default_language") or "de",
        )
    except DomainError as e:
        if not _form_error(e):
            raise
        return await _admin_page(request, actor, error=e, form=form)
    raise web.HTTPSeeOther(f"/staff?centre={centre.id}&done=created")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/groups", groups_page)
    r.add_post("/groups", create_group)
    r.add_get(r"/groups/{group_id:\d+}", group_page)
    r.add_get(r"/groups/{group_id:\d+}/edit", edit_group_form)
    r.add_post(r"/groups/{group_id:\d+}/edit", edit_group)
    r.add_post(r"/groups/{group_id:\d+}/archive", archive_group)
    r.add_post(r"/groups/{group_id:\d+}/members", enrol_member)
    r.add_post(r"/groups/{group_id:\d+}/members/{parent_id:\d+}/leave", leave_member)
    r.add_get(r"/groups/{group_id:\d+}/parents/import", import_form)
    r.add_post(r"/groups/{group_id:\d+}/parents/import", import_upload)
    r.add_get("/parents", parents_page)
    r.add_get("/parents/new", new_parent_form)
    r.add_post("/parents/new", create_parent)
    r.add_get(r"/parents/{parent_id:\d+}", parent_page)
    r.add_post(r"/parents/{parent_id:\d+}", update_parent)
    r.add_post(r"/parents/{parent_id:\d+}/enrolments", enrol_from_parent)
    r.add_get("/staff", staff_page)
    r.add_post("/staff", create_staff)
    r.add_post(r"/staff/{user_id:\d+}", update_staff)
    r.add_get("/centre", centre_page)
    r.add_post("/centre", update_centre)
    r.add_post("/centre/attendance-policy", reapply_attendance_policy)
    r.add_get("/deployments", deployments_page)
    r.add_get("/deployments/new", new_deployment_form)
    r.add_post("/deployments/new", create_deployment)
    r.add_get(r"/deployments/{deployment_id:\d+}", edit_deployment_form)
    r.add_post(r"/deployments/{deployment_id:\d+}", edit_deployment)
    r.add_post(r"/deployments/{deployment_id:\d+}/delete", delete_deployment)
    r.add_get("/admin", admin_page)
    r.add_post("/admin/centres", create_centre)
