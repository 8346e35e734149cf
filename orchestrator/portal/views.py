"""Parent pages (personal page, join endpoint, waiting state, privacy notice) and the
coordinator's personal-link pages (issue, revoke, printable handouts with QR codes) and API.

Parent pages carry the secret in their address, so every answer is marked ``no-store``,
``no-referrer`` and ``noindex``: the secret must not end up in a shared cache, in another site's
logs through the Referer header, or in a search engine. Their language is the parent's own
(remembered on their record when they choose one); pages reached without a personal link use the
``/<lang>/`` prefix, then a cookie, then the browser's languages.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import aiohttp_jinja2
import segno
from aiohttp import web
from markupsafe import Markup
from pydantic import BaseModel

from orchestrator import i18n
from orchestrator.conference.decisions import JoinState, Timing
from orchestrator.conference.services import JoinOutcome
from orchestrator.errors import NotFound
from orchestrator.models import utcnow
from orchestrator.portal import services
from orchestrator.web.context import db_run, render, require_actor
from orchestrator.web.keys import SETTINGS
from orchestrator.web.openapi import api

__all__ = ["setup"]

PARENT_LANG_COOKIE = "rs_plang"
LANG_PATTERN = "|".join(i18n.PARENT_LANGUAGES)
# The waiting page asks every few seconds: the parent should be in the room moments after the
# facilitator, and one indexed lookup per poll is cheap.
WAITING_POLL_SECONDS = 4
# Before the window the page only needs to notice cancellations and moves.
EARLY_POLL_SECONDS = 60
# Without JavaScript the waiting page reloads itself this often.
NOSCRIPT_REFRESH_SECONDS = 15
PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}


def timing(request: web.Request) -> Timing:
    """The join windows and token lifetimes configured for sessions."""
    return Timing.from_settings(request.app[SETTINGS].sessions)


def private(response: web.StreamResponse) -> web.StreamResponse:
    """``response`` marked as a private page of a link: not cached, not indexed, no referrer."""
    response.headers.update(PRIVATE_HEADERS)
    return response


def _visitor_language(request: web.Request, explicit: str | None = None) -> str:
    """The language for a page without a known parent: path, then cookie, then the browser's."""
    if explicit in i18n.PARENT_LANGUAGES:
        return explicit
    cookie = request.cookies.get(PARENT_LANG_COOKIE)
    if cookie in i18n.PARENT_LANGUAGES:
        return cookie
    for part in request.headers.get("Accept-Language", "").split(","):
        code = part.split(";")[0].strip()[:2].lower()
        if code in i18n.PARENT_LANGUAGES:
            return code
    return i18n.DEFAULT_LANGUAGE


def _remember(response: web.StreamResponse, request: web.Request, code: str) -> None:
    response.set_cookie(
        PARENT_LANG_COOKIE,
        code,
        max_age=365 * 24 * 3600,
        samesite="Lax",
        httponly=True,
        secure=request.app[SETTINGS].web.secure_cookies,
    )


def _not_found(request: web.Request) -> web.StreamResponse:
    # One page for unknown, revoked and malformed links: nothing in it depends on which it was.
    i18n.use_language(_visitor_language(request))
    return private(render(request, "portal/not_found.html", status=404))


def route_id(value: str) -> int:
    # Route patterns allow digits only; huge numbers would overflow the database's integer.
    number = int(value)
    return number if number < 2**31 else 0


# -- personal page ---------------------------------------------------------------------------


async def personal_page(request: web.Request) -> web.StreamResponse:
    secret = request.match_info["secret"]
    chosen = request.match_info.get("lang")
    try:
        page = await db_run(
            request, services.personal_page, secret=secret, timing=timing(request), language=chosen
        )
    except services.UnknownLink:
        return _not_found(request)
    i18n.use_language(page.language)
    response = render(request, "portal/home.html", {"page": page, "secret": secret})
    if chosen:
        _remember(response, request, chosen)
    return private(response)


# -- join ------------------------------------------------------------------------------------


