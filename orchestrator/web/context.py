"""Per-request helpers: who is asking, in which language, and how to answer.

The actor is resolved lazily, so parent pages, feeds and webhooks (which never carry a staff
login) pay nothing for it. Unsafe requests authenticated by the login cookie must carry the
login's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``); bearer-token requests
cannot be forged by a browser and need none.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp_jinja2
from aiohttp import web

from orchestrator import i18n
from orchestrator.access import Actor
from orchestrator.accounts import services as accounts
from orchestrator.db import run
from orchestrator.errors import Forbidden
from orchestrator.web.keys import ACTOR, ACTOR_RESOLVED, CSRF, DB, VIA_TOKEN

__all__ = [
    "LOGIN_COOKIE",
    "NotLoggedIn",
    "db_run",
    "get_actor",
    "is_api",
    "render",
    "require_actor",
    "staff_language",
]

LOGIN_COOKIE = "rs_login"
LANG_COOKIE = "rs_lang"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
T = TypeVar("T")


class NotLoggedIn(Exception):
    """No valid login or token: 401 for the API, a redirect to the login page for pages."""


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


async def db_run(request: web.Request, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    return await run(request.app[DB], fn, *args, **kwargs)


async def get_actor(request: web.Request) -> Actor | None:
    if request.get(ACTOR_RESOLVED):
        return request[ACTOR]
    actor: Actor | None = None
    csrf = None
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        actor = await db_run(request, accounts.actor_for_api_token, auth[7:].strip())
        request[VIA_TOKEN] = True
    elif token := request.cookies.get(LOGIN_COOKIE):
        found = await db_run(request, accounts.actor_for_login, token)
        if found:
            actor, csrf = found
    request[ACTOR] = actor
    request[CSRF] = csrf
    request[ACTOR_RESOLVED] = True
    if actor is not None:
        i18n.use_language(staff_language(request, actor.language))
    return actor


def staff_language(request: web.Request, preferred: str | None = None) -> str:
    chosen = request.query.get("lang") or request.cookies.get(LANG_COOKIE) or preferred
    if chosen in i18n.STAFF_LANGUAGES:
        return chosen
    accept = request.headers.get("Accept-Language", "")
    for part in accept.split(","):
        code = part.split(";")[0].strip()[:2].lower()
        if code in i18n.STAFF_LANGUAGES:
            return code
    return "de"


async def require_actor(request: web.Request, *roles: str, scope: str | None = None) -> Actor:
    """The logged-in staff user, after the CSRF check for unsafe cookie-authenticated requests."""
    actor = await get_actor(request)
    if actor is None:
        raise NotLoggedIn()
    if request.method not in SAFE_METHODS and not request.get(VIA_TOKEN):
        sent = request.headers.get("X-CSRF-Token")
        if sent is None and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            form = await request.post()
            value = form.get("csrf_token")
            sent = value if isinstance(value, str) else None
        if not sent or not (expected := request[CSRF]) or not secrets.compare_digest(sent, expected):
            raise Forbidden(
                i18n.gettext(
                    "the form has expired or did not come from this site (CSRF check); reload and try again"
                )
            )
    if roles and actor.role not in roles:
        raise Forbidden(i18n.gettext("your role may not do this"))
    if scope is None:
        scope = "read" if request.method in SAFE_METHODS else "write"
    if actor.scopes is not None and scope not in actor.scopes:
        raise Forbidden(i18n.gettext("this API token lacks the %(scope)s scope") % {"scope": repr(scope)})
    return actor


def render(
    request: web.Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    ctx = dict(context or {})
    ctx.setdefault("request", request)
    ctx.setdefault("actor", request.get(ACTOR))
    ctx.setdefault("csrf_token", request.get(CSRF) or "")
    return aiohttp_jinja2.render_template(template, request, ctx, status=status)
