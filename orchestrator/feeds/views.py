"""Routes of the calendar feeds: the feeds themselves, joins from calendar events, downloads,
the parent's calendar page, staff pages for issuing feeds, and the API.

The feed route is the hot path (every subscribed calendar polls it): rate limit, one probe
statement (``probe``), then bytes from the per-version cache (``cache``) with conditional and
gzip handling (``http``). Rendering happens only for a data version not seen before, in a thread
so that the event loop keeps answering other polls.

Secrets are in these addresses. The access log is off by default (``web.access_log``) and, when
on, redacts them (``orchestrator.web.access_log``); nothing here logs a path or a secret, and an
unexpected error is logged with the secret cut out of the traceback and answered here, so
aiohttp's own "Error handling request" log (which would print the exception) never sees it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import math
import sqlite3
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError

from orchestrator import i18n
from orchestrator.conference.decisions import JoinState
from orchestrator.errors import NotFound
from orchestrator.feeds import services
from orchestrator.feeds.cache import FeedCache, RateLimiter
from orchestrator.feeds.http import make_representation, respond
from orchestrator.feeds.probe import FeedReader, Probe, make_reader
from orchestrator.models import utcnow
from orchestrator.portal import services as portal
from orchestrator.portal.views import (
    PRIVATE_HEADERS,
    join_answer,
    join_page,
    private,
    route_id,
    state_response,
    timing,
    unknown_link_state,
)
from orchestrator.security import hash_secret
from orchestrator.settings import Settings
from orchestrator.web.context import db_run, render, require_actor
from orchestrator.web.keys import CACHE, SETTINGS
from orchestrator.web.openapi import api, parse_body

__all__ = ["FEEDS", "FeedRuntime", "setup"]

_LOGGER = logging.getLogger(__name__)

FEEDS = "feeds"
"""Key of the `FeedRuntime` in ``app[CACHE]``."""

# Calendar clients decide themselves how often to poll (REFRESH-INTERVAL is 1 h); this only keeps
# a browser or proxy from asking again within a few minutes.
MAX_AGE = 300
FEED_FILENAME = "rucksack.ics"
# The same bytes for every refused secret, whatever the reason.
_NOT_FOUND_BODY = b"Not found\n"


@dataclasses.dataclass
class FeedRuntime:
    """The feeds' per-process state: rendered feeds, rate-limit windows, the probe connection."""

    cache: FeedCache
    limiter: RateLimiter
    database_url: str
    _reader: FeedReader | None = None

    @property
    def reader(self) -> FeedReader:
        if self._reader is None:
            self._reader = make_reader(self.database_url)
        return self._reader

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
            self._reader = None


def runtime(app: web.Application) -> FeedRuntime:
    state: FeedRuntime = app[CACHE][FEEDS]
    return state


def _new_runtime(settings: Settings) -> FeedRuntime:
    return FeedRuntime(
        cache=FeedCache(),
        limiter=RateLimiter(settings.feeds.rate_limit_per_minute),
        database_url=settings.database_url,
    )


def _settings(request: web.Request) -> Settings:
    return request.app[SETTINGS]


def _base_url(request: web.Request) -> str:
    return _settings(request).web.base_url


# -- failures, without secrets in the log ------------------------------------------------------


_UNAVAILABLE = (OSError, sqlite3.Error, SQLAlchemyError)


def _is_database_error(err: BaseException) -> bool:
    if isinstance(err, _UNAVAILABLE):
        return True
    # asyncpg is imported only where PostgreSQL is used; recognise its errors by their module.
    return type(err).__module__.startswith("asyncpg")


