"""Attendance pages and API: the session view, who is in now, corrections and manual entries.

Pages (staff, German and English):

- ``GET /sessions/{id}/attendance`` — who attended, minutes, first join / last leave, status,
  late and early flags, corrections with who/when/why, unidentified occupants, "in the room now"
  (refreshed every 15 s while the session is live), and a correction form per parent;
- ``GET /sessions/{id}/attendance/now`` — the "in the room now" fragment the page refreshes;
- ``POST /sessions/{id}/attendance/{parent_id}`` — a correction or manual entry (form);
- ``POST /sessions/{id}/attendance/{parent_id}/clear`` — remove a correction (form).

API (``/api/v1``): ``GET /sessions/{session_id}/attendance`` (scope read),
``POST /sessions/{session_id}/attendance/{parent_id}`` and ``DELETE`` the same (scope write).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from orchestrator import i18n
from orchestrator.attendance import services
from orchestrator.errors import DomainError, NotFound
from orchestrator.models import utcnow
from orchestrator.web.context import db_run, render, require_actor
from orchestrator.web.openapi import api, parse_body, path_id

__all__ = ["setup"]

REFRESH_SECONDS = 15


# --- API models -----------------------------------------------------------------------------------


class IntervalOut(BaseModel):
    joined_at: dt.datetime
    left_at: dt.datetime | None = Field(description="null while the connection is still in the room")
    in_breakout: bool


class CorrectionOut(BaseModel):
    at: dt.datetime
    by: str
    action: Literal["corrected", "cleared"]
    reason: str
    before: dict[str, Any]
    after: dict[str, Any]


class PersonOut(BaseModel):
    id: int = Field(description="the parent's id (role parent) or the staff user's id")
    role: Literal["parent", "facilitator", "staff"]
    display_name: str
    minutes: int = Field(description="minutes counted: the correction's if corrected, else computed")
    status: Literal["present", "partial", "absent", "excused"] | None = Field(
        description="null: not recorded yet (parent), or staff who only looked in"
    )
    computed_minutes: int
    computed_status: Literal["present", "partial", "absent"] | None
    corrected: bool
    override_status: Literal["present", "partial", "absent", "excused"] | None
    override_minutes: int | None
    correction_reason: str
    corrected_by: str | None
    corrected_at: dt.datetime | None
    first_join: dt.datetime | None
    last_leave: dt.datetime | None = Field(description="null while still in the room, or without presence")
    late: bool
    left_early: bool
    in_room_now: bool
    intervals: list[IntervalOut]
    corrections: list[CorrectionOut]


class LivePersonOut(BaseModel):
    id: int
    role: Literal["parent", "facilitator", "staff"]
    display_name: str
    since: dt.datetime | None


class SessionAttendanceOut(BaseModel):
    session_id: int
    group_id: int
    group_name: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    session_status: str
    finalised_at: dt.datetime | None
    scheduled_minutes: int
    counting_window_minutes: tuple[int, int] = Field(
        description="presence counts from this many minutes before the start to this many after the end"
    )
    live: bool
    people: list[PersonOut]
    unidentified_occupants: int = Field(
        description="connections without a known id (recorder, SIP gateway, guests); never counted"
    )
    in_room_now: list[LivePersonOut]
    unidentified_in_room_now: int


class CorrectionIn(BaseModel):
    status: Literal["present", "partial", "absent", "excused"] | None = None
    minutes: int | None = Field(default=None, ge=0)
    reason: str = Field(min_length=1, max_length=services.MAX_REASON)


def _person(p: services.PersonLine) -> PersonOut:
    return PersonOut.model_validate(
        {
            "id": p.id,
            "role": p.role,
            "display_name": p.display_name,
            "minutes": p.minutes,
            "status": p.status,
            "computed_minutes": p.computed_minutes,
            "computed_status": p.computed_status,
            "corrected": p.corrected,
            "override_status": p.override_status,
            "override_minutes": p.override_minutes,
            "correction_reason": p.correction_reason,
            "corrected_by": p.corrected_by,
            "corrected_at": p.corrected_at,
            "first_join": p.first_join,
            "last_leave": p.last_leave,
            "late": p.late,
            "left_early": p.left_early,
            "in_room_now": p.in_room_now,
            "intervals": [
                {"joined_at": i.joined_at, "left_at": i.left_at, "in_breakout": i.in_breakout}
                for i in p.intervals
            ],
            "corrections": [
                {
                    "at": c.at,
                    "by": c.by,
                    "action": c.action,
                    "reason": c.reason,
                    "before": c.before,
                    "after": c.after,
                }
                for c in p.corrections
            ],
        }
    )


def _session_out(view: services.SessionAttendanceView) -> SessionAttendanceOut:
    return SessionAttendanceOut(
        session_id=view.session_id,
        group_id=view.group_id,
        group_name=view.group_name,
        starts_at=view.starts_at,
        ends_at=view.ends_at,
        session_status=view.status,
        finalised_at=view.finalised_at,
        scheduled_minutes=view.scheduled_minutes,
        counting_window_minutes=(view.clip_before_minutes, view.clip_after_minutes),
        live=view.live,
        people=[_person(p) for p in view.people],
        unidentified_occupants=view.unidentified_occupants,
        in_room_now=[
            LivePersonOut(id=p.id, role=p.role, display_name=p.display_name, since=p.since)
            for p in view.in_room_now
        ],
        unidentified_in_room_now=view.unidentified_in_room_now,
    )


def _ids(request: web.Request) -> tuple[int, int | None]:
    session = request.match_info["session_id"]
    parent = request.match_info.get("parent_id")
    # API paths carry no pattern of their own: anything but a number names nothing.
    if not session.isdigit() or (parent is not None and not parent.isdigit()):
        raise NotFound(i18n.gettext("no such session or parent"))
    return int(session), int(parent) if parent is not None else None


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        text=model.model_dump_json(), status=status, content_type="application/json", charset="utf-8"
    )


# --- API ------------------------------------------------------------------------------------------


@api.route(
    "GET",
    "/sessions/{session_id}/attendance",
    summary="Attendance of one session: per person minutes, status, intervals and corrections",
    tag="attendance",
    response=SessionAttendanceOut,
)
async def api_session_attendance(request: web.Request) -> web.Response:
    actor = await require_actor(request, scope="read")
    session_id, _ = _ids(request)
    view = await db_run(
        request, services.session_attendance, actor=actor, session_id=session_id, now=utcnow()
    )
    return _json(_session_out(view))


@api.route(
    "POST",
    "/sessions/{session_id}/attendance/{parent_id}",
    summary=(
        "Correct a parent's attendance, or enter it by hand (status and/or minutes, with a reason); "
        "before the session starts only status 'excused' (409 otherwise)"
    ),
    tag="attendance",
    scope="write",
    body=CorrectionIn,
    response=PersonOut,
)
async def api_correct(request: web.Request) -> web.Response:
    actor = await require_actor(request, scope="write")
    session_id, parent_id = _ids(request)
    assert parent_id is not None
    body = await parse_body(request, CorrectionIn)
    now = utcnow()
    await db_run(
        request,
        services.correct_attendance,
        actor=actor,
        session_id=session_id,
        parent_id=parent_id,
        status=body.status,
        minutes=body.minutes,
        reason=body.reason,
        now=now,
    )
    return _json(await _parent_line(request, actor, session_id, parent_id))


class PolicyReapplyIn(BaseModel):
    since: dt.date = Field(
        description="the first local day whose sessions are judged again (not in the future)"
    )


class PolicyReapplyOut(BaseModel):
    sessions: int = Field(description="sessions looked at (cancelled ones have no attendance)")
    changed: int = Field(description="attendance rows whose status, late or left-early flag changed")


@api.route(
    "POST",
    "/centres/{centre_id}/attendance/reapply-policy",
    summary="Judge the recorded attendance of the centre's sessions since a day by its current "
    "attendance rules (minutes and corrections stay)",
    tag="attendance",
    scope="write",
    body=PolicyReapplyIn,
    response=PolicyReapplyOut,
)
async def api_reapply_policy(request: web.Request) -> web.Response:
    actor = await require_actor(request, scope="write")
    centre_id = path_id(request, "centre_id")
    body = await parse_body(request, PolicyReapplyIn)
    done = await db_run(
        request, services.reapply_policy, actor=actor, centre_id=centre_id, since=body.since, now=utcnow()
    )
    return _json(PolicyReapplyOut(sessions=done.sessions, changed=done.changed))


@api.route(
    "DELETE",
    "/sessions/{session_id}/attendance/{parent_id}",
    summary="Remove the correction of a parent's attendance (optional ?reason=)",
    tag="attendance",
    scope="write",
    response=PersonOut,
)
async def api_clear(request: web.Request) -> web.Response:
    actor = await require_actor(request, scope="write")
    session_id, parent_id = _ids(request)
    assert parent_id is not None
    await db_run(
        request,
        services.clear_correction,
        actor=actor,
        session_id=session_id,
        parent_id=parent_id,
        reason=request.query.get("reason", ""),
        now=utcnow(),
    )
    return _json(await _parent_line(request, actor, session_id, parent_id))


async def _parent_line(request: web.Request, actor: Any, session_id: int, parent_id: int) -> PersonOut:
    view = await db_run(
        request, services.session_attendance, actor=actor, session_id=session_id, now=utcnow()
    )
    for p in view.parents:
        if p.id == parent_id:
            return _person(p)
    raise DomainError(  # pragma: no cover - same transaction order
        i18n.gettext("the corrected row could not be read back")
    )


# --- pages ----------------------------------------------------------------------------------------


async def session_page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    actor = await require_actor(request, "coordinator", "facilitator")
    session_id, _ = _ids(request)
    view = await db_run(
        request, services.session_attendance, actor=actor, session_id=session_id, now=utcnow()
    )
    return render(
        request,
        "attendance/session.html",
        {
            "view": view,
            "error": error,
            "error_parent": request.match_info.get("parent_id"),
            "refresh_seconds": REFRESH_SECONDS,
            "statuses": _status_labels(),
        },
        status=status,
    )


async def in_room_fragment(request: web.Request) -> web.Response:
    actor = await require_actor(request, "coordinator", "facilitator")
    session_id, _ = _ids(request)
    view = await db_run(
        request, services.session_attendance, actor=actor, session_id=session_id, now=utcnow()
    )
    return render(request, "attendance/_in_room.html", {"view": view})


def _status_labels() -> dict[str, str]:
    return {
        "present": i18n.gettext("present"),
        "partial": i18n.gettext("partial"),
        "absent": i18n.gettext("absent"),
        "excused": i18n.gettext("excused"),
    }


async def correct_form(request: web.Request) -> web.Response:
    actor = await require_actor(request, "coordinator", "facilitator")
    session_id, parent_id = _ids(request)
    assert parent_id is not None
    form = await request.post()
    status = str(form.get("status") or "") or None
    raw_minutes = str(form.get("minutes") or "").strip()
    try:
        minutes = int(raw_minutes) if raw_minutes else None
    except ValueError:
        return await session_page(request, error=i18n.gettext("Minutes must be a whole number."), status=422)
    return await _submit(
        request,
        services.correct_attendance,
        then=f"/sessions/{session_id}/attendance#parent-{parent_id}",
        actor=actor,
        session_id=session_id,
        parent_id=parent_id,
        status=status,
        minutes=minutes,
        reason=str(form.get("reason") or ""),
    )


async def _submit(
    request: web.Request, use_case: Callable[..., object], *, then: str, **arguments: Any
) -> web.Response:
    """Runs a form's use case: on success to ``then``; refused, the page again with the reason."""
    try:
        await db_run(request, use_case, now=utcnow(), **arguments)
    except DomainError as e:
        if e.status == 404:
            raise
        return await session_page(request, error=_form_error(e), status=e.status)
    raise web.HTTPSeeOther(then)


