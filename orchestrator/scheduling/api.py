"""The scheduling API under /api/v1: series, sessions and closure days of a group.

Handlers are thin: authenticate (``require_actor`` demands the "write" scope for unsafe methods),
parse, call a use case, answer with a schema. Instants are ISO 8601 in UTC (``starts_at``);
every session also carries its naive ``local_start``/``local_end`` and the ``timezone`` they are
in, because a schedule is made in local time. Local times in bodies are given without an offset.
Unknown ids and records of other centres are 404, facilitators changing anything 403, bodies
that are not JSON 400, bodies that do not fit 422 naming the field, state conflicts (moving a
cancelled session, overlaps, closure days) 409. Creating answers 201.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.errors import InvalidInput
from orchestrator.i18n import gettext
from orchestrator.models import ClosureDay, Series
from orchestrator.notifications.views import send_delivery_job
from orchestrator.scheduling import services
from orchestrator.scheduling.services import MaterialiseSummary, SessionView
from orchestrator.web.context import db_run, require_actor
from orchestrator.web.openapi import api, parse_body, path_id

__all__: list[str] = []

TAG = "scheduling"


# --- schemas -------------------------------------------------------------------------------------


class _Body(BaseModel):
    # A misspelt field is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid")


Minutes = Annotated[int, Field(ge=1, le=600, description="Length of each session in minutes")]


class SeriesCreate(_Body):
    first_start_local: dt.datetime = Field(
        description="Local date and time of the first session, without offset (2026-09-01T09:00); "
        "the series starts at the rule's first instance on or after it"
    )
    rrule: str = Field(
        default=services.DEFAULT_RULE,
        max_length=500,
        description="RFC 5545 RRULE without DTSTART, UNTIL or COUNT, e.g. FREQ=WEEKLY;BYDAY=TU",
    )
    title: str = Field(default="", max_length=services.MAX_TITLE)
    duration_minutes: Minutes = services.DEFAULT_DURATION_MINUTES
    until: dt.date | None = Field(
        default=None, description="Last day (inclusive); default: the group's cycle end"
    )
    timezone: str | None = Field(default=None, max_length=64, description="IANA zone; default: the centre's")


class SeriesPatch(_Body):
    title: str | None = Field(default=None, max_length=services.MAX_TITLE)
    rrule: str | None = Field(default=None, max_length=500)
    first_start_local: dt.datetime | None = Field(
        default=None, description="New first local start (date and time), without offset"
    )
    start_time: dt.time | None = Field(
        default=None, description="New local time of day (09:30), keeping the days"
    )
    duration_minutes: Minutes | None = None
    until: dt.date | None = None


class SeriesOut(BaseModel):
    id: int
    group_id: int
    uid: str
    title: str
    rrule: str
    first_start_local: dt.datetime
    duration_minutes: int
    timezone: str
    until: dt.date
    sequence: int
    updated_at: dt.datetime

    @classmethod
    def of(cls, series: Series) -> SeriesOut:
        return cls(
            id=series.id,
            group_id=series.group_id,
            uid=series.uid,
            title=series.title,
            rrule=series.rrule,
            first_start_local=series.dtstart_local,
            duration_minutes=series.duration_minutes,
            timezone=series.timezone,
            until=series.until,
            sequence=series.sequence,
            updated_at=series.updated_at,
        )


class SeriesList(BaseModel):
    series: list[SeriesOut]


class Summary(BaseModel):
    created: int
    updated: int
    deleted: int
    frozen: int = Field(description="Sessions left alone because they have begun or were attended")

    @classmethod
    def of(cls, summary: MaterialiseSummary) -> Summary:
        return cls(**summary.as_dict())


class SeriesChangeOut(BaseModel):
    series: SeriesOut
    sessions: Summary


class SessionOut(BaseModel):
    id: int
    group_id: int
    series_id: int | None
    status: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    local_start: dt.datetime
    local_end: dt.datetime
    timezone: str
    recurrence_local: dt.datetime | None = Field(description="The rule instant this session was made for")
    moved: bool
    duration_minutes: int
    theme: str
    material_url: str
    note: str
    sequence: int
    cancelled_at: dt.datetime | None
    cancel_reason: str
    launched_at: dt.datetime | None
    ended_at: dt.datetime | None
    updated_at: dt.datetime

    @classmethod
    def of(cls, view: SessionView) -> SessionOut:
        s = view.session
        return cls(
            id=s.id,
            group_id=s.group_id,
            series_id=s.series_id,
            status=s.status,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            local_start=view.local_start,
            local_end=view.local_end,
            timezone=view.timezone,
            recurrence_local=s.recurrence_local,
            moved=view.moved,
            duration_minutes=view.duration_minutes,
            theme=s.theme,
            material_url=s.material_url,
            note=s.note,
            sequence=s.sequence,
            cancelled_at=s.cancelled_at,
            cancel_reason=s.cancel_reason,
            launched_at=s.launched_at,
            ended_at=s.ended_at,
            updated_at=s.updated_at,
        )


class SessionList(BaseModel):
    sessions: list[SessionOut]


class SessionPatch(_Body):
    theme: str | None = Field(default=None, max_length=services.MAX_THEME)
    material_url: str | None = Field(default=None, max_length=services.MAX_MATERIAL_URL)
    note: str | None = Field(default=None, max_length=services.MAX_NOTE)


class CancelBody(_Body):
    reason: str = Field(default="", max_length=services.MAX_REASON)


class MoveBody(_Body):
    new_start_local: dt.datetime = Field(description="New local start, without offset (2026-11-25T15:00)")
    duration_minutes: Minutes | None = None


class ClosureCreate(_Body):
    day: dt.date
    label: str = Field(default="", max_length=services.MAX_LABEL)
    centre_wide: bool = Field(default=False, description="Close the day for every group of the centre")


class ClosureOut(BaseModel):
    id: int
    day: dt.date
    label: str
    centre_wide: bool
    group_id: int | None

    @classmethod
    def of(cls, closure: ClosureDay) -> ClosureOut:
        return cls(
            id=closure.id,
            day=closure.day,
            label=closure.label,
            centre_wide=closure.group_id is None,
            group_id=closure.group_id,
        )


class ClosureList(BaseModel):
    closure_days: list[ClosureOut]


class ClosureChangeOut(BaseModel):
    closure_day: ClosureOut
    sessions: Summary
    kept_on_day: list[SessionOut] = Field(
        description="Sessions still held on the day (moved there, or one-off): decide about them"
    )


# --- helpers -------------------------------------------------------------------------------------


def _query_bound(request: web.Request, name: str) -> dt.date | dt.datetime | None:
    raw = request.query.get(name, "").strip()
    if not raw:
        return None
    try:
        if len(raw) == 10:
            return dt.date.fromisoformat(raw)
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            gettext(
                "%(name)s: give a date (2026-09-01) or a time with offset (2026-09-01T09:00+02:00), "
                "got %(value)s"
            )
            % {"name": name, "value": repr(raw[:40])},
            field=name,
        ) from None


def _json(model: BaseModel, *, status: int = 200) -> web.Response:
    return web.json_response(model.model_dump(mode="json"), status=status)


# --- series --------------------------------------------------------------------------------------


@api.route(
    "GET",
    "/groups/{group_id}/series",
    summary="The group's series",
    tag=TAG,
    scope="read",
    response=SeriesList,
)
async def list_series(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    found = await db_run(request, services.list_series, actor=actor, group_id=path_id(request, "group_id"))
    return _json(SeriesList(series=[SeriesOut.of(s) for s in found]))


@api.route(
    "POST",
    "/groups/{group_id}/series",
    summary="Create a series and its sessions",
    tag=TAG,
    scope="write",
    body=SeriesCreate,
    response=SeriesOut,
)
async def create_series(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    group_id = path_id(request, "group_id")
    body = await parse_body(request, SeriesCreate)
    series = await db_run(
        request, services.create_series, actor=actor, group_id=group_id, **body.model_dump()
    )
    return _json(SeriesOut.of(series), status=201)


@api.route("GET", "/series/{series_id}", summary="One series", tag=TAG, scope="read", response=SeriesOut)
async def get_series(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    series = await db_run(request, services.get_series, actor=actor, series_id=path_id(request, "series_id"))
    return _json(SeriesOut.of(series))


@api.route(
    "PATCH",
    "/series/{series_id}",
    summary="Change the whole series (past sessions stay as they were)",
    tag=TAG,
    scope="write",
    body=SeriesPatch,
    response=SeriesChangeOut,
)
async def update_series(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    series_id = path_id(request, "series_id")
    body = await parse_body(request, SeriesPatch)
    change = await db_run(
        request,
        services.update_series,
        actor=actor,
        series_id=series_id,
        **body.model_dump(exclude_unset=True),
    )
    await send_delivery_job(request)
    return _json(SeriesChangeOut(series=SeriesOut.of(change.series), sessions=Summary.of(change.summary)))


@api.route(
    "POST",
    "/series/{series_id}/materialise",
    summary="Create missing future sessions of the series (idempotent)",
    tag=TAG,
    scope="write",
    response=Summary,
)
async def materialise_series(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    summary = await db_run(
        request, services.materialise_series, actor=actor, series_id=path_id(request, "series_id")
    )
    return _json(Summary.of(summary))


# --- sessions ------------------------------------------------------------------------------------


@api.route(
    "GET",
    "/groups/{group_id}/sessions",
    summary="The group's sessions; ?from=&to= take dates (local days, inclusive) or instants with offset",
    tag=TAG,
    scope="read",
    response=SessionList,
)
async def list_sessions(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    group_id = path_id(request, "group_id")
    views = await db_run(
        request,
        services.list_sessions,
        actor=actor,
        group_id=group_id,
        starts_from=_query_bound(request, "from"),
        starts_until=_query_bound(request, "to"),
    )
    return _json(SessionList(sessions=[SessionOut.of(v) for v in views]))


@api.route("GET", "/sessions/{session_id}", summary="One session", tag=TAG, scope="read", response=SessionOut)
async def get_session(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    detail = await db_run(
        request, services.get_session, actor=actor, session_id=path_id(request, "session_id")
    )
    return _json(SessionOut.of(detail))


async def _session_answer(request: web.Request, session_id: int) -> web.Response:
    actor = await require_actor(request)
    detail = await db_run(request, services.get_session, actor=actor, session_id=session_id)
    return _json(SessionOut.of(detail))


@api.route(
    "PATCH",
    "/sessions/{session_id}",
    summary="Set a session's theme, material link or note",
    tag=TAG,
    scope="write",
    body=SessionPatch,
    response=SessionOut,
)
async def edit_session(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    session_id = path_id(request, "session_id")
    body = await parse_body(request, SessionPatch)
    await db_run(
        request,
        services.edit_session,
        actor=actor,
        session_id=session_id,
        **body.model_dump(exclude_unset=True),
    )
    return await _session_answer(request, session_id)


@api.route(
    "POST",
    "/sessions/{session_id}/cancel",
    summary="Cancel one session",
    tag=TAG,
    scope="write",
    body=CancelBody,
    response=SessionOut,
)
async def cancel_session(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    session_id = path_id(request, "session_id")
    body = await parse_body(request, CancelBody)
    await db_run(request, services.cancel_session, actor=actor, session_id=session_id, reason=body.reason)
    await send_delivery_job(request)
    return await _session_answer(request, session_id)


@api.route(
    "POST",
    "/sessions/{session_id}/restore",
    summary="Restore a cancelled session",
    tag=TAG,
    scope="write",
    response=SessionOut,
)
async def restore_session(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    session_id = path_id(request, "session_id")
    await db_run(request, services.restore_session, actor=actor, session_id=session_id)
    await send_delivery_job(request)
    return await _session_answer(request, session_id)


@api.route(
    "POST",
    "/sessions/{session_id}/move",
    summary="Move one session to another local start",
    tag=TAG,
    scope="write",
    body=MoveBody,
    response=SessionOut,
)
async def move_session(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    session_id = path_id(request, "session_id")
    body = await parse_body(request, MoveBody)
    await db_run(
        request,
        services.move_session,
        actor=actor,
        session_id=session_id,
        new_start_local=body.new_start_local,
        duration_minutes=body.duration_minutes,
    )
    await send_delivery_job(request)
    return await _session_answer(request, session_id)


@api.route(
    "POST",
    "/sessions/{session_id}/this-and-following",
    summary="Change the series from this session on (a new series takes this and later sessions)",
    tag=TAG,
    scope="write",
    body=SeriesPatch,
    response=SeriesChangeOut,
)
async def this_and_following(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    session_id = path_id(request, "session_id")
    body = await parse_body(request, SeriesPatch)
    change = await db_run(
        request,
        services.change_this_and_following,
        actor=actor,
        session_id=session_id,
        **body.model_dump(exclude_unset=True),
    )
    await send_delivery_job(request)
    return _json(SeriesChangeOut(series=SeriesOut.of(change.series), sessions=Summary.of(change.summary)))


# --- closure days --------------------------------------------------------------------------------


@api.route(
    "GET",
    "/groups/{group_id}/closure-days",
    summary="Closure days that apply to the group (its own and its centre's)",
    tag=TAG,
    scope="read",
    response=ClosureList,
)
async def list_closure_days(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    found = await db_run(
        request, services.list_closure_days, actor=actor, group_id=path_id(request, "group_id")
    )
    return _json(ClosureList(closure_days=[ClosureOut.of(c) for c in found]))


@api.route(
    "POST",
    "/groups/{group_id}/closure-days",
    summary="Close a day for the group or its whole centre",
    tag=TAG,
    scope="write",
    body=ClosureCreate,
    response=ClosureChangeOut,
)
async def add_closure_day(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    group_id = path_id(request, "group_id")
    body = await parse_body(request, ClosureCreate)
    change = await db_run(
        request, services.add_closure_day, actor=actor, group_id=group_id, **body.model_dump()
    )
    await send_delivery_job(request)
    return _json(
        ClosureChangeOut(
            closure_day=ClosureOut.of(change.closure),
            sessions=Summary.of(change.summary),
            kept_on_day=[SessionOut.of(v) for v in change.conflicts],
        ),
        status=201,
    )


@api.route(
    "DELETE",
    "/closure-days/{closure_id}",
    summary="Open a closed day again (its sessions are created again)",
    tag=TAG,
    scope="write",
    response=ClosureChangeOut,
)
async def remove_closure_day(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    change = await db_run(
        request, services.remove_closure_day, actor=actor, closure_id=path_id(request, "closure_id")
    )
    await send_delivery_job(request)
    return _json(
        ClosureChangeOut(
            closure_day=ClosureOut.of(change.closure), sessions=Summary.of(change.summary), kept_on_day=[]
        )
    )
