"""Staff login and logout pages, the start page, and the API's ``/me``."""

from __future__ import annotations

import datetime as dt
import secrets
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import BaseModel

from orchestrator import i18n
from orchestrator.accounts import services
from orchestrator.web.context import (
    LANG_COOKIE,
    LOGIN_COOKIE,
    db_run,
    get_actor,
    render,
    require_actor,
    staff_language,
)
from orchestrator.web.keys import SETTINGS
from orchestrator.web.openapi import api

__all__ = ["setup"]

PRE_LOGIN_COOKIE = "rs_prelogin"


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect after login would be a phishing aid.
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return "/"
    return target


def _login_page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    i18n.use_language(staff_language(request))
    token = request.cookies.get(PRE_LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        {"error": error, "next": _safe_next(request.query.get("next")), "login_csrf": token},
        status=status,
    )
    settings = request.app[SETTINGS]
    response.set_cookie(
        PRE_LOGIN_COOKIE, token, httponly=True, samesite="Strict", secure=settings.web.secure_cookies
    )
    return response


async def login_form(request: web.Request) -> web.Response:
    if await get_actor(request) is not None:
        raise web.HTTPSeeOther(_safe_next(request.query.get("next")))
    return _login_page(request)


async def login(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    form = await request.post()
    sent = form.get("login_csrf")
    expected = request.cookies.get(PRE_LOGIN_COOKIE)
    i18n.use_language(staff_language(request))
    if not isinstance(sent, str) or not expected or not secrets.compare_digest(sent, expected):
        return _login_page(request, error=i18n.gettext("The form has expired. Please try again."), status=403)
    email = str(form.get("email", ""))
    password = str(form.get("password", ""))
    client = request.remote or "unknown"
    try:
        user = await db_run(
            request,
            services.authenticate,
            email=email,
            password=password,
            client=client,
            max_failures=settings.security.login_max_failures,
            window=dt.timedelta(minutes=settings.security.login_window_minutes),
        )
    except services.LoginThrottled:
        return _login_page(
            request, error=i18n.gettext("Too many failed attempts. Please wait a few minutes."), status=429
        )
    if user is None:
        return _login_page(request, error=i18n.gettext("E-mail address or password is wrong."), status=401)
    token = await db_run(
        request, services.start_login, user_id=user.id, hours=settings.web.login_session_hours
    )
    response = web.HTTPSeeOther(_safe_next(str(form.get("next", "/"))))
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=settings.web.secure_cookies,
        max_age=settings.web.login_session_hours * 3600,
    )
    response.del_cookie(PRE_LOGIN_COOKIE)
    raise response


async def logout(request: web.Request) -> web.Response:
    await require_actor(request)
    if token := request.cookies.get(LOGIN_COOKIE):
        await db_run(request, services.end_login, token)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(LOGIN_COOKIE)
    raise response


async def set_language(request: web.Request) -> web.Response:
    form = await request.post()
    code = str(form.get("lang", ""))
    response = web.HTTPSeeOther(_safe_next(str(form.get("next", "/"))))
    if code in i18n.STAFF_LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, samesite="Lax", max_age=365 * 24 * 3600)
    raise response


async def home(request: web.Request) -> web.Response:
    actor = await get_actor(request)
    if actor is None:
        raise web.HTTPSeeOther("/login")
    if actor.is_facilitator:
        raise web.HTTPSeeOther("/facilitator")
    if actor.is_admin:
        raise web.HTTPSeeOther("/admin")
    raise web.HTTPSeeOther("/groups")


class Me(BaseModel):
    id: int
    display_name: str
    role: str
    centre_id: int | None
    language: str
    group_ids: list[int]
    scopes: list[str] | None


@api.route("GET", "/me", summary="The user behind this login or token", tag="accounts", response=Me)
async def me(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    return web.json_response(
        Me(
            id=actor.user_id,
            display_name=actor.display_name,
            role=actor.role,
            centre_id=actor.centre_id,
            language=actor.language,
            group_ids=sorted(actor.group_ids),
            scopes=sorted(actor.scopes) if actor.scopes is not None else None,
        ).model_dump()
    )


async def account(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    tokens = await db_run(request, services.list_api_tokens, user_id=actor.user_id)
    return render(request, "account.html", {"tokens": tokens, "new_token": None})


async def create_token(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    form = await request.post()
    scopes = [s for s in ("read", "write") if form.get(f"scope_{s}")]
    _, token = await db_run(
        request,
        services.create_api_token,
        user_id=actor.user_id,
        name=str(form.get("name", "")),
        scopes=scopes,
        actor=actor,
    )
    tokens = await db_run(request, services.list_api_tokens, user_id=actor.user_id)
    return render(request, "account.html", {"tokens": tokens, "new_token": token})


async def revoke_token(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    await db_run(
        request, services.revoke_api_token, token_id=int(request.match_info["token_id"]), actor=actor
    )
    raise web.HTTPSeeOther("/account")


def setup(app: web.Application) -> None:
    app.router.add_get("/", home)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_post("/language", set_language)
    app.router.add_get("/account", account)
    app.router.add_post("/account/tokens", create_token)
    app.router.add_post("/account/tokens/{token_id:\\d+}/revoke", revoke_token)