async def present_form(request: web.Request) -> web.Response:
    """The in-person form: the parents ticked as having come are marked present, one reason."""
    actor = await require_actor(request, "coordinator", "facilitator")
    session_id, _ = _ids(request)
    form = await request.post()
    try:
        parent_ids = [int(str(value)) for value in form.getall("parent_id", [])]
    except ValueError:
        raise web.HTTPBadRequest(text="parent_id must be a number") from None
    return await _submit(
        request,
        services.mark_present_by_hand,
        then=f"/sessions/{session_id}/attendance#parents",
        actor=actor,
        session_id=session_id,
        parent_ids=parent_ids,
        reason=str(form.get("reason") or ""),
    )


async def clear_form(request: web.Request) -> web.Response:
    actor = await require_actor(request, "coordinator", "facilitator")
    session_id, parent_id = _ids(request)
    assert parent_id is not None
    form = await request.post()
    await db_run(
        request,
        services.clear_correction,
        actor=actor,
        session_id=session_id,
        parent_id=parent_id,
        reason=str(form.get("reason") or ""),
        now=utcnow(),
    )
    raise web.HTTPSeeOther(f"/sessions/{session_id}/attendance#parent-{parent_id}")


def _form_error(error: DomainError) -> str:
    # The mistakes a person can make in this form get one sentence per field, worded for the form
    # (the API's messages name its parameters); anything else shows the use case's message.
    messages = {
        "reason": i18n.gettext("Please give a reason for the correction."),
        "minutes": i18n.gettext("The minutes are outside what this session allows."),
        "status": i18n.gettext("Choose a status or enter minutes."),
        "parent_id": i18n.gettext("This parent is not enrolled in the group."),
        "parent_ids": i18n.gettext("Tick the parents who came."),
    }
    if error.field in messages:
        return messages[error.field]
    return i18n.gettext("The correction could not be saved: %(reason)s") % {"reason": error.message}


def setup(app: web.Application) -> None:
    app.router.add_get(r"/sessions/{session_id:\d+}/attendance", session_page)
    app.router.add_get(r"/sessions/{session_id:\d+}/attendance/now", in_room_fragment)
    app.router.add_post(r"/sessions/{session_id:\d+}/attendance/present", present_form)
    app.router.add_post(r"/sessions/{session_id:\d+}/attendance/{parent_id:\d+}", correct_form)
    app.router.add_post(r"/sessions/{session_id:\d+}/attendance/{parent_id:\d+}/clear", clear_form)
