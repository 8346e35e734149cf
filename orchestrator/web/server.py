"""Running the web tier: ``web.run_app`` on uvloop, with the start-up heap frozen.

uvloop replaces asyncio's event loop and transports with libuv. For the webhook receivers, which
spend much of their time in the loop and in socket writes, it raised the events one process
takes per second by about a tenth (``docs/performance.md``). It is a dependency on every
platform uvloop supports; elsewhere (Windows) the service runs on asyncio's own loop.

After start-up the objects that live as long as the process (modules, the ORM's metadata,
settings, caches: some 220,000 of them) are moved out of the garbage collector's reach with
``gc.freeze()``. Otherwise every full collection walks them all: measured under webhook load, one
such collection stopped the event loop for 120–150 ms, long enough to put every request then in
flight into the slowest percentile.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

from aiohttp import web

__all__ = ["freeze_startup_heap", "new_event_loop", "run"]

_LOGGER = logging.getLogger(__name__)


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # a platform without uvloop: asyncio's loop does the same, more slowly
        _LOGGER.info("uvloop is not installed; running on asyncio's event loop")
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def freeze_startup_heap(app: web.Application) -> None:
    """An ``on_startup`` handler: collects once, then freezes what survived (see above)."""
    gc.collect()
    gc.freeze()
    _LOGGER.info("%d start-up objects frozen out of the garbage collector's walks", gc.get_freeze_count())


def run(
    app: web.Application,
    *,
    host: str,
    port: int,
    loop: asyncio.AbstractEventLoop | None = None,
    **options: Any,
) -> None:
    """``web.run_app`` on ``loop`` (a new uvloop by default); ``options`` go to ``run_app``."""
    # Appended last, so it runs after the app's own start-up (database engine, inbox writer).
    app.on_startup.append(freeze_startup_heap)
    web.run_app(app, host=host, port=port, loop=loop or new_event_loop(), **options)
