"""The aiohttp application: wiring of settings, database, templates, middlewares and routes."""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

import aiohttp_jinja2
import jinja2
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

from orchestrator import i18n
from orchestrator.db import async_sessions, make_async_engine
from orchestrator.errors import DomainError
from orchestrator.jobs import CeleryJobs, JobQueue
from orchestrator.settings import Settings
from orchestrator.web import context
from orchestrator.web.keys import CACHE, DB, ENGINE, JOBS, SETTINGS
from orchestrator.web.openapi import api

__all__ = ["create_app"]

_LOGGER = logging.getLogger(__name__)
PACKAGE_DIR = Path(__file__).resolve().parent.parent
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _jinja_environment(app: web.Application) -> jinja2.Environment:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(PACKAGE_DIR / "templates")),
        autoescape=jinja2.select_autoescape(["html", "xml"], default=True),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # The callables read the request's language from a context variable (see orchestrator.i18n).
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        languages=i18n.PARENT_LANGUAGES,
        staff_languages=i18n.STAFF_LANGUAGES,
        current_language=i18n.current_language,
        language_info=i18n.language,
        format_datetime=i18n.format_local_datetime,
        format_date=i18n.format_local_date,
        format_time=i18n.format_local_time,
    )
    return env


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except context.NotLoggedIn:
        if context.is_api(request):
            return web.json_response(
                {"error": {"code": "unauthenticated", "message": "log in or send a bearer token"}},
                status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        raise web.HTTPSeeOther(
            f"/login?next={quote(request.path_qs)}" if request.method == "GET" else "/login"
        ) from None
    except DomainError as e:
        if context.is_api(request) or request.path.startswith("/hooks/"):
            return web.json_response(e.as_json(), status=e.status)
        return context.render(request, "error.html", {"error": e}, status=e.status)
    except (OperationalError, DBAPIError) as e:
        if getattr(e, "connection_invalidated", False) or isinstance(e, OperationalError):
            _LOGGER.error("database unavailable: %s", e.__class__.__name__)
            return web.json_response(
                {"error": {"code": "unavailable", "message": "the database is unavailable; retry later"}},
                status=503,
                headers={"Retry-After": "5"},
            )
        raise


async def healthz(request: web.Request) -> web.Response:
    try:
        async with request.app[ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (OSError, OperationalError, DBAPIError):
        return web.json_response({"status": "unavailable", "database": False}, status=503)
    return web.json_response({"status": "ok", "database": True})


# Each area's views module registers its pages (``setup``) and its API handlers (``@api.route``).
ROUTE_MODULES = (
    "orchestrator.accounts.views",
    "orchestrator.groups.views",
    "orchestrator.hooks.views",
    "orchestrator.attendance.views",
    "orchestrator.notifications.views",
    "orchestrator.privacy.views",
    "orchestrator.scheduling.views",
    "orchestrator.reports.views",
    "orchestrator.conference.views",
    "orchestrator.portal.views",
    "orchestrator.feeds.views",
)


def create_app(settings: Settings, *, jobs: JobQueue | None = None) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=4 * 1024**2)
    app[SETTINGS] = settings
    app[JOBS] = jobs or CeleryJobs(settings.broker_url)
    app[CACHE] = {}
    _jinja_environment(app)

    async def database(app: web.Application) -> AsyncIterator[None]:
        engine = make_async_engine(settings.database_url, echo=settings.database.echo)
        app[ENGINE] = engine
        app[DB] = async_sessions(engine)
        yield
        await engine.dispose()

    app.cleanup_ctx.append(database)

    for module in ROUTE_MODULES:
        importlib.import_module(module).setup(app)
    api.mount(app)
    app.router.add_get("/healthz", healthz)
    app.router.add_static("/static/", PACKAGE_DIR / "static", name="static")
    return app
