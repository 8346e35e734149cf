"""Running the web tier: ``web.run_app`` on uvloop where it is available.

uvloop replaces asyncio's pure-Python event loop and transports with libuv. For the webhook
receivers, which spend most of their time in the loop and in socket writes, it cut the web
process's CPU per request by about a fifth (``docs/performance.md``). It is a dependency on
every platform uvloop supports; elsewhere (Windows) the service runs on asyncio's own loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

__all__ = ["new_event_loop", "run"]

_LOGGER = logging.getLogger(__name__)


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # a platform without uvloop: asyncio's loop does the same, more slowly
        _LOGGER.info("uvloop is not installed; running on asyncio's event loop")
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(app: web.Application, *, host: str, port: int, **options: Any) -> None:
    """``web.run_app`` on a new (uv)loop; ``options`` go to ``run_app`` unchanged."""
    web.run_app(app, host=host, port=port, loop=new_event_loop(), **options)