def _clock(seconds: int) -> str:
    hours, rest = divmod(max(0, seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def join_page(
    request: web.Request, base: str, home_path: str, outcome: JoinOutcome | None, state: str
) -> web.StreamResponse:
    """The join page at ``base`` (personal link or calendar link); ``home_path`` may be empty."""
    poll = 0
    seconds_left = 0
    countdown = ""
    if state == JoinState.WAITING:
        poll = WAITING_POLL_SECONDS
    elif state in (JoinState.TOO_EARLY, JoinState.MOVED) and outcome and outcome.opens_at:
        seconds_left = math.ceil((outcome.opens_at - utcnow()).total_seconds())
        poll = EARLY_POLL_SECONDS
        if seconds_left < 24 * 3600:
            countdown = _clock(seconds_left)
    context: dict[str, Any] = {
        "state": str(state),
        "session": outcome.session if outcome else None,
        "next_session": outcome.next_session if outcome else None,
        "opens_at": outcome.opens_at if outcome else None,
        "join_path": base,
        "state_url": base + "/state",
        "home_path": home_path,
        "poll_seconds": poll,
        # Without JavaScript: reload every few seconds while waiting, at the window's opening
        # (at most every five minutes) before it.
        "refresh_seconds": NOSCRIPT_REFRESH_SECONDS
        if state == JoinState.WAITING
        else min(max(seconds_left, 5), 300),
        "seconds_left": seconds_left,
        "countdown": countdown,
    }
    status = 403 if state == JoinState.NOT_ENROLLED else 503 if state == "unavailable" else 200
    return private(render(request, "portal/join.html", context, status=status))


async def join(request: web.Request) -> web.StreamResponse:
    secret = request.match_info["secret"]
    session_id = route_id(request.match_info["session_id"])
    try:
        parent, outcome = await db_run(
            request, services.parent_join, secret=secret, session_id=session_id, timing=timing(request)
        )
    except services.UnknownLink:
        return _not_found(request)
    i18n.use_language(parent.language)
    return join_answer(request, f"/p/{secret}/s/{session_id}", f"/p/{secret}", outcome)


async def join_state(request: web.Request) -> web.StreamResponse:
    secret = request.match_info["secret"]
    session_id = route_id(request.match_info["session_id"])
    try:
        outcome = await db_run(
            request,
            services.parent_session_state,
            secret=secret,
            session_id=session_id,
            timing=timing(request),
        )
    except services.UnknownLink:
        return unknown_link_state()
    return state_response(outcome, session_id)


def join_answer(
    request: web.Request, base: str, home_path: str, outcome: JoinOutcome | None
) -> web.StreamResponse:
    """Into the room when the session is live, else the join page at ``base`` saying why not."""
    if outcome is None:
        return join_page(request, base, home_path, None, "unavailable")
    if outcome.state is JoinState.LIVE and outcome.join_url:
        raise web.HTTPSeeOther(outcome.join_url, headers=PRIVATE_HEADERS)
    return join_page(request, base, home_path, outcome, outcome.state)


def unknown_link_state() -> web.StreamResponse:
    """The waiting page's polling answer for a link that opens nothing."""
    return private(web.json_response({"error": {"code": "not_found", "message": "unknown link"}}, status=404))


def state_response(outcome: JoinOutcome, session_id: int) -> web.StreamResponse:
    """The waiting page's JSON (``waiting.js``), for personal links and calendar links alike."""
    body: dict[str, Any] = {"state": str(outcome.state), "session_id": session_id}
    if outcome.session is not None:
        now = utcnow()
        body.update(
            status=outcome.session.status,
            starts_at=outcome.session.starts_at.isoformat(),
            ends_at=outcome.session.ends_at.isoformat(),
            opens_at=outcome.opens_at.isoformat() if outcome.opens_at else None,
            seconds_to_open=max(0, math.ceil((outcome.opens_at - now).total_seconds()))
            if outcome.opens_at
            else 0,
        )
    body["poll_seconds"] = WAITING_POLL_SECONDS if outcome.state is JoinState.WAITING else EARLY_POLL_SECONDS
    status = 403 if outcome.state is JoinState.NOT_ENROLLED else 200
    return private(web.json_response(body, status=status))


async def group_current(request: web.Request) -> web.StreamResponse:
    """The calendar's master event links here: on to the group's live or next session."""
    secret = request.match_info["secret"]
    group_id = route_id(request.match_info["group_id"])
    try:
        parent, enrolled, session_id = await db_run(
            request, services.group_current_session, secret=secret, group_id=group_id, timing=timing(request)
        )
    except services.UnknownLink:
        return _not_found(request)
    if session_id is not None:
        raise web.HTTPSeeOther(f"/p/{secret}/s/{session_id}", headers=PRIVATE_HEADERS)
    i18n.use_language(parent.language)
    state = JoinState.NOT_ENROLLED if not enrolled else "no_session"
    return join_page(request, f"/p/{secret}/s/0", f"/p/{secret}", None, state)


# -- privacy notice --------------------------------------------------------------------------


async def privacy(request: web.Request) -> web.StreamResponse:
    chosen = request.match_info.get("lang")
    i18n.use_language(_visitor_language(request, chosen))
    response = render(request, "portal/privacy.html")
    if chosen:
        _remember(response, request, chosen)
    return response


# -- personal links: coordinator pages -------------------------------------------------------


def qr_svg(url: str, *, title: str = "") -> Markup:
    """The QR code of ``url`` as inline SVG (scales with CSS, prints sharply)."""
    code = segno.make_qr(url, error="m")
    svg = code.svg_inline(
        scale=1, border=2, omitsize=True, title=title or None, svgclass="qr", lineclass=None
    )
    return Markup(svg)  # noqa: S704  # segno's own SVG output; the URL inside it is our own


def _fragment(request: web.Request, template: str, language: str, context: dict[str, Any]) -> Markup:
    """A template rendered in ``language``, whatever the page around it is in."""
    env = aiohttp_jinja2.get_env(request.app)
    with i18n.language_scope(language):
        return Markup(env.get_template(template).render(context))  # noqa: S704  # autoescaped template


def _handout(request: web.Request, link: services.IssuedLink, group_name: str | None) -> dict[str, Any]:
    texts = [(link.language, _fragment(request, "portal/handout_card.html", link.language, {}))]
    if link.language != "de":
        texts.append(("de", _fragment(request, "portal/handout_card.html", "de", {})))
    return {
        "link": link,
        "group_name": group_name,
        "qr": qr_svg(link.url, title=link.parent_name),
        "texts": [(code, i18n.language(code), html) for code, html in texts],
    }


async def link_page(request: web.Request) -> web.StreamResponse:
    actor = await require_actor(request, "coordinator", "admin")
    status = await db_run(
        request,
        services.personal_link_status,
        actor=actor,
        parent_id=route_id(request.match_info["parent_id"]),
    )
    return render(request, "portal/manage/link.html", {"status": status, "handout": None})


async def link_issue(request: web.Request) -> web.StreamResponse:
    actor = await require_actor(request, "coordinator", "admin")
    parent_id = route_id(request.match_info["parent_id"])
    issued = await db_run(
        request,
        services.issue_personal_link,
        actor=actor,
        parent_id=parent_id,
        base_url=request.app[SETTINGS].web.base_url,
    )
    status = await db_run(request, services.personal_link_status, actor=actor, parent_id=parent_id)
    # Rendered, not redirected: the link exists only in this answer (only its hash is stored).
    response = render(
        request, "portal/manage/link.html", {"status": status, "handout": _handout(request, issued, None)}
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def link_revoke(request: web.Request) -> web.StreamResponse:
    actor = await require_actor(request, "coordinator", "admin")
    parent_id = route_id(request.match_info["parent_id"])
    await db_run(request, services.revoke_personal_link, actor=actor, parent_id=parent_id)
    raise web.HTTPSeeOther(f"/parents/{parent_id}/link")


async def handouts_form(request: web.Request) -> web.StreamResponse:
    actor = await require_actor(request, "coordinator", "admin")
    group_id = route_id(request.match_info["group_id"])
    group_name, parents = await db_run(request, services.group_handout_list, actor=actor, group_id=group_id)
    return render(
        request,
        "portal/manage/handouts_select.html",
        {"group_id": group_id, "group_name": group_name, "parents": parents},
    )


async def handouts_print(request: web.Request) -> web.StreamResponse:
    actor = await require_actor(request, "coordinator", "admin")
    group_id = route_id(request.match_info["group_id"])
    form = await request.post()
    parent_ids = [route_id(v) for v in form.getall("parent_id", []) if isinstance(v, str) and v.isdigit()]
    group_name, issued = await db_run(
        request,
        services.issue_group_handouts,
        actor=actor,
        group_id=group_id,
        parent_ids=parent_ids,
        base_url=request.app[SETTINGS].web.base_url,
    )
    response = render(
        request,
        "portal/manage/handouts.html",
        {
            "group_id": group_id,
            "group_name": group_name,
            "handouts": [_handout(request, i, group_name) for i in issued],
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# -- personal links: API ---------------------------------------------------------------------


class PersonalLink(BaseModel):
    parent_id: int
    url: str
    issued_at: dt.datetime
    revoked_previous: int


class PersonalLinkRevoked(BaseModel):
    parent_id: int
    revoked: int


@api.route(
    "POST",
    "/parents/{parent_id}/personal-link",
    summary="Issue (or re-issue) a parent's personal link; the link is returned only this once",
    tag="portal",
    scope="write",
    response=PersonalLink,
)
async def api_issue_link(request: web.Request) -> web.StreamResponse:
    actor = await require_actor(request, "coordinator", "admin", scope="write")
    issued = await db_run(
        request,
        services.issue_personal_link,
        actor=actor,
        parent_id=_parse_id(request.match_info["parent_id"]),
        base_url=request.app[SETTINGS].web.base_url,
    )
    body = PersonalLink(
        parent_id=issued.parent_id,
        url=issued.url,
        issued_at=issued.issued_at,
        revoked_previous=issued.revoked_previous,
    )
    return web.json_response(body.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@api.route(
    "DELETE",
    "/parents/{parent_id}/personal-link",
    summary="Revoke a parent's personal link",
    tag="portal",
    scope="write",
    response=PersonalLinkRevoked,
)
async def api_revoke_link(request: web.Request) -> web.StreamResponse:
    actor = await require_actor(request, "coordinator", "admin", scope="write")
    parent_id = _parse_id(request.match_info["parent_id"])
    revoked = await db_run(request, services.revoke_personal_link, actor=actor, parent_id=parent_id)
    return web.json_response(PersonalLinkRevoked(parent_id=parent_id, revoked=revoked).model_dump())


def _parse_id(value: str) -> int:
    if not value.isdigit() or int(value) >= 2**31:
        raise NotFound(i18n.gettext("no record with id %(id)s") % {"id": repr(value)})
    return int(value)


def setup(app: web.Application) -> None:
    lang = f"{{lang:{LANG_PATTERN}}}"
    app.router.add_get("/p/{secret}", personal_page)
    app.router.add_get(f"/{lang}/p/{{secret}}", personal_page)
    # No HEAD: a join mints a token and is recorded, which a HEAD request must not do.
    app.router.add_get("/p/{secret}/s/{session_id:\\d+}", join, allow_head=False)
    app.router.add_get("/p/{secret}/s/{session_id:\\d+}/state", join_state)
    app.router.add_get("/p/{secret}/g/{group_id:\\d+}", group_current)
    app.router.add_get("/privacy", privacy)
    app.router.add_get(f"/{lang}/privacy", privacy)
    app.router.add_get("/parents/{parent_id:\\d+}/link", link_page)
    app.router.add_post("/parents/{parent_id:\\d+}/link", link_issue)
    app.router.add_post("/parents/{parent_id:\\d+}/link/revoke", link_revoke)
    app.router.add_get("/groups/{group_id:\\d+}/handouts", handouts_form)
    app.router.add_post("/groups/{group_id:\\d+}/handouts", handouts_print)
