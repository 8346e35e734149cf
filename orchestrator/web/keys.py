"""Every aiohttp ``AppKey`` of the service, typed, in one place."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from orchestrator.access import Actor
from orchestrator.jobs import JobQueue
from orchestrator.settings import Settings

__all__ = ["ACTOR", "ACTOR_RESOLVED", "CACHE", "CSRF", "DB", "ENGINE", "JOBS", "SETTINGS", "VIA_TOKEN"]

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
DB = web.AppKey("db", async_sessionmaker[AsyncSession])
JOBS = web.AppKey("jobs", JobQueue)
# Small in-process caches (rendered feeds by data version, rate-limit windows). The web tier keeps
# no state that matters: a cache miss only costs a rebuild.
CACHE = web.AppKey("cache", dict[str, Any])

# Per-request storage.
ACTOR_RESOLVED = web.RequestKey("actor_resolved", bool)
ACTOR: web.RequestKey[Actor | None] = web.RequestKey("actor")
CSRF: web.RequestKey[str | None] = web.RequestKey("csrf")
VIA_TOKEN = web.RequestKey("via_token", bool)
