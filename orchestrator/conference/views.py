"""The facilitator's pages (phone first) and the launch/end API.

Start and End are form posts; Start answers with a redirect straight into the Jitsi room with a
moderator token. The jobs ``rucksack.session_started`` / ``rucksack.session_ended`` are sent only
after the use case's transaction has committed, so a worker never looks for a change that is
not there yet.
"""

from __future__ import annotations

import datetime as dt

from aiohttp import web
from pydantic import BaseModel

from orchestrator.conference import services
from orchestrator.conference.decisions import Timing
from orchestrator.errors import NotFound
from orchestrator.i18n import gettext
from orchestrator.web.context import db_run, render, require_actor
from orchestrator.web.keys import JOBS, SETTINGS
from orchestrator.web.openapi import api

__all__ = ["setup"]

STAFF_ROLES = ("facilitator", "coordinator", "admin")
# How often a live session's page fetches who has joined (static/refresh.js).
JOINED_REFRESH_SECONDS = 30
# Jitsi links carry a token: keep them out of caches and other sites' Referer headers.
ROOM_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _timing(request: web.Request) -> Timing:
    return Timing.from_settings(request.app[SETTINGS].sessions)


def _session_id(request: web.Request) -> int:
    value = request.match_info["session_id"]
    if not value.isdigit() or int(value) >= 2**31:
        raise NotFound(gettext("no session with id %(id)s") % {"id": repr(value)})
    return int(value)


async def overview(request: web.Request) -> web.StreamResponse:
    actor = await require_actor(request, *STAFF_ROLES)
    data = await db_run(request, services.facilitator_overview, actor=actor, timing=_timing(request))
    return render(request, "conference/facilitator.html", {"overview": data})


async def _session_detail(request: web.Request) -> services.SessionDetail:
    actor = await require_actor(request, *STAFF_ROLES)
    return await db_run(
        request,
        services.facilitator_session,
        actor=actor,
        session_id=_session_id(request),
        timing=_timing(request),
    )


async def session_page(request: web.Request) -> web.StreamResponse:
    detail = await _session_detail(request)
    return render(
        request, "conference/session.html", {"detail": detail, "refresh_seconds": JOINED_REFRESH_SECONDS}
    )


async def joined_fragment(request: web.Request) -> web.StreamResponse:
    """Who has joined so far: the part of the session page that a live session refreshes."""
    return render(request, "conference/_joined.html", {"detail": await _session_detail(request)})


async def start(request: web.Request) -> web.StreamResponse:
    actor = await require_actor(request, *STAFF_ROLES)
    launch = await db_run(
        request,
        services.launch_session,
        actor=actor,
        session_id=_session_id(request),
        timing=_timing(request),
    )
    if launch.started:
        await request.app[JOBS].send_async("rucksack.session_started", launch.session.id)
    raise web.HTTPSeeOther(launch.join_url, headers=ROOM_HEADERS)


async def enter(request: web.Request) -> web.StreamResponse:
    actor = await require_actor(request, *STAFF_ROLES)
    launch = await db_run(
        request, services.enter_session, actor=actor, session_id=_session_id(request), timing=_timing(request)
    )
    raise web.HTTPSeeOther(launch.join_url, headers=ROOM_HEADERS)


async def end(request: web.Request) -> web.StreamResponse:
    actor = await require_actor(request, *STAFF_ROLES)
    ending = await db_run(request, services.end_session, actor=actor, session_id=_session_id(request))
    if ending.ended:
        await request.app[JOBS].send_async("rucksack.session_ended", ending.session.id)
    raise web.HTTPSeeOther(f"/facilitator/sessions/{ending.session.id}")


# -- API -------------------------------------------------------------------------------------


class SessionState(BaseModel):
    id: int
    group_id: int
    status: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    launched_at: dt.datetime | None
    ended_at: dt.datetime | None


class Launched(BaseModel):
    session: SessionState
    join_url: str
    started: bool


class Ended(BaseModel):
    session: SessionState
    ended: bool


def _state(view: services.SessionView) -> SessionState:
    return SessionState(
        id=view.id,
        group_id=view.group_id,
        status=view.status,
        starts_at=view.starts_at,
        ends_at=view.ends_at,
        launched_at=view.launched_at,
        ended_at=view.ended_at,
    )


@api.route(
    "POST",
    "/sessions/{session_id}/launch",
    summary="Start a session (or re-enter it when live); returns the caller's moderator link into the room",
    tag="conference",
    scope="write",
    response=Launched,
)
async def api_launch(request: web.Request) -> web.StreamResponse:
    actor = await require_actor(request, *STAFF_ROLES, scope="write")
    launch = await db_run(
        request,
        services.launch_session,
        actor=actor,
        session_id=_session_id(request),
        timing=_timing(request),
    )
    if launch.started:
        await request.app[JOBS].send_async("rucksack.session_started", launch.session.id)
    body = Launched(session=_state(launch.session), join_url=launch.join_url, started=launch.started)
    return web.json_response(body.model_dump(mode="json"), headers=ROOM_HEADERS)


@api.route(
    "POST",
    "/sessions/{session_id}/end",
    summary="End a live session; later joins are refused",
    tag="conference",
    scope="write",
    response=Ended,
)
async def api_end(request: web.Request) -> web.StreamResponse:
    actor = await require_actor(request, *STAFF_ROLES, scope="write")
    ending = await db_run(request, services.end_session, actor=actor, session_id=_session_id(request))
    if ending.ended:
        await request.app[JOBS].send_async("rucksack.session_ended", ending.session.id)
    return web.json_response(
        Ended(session=_state(ending.session), ended=ending.ended).model_dump(mode="json")
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/facilitator", overview)
    app.router.add_get("/facilitator/sessions/{session_id:\\d+}", session_page)
    app.router.add_get("/facilitator/sessions/{session_id:\\d+}/joined", joined_fragment)
    app.router.add_post("/facilitator/sessions/{session_id:\\d+}/start", start)
    app.router.add_post("/facilitator/sessions/{session_id:\\d+}/end", end)
    # No HEAD: entering mints a token and is recorded.
    app.router.add_get("/facilitator/sessions/{session_id:\\d+}/enter", enter, allow_head=False)