def _failed(err: BaseException, secret: str, what: str) -> web.Response:
    """Log an unexpected error with the secret cut out, and answer 503 or 500."""
    text = "".join(traceback.format_exception(err))
    if secret:
        text = text.replace(secret, "<secret>").replace(hash_secret(secret), "<secret-hash>")
    _LOGGER.error("%s failed:\n%s", what, text)
    if _is_database_error(err):
        return web.Response(
            status=503, text="Temporarily unavailable\n", headers={"Retry-After": "30", **PRIVATE_HEADERS}
        )
    return web.Response(status=500, text="Internal error\n", headers=PRIVATE_HEADERS)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _guarded(what: str, route_part: str = "secret") -> Callable[[Handler], Handler]:
    """Answer any unexpected error of a handler whose address holds a secret, without leaking it."""

    def decorate(handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except web.HTTPException:
                raise
            except Exception as err:
                return _failed(err, request.match_info.get(route_part, "").removesuffix(".ics"), what)

        guarded.__name__ = handler.__name__
        guarded.__doc__ = handler.__doc__
        return guarded

    return decorate


def _not_found() -> web.Response:
    return web.Response(
        status=404, body=_NOT_FOUND_BODY, content_type="text/plain", charset="utf-8", headers=PRIVATE_HEADERS
    )


def _too_many(retry_after: float) -> web.Response:
    return web.Response(
        status=429,
        text="Too many requests\n",
        headers={"Retry-After": str(math.ceil(retry_after)), **PRIVATE_HEADERS},
    )


def _limited(request: web.Request, digest: str) -> web.Response | None:
    wait = runtime(request.app).limiter.hit(digest, asyncio.get_running_loop().time())
    return _too_many(wait) if wait is not None else None


# -- the feed ---------------------------------------------------------------------------------


def _load(db: Any, *, probe: Probe, secret: str, base_url: str) -> Any:
    owner = services.feed_owner(
        db, secret_id=probe.secret_id, kind=probe.kind, owner_id=probe.owner_id, language=probe.language
    )
    return services.build_feed(db, owner=owner, secret=secret, base_url=base_url)


@_guarded("feed request", route_part="name")
async def feed(request: web.Request) -> web.StreamResponse:
    """``/feeds/<secret>.ics``: the person's calendar (the ``.ics`` suffix is optional)."""
    secret = request.match_info["name"].removesuffix(".ics")
    digest = hash_secret(secret)
    if (refused := _limited(request, digest)) is not None:
        return refused
    state = runtime(request.app)
    probe = await state.reader.probe(digest)
    if probe is None:
        return _not_found()
    base_url = _base_url(request)

    async def build() -> Any:
        data = await db_run(request, _load, probe=probe, secret=secret, base_url=base_url)
        body = await asyncio.to_thread(services.render, data)
        return await asyncio.to_thread(
            make_representation, body, last_modified=probe.last_modified, filename=FEED_FILENAME
        )

    representation = await state.cache.get_or_build(digest, probe.version, build, now=utcnow)
    return respond(request, representation, max_age=MAX_AGE)


def _download_filename(starts_at: dt.datetime) -> str:
    return f"rucksack-{starts_at:%Y-%m-%d}.ics"


@_guarded("session download")
async def session_download(request: web.Request) -> web.StreamResponse:
    """``/feeds/<secret>/sessions/<id>.ics``: one session of the feed as a file."""
    secret = request.match_info["secret"]
    if (refused := _limited(request, hash_secret(secret))) is not None:
        return refused
    try:
        body, changed = await db_run(
            request,
            services.session_download,
            secret=secret,
            session_id=route_id(request.match_info["session_id"]),
            base_url=_base_url(request),
        )
    except services.UnknownFeed:
        return _not_found()
    representation = make_representation(
        body, last_modified=changed, filename="rucksack.ics", disposition="attachment"
    )
    return respond(request, representation, max_age=0)


async def staff_session_download(request: web.Request) -> web.StreamResponse:
    """``/sessions/<id>.ics`` for logged-in staff of the session's group."""
    actor = await require_actor(request)
    body, changed = await db_run(
        request,
        services.staff_session_download,
        actor=actor,
        session_id=route_id(request.match_info["session_id"]),
        base_url=_base_url(request),
        language=i18n.current_language(),
    )
    representation = make_representation(
        body, last_modified=changed, filename=_download_filename(changed), disposition="attachment"
    )
    return respond(request, representation, max_age=0)


# -- joining from a parent's calendar ---------------------------------------------------------


def _visitor_language(request: web.Request) -> str:
    # Only what the request says, so the page for a refused secret never depends on the secret.
    for part in request.headers.get("Accept-Language", "").split(","):
        code = part.split(";")[0].strip()[:2].lower()
        if code in i18n.PARENT_LANGUAGES:
            return code
    return i18n.DEFAULT_LANGUAGE


def _link_not_found(request: web.Request) -> web.StreamResponse:
    i18n.use_language(_visitor_language(request))
    return private(render(request, "portal/not_found.html", status=404))


@_guarded("join from a calendar")
async def join(request: web.Request) -> web.StreamResponse:
    """A calendar event's link to one session: into the room when live, else what is going on."""
    secret = request.match_info["secret"]
    session_id = route_id(request.match_info["session_id"])
    try:
        parent, outcome = await db_run(
            request, services.join_via_feed, secret=secret, session_id=session_id, timing=timing(request)
        )
    except services.UnknownFeed:
        return _link_not_found(request)
    i18n.use_language(parent.language)
    # Addresses through the feed secret, and no personal page behind it (a calendar's secret is
    # not the personal one).
    return join_answer(request, f"/feeds/{secret}/join/s/{session_id}", "", outcome)


@_guarded("join state")
async def join_state(request: web.Request) -> web.StreamResponse:
    """The waiting page's polling endpoint (the portal's ``waiting.js`` reads it)."""
    secret = request.match_info["secret"]
    session_id = route_id(request.match_info["session_id"])
    try:
        outcome = await db_run(
            request,
            services.join_state_via_feed,
            secret=secret,
            session_id=session_id,
            timing=timing(request),
        )
    except services.UnknownFeed:
        return unknown_link_state()
    return state_response(outcome, session_id)


@_guarded("group link from a calendar")
async def join_group(request: web.Request) -> web.StreamResponse:
    """A series' master event links here: on to the group's live or next session."""
    secret = request.match_info["secret"]
    try:
        parent, enrolled, session_id = await db_run(
            request,
            services.group_session_via_feed,
            secret=secret,
            group_id=route_id(request.match_info["group_id"]),
            timing=timing(request),
        )
    except services.UnknownFeed:
        return _link_not_found(request)
    if session_id is not None:
        raise web.HTTPSeeOther(f"/feeds/{secret}/join/s/{session_id}", headers=PRIVATE_HEADERS)
    i18n.use_language(parent.language)
    state = JoinState.NOT_ENROLLED if not enrolled else "no_session"
    return join_page(request, f"/feeds/{secret}/join/s/0", "", None, state)


async def staff_current(request: web.Request) -> web.StreamResponse:
    """A staff feed's master event: the group's live or next session, else the group's page."""
    actor = await require_actor(request)
    group_id = route_id(request.match_info["group_id"])
    session_id = await db_run(request, services.staff_current_session, actor=actor, group_id=group_id)
    if session_id is None:
        raise web.HTTPSeeOther("/facilitator" if actor.is_facilitator else f"/groups/{group_id}")
    target = "/facilitator/sessions" if actor.is_facilitator else "/sessions"
    raise web.HTTPSeeOther(f"{target}/{session_id}")


# -- the parent's calendar page ---------------------------------------------------------------


@_guarded("parent calendar page")
async def parent_calendar(request: web.Request) -> web.StreamResponse:
    """``/p/<personal secret>/calendar``: the parent's subscription links (POST: a new feed)."""
    secret = request.match_info["secret"]
    try:
        page = await db_run(
            request,
            services.parent_calendar,
            personal_secret=secret,
            base_url=_base_url(request),
            replace=request.method == "POST",
        )
    except portal.UnknownLink:
        return _link_not_found(request)
    if request.method == "POST":
        # Post/redirect/get: reloading the page must not replace the feed again.
        raise web.HTTPSeeOther(f"/p/{secret}/calendar", headers=PRIVATE_HEADERS)
    i18n.use_language(page.language)
    return private(render(request, "feeds/parent_calendar.html", {"page": page, "secret": secret}))


# -- staff pages ------------------------------------------------------------------------------


async def own_feed_page(request: web.Request) -> web.StreamResponse:
    """``/account/feed``: the logged-in facilitator's or coordinator's own feed."""
    actor = await require_actor(request, *services.STAFF_KINDS)
    issued = None
    if request.method == "POST":
        form = await request.post()
        chosen = [route_id(v) for v in form.getall("group_id", []) if isinstance(v, str) and v.isdigit()]
        issued = await db_run(
            request, services.issue_own_feed, actor=actor, base_url=_base_url(request), group_ids=chosen
        )
    status, choices = await db_run(request, services.own_feed_status, actor=actor)
    response = render(request, "feeds/own.html", {"status": status, "choices": choices, "issued": issued})
    # The address is in this answer only once; keep it out of every cache.
    response.headers["Cache-Control"] = "no-store"
    return response


async def own_feed_revoke(request: web.Request) -> web.StreamResponse:
    actor = await require_actor(request, *services.STAFF_KINDS)
    await db_run(request, services.revoke_own_feed, actor=actor)
    raise web.HTTPSeeOther("/account/feed")


async def parent_feed_page(request: web.Request) -> web.StreamResponse:
    """``/parents/<id>/feed``: a coordinator issues or revokes a parent's feed address."""
    actor = await require_actor(request, "coordinator", "admin")
    parent_id = route_id(request.match_info["parent_id"])
    issued = None
    if request.method == "POST":
        issued = await db_run(
            request, services.issue_parent_feed, actor=actor, parent_id=parent_id, base_url=_base_url(request)
        )
    parent, status = await db_run(request, services.parent_feed_status, actor=actor, parent_id=parent_id)
    response = render(
        request,
        "feeds/parent_feed.html",
        {"parent_id": parent.id, "parent_name": parent.display_name, "status": status, "issued": issued},
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def parent_feed_revoke(request: web.Request) -> web.StreamResponse:
    actor = await require_actor(request, "coordinator", "admin")
    parent_id = route_id(request.match_info["parent_id"])
    await db_run(request, services.revoke_parent_feed, actor=actor, parent_id=parent_id)
    raise web.HTTPSeeOther(f"/parents/{parent_id}/feed")


# -- API --------------------------------------------------------------------------------------


class IssuedFeedOut(BaseModel):
    url: str = Field(description="https address of the feed; shown only in this answer")
    webcal_url: str
    google_url: str = Field(description="Google Calendar's add-by-URL page for this feed")
    issued_at: dt.datetime
    revoked_previous: int
    group_ids: list[int]


class FeedStatusOut(BaseModel):
    active: bool
    active_since: dt.datetime | None
    revoked_count: int
    group_ids: list[int]


class FeedRevokedOut(BaseModel):
    revoked: int


class OwnFeedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group_ids: list[int] = Field(
        default_factory=list, description="Coordinators: only these groups of the centre (empty: all)"
    )


def _issued(issued: services.IssuedFeed) -> web.Response:
    body = IssuedFeedOut(
        url=issued.links.https,
        webcal_url=issued.links.webcal,
        google_url=issued.links.google,
        issued_at=issued.issued_at,
        revoked_previous=issued.revoked_previous,
        group_ids=list(issued.group_ids),
    )
    return web.json_response(body.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


def _status(status: services.FeedStatus) -> web.Response:
    body = FeedStatusOut(
        active=status.active_since is not None,
        active_since=status.active_since,
        revoked_count=status.revoked_count,
        group_ids=list(status.group_ids),
    )
    return web.json_response(body.model_dump(mode="json"))


def _parse_id(value: str) -> int:
    if not value.isdigit() or int(value) >= 2**31:
        raise NotFound(i18n.gettext("no record with id %(id)s") % {"id": repr(value)})
    return int(value)


@api.route(
    "GET", "/parents/{parent_id}/feed", summary="Whether a parent has a calendar feed", tag="feeds",
    response=FeedStatusOut,
)  # fmt: skip
async def api_parent_feed_status(request: web.Request) -> web.StreamResponse:
    actor = await require_actor(request, "coordinator", "admin", scope="read")
    _, status = await db_run(
        request,
        services.parent_feed_status,
        actor=actor,
        parent_id=_parse_id(request.match_info["parent_id"]),
    )
    return _status(status)


@api.route(
    "POST",
    "/parents/{parent_id}/feed",
    summary="Issue (or re-issue) a parent's calendar feed; the address is returned only this once",
    tag="feeds",
    scope="write",
    response=IssuedFeedOut,
)
async def api_issue_parent_feed(request: web.Request) -> web.StreamResponse:
    actor = await require_actor(request, "coordinator", "admin", scope="write")
    issued = await db_run(
        request,
        services.issue_parent_feed,
        actor=actor,
        parent_id=_parse_id(request.match_info["parent_id"]),
        base_url=_base_url(request),
    )
    return _issued(issued)


@api.route(
    "DELETE", "/parents/{parent_id}/feed", summary="Revoke a parent's calendar feed", tag="feeds",
    scope="write", response=FeedRevokedOut,
)  # fmt: skip
async def api_revoke_parent_feed(request: web.Request) -> web.StreamResponse:
    actor = await require_actor(request, "coordinator", "admin", scope="write")
    revoked = await db_run(
        request,
        services.revoke_parent_feed,
        actor=actor,
        parent_id=_parse_id(request.match_info["parent_id"]),
    )
    return web.json_response(FeedRevokedOut(revoked=revoked).model_dump())


@api.route("GET", "/me/feed", summary="Whether you have a calendar feed", tag="feeds", response=FeedStatusOut)
async def api_own_feed_status(request: web.Request) -> web.StreamResponse:
    actor = await require_actor(request, scope="read")
    status, _ = await db_run(request, services.own_feed_status, actor=actor)
    return _status(status)


@api.route(
    "POST",
    "/me/feed",
    summary="Issue (or re-issue) your own calendar feed; the address is returned only this once",
    tag="feeds",
    scope="write",
    body=OwnFeedIn,
    response=IssuedFeedOut,
)
async def api_issue_own_feed(request: web.Request) -> web.StreamResponse:
    actor = await require_actor(request, scope="write")
    # The body is optional: no body means the default scope.
    choice = await parse_body(request, OwnFeedIn) if (await request.read()).strip() else OwnFeedIn()
    issued = await db_run(
        request, services.issue_own_feed, actor=actor, base_url=_base_url(request), group_ids=choice.group_ids
    )
    return _issued(issued)


@api.route(
    "DELETE", "/me/feed", summary="Revoke your own calendar feed", tag="feeds", scope="write",
    response=FeedRevokedOut,
)  # fmt: skip
async def api_revoke_own_feed(request: web.Request) -> web.StreamResponse:
    actor = await require_actor(request, scope="write")
    revoked = await db_run(request, services.revoke_own_feed, actor=actor)
    return web.json_response(FeedRevokedOut(revoked=revoked).model_dump())


# -- wiring -----------------------------------------------------------------------------------


def _quiet_ical_debug_log() -> None:
    # The ical package logs property values at DEBUG while it builds and encodes events, and
    # the join links in a parent's feed carry the feed secret. Its loggers stay at INFO or above
    # whatever the root level is; they say nothing useful about our feeds at DEBUG anyway.
    ical_logger = logging.getLogger("ical")
    if ical_logger.level < logging.INFO:  # NOTSET (0) would follow the root logger down
        ical_logger.setLevel(logging.INFO)


def setup(app: web.Application) -> None:
    _quiet_ical_debug_log()

    async def feeds_state(app: web.Application) -> Any:
        state = _new_runtime(app[SETTINGS])
        app[CACHE][FEEDS] = state
        yield
        await state.close()

    app.cleanup_ctx.append(feeds_state)
    r = app.router
    r.add_get(r"/feeds/{name}", feed)
    r.add_get(r"/feeds/{secret}/sessions/{session_id:\d+}.ics", session_download)
    # No HEAD: a join mints a token and is recorded, which a HEAD request must not do.
    r.add_get(r"/feeds/{secret}/join/s/{session_id:\d+}", join, allow_head=False)
    r.add_get(r"/feeds/{secret}/join/s/{session_id:\d+}/state", join_state)
    r.add_get(r"/feeds/{secret}/join/g/{group_id:\d+}", join_group, allow_head=False)
    r.add_get(r"/calendar/groups/{group_id:\d+}/current", staff_current, allow_head=False)
    r.add_get(r"/sessions/{session_id:\d+}.ics", staff_session_download)
    r.add_get("/p/{secret}/calendar", parent_calendar, allow_head=False)
    r.add_post("/p/{secret}/calendar", parent_calendar)
    r.add_get("/account/feed", own_feed_page)
    r.add_post("/account/feed", own_feed_page)
    r.add_post("/account/feed/revoke", own_feed_revoke)
    r.add_get(r"/parents/{parent_id:\d+}/feed", parent_feed_page)
    r.add_post(r"/parents/{parent_id:\d+}/feed", parent_feed_page)
    r.add_post(r"/parents/{parent_id:\d+}/feed/revoke", parent_feed_revoke)
